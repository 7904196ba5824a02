"""The learned candidate verifier (detect/verifier.py): features, fitting, round trip, selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from motionclips import drops

from actiondubber.cli import cli
from actiondubber.detection.detector import DetectorParams, StrengthCurve, run_detector, strength_curve
from actiondubber.detection.strength import CHANNELS
from actiondubber.detection.verifier import (
    CHANNEL_FEATURES,
    DEFAULT_WEIGHTS,
    FEATURES,
    Verifier,
    candidate_features,
    channel_features,
    fit,
    load_verifier,
    propose,
    verify,
)
from actiondubber.errors import InputError
from actiondubber.evaluate.labels import write_labels
from actiondubber.train.verifier import clip_table, train_verifier
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


# --------------------------------------------------------------------------- kinematic channels, training, CLI



@pytest.fixture(scope="module")
def drop_set(tmp_path_factory) -> tuple[Path, Path, dict]:
    d = tmp_path_factory.mktemp("drops")
    truth = {"a": drops(d / "a.mp4", 3, xs=(40,)), "b": drops(d / "b.mp4", 3, xs=(30, 110), delays=(0, 9))}
    write_labels(d / "labels.csv", truth)
    return d, d / "labels.csv", truth


def test_channels_leave_the_strength_curve_unchanged(drop_set):
    d, _, _ = drop_set
    plain = strength_curve(d / "a.mp4", DetectorParams())
    both = strength_curve(d / "a.mp4", DetectorParams(), channels=True)
    assert plain.channels is None and both.channels.shape == (plain.scores.size, len(CHANNELS))
    np.testing.assert_array_equal(plain.scores, both.scores)
    np.testing.assert_array_equal(plain.xs, both.xs)
    f = channel_features(both, propose(both, 128), 128)
    assert f.shape[1] == len(CHANNEL_FEATURES) and np.isfinite(f).all()
    # the landing frames slow the square down: the deceleration channel peaks there, speed_in is high
    land = drops(d / "a_again.mp4", 3, xs=(40,))
    ch = both.channels
    for fr in land:
        assert ch[fr, 0] >= ch[fr - 3 : fr + 4, 0].max() * 0.5
        assert ch[fr, CHANNELS.index("speed_in")] > ch[fr, CHANNELS.index("speed_out")]


def test_train_verifier_then_detect_with_it(drop_set, tmp_path):
    d, labels, truth = drop_set
    model, rep = train_verifier([(d, labels)], channels=True, l2=10.0)
    assert model.needs_channels and rep["clips"] == 2 and 0.2 <= model.threshold <= 0.8
    out = tmp_path / "v.json"
    out.write_text(model.to_json())
    ev = run_detector(d / "a.mp4", DetectorParams(verifier=str(out)))
    assert ev.params["detector"] == "inflection-training-free+verifier"
    hits = sum(any(abs(e.frame - t) <= 2 for e in ev.events) for t in truth["a"])
    assert hits == len(truth["a"])


def test_train_verifier_cli_and_errors(drop_set, tmp_path):
    d, labels, _ = drop_set
    out = tmp_path / "v.json"
    r = CliRunner().invoke(cli, ["train-verifier", "--videos", str(d), "--labels", str(labels), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "threshold" in r.output and load_verifier(out).needs_channels
    r = CliRunner().invoke(cli, ["train-verifier", "--videos", str(d), "--labels", str(labels), "-o", str(out)])
    assert r.exit_code != 0 and "exists" in r.output  # never overwritten without --force
    ev_json = tmp_path / "e.json"
    r = CliRunner().invoke(cli, ["detect", str(d / "a.mp4"), "--verifier", str(out), "--json", str(ev_json)])
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = CliRunner().invoke(cli, ["detect", str(d / "a.mp4"), "--verifier", str(bad)])
    assert r.exit_code == 2 and "not a verifier file" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["train-verifier", "--videos", str(d), "--videos", str(d), "--labels", str(labels),
                                 "-o", str(tmp_path / "w.json")])
    assert r.exit_code == 2 and "one --labels per --videos" in r.output
    with pytest.raises(InputError, match="not found"):
        load_verifier(tmp_path / "missing.json")
    r = CliRunner().invoke(cli, ["detect", str(d / "a.mp4"), "--verifier", str(out), "--event-mode", "objects"])
    assert r.exit_code == 2 and "frame events" in r.output


def test_shipped_verifier_loads_and_runs(drop_set):
    d, _, _ = drop_set
    assert DEFAULT_WEIGHTS.is_file()
    model = load_verifier("default")
    ev = run_detector(d / "a.mp4", DetectorParams(verifier="default"))
    assert ev.params["verifier_threshold"] == model.threshold


def test_candidates_near_dont_care_frames_are_left_out_of_the_fit():
    x, true = _spiky(0)
    cur = _curve(x)
    weak = list(range(33, 290, 27))  # the broad bumps, marked "don't care" instead of false
    c = clip_table("x", cur, true, channels=False, dont_care=weak)
    near = np.array([min(abs(int(k) - w) for w in weak) <= 2 for k in c.candidates])
    assert near.any() and (c.weights[near & (c.labels == 0)] == 0).all()
    assert (c.weights[c.labels == 1] == 1).all()
    plain = clip_table("x", cur, true, channels=False)
    assert (plain.weights == 1).all()
