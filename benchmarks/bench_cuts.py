"""Shot cuts: how many false events a cut causes, and what ``DetectorParams.cuts`` does.

Edited footage cuts from one shot to another; across a cut the optical flow is meaningless and the
strength curve spikes. Each labelled clip A is spliced with the next clip B of the set (B scaled to
A's size, shown at A's frame rate, the pair cut at a random point of each; the key is A's events
before the cut and B's after it, shifted). Strict F1@±2 against that key, mean over splices, with
the cut check off and on, and the events within two frames of the cut. The default detector (two
scales) is used unless ``--fast``.

    python benchmarks/bench_cuts.py                                       # the 12 real clips
    python benchmarks/bench_cuts.py --videos benchmarks/results/synth2 \\
        --labels benchmarks/results/synth2/labels.csv
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from common import REAL, labelled_videos

from actiondubber.detection.detector import detect
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import match_events
from actiondubber.video.reader import iter_frames, probe
from actiondubber.video.writer import write_video


def _f1(true: list[int], pred: list[int], tol: int = 2) -> float:
    m = len(match_events(true, pred, tol))
    return 2 * m / (len(true) + len(pred)) if true or pred else 1.0


def _splice(a: Path, b: Path, ka: list[int], kb: list[int], rng: np.random.Generator, dst: Path):
    """Write A's frames up to a random cut, then B's from a random start; return (key, cut frame)."""
    fa = [f.image for f in iter_frames(a, short_side=None, pix_fmt="rgb24")]
    fb = [f.image for f in iter_frames(b, short_side=None, pix_fmt="rgb24")]
    h, w = fa[0].shape[:2]
    ca = int(rng.integers(len(fa) // 3, 2 * len(fa) // 3 + 1))  # A's frames 0 .. ca-1
    sb = int(rng.integers(0, len(fb) // 3 + 1))  # then B's frames sb ..
    frames = fa[:ca] + [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in fb[sb:]]
    key = [k for k in ka if k < ca] + [ca + k - sb for k in kb if k >= sb]
    write_video(dst, frames, Fraction(probe(a).fps).limit_denominator(1001), crf=18)
    return key, ca


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--fast", action="store_true", help="the single-scale detector (about three times faster)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lf = read_labels(args.labels or args.videos / "labels_audio_onsets.csv")
    clips = sorted(labelled_videos(args.videos, set(lf.videos)).items())
    if len(clips) < 2:
        print(f"fewer than two labelled videos in {args.videos}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(args.seed)
    base = {"multiscale": 0, "abrupt": 0.0, "sensitivity": 0.5} if args.fast else {}
    rows = []
    print(f"{'splice':50s} {'off':>6s} {'on':>6s}  events within ±2 of the cut: off / on / key")
    with tempfile.TemporaryDirectory() as td:
        for i, (va, pa) in enumerate(clips):
            vb, pb = clips[(i + 1) % len(clips)]
            dst = Path(td) / f"splice_{i}.mp4"
            key, cut = _splice(pa, pb, list(lf.videos[va].frames), list(lf.videos[vb].frames), rng, dst)
            off = detect(dst, **base, cuts=False).frames
            on = detect(dst, **base, cuts=True).frames
            near = [sum(abs(f - cut) <= 2 for f in fr) for fr in (off, on, key)]
            r = (_f1(key, off), _f1(key, on), *near)
            rows.append(r)
            print(f"{(va[:24] + ' | ' + vb[:23]):50s} {r[0]:6.3f} {r[1]:6.3f}  {r[2]} / {r[3]} / {r[4]}", flush=True)
    m = np.array([r[:2] for r in rows]).mean(axis=0)
    s = np.array([r[2:] for r in rows]).sum(axis=0)
    print(f"\n{len(rows)} splices, strict F1@±2 (mean): cut check off {m[0]:.3f}, on {m[1]:.3f}; events within "
          f"±2 frames of the cut: off {s[0]}, on {s[1]}, in the key {s[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
