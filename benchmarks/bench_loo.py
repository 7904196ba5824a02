"""Honest accuracy: leave-one-clip-out choice of the detector's knobs, and cross-set transfer.

For every held-out clip the detector's parameters are chosen (a small grid over the few knobs that
matter) on the *other* clips only, and the held-out clip is scored with them; no clip is ever scored
by parameters that saw its labels. The per-clip strength curves (everything that needs optical
flow) are cached under ``--out``/cache, so the grid only re-picks peaks from stored curves.

    python benchmarks/bench_loo.py                                   # 12 real clips, audio key (+ human key)
    python benchmarks/bench_loo.py --method objects                  # the per-object detector (detect/objects.py)
    python benchmarks/bench_loo.py --videos benchmarks/results/synth2 --labels benchmarks/results/synth2/labels.csv
    python benchmarks/bench_loo.py --videos B --labels B/labels.csv --tune-videos A --tune-labels A/labels.csv
        # transfer: knobs chosen on all of set A, scored on set B (no leave-one-out needed)

Printed: per fold the held-out clip, the chosen knobs and its strict F1@±1/±2/±3; then mean, min,
max and std over folds, the paper's lenient R/P/F1, the same figures for the current defaults, and
(labelled in-sample) the best single setting on all clips, which is an upper bound, not a result.
``--subsets`` prints the figures per label class (e.g. the synth2 shake / multi / soft subsets).
Results land in ``--out`` (default benchmarks/results/loo/NAME.txt and .json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from common import HUMAN_KEY, REAL, RESULTS, ROOT, run_main  # noqa: F401
from heldout import (
    CURVE_GRID,
    PICK_GRID,
    TOL,
    CurveMethod,
    cached,
    f1_of,
    load_set,
    shift_curve,
    summary,
)

from actiondubber.detection.detector import (
    FAST_DETECTOR,
    DetectorParams,
    StrengthCurve,
    events_at,
    events_from_curve,
)
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import evaluate_video


def _grid(spec: dict) -> list[dict]:
    keys = list(spec)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(spec[k] for k in keys))]


def _default_distance(cfg: dict) -> float:
    """How far a setting is from the current defaults (grid steps), to break ties towards them."""
    d = DetectorParams()
    out = 0.0
    for k, v in cfg.items():
        grid = PICK_GRID.get(k) or CURVE_GRID.get(k) or OBJ_GRID.get(k) or (v,)
        dv = getattr(d, k, None)
        if dv in grid and v in grid:
            out += abs(grid.index(v) - grid.index(dv))
        elif dv != v:
            out += 1.0
    return out


# --------------------------------------------------------------------------- methods


OBJ_GRID = {
    "sensitivity": (0.3, 0.4, 0.5, 0.6),
    "min_gap": (0.1, 0.15, 0.2),
    "floor": (0.45, 0.6, 0.8, 1.0),
    "frame_offset": (0, 1),
    "object_radius": (0.15, 0.3, 0.5),
    "object_share": (0.0, 0.3, 0.6),
}


class ObjectMethod(CurveMethod):
    """Per-object events (:mod:`actiondubber.detection.objects`): regions of the strength map."""

    name = "objects"
    pick_grid = OBJ_GRID

    def events(self, obj, ccfg: dict, pcfg: dict):
        from actiondubber.detection.objects import object_events

        return object_events(obj, DetectorParams(**ccfg, **pcfg))


class MultiscaleMethod(CurveMethod):
    """``DetectorParams.multiscale``: the mean of the curves at two analysis sizes
    (:func:`actiondubber.detection.detector.combine_scales`), built from the single-size curves in the
    cache, exactly as :func:`~actiondubber.detection.detector.multiscale_curve` combines them."""

    name = "multiscale"
    cache_name = "multiscale-2"  # -2: the single-size curves keep the run's fixed knobs
    curve_grid = {"short_side": (128,), "multiscale": (192,)}
    cache_dir: Path | None = None

    def scales(self, path: Path, ccfg: dict) -> tuple[StrengthCurve, StrengthCurve]:
        """The cached single-size curves at ``short_side`` and at ``multiscale``."""
        single = CurveMethod()
        rest = {k: v for k, v in ccfg.items() if k != "multiscale"}  # flow-side knobs fixed by --set
        a = cached(single, path, rest, self.cache_dir)
        b = cached(single, path, {**rest, "short_side": ccfg["multiscale"]}, self.cache_dir)
        return a.curve, b.curve

    def compute(self, path: Path, ccfg: dict):
        from actiondubber.detection.detector import combine_scales

        return combine_scales(*self.scales(path, ccfg), ccfg["short_side"], ccfg["multiscale"])


class AgreeMethod(MultiscaleMethod):
    """Tried and dropped: the two-scale curve at half weight on frames where the two scales' strongest
    points are more than 10 % of the short side apart (a change of speed should be at one place)."""

    name = "multiscale-agree"
    cache_name = "msgate-loc-0.1-0.5"

    def compute(self, path: Path, ccfg: dict):
        from actiondubber.detection.detector import combine_scales

        a, b = self.scales(path, ccfg)
        c = combine_scales(a, b, ccfg["short_side"], ccfg["multiscale"])
        n = min(a.scores.size, b.scores.size)
        apart = np.hypot(a.xs[:n] - b.xs[:n], a.ys[:n] - b.ys[:n]) / min(a.info.width, a.info.height)
        sc = c.scores.astype(np.float64)
        sc[:n] *= np.where(np.nan_to_num(apart, nan=1.0) <= 0.1, 1.0, 0.5)
        return replace(c, scores=sc.astype(np.float32))


class WindowMethod(MultiscaleMethod):
    """Tried and dropped: the two-scale detector with the peak picker's median window in the grid."""

    name = "multiscale-window"
    pick_grid = {**PICK_GRID, "window": (4, 7, 12)}


