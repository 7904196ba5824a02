r"""The small-mover fallback (``DetectorParams.small_objects_fallback``): the default with and without it.

    python benchmarks/bench_fallback.py                                  # the 12 real clips, audio key
    python benchmarks/bench_fallback.py --videos benchmarks/results/synth2x \
        --labels benchmarks/results/synth2x/labels.csv

The fallback only acts on a clip where the flow detector finds no event because no change of motion
reaches the floor (:func:`~actiondubber.detection.detector.nothing_resolved`); every other clip keeps
its events exactly. So the detector runs once without it, and the tracker only on those clips. Fixed
settings throughout (nothing is chosen on the set it is scored on). Printed: per clip whether the
fallback ran, strict F1@±2 without and with it, and the means over clips (all and per label class).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import REAL, RESULTS, labelled_set, run_main  # noqa: F401

from actiondubber.detection.detector import DEFAULT_DETECTOR, nothing_resolved, run_detector
from actiondubber.detection.tracks import TrackParams, with_small_movers
from actiondubber.evaluate.metrics import prf_frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    args = ap.parse_args(argv)
    labels, clips = labelled_set(args.videos, args.labels)
    without = replace(DEFAULT_DETECTOR, small_objects_fallback=0)
    tp = TrackParams(short_side=DEFAULT_DETECTOR.small_objects_fallback)
    rows = []
    for vid, path in clips:
        lab = labels.videos[vid]
        t0 = time.perf_counter()
        base = run_detector(path, without)
        ran = nothing_resolved(base, without)
        both = with_small_movers(base, path, tp) if ran else base
        dt = time.perf_counter() - t0
        truth = list(lab.frames)
        f0, f1 = (prf_frames(truth, ev.frames, k=2).f1 for ev in (base, both))
        rows.append((lab.class_key, f0, f1, ran))
        print(f"  {vid:36s} {lab.class_key:10s} {'fallback ran' if ran else '            '}  without {f0:.3f}  "
              f"default {f1:.3f}  ({len(truth)} true; {len(base.frames)} -> {len(both.frames)} events; {dt:.1f} s)",
              flush=True)
    groups = defaultdict(list)
    for r in rows:
        groups["all"].append(r)
        groups[r[0]].append(r)
    print("\nstrict F1@±2, mean over clips: without the fallback -> the default with it")
    for name, rs in groups.items():
        a = np.array([r[1:3] for r in rs], float)
        n_ran = sum(r[3] for r in rs)
        print(f"  {name:12s} ({len(rs):2d} clips, fallback ran on {n_ran}): "
              f"{a[:, 0].mean():.3f} -> {a[:, 1].mean():.3f}")
    return 0


if __name__ == "__main__":
    run_main(main)
