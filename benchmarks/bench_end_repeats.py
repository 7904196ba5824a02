"""A duplicated last frame: how often it fakes an impact, and what ``DetectorParams.end_repeats`` does.

Trimmed and frame-rate-converted clips often end on a repeat of their last picture (three of the
twelve real dev clips do). Each clip of a labelled set is re-encoded twice, as it is (A) and with
its last frame shown once more (B); the key is the same for both (frame indices do not move).
Strict F1@±2 against the key, mean over clips, for A with the check on, B with it off and B with
it on, plus the events that B gains on its second-to-last frame without the check. The default
detector (two scales) is used unless ``--fast``.

    python benchmarks/bench_end_repeats.py                                  # the 12 real clips
    python benchmarks/bench_end_repeats.py --videos benchmarks/results/synth2 \\
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


def _copies(src: Path, tmp: Path) -> tuple[Path, Path]:
    """Re-encode *src* as it is and with its last frame repeated (same settings for both)."""
    info = probe(src)
    frames = [f.image for f in iter_frames(src, short_side=None, pix_fmt="rgb24")]
    fps = Fraction(info.fps).limit_denominator(1001)
    a, b = tmp / f"{src.stem}_a.mp4", tmp / f"{src.stem}_b.mp4"
    write_video(a, frames, fps, crf=18)
    write_video(b, frames + [frames[-1]], fps, crf=18)
    return a, b



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--fast", action="store_true", help="the single-scale detector (about three times faster)")
    args = ap.parse_args()
    lf, clips = labelled_set(args.videos, args.labels)
    base = FAST_OVERRIDES if args.fast else {}
    rows = []
    print(f"{'clip':34s} {'A on':>6s} {'B off':>6s} {'B on':>6s}  B off: event on frame n-2")
    with tempfile.TemporaryDirectory() as td:
        for vid, path in clips:
            a, b = _copies(path, Path(td))
            true = list(lf.videos[vid].frames)
            ea = detect(a, **base, end_repeats=True)
            eb_off = detect(b, **base, end_repeats=False)
            eb_on = detect(b, **base, end_repeats=True)
            n = ea.video.n_frames  # B has n + 1 frames; its repeat's false stop is on frame n - 1
            fake = (n - 1) in eb_off.frames and (n - 1) not in eb_on.frames
            r = (strict_f1(true, ea.frames), strict_f1(true, eb_off.frames), strict_f1(true, eb_on.frames), fake)
            rows.append(r)
            print(f"{vid:34s} {r[0]:6.3f} {r[1]:6.3f} {r[2]:6.3f}  {'yes' if fake else ''}", flush=True)
    m = np.array([r[:3] for r in rows]).mean(axis=0)
    print(f"\n{len(rows)} clips, strict F1@±2 (mean over clips): as it is, check on {m[0]:.3f}; last frame "
          f"repeated, check off {m[1]:.3f}, check on {m[2]:.3f}; a false event on the repeat's frame "
          f"without the check in {sum(r[3] for r in rows)} of {len(rows)} clips")
    return 0


if __name__ == "__main__":
    run_main(main)
