"""What ``--sensitivity`` trades: strict precision and recall at ±2 frames over its whole range.

For each set the preset's strength curves are measured once, then the peaks are picked again at every
sensitivity from 0 to 1; the other settings stay the preset's. Printed per set and sensitivity:
strict precision, recall and F1@±2 from counts pooled over the clips, the mean F1@±2 over clips, and
events per true event; a PNG plots precision and recall against sensitivity, one line per set, with
the shipped value marked. The picker alone is re-run, so the small-mover fallback (which ``detect``
runs only where nothing passes the floor) is left out, as in ``bench_accuracy.py``.

    python benchmarks/bench_sensitivity.py                       # the real clips, audio and human keys
    python benchmarks/bench_sensitivity.py --set "family 1=benchmarks/results/synth" \\
        --set "family 2=benchmarks/results/synth2" --png docs/sensitivity.png     # the README's plot
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from common import HUMAN_KEY, REAL, RESULTS, labelled_set, run_main

from actiondubber.detection.detector import PRESETS, events_from_curve, frame_curve
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import PRF, evaluate_video
from actiondubber.fileio import atomic_output

GRID = tuple(round(x, 2) for x in np.arange(0.0, 1.0001, 0.05))


def sweep(curves: dict, key: dict[str, list[int]], params) -> list[dict]:
    """Pooled strict P/R/F1@±2, mean F1@±2 and events per true event at every sensitivity of :data:`GRID`."""
    rows = []
    for s in GRID:
        p = dataclasses.replace(params, sensitivity=s)
        tot, f1s, n_pred = PRF(0, 0, 0), [], 0
        for vid, curve in curves.items():
            frames = list(events_from_curve(curve, p).frames)
            n_pred += len(frames)
            prf = evaluate_video(key[vid], frames, tolerances=(2,)).strict["2f"]
            tot = tot + prf
            f1s.append(prf.f1)
        n_true = sum(len(key[v]) for v in curves)
        rows.append({"sensitivity": s, "precision": tot.precision, "recall": tot.recall, "f1": tot.f1,
                     "mean_f1": float(np.mean(f1s)), "per_true": n_pred / max(1, n_true)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=DIR",
                    help="a labelled set (DIR/labels.csv); the real clips are always included when present")
    ap.add_argument("--no-real", action="store_true", help="leave the real clips out")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default")
    ap.add_argument("--png", type=Path, default=RESULTS / "sensitivity" / "sensitivity.png")
    args = ap.parse_args()
    params = PRESETS[args.preset]
    sets: list[tuple[str, Path, Path]] = []
    if REAL.is_dir() and not args.no_real:
        sets.append(("real clips, audio key", REAL, REAL / "labels_audio_onsets.csv"))
    for item in args.set:
        name, _, folder = item.partition("=")
        if not folder:
            raise SystemExit(f"--set wants NAME=DIR, not {item!r}")
        sets.append((name, Path(folder), Path(folder) / "labels.csv"))
    if not sets:
        raise SystemExit(f"no set to measure: {REAL} is absent and no --set was given")
    results: dict[str, list[dict]] = {}
    for name, folder, labels in sets:
        lf, clips = labelled_set(folder, labels)
        curves = {vid: frame_curve(path, params) for vid, path in clips}
        key = {vid: list(lf.videos[vid].frames) for vid, _ in clips}
        results[name] = sweep(curves, key, params)
        if folder == REAL and HUMAN_KEY.is_file():
            hk = read_labels(HUMAN_KEY)
            sub = {v: c for v, c in curves.items() if v in hk.videos}
            results["human key (5 clips)"] = sweep(sub, {v: list(hk.videos[v].frames) for v in sub}, params)
    for name, rows in results.items():
        print(f"\n{name}: strict @±2 pooled precision / recall / F1, mean F1 over clips, events per true event")
        for r in rows:
            mark = "  <- shipped" if abs(r["sensitivity"] - params.sensitivity) < 1e-9 else ""
            print(f"  sensitivity {r['sensitivity']:.2f}  P {r['precision']:.3f}  R {r['recall']:.3f}  "
                  f"F1 {r['f1']:.3f}  mean F1 {r['mean_f1']:.3f}  {r['per_true']:.2f}{mark}")
    _plot(results, params.sensitivity, args.png, args.preset)
    print(f"\nplot: {args.png}")
    return 0


def _plot(results: dict[str, list[dict]], shipped: float, out: Path, preset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (name, rows) in enumerate(results.items()):
        s = [r["sensitivity"] for r in rows]
        c = f"C{i}"
        ax.plot(s, [r["precision"] for r in rows], "-", color=c, label=f"{name}: precision")
        ax.plot(s, [r["recall"] for r in rows], "--", color=c, label=f"{name}: recall")
    ax.axvline(shipped, color="0.4", lw=0.8)
    ax.text(shipped + 0.01, 0.02, f"shipped {shipped:g}", color="0.3", fontsize=8)
    ax.set(xlabel="--sensitivity", ylabel="strict @±2 frames (pooled)", ylim=(0, 1.02), xlim=(0, 1),
           title=f"What --sensitivity trades ({preset} preset)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    run_main(main)
