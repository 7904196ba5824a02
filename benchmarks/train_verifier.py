"""Reproduce the shipped verifier weights (``src/actiondubber/detection/weights/verifier_default.json``).

Trained on synthetic family 1 (``benchmarks/make_synth_set.py``, exact labels) and the 12 real clips
in ``../shared/data/real`` labelled from their own soundtracks (``labels_audio_onsets.csv``), each set
weighing the same; the threshold is chosen on the real clips. Synthetic family 2 is never used, so
``bench_verifier.py``'s family-2 figures stay an honest check of the shipped weights. Numpy only,
about a minute on 2 cores once the synthetic set exists.

    python benchmarks/make_synth_set.py benchmarks/results/synth
    python benchmarks/train_verifier.py [--features channels|curve] [-o PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import REAL, ROOT, run_main

from actiondubber.detection.verifier import DEFAULT_WEIGHTS
from actiondubber.fileio import write_text_atomic
from actiondubber.train.verifier import train_verifier


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, default=ROOT / "benchmarks" / "results" / "synth")
    ap.add_argument("--features", choices=("channels", "curve"), default="curve")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_WEIGHTS)
    args = ap.parse_args()
    if not (args.synth / "labels.csv").is_file():
        print(f"{args.synth}: no synthetic set; run benchmarks/make_synth_set.py first", file=sys.stderr)
        return 2
    sets = [(args.synth, args.synth / "labels.csv"), (REAL, REAL / "labels_audio_onsets.csv")]
    model, rep = train_verifier(sets, channels=args.features == "channels", l2=args.l2,
                                progress=lambda name: print(f"  {name}", flush=True))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output, model.to_json() + "\n")
    print(f"{args.output}: {rep}")
    return 0


if __name__ == "__main__":
    run_main(main)
