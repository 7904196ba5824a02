"""Train the MC3 heads that ship with the package (``src/actiondubber/mc3/weights/mc3_default.pt``).

Data a user can regenerate: 28 synthetic clips (``actiondubber.synth``, seeds 0-27, 4 per scene:
collisions sound; swings, throws, turning wheels and the tops of bounces do not) and the 12 real
clips of ``../shared/data/real`` keyed by their soundtracks' onsets (skipped when absent). Frozen
encoders, MC3Config defaults, seed 0. On this 2-core CPU: a few minutes the first time (rendering,
detection and the encoders; cached in benchmarks/results/mc3), seconds after that.

    python benchmarks/train_mc3_default.py [--out PATH] [--no-real]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mc3_sets
from common import run_main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="weight file (default: the package's shipped weights)")
    ap.add_argument("--no-real", action="store_true", help="synthetic clips only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from actiondubber.mc3.config import MC3Config
    from actiondubber.mc3.heads import DEFAULT_WEIGHTS, save_model
    from actiondubber.mc3.train import FeatureSet, fit_readouts, train_mc3

    t0 = time.time()
    sets = [mc3_sets.features(mc3_sets.synthetic(mc3_sets.TRAIN_SEEDS), "synthetic encoders")]
    if not args.no_real:
        win = mc3_sets.real()
        if win:
            sets.append(mc3_sets.features(win, "real encoders"))
    fs = FeatureSet.concat(sets)
    t1 = time.time()
    cfg = MC3Config()
    model, hist = train_mc3(fs, cfg, seed=args.seed)
    fit_readouts(model, fs)
    n_pos = int((fs.labels == 1).sum())
    model.meta = {
        "trained_by": "benchmarks/train_mc3_default.py",
        "data": f"synthetic seeds {mc3_sets.TRAIN_SEEDS[0]}-{mc3_sets.TRAIN_SEEDS[-1]}"
                + ("" if len(sets) == 1 else " + 12 real clips (audio-onset key)"),
        "windows": len(fs), "sounding": n_pos, "silent": int((fs.labels == 0).sum()), "seed": args.seed,
        "final_losses": {k: hist[-1][k] for k in ("contrastive", "consensus")},
    }
    out = save_model(model, args.out or DEFAULT_WEIGHTS)
    print(f"{out}: {len(fs)} windows ({n_pos} sounding), features {t1 - t0:.0f} s, training {time.time() - t1:.0f} s; "
          f"final L_contrastive {hist[-1]['contrastive']:.3f}, L_consensus {hist[-1]['consensus']:.3f}; "
          f"{out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    run_main(main)
