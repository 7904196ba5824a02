"""The TA²Net training loop: the paper's recipe, checkpoints that resume exactly, DDP under torchrun.

:class:`TrainRecipe` says what to train on and how; :func:`train` runs it into
a run folder. Recipe defaults (Sec. 5 of the paper): clips of ``clip_len`` = 64 frames at 112 x 112
sampled around annotated frames (:mod:`actiondubber.train.dataset`), Adam with
learning rate 5e-6, batch 4, 20k iterations, the loss of Eq. 14
(:func:`actiondubber.model.losses.total_loss`, padded frames left out of the
frame losses). The paper gives no schedule, so the rate is constant unless a
linear ``warmup`` or ``schedule="cosine"`` is asked for; ``lr_mult`` scales the
rate per block of :meth:`TA2Net.parameter_groups` (e.g. ``{"encoder_rgb": 0.1}``).
On a GPU, mixed precision (float16 autocast + gradient scaling) is on by default.

Every ``eval_every`` iterations the model runs on the validation videos as at
inference (:func:`actiondubber.model.infer.predict_rows`, windows of
``clip_len``, the same peak picker) and is scored with
:mod:`actiondubber.evaluate.metrics`; ``best.pt`` keeps the model with the best
strict one-to-one F1 within ±2 frames (pooled over videos). Without
validation videos ``best.pt`` is the final model. ``metrics.csv`` gets one row
per evaluation (and TensorBoard scalars, when ``tensorboard`` is installed).

``last.pt`` (written atomically every ``ckpt_every`` iterations and at the
end) holds the model, optimizer, scheduler, gradient scaler, the sampler's
position, the iteration, and the random states of python, numpy and torch (of
every process), so ``resume=True`` continues exactly where the run stopped:
the next iteration draws the same clips and computes the same loss as the
uninterrupted run would have (bit for bit on the CPU).

Distributed: started by ``torchrun``, each process takes its share of every
global batch (``batch_size`` clips per process), gradients are averaged by
:class:`~torch.nn.parallel.DistributedDataParallel`, and rank 0 evaluates and
writes the files.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from actiondubber.errors import InputError, OutputError, ParameterError
from actiondubber.fileio import ensure_output_dir, write_csv_rows
from actiondubber.model.checkpoint import (
    checkpoint_config,
    checkpoint_features,
    checkpoint_payload,
    checkpoint_threshold,
    load_weights,
    read_checkpoint,
    save_checkpoint,
)
from actiondubber.model.config import LAYOUT_SETTINGS, TA2NetConfig
from actiondubber.model.infer import events_from_probs, predict_rows
from actiondubber.model.inputs import FRAME_OFFSET, FeatureParams, default_cache_dir
from actiondubber.torchutil import choose_device
from actiondubber.train import ddp
from actiondubber.train.dataset import ClipSampler, LabelledSet, collate, load_set

log = logging.getLogger(__name__)

LAST = "last.pt"
BEST = "best.pt"
METRICS = "metrics.csv"
#: The validation figure that picks ``best.pt``.
BEST_METRIC = "val_strict_f1_2f"
#: Probability thresholds of the peak picker tried at each validation; the best one is stored in the
#: checkpoint and used by default at inference (an under-trained model rarely reaches 0.5).
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
#: Learning-rate schedules: constant (the paper) or cosine to 0 at the last iteration (after any warm-up).
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainRecipe:
    """What to train on and how; every default is the paper's recipe (Sec. 5).

    Data: *train_csv* (Audible623-format labels) with the videos in *videos_dir*; *val_csv* (videos in
    *val_videos*, default *videos_dir*) enables validation, best-model selection and the choice of the
    peak picker's probability threshold (stored in the checkpoint, used by inference). *negatives*
    trains on rows with an empty label list too, as videos without audible actions (otherwise they are
    skipped with a warning). *features* sets the flow backend etc. of the inputs (its size follows
    the model config's).

    Optimisation: Adam with rate *lr* (scaled per block of :meth:`TA2Net.parameter_groups` by
    *lr_mult*, e.g. ``{"encoder_rgb": 0.1}``) and *weight_decay*; *warmup* linear warm-up iterations;
    *schedule* one of :data:`SCHEDULES`; *grad_clip* clips the gradient norm. *batch_size* clips per
    step and process; *accumulate* splits each batch into that many micro-batches whose gradients add
    up before the step: the same clips and loss weighting in a fraction of the memory (BatchNorm then
    normalises over a micro-batch); the paper recipe (batch 4 of 64 frames, five ResNet50 passes per
    frame) needs about 10 GB of RAM per clip on CPU, so ``accumulate=4`` fits 16 GB. *amp*: mixed
    precision on a GPU (None: on when there is one). *augment*: random left-right mirroring.

    Cadence: *eval_every* defaults to a tenth of the run (at most 1000), *ckpt_every* to *eval_every*.
    *seed* seeds everything; *deterministic* also asks torch for deterministic kernels.

    Raises
    ------
    ParameterError
        For a value out of range (``iterations`` < 1, ``lr`` <= 0, an unknown ``schedule`` ...).

    Examples
    --------
    >>> TrainRecipe("labels.csv", "videos", iterations=200, lr=1e-4).batch_size
    4
    """

    train_csv: str | os.PathLike
    videos_dir: str | os.PathLike
    val_csv: str | os.PathLike | None = None
    val_videos: str | os.PathLike | None = None
    negatives: bool = False
    features: FeatureParams | None = None
    iterations: int = 20000
    batch_size: int = 4
    accumulate: int = 1
    lr: float = 5e-6
    lr_mult: Mapping[str, float] | None = None
    weight_decay: float = 0.0
    warmup: int = 0
    schedule: str = "constant"
    grad_clip: float | None = None
    amp: bool | None = None
    augment: bool = True
    seed: int = 0
    deterministic: bool = False
    eval_every: int | None = None
    ckpt_every: int | None = None

    def __post_init__(self) -> None:
        def count(name: str, low: int, optional: bool = False) -> None:
            v = getattr(self, name)
            if optional and v is None:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ParameterError(f"{name.replace('_', ' ')} must be at least {low}, got {v!r}")

        count("iterations", 1)
        count("batch_size", 1)
        count("accumulate", 1)
        count("warmup", 0)
        count("eval_every", 1, optional=True)
        count("ckpt_every", 1, optional=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        if not _number(self.lr) or not (self.lr > 0 and math.isfinite(self.lr)):
            raise ParameterError(f"learning rate must be positive, got {self.lr!r}")
        if not _number(self.weight_decay) or not self.weight_decay >= 0:
            raise ParameterError(f"weight decay must not be negative, got {self.weight_decay!r}")
        if self.grad_clip is not None and (not _number(self.grad_clip) or not self.grad_clip > 0):
            raise ParameterError(f"gradient clip must be positive, got {self.grad_clip!r}")
        if self.schedule not in SCHEDULES:
            raise ParameterError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.lr_mult is not None:
            if not isinstance(self.lr_mult, Mapping):
                raise ParameterError(f"lr multipliers must map group names to factors, got {self.lr_mult!r}")
            bad = [k for k, v in self.lr_mult.items() if not _number(v) or not v >= 0]
            if bad:
                raise ParameterError(f"lr multiplier of {', '.join(map(str, bad))} must be a number >= 0")
            object.__setattr__(self, "lr_mult", dict(self.lr_mult))
        if self.features is not None and not isinstance(self.features, FeatureParams):
            raise ParameterError(f"features must be FeatureParams, got {type(self.features).__name__}")


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass
class TrainResult:
    """What a :func:`train` call did: iterations run, their losses, the files written, the best score."""

    out_dir: str
    start_iteration: int
    iteration: int
    losses: list[float] = field(default_factory=list)
    best_metric: float | None = None
    best_iteration: int | None = None
    last_checkpoint: str | None = None
    best_checkpoint: str | None = None
    metrics_csv: str | None = None
    rows: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------- random states


class _DeferredStop:
    """While installed (main thread only), SIGINT and SIGTERM ask the training loop to stop after the
    current iteration, so the checkpoint it then writes resumes exactly; a second signal stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stopping after this iteration and saving a checkpoint (send again to stop at once)")

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


#: Peak RAM of one training step on CPU per clip in a micro-batch, paper config (ResNet50 to layer3, five
#: encoder passes per frame, 64 frames at 112 px): measured 9.5-9.9 GB with ``actiondubber train``.
PAPER_GB_PER_CLIP = 9.9


def estimated_step_gb(cfg: TA2NetConfig, clips: int) -> float | None:
    """Rough peak RAM (GB) of a CPU training step over *clips* clips, scaled from the paper config by
    clip length, encoder passes and image area; None for backbones it was not measured for."""
    depth = {"resnet50": 1.0, "resnet34": 0.45, "resnet18": 0.3}.get(cfg.backbone)
    if depth is None:
        return None
    cut = {"layer1": 0.35, "layer2": 0.65, "layer3": 1.0, "layer4": 1.1}[cfg.cut]
    passes = (1 + 2 * cfg.n_kinematics) / 5
    return PAPER_GB_PER_CLIP * depth * cut * passes * (cfg.clip_len / 64) * (cfg.size / 112) ** 2 * clips


def _available_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def fit_in_memory(cfg: TA2NetConfig, batch_size: int, n_micro: int, *, warn: bool = True) -> int:
    """The number of micro-batches to use on CPU so that a training step fits in the available RAM.

    *n_micro* when it fits (or the need is unknown); otherwise more micro-batches (the same clips and
    loss, gradients added before the step), with a warning. Raises :class:`InputError` before any work
    when even one clip at a time will not fit, instead of letting the out-of-memory killer end the run.
    """
    clips = math.ceil(batch_size / n_micro)
    need, have = estimated_step_gb(cfg, clips), _available_gb()
    if need is None or have is None or need < 0.9 * have:
        return n_micro
    per_clip = need / clips
    fits = int(0.9 * have // per_clip)
    if fits < 1:
        raise InputError(f"a training step needs about {per_clip:.0f} GB of RAM per clip on CPU and {have:.0f} GB "
                         "are available: use a smaller config (e.g. --config small_cpu) or a GPU")
    n = math.ceil(batch_size / fits)
    if warn:
        log.warning("a training step of %d clip(s) at once needs about %.0f GB of RAM on CPU, %.0f GB are "
                    "available: accumulating %d micro-batches instead (the same clips and loss)", clips, need, have, n)
    return n


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; *deterministic* also asks torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


# --------------------------------------------------------------------------- pieces


def make_optimizer(model, lr: float, lr_mult: dict[str, float] | None, weight_decay: float) -> torch.optim.Adam:
    """Adam with one parameter group per model block (rates scaled by *lr_mult*)."""
    groups_src = model.parameter_groups() if hasattr(model, "parameter_groups") else {"all": list(model.parameters())}
    mult = dict(lr_mult or {})
    unknown = set(mult) - set(groups_src)
    if unknown:
        raise InputError(f"unknown parameter group(s) in lr multipliers: {', '.join(sorted(unknown))}; "
                         f"this model has {', '.join(groups_src)}")
    groups = [{"params": ps, "lr": lr * mult.get(name, 1.0), "name": name} for name, ps in groups_src.items() if ps]
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)


def make_scheduler(opt, *, iterations: int, warmup: int, schedule: str):
    """LambdaLR: linear warm-up over *warmup* iterations, then constant (paper) or cosine to 0 at *iterations*."""
    if schedule not in SCHEDULES:
        raise ParameterError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")

    def factor(step: int) -> float:
        f = 1.0
        if warmup > 0 and step < warmup:
            f = (step + 1) / warmup
        if schedule == "cosine":
            f *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / max(1, iterations))))
        return f

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _write_metrics(path: Path, rows: list[dict]) -> None:
    write_csv_rows(path, rows, fmt=lambda v: f"{v:.6g}" if isinstance(v, float) else v)


