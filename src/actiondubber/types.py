"""The plain data types that cross package boundaries.

``VideoInfo`` describes a video file; ``Event`` is one audible action;
``Events`` bundles a video's events with its per-frame score curve and the
parameters that made them. Every producer (training-free detector, TA²Net)
and every consumer (evaluate, dub, export) speaks these types, and their one
JSON form is written and read by :mod:`actiondubber.events`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from actiondubber.errors import ParameterError

#: Frame rate assumed when a container states none (and its timestamps give none): PAL's 25 fps.
FALLBACK_FPS = 25.0
#: How a time is turned into a frame index by :meth:`VideoInfo.frame_at`.
FRAME_ROUNDING = ("nearest", "floor")
#: Slack (s) when comparing times with frame times: the events JSON keeps 1 µs.
_TIME_EPS = 1e-6


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file, read from its container.

    ``timestamps`` holds each frame's presentation time in seconds, in decode
    order (index 0 = first decoded frame), measured from the stream start, so
    variable-frame-rate video gets correct times. ``fps`` is the stream's
    average rate (frames / duration) for display and frame-rate based exports.
    """

    path: str
    width: int
    height: int
    fps: float
    n_frames: int
    duration: float
    has_audio: bool
    timestamps: tuple[float, ...] = field(default=(), repr=False)
    codec: str = ""
    pix_fmt: str = ""
    rotation: int = 0

    def time_of(self, frame: int) -> float:
        """Time in seconds of 0-based *frame* (container timestamp when known)."""
        if 0 <= frame < len(self.timestamps):
            return float(self.timestamps[frame])
        return float(frame) / self.fps if self.fps > 0 else 0.0

    @property
    def frame_rate(self) -> float:
        """``fps`` when the container gives one, else :data:`FALLBACK_FPS`."""
        return float(self.fps) if self.fps > 0 else FALLBACK_FPS

    def frame_at(self, time: float, rounding: str = "floor") -> int:
        """Index of the frame for *time* seconds, clamped to the video.

        ``floor`` (default): the frame shown at *time* (the last frame starting at or before it).
        ``nearest``: the frame whose start time is nearest to *time* (a tie goes to the earlier frame).
        Both use the container timestamps when known, else a grid of ``1 / frame_rate``.
        """
        if rounding not in FRAME_ROUNDING:
            raise ParameterError(f"frame rounding must be one of {', '.join(FRAME_ROUNDING)}, not {rounding!r}")
        ts = np.asarray(self.timestamps, dtype=np.float64)
        if ts.size == 0 and self.n_frames > 0:
            ts = np.arange(self.n_frames, dtype=np.float64) / self.frame_rate
        if ts.size == 0:  # nothing known but the rate
            k = time * self.frame_rate
            return int(max(0, math.floor(k + _TIME_EPS) if rounding == "floor" else math.ceil(k - 0.5 - _TIME_EPS)))
        if rounding == "floor":
            idx = int(np.searchsorted(ts, time + _TIME_EPS, side="right")) - 1
        else:
            idx = int(np.searchsorted(ts, time, side="left"))
            if idx >= ts.size or (idx > 0 and time - ts[idx - 1] <= ts[idx] - time + _TIME_EPS):
                idx -= 1
        return int(min(max(idx, 0), ts.size - 1))


@dataclass(frozen=True)
class Event:
    """One audible action: 0-based frame, time (s), score, and image location.

    ``x``/``y`` are in original-video pixels (``None`` when unknown).
    """

    frame: int
    time: float
    score: float
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True, eq=False)
class Events:
    """A video's detected events plus the per-frame score curve.

    ``scores[i]`` is the detector's score of frame ``i`` (inflection strength
    for the training-free detector, audible probability for TA²Net);
    ``params`` records how they were made (detector name, flow backend,
    analysis size, thresholds ...), so a result can be reproduced.
    """

    video: VideoInfo
    events: tuple[Event, ...]
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    params: dict = field(default_factory=dict)

    @property
    def frames(self) -> list[int]:
        return [e.frame for e in self.events]

    @property
    def times(self) -> list[float]:
        return [e.time for e in self.events]

    def __len__(self) -> int:
        return len(self.events)

    def __eq__(self, other: object) -> bool:
        """Equal when video, events, parameters and the score curve (element-wise) are all equal."""
        if not isinstance(other, Events):
            return NotImplemented
        return (self.video == other.video and self.events == other.events and self.params == other.params
                and np.array_equal(np.asarray(self.scores), np.asarray(other.scores)))

    __hash__ = None  # type: ignore[assignment]  # mutable parts (dict, array): not hashable

    def __repr__(self) -> str:
        det = self.params.get("detector")
        return (f"Events(video={self.video.path!r}, frames={self.video.n_frames}, fps={round(self.video.fps, 3)}, "
                f"events={len(self.events)}" + (f", detector={det!r}" if det else "") + ")")
