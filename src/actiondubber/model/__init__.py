"""TA²Net, the audible-action localisation model of the paper: config, inputs, network, losses, checkpoints,
inference (needs the ``torch`` extra).

Modules: :mod:`.config` (:class:`TA2NetConfig`), :mod:`.inputs` (per-frame RGB / motion / inflection
inputs and their cache), :mod:`.backbone` and :mod:`.ta2net` (the network), :mod:`.losses`,
:mod:`.checkpoint` (the checkpoint format), :mod:`.infer` (a checkpoint on a video → events) and
:mod:`.heatmap` (the spatial maps drawn over the video). This package never imports
:mod:`actiondubber.train`.

Configs (:class:`TA2NetConfig`, :data:`FLOW_SCALE`) and inputs import without torch; the torch parts
(:class:`TA2Net`, :class:`ModelOutput`, :func:`total_loss`) are imported on first use and raise
:class:`~actiondubber.errors.BackendUnavailableError` when torch is not installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from actiondubber.model.config import ABLATIONS, FLOW_SCALE, IMAGENET_MEAN, IMAGENET_STD, TA2NetConfig, ablation

if TYPE_CHECKING:
    from actiondubber.model.losses import total_loss
    from actiondubber.model.ta2net import ModelOutput, TA2Net

__all__ = [
    "ABLATIONS",
    "FLOW_SCALE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelOutput",
    "TA2Net",
    "TA2NetConfig",
    "ablation",
    "total_loss",
]

_LAZY = {"TA2Net": "ta2net", "ModelOutput": "ta2net", "total_loss": "losses"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from actiondubber.torchutil import require_torch

    require_torch("the TA2Net model")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