class ThreeScaleMethod(MultiscaleMethod):
    """Tried and dropped: a third analysis size (96 px) in the mean of the two-scale curve, each curve
    rescaled to ``short_side`` pixels as :func:`~actiondubber.detection.detector.combine_scales` does."""

    name = "multiscale-three"
    cache_name = "three-96"
    third = 96

    def compute(self, path: Path, ccfg: dict):
        a, b = self.scales(path, ccfg)
        rest = {k: v for k, v in ccfg.items() if k != "multiscale"}
        c = cached(CurveMethod(), path, {**rest, "short_side": self.third}, self.cache_dir).curve
        acc = a.scores.astype(np.float64)
        for cur, side in ((b, ccfg["multiscale"]), (c, self.third)):
            m = min(acc.size, cur.scores.size)
            acc[:m] += cur.scores[:m] * ccfg["short_side"] / side
        return replace(a, scores=(acc / 3.0).astype(np.float32))


class _ExtraKnobMethod(MultiscaleMethod):
    """A two-scale variant with one post-processing knob of its own in the grid (``extra``; its first
    value is "off"), applied to the peak picker's events by :meth:`post`."""

    extra = ""

    def events(self, obj, ccfg: dict, pcfg: dict):
        pc = dict(pcfg)
        value = pc.pop(self.extra)
        p = DetectorParams(**ccfg, **pc)
        curve = shift_curve(obj, p.frame_offset)
        ev = events_from_curve(curve, p)
        if not value:
            return ev
        return events_at(curve, self.post([e.frame for e in ev.events], value, curve.info.frame_rate), p)

    def post(self, frames: list[int], value, fps: float) -> list[int]:
        raise NotImplementedError


class FirstMethod(_ExtraKnobMethod):
    """Tried and dropped: a refractory time after each kept event, the earliest of a cluster winning
    (a hit comes before the stick's rebound and exit). Every fold chose it off."""

    name = "multiscale-first"
    extra = "refractory"
    pick_grid = {**PICK_GRID, "refractory": (0.0, 0.25, 0.35, 0.5)}

    def post(self, frames, value, fps):
        keep: list[int] = []
        for f in frames:
            if not keep or f - keep[-1] >= value * fps:
                keep.append(f)
        return keep


def rhythm_grid(frames: list[int], fps: float, *, tmin: float = 0.25, tmax: float = 1.5,
                lam: float = 1.0) -> tuple[float, np.ndarray] | None:
    """The regular grid (period T, phase at one of the events) that best explains *frames*: events
    within ``min(2, 0.12 T)`` frames of a grid slot count, empty slots between the first and last
    explained one cost ``lam`` each. Returns (T, mask of the explained events), or None (< 5 events)."""
    f = np.asarray(sorted(frames), float)
    if f.size < 5:
        return None
    best = None
    for period in np.arange(max(3.0, tmin * fps), min(tmax * fps, (f[-1] - f[0]) / 3.0) + 1e-9, 0.05):
        for phi in f:
            k = np.rint((f - phi) / period)
            on = np.abs(f - (phi + k * period)) <= min(2.0, 0.12 * period)
            if on.sum() < 3:
                continue
            ks = k[on].astype(int)
            score = on.sum() - lam * (ks.max() - ks.min() + 1 - np.unique(ks).size)
            if best is None or score > best[0]:
                best = (score, float(period), on)
    return None if best is None else best[1:]


class RhythmMethod(_ExtraKnobMethod):
    """Tried and dropped: a rhythm prior. When at least a share ``rho`` (and ≥ 5) of the events sit on
    one regular grid (:func:`rhythm_grid`), the events off it are dropped (hits are regular; lifts,
    exits and hesitations between them less so)."""

    name = "multiscale-rhythm"
    extra = "rho"
    pick_grid = {**PICK_GRID, "rho": (0.0, 0.5, 0.65, 0.8)}
    _memo: dict = {}

    def post(self, frames, value, fps):
        key = (tuple(frames), round(fps, 3))
        if key not in self._memo:
            self._memo[key] = rhythm_grid(frames, fps)
        g = self._memo[key]
        if g is None or g[1].sum() < max(5, value * len(frames)):
            return frames
        return [f for f, on in zip(sorted(frames), g[1], strict=True) if on]


