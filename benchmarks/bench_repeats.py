"""Repeated frames: how many false events they cause, and what ``DetectorParams.skip_repeats`` does.

1. Inserted repeats: each clip is re-encoded with its frame k shown twice every ``--every`` frames
   (as frame-rate conversion by duplication does); events found on it, mapped back to the source
   frames, are compared with the events found on the source.
2. The real clips with their audio key: strict F1@±2 per clip with ``skip_repeats`` off and on
   (two of them already repeat every 6th frame).

    python benchmarks/bench_repeats.py                       # drum + stick clips, repeats every 5th / 2nd frame
    python benchmarks/bench_repeats.py --clips examples/bouncing_balls.mp4 --every 3
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from common import REAL, labelled_videos, run_main, strict_f1

from actiondubber.detection.detector import detect
from actiondubber.evaluate.labels import read_labels
from actiondubber.video.reader import iter_frames, probe
from actiondubber.video.writer import write_video


def _with_repeats(src: Path, every: int, dst: Path) -> list[int]:
    """Write *src* with every *every*-th frame shown twice; return source frame of each output frame."""
    info = probe(src)
    frames = [f.image for f in iter_frames(src, short_side=None, pix_fmt="rgb24")]
    out, mapping = [], []
    for i, im in enumerate(frames):
        out.append(im)
        mapping.append(i)
        if i % every == every - 1:
            out.append(im)
            mapping.append(i)
    fps = Fraction(info.fps).limit_denominator(1001) * Fraction(len(out), len(frames))
    write_video(dst, out, fps, crf=18)
    return mapping



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="+", type=Path,
                    default=[REAL / "vas_drum_snare_overhead.mp4", REAL / "greatesthits_stick_bag.mp4"])
    ap.add_argument("--every", type=int, nargs="+", default=[5, 2])
    args = ap.parse_args()
    off, on = {"skip_repeats": False}, {"skip_repeats": True}
    print("1. inserted repeats: events on the source vs on the copy with repeats (mapped back), strict F1@±2 "
          "between them")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            if not clip.is_file():
                print(f"  {clip}: not found, skipped")
                continue
            ref = detect(clip, **off).frames
            for every in args.every:
                dst = Path(tmp) / f"rep_{every}.mp4"
                mapping = _with_repeats(clip, every, dst)
                row = [f"  {clip.name[:32]:32s} repeat every {every}: source {len(ref):3d} events"]
                for name, p in (("off", off), ("skip_repeats", on)):
                    got = sorted({mapping[f] for f in detect(dst, **p).frames})
                    row.append(f"{name} {len(got):3d} events (F1 vs source {strict_f1(ref, got):.3f})")
                print("; ".join(row))
    labels = REAL / "labels_audio_onsets.csv"
    if not labels.is_file():
        print(f"2. skipped: {labels} not found")
        return 0
    print("2. real clips, audio key: strict F1@±2 with skip_repeats off / on")
    lf = read_labels(labels)
    files = labelled_videos(REAL, set(lf.videos))
    res = {"off": [], "on": []}
    for vid, vl in sorted(lf.videos.items()):
        a = strict_f1(list(vl.frames), list(detect(files[vid], **off).frames))
        b = strict_f1(list(vl.frames), list(detect(files[vid], **on).frames))
        res["off"].append(a)
        res["on"].append(b)
        print(f"  {vid[:34]:34s} {a:.3f} / {b:.3f}")
    print(f"  {'mean':34s} {np.mean(res['off']):.3f} / {np.mean(res['on']):.3f}")
    return 0


if __name__ == "__main__":
    run_main(main)
