"""Train the shipped default weights of ``detect --use-audio`` (``actiondubber/tal/weights/audible_av.pt``).

Everything is regenerated from the package: synthetic clips from :mod:`actiondubber.synth` (all
scenes, 30 and 15 fps; seeds disjoint from the benchmarks' held-out sets), soundtracks corrupted at
random during training (:mod:`actiondubber.tal.synthdata`), labels = the exact collision frames.
The peak threshold is chosen on separate validation clips (mean strict F1@±2 over the sound
conditions). No real clip is used. On this 2-core CPU it takes a few minutes (mostly rendering and
optical flow)::

    python benchmarks/make_av_weights.py [--out src/actiondubber/tal/weights/audible_av.pt] [--work DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from actiondubber.evaluate.metrics import prf_frames
from actiondubber.tal.audible import (
    DEFAULT_WEIGHTS,
    AudibleConfig,
    CachedClip,
    cache_clip,
    conditioned_audio,
    pick_events,
    predict_probs,
    save_audible,
    train_audible,
)
from actiondubber.tal.synthdata import default_specs, render_set

SCENES = ("bounce", "mixed", "walls", "juggle", "pendulum", "wheel", "pan", "bounce")
EVAL_CONDITIONS = ("clean", "shift", "noise", "music", "offscreen", "swap", "none")


def build(work: Path, n: int, seed: int, prefix: str) -> list[CachedClip]:
    """Render (or reuse) the clips and their features; features are cached as .npz beside the clips."""
    specs = default_specs(n, seed=seed, scenes=SCENES, fps=(30.0, 30.0, 15.0))
    clips = render_set(work / prefix, specs, prefix=prefix)
    out = []
    for c in clips:
        z = Path(c.path).with_suffix(".npz")
        if z.is_file():
            d = np.load(z)
            out.append(CachedClip(Path(c.path).stem, d["visual"], d["times"], d["samples"], int(d["sr"]),
                                  float(d["start"]), tuple(c.labelled_frames)))
            continue
        cc = cache_clip(c.path, c.labelled_frames)
        np.savez(z, visual=cc.visual, times=cc.times, samples=cc.samples, sr=cc.sr, start=cc.start)
        out.append(cc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/av_weights"))
    ap.add_argument("--n-train", type=int, default=24)
    ap.add_argument("--n-val", type=int, default=6)
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    train = build(args.work, args.n_train, 101, "train")
    val = build(args.work, args.n_val, 102, "val")
    t1 = time.time()
    print(f"data: {len(train)} training + {len(val)} validation clips in {t1 - t0:.0f} s", flush=True)
    model = train_audible(train, AudibleConfig(), iters=args.iters, seed=args.seed)
    t2 = time.time()
    print(f"training: {args.iters} iterations in {t2 - t1:.0f} s", flush=True)
    rng = np.random.default_rng(5)
    curves = {}
    for cond in EVAL_CONDITIONS:
        for k, c in enumerate(val):
            a = conditioned_audio(c, cond, rng, val[(k + 1) % len(val)])
            curves[cond, k] = predict_probs(model, c.visual, a)[0]
    best = None
    for th in np.arange(0.05, 0.75, 0.05):
        f1 = {cond: np.mean([prf_frames(c.frames, pick_events(curves[cond, k], th), k=2).f1
                             for k, c in enumerate(val)]) for cond in EVAL_CONDITIONS}
        m = float(np.mean(list(f1.values())))
        if best is None or m > best[0]:
            best = (m, float(th), f1)
    m, th, f1 = best
    import dataclasses

    model.cfg = dataclasses.replace(model.cfg, threshold=round(th, 3))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_audible(args.out, model, extra={"trained_on": f"{len(train)} synthetic clips (seed 101), no real footage",
                                         "iters": args.iters,
                                         "val_f1_at_2": {k: round(float(v), 4) for k, v in f1.items()},
                                         "script": "benchmarks/make_av_weights.py"})
    print(f"threshold {th:.2f}; validation strict F1@±2 per sound condition: "
          + ", ".join(f"{k} {v:.3f}" for k, v in f1.items()))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.time() - t0:.0f} s total")


if __name__ == "__main__":
    main()