class MadMethod(MultiscaleMethod):
    """Tried and dropped: peaks must rise above the running median by ``k`` robust noise units (the
    running median of the absolute residual over ±15 frames × 1.4826) instead of by ``delta`` × the
    clip's 99th percentile; the grid's sensitivity values are read as k."""

    name = "multiscale-mad"
    pick_grid = {**PICK_GRID, "sensitivity": (2.0, 3.0, 4.0, 6.0, 8.0)}
    default_overrides = {"sensitivity": 4.0}

    def events(self, obj, ccfg: dict, pcfg: dict):
        from scipy.ndimage import median_filter

        from actiondubber.peaks import keep_apart, local_maxima

        p = DetectorParams(**ccfg, **{**pcfg, "sensitivity": 0.5})
        curve = shift_curve(obj, p.frame_offset)
        x = np.nan_to_num(curve.scores.astype(np.float64))
        gap = max(3, math.ceil(p.min_gap * curve.info.frame_rate - 1e-9))
        floor = p.floor * p.short_side / 128.0
        r = x - median_filter(x, size=2 * p.window + 1, mode="nearest")
        noise = 1.4826 * median_filter(np.abs(r), size=31, mode="nearest") + 1e-6
        cand = np.flatnonzero(local_maxima(x, gap - 1, gap - 1) & (r >= pcfg["sensitivity"] * noise)
                              & (x >= floor) & (x > 0))
        return events_at(curve, keep_apart(cand, gap, strength=x), p)


class LowMethod(MultiscaleMethod):
    """The two-scale curve weighted by where in the picture each frame's strongest change is:
    ``1 - low * (1 - y / height)``, so a change at the top counts ``1 - low`` and one at the bottom in full
    (a struck surface is usually below the swing; the top of a backswing, a stick leaving at the top, a
    hand above are not). ``low`` is in the grid (0 = off)."""

    name = "multiscale-low"
    pick_grid = {**PICK_GRID, "low": (0.0, 0.25, 0.5, 0.75)}
    default_overrides = {"low": 0.0}

    def weights(self, curve: StrengthCurve, value: float) -> np.ndarray:
        y = np.clip(curve.ys / max(1, curve.info.height - 1), 0.0, 1.0)
        return np.where(np.isfinite(y), 1.0 - value * (1.0 - y), 1.0)

    def reweight(self, curve: StrengthCurve, value: float) -> StrengthCurve:
        """*curve* with the method's change applied at strength *value* (> 0)."""
        w = self.weights(curve, value)
        return replace(curve, scores=(np.nan_to_num(curve.scores) * w).astype(np.float32))

    def events(self, obj, ccfg: dict, pcfg: dict):
        pc = dict(pcfg)
        value = pc.pop("low")
        p = DetectorParams(**ccfg, **pc)
        curve = shift_curve(obj, p.frame_offset)
        if value:
            curve = self.reweight(curve, value)
        return events_from_curve(curve, p)


class LowRelativeMethod(LowMethod):
    """As ``multiscale-low``, with the height measured from the clip's own strong changes: ``y`` is taken
    relative to the strength-weighted median height of the frames above the curve's 90th percentile
    (half a picture above it counts ``1 - low``, at or below it in full), so a clip whose actions are all
    high in the picture is not penalised as a whole."""

    name = "multiscale-lowrel"

    def weights(self, curve: StrengthCurve, value: float) -> np.ndarray:
        h = max(1, curve.info.height - 1)
        sc = np.nan_to_num(curve.scores.astype(np.float64))
        strong = (sc >= np.percentile(sc, 90)) & np.isfinite(curve.ys) & (sc > 0)
        if not strong.any():
            return np.ones(sc.size)
        ys, ws = curve.ys[strong], sc[strong]
        order = np.argsort(ys)
        cum = np.cumsum(ws[order])
        ref = ys[order][np.searchsorted(cum, 0.5 * cum[-1])]
        above = np.clip((ref - curve.ys) / (0.5 * h), 0.0, 1.0)
        return np.where(np.isfinite(curve.ys), 1.0 - value * above, 1.0)


class ScaleWeightMethod(MultiscaleMethod):
    """Tried and dropped: the two scales' curves weighted ``1 - w`` (128 px) and ``w`` (192 px, rescaled) instead
    of the mean, ``w`` in each fold's grid (0.5 = the default)."""

    name = "multiscale-weight"
    cache_name = "msweight-pair"
    pick_grid = {**PICK_GRID, "w192": (0.3, 0.5, 0.7)}
    default_overrides = {"w192": 0.5}

    def compute(self, path: Path, ccfg: dict):
        return self.scales(path, ccfg)

    def events(self, obj, ccfg: dict, pcfg: dict):
        from actiondubber.detection.detector import combine_scales

        pc = dict(pcfg)
        w = pc.pop("w192")
        a, b = obj
        c = combine_scales(a, b, ccfg["short_side"], ccfg["multiscale"])
        n = min(a.scores.size, b.scores.size)
        sc = a.scores.astype(np.float64) * 2 * (1 - w)
        sc[:n] += b.scores[:n].astype(np.float64) * ccfg["short_side"] / ccfg["multiscale"] * 2 * w
        p = DetectorParams(**ccfg, **pc)
        return events_from_curve(shift_curve(replace(c, scores=(0.5 * sc).astype(np.float32)), p.frame_offset), p)


