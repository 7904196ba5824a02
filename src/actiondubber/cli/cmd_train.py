"""``actiondubber train``: train TA²Net on Audible623-format labels (needs the torch extra).

Distributed: ``torchrun --nproc_per_node N -m actiondubber train ...`` (gloo
on the CPU, NCCL on GPUs); only rank 0 prints and writes files.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.torchutil import require_torch

_PRESETS = ("paper", "small_cpu")


def _load_config(value: str | None):
    from actiondubber.model.config import TA2NetConfig

    if value is None:
        return None
    if value in _PRESETS and not Path(value).exists():
        return getattr(TA2NetConfig, value)()
    return TA2NetConfig.from_file(value)


def _lr_mult(items: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for it in items:
        name, sep, val = it.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(val)
        except ValueError:
            raise click.BadParameter(f"{it!r}: expected GROUP=FACTOR, e.g. encoder_rgb=0.1",
                                     param_hint="--lr-mult") from None
    return out


@click.command("train")
@click.option("--labels", required=True, type=click.Path(path_type=Path),
              help="Training labels CSV in the Audible623 format (video_id,sound_label,class).")
@click.option("--videos", required=True, type=click.Path(path_type=Path),
              help="Folder with the videos (searched recursively; file stem = video_id).")
@click.option("--out-dir", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder: last.pt, best.pt, metrics.csv.")
@click.option("--val-labels", type=click.Path(path_type=Path),
              help="Validation labels CSV: evaluated every --eval-every iterations; picks best.pt.")
@click.option("--val-videos", type=click.Path(path_type=Path),
              help="Folder of the validation videos (default: --videos).")
@click.option("--config", "config", help="Model config file (YAML/JSON) or preset: paper (default), small_cpu.")
@click.option("--iterations", type=click.IntRange(1), default=20000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="Clips per step and process.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help="Adam learning rate [default: the config's own (paper 5e-6, small_cpu 1e-3)].")
@click.option("--lr-mult", multiple=True, metavar="GROUP=FACTOR",
              help="Scale the rate of one block (encoder_rgb, encoder_motion, encoder_inflection, aggregation, "
                   "spatial_map, temporal_head); repeatable.")
@click.option("--warmup", type=click.IntRange(0), default=0, show_default=True, help="Linear warm-up iterations.")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True)
@click.option("--grad-clip", type=click.FloatRange(0, min_open=True), help="Clip the gradient norm to this value.")
@click.option("--seed", type=int, help="Seed everything and use deterministic kernels (default: seed 0, fast kernels).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--no-amp", is_flag=True, help="No mixed precision on the GPU.")
@click.option("--eval-every", type=click.IntRange(1),
              help="Iterations between evaluations (default: a tenth of the run, at most 1000).")
@click.option("--ckpt-every", type=click.IntRange(1), help="Iterations between checkpoints (default: --eval-every).")
@click.option("--cache-dir", type=click.Path(path_type=Path),
              help="Feature (flow) cache folder (default: ~/.cache/actiondubber/features).")
@click.option("--flow-backend", type=click.Choice(["dis", "farneback", "tvl1", "raft"]), default="dis",
              show_default=True, help="Optical flow for the motion and inflection inputs.")
@click.option("--no-augment", is_flag=True, help="No random left-right mirroring of training clips.")
@click.option("--init", "init_from", type=click.Path(path_type=Path),
              help="Start from the weights of this TA2Net checkpoint (fine-tuning; its config unless --config).")
@click.option("--accumulate", type=click.IntRange(1), default=1, show_default=True,
              help="Split each batch into this many micro-batches (same clips, less memory: the paper recipe "
                   "needs ~10 GB of RAM per clip on CPU).")
@click.option("--negatives", is_flag=True,
              help="Train on rows with an empty label list too, as videos without audible actions "
                   "(default: skip them with a warning).")
@click.pass_context
def train_cmd(ctx, labels, videos, out_dir, val_labels, val_videos, config, iterations, batch_size, lr, lr_mult, warmup,
              schedule, grad_clip, seed, resume, device, no_amp, eval_every, ckpt_every, cache_dir, flow_backend,
              no_augment, init_from, accumulate, negatives):
    """Train TA²Net on labelled videos (the paper's recipe by default)."""
    require_torch("training")
    from actiondubber.model.inputs import FeatureParams
    from actiondubber.train.ddp import env_world
    from actiondubber.train.loop import TrainRecipe, train

    cfg = _load_config(config)
    size = cfg.size if cfg is not None else 112
    features = FeatureParams(size=size, backend=flow_backend) if flow_backend != "dis" else None
    recipe = TrainRecipe(labels, videos, val_csv=val_labels, val_videos=val_videos, negatives=negatives,
                         features=features, iterations=iterations, batch_size=batch_size, accumulate=accumulate,
                         lr=lr if lr is not None else (cfg.lr if cfg is not None else 5e-6),
                         lr_mult=_lr_mult(lr_mult), warmup=warmup, schedule=schedule, grad_clip=grad_clip,
                         amp=False if no_amp else None, augment=not no_augment,
                         seed=seed if seed is not None else 0, deterministic=seed is not None,
                         eval_every=eval_every, ckpt_every=ckpt_every)
    rank = env_world()[0]
    t0 = time.perf_counter()
    res = train(recipe, out_dir, cfg=cfg, init_from=init_from, resume=resume, device=device, cache_dir=cache_dir,
                progress=show_progress(ctx) and rank == 0)
    if rank != 0:
        return
    el = time.perf_counter() - t0
    n = res.iteration - res.start_iteration
    if n == 0:
        click.echo(f"nothing to train: the run in {out_dir} is already at iteration {res.iteration} "
                   f"(raise --iterations to continue it)")
    else:
        click.echo(f"trained iterations {res.start_iteration + 1}-{res.iteration} ({n}) in {el:.1f} s"
                   + (f", last loss {res.losses[-1]:.4f}" if res.losses else ""))
    if res.best_metric is not None:
        click.echo(f"best validation strict F1@±2: {res.best_metric:.3f} at iteration {res.best_iteration}")
    for p in (res.best_checkpoint, res.last_checkpoint, res.metrics_csv):
        if p and Path(p).exists():
            click.echo(f"wrote {p}")


COMMANDS = [train_cmd]
