"""Per-object events: peaks of the strength map per moving region, not per frame.

The frame-level detector keeps one number per frame (the mean of the map's top 1 %), so when two
things move at once only the stronger is seen, and its minimum gap merges the events of different
objects. Here every frame's blurred strength map (:mod:`.strength`) is cut into connected regions
(:func:`frame_regions`); each region is a *candidate* with its own frame, x, y and score (the same
top-k mean, taken inside the region). A candidate is an event when, among the candidates *near it
in the picture* (within ``radius`` × the analysis short side), it is the largest within
``±min_gap`` and rises above their running median by the sensitivity's margin, and is above the
floor (:func:`pick_object_events`). Several events may share a frame; each keeps its own place.

Streaming and flat in memory: only a few candidates per frame are kept.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np
from scipy.ndimage import maximum_filter1d

from actiondubber.detection.detector import DetectorParams, StrengthCurve, strength_curve
from actiondubber.detection.peaks import sensitivity_to_delta
from actiondubber.types import Event, Events

#: Regions kept per frame (strongest first).
MAX_REGIONS = 6
#: A pixel belongs to a region when its blurred strength exceeds this fraction of the frame's maximum ...
REL_THRESHOLD = 0.2
#: ... and this absolute value (px/frame at a 128-px short side).
ABS_THRESHOLD = 0.1
#: Largest minimum gap (frames) the neighbourhood tables cover; longer gaps are clamped to it.
MAX_GAP = 16
#: Default neighbourhood of a candidate, as a fraction of the analysis short side.
DEFAULT_RADIUS = 0.15


@dataclass
class ObjectCandidates:
    """All region candidates of a video (analysis-size pixels) plus the frame-level curve."""

    curve: StrengthCurve
    frame: np.ndarray  # int, raw index (frame i of the strength convention)
    x: np.ndarray
    y: np.ndarray
    score: np.ndarray
    short_side: int
    top_fraction: float

    def __post_init__(self):
        self._memo: dict = {}


def frame_regions(m: np.ndarray, top_fraction: float, abs_threshold: float) -> list[tuple[float, float, float]]:
    """``(score, x, y)`` of the connected strong regions of one blurred strength map *m*.

    A region's score is the sum of its ``k`` largest values divided by ``k`` (``k`` = *top_fraction*
    of the frame's pixels), so one region alone scores as the frame-level strength does.
    """
    peak = float(m.max()) if m.size else 0.0
    thr = max(abs_threshold, REL_THRESHOLD * peak)
    if peak <= thr:
        return []
    mask = (m > thr).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    k = max(1, int(m.size * top_fraction))
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA])[: 4 * MAX_REGIONS] + 1
    out = []
    for j in order:
        x0, y0, w, h = (int(stats[j, c]) for c in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                     cv2.CC_STAT_HEIGHT))
        sub = m[y0 : y0 + h, x0 : x0 + w]
        vals = sub[lab[y0 : y0 + h, x0 : x0 + w] == j]
        top = vals if vals.size <= k else np.partition(vals, vals.size - k)[vals.size - k :]
        yy, xx = np.unravel_index(int(np.argmax(np.where(lab[y0 : y0 + h, x0 : x0 + w] == j, sub, -1))), sub.shape)
        out.append((float(top.sum()) / k, float(x0 + xx), float(y0 + yy)))
    out.sort(key=lambda r: -r[0])
    return out[:MAX_REGIONS]


def object_candidates(
    video: str | os.PathLike,
    params: DetectorParams | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
) -> ObjectCandidates:
    """Stream *video* once: the frame-level curve and every frame's region candidates."""
    params = params or DetectorParams()
    fr: list[int] = []
    xs: list[float] = []
    ys: list[float] = []
    ss: list[float] = []
    short = params.short_side or 128
    abs_thr = ABS_THRESHOLD * short / 128.0

    def sink(index: int, m: np.ndarray) -> None:
        for s, x, y in frame_regions(m, params.top_fraction, abs_thr):
            fr.append(index)
            xs.append(x)
            ys.append(y)
            ss.append(s)

    curve = strength_curve(video, replace(params, frame_offset=0), progress=progress, flow_kwargs=flow_kwargs,
                           map_sink=sink)
    return ObjectCandidates(curve, np.asarray(fr, np.int64), np.asarray(xs), np.asarray(ys), np.asarray(ss),
                            min(curve.analysis_size), params.top_fraction)