class HybridMethod(MultiscaleMethod):
    """The two-scale detector's events plus per-object events (:mod:`actiondubber.detection.objects`, at the
    128-px size, neighbourhood ``far`` × the short side) that lie at least ``far`` × the short side from
    every frame-level event within the minimum gap: a second mover far away (another ball, the other
    drummer's hand) adds its events, while the stick, the hand holding it and its shadow, close to the
    frame-level event, do not. ``far`` is in the grid (0 = off)."""

    name = "multiscale-hybrid"
    cache_name = "hybrid-1"
    pick_grid = {**PICK_GRID, "far": (0.0, 0.35, 0.5)}
    default_overrides = {"far": 0.0}

    def compute(self, path: Path, ccfg: dict):
        rest = {k: v for k, v in ccfg.items() if k != "multiscale"}
        return super().compute(path, ccfg), cached(CurveMethod(), path, rest, self.cache_dir)

    def events(self, obj, ccfg: dict, pcfg: dict):
        from actiondubber.detection.objects import object_events
        from actiondubber.types import Events

        curve, cand = obj
        pc = dict(pcfg)
        far = pc.pop("far")
        p = DetectorParams(**ccfg, **pc)
        ev = events_from_curve(shift_curve(curve, p.frame_offset), p)
        if not far:
            return ev
        info = curve.info
        side = float(min(info.width, info.height))
        gap = max(3, math.ceil(p.min_gap * (info.fps if info.fps > 0 else 25.0) - 1e-9))
        extra = []
        for o in object_events(cand, p, radius=far).events:
            if o.x is None or o.y is None:
                continue
            near = [e for e in ev.events if abs(e.frame - o.frame) <= gap]
            if all(e.x is not None and math.hypot(e.x - o.x, e.y - o.y) >= far * side for e in near):
                extra.append(o)
        both = tuple(sorted(ev.events + tuple(extra), key=lambda e: e.frame))
        return Events(info, both, ev.scores, ev.params)


class EnsembleMethod(MultiscaleMethod):
    """Tried: the two-scale curve averaged with a differently made one, the frame-level ``impact``
    baseline at 128 px (the drop of the moving region's mean speed along its mean direction), rescaled
    to the same 99th percentile: ``(c + w · impact') / (1 + w)``, ``w`` in the grid (0 = off)."""

    name = "multiscale-ens"
    cache_name = "ens-impact-1"
    pick_grid = {**PICK_GRID, "w_impact": (0.0, 0.5, 1.0)}
    default_overrides = {"w_impact": 0.0}

    def compute(self, path: Path, ccfg: dict):
        rest = {k: v for k, v in ccfg.items() if k != "multiscale"}
        return super().compute(path, ccfg), cached(CurveMethod(), path, {**rest, "kind": "impact"},
                                                   self.cache_dir).curve

    def events(self, obj, ccfg: dict, pcfg: dict):
        curve, imp = obj
        pc = dict(pcfg)
        w = pc.pop("w_impact")
        p = DetectorParams(**ccfg, **pc)
        if w:
            c = np.nan_to_num(curve.scores.astype(np.float64))
            o = np.zeros_like(c)
            m = min(c.size, imp.scores.size)
            o[:m] = np.nan_to_num(imp.scores[:m].astype(np.float64))
            o *= np.percentile(c, 99) / max(np.percentile(o, 99), 1e-9)
            curve = replace(curve, scores=((c + w * o) / (1 + w)).astype(np.float32))
        return events_from_curve(shift_curve(curve, p.frame_offset), p)


class SmoothMethod(LowMethod):
    """The two-scale curve smoothed over time before the peaks are picked: ``[s/2, 1 - s, s/2]`` around each
    frame, ``s`` in the grid (0 = off): a one-frame spike of flow noise counts less than a change that the
    frames either side share."""

    name = "multiscale-smooth"
    pick_grid = {**PICK_GRID, "low": (0.0, 0.3, 0.5)}
    default_overrides = {"low": 0.0}

    def reweight(self, curve: StrengthCurve, value: float) -> StrengthCurve:
        x = np.nan_to_num(curve.scores).astype(np.float64)
        y = (1.0 - value) * x
        y[1:] += 0.5 * value * x[:-1]
        y[:-1] += 0.5 * value * x[1:]
        return replace(curve, scores=y.astype(np.float32))


