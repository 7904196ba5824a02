"""The plain data types that cross package boundaries.

``VideoInfo`` describes a video file; ``Event`` is one audible action;
``Events`` bundles a video's events with its per-frame score curve and the
parameters that made them. Every producer (training-free detector, TA²Net)
and every consumer (evaluate, dub, export) speaks these types, and their one
JSON form is written and read by :mod:`actiondubber.events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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

    def frame_at(self, time: float) -> int:
        """Index of the frame shown at *time* seconds (the last frame starting at or before it)."""
        if self.timestamps:
            idx = int(np.searchsorted(np.asarray(self.timestamps), time + 1e-6, side="right")) - 1
            return int(min(max(idx, 0), len(self.timestamps) - 1))
        return int(round(time * self.fps))


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
