"""A small learned verifier over the kinematic detector's candidates (logistic regression, numpy only).

The peak picker is run at high recall (:data:`PROPOSAL`: low margin, low floor, 3-frame gap); each
candidate peak is described by its kinematic profile (:func:`candidate_features`: the strength
curve around it, normalised by its own peak, its height against the clip's scale and its rise over
the running median, its prominence against the neighbours within ±5 frames), and a logistic model
keeps the real ones. Labels need no hand work: synthetic clips carry exact frames and any footage
with sound can be labelled from its own soundtrack (``actiondubber label-from-audio``).

Training (:func:`fit`) is plain L2-regularised logistic regression by Newton steps; a model is a
weight vector, a feature mean/scale and a decision threshold (:class:`Verifier`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter

from actiondubber.detection.detector import DetectorParams, StrengthCurve, events_at
from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.detection.strength import CHANNELS
from actiondubber.errors import InputError
from actiondubber.types import Events

#: The high-recall proposal setting of the peak picker.
PROPOSAL = {"sensitivity": 0.9, "floor": 0.3, "min_gap_frames": 3}
#: Half-width (frames) of the profile read around a candidate.
HALF = 3
FEATURES = (
    [f"curve[{d:+d}]/peak" for d in range(-HALF, HALF + 1) if d]
    + ["log peak/scale", "rise/scale", "log peak/floor", "prominence5", "rank in ±5"]
)

#: Channels read as magnitudes (log of the value over the clip's 99th percentile), at ±HALF frames.
MAGNITUDES = CHANNELS[:6]
#: Channels read as they are (shares and cosines), at ±1 frame.
SHAPES = CHANNELS[6:]
#: The features of a verifier over the kinematic channels (:func:`channel_features`).
CHANNEL_FEATURES = tuple(
    FEATURES
    + [f"log {c}[{d:+d}]/p99" for c in MAGNITUDES for d in range(-HALF, HALF + 1)]
    + [f"{c}[{d:+d}]" for c in SHAPES for d in (-1, 0, 1)]
)


def propose(curve: StrengthCurve, short_side: int) -> np.ndarray:
    """High-recall candidate frames of *curve* (indices into ``curve.scores``)."""
    floor = PROPOSAL["floor"] * short_side / 128.0
    return pick_peaks(curve.scores, delta=sensitivity_to_delta(PROPOSAL["sensitivity"]),
                      min_gap=PROPOSAL["min_gap_frames"], window=7, floor=floor)


def candidate_features(scores: np.ndarray, frames: Sequence[int], short_side: int) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate frame of the strength curve *scores*."""
    x = np.nan_to_num(np.asarray(scores, np.float64), nan=0.0)
    n = x.size
    scale = max(float(np.percentile(x, 99)), 1e-6) if n else 1.0
    base = median_filter(x, size=15, mode="nearest") if n else x
    floor = 0.6 * short_side / 128.0
    rows = []
    for f in frames:
        f = int(f)
        pk = max(x[f], 1e-6)
        prof = [x[min(max(f + d, 0), n - 1)] / pk for d in range(-HALF, HALF + 1) if d]
        lo, hi = max(0, f - 5), min(n, f + 6)
        nb = np.concatenate([x[lo:f], x[f + 1 : hi]])
        other = float(nb.max()) if nb.size else 0.0
        rank = float((nb > x[f]).sum()) if nb.size else 0.0
        rows.append(prof + [math.log(pk / scale), (x[f] - base[f]) / scale, math.log(pk / floor),
                            (pk - other) / pk, rank])
    return np.asarray(rows, np.float64).reshape(-1, len(FEATURES))


def channel_features(curve: StrengthCurve, frames: Sequence[int], short_side: int) -> np.ndarray:
    """One row of :data:`CHANNEL_FEATURES` per candidate frame (needs ``curve.channels``)."""
    if curve.channels is None:
        raise ValueError("this verifier reads the kinematic channels: measure the curve with channels=True")
    base = candidate_features(curve.scores, frames, short_side)
    ch = np.nan_to_num(np.asarray(curve.channels, np.float64), nan=0.0)
    n = ch.shape[0]
    idx = np.asarray(frames, np.intp)
    cols = [base]
    for j in range(len(MAGNITUDES)):
        x = np.maximum(ch[:, j], 0.0)
        scale = max(float(np.percentile(x, 99)), 1e-6) if n else 1.0
        for d in range(-HALF, HALF + 1):
            cols.append(np.log1p(x[np.clip(idx + d, 0, n - 1)] / scale)[:, None])
    for j in range(len(MAGNITUDES), len(CHANNELS)):
        for d in (-1, 0, 1):
            cols.append(ch[np.clip(idx + d, 0, n - 1), j][:, None])
    return np.concatenate(cols, axis=1).reshape(-1, len(CHANNEL_FEATURES))


