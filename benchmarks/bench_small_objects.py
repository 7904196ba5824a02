r"""Small movers (``detect --small-objects``): the tracker's bounces alone and added to the default.

    python benchmarks/bench_small_objects.py --videos benchmarks/results/synth2x \
        --labels benchmarks/results/synth2x/labels.csv
    python benchmarks/bench_small_objects.py            # the 12 real clips, audio key

Fixed settings throughout (nothing is chosen on the set it is scored on): the default detector, the
tracker's :class:`~actiondubber.detection.tracks.TrackParams` defaults (set on a separate generation of
far-ball scenes, ``make_synth2_set.py ... --seed 5 --scenes far``). Printed per clip and per label class:
strict F1@±1/±2/±3 (one-to-one matching) of the default, of the tracker alone and of the two together.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import REAL, RESULTS, labelled_set, run_main  # noqa: F401

from actiondubber.detection.detector import detect
from actiondubber.detection.tracks import TrackParams, small_mover_events, with_small_movers
from actiondubber.evaluate.metrics import prf_frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--short-side", type=int, default=TrackParams().short_side)
    args = ap.parse_args(argv)
    labels, clips = labelled_set(args.videos, args.labels)
    tp = TrackParams(short_side=args.short_side)
    rows = []
    for vid, path in clips:
        lab = labels.videos[vid]
        t0 = time.perf_counter()
        base = detect(path)
        t1 = time.perf_counter()
        found = small_mover_events(path, tp)
        alone = sorted({f for f, *_ in found[0]})
        t2 = time.perf_counter()
        both = with_small_movers(base, path, tp, found=found)  # the tracker's run above, not a second one
        truth = list(lab.frames)
        f = {name: [prf_frames(truth, pred, k=k).f1 for k in (1, 2, 3)]
             for name, pred in (("default", base.frames), ("tracker", alone), ("both", both.frames))}
        rows.append((vid, lab.class_key, f))
        print(f"  {vid:36s} {lab.class_key:10s} default {f['default'][1]:.3f}  tracker {f['tracker'][1]:.3f}  "
              f"both {f['both'][1]:.3f}  ({len(truth)} true; {len(base.frames)} / {len(alone)} / "
              f"{len(both.frames)} events; {t1 - t0:.1f} s + {t2 - t1:.1f} s)", flush=True)
    groups = defaultdict(list)
    for _vid, cls, f in rows:
        groups["all"].append(f)
        groups[cls].append(f)
    print(f"\nstrict F1@±1/±2/±3, mean over clips ({args.videos}; tracker at {tp.short_side} px)")
    for g, fs in groups.items():
        line = [f"{g} ({len(fs)})".ljust(16)]
        for name in ("default", "tracker", "both"):
            m = np.mean([x[name] for x in fs], axis=0)
            line.append(f"{name} {m[0]:.3f}/{m[1]:.3f}/{m[2]:.3f}")
        print("  " + "   ".join(line))
    return 0


if __name__ == "__main__":
    run_main(main)
