"""Train TA²Net on real footage labelled from its own soundtrack, two-fold, and compare on unseen real clips.

The 12 real clips of ``../shared/data/real`` (key: ``labels_audio_onsets.csv``,
made by ``actiondubber label-from-audio``) are split into two folds (sorted ids,
alternating). For each fold the CPU-sized model trains on the 24 synthetic
training clips of ``bench_train.py`` *plus that fold's 6 real clips*, picks its
checkpoint on the 8 synthetic validation clips (never on real clips), and is
scored on the *other* fold. A second model per fold starts from the synthetic-only
model and is fine-tuned on that fold's 6 real clips alone (``train --init``,
``--finetune-iterations`` at lr 3e-4). Next to it, on the same clips: the model trained on
synthetic clips only (``bench_train.py``'s run, trained first if missing) and
the training-free detector. Every real clip is scored by a model that never saw it.

    python benchmarks/bench_train_real.py          # about 20 min on 2 cores after bench_train.py
    python benchmarks/bench_train_real.py --jobs 1

Small-scale (6 real training clips per fold): it shows what a little real data
does to the learned model, not what Audible623 training would give.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from common import REAL, ROOT, fmt, make_synth_set, run_logged, run_main, run_methods

from actiondubber.evaluate.labels import read_labels, write_labels
from actiondubber.evaluate.report import evaluate_predictions
from actiondubber.fileio import write_text_atomic
from actiondubber.model.config import TA2NetConfig
from actiondubber.model.infer import load_checkpoint
from actiondubber.train.dataset import index_videos
from actiondubber.train.loop import TrainRecipe, train


def _link_folder(folder: Path, files: dict[str, Path]) -> None:
    """A folder of symbolic links (no copies of the shared clips)."""
    folder.mkdir(parents=True, exist_ok=True)
    for vid, src in files.items():
        dst = folder / f"{vid}{src.suffix}"
        if not dst.exists():
            os.symlink(src.resolve(), dst)


def _train_fold(k: int, args, folds: list[list[str]], real_lf, work: Path) -> Path:
    run = work / f"run-real-fold{k}"
    if (run / "best.pt").is_file() and (run / "last.pt").is_file():
        return run
    synth_train = work / "synth_train"
    synth_lf = read_labels(synth_train / "labels.csv")
    real_files = index_videos(REAL)
    data = work / f"mixed_fold{k}"
    _link_folder(data, {**index_videos(synth_train), **{v: real_files[v] for v in folds[k]}})
    rows = {v: vl.frames for v, vl in synth_lf.videos.items()}
    rows.update({v: real_lf.videos[v].frames for v in folds[k]})
    write_labels(data / "labels.csv", rows, "mixed")
    cmd = [sys.executable, __file__, "--_train-one", str(k), "--work", str(work), "--iterations",
           str(args.iterations), "--seed", str(args.seed)]
    run_logged(cmd, work / f"run-real-fold{k}.log", f"fold {k} training")
    return run


def _finetune_fold(k: int, args, folds: list[list[str]], real_lf, work: Path) -> Path:
    run = work / f"run-real-finetune-fold{k}"
    if (run / "best.pt").is_file() and (run / "last.pt").is_file():
        return run
    data = work / f"real_train_fold{k}"
    _link_folder(data, {v: index_videos(REAL)[v] for v in folds[k]})
    write_labels(data / "labels.csv", {v: real_lf.videos[v].frames for v in folds[k]}, "real")
    cmd = [sys.executable, __file__, "--_train-one", str(k), "--_finetune", "--work", str(work),
           "--finetune-iterations", str(args.finetune_iterations), "--seed", str(args.seed)]
    run_logged(cmd, work / f"run-real-finetune-fold{k}.log", f"fold {k} fine-tuning")
    return run


def _train_one(k: int, args) -> int:
    torch.set_num_threads(1)
    work = args.work
    t0 = time.perf_counter()
    if args._finetune:
        # fine-tune the synthetic-only model on this fold's real clips alone (train --init)
        data = work / f"real_train_fold{k}"
        out = work / f"run-real-finetune-fold{k}"
        recipe = TrainRecipe(data / "labels.csv", data, val_csv=work / "synth_val" / "labels.csv",
                             val_videos=work / "synth_val", iterations=args.finetune_iterations, batch_size=2,
                             lr=3e-4, seed=args.seed, eval_every=max(1, args.finetune_iterations // 5))
        res = train(recipe, out, init_from=work / "run" / "best.pt", cache_dir=work / "feature_cache", progress=True,
                    resume=(out / "last.pt").is_file())
        print(f"fold {k}: fine-tuned in {time.perf_counter() - t0:.0f} s, best iteration {res.best_iteration}")
        return 0
    data = work / f"mixed_fold{k}"
    cfg = TA2NetConfig.small_cpu().replace(clip_len=32, size=112)
    recipe = TrainRecipe(data / "labels.csv", data, val_csv=work / "synth_val" / "labels.csv",
                         val_videos=work / "synth_val", iterations=args.iterations, batch_size=2, lr=1e-3, warmup=50,
                         seed=args.seed, eval_every=max(1, args.iterations // 7))
    out = work / f"run-real-fold{k}"
    res = train(recipe, out, cfg=cfg, cache_dir=work / "feature_cache", progress=True,
                resume=(out / "last.pt").is_file())
    print(f"fold {k}: trained in {time.perf_counter() - t0:.0f} s, best iteration {res.best_iteration}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "train")
    ap.add_argument("--iterations", type=int, default=700)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--finetune-iterations", type=int, default=300,
                    help="iterations of fine-tuning the synthetic-only model on each fold's real clips")
    ap.add_argument("--_train-one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_finetune", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._train_one is not None:
        return _train_one(args._train_one, args)
    real_csv = REAL / "labels_audio_onsets.csv"
    if not real_csv.is_file():
        print(f"skipped: {real_csv} not found (the real clips live in ../shared/data/real)")
        return 0
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    make_synth_set(work / "synth_train", 0, 24)
    make_synth_set(work / "synth_val", 2, 8)
    if not (work / "run" / "best.pt").is_file():
        print("training the synthetic-only model first (bench_train.py) ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--work", str(work),
                        "--iterations", str(args.iterations), "--seed", str(args.seed)], check=True)
    real_lf = read_labels(real_csv)
    ids = sorted(real_lf.videos)
    folds = [ids[0::2], ids[1::2]]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda k: _train_fold(k, args, folds, real_lf, work), range(2)))
        tuned_runs = list(pool.map(lambda k: _finetune_fold(k, args, folds, real_lf, work), range(2)))
    t_train = time.perf_counter() - t0
    synth_model = load_checkpoint(work / "run" / "best.pt")
    pred = work / "pred_real_folds"
    results = []
    for k in range(2):
        test = 1 - k
        tdir = work / f"real_fold{test}"
        _link_folder(tdir, {v: index_videos(REAL)[v] for v in folds[test]})
        write_labels(tdir / "labels.csv", {v: real_lf.videos[v].frames for v in folds[test]}, "real")
        mixed = load_checkpoint(runs[k] / "best.pt")
        rows = run_methods(f"fold{test}", tdir, tdir / "labels.csv", mixed, pred, work / "feature_cache",
                            ("ta2net",), "-synth+real")
        tuned = load_checkpoint(tuned_runs[k] / "best.pt")
        rows += run_methods(f"fold{test}", tdir, tdir / "labels.csv", tuned, pred, work / "feature_cache",
                             ("ta2net",), "-finetuned")
        rows += run_methods(f"fold{test}", tdir, tdir / "labels.csv", synth_model, pred, work / "feature_cache",
                             ("ta2net", "training-free"), "")
        rows = [(f"fold{test}: {label}", *r[1:]) for label, r in
                zip(("TA2Net, synthetic + real", "TA2Net, fine-tuned on real", "TA2Net, synthetic only",
                     "training-free"), rows, strict=True)]
        results.append((folds[test], rows))
    # all 12 clips, each scored by the model that did not see it: pool the two folds' prediction folders
    both = {}
    for method in ("ta2net-synth+real", "ta2net-finetuned", "ta2net", "training-free"):
        d = pred / "all" / method
        d.mkdir(parents=True, exist_ok=True)
        for test in range(2):
            for f in (pred / "pred" / f"fold{test}" / method).glob("*.json"):
                (d / f.name).write_bytes(f.read_bytes())
        agg = evaluate_predictions(d, real_csv).aggregate
        pooled = agg.strict_pooled.get("2f")
        both[method] = (agg.strict_mean["2f"][2], pooled.f1 if pooled else None, agg.paper.recall,
                        agg.paper.precision, agg.paper.f1, agg.nme, agg.pme)
    names = {"ta2net-synth+real": "TA2Net, synthetic + 6 real clips",
             "ta2net-finetuned": "TA2Net, synthetic, then fine-tuned on 6 real clips",
             "ta2net": "TA2Net, synthetic only",
             "training-free": "training-free detector"}
    lines = [
        "TA2Net trained with real clips labelled from their soundtracks (two-fold over the 12 real clips; "
        "SMALL SCALE)",
        f"small_cpu model, 32-frame clips, {args.iterations} iterations x batch 2, lr 1e-3, seed {args.seed}; "
        f"checkpoints chosen on synthetic validation clips; fold training in this call {t_train:.0f} s (0 when reused)",
        f"fold0 = {', '.join(folds[0])}",
        f"fold1 = {', '.join(folds[1])}",
        "",
        f"{'all 12 real clips (unseen): method':52s} {'F1@±2':>7s} {'pooled2':>7s} {'paperR':>7s} {'paperP':>7s} "
        f"{'paperF1':>7s} {'NME':>7s} {'PME':>7s}",
    ]
    for method, vals in both.items():
        lines.append(f"{names[method]:52s} " + " ".join(f"{fmt(x):>7s}" for x in vals))
    lines += ["", "per fold (test fold: method):"]
    for _, rows in results:
        for r in rows:
            lines.append(f"  {r[0]:38s} " + " ".join(f"{fmt(x):>7s}" for x in r[1:-1]))
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    write_text_atomic(work / "real_folds_summary.txt", text)
    write_text_atomic(work / "real_folds_summary.json", json.dumps(
        {m: dict(zip(("f1_2", "pooled_f1_2", "paper_recall", "paper_precision", "paper_f1", "nme", "pme"), v,
                     strict=True)) for m, v in both.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    run_main(main)
