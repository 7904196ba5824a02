"""Shot transitions: how many false events a cut or a fade causes, and what ``DetectorParams.cuts`` does.

Edited footage cuts from one shot to another, or dips through black; across a cut, and into and out
of a picture with no contrast, the optical flow is meaningless and the strength curve spikes. Each
labelled clip A is spliced with the next clip B of the set (B scaled to A's size, shown at A's frame
rate, the pair joined at a random point of each; the key is A's events before the join and B's after
it, shifted). With ``--transition black`` the join is a dip through black over ``--fade`` frames (A
fading out, B fading in; the key leaves out the frames below half brightness). Strict F1@±2 against that key, mean over
splices, with the check off and on, and the events within two frames of the transition. The default
detector (two scales) is used unless ``--fast``.

    python benchmarks/bench_cuts.py                                       # the 12 real clips, cuts
    python benchmarks/bench_cuts.py --transition black                    # dips through black
    python benchmarks/bench_cuts.py --videos benchmarks/results/synth2 \\
        --labels benchmarks/results/synth2/labels.csv
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from common import FAST_OVERRIDES, REAL, labelled_set, run_main, strict_f1

from actiondubber.detection.detector import detect
from actiondubber.video.reader import iter_frames, probe
from actiondubber.video.writer import write_video


def _splice(a: Path, b: Path, ka: list[int], kb: list[int], rng: np.random.Generator, dst: Path,
            fade: int = 0):
    """Write A's frames up to a random join, then B's from a random start (with *fade* > 0: the last
    *fade* // 2 of A's fading out to black and the first of B's fading in); return (key, the join's
    first frame, its last frame)."""
    fa = [f.image for f in iter_frames(a, short_side=None, pix_fmt="rgb24")]
    fb = [f.image for f in iter_frames(b, short_side=None, pix_fmt="rgb24")]
    h, w = fa[0].shape[:2]
    ca = int(rng.integers(len(fa) // 3, 2 * len(fa) // 3 + 1))  # A's frames 0 .. ca-1
    sb = int(rng.integers(0, len(fb) // 3 + 1))  # then B's frames sb ..
    frames = fa[:ca] + [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in fb[sb:]]
    half = fade // 2
    dark = set()
    for j in range(fade):  # gain 1 -> 0 over A's last half frames, 0 -> 1 over B's first
        g = (half - j) / (half + 1) if j < half else (j - half + 1) / (fade - half + 1)
        q = ca - half + j
        frames[q] = (frames[q].astype(np.float32) * g).astype(np.uint8)
        if g < 0.5:
            dark.add(q)
    lo, hi = (ca - half, ca - half + fade - 1) if fade else (ca, ca)
    key = [k for k in ka if k < ca] + [ca + k - sb for k in kb if k >= sb]
    key = [k for k in key if k not in dark]  # a hit in a fade's darker half is not to be seen
    write_video(dst, frames, Fraction(probe(a).fps).limit_denominator(1001), crf=18)
    return key, lo, hi


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--fast", action="store_true", help="the single-scale detector (about three times faster)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--transition", choices=["cut", "black"], default="cut")
    ap.add_argument("--fade", type=int, default=10, help="frames of a dip through black (--transition black)")
    args = ap.parse_args()
    lf, clips = labelled_set(args.videos, args.labels, minimum=2)
    rng = np.random.default_rng(args.seed)
    base = FAST_OVERRIDES if args.fast else {}
    rows = []
    print(f"{'splice':50s} {'off':>6s} {'on':>6s}  events within ±2 of the {args.transition}: off / on / key")
    with tempfile.TemporaryDirectory() as td:
        for i, (va, pa) in enumerate(clips):
            vb, pb = clips[(i + 1) % len(clips)]
            dst = Path(td) / f"splice_{i}.mp4"
            key, lo, hi = _splice(pa, pb, list(lf.videos[va].frames), list(lf.videos[vb].frames), rng, dst,
                                  fade=args.fade if args.transition == "black" else 0)
            off = detect(dst, **base, cuts=False).frames
            on = detect(dst, **base, cuts=True).frames
            near = [sum(lo - 2 <= f <= hi + 2 for f in fr) for fr in (off, on, key)]
            r = (strict_f1(key, off), strict_f1(key, on), *near)
            rows.append(r)
            print(f"{(va[:24] + ' | ' + vb[:23]):50s} {r[0]:6.3f} {r[1]:6.3f}  {r[2]} / {r[3]} / {r[4]}", flush=True)
    m = np.array([r[:2] for r in rows]).mean(axis=0)
    s = np.array([r[2:] for r in rows]).sum(axis=0)
    print(f"\n{len(rows)} splices ({args.transition}), strict F1@±2 (mean): check off {m[0]:.3f}, on {m[1]:.3f}; "
          f"events within ±2 frames of the {args.transition}: off {s[0]}, on {s[1]}, in the key {s[2]}")
    return 0


if __name__ == "__main__":
    run_main(main)
