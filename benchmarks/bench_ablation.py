"""Small-scale Table-4 ablation of TA²Net: train each row of the paper's ablation and compare them.

Every row is the CPU-sized model (``TA2NetConfig.small_cpu()``) with the parts
of that row switched on (``TA2NetConfig.ablation``), trained by
``bench_train.py`` with identical data, seed and recipe (synthetic clips only),
then scored on 24 held-out synthetic clips and on the real clips in
``../shared/data/real`` (audio-onset key). Rows run ``--jobs`` at a time, one
torch thread each; finished rows are reused (delete ``WORK/run-ROW`` to redo one).

    python benchmarks/bench_ablation.py                 # all six rows, 700 iterations each (about 35 min, 2 cores)
    python benchmarks/bench_ablation.py --rows video +temp --iterations 300

Small-scale and single-seed: differences of a few hundredths are within the
run-to-run spread and say little about the paper's Table 4.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from actiondubber.fileio import write_text_atomic  # noqa: E402
from actiondubber.model.config import ABLATIONS  # noqa: E402

LABELS = {
    "video": "video only",
    "video+motion": "+ motion",
    "video+motion+inflection": "+ inflection (concat)",
    "+aggregation": "+ cross-kinematics aggregation",
    "+cont": "+ L_cont",
    "+temp": "+ L_temp (full model)",
}


def _run_row(row: str, args, out: Path) -> dict:
    js = out / f"{row.strip('+').replace('+', '-')}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--work", str(args.work), "--ablation", row,
           "--no-baseline", "--iterations", str(args.iterations), "--seed", str(args.seed), "--json", str(js)]
    log = out / f"{row.strip('+').replace('+', '-')}.log"
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise SystemExit(f"row {row} failed (exit {proc.returncode}); see {log}")
    print(f"row {row!r} done in {time.perf_counter() - t0:.0f} s", flush=True)
    return json.loads(js.read_text(encoding="utf-8"))


def _f(x) -> str:
    return "  -  " if x is None or x != x else f"{x:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "train")
    ap.add_argument("--rows", nargs="+", choices=ABLATIONS, default=list(ABLATIONS))
    ap.add_argument("--iterations", type=int, default=700)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = args.work / "ablation"
    out.mkdir(parents=True, exist_ok=True)
    # The data sets and their feature cache are made once, by the first row, before the others start.
    first = args.rows[0]
    made = all((args.work / d / "labels.csv").is_file() for d in ("synth_train", "synth_val", "synth_test"))
    results = {} if made else {first: _run_row(first, args, out)}
    rest = [r for r in args.rows if r not in results]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for row, res in zip(rest, pool.map(lambda r: _run_row(r, args, out), rest), strict=True):
            results[row] = res
    sets = [r["set"] for r in results[first]["rows"]]
    lines = [
        "TA2Net Table-4 ablation, SMALL SCALE (small_cpu model, synthetic training clips only, "
        f"{args.iterations} iterations, seed {args.seed}); not comparable with the paper's Audible623 figures",
        "strict F1@±2 = one-to-one matching within ±2 frames, mean over clips; paper F1 = the reference code's "
        "lenient ±3-frame F1",
        "",
        f"{'row':34s} " + " ".join(f"{s.split(':')[0][:14] + ' F1@±2':>20s} {'paper F1':>9s}" for s in sets)
        + f" {'best it.':>8s} {'train s':>8s}",
    ]
    for row in args.rows:
        r = results[row]
        cells = []
        for s in sets:
            m = next(x for x in r["rows"] if x["set"] == s)
            cells.append(f"{_f(m['f1_2']):>20s} {_f(m['paper_f1']):>9s}")
        lines.append(f"{LABELS[row]:34s} " + " ".join(cells) + f" {r['best_iteration']:>8d} {r['train_seconds']:>8.0f}")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    write_text_atomic(out / "summary.txt", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
