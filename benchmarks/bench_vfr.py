"""Variable frame rate: dropped frames with true timestamps, and what ``DetectorParams.vfr_time`` does.

Phones and screen recorders write variable-rate video: frames come at irregular times and some are
never written, and the container's timestamps say when each was taken. Each labelled clip is
re-encoded with a random share (``--drop``) of its frames left out and the others keeping their
own times, so a gap holds more motion than a normal interval; each key frame becomes the nearest
kept frame. Strict F1@±2 against that key, mean over clips, with ``vfr_time`` off and on, next to
the clip re-encoded whole (the check is then a no-op). The default detector unless ``--fast``.

    python benchmarks/bench_vfr.py                                        # the 12 real clips
    python benchmarks/bench_vfr.py --videos benchmarks/results/synth2 \\
        --labels benchmarks/results/synth2/labels.csv
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from common import FAST_OVERRIDES, REAL, labelled_set, run_main, strict_f1

from actiondubber.detection.detector import detect
from actiondubber.video.reader import iter_frames, probe
from actiondubber.video.writer import write_video


def _dropped(src: Path, key: list[int], share: float, rng: np.random.Generator, tmp: Path):
    """Write *src* whole (A) and with *share* of its frames left out at random, times kept (B, never two
    in a row, never the first or last); return (A, B, the key in B's frame indices)."""
    frames = list(iter_frames(src, short_side=None, pix_fmt="rgb24"))
    n = len(frames)
    drop = set()
    for i in rng.permutation(np.arange(1, n - 1)):
        if len(drop) >= share * n:
            break
        if i - 1 not in drop and i + 1 not in drop:
            drop.add(int(i))
    keep = [i for i in range(n) if i not in drop]
    fps = Fraction(probe(src).fps).limit_denominator(1001)
    a, b = tmp / f"{src.stem}_a.mp4", tmp / f"{src.stem}_b.mp4"
    write_video(a, [f.image for f in frames], fps, crf=18)
    t0 = frames[0].time
    write_video(b, [frames[i].image for i in keep], fps, crf=18, times=[frames[i].time - t0 for i in keep])
    times = np.array([frames[i].time for i in keep])
    new_key = sorted({int(np.argmin(np.abs(times - frames[k].time))) for k in key if k < n})
    return a, b, new_key


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--drop", type=float, default=0.2, help="share of frames left out (default 0.2)")
    ap.add_argument("--fast", action="store_true", help="the single-scale detector (about three times faster)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lf, clips = labelled_set(args.videos, args.labels)
    rng = np.random.default_rng(args.seed)
    base = FAST_OVERRIDES if args.fast else {}
    rows = []
    print(f"{'clip':34s} {'whole':>6s} {'off':>6s} {'on':>6s}   ({args.drop:.0%} of the frames left out, times kept)")
    with tempfile.TemporaryDirectory() as td:
        for vid, path in clips:
            key = list(lf.videos[vid].frames)
            a, b, kb = _dropped(path, key, args.drop, rng, Path(td))
            r = (strict_f1(key, detect(a, **base).frames), strict_f1(kb, detect(b, **base, vfr_time=False).frames),
                 strict_f1(kb, detect(b, **base, vfr_time=True).frames))
            rows.append(r)
            print(f"{vid:34s} {r[0]:6.3f} {r[1]:6.3f} {r[2]:6.3f}", flush=True)
    m = np.array(rows).mean(axis=0)
    print(f"\n{len(rows)} clips, strict F1@±2 (mean over clips): whole {m[0]:.3f}; {args.drop:.0%} of the frames "
          f"left out: vfr_time off {m[1]:.3f}, on {m[2]:.3f}")
    return 0


if __name__ == "__main__":
    run_main(main)
