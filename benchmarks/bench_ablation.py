"""Small-scale Table-4 ablation of TA²Net: train each row of the paper's ablation and compare them.

Every row is the CPU-sized model (``TA2NetConfig.small_cpu()``) with the parts
of that row switched on (``TA2NetConfig.ablation``), trained by
``bench_train.py`` with identical data, seed and recipe (synthetic clips only),
then scored on 24 held-out synthetic clips and on the real clips in
``../shared/data/real`` (audio-onset key). Rows run ``--jobs`` at a time, one
torch thread each; finished rows are reused (delete ``WORK/ablation/ROW[-seedN].json``
and ``WORK/run-ROW[-seedN]`` to redo one).

    python benchmarks/bench_ablation.py                 # all six rows, 700 iterations each (about 30 min, 2 cores)
    python benchmarks/bench_ablation.py --seeds 0 1     # twice, with two training seeds; means and each seed
    python benchmarks/bench_ablation.py --rows video +temp --iterations 300

Small-scale: with a few dozen synthetic clips the spread between training
seeds is large; compare rows by their means over seeds, and do not read the
table as a reproduction of the paper's Table 4.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT, run_logged, run_main

from actiondubber.fileio import write_text_atomic
from actiondubber.model.config import ABLATIONS

LABELS = {
    "video": "video only",
    "video+motion": "+ motion",
    "video+motion+inflection": "+ inflection (concat)",
    "+aggregation": "+ cross-kinematics aggregation",
    "+cont": "+ L_cont",
    "+temp": "+ L_temp (full model)",
}


def _run_row(job: tuple[str, int], args, out: Path) -> dict:
    row, seed = job
    name = row.strip("+").replace("+", "-") + (f"-seed{seed}" if seed else "")
    js = out / f"{name}.json"
    if js.is_file():
        return json.loads(js.read_text(encoding="utf-8"))
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--work", str(args.work), "--ablation", row,
           "--no-baseline", "--iterations", str(args.iterations), "--seed", str(seed), "--json", str(js)]
    t0 = time.perf_counter()
    run_logged(cmd, out / f"{name}.log", f"row {row} seed {seed}")
    print(f"row {row!r} seed {seed} done in {time.perf_counter() - t0:.0f} s", flush=True)
    return json.loads(js.read_text(encoding="utf-8"))


def fmt(x) -> str:
    return "  -  " if x is None or x != x else f"{x:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "train")
    ap.add_argument("--rows", nargs="+", choices=ABLATIONS, default=list(ABLATIONS))
    ap.add_argument("--iterations", type=int, default=700)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one training run per row and seed")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = args.work / "ablation"
    out.mkdir(parents=True, exist_ok=True)
    # The data sets and their feature cache are made once, by the first row, before the others start.
    jobs = [(row, seed) for seed in args.seeds for row in args.rows]
    made = all((args.work / d / "labels.csv").is_file() for d in ("synth_train", "synth_val", "synth_test"))
    results = {} if made else {jobs[0]: _run_row(jobs[0], args, out)}
    rest = [j for j in jobs if j not in results]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for job, res in zip(rest, pool.map(lambda j: _run_row(j, args, out), rest), strict=True):
            results[job] = res
    sets = [r["set"] for r in results[jobs[0]]["rows"]]
    seeds = ", ".join(str(s) for s in args.seeds)
    lines = [
        "TA2Net Table-4 ablation, SMALL SCALE (small_cpu model, synthetic training clips only, "
        f"{args.iterations} iterations, seed(s) {seeds}); not comparable with the paper's Audible623 figures",
        "strict F1@±2 = one-to-one matching within ±2 frames, mean over clips; paper F1 = the reference code's "
        "lenient ±3-frame F1" + ("; mean over seeds, per-seed strict F1@±2 in brackets" if len(args.seeds) > 1
                                 else ""),
        "",
        f"{'row':34s} " + " ".join(f"{s.split(':')[0][:14] + ' F1@±2':>20s} {'paper F1':>9s}" for s in sets)
        + f" {'train s':>8s}",
    ]
    for row in args.rows:
        runs = [results[(row, seed)] for seed in args.seeds]
        cells = []
        for s in sets:
            ms = [next(x for x in r["rows"] if x["set"] == s) for r in runs]
            f1 = [m["f1_2"] for m in ms]
            each = f" [{' '.join(f'{x:.2f}' for x in f1)}]" if len(f1) > 1 else ""
            cells.append(f"{fmt(sum(f1) / len(f1)) + each:>20s} {fmt(sum(m['paper_f1'] for m in ms) / len(ms)):>9s}")
        secs = sum(r["train_seconds"] for r in runs) / len(runs)
        lines.append(f"{LABELS[row]:34s} " + " ".join(cells) + f" {secs:>8.0f}")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    write_text_atomic(out / "summary.txt", text)
    return 0


if __name__ == "__main__":
    run_main(main)