def _read_metrics(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [r for r in rows if str(r.get("iteration", "")).isdigit() and int(r["iteration"]) <= upto]


# --------------------------------------------------------------------------- validation


@torch.no_grad()
def validate(
    model,
    val: LabelledSet,
    *,
    window: int,
    thresholds: tuple[float, ...] = THRESHOLDS,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Run *model* on every validation video as at inference and return the figures (see module docs).

    The peak picker's probability threshold is chosen among *thresholds* as
    the one with the best pooled strict F1@±2 (``val_threshold``); the
    figures are those at that threshold.
    """
    from actiondubber.evaluate import VideoLabels, score

    m = _unwrap(model)
    was_training = m.training
    m.eval()
    curves = []
    try:
        for item in val.items:
            probs_r, _ = predict_rows(m, item.features, window=window, step=window)
            info = item.features.info
            n = info.n_frames
            probs = np.zeros(n, np.float32)
            k = min(probs_r.size, max(0, n - 2))
            probs[FRAME_OFFSET : FRAME_OFFSET + k] = probs_r[:k]
            curves.append((item, info, probs, [f for f in item.video.frames if f < n]))
            if progress is not None:
                progress(1)
    finally:
        m.train(was_training)
    best = None
    labels = {item.video.video_id: VideoLabels(item.video.video_id, tuple(ref), "", item.video.dont_care)
              for item, _, _, ref in curves}  # don't-care frames count neither way
    for th in thresholds:  # the one in-memory scorer, as `actiondubber evaluate` and the benchmarks use it
        found = {item.video.video_id: events_from_probs(info, probs, None, threshold=th)
                 for item, info, probs, _ in curves}
        rep = score(found, labels)
        agg, rows = rep.aggregate, rep.rows
        s2 = agg.strict_pooled.get("2f")
        f1 = float(s2.f1) if s2 else 0.0
        if best is None or f1 > best[0]:
            best = (f1, th, agg, s2, len(rows))
    assert best is not None
    _, th, agg, s2, n_rows = best
    return {
        "val_threshold": th,
        "val_strict_f1_2f": float(s2.f1) if s2 else 0.0,
        "val_strict_p_2f": float(s2.precision) if s2 else 0.0,
        "val_strict_r_2f": float(s2.recall) if s2 else 0.0,
        "val_strict_f1_2f_mean": float(agg.strict_mean.get("2f", (0, 0, 0))[2]),
        "val_paper_f1": float(agg.paper.f1),
        "val_paper_precision": float(agg.paper.precision),
        "val_paper_recall": float(agg.paper.recall),
        "val_nme": float(agg.nme),
        "val_videos": n_rows,
    }


# --------------------------------------------------------------------------- training


def _check_out_dir(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: output path exists and is not a folder")
    if resume:
        if not (out / LAST).is_file():
            raise InputError(f"{out / LAST}: no checkpoint to resume from")
        return
    if (out / LAST).exists():
        raise OutputError(f"{out}: folder already holds a training run ({LAST}); use --resume or another --out")
    ensure_output_dir(out, "output folder")


def train(
    recipe: TrainRecipe,
    out_dir: str | os.PathLike,
    *,
    cfg: TA2NetConfig | None = None,
    init_from: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | torch.device | None = "auto",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Train TA²Net by *recipe*; write checkpoints and metrics into *out_dir*.

    Parameters
    ----------
    recipe
        The data and the training settings (:class:`TrainRecipe`).
    out_dir
        The run folder: ``last.pt``, ``best.pt``, ``metrics.csv``.
    cfg
        The model; None means the paper config (or, with *resume* / *init_from*, the checkpoint's).
    init_from
        Start from the weights of another TA²Net checkpoint (fine-tuning, e.g. a model trained on
        Audible623 on your own footage); the optimiser, schedule and iteration count start afresh.
    resume
        Continue the run in *out_dir* exactly where it stopped (from ``last.pt``).
    device
        ``auto`` (a CUDA GPU if there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    cache_dir
        Where features are cached (default :func:`actiondubber.model.inputs.default_cache_dir`).
    progress
        Show a tqdm bar.
    stop_after
        End this call after that many iterations without the end-of-run work (as if the process had
        been killed after a checkpoint).

    Returns
    -------
    TrainResult
        Iterations run, their losses, the files written and the best validation score.

    Raises
    ------
    InputError
        Unusable labels, videos or checkpoints, or a training run that diverged.
    OutputError
        *out_dir* already holds a run (without *resume*) or cannot be written.
    """
    from actiondubber.model.losses import total_loss
    from actiondubber.model.ta2net import TA2Net

    if not isinstance(recipe, TrainRecipe):
        raise ParameterError(f"recipe must be a TrainRecipe, got {type(recipe).__name__}")
    r = recipe
    out = Path(out_dir)
    iterations, batch_size = r.iterations, r.batch_size
    n_micro = min(r.accumulate, batch_size)
    features = r.features
    dev = choose_device(device, purpose="training")
    dd = ddp.setup(dev)
    dev = dd.device
    saved_flags = (torch.are_deterministic_algorithms_enabled(),
                   torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
    try:
        if dd.main:
            _check_out_dir(out, resume)
        ddp.barrier(dd)
        ckpt = read_checkpoint(out / LAST) if resume else None
        if ckpt is not None:
            ck_cfg = checkpoint_config(ckpt, out / LAST, keep_pretrained=True)
            if cfg is not None and cfg.to_dict() != ck_cfg.to_dict():
                diff = sorted(k for k, v in cfg.to_dict().items() if ck_cfg.to_dict().get(k) != v)
                if not set(diff) <= set(LAYOUT_SETTINGS):
                    raise InputError(f"{out / LAST}: the given config differs from the checkpoint's "
                                     f"({', '.join(diff)}); resume without --config, or train into another folder")
                given = ", ".join(f"{k}={getattr(cfg, k)}" for k in diff)
                log.info("%s: resuming with the given %s", out / LAST, given)
                ck_cfg = ck_cfg.replace(**{k: getattr(cfg, k) for k in diff})
            cfg = ck_cfg
            ck_feat = checkpoint_features(ckpt, out / LAST, cfg)
            if features is not None and features != ck_feat:
                raise InputError(f"{out / LAST}: the given feature parameters differ from the checkpoint's")
            features = ck_feat
        init_ck = None
        if init_from is not None and ckpt is None:
            init_ck = read_checkpoint(init_from)
            if cfg is None:
                cfg = checkpoint_config(init_ck, init_from)
            if features is None and isinstance(init_ck.get("features"), dict):
                features = checkpoint_features(init_ck, init_from, cfg)
        elif init_from is not None:
            log.info("resuming %s: the weights come from its last checkpoint, not from %s", out / LAST, init_from)
        cfg = cfg or TA2NetConfig.paper()
        fp = features or FeatureParams(size=cfg.size)
        if fp.size != cfg.size:
            fp = FeatureParams(**{**asdict(fp), "size": cfg.size})
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        eval_every = int(r.eval_every or max(1, min(1000, iterations // 10)))
        ckpt_every = int(r.ckpt_every or eval_every)
        use_amp = (dev.type == "cuda") if r.amp is None else bool(r.amp and dev.type == "cuda")
        if r.amp and dev.type != "cuda":
            log.info("mixed precision is only used on a GPU; training in float32 on %s", dev)
        if dev.type == "cpu":
            n_micro = fit_in_memory(cfg, batch_size, n_micro, warn=dd.main)
        seed_everything(r.seed, deterministic=r.deterministic)

        # data (features computed once, shared through the cache)
        warn = dd.main
        train_set = load_set(r.train_csv, r.videos_dir, fp, cache_dir=cache, shard=(dd.rank, dd.world),
                             barrier=lambda: ddp.barrier(dd), warn=warn, negatives=r.negatives)
        val_set = None
        if r.val_csv is not None:
            val_set = load_set(r.val_csv, r.val_videos or r.videos_dir, fp, cache_dir=cache, shard=(dd.rank, dd.world),
                               barrier=lambda: ddp.barrier(dd), warn=warn)

        # model, optimiser, schedule
        model = TA2Net(cfg)
        if init_ck is not None:
            load_weights(model, init_ck, init_from, fits="the model of the given config")
            log.info("starting from the weights of %s (iteration %s)", init_from, init_ck.get("iteration"))
        model = model.to(dev)
        opt = make_optimizer(model, r.lr, r.lr_mult, r.weight_decay)
        sched = make_scheduler(opt, iterations=iterations, warmup=r.warmup, schedule=r.schedule)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and not cfg.bf16)
        sampler = ClipSampler(len(train_set), r.seed)
        start = 0
        best_metric: float | None = None
        best_it: int | None = None
        if ckpt is not None:
            try:
                model.load_state_dict(ckpt["model"])
                opt.load_state_dict(ckpt["optimizer"])
                sched.load_state_dict(ckpt["scheduler"])
                if ckpt.get("scaler") and scaler.is_enabled():
                    scaler.load_state_dict(ckpt["scaler"])
            except (RuntimeError, KeyError, ValueError, TypeError) as exc:
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(f"{out / LAST}: checkpoint does not fit this run ({why})") from None
            sampler.load_state_dict(ckpt["sampler"])
            start = int(ckpt["iteration"])
            best = ckpt.get("best") or {}
            best_metric, best_it = best.get("metric"), best.get("iteration")
            states = ckpt.get("rng") or []
            if len(states) == dd.world:
                _set_rng_state(states[dd.rank])
            elif states:
                log.warning("%s: saved by %d process(es), resumed by %d; random streams restart from rank 0's",
                            out / LAST, len(states), dd.world)
                _set_rng_state(states[0])
        else:
            torch.manual_seed(r.seed + 1000003 * dd.rank)  # per-process dropout streams; weights already initialised
        net = model
        if dd.enabled:
            from torch.nn.parallel import DistributedDataParallel

            spatial_unused = cfg.head_input == "F" and not cfg.use_cont and not cfg.use_temp
            net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                          find_unused_parameters=spatial_unused)

        metrics_path = out / METRICS
        rows = _read_metrics(metrics_path, start) if dd.main else []
        tb = _tensorboard(out) if dd.main else None
        meta = {
            "train_labels": str(r.train_csv), "videos": str(r.videos_dir),
            "val_labels": str(r.val_csv) if r.val_csv else None,
            "init_from": str(init_from) if init_ck is not None else None,
            "batch_size": batch_size, "accumulate": n_micro, "world_size": dd.world, "lr": r.lr, "seed": r.seed,
            "iterations": iterations,
            "torch": str(torch.__version__),
        }
        result = TrainResult(str(out), start, start, best_metric=best_metric, best_iteration=best_it,
                             metrics_csv=str(metrics_path), rows=rows)

        threshold = [checkpoint_threshold(ckpt) if ckpt is not None else None]  # latest validation's choice

        def payload(it: int, full: bool, rng_states: list | None) -> dict:
            training = None
            if full:
                training = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                            "sampler": sampler.state_dict(), "rng": rng_states}
            return checkpoint_payload(cfg, fp, _unwrap(net).state_dict(), iteration=it, meta=meta,
                                      best={"metric": result.best_metric, "iteration": result.best_iteration},
                                      threshold=threshold[0], training=training)

        from actiondubber.progress import progress_bar

        show = bool(progress and dd.main)
        bar_cm = progress_bar(total=iterations, initial=start, unit="it", desc="train", enabled=show)
        bar = bar_cm.__enter__() if show else None  # closed after the loop (warnings print around it meanwhile)
        L = cfg.clip_len
        acc: dict[str, float] = {}
        n_acc = 0
        t0 = time.perf_counter()
        ema = None
        net.train()
        end = iterations if stop_after is None else min(iterations, start + int(stop_after))
        stop = _DeferredStop()  # Ctrl-C / SIGTERM: finish this iteration, save last.pt, then stop
        try:
            stop.install()
            for it in range(start, end):
                draws = sampler.take(batch_size * dd.world)[dd.rank * batch_size : (dd.rank + 1) * batch_size]
                clips = [train_set.clip(i, L, rng, augment=r.augment) for i, rng in draws]
                opt.zero_grad(set_to_none=True)
                micro = [clips[j::n_micro] for j in range(n_micro)]
                loss_sum, parts = 0.0, {}
                for j, part in enumerate(micro):
                    rgb, mot, inf, targets, valid = collate(part, use_motion=cfg.use_motion,
                                                            use_inflection=cfg.use_inflection)
                    nb = dev.type == "cuda"
                    rgb = rgb.to(dev, non_blocking=nb)
                    mot = mot.to(dev, non_blocking=nb) if mot is not None else None
                    inf = inf.to(dev, non_blocking=nb) if inf is not None else None
                    sync = contextlib.nullcontext() if (not dd.enabled or j == n_micro - 1) else net.no_sync()
                    with sync:
                        with torch.autocast(dev.type, dtype=torch.float16, enabled=use_amp and not cfg.bf16):
                            out_m = net(rgb, mot, inf)
                        loss_j, parts_j = total_loss(out_m, targets.to(dev), cfg, valid=valid.to(dev))
                        if not torch.isfinite(loss_j):
                            raise InputError(f"training diverged at iteration {it + 1} (loss {float(loss_j)}); "
                                             "lower the learning rate")
                        w = len(part) / len(clips)  # each micro-batch's share of the batch's mean loss
                        scaler.scale(loss_j * w).backward()
                    loss_sum += float(loss_j.detach()) * w
                    for k, v in parts_j.items():
                        parts[k] = parts.get(k, 0.0) + v * w
                    del out_m, loss_j
                if r.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), r.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                lv = ddp.mean_scalar(dd, loss_sum, dev)
                result.losses.append(lv)
                result.iteration = it + 1
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + v
                n_acc += 1
                ema = lv if ema is None else 0.95 * ema + 0.05 * lv
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{ema:.4f}", epoch=sampler.epoch)
                done = it + 1
                final = done == iterations
                if done % eval_every == 0 or final:
                    row = {"iteration": done, "epoch": sampler.epoch, "lr": opt.param_groups[0]["lr"],
                           "seconds": round(time.perf_counter() - t0, 2)}
                    row.update({f"train_{k}": v / max(1, n_acc) for k, v in acc.items()})
                    acc, n_acc = {}, 0
                    if val_set is not None and dd.main:
                        row.update(validate(net, val_set, window=L))
                        score = row[BEST_METRIC]
                        threshold[0] = row["val_threshold"]
                        if result.best_metric is None or score > result.best_metric:
                            result.best_metric, result.best_iteration = score, done
                            result.best_checkpoint = str(save_checkpoint(out / BEST, payload(done, False, None)))
                        row["best_iteration"] = result.best_iteration
                    if dd.main:
                        rows.append(row)
                        _write_metrics(metrics_path, rows)
                        if tb is not None:
                            for k, v in row.items():
                                if isinstance(v, (int, float)) and k != "iteration":
                                    tb.add_scalar(k, v, done)
                        if bar is not None and BEST_METRIC in row:
                            bar.write(f"iteration {done}: loss {row.get('train_total', float('nan')):.4f}, "
                                      f"validation strict F1@±2 {row[BEST_METRIC]:.3f} (best {result.best_metric:.3f} "
                                      f"at {result.best_iteration})")
                    ddp.barrier(dd)
                if done % ckpt_every == 0 or final:
                    states = ddp.gather_objects(dd, _rng_state())
                    if dd.main:
                        result.last_checkpoint = str(save_checkpoint(out / LAST, payload(done, True, states)))
                    ddp.barrier(dd)
                if stop.requested and not (done % ckpt_every == 0 or final):
                    states = ddp.gather_objects(dd, _rng_state())
                    if dd.main:
                        result.last_checkpoint = str(save_checkpoint(out / LAST, payload(done, True, states)))
                    ddp.barrier(dd)
                if stop.requested and not final:
                    log.warning("stopped after iteration %d; %s holds it (continue with --resume)", done,
                                out / LAST)
                    raise KeyboardInterrupt
        finally:
            stop.uninstall()
        if bar is not None:
            bar_cm.__exit__(None, None, None)
        if result.iteration >= iterations and dd.main:
            if val_set is None:
                result.best_checkpoint = str(save_checkpoint(out / BEST, payload(result.iteration, False, None)))
                result.best_iteration = result.iteration
            elif result.best_checkpoint is None and (out / BEST).is_file():
                result.best_checkpoint = str(out / BEST)
        if tb is not None:
            tb.close()
        result.rows = rows
        return result
    finally:
        torch.use_deterministic_algorithms(saved_flags[0], warn_only=saved_flags[1])
        torch.backends.cudnn.benchmark = saved_flags[2]
        ddp.cleanup(dd)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional; any import problem just means no TensorBoard logs
        return None
    try:
        return SummaryWriter(str(out / "tensorboard"))
    except Exception as exc:  # noqa: BLE001 - a logging extra must never stop training
        log.warning("TensorBoard logging disabled (%s)", exc)
        return None
