"""Dense optical-flow backends behind one small interface.

A backend is any object with ``name`` and ``calc(prev, next) -> flow`` where
``prev``/``next`` are 8-bit grayscale images of equal size and ``flow`` is a
float32 array ``(H, W, 2)`` of per-pixel displacements (dx, dy) in pixels
that take a point of ``prev`` to its position in ``next``. Forward flow of
frame i is ``calc(I_i, I_{i+1})``; backward flow is ``calc(I_{i+1}, I_i)``.

Backends: ``dis`` (OpenCV DIS, the default: fast and accurate enough at the
analysis size), ``farneback``, ``tvl1`` (needs OpenCV's contrib build) and
``raft`` (torchvision; see :mod:`actiondubber.kinematics.raft`).

:class:`FlowParams` holds the flow settings that the training-free detector and
TA²Net's inputs share, and builds the pair of backends both run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from actiondubber.errors import BackendUnavailableError, ParameterError
from actiondubber.kinematics.globalmotion import MODELS as COMPENSATE_MODELS

cv2.setNumThreads(max(1, cv2.getNumberOfCPUs()))


class FlowBackend(Protocol):
    name: str

    def calc(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray: ...


class DISFlow:
    """OpenCV Dense Inverse Search flow (Kroeger et al. 2016).

    ``preset`` is ``ultrafast``, ``fast`` or ``medium``. OpenCV's presets stop
    refining at 1/4 resolution (``finest_scale=2``), which blurs small fast
    objects (a drumstick at 128 px); ``finest_scale=1`` measured 4.7 px for a
    true 5 px shift where the preset gave 3.2 px, and lifted strict F1@±2 on
    the real clips from 0.63 to 0.70 (``benchmarks/bench_accuracy.py``), at
    about 2.5x the flow time. ``fast`` + scale 1 is the default.
    """

    name = "dis"
    _PRESETS = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }

    def __init__(self, preset: str = "fast", finest_scale: int | None = 1) -> None:
        if preset not in self._PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose from {sorted(self._PRESETS)}")
        self._dis = cv2.DISOpticalFlow_create(self._PRESETS[preset])
        self._dis.setUseSpatialPropagation(True)
        if finest_scale is not None:
            self._dis.setFinestScale(int(finest_scale))

    def calc(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return self._dis.calc(np.ascontiguousarray(prev), np.ascontiguousarray(nxt), None)


class FarnebackFlow:
    """OpenCV Farnebäck polynomial-expansion flow."""

    name = "farneback"

    def calc(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)


class TVL1Flow:
    """Dual TV-L1 flow (Zach et al. 2007) from OpenCV's contrib ``optflow`` module."""

    name = "tvl1"

    def __init__(self) -> None:
        optflow = getattr(cv2, "optflow", None)
        if optflow is None or not hasattr(optflow, "DualTVL1OpticalFlow_create"):
            raise BackendUnavailableError(
                "TV-L1 flow needs OpenCV's contrib modules (pip install opencv-contrib-python-headless)"
            )
        self._tvl1 = optflow.DualTVL1OpticalFlow_create()

    def calc(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return self._tvl1.calc(np.ascontiguousarray(prev), np.ascontiguousarray(nxt), None)


BACKENDS = ("dis", "farneback", "tvl1", "raft")
DIS_PRESETS = tuple(DISFlow._PRESETS)


def make_flow_backend(name: str = "dis", **kwargs) -> FlowBackend:
    """Create a flow backend by name (``dis``, ``farneback``, ``tvl1``, ``raft``)."""
    key = name.lower()
    if key == "dis":
        return DISFlow(**kwargs)
    if key == "farneback":
        return FarnebackFlow()
    if key in ("tvl1", "tv-l1"):
        return TVL1Flow()
    if key == "raft":
        from actiondubber.kinematics.raft import RAFTFlow

        return RAFTFlow(**kwargs)
    raise BackendUnavailableError(f"unknown flow backend {name!r}; choose from {', '.join(BACKENDS)}")


#: Backends whose instances are cheap and thread-safe apart: backward flow runs on a second instance.
CPU_BACKENDS = ("dis", "farneback", "tvl1")


@dataclass(frozen=True)
class FlowParams:
    """Optical-flow settings shared by the training-free detector and TA²Net's inputs.

    ``backend``: one of :data:`BACKENDS`; ``preset``: DIS preset (``ultrafast``, ``fast``,
    ``medium``; other backends ignore it); ``compensate``: camera-motion model removed from every
    flow (:data:`actiondubber.kinematics.globalmotion.MODELS`).

    Raises
    ------
    ParameterError
        For a value outside those lists.
    """

    backend: str = "dis"
    preset: str = "fast"
    compensate: str = "affine"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ParameterError(f"unknown flow backend {self.backend!r}; choose from {', '.join(BACKENDS)}")
        if self.preset not in DIS_PRESETS:
            raise ParameterError(f"unknown DIS preset {self.preset!r}; choose from {', '.join(DIS_PRESETS)}")
        if self.compensate not in COMPENSATE_MODELS:
            raise ParameterError(f"unknown camera-motion model {self.compensate!r}; "
                                 f"choose from {', '.join(COMPENSATE_MODELS)}")

    def backends(self, options: Mapping[str, Any] | None = None) -> tuple[FlowBackend, FlowBackend | None]:
        """``(forward, backward)`` backends; *backward* is a second instance for the CPU backends (forward and
        backward flow then run in parallel) and None otherwise (reuse *forward*). *options* go to
        :func:`make_flow_backend` (e.g. RAFT's ``weights`` / ``device``); DIS gets ``preset`` by default."""
        kw = dict(options or {})
        if self.backend == "dis":
            kw.setdefault("preset", self.preset)
        forward = make_flow_backend(self.backend, **kw)
        backward = make_flow_backend(self.backend, **kw) if self.backend in CPU_BACKENDS else None
        return forward, backward