def _neighbours(c: ObjectCandidates, radius: float, window: int, max_gap: int):
    """Per candidate: the median of its neighbourhood's per-frame maxima over ±window, and the largest
    neighbour score within ±d frames for d = 0 .. max_gap−1 (cached per radius and window)."""
    key = (radius, window, max_gap)
    if key in c._memo:
        return c._memo[key]
    n = c.frame.size
    r = radius * c.short_side
    base = np.zeros(n)
    near_max = np.zeros((n, max(1, max_gap)))
    if n:
        order = np.argsort(c.frame, kind="stable")
        f_sorted = c.frame[order]
        span = max(window, max_gap)
        for i in range(n):
            lo = np.searchsorted(f_sorted, c.frame[i] - span, "left")
            hi = np.searchsorted(f_sorted, c.frame[i] + span, "right")
            j = order[lo:hi]
            j = j[np.hypot(c.x[j] - c.x[i], c.y[j] - c.y[i]) <= r]
            df = c.frame[j] - c.frame[i]
            # local curve: the neighbourhood's strongest candidate per frame, 0 where there is none
            w = np.abs(df) <= window
            local = np.zeros(2 * window + 1)
            np.maximum.at(local, df[w] + window, c.score[j[w]])
            base[i] = float(np.median(local))
            others = j != i
            per_d = np.zeros(max(1, max_gap))  # strongest other neighbour exactly |df| = d frames away
            ad = np.abs(df[others])
            ok = ad < per_d.size
            np.maximum.at(per_d, ad[ok], c.score[j[others][ok]])
            near_max[i] = np.maximum.accumulate(per_d)
    c._memo[key] = (base, near_max)
    return base, near_max


def pick_object_events(
    c: ObjectCandidates, *, delta: float, min_gap: int, window: int, floor: float, radius: float = DEFAULT_RADIUS,
    share: float = 0.0,
) -> list[int]:
    """Indices into *c* of the candidates that are events (sorted by frame, then score).

    *share* > 0 also asks a candidate to reach that fraction of the strongest candidate anywhere in
    the picture within ``±min_gap`` frames (a weak side region of a strong event, e.g. the background
    uncovered behind a fast object, is dropped; a second object of similar strength is kept).
    """
    if c.frame.size == 0:
        return []
    scale = float(np.percentile(np.nan_to_num(c.curve.scores, nan=0.0), 99))
    if scale <= 0:
        return []
    gap = max(1, int(min_gap))
    base, near_max = _neighbours(c, radius, window, MAX_GAP)
    near = near_max[:, min(gap - 1, near_max.shape[1] - 1)]
    ok = (c.score >= near) & (c.score / scale >= base / scale + delta) & (c.score >= floor) & (c.score > 0)
    if share > 0:
        per_frame = np.zeros(int(c.frame.max()) + 1)
        np.maximum.at(per_frame, c.frame, c.score)
        around = maximum_filter1d(per_frame, size=2 * (gap - 1) + 1, mode="nearest")
        ok &= c.score >= share * around[c.frame]
    cand = np.flatnonzero(ok)
    r = radius * c.short_side
    keep: list[int] = []
    for i in cand[np.argsort(-c.score[cand], kind="stable")]:
        if all(abs(int(c.frame[i]) - int(c.frame[j])) >= gap or math.hypot(c.x[i] - c.x[j], c.y[i] - c.y[j]) > r
               for j in keep):
            keep.append(int(i))
    return sorted(keep, key=lambda i: (int(c.frame[i]), -float(c.score[i])))


def object_events(
    c: ObjectCandidates, params: DetectorParams | None = None, *, radius: float | None = None,
    extra: dict | None = None,
) -> Events:
    """Per-object events of *c* under *params* (its peak-picking knobs and ``frame_offset``)."""
    params = params or DetectorParams()
    curve = c.curve
    info = curve.info
    fps = info.fps if info.fps > 0 else 25.0
    gap = max(3, math.ceil(params.min_gap * fps - 1e-9))
    floor = params.floor * (params.short_side or c.short_side) / 128.0
    rad = params.object_radius if radius is None else radius
    idx = pick_object_events(c, delta=sensitivity_to_delta(params.sensitivity), min_gap=gap, window=params.window,
                             floor=floor, radius=rad, share=params.object_share)
    aw, ah = curve.analysis_size
    off = params.frame_offset
    events = []
    for i in idx:
        f = int(c.frame[i]) + off
        if f >= info.n_frames or f < 0:
            continue
        t = 0.5 * (info.time_of(f - 1) + info.time_of(f)) if off == 1 and f >= 1 else info.time_of(f)
        x = (float(c.x[i]) + 0.5) * info.width / aw - 0.5
        y = (float(c.y[i]) + 0.5) * info.height / ah - 0.5
        events.append(Event(frame=f, time=t, score=float(c.score[i]), x=x, y=y))
    scores = curve.scores
    if off:
        scores = np.zeros_like(curve.scores)
        scores[off:] = curve.scores[:-off]
    p = {"detector": "inflection-training-free", **asdict(params), "object_radius": rad,
         "analysis_size": list(curve.analysis_size)}
    p.update(extra or {})
    return Events(info, tuple(events), scores, p)
