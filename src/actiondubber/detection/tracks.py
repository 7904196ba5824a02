"""Small movers: the bounces of small compact blobs, tracked at a finer size than the flow analysis.

The frame-level detector reads dense optical flow at a 128-px short side, where a tennis ball in a
wide shot is under a pixel and DIS flow does not follow it even at full size. Here a ball is found
the way an eye finds it: each frame (at ``short_side``, 540 px by default) is aligned to its two
neighbours by a partial-affine fit of tracked corners (RANSAC, so the movers do not count: the
camera), the *three-frame difference* ``min(|I_t − I_{t−1}'|, |I_t − I_{t+1}'|)`` marks what is at a
new place in frame t only, its small compact connected components are detections
(:func:`blob_detections`), detections are linked into tracks by nearest neighbour with a
constant-velocity prediction (:func:`link_tracks`), and a track's bounce — a loss of speed along
its travel, read over two frames either side, that sends the blob back, with smooth flight before and
after it and the same gravity prior as the flow detector — is an event (:func:`track_bounces`).

Large movers (an arm, a stick, a person) are left to the flow detector: their difference regions are
larger than ``max_size`` and are not detections. Streaming: three frames and the open tracks are
held at a time.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from actiondubber.detection.strength import gravity_weight
from actiondubber.errors import ParameterError
from actiondubber.types import Event, Events
from actiondubber.video import iter_frames
from actiondubber.video.prefetch import prefetch

__all__ = ["TrackParams", "Track", "blob_detections", "link_tracks", "track_bounces", "small_mover_events",
           "merge_nearby", "with_small_movers"]


#: A detection's surroundings (twice its size on each side) may hold at most this multiple of its own
#: changed area: a small mover is alone, the pieces of a large one are not.
ISOLATION = 2.0
#: A detection continues a track only if its strength is at least this share of the track's recent median.
STRENGTH_KEPT = 0.25


@dataclass(frozen=True)
class TrackParams:
    """Knobs of the small-mover tracker; pixel sizes are fractions of ``short_side`` so they scale.

    The values were set from the geometry of the problem (a ball a few pixels across, moving up to a
    few per cent of the picture per frame) and adjusted on tuning-only generations of far-ball,
    drumming and walking scenes (``benchmarks/make_synth2_set.py ... --seed 5``), never on a scored set.
    """

    #: Analysis short side (px) of the tracker.
    short_side: int = 540
    #: Largest side of a detection, as a fraction of the short side (0.03 at 540 px: 16 px).
    max_size: float = 0.03
    #: Smallest detection area (px).
    min_area: int = 2
    #: Three-frame difference (grey levels) a detection's pixels must exceed, and the multiple of the
    #: frame's median difference (sensor noise, texture the camera fit leaves) they must exceed too.
    diff_threshold: float = 12.0
    noise_factor: float = 4.0
    #: Misalignment (px) the camera fit may leave: the other frame's texture gradient times this is not
    #: counted as a change.
    slack: float = 1.0
    #: Largest distance (fraction of the short side) between a track's predicted place and a detection.
    gate: float = 0.04
    #: Frames a track may go undetected (occlusion, the ball at rest) before it ends.
    max_missed: int = 2
    #: Shortest track (frames) whose bounces count.
    min_track: int = 6
    #: A bounce: the loss of speed along the travel (px/frame at ``short_side``, over two frames either
    #: side) is at least ``min_change`` × the short side and ``rel_change`` × the arrival speed.
    min_change: float = 0.002
    rel_change: float = 0.8
    #: A bounce sends the blob back: its outgoing velocity along the arrival direction is at most
    #: −``rebound`` × the arrival speed (a ball rebounds; a foot that lands, or a hand that slows at the
    #: end of a swing, does not).
    rebound: float = 0.1
    #: Gravity prior as in :mod:`.strength` (1: an arrival upwards counts nothing).
    gravity: float = 1.0
    #: Most detections kept per frame (largest first) and most open tracks.
    max_detections: int = 40
    max_tracks: int = 120

    def __post_init__(self) -> None:
        if not 32 <= self.short_side <= 4096:
            raise ParameterError(f"small-object short side must be between 32 and 4096 px, got {self.short_side}")
        for name in ("max_size", "gate", "min_change", "rel_change", "diff_threshold", "noise_factor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParameterError(f"{name} must be a positive number, got {v}")
        if not 0.0 <= self.gravity <= 1.0:
            raise ParameterError(f"gravity prior must be between 0 and 1, got {self.gravity}")


@dataclass
class Track:
    """One tracked blob: its frames and centres (analysis pixels), in order, gaps allowed."""

    frames: list[int] = field(default_factory=list)
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    strengths: list[float] = field(default_factory=list)
    missed: int = 0

    def velocity(self) -> tuple[float, float]:
        """The last step's displacement per frame (0 for a track of one point)."""
        if len(self.frames) < 2:
            return 0.0, 0.0
        dt = max(1, self.frames[-1] - self.frames[-2])
        return (self.xs[-1] - self.xs[-2]) / dt, (self.ys[-1] - self.ys[-2]) / dt

    def predict(self, frame: int) -> tuple[float, float]:
        """Where the blob should be at *frame* at constant velocity."""
        vx, vy = self.velocity()
        k = frame - self.frames[-1]
        return self.xs[-1] + k * vx, self.ys[-1] + k * vy

    def speed(self) -> float:
        return math.hypot(*self.velocity())


