"""Zero-shot counting: how many audible actions (or motion repetitions) a video or a segment holds.

Two modes:

``audible`` (default)
    The number of events the training-free detector finds (:func:`actiondubber.detection.detect`)
    whose time lies in ``[start, end]``: the paper's counting test, with no training on the action.
``reversals``
    Repetitions of *any* motion, sounding or not (waving, swinging, pumping): the moving pixels'
    mean velocity (camera motion removed) is projected on its main axis over the segment, and its
    sign changes are counted with hysteresis; one repetition is an out-and-back, two reversals
    (``(reversals + 1) // 2``: a clip may start or end mid-stroke).

Counting figures over a labelled set (MAE and off-by-one accuracy, the paper's Eq. 17-18):
:func:`actiondubber.evaluate.counting.evaluate_counts`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from actiondubber.detection.detector import MIN_FRAMES, DetectorParams, detect
from actiondubber.errors import InputError, ParameterError
from actiondubber.kinematics.flow import make_flow_backend
from actiondubber.kinematics.globalmotion import compensate
from actiondubber.types import Events
from actiondubber.video.reader import iter_frames, probe

MODES = ("audible", "reversals")
#: A pixel moves when its (camera-compensated) flow exceeds this, px/frame at a 128-px short side.
MOVING = 0.5
#: Hysteresis of the reversal counter, as a fraction of the 95th percentile of |velocity|.
HYSTERESIS = 0.25


@dataclass(frozen=True)
class CountResult:
    """A count over ``[start, end]`` seconds with the frames it counted.

    ``frames`` / ``times``: the counted events (``audible``) or the reversal frames (``reversals``);
    ``count``: the events, or the repetitions ((reversals + 1) // 2; ``reversals`` holds the raw number).
    """

    video: str
    mode: str
    start: float
    end: float
    count: int
    frames: tuple[int, ...]
    times: tuple[float, ...]
    reversals: int | None = None
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"video": self.video, "mode": self.mode, "start": self.start, "end": self.end, "count": self.count,
                "reversals": self.reversals, "frames": list(self.frames), "times": [round(t, 6) for t in self.times],
                "params": self.params}


def _window(start: float | None, end: float | None, duration: float) -> tuple[float, float]:
    s = 0.0 if start is None else float(start)
    e = duration if end is None else float(end)
    if s < 0 or (end is not None and e <= s) or not math.isfinite(s) or not math.isfinite(e):
        raise ParameterError(f"bad segment: start {start}, end {end} (need 0 <= start < end)")
    if s >= duration:
        raise ParameterError(f"start {s:g} s is at or past the end of the video ({duration:g} s)")
    return s, min(e, duration)


def motion_velocity(
    video: str | os.PathLike, *, short_side: int = 128, start: float = 0.0, end: float = math.inf,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame indices, times, mean velocity of the moving pixels, n x 2) for the frames in [start, end).

    Velocity ``i`` is the flow from frame i to i+1 (DIS, affine camera motion removed), averaged over
    the pixels that move; (0, 0) when nothing moves.
    """
    be = make_flow_backend("dis", preset="fast")
    thr = MOVING * short_side / 128.0
    idx: list[int] = []
    ts: list[float] = []
    vel: list[tuple[float, float]] = []
    prev = None
    for fr in iter_frames(video, short_side=short_side):
        if progress is not None:
            progress(1)
        if fr.time < start - 1e-9:
            continue
        if fr.time > end + 1e-9:
            break
        if prev is not None:
            f = compensate(be.calc(prev.image, fr.image), "affine")
            mag = np.hypot(f[..., 0], f[..., 1])
            mv = mag > thr
            v = f[mv].mean(axis=0) if mv.sum() >= 4 else np.zeros(2)
            idx.append(prev.index)
            ts.append(prev.time)
            vel.append((float(v[0]), float(v[1])))
        prev = fr
    return np.asarray(idx, np.int64), np.asarray(ts), np.asarray(vel, np.float64).reshape(-1, 2)


def count_reversals(vel: np.ndarray, *, smooth: float = 1.0, hysteresis: float = HYSTERESIS) -> list[int]:
    """Positions in *vel* (n x 2) where the motion along its main axis changes direction.

    The axis is the top principal direction of the velocity vectors (so a diagonal swing counts as
    well as a vertical one); the projected signal is smoothed (Gaussian, *smooth* frames) and a
    reversal is counted when it crosses from above ``+h`` to below ``−h`` or back,
    ``h`` = *hysteresis* × its 95th percentile of ``|u|``.
    """
    v = np.asarray(vel, np.float64).reshape(-1, 2)
    if v.shape[0] < 3 or not np.any(v):
        return []
    _, _, vt = np.linalg.svd(v - 0.0, full_matrices=False)
    u = v @ vt[0]
    if smooth > 0:
        u = gaussian_filter1d(u, smooth, mode="nearest")
    h = hysteresis * float(np.percentile(np.abs(u), 95))
    if h <= 0:
        return []
    out: list[int] = []
    state = 0
    for i, x in enumerate(u):
        s = 1 if x > h else (-1 if x < -h else 0)
        if s and state and s != state:
            out.append(i)
        if s:
            state = s
    return out


def count_actions(
    video: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    mode: str = "audible",
    progress: Callable[[int], None] | None = None,
    **detector_kwargs,
) -> CountResult:
    """Count the audible actions (or, with ``mode="reversals"``, motion repetitions) in *video*.

    Parameters
    ----------
    video
        Any video the reader opens.
    start, end
        Segment in seconds (default: the whole video); events at exactly *start* or *end* count.
    mode
        ``"audible"`` or ``"reversals"`` (see the module docstring).
    progress
        Called with the number of frames done, for a progress bar.
    **detector_kwargs
        :class:`~actiondubber.detection.DetectorParams` fields for ``audible`` (e.g. ``sensitivity``);
        ``short_side`` also sets the analysis size of ``reversals``.

    Returns
    -------
    CountResult
    """
    if mode not in MODES:
        raise ParameterError(f"unknown count mode {mode!r}; choose from {', '.join(MODES)}")
    info = probe(video)
    if info.n_frames < MIN_FRAMES:
        raise InputError(f"{video}: video has {info.n_frames} frame(s); at least {MIN_FRAMES} are needed")
    s, e = _window(start, end, max(info.duration, info.time_of(info.n_frames - 1)))
    if mode == "audible":
        ev: Events = detect(video, progress=progress, **detector_kwargs)
        kept = [x for x in ev.events if s - 1e-6 <= x.time <= e + 1e-6]
        return CountResult(str(video), mode, s, e, len(kept), tuple(x.frame for x in kept),
                           tuple(x.time for x in kept), None, {"detector": dict(ev.params)})
    unknown = set(detector_kwargs) - {"short_side"}
    if unknown:
        raise ParameterError(f"option(s) not used by reversal counting: {', '.join(sorted(unknown))}")
    short = int(detector_kwargs.get("short_side") or DetectorParams().short_side or 128)
    idx, ts, vel = motion_velocity(video, short_side=short, start=s, end=e, progress=progress)
    rev = count_reversals(vel)
    return CountResult(str(video), mode, s, e, (len(rev) + 1) // 2, tuple(int(idx[i]) for i in rev),
                       tuple(float(ts[i]) for i in rev), len(rev), {"short_side": short, "moving": MOVING,
                                                                    "hysteresis": HYSTERESIS})
