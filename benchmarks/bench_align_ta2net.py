"""Issue 13, part 4 for TA²Net: does it train better on ``--align-av`` labels than on unaligned ones?

Reads the clips and label files that ``bench_align_train.py`` makes (run it first): synthetic clips
whose soundtracks trail the picture by 0–120 ms, labelled from audio with and without alignment
(don't-care frames for weak onsets included). For the data seed given, the same train / held-out
split as ``bench_align_train.py``; the CPU-sized TA²Net (``TA2NetConfig.small_cpu()``, 32-frame
clips at 112 px, Adam lr 1e-3, 50 warm-up iterations, batch 2, one torch thread, the same model seed
for both arms) is trained once per arm on the train half's labels and no validation set (the last
model is kept, so no exact label is seen), then scored on the held-out half against the exact
synthetic labels: strict one-to-one F1 at ±1/±2/±3 frames (pooled over clips) and the mean signed
error of the ±3-frame matches in frames (+ = late).

    python benchmarks/bench_align_train.py            # makes the clips and label files
    python benchmarks/bench_align_ta2net.py [--seed 0] [--iterations 500]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, run_main, scores

from actiondubber.evaluate.labels import read_labels, write_labels
from actiondubber.model.config import TA2NetConfig
from actiondubber.model.infer import detect_with_model, load_checkpoint
from actiondubber.train.loop import TrainRecipe, train


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=RESULTS / "align_train", help="bench_align_train.py's --out")
    ap.add_argument("--seed", type=int, default=0, help="data seed of bench_align_train.py (offsets and split)")
    ap.add_argument("--model-seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--clips", type=int, default=24)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    d = args.work / f"seed{args.seed}"
    if not (d / "labels_aligned.csv").is_file():
        print(f"{d}: no label files; run benchmarks/bench_align_train.py first", file=sys.stderr)
        return 2
    ids = [f"syn{i:02d}" for i in range(args.clips)]
    truth = {v: tuple(int(x) for x in (args.work / f"{v}.truth").read_text().split(",") if x) for v in ids}
    rng = np.random.default_rng(args.seed)  # the same draws, in the same order, as bench_align_train.py
    rng.uniform(0.0, 0.120, len(ids))
    order = rng.permutation(len(ids))
    tr = [ids[i] for i in order[: len(ids) // 2]]
    te = [ids[i] for i in order[len(ids) // 2 :]]
    cfg = TA2NetConfig.small_cpu().replace(clip_len=32, size=112)
    cache = args.work / "ta2net_features"
    lines = [f"TA2Net small_cpu, {args.iterations} iterations x batch 2, lr 1e-3, model seed {args.model_seed}; "
             f"data seed {args.seed}: {len(tr)} train / {len(te)} held-out clips; held-out scored against exact "
             f"labels (pooled strict F1, bias in frames, + = late)"]
    for arm in ("unaligned", "aligned"):
        lab = read_labels(d / f"labels_{arm}.csv").videos
        run = args.work / f"ta2net_seed{args.seed}" / arm
        run.mkdir(parents=True, exist_ok=True)
        rows = {v: lab[v].frames for v in tr if v in lab}
        dc = {v: lab[v].dont_care for v in tr if v in lab}
        write_labels(run / "train.csv", rows, "", dc)
        t0 = time.perf_counter()
        recipe = TrainRecipe(run / "train.csv", d, iterations=args.iterations, batch_size=2, lr=1e-3, warmup=50,
                             seed=args.model_seed, eval_every=args.iterations)
        train(recipe, run, cfg=cfg, cache_dir=cache, progress=False, resume=(run / "last.pt").is_file())
        dt = time.perf_counter() - t0
        lm = load_checkpoint(run / "best.pt")
        preds = [[e.frame for e in detect_with_model(d / f"{v}.mp4", lm, cache_dir=cache, device="cpu").events]
                 for v in te]
        s = scores(preds, [truth[v] for v in te])
        lines.append(f"  TA2Net on {arm:9s} labels  F1@±1 {s['F1@1']:.3f}  F1@±2 {s['F1@2']:.3f}  "
                     f"F1@±3 {s['F1@3']:.3f}  bias {s['bias']:+.2f} fr  (trained in {dt:.0f} s)")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (args.work / f"ta2net_seed{args.seed}" / "summary.txt").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_main(main)