def _features(img: np.ndarray) -> np.ndarray | None:
    """Corners of *img* to fit the camera with (at full size: at half size the far-ball scenes of the tuning
    set scored 0.575 against 0.601)."""
    return cv2.goodFeaturesToTrack(img, maxCorners=300, qualityLevel=0.01, minDistance=8, blockSize=7)


def _gradient(img: np.ndarray) -> np.ndarray:
    """Local gradient magnitude of *img* (grey levels per px, the largest within 1 px)."""
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.dilate(cv2.magnitude(gx, gy) * 0.125, np.ones((3, 3), np.uint8))


def _camera(src: np.ndarray, dst: np.ndarray, pts: np.ndarray | None) -> np.ndarray | None:
    """Partial-affine map taking *dst*'s pixel coordinates to *src*'s (RANSAC over *dst*'s tracked corners)."""
    if pts is None or len(pts) < 8:
        return None
    moved, ok, _ = cv2.calcOpticalFlowPyrLK(dst, src, pts, None, winSize=(15, 15), maxLevel=3)
    ok = ok.ravel().astype(bool)
    if ok.sum() < 8:
        return None
    m, _ = cv2.estimateAffinePartial2D(pts[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.5)
    return m


def _aligned_diff(cur: np.ndarray, other: np.ndarray, m: np.ndarray | None, slack: float) -> np.ndarray:
    """``|cur − other|`` with *other* warped onto *cur* by *m* and the global brightness change removed,
    less ``slack`` × the warped frame's local gradient; a border band as wide as the warp's largest shift
    gets 0 (content from outside the picture)."""
    h, w = cur.shape
    band = 0
    if m is not None:
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        other = cv2.warpAffine(other, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        corners = np.float32([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]])
        shift = np.abs(corners @ m.T - corners[:, :2]).max()
        band = min(int(math.ceil(shift)) + 2, min(h, w) // 4)
    grad = _gradient(other)  # of the warped picture (warping the gradient instead scored lower)
    d = cur.astype(np.float32) - other.astype(np.float32)
    d -= float(np.median(d[::8, ::8]))
    # What a misalignment of about ``slack`` px would leave on the other frame's texture is not a change.
    out = np.maximum(np.abs(d) - slack * grad, 0.0)
    if band:
        out[:band] = 0
        out[-band:] = 0
        out[:, :band] = 0
        out[:, -band:] = 0
    return out


def blob_detections(
    prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray, params: TrackParams = TrackParams()
) -> list[tuple[float, float, float]]:
    """``(x, y, strength)`` of the small compact things at a new place in grey frame *cur*.

    *prev* and *nxt* are the neighbouring frames (same size). Strength is the peak three-frame
    difference (grey levels).
    """
    pts = _features(cur)
    d = np.minimum(_aligned_diff(cur, prev, _camera(prev, cur, pts), params.slack),
                   _aligned_diff(cur, nxt, _camera(nxt, cur, pts), params.slack))
    noise = float(np.median(d[::4, ::4]))
    thr = max(params.diff_threshold, params.noise_factor * noise)
    mask = (d > thr).astype(np.uint8)
    n, _labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    side = min(cur.shape)
    max_px = max(3, int(round(params.max_size * side)))
    out = []
    for k in range(1, n):
        x0, y0, bw, bh, area = stats[k]
        if area < params.min_area or max(bw, bh) > max_px or area < 0.3 * bw * bh:
            continue
        # A blob with more change around it is a piece of a large mover (an arm, a leg), not a small one.
        r = 2 * max(bw, bh) + 3
        ring = mask[max(0, y0 - r): y0 + bh + r, max(0, x0 - r): x0 + bw + r]
        if int(ring.sum()) > ISOLATION * area:
            continue
        peak = float(d[y0: y0 + bh, x0: x0 + bw].max())
        out.append((float(cents[k][0]), float(cents[k][1]), peak))
    out.sort(key=lambda t: -t[2])
    return out[: params.max_detections]


def link_tracks(
    detections: Iterable[tuple[int, list[tuple[float, float, float]]]], params: TrackParams = TrackParams(),
    *, side: int | None = None,
) -> Iterator[Track]:
    """Link per-frame detections ``(frame, [(x, y, strength), ...])`` into tracks (greedy nearest
    neighbour to each track's constant-velocity prediction); yields each track when it ends."""
    side = side or params.short_side
    gate = params.gate * side
    open_: list[Track] = []
    for frame, dets in detections:
        pairs = []
        for ti, t in enumerate(open_):
            px, py = t.predict(frame)
            g = gate + 0.5 * t.speed()
            typical = float(np.median(t.strengths[-8:]))
            for di, (x, y, st) in enumerate(dets):
                if st < STRENGTH_KEPT * typical:  # a blob of another contrast: not the same thing
                    continue
                # Near the prediction, or near the last place: at a bounce the velocity turns round.
                dist = min(math.hypot(x - px, y - py), math.hypot(x - t.xs[-1], y - t.ys[-1]))
                if dist <= g:
                    pairs.append((dist, ti, di))
        pairs.sort()
        used_t, used_d = set(), set()
        for _dist, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            t = open_[ti]
            t.frames.append(frame)
            t.xs.append(dets[di][0])
            t.ys.append(dets[di][1])
            t.strengths.append(dets[di][2])
            t.missed = 0
        keep = []
        for ti, t in enumerate(open_):
            if ti not in used_t:
                t.missed += 1
                if t.missed > params.max_missed:
                    yield t
                    continue
            keep.append(t)
        for di, (x, y, st) in enumerate(dets):
            if di not in used_d and len(keep) < params.max_tracks:
                keep.append(Track([frame], [x], [y], [st]))
        open_ = keep
    yield from open_


def _smooth(x: np.ndarray, y: np.ndarray, a: int, b: int, side: int) -> bool:
    """Whether the track's leg from point *a* to *b* (inclusive) is nearly straight: a ball between two
    contacts flies on a smooth path, linked noise jumps about. Residual RMS of a constant-velocity fit
    within ``max(1 px, 0.3 × speed, 0.002 × side)``."""
    if a < 0 or b >= x.size:
        return False
    t = np.arange(a, b + 1, dtype=np.float64)
    px, py = x[a: b + 1], y[a: b + 1]
    cx, cy = np.polyfit(t, px, 1), np.polyfit(t, py, 1)
    res = np.sqrt(np.mean((np.polyval(cx, t) - px) ** 2 + (np.polyval(cy, t) - py) ** 2))
    speed = math.hypot(cx[0], cy[0])
    return res <= max(1.0, 0.3 * speed, 0.002 * side)


def track_bounces(track: Track, params: TrackParams = TrackParams(), *, side: int | None = None
                  ) -> list[tuple[int, float, float, float]]:
    """``(frame, x, y, loss of speed)`` of each bounce on *track* (see the module docs)."""
    side = side or params.short_side
    if len(track.frames) < params.min_track:
        return []
    f0, f1 = track.frames[0], track.frames[-1]
    fr = np.arange(f0, f1 + 1)
    x = np.interp(fr, track.frames, track.xs)
    y = np.interp(fr, track.frames, track.ys)
    n = fr.size
    if n < 5:
        return []
    vin = np.stack([x[2:-2] - x[:-4], y[2:-2] - y[:-4]], 1) / 2.0  # frames 2 .. n-3
    vout = np.stack([x[4:] - x[2:-2], y[4:] - y[2:-2]], 1) / 2.0
    s = np.hypot(vin[:, 0], vin[:, 1])
    u = vin / (s[:, None] + 1e-6)
    along = (vout * u).sum(1)
    d = np.maximum(s - along, 0.0)
    if params.gravity > 0:
        d *= gravity_weight(u[:, 1], params.gravity)
    ok = (d >= params.min_change * side) & (d >= params.rel_change * s) & (along <= -params.rebound * s)
    q = np.where(ok, d, 0.0)
    out = []
    for k in np.flatnonzero(ok):
        lo, hi = max(0, k - 2), min(q.size, k + 3)
        if int(np.argmax(q[lo:hi])) + lo != k:  # the strongest qualifying turn within ±2 frames (first on ties)
            continue
        i = k + 2
        if not (_smooth(x, y, i - 4, i - 1, side) and _smooth(x, y, i + 1, i + 4, side)):
            continue
        out.append((int(fr[i]), float(x[i]), float(y[i]), float(d[k])))
    return out


def small_mover_events(
    video: str | os.PathLike,
    params: TrackParams = TrackParams(),
    *,
    frames: Iterable | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[tuple[int, float, float, float]], tuple[int, int]]:
    """The bounces of small movers in *video* (see the module docs).

    Parameters
    ----------
    video
        Path of the video.
    params
        The tracker's settings.
    frames
        The video's grey frames at ``params.short_side``, if the caller has decoded them already.
    progress
        Called with 1 for every frame read.

    Returns
    -------
    events, size
        ``[(frame, x, y, score), ...]`` sorted by frame, and the analysis size ``(width, height)``. x, y
        are in analysis pixels; the score is the loss of speed in pixels per frame at a 128-px short
        side, the flow detector's unit. A video smaller than ``params.short_side`` is read as it is.
    """
    stream = iter(frames if frames is not None else prefetch(iter_frames(video, short_side=params.short_side)))
    first = next(stream, None)
    if first is None:
        return [], (0, 0)
    size = (first.image.shape[1], first.image.shape[0])
    side = min(size)  # a video smaller than the tracker's size is analysed as it is

    def detections() -> Iterator[tuple[int, list]]:
        window: list = []
        for fr in itertools.chain([first], stream):
            if progress is not None:
                progress(1)
            window.append(fr)
            if len(window) > 3:
                window.pop(0)
            if len(window) == 3:
                a, b, c = window
                yield b.index, blob_detections(a.image, b.image, c.image, params)

    events = []
    for t in link_tracks(detections(), params, side=side):
        events.extend(track_bounces(t, params, side=side))
    scale = 128.0 / side
    events = merge_nearby([(f, x, y, s * scale) for f, x, y, s in events], frames=2, radius=0.06 * side)
    return events, size


def merge_nearby(events: list[tuple[int, float, float, float]], *, frames: int, radius: float
                 ) -> list[tuple[int, float, float, float]]:
    """Keep the strongest of events within *frames* and *radius* px of each other (a ball and its
    shadow, or one ball on two track pieces, bounce together), sorted by frame."""
    kept: list[tuple[int, float, float, float]] = []
    for e in sorted(events, key=lambda e: -e[3]):
        if all(abs(e[0] - k[0]) > frames or math.hypot(e[1] - k[1], e[2] - k[2]) > radius for k in kept):
            kept.append(e)
    return sorted(kept)


def with_small_movers(
    events: Events,
    video: str | os.PathLike,
    params: TrackParams = TrackParams(),
    *,
    radius: float = 0.1,
    progress: Callable[[int], None] | None = None,
    found: tuple[list[tuple[int, float, float, float]], tuple[int, int]] | None = None,
) -> Events:
    """*events* (the flow detector's) with the small movers' bounces added (:func:`small_mover_events`).

    Parameters
    ----------
    events
        The flow detector's events of *video*.
    video
        Path of the same video.
    params
        The tracker's settings.
    radius
        A bounce is added unless one of *events* lies within two frames of it and within ``radius`` ×
        the short side in the picture (there the flow detector has seen it already).
    progress
        Called with 1 for every frame the tracker reads.
    found
        :func:`small_mover_events`' result for *video* with *params*, if the caller has it already (then
        the video is not read again).

    Returns
    -------
    Events
        The same video, scores and settings (``params["small_objects"]`` records the tracker's size and
        how many events it added); the added events carry the tracker's score and place, in
        original-video pixels.
    """
    info = events.video
    bounces, (aw, ah) = found if found is not None else small_mover_events(video, params, progress=progress)
    if not bounces or not aw:
        return events
    sx, sy = info.width / aw, info.height / ah
    near = radius * min(info.width, info.height)
    have = list(events.events)
    added = []
    for f, x, y, s in bounces:
        if not 0 <= f < max(info.n_frames, 1):
            continue
        x0, y0 = (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5
        if any(abs(e.frame - f) <= 2 and (e.x is None or e.y is None or math.hypot(e.x - x0, e.y - y0) <= near)
               for e in have):
            continue
        added.append(Event(frame=f, time=info.time_of(f), score=float(s), x=float(x0), y=float(y0)))
    merged = tuple(sorted(have + added, key=lambda e: (e.frame, e.x if e.x is not None else -1.0)))
    p = dict(events.params)
    p["small_objects"] = {"short_side": params.short_side, "added": len(added)}
    return Events(info, merged, events.scores, p)
