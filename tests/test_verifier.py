"""The learned candidate verifier (detect/verifier.py): features, fitting, round trip, selection."""

from __future__ import annotations

import numpy as np
import pytest

from actiondubber.detection.detector import StrengthCurve
from actiondubber.detection.verifier import FEATURES, Verifier, candidate_features, fit, propose, verify
from actiondubber.types import VideoInfo


def _curve(scores: np.ndarray) -> StrengthCurve:
    n = scores.size
    info = VideoInfo("x.mp4", 160, 128, 30.0, n, n / 30.0, False, tuple(i / 30.0 for i in range(n)))
    return StrengthCurve(info, scores.astype(np.float32), np.full(n, np.nan), np.full(n, np.nan), (160, 128))


def _spiky(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.5, 300)
    true = list(range(20, 290, 27))
    for f in true:
        x[f] += 4.0  # sharp strong peaks: the real ones
    for f in range(33, 290, 27):
        x[f - 1 : f + 2] += 0.9  # broad weak bumps: the false ones
    return x, true


def test_features_are_finite_and_one_row_per_candidate():
    x, _ = _spiky()
    cand = propose(_curve(x), 128)
    f = candidate_features(x, cand, 128)
    assert f.shape == (cand.size, len(FEATURES)) and np.isfinite(f).all()


def test_fit_separates_real_from_false_candidates_and_verify_keeps_the_real_ones(tmp_path):
    x, true = _spiky(0)
    cur = _curve(x)
    cand = propose(cur, 128)
    y = np.isin(cand, true).astype(float)
    assert 0 < y.sum() < y.size  # the proposals hold both kinds
    model = fit(candidate_features(x, cand, 128), y)
    x2, true2 = _spiky(1)
    assert verify(_curve(x2), model) == true2
    p = tmp_path / "v.json"
    p.write_text(model.to_json())
    back = Verifier.load(p)
    assert back.weights == pytest.approx(model.weights) and back.threshold == model.threshold


def test_verify_on_a_flat_curve_finds_nothing():
    model = Verifier(tuple([0.0] * (len(FEATURES) + 1)), tuple([0.0] * len(FEATURES)), tuple([1.0] * len(FEATURES)))
    assert verify(_curve(np.zeros(50)), model) == []