class SharpMethod(LowMethod):
    """The two-scale curve sharpened over time before the peaks are picked: ``x_i − s · (x_{i−k} + x_{i+k}) / 2``
    (clipped at 0), ``s`` in the grid (0 = off), ``k`` = :attr:`lag` frames: a hit's change of speed is over in a
    frame, a muscle-driven reversal (the top or bottom of a silent swing, a wave) spreads over several."""

    name = "multiscale-sharp"
    lag = 1
    pick_grid = {**PICK_GRID, "low": (0.0, 0.3, 0.6)}
    default_overrides = {"low": 0.0}

    def reweight(self, curve: StrengthCurve, value: float) -> StrengthCurve:
        x = np.nan_to_num(curve.scores).astype(np.float64)
        k = self.lag
        nb = np.zeros_like(x)
        nb[k:] += 0.5 * x[:-k]
        nb[:-k] += 0.5 * x[k:]
        return replace(curve, scores=np.maximum(x - value * nb, 0.0).astype(np.float32))


class Sharp2Method(SharpMethod):
    """As ``multiscale-sharp`` with the neighbours two frames away."""

    name = "multiscale-sharp2"
    lag = 2


def _picker_inputs(curve: StrengthCurve, p: DetectorParams):
    """What the peak picker reads, as :func:`actiondubber.detection.peaks.pick_peaks` and
    :func:`~actiondubber.detection.detector.events_from_curve` compute it: the curve, the curve over its 99th
    percentile (None when that is 0), the minimum gap in frames and the floor at the analysis size."""
    x = np.nan_to_num(curve.scores.astype(np.float64))
    scale = float(np.percentile(x, 99)) if x.size else 0.0
    gap = max(3, math.ceil(p.min_gap * curve.info.frame_rate - 1e-9))
    return x, (x / scale if scale > 0 else None), gap, p.floor * p.short_side / 128.0


class ProminenceMethod(MultiscaleMethod):
    """Tried and dropped (stop 30): peaks must stand out by their topographic prominence
    (``scipy.signal.find_peaks``: the rise above the higher of the two lowest points between the peak and any
    higher one) by ``delta`` × the clip's 99th percentile, instead of rising above a running median: a shoulder
    on a stronger peak's slope (a knife that meets the food, then the board) has little prominence, an isolated
    hit in a dense run has a lot."""

    name = "multiscale-prom"
    factor = 1.0  # the prominence asked for, in units of the sensitivity's delta

    def events(self, obj, ccfg: dict, pcfg: dict):
        from scipy.signal import find_peaks

        from actiondubber.detection.peaks import sensitivity_to_delta
        from actiondubber.peaks import keep_apart, local_maxima

        p = DetectorParams(**ccfg, **pcfg)
        curve = shift_curve(obj, p.frame_offset)
        x, xn, gap, floor = _picker_inputs(curve, p)
        if xn is None:
            return events_at(curve, [], p)
        delta = sensitivity_to_delta(p.sensitivity) * self.factor
        pk = find_peaks(np.concatenate(([0.0], xn, [0.0])), prominence=delta)[0] - 1
        ok = np.zeros(x.size, bool)
        ok[pk] = True
        cand = np.flatnonzero(ok & local_maxima(xn, gap - 1, gap - 1) & (x >= floor) & (x > 0))
        return events_at(curve, keep_apart(cand, gap, strength=xn), p)


class Prominence2Method(ProminenceMethod):
    """As ``multiscale-prom`` with twice the prominence asked for at each sensitivity."""

    name = "multiscale-prom2"
    factor = 2.0


class CleanFloorMethod(MultiscaleMethod):
    """Tried and dropped (stop 30): peaks under the absolute ``floor`` kept when they are clean: at least half
    the floor and at least ``clean`` × the running median around them (``clean`` in the grid, 0 = off). A far
    foot's heel strike is small in pixels per frame but stands well clear of a quiet curve; flow noise does not."""

    name = "multiscale-clean"
    pick_grid = {**PICK_GRID, "clean": (0.0, 3.0, 4.0, 6.0)}
    default_overrides = {"clean": 0.0}

    def events(self, obj, ccfg: dict, pcfg: dict):
        from scipy.ndimage import median_filter

        from actiondubber.detection.peaks import sensitivity_to_delta
        from actiondubber.peaks import keep_apart, local_maxima

        pc = dict(pcfg)
        clean = pc.pop("clean")
        p = DetectorParams(**ccfg, **pc)
        curve = shift_curve(obj, p.frame_offset)
        if not clean:
            return events_from_curve(curve, p)
        x, xn, gap, floor = _picker_inputs(curve, p)
        if xn is None:
            return events_at(curve, [], p)
        base = median_filter(xn, size=2 * p.window + 1, mode="nearest")
        ok_floor = (x >= floor) | ((x >= 0.5 * floor) & (xn >= clean * base))
        cand = np.flatnonzero(local_maxima(xn, gap - 1, gap - 1) & (xn >= base + sensitivity_to_delta(p.sensitivity))
                              & ok_floor & (x > 0))
        return events_at(curve, keep_apart(cand, gap, strength=xn), p)


