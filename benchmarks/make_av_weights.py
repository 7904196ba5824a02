"""Train the shipped default weights of ``detect --use-audio`` (``actiondubber/tal/weights/audible_av.pt``).

Training data a user can regenerate: 24 synthetic clips from :mod:`actiondubber.synth` (all scenes,
30 and 15 fps; seeds disjoint from the benchmark's held-out clips; labels = the exact collision
frames) plus, when ``../shared/data/real`` is there (``--footage DIR`` for another folder, ``--no-footage``
to leave it out), footage with sound labelled from its own soundtrack (the strong onsets of the clean
sound, :func:`actiondubber.audio.labels.audio_event_frames`). During training every clip's soundtrack
is corrupted at random (:mod:`actiondubber.tal.synthdata`: shifted ±100–300 ms, noise, music, off-screen
impacts, another clip's sound, none) while the labels stay. The model is the residual on the
training-free detector (:mod:`actiondubber.tal.audible`). On this 2-core CPU it takes a few minutes::

    python benchmarks/make_av_weights.py [--out src/actiondubber/tal/weights/audible_av.pt] [--fusion mravff]

The shipped weights saw the 12 real clips: the benchmark (``bench_tal.py --part b``) reports the real
clips from models trained with each clip held out (folds), never from these weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import run_main

from actiondubber.tal.audible import (
    DEFAULT_WEIGHTS,
    AudibleConfig,
    footage_clip,
    save_audible,
    synthetic_clips,
    train_audible,
)
from actiondubber.tal.features import FeatureParams

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
VIDEO_EXT = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/av_weights"))
    ap.add_argument("--n-train", type=int, default=24)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fusion", default="mravff", choices=["mravff", "concat", "add"])
    ap.add_argument("--footage", type=Path, default=FOOTAGE, help="folder of videos with sound to add")
    ap.add_argument("--no-footage", action="store_true", help="synthetic clips only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    fp = FeatureParams()
    clips = synthetic_clips(args.work, args.n_train, 101, "train", fp)
    footage = []
    if not args.no_footage and args.footage.is_dir():
        footage = [footage_clip(p, fp) for p in sorted(args.footage.iterdir()) if p.suffix.lower() in VIDEO_EXT]
    t1 = time.time()
    print(f"data: {len(clips)} synthetic clips + {len(footage)} clips of footage in {t1 - t0:.0f} s", flush=True)
    model = train_audible(clips + footage, AudibleConfig(fusion=args.fusion), iters=args.iters, seed=args.seed)
    t2 = time.time()
    print(f"training: {args.iters} iterations in {t2 - t1:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    saw = f"{len(clips)} synthetic clips (seed 101)" + (
        f" + {len(footage)} clips of footage labelled from their own soundtrack ({', '.join(c.vid for c in footage)})"
        if footage else ", no real footage")
    save_audible(args.out, model, extra={"trained_on": saw, "iters": args.iters, "seed": args.seed,
                                         "script": "benchmarks/make_av_weights.py"})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.time() - t0:.0f} s total; "
          f"trained on {saw}")


if __name__ == "__main__":
    run_main(main)
