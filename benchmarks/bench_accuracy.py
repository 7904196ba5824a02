"""Accuracy of the training-free detector and two baselines on labelled clips.

Runs every method on every labelled video in a folder, writes the events JSON
and a plot per clip, and prints per-clip strict F1@±2 and a summary table
(strict one-to-one F1@±1/±2/±3 and within ±50 ms, the paper's lenient
Recall/Precision/F1/NME/PME, counting MAE/OBO) per method.

    python benchmarks/bench_accuracy.py                      # the real clips in ../shared/data/real
    python benchmarks/bench_accuracy.py --videos DIR --labels DIR/labels.csv --out out/bench_synth
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from common import REAL, RESULTS, labelled_videos, require, run_main

from actiondubber.detection.detector import PRESETS, DetectorParams, events_from_curve, frame_curve
from actiondubber.evaluate import read_labels, score
from actiondubber.events import save_events
from actiondubber.exporters.plot import plot_curve

#: name -> DetectorParams overrides (over the single-scale base ``DetectorParams()``; the first row is the
#: default users get, ``DEFAULT_DETECTOR``)
METHODS: dict[str, dict] = {
    "ours, default (two scales, abrupt 2, sensitivity 0.6)": {"multiscale": 192, "abrupt": 2.0, "sensitivity": 0.6},
    "ours, single scale (deceleration + gravity)": {},
    "ours without gravity prior": {"gravity": 0.0},
    "ours, DIS ultrafast preset": {"flow_preset": "ultrafast"},
    "ours without brightness-change gate": {"change_gate": 0.0},
    "inflection magnitude |a|": {"kind": "inflection"},
    "baseline: flow magnitude peaks": {"kind": "flow"},
    "baseline: impact envelope (visbeat-like)": {"kind": "impact"},
}


def _over_base(preset: DetectorParams) -> dict:
    """The fields in which *preset* differs from the single-scale base ``DetectorParams()``."""
    base = DetectorParams()
    return {k: v for k, v in vars(preset).items() if v != getattr(base, k)}


METHODS["ours, --fast preset (128 px, ultrafast, one flow per pair)"] = _over_base(PRESETS["fast"])
METHODS["ours, --fastest preset (96 px, ultrafast, one flow per pair)"] = _over_base(PRESETS["fastest"])


def _f(x) -> str:
    return "  -  " if x is None or x != x else f"{x:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--out", type=Path, default=RESULTS / "accuracy")
    ap.add_argument("--methods", default="all", help="comma-separated method numbers (1-based) or 'all'")
    ap.add_argument("--merge-labels", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    labels = args.labels or args.videos / "labels_audio_onsets.csv"
    lab_file = read_labels(require(labels, "labels"))
    lab = lab_file.videos
    vids = labelled_videos(args.videos, set(lab))
    names = list(METHODS)
    if args.methods != "all":
        names = [names[int(i) - 1] for i in args.methods.split(",")]
    print(f"{len(vids)} labelled videos from {args.videos}, labels {labels}")
    summary = []
    for mi, name in enumerate(names, 1):
        params = DetectorParams(**METHODS[name])
        mdir = args.out / f"method{mi}"
        mdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        n_frames = 0
        found = {}
        for vid, path in vids.items():
            curve = frame_curve(path, params)
            ev = events_from_curve(curve, params)
            n_frames += ev.video.n_frames
            found[vid] = ev
            save_events(ev, mdir / f"{vid}.json")  # for inspection; scoring is in memory
            if mi == 1:
                plot_curve(ev, mdir / f"{vid}.png", truth=lab[vid].frames, title=f"{vid}: {name}")
        dt = time.perf_counter() - t0
        rep = score(found, lab_file, merge=args.merge_labels)
        agg = rep.aggregate
        if mi == 1:
            print(f"\nper clip, {name}: strict F1@±2 (P/R), F1@±50ms, paper F1")
            for v in rep.rows:
                s2 = v.strict["2f"]
                ms = v.strict.get("50ms")
                print(f"  {v.video_id:34s} n_true={v.n_ref:3d} n_pred={v.n_est:3d}  F1@±2={_f(s2.f1)} "
                      f"(P={_f(s2.precision)} R={_f(s2.recall)})  F1@50ms={_f(ms.f1 if ms else None)}  "
                      f"paperF1={_f(v.paper.f1)}")
        m = agg.strict_mean
        pooled2 = agg.strict_pooled["2f"].f1 if agg.strict_pooled.get("2f") else None
        summary.append((name, m["1f"][2], m["2f"][2], pooled2, m["3f"][2], m.get("50ms", (None,) * 3)[2],
                        agg.paper.recall, agg.paper.precision, agg.paper.f1, agg.nme, agg.pme, agg.mae, agg.obo,
                        n_frames / dt))
    print("\nmean over clips (strict = one-to-one matching; pooled2 = strict F1@±2 from counts pooled over clips;"
          " paper = lenient ±3 frames as the reference code)")
    hdr = ("method", "F1@±1", "F1@±2", "pooled2", "F1@±3", "F1@50ms", "paperR", "paperP", "paperF1", "NME", "PME",
           "MAE", "OBO", "fps")
    print(f"{hdr[0]:42s} " + " ".join(f"{h:>7s}" for h in hdr[1:]))
    for row in summary:
        print(f"{row[0]:42s} " + " ".join(f"{_f(x):>7s}" for x in row[1:-1]) + f" {row[-1]:7.0f}")
    print(f"\nevents JSON and plots: {args.out}")
    return 0


if __name__ == "__main__":
    run_main(main)