@dataclass(frozen=True)
class Verifier:
    """Logistic weights over standardised features, and the threshold on the probability."""

    weights: tuple[float, ...]  # bias first
    mean: tuple[float, ...]
    std: tuple[float, ...]
    threshold: float = 0.5
    #: :data:`FEATURES` (the strength curve alone) or :data:`CHANNEL_FEATURES` (the kinematic channels).
    features: tuple[str, ...] = tuple(FEATURES)

    @property
    def needs_channels(self) -> bool:
        return tuple(self.features) == CHANNEL_FEATURES

    def features_of(self, curve: StrengthCurve, frames: Sequence[int], short_side: int) -> np.ndarray:
        """The feature rows this model reads, for candidate *frames* of *curve*."""
        if self.needs_channels:
            return channel_features(curve, frames, short_side)
        return candidate_features(curve.scores, frames, short_side)

    def proba(self, feats: np.ndarray) -> np.ndarray:
        z = (feats - np.asarray(self.mean)) / np.asarray(self.std)
        w = np.asarray(self.weights)
        return 1.0 / (1.0 + np.exp(-(w[0] + z @ w[1:])))

    def to_json(self) -> str:
        return json.dumps({"features": list(self.features), "proposal": PROPOSAL, "weights": list(self.weights),
                           "mean": list(self.mean), "std": list(self.std), "threshold": self.threshold}, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Verifier:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        feats = tuple(d.get("features") or ())
        if feats not in (tuple(FEATURES), CHANNEL_FEATURES):
            raise ValueError(f"{path}: verifier made for other features")
        w, m, sd = tuple(d["weights"]), tuple(d["mean"]), tuple(d["std"])
        if not len(w) == len(m) + 1 == len(sd) + 1 == len(feats) + 1:
            raise ValueError(f"{path}: verifier weights do not match its feature list")
        return cls(w, m, sd, float(d["threshold"]), feats)


def fit(feats: np.ndarray, labels: np.ndarray, *, l2: float = 1.0, iters: int = 30,
        sample_weight: np.ndarray | None = None) -> Verifier:
    """L2-regularised logistic regression (Newton steps) of *labels* (0/1) on *feats*."""
    xm = feats.mean(axis=0)
    xs = feats.std(axis=0)
    xs[xs < 1e-9] = 1.0
    z = np.column_stack([np.ones(len(feats)), (feats - xm) / xs])
    y = labels.astype(np.float64)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = np.zeros(z.shape[1])
    reg = l2 * np.eye(z.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        g = z.T @ (sw * (p - y)) + reg @ w
        h = (z * (sw * p * (1 - p))[:, None]).T @ z + reg + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    names = tuple(FEATURES) if feats.shape[1] == len(FEATURES) else CHANNEL_FEATURES
    return Verifier(tuple(float(v) for v in w), tuple(float(v) for v in xm), tuple(float(v) for v in xs),
                    features=names)


def verify(curve: StrengthCurve, model: Verifier, params: DetectorParams | None = None) -> list[int]:
    """Event frames of *curve*: proposals the model keeps, at least ``min_gap`` apart (likeliest first)."""
    params = params or DetectorParams()
    short = params.short_side or min(curve.analysis_size)
    cand = propose(curve, short)
    if cand.size == 0:
        return []
    p = model.proba(model.features_of(curve, cand, short))
    fps = curve.info.fps if curve.info.fps > 0 else 25.0
    gap = max(3, math.ceil(params.min_gap * fps - 1e-9))
    keep: list[int] = []
    for i in np.argsort(-p, kind="stable"):
        if p[i] < model.threshold:
            break
        if all(abs(int(cand[i]) - k) >= gap for k in keep):
            keep.append(int(cand[i]))
    return sorted(keep)


#: The shipped verifier (``DetectorParams(verifier="default")``), made by ``benchmarks/train_verifier.py``.
DEFAULT_WEIGHTS = Path(__file__).with_name("weights") / "verifier_default.json"


def load_verifier(spec: str | os.PathLike) -> Verifier:
    """The verifier named by *spec*: ``"default"`` (shipped with the package) or a JSON file's path."""
    path = DEFAULT_WEIGHTS if str(spec) == "default" else Path(spec)
    if not path.is_file():
        raise InputError(f"{path}: verifier file not found")
    try:
        return Verifier.load(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        own = isinstance(exc, ValueError) and str(path) in str(exc)
        raise InputError(str(exc) if own else f"{path}: not a verifier file ({exc})") from None


def verified_events(curve: StrengthCurve, model: Verifier, params: DetectorParams) -> Events:
    """:func:`verify`'s frames of *curve* packaged as :class:`Events` (like the peak picker's)."""
    return events_at(curve, verify(curve, model, params), params, detector="inflection-training-free+verifier",
                     extra={"verifier_threshold": model.threshold})
