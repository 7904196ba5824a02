"""The TA²Net checkpoint format: one module writes it (training) and reads it (inference, resume, fine-tuning).

A checkpoint is a ``torch.save`` dictionary of tensors and plain data only
(read with ``weights_only=True``, so no pickled code runs):

* ``format`` (:data:`CHECKPOINT_FORMAT`), ``arch`` (:data:`ARCH`), ``kind`` (``full``: can resume a run;
  ``model``: weights only, e.g. ``best.pt``);
* ``config`` (:meth:`TA2NetConfig.to_dict`), ``features`` (the :class:`FeatureParams` of the inputs),
  ``model`` (the ``state_dict``);
* ``iteration``, ``meta`` (the run's data and recipe), ``best`` (``metric``, ``iteration``),
  ``inference`` (``threshold``: the peak-picking threshold chosen on validation videos);
* ``full`` only: ``optimizer``, ``scheduler``, ``scaler``, ``sampler``, ``rng`` (one state per process).

Anything else (a damaged file, a bare ``state_dict``, another program's checkpoint, weights that do
not fit the config) is refused with one :class:`~actiondubber.errors.InputError` line naming the file.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from actiondubber.errors import InputError, ParameterError
from actiondubber.fileio import atomic_output
from actiondubber.model.config import LAYOUT_SETTINGS, TA2NetConfig
from actiondubber.model.inputs import FeatureParams
from actiondubber.model.ta2net import TA2Net
from actiondubber.torchutil import ForeignObjectsError, check_fits, load_torch_file

#: The ``format`` entry of every checkpoint this package writes.
CHECKPOINT_FORMAT = "actiondubber.ta2net/1"
ARCH = "TA2Net"

#: Config settings that change speed only (same weights, same model): inference may override them.
SPEED_SETTINGS = (*LAYOUT_SETTINGS, "bf16")

#: The training state a ``full`` checkpoint adds to the model.
TRAINING_STATE = ("optimizer", "scheduler", "scaler", "sampler", "rng")


def checkpoint_payload(
    cfg: TA2NetConfig,
    features: FeatureParams,
    state_dict: dict,
    *,
    iteration: int,
    meta: dict,
    best: dict,
    threshold: float | None,
    training: dict | None = None,
) -> dict:
    """The dictionary to save: a ``model`` checkpoint, or a ``full`` one with *training* (the
    :data:`TRAINING_STATE` entries) for exact resume."""
    p = {"format": CHECKPOINT_FORMAT, "arch": ARCH, "kind": "full" if training is not None else "model",
         "config": cfg.to_dict(), "features": asdict(features), "model": state_dict,
         "iteration": iteration, "meta": meta, "best": best, "inference": {"threshold": threshold}}
    if training is not None:
        unknown = set(training) - set(TRAINING_STATE)
        if unknown:
            raise ParameterError(f"not training state: {', '.join(sorted(unknown))}")
        p.update(training)
    return p


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write *payload* to *path* atomically (a reader never sees half a checkpoint)."""
    p = Path(path)
    with atomic_output(p) as tmp:
        torch.save(payload, tmp)
    return p


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dictionary of *path* (tensors on the CPU).

    Raises
    ------
    InputError
        The file is missing, damaged, holds pickled objects, or is not an actiondubber TA²Net checkpoint.
    """
    p = Path(path)
    try:
        ckpt = load_torch_file(p, "checkpoint file")
    except ForeignObjectsError as exc:
        raise InputError(f"{p}: not an actiondubber TA2Net checkpoint (it holds {exc.held or 'Python objects'}, "
                         "not only weights and plain data; only checkpoints written by 'actiondubber train' "
                         "are read)") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise InputError(
            f"{p}: not an actiondubber TA2Net checkpoint (no 'format' entry; a bare state_dict or another "
            "program's checkpoint?)"
        )
    fmt = str(ckpt.get("format"))
    if fmt != CHECKPOINT_FORMAT:
        raise InputError(f"{p}: checkpoint format {fmt!r} is not supported (expected {CHECKPOINT_FORMAT!r})")
    if ckpt.get("arch") != ARCH:
        raise InputError(f"{p}: checkpoint holds a {ckpt.get('arch')!r} model, not {ARCH}")
    for key in ("config", "model"):
        if key not in ckpt:
            raise InputError(f"{p}: checkpoint has no {key!r} entry (damaged or written by another program)")
    return ckpt


def checkpoint_config(
    ckpt: dict, path: str | os.PathLike, speed: dict | None = None, *, keep_pretrained: bool = False
) -> TA2NetConfig:
    """The checkpoint's config.

    Without *keep_pretrained* the ImageNet-weights setting is dropped (the weights come from the
    checkpoint, nothing to fetch); resuming a run keeps it, so the run's config stays as it was given.
    *speed* overrides settings of :data:`SPEED_SETTINGS` (e.g. ``{"bf16": True}``); None values are ignored.
    """
    p = Path(path)
    if not isinstance(ckpt.get("config"), dict):
        raise InputError(f"{p}: checkpoint's config is not a mapping of settings")
    cfg_d = dict(ckpt["config"])
    if not keep_pretrained:
        cfg_d["pretrained"] = None
    for k, v in (speed or {}).items():
        if k not in SPEED_SETTINGS:
            raise ParameterError(f"{k!r} is not a speed-only setting ({', '.join(SPEED_SETTINGS)})")
        if v is not None:
            cfg_d[k] = v
    return TA2NetConfig.from_dict(cfg_d, source=f"{p} (config)")


def checkpoint_features(ckpt: dict, path: str | os.PathLike, cfg: TA2NetConfig) -> FeatureParams:
    """The feature parameters the checkpoint's model was trained on (default ones at ``cfg.size`` when absent)."""
    try:
        return FeatureParams.from_dict(ckpt.get("features") or {"size": cfg.size})
    except (InputError, TypeError) as exc:
        raise InputError(f"{path}: checkpoint's feature parameters are unusable ({exc})") from None


def checkpoint_threshold(ckpt: dict) -> float | None:
    """The peak-picking threshold chosen on validation videos at training time, if the checkpoint has one."""
    inference = ckpt.get("inference") if isinstance(ckpt.get("inference"), dict) else {}
    th = inference.get("threshold")
    return float(th) if isinstance(th, (int, float)) and not isinstance(th, bool) and 0.0 <= th <= 1.0 else None


def load_weights(
    model: Any, ckpt: dict, path: str | os.PathLike,
    *, fits: str = "the TA2Net architecture of the checkpoint's config (another architecture or version?)",
) -> None:
    """Load the checkpoint's weights into *model*.

    Raises
    ------
    InputError
        ``"{path}: the weights do not fit {fits}: ..."`` naming the keys that do not fit.
    """
    p = Path(path)
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise InputError(f"{p}: checkpoint's weights are not a state_dict")
    check_fits(model, state, source=str(p), fits=fits)
    model.load_state_dict(state)


def build_from_checkpoint(
    ckpt: dict, path: str | os.PathLike, speed: dict | None = None
) -> tuple[TA2Net, TA2NetConfig]:
    """A :class:`TA2Net` with the checkpoint's config (*speed*: see :func:`checkpoint_config`) and weights."""
    cfg = checkpoint_config(ckpt, path, speed)
    model = TA2Net(cfg)
    load_weights(model, ckpt, path)
    return model, cfg
