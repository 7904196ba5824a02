"""Train the CPU-sized TA²Net on synthetic collision clips and compare it with the training-free detector.

Small-scale by design (about 10-15 minutes on 2 CPU cores): 24 training clips
(``make_synth_set.py --seed 0``), 8 validation clips (seed 2, pick the best
checkpoint), then both methods on 24 held-out clips (seed 1) and on the real
clips in ``../shared/data/real`` (``labels_audio_onsets.csv``). Figures are
the strict one-to-one F1 within ±2 frames (mean over clips, and pooled) and
the paper's lenient Recall/Precision/F1 (±3 frames, as its reference code).

    python benchmarks/bench_train.py                       # defaults below, work folder benchmarks/results/train
    python benchmarks/bench_train.py --iterations 300 --clip-len 16
    python benchmarks/bench_train.py --ablation video --no-baseline   # one Table-4 row (see bench_ablation.py)

The model is ``TA2NetConfig.small_cpu()`` with the clip length and input size
given here (paper: 64 frames at 112 px; 32 frames keeps a step near 1 s on this
CPU), trained from scratch (no ImageNet weights) with Adam at ``--lr`` (the
paper's 5e-6 is for ImageNet-initialised ResNet50s over 20k iterations) after a
short warm-up, one torch thread (two OpenMP threads stall on a busy 2-core box).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch
from common import REAL, ROOT, fmt, make_synth_set, run_main, run_methods

from actiondubber.fileio import write_text_atomic
from actiondubber.model.config import ABLATIONS, TA2NetConfig
from actiondubber.model.infer import load_checkpoint
from actiondubber.train.loop import TrainRecipe, train


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "train")
    ap.add_argument("--iterations", type=int, default=700)
    ap.add_argument("--clip-len", type=int, default=32)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablation", choices=ABLATIONS, default="+temp",
                    help="Table-4 row built on the small config (default +temp = the full model); rows other "
                         "than +temp train in WORK/run-ROW (WORK/run[-ROW]-seedN for a seed other than 0)")
    ap.add_argument("--negatives", action="store_true",
                    help="also train on the clips without collisions (empty label lists); run folder gets -neg")
    ap.add_argument("--no-baseline", action="store_true", help="skip the training-free detector")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--fresh", action="store_true", help="delete an earlier run in WORK/run first")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "feature_cache"
    t0 = time.perf_counter()
    train_labels = make_synth_set(work / "synth_train", 0, 24)
    val_labels = make_synth_set(work / "synth_val", 2, 8)
    test_labels = make_synth_set(work / "synth_test", 1, 24)
    t_data = time.perf_counter() - t0
    run = work / (("run" if args.ablation == "+temp" else "run-" + args.ablation.strip("+").replace("+", "-"))
                  + ("-neg" if args.negatives else "") + (f"-seed{args.seed}" if args.seed else ""))
    if args.fresh and run.exists():
        import shutil

        shutil.rmtree(run)
    cfg = TA2NetConfig.ablation(args.ablation, TA2NetConfig.small_cpu().replace(clip_len=args.clip_len,
                                                                                size=args.size))
    t0 = time.perf_counter()
    recipe = TrainRecipe(train_labels, train_labels.parent, val_csv=val_labels, val_videos=val_labels.parent,
                         negatives=args.negatives, iterations=args.iterations, batch_size=args.batch_size,
                         lr=args.lr, warmup=args.warmup, seed=args.seed, eval_every=max(1, args.iterations // 7))
    res = train(recipe, run, cfg=cfg, cache_dir=cache, progress=True, resume=(run / "last.pt").is_file())
    t_train = time.perf_counter() - t0
    lm = load_checkpoint(run / "best.pt")
    methods = ("ta2net",) if args.no_baseline else ("ta2net", "training-free")
    tag = "" if run.name == "run" else "-" + run.name
    rows = run_methods("synth held-out", test_labels.parent, test_labels, lm, work, cache, methods, tag)
    real_labels = REAL / "labels_audio_onsets.csv"
    if real_labels.is_file():
        rows += run_methods("real", REAL, real_labels, lm, work, cache, methods, tag)
    else:
        print(f"(real clips skipped: {real_labels} not found)")
    lines = [
        "TA2Net small-scale benchmark (synthetic training data only; NOT comparable with the paper's Audible623 "
        "figures)",
        f"model: small_cpu config, Table-4 row {args.ablation}, clip_len {args.clip_len}, size {args.size}, "
        f"from scratch; "
        f"{args.iterations} iterations x batch {args.batch_size}, Adam lr {args.lr}, warm-up {args.warmup}, "
        f"seed {args.seed}, {args.threads} torch thread(s)"
        + (", clips without collisions used as negatives" if args.negatives else ""),
        f"data: 24 train / 8 validation / 24 held-out synthetic clips (make_synth_set seeds 0/2/1), real clips "
        f"from {REAL}",
        f"time: data {t_data:.0f} s (cached after the first run), training incl. flow features {t_train:.0f} s; "
        f"best checkpoint at iteration {res.best_iteration} (validation strict F1@±2 "
        f"{fmt(res.best_metric)}); last training loss {res.losses[-1] if res.losses else float('nan'):.4f}",
        "",
        f"{'set: method':36s} {'F1@±2':>7s} {'pooled2':>7s} {'paperR':>7s} {'paperP':>7s} {'paperF1':>7s} "
        f"{'NME':>7s} {'PME':>7s} {'fps':>7s}",
    ]
    for r in rows:
        lines.append(f"{r[0]:36s} " + " ".join(f"{fmt(x):>7s}" for x in r[1:-1]) + f" {r[-1]:7.0f}")
    lines.append("F1@±2: strict one-to-one, mean over clips; pooled2: from counts pooled over clips; paper*: the "
                 "reference code's lenient ±3-frame figures; fps: inference frames/s incl. flow (TA2Net reuses "
                 "cached features where present)")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    write_text_atomic(run / "summary.txt", text)
    if args.json:
        keys = ("set", "f1_2", "pooled_f1_2", "paper_recall", "paper_precision", "paper_f1", "nme", "pme", "fps")
        record = {"ablation": args.ablation, "negatives": args.negatives, "iterations": args.iterations,
                  "seed": args.seed,
                  "best_iteration": res.best_iteration, "best_val_f1_2": res.best_metric,
                  "train_seconds": t_train, "rows": [dict(zip(keys, r, strict=True)) for r in rows]}
        write_text_atomic(args.json, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    run_main(main)
