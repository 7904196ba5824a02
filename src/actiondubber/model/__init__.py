"""TA²Net, the audible-action localisation model of the paper, and its losses (needs the ``torch`` extra).

Configs (:class:`TA2NetConfig`, :data:`FLOW_SCALE`) import without torch; the torch parts
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
    try:
        mod = importlib.import_module(f"{__name__}.{_LAZY[name]}")
    except ImportError as exc:
        if getattr(exc, "name", "") in ("torch", "torchvision"):
            from actiondubber.errors import BackendUnavailableError

            raise BackendUnavailableError(
                f"the TA2Net model needs torch and torchvision: pip install 'actiondubber[torch]' ({exc})"
            ) from None
        raise
    return getattr(mod, name)
