"""Counting figures over a labelled set: predicted against true counts per video.

The per-video terms are the paper's (:func:`~actiondubber.evaluate.metrics.counting_metrics`:
|error|, relative error for MAE, Eq. 18, and off-by-one, Eq. 17); this averages them over a set,
e.g. the counts of ``actiondubber count`` against the number of labelled frames per video.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from actiondubber.evaluate.metrics import counting_metrics


@dataclass(frozen=True)
class CountScores:
    """Counting figures over a labelled set: mean |error|, MAE (relative, Eq. 18), OBO (Eq. 17)."""

    n_videos: int
    mean_abs_error: float
    mae: float
    obo: float
    per_video: dict[str, tuple[int, int]]  # id -> (predicted, true)


def evaluate_counts(pred: Mapping[str, int], ref: Mapping[str, int]) -> CountScores:
    """Score predicted counts against true ones for the videos in both; NaN means when none overlap."""
    ids = [k for k in ref if k in pred]
    rows = [counting_metrics(int(pred[k]), int(ref[k])) for k in ids]
    err = [r[0] for r in rows]
    rel = [r[1] for r in rows if not math.isnan(r[1])]
    obo = [r[2] for r in rows]
    return CountScores(len(ids), _mean(err), _mean(rel), _mean(obo), {k: (int(pred[k]), int(ref[k])) for k in ids})


def _mean(a: list[float]) -> float:
    return float(np.mean(a)) if a else math.nan