class SmallPairMethod(MultiscaleMethod):
    """Tried and dropped (stop 30): the two-scale detector at 96 and 128 px instead of 128 and 192, for a preset
    that must stay fast (with ``--fast``'s flow settings it lost to ``--fast`` itself: README, issue 11)."""

    name = "multiscale-small"
    curve_grid = {"short_side": (96,), "multiscale": (128,)}


class MixedMethod(MultiscaleMethod):
    """Tried and dropped (stop 30): the two-scale curve averaged with ``--fast``'s curve (128 px, DIS
    ultrafast, one flow per pair, read one frame later to line it up): a third reading by a smoother flow."""

    name = "multiscale-mixed"
    cache_name = "mixed-fast-1"
    #: ``--fast``'s flow-side settings, read from the preset (its peak-picking knobs are the grid's)
    fast = {k: getattr(FAST_DETECTOR, k) for k in ("short_side", "flow_preset", "backward_flow", "fast_decode")}

    def compute(self, path: Path, ccfg: dict):
        from actiondubber.detection.detector import combine_scales

        ms = combine_scales(*self.scales(path, ccfg), ccfg["short_side"], ccfg["multiscale"])
        c = shift_curve(cached(CurveMethod(), path, self.fast, self.cache_dir).curve, 1)
        n = min(ms.scores.size, c.scores.size)
        sc = 2.0 * np.nan_to_num(ms.scores.astype(np.float64))
        sc[:n] += np.nan_to_num(c.scores[:n].astype(np.float64)) * ccfg["short_side"] / 128.0
        return replace(ms, scores=(sc / 3.0).astype(np.float32))


METHODS = {"default": CurveMethod, "objects": ObjectMethod, "multiscale": MultiscaleMethod,
           "multiscale-agree": AgreeMethod, "multiscale-window": WindowMethod, "multiscale-first": FirstMethod,
           "multiscale-rhythm": RhythmMethod, "multiscale-mad": MadMethod, "multiscale-three": ThreeScaleMethod,
           "multiscale-low": LowMethod, "multiscale-lowrel": LowRelativeMethod,
           "multiscale-weight": ScaleWeightMethod, "multiscale-hybrid": HybridMethod,
           "multiscale-ens": EnsembleMethod, "multiscale-smooth": SmoothMethod,
           "multiscale-sharp": SharpMethod, "multiscale-sharp2": Sharp2Method,
           "multiscale-prom": ProminenceMethod, "multiscale-prom2": Prominence2Method,
           "multiscale-clean": CleanFloorMethod,
           "multiscale-small": SmallPairMethod,
           "multiscale-mixed": MixedMethod}


# --------------------------------------------------------------------------- data and cache


def score_matrix(method, clips, cache: Path, log_prefix: str = ""):
    """settings list and an array [setting, clip] of VideoScores (labels in clips)."""
    settings = []
    for ccfg in _grid(method.curve_grid):
        for pcfg in _grid(method.pick_grid):
            settings.append((ccfg, pcfg))
    scores = np.empty((len(settings), len(clips)), dtype=object)
    t0 = time.perf_counter()
    for j, (vid, path, ref, _cls) in enumerate(clips):
        objs = {}
        memo: dict[tuple[int, ...], object] = {}  # many settings pick the same frames
        for i, (ccfg, pcfg) in enumerate(settings):
            ck = json.dumps(ccfg, sort_keys=True)
            if ck not in objs:
                objs[ck] = cached(method, path, ccfg, cache)
            est = tuple(method.pick(objs[ck], ccfg, pcfg))
            if est not in memo:
                memo[est] = evaluate_video(ref, est, video_id=vid, tolerances=TOL)
            scores[i, j] = memo[est]
        print(f"{log_prefix}  {vid}: {len(settings)} settings scored ({time.perf_counter() - t0:.0f} s)", flush=True)
    return settings, scores


def choose(settings, scores, train_cols) -> int:
    """Index of the setting with the best mean strict F1@±2 over *train_cols* (ties: nearest the defaults)."""
    f1 = np.array([[f1_of(scores[i, j]) for j in train_cols] for i in range(len(settings))])
    mean = f1.mean(axis=1)
    best = mean.max()
    tied = [i for i in range(len(settings)) if mean[i] >= best - 1e-9]
    return min(tied, key=lambda i: (_default_distance({**settings[i][0], **settings[i][1]}), i))


#: Flow-side knobs a run may fix (--compensate, --set): the "defaults" row keeps them as fixed.
FIXED = ("compensate", "flow_preset", "gravity", "change_gate", "persistence", "backend", "kind", "blur",
         "top_fraction", "skip_repeats", "abrupt", "multiscale", "edge_gate", "backward_flow", "fast_decode",
         "end_repeats", "cuts", "vfr_time")


