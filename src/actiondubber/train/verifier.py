"""Training the learned candidate verifier (:mod:`actiondubber.detection.verifier`) from labelled footage.

Any footage with labels serves: synthetic clips carry exact frames, and any video with sound can be
labelled from its own soundtrack (``actiondubber label-from-audio``). Each training set (a folder of
videos and its Audible623-format labels CSV) weighs the same in the fit, whatever its number of
candidates, so a large synthetic set does not drown a few real clips. The decision threshold is
chosen on the clips of one set (the last one by default: put the footage most like yours last).
Numpy only: no torch needed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from actiondubber.detection.detector import DetectorParams, StrengthCurve, events_from_curve, strength_curve
from actiondubber.detection.verifier import Verifier, candidate_features, channel_features, fit, propose, verify
from actiondubber.errors import InputError, ParameterError
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import evaluate_video, match_events

log = logging.getLogger(__name__)

VIDEO_EXT = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
#: Thresholds on the probability tried when choosing the decision threshold.
THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.2, 0.81, 0.05), 2))
#: A candidate is a true one when it is matched (one-to-one) to a label within this many frames.
MATCH_TOLERANCE = 2


@dataclass(frozen=True)
class VerifierClip:
    """One labelled clip: its strength curve, candidate frames, their features and 0/1 labels."""

    video: str
    curve: StrengthCurve
    candidates: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    truth: tuple[int, ...]
    #: Frames marked "don't care" in the labels (weak onsets): unmatched candidates near one are left
    #: out of the fit (weight 0) and of the scoring.
    dont_care: tuple[int, ...] = ()
    weights: np.ndarray | None = None


def clip_table(video: str, curve: StrengthCurve, truth: Sequence[int], *, channels: bool,
               short_side: int = 128, dont_care: Sequence[int] = ()) -> VerifierClip:
    """Candidates of *curve* with their features, whether each matches a true frame, and its weight."""
    cand = propose(curve, short_side)
    feats = channel_features(curve, cand, short_side) if channels else candidate_features(curve.scores, cand,
                                                                                           short_side)
    lab = np.zeros(len(cand))
    for _r, e in match_events(list(truth), list(cand), MATCH_TOLERANCE):
        lab[e] = 1.0
    wts = np.ones(len(cand))
    if len(dont_care) and len(cand):
        dc = np.asarray(dont_care, np.float64)
        near = np.abs(cand[:, None].astype(np.float64) - dc[None, :]).min(axis=1) <= MATCH_TOLERANCE
        wts[(lab == 0) & near] = 0.0
    return VerifierClip(video, curve, cand, feats, lab, tuple(int(f) for f in truth),
                        tuple(int(f) for f in dont_care), wts)


def load_clips(
    videos: str | os.PathLike,
    labels: str | os.PathLike,
    *,
    params: DetectorParams | None = None,
    channels: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[VerifierClip]:
    """Every video of folder *videos* that has a row in the labels CSV *labels*, as :class:`VerifierClip`."""
    params = params or DetectorParams()
    folder = Path(videos)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of videos")
    rows = read_labels(labels).videos
    paths = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_EXT and p.stem in rows]
    if not paths:
        raise InputError(f"{folder}: no video there has a row in {labels}")
    short = params.short_side or 128
    out = []
    for p in paths:
        if progress is not None:
            progress(p.name)
        curve = strength_curve(p, replace(params, frame_offset=0, verifier=""), channels=channels)
        out.append(clip_table(p.stem, curve, rows[p.stem].frames, channels=channels, short_side=short,
                              dont_care=rows[p.stem].dont_care))
    return out


def _mean_f1(clips: Sequence[VerifierClip], frames_of: Callable[[VerifierClip], Sequence[int]]) -> float:
    """Mean strict F1@±2 over *clips* of the frames *frames_of* gives for each (don't-care frames honoured)."""
    vals = [evaluate_video(c.truth, frames_of(c), tolerances=(MATCH_TOLERANCE,),
                           dont_care_frames=c.dont_care).strict[f"{MATCH_TOLERANCE}f"].f1 for c in clips]
    return float(np.mean(vals)) if vals else 0.0


def fit_verifier(
    parts: Sequence[Sequence[VerifierClip]],
    tune: Sequence[VerifierClip],
    *,
    l2: float = 10.0,
    params: DetectorParams | None = None,
) -> Verifier:
    """Fit on the clips of *parts* (each part weighs the same) and choose the threshold on *tune*.

    The threshold is the one of :data:`THRESHOLDS` with the best mean strict F1@±2 over *tune*
    (ties: nearest 0.5).
    """
    params = params or DetectorParams()
    if l2 < 0:
        raise ParameterError(f"l2 must be ≥ 0, got {l2}")
    feats, labs, wts = [], [], []
    for part in parts:
        n = sum(len(c.labels) for c in part)
        for c in part:
            feats.append(c.features)
            labs.append(c.labels)
            w_c = np.ones(len(c.labels)) if c.weights is None else c.weights
            wts.append(w_c / max(n, 1))
    x = np.concatenate(feats) if feats else np.zeros((0, 0))
    y = np.concatenate(labs) if labs else np.zeros(0)
    w_all = np.concatenate(wts) if wts else np.zeros(0)
    keep = w_all > 0
    if keep.sum() < 4 or y[keep].min() == y[keep].max():
        raise InputError("too few candidates to train a verifier: it needs both true and false candidates "
                         "(more clips, or clips with labelled events)")
    w = w_all
    model = fit(x, y, sample_weight=w * len(w), l2=l2)
    best, best_t = -1.0, 0.5
    for t in THRESHOLDS:
        mt = replace(model, threshold=t)
        f = _mean_f1(tune, lambda c, mt=mt: verify(c.curve, mt, params))
        if f > best + 1e-9 or (abs(f - best) <= 1e-9 and abs(t - 0.5) < abs(best_t - 0.5)):
            best, best_t = f, t
    return replace(model, threshold=best_t)


def train_verifier(
    sets: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    *,
    channels: bool = True,
    l2: float = 10.0,
    tune_set: int = -1,
    params: DetectorParams | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Verifier, dict]:
    """Train a verifier on *sets* of (videos folder, labels CSV) and report how it does on them.

    Parameters
    ----------
    sets
        Training sets; each weighs the same in the fit.
    channels
        Read the kinematic channels (the shipped verifier) or the strength curve alone.
    l2
        L2 penalty of the logistic fit (10 was chosen under leave-one-clip-out on the real dev clips).
    tune_set
        Index of the set whose clips choose the decision threshold.
    params
        Detector settings the curves are measured with (analysis size, flow, camera model).

    Returns
    -------
    (Verifier, dict)
        The model, and in-sample figures: clips, candidates, and mean strict F1@±2 of the verifier
        and of the plain peak picker on the tuning set (in-sample: not a result).
    """
    params = params or DetectorParams()
    if not sets:
        raise ParameterError("give at least one training set (--videos DIR --labels CSV)")
    parts = [load_clips(v, lab, params=params, channels=channels, progress=progress) for v, lab in sets]
    try:
        tune = parts[tune_set]
    except IndexError:
        raise ParameterError(f"tune set {tune_set} out of range for {len(parts)} set(s)") from None
    model = fit_verifier(parts, tune, l2=l2, params=params)
    plain = _mean_f1(tune, lambda c: [e.frame for e in events_from_curve(c.curve, params).events])
    mine = _mean_f1(tune, lambda c: verify(c.curve, model, params))
    report = {"clips": sum(len(p) for p in parts), "candidates": int(sum(len(c.labels) for p in parts for c in p)),
              "threshold": model.threshold, "tune_f1_2_verifier": mine, "tune_f1_2_plain": plain}
    return model, report