def default_index(settings, overrides: dict | None = None) -> int:
    """The setting equal to the current defaults (except knobs fixed for the whole run, e.g. compensate);
    *overrides* gives the "defaults" value of knobs a method reads differently (MadMethod's k)."""
    d = {**asdict(DetectorParams()), **(overrides or {})}
    cfgs = [{**c, **p} for c, p in settings]
    # A knob with one value on the whole grid (e.g. --short-sides 96) is fixed for the run too.
    single = {k for k in cfgs[0] if len({repr(c.get(k)) for c in cfgs}) == 1}
    for i, cfg in enumerate(cfgs):
        if all(d[k] == v for k, v in cfg.items() if k in d and k not in FIXED and k not in single):
            return i
    raise RuntimeError("the defaults are not on the grid")


# --------------------------------------------------------------------------- report


def _cfg_str(c: dict, p: dict) -> str:
    d = {**c, **p}
    return " ".join(f"{k}={v}" for k, v in d.items())


def montage(pngs: list[Path], out: Path) -> None:
    """Stack the PNGs *pngs* top to bottom (padded white to the widest) into *out*, written atomically."""
    import cv2

    from actiondubber.video.writer import write_png

    imgs = [cv2.imread(str(f)) for f in pngs]
    w = max(im.shape[1] for im in imgs)
    rows = [cv2.copyMakeBorder(im, 0, 0, 0, w - im.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
            for im in imgs]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, cv2.cvtColor(cv2.vconcat(rows), cv2.COLOR_BGR2RGB))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--human", type=Path, default=None,
                    help="a second key scored with the same held-out choices (default: the real clips' human key)")
    ap.add_argument("--tune-videos", type=Path, default=None, help="choose the knobs on this set instead (transfer)")
    ap.add_argument("--tune-labels", type=Path, default=None)
    ap.add_argument("--method", choices=sorted(METHODS), default="default")
    ap.add_argument("--short-sides", default=None, help="comma-separated analysis sizes for the grid (default 128,192)")
    ap.add_argument("--compensate", default="affine", help="camera-motion model of the flows (affine, local, ...)")
    ap.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE",
                    help="fix a flow-side DetectorParams knob for the whole run, e.g. flow_preset=ultrafast")
    ap.add_argument("--subsets", action="store_true", help="also report per label class")
    ap.add_argument("--plots", action="store_true",
                    help="per-clip PNG of the curve with the held-out events against the key (OUT/plots/NAME/)")
    ap.add_argument("--montage", type=Path, default=None, metavar="PNG",
                    help="with --plots: also stack the plots of the four clips with the lowest held-out F1@±2 "
                         "into one PNG (the README's figure of failing clips)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "loo")
    ap.add_argument("--name", default=None, help="result file stem (default: derived from the set and method)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.montage and not args.plots:
        print("--montage needs --plots", file=sys.stderr)
        return 2
    labels = args.labels or args.videos / "labels_audio_onsets.csv"
    if not labels.is_file():
        print(f"labels not found: {labels} (is ../shared present?)", file=sys.stderr)
        return 2
    method = METHODS[args.method]()
    if args.short_sides:
        method.curve_grid = {**method.curve_grid, "short_side": tuple(int(s) for s in args.short_sides.split(","))}
    if args.compensate != "affine":
        method.curve_grid = {**method.curve_grid, "compensate": (args.compensate,)}
    for kv in args.set:
        k, _, v = kv.partition("=")
        typ = type(getattr(DetectorParams(), k))
        method.curve_grid = {**method.curve_grid, k: (typ(v) if typ is not bool else v.lower() in ("1", "true"),)}
    cache = args.out / "cache"
    method.cache_dir = cache
    clips = load_set(args.videos, labels)
    name = args.name or f"{args.videos.name}_{args.method}"
    if args.short_sides and not args.name:  # runs at other sizes must not overwrite each other's results
        name += "_px" + args.short_sides.replace(",", "-")
    if args.compensate != "affine" and not args.name:
        name += f"_{args.compensate}"
    if args.set and not args.name:
        name += "_" + "_".join(kv.replace("=", "-") for kv in args.set)
    if args.tune_videos and not args.name:
        name += f"_from_{args.tune_videos.name}"
    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    say(f"{len(clips)} clips from {args.videos}, key {labels}, method {args.method}")
    settings, scores = score_matrix(method, clips, cache)
    di = default_index(settings, getattr(method, "default_overrides", None))
    result: dict = {"method": args.method, "videos": str(args.videos), "labels": str(labels),
                    "n_settings": len(settings), "folds": []}
    held: list = []

    def plot(j: int, bi: int, row) -> None:
        """The clip's curve with the events of setting *bi* against its key (OUT/plots/NAME/VIDEO.png)."""
        from actiondubber.exporters.plot import plot_curve

        vid = clips[j][0]
        c, p = settings[bi]
        ev = method.events(cached(method, clips[j][1], c, cache), c, p)
        pdir = args.out / "plots" / name
        pdir.mkdir(parents=True, exist_ok=True)
        plot_curve(ev, pdir / f"{vid}.png", truth=clips[j][2],
                   title=f"{vid}: held-out F1@±2 {f1_of(row):.2f} ({args.method})")

    if args.tune_videos:
        tl = args.tune_labels or args.tune_videos / "labels.csv"
        tclips = load_set(args.tune_videos, tl)
        say(f"knobs chosen on {len(tclips)} clips of {args.tune_videos} (key {tl})")
        _, tscores = score_matrix(method, tclips, cache, log_prefix="tune")
        bi = choose(settings, tscores, list(range(len(tclips))))
        say(f"chosen: {_cfg_str(*settings[bi])}")
        held = [scores[bi, j] for j in range(len(clips))]
        result["chosen"] = {**settings[bi][0], **settings[bi][1]}
        say("\nper clip (transfer):")
        for j, (vid, *_r) in enumerate(clips):
            say(f"  {vid:40s} F1@±1/2/3 {f1_of(held[j], 1):.3f} {f1_of(held[j], 2):.3f} {f1_of(held[j], 3):.3f}"
                f"  (defaults {f1_of(scores[di, j], 2):.3f})")
            if args.plots:
                plot(j, bi, held[j])
    else:
        say("\nleave-one-clip-out folds: held-out clip, knobs chosen on the others, held-out strict F1@±1/2/3")
        for j, (vid, *_r) in enumerate(clips):
            train = [c for c in range(len(clips)) if c != j]
            bi = choose(settings, scores, train)
            held.append(scores[bi, j])
            tr = float(np.mean([f1_of(scores[bi, c]) for c in train]))
            say(f"  {vid:36s} {f1_of(held[-1], 1):.3f} {f1_of(held[-1], 2):.3f} {f1_of(held[-1], 3):.3f}"
                f"  (train {tr:.3f}; defaults {f1_of(scores[di, j], 2):.3f})  {_cfg_str(*settings[bi])}")
            result["folds"].append({"clip": vid, "chosen": {**settings[bi][0], **settings[bi][1]},
                                    "f1": [f1_of(held[-1], k) for k in TOL], "train_f1_2": tr})
            if args.plots:
                plot(j, bi, held[-1])
    say()
    if args.montage:
        worst = sorted(range(len(clips)), key=lambda j: f1_of(held[j]))[:4]
        montage([args.out / "plots" / name / f"{clips[j][0]}.png" for j in sorted(worst)],
                args.montage)
        say(f"the four lowest held-out clips' plots: {args.montage}")
    tag = "transfer" if args.tune_videos else "leave-one-clip-out"
    line, result["heldout"] = summary(held, f"{args.method}, {tag}")
    say(line)
    line, result["defaults"] = summary([scores[di, j] for j in range(len(clips))], f"{args.method}, current defaults")
    say(line)
    bi_all = choose(settings, scores, list(range(len(clips))))
    line, result["in_sample_best"] = summary([scores[bi_all, j] for j in range(len(clips))],
                                             f"{args.method}, best on all (IN-SAMPLE)")
    say(line + f"\n    in-sample best: {_cfg_str(*settings[bi_all])}")

    if args.subsets:
        say("\nper label class (held-out / defaults):")
        for cls in sorted({c[3] for c in clips}):
            cols = [j for j, c in enumerate(clips) if c[3] == cls]
            line, result.setdefault("subsets", {})[cls] = summary([held[j] for j in cols], f"  {cls} ({len(cols)})")
            say(line)
            line, _ = summary([scores[di, j] for j in cols], f"  {cls} defaults")
            say(line)

    human = args.human
    if human is None and args.videos.resolve() == REAL.resolve() and not args.tune_videos:
        human = HUMAN_KEY
    if human is not None and human.is_file() and not args.tune_videos:
        hl = read_labels(human).videos
        say(f"\nsecond key {human.name}: the same held-out choices (made on the other clips' {labels.name})")
        hrows, drows = [], []
        for j, (vid, path, _ref, _cls) in enumerate(clips):
            if vid not in hl:
                continue
            ccfg, pcfg = [settings[choose(settings, scores, [c for c in range(len(clips)) if c != j])][m]
                          for m in (0, 1)]
            est = method.pick(cached(method, path, ccfg, cache), ccfg, pcfg)
            hrows.append(evaluate_video(hl[vid].frames, est, video_id=vid, tolerances=TOL))
            dc, dp = settings[di]
            dest = method.pick(cached(method, path, dc, cache), dc, dp)
            drows.append(evaluate_video(hl[vid].frames, dest, video_id=vid, tolerances=TOL))
            say(f"  {vid:36s} {f1_of(hrows[-1], 1):.3f} {f1_of(hrows[-1], 2):.3f} {f1_of(hrows[-1], 3):.3f}"
                f"  (defaults {f1_of(drows[-1], 2):.3f})")
        line, result["human_heldout"] = summary(hrows, f"{args.method}, human key, leave-one-clip-out")
        say(line)
        line, result["human_defaults"] = summary(drows, f"{args.method}, human key, current defaults")
        say(line)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
    say(f"\nwritten: {args.out / name}.txt/.json")
    return 0 if not math.isnan(result["heldout"]["f1_2"]["mean"]) else 1


if __name__ == "__main__":
    run_main(main)
