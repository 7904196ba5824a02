"""Zero-shot counting: count_actions (audible events, motion reversals), evaluate_counts, the count CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from motionclips import FPS, drops, swings

from actiondubber.cli import cli
from actiondubber.detection.count import count_actions, count_reversals
from actiondubber.errors import ParameterError
from actiondubber.evaluate.counting import evaluate_counts


@pytest.fixture(scope="module")
def drop_clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("count") / "drops.mp4"
    return p, drops(p, n_drops=3)


@pytest.fixture(scope="module")
def swing_clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("count") / "swing.mp4"
    return p, swings(p, periods=4)


def test_counts_the_drops(drop_clip):
    path, landings = drop_clip
    res = count_actions(path)
    assert res.mode == "audible"
    assert res.count == len(landings) == 3
    assert all(min(abs(f - g) for g in landings) <= 1 for f in res.frames)


def test_segment_limits_the_count(drop_clip):
    path, landings = drop_clip
    end = (landings[1] + 0.5) / FPS  # the first two landings only
    res = count_actions(path, start=0.0, end=end)
    assert res.count == 2
    assert res.end == pytest.approx(end)
    assert all(t <= end for t in res.times)


def test_reversal_counting_counts_repetitions(swing_clip):
    path, periods = swing_clip
    res = count_actions(path, mode="reversals")
    assert res.reversals is not None
    assert res.count == periods  # 2 reversals per out-and-back
    assert res.reversals in (2 * periods - 1, 2 * periods)


def test_reversals_of_repeated_drops(drop_clip):
    path, landings = drop_clip  # fall, rest, rise, repeat: each drop is one out-and-back
    assert count_actions(path, mode="reversals").count == len(landings)


def test_count_reversals_on_a_signal():
    t = np.arange(120)
    vel = np.stack([np.cos(2 * np.pi * t / 30), 0.5 * np.cos(2 * np.pi * t / 30)], axis=1)  # diagonal swing
    assert len(count_reversals(vel)) == 8
    assert count_reversals(np.zeros((50, 2))) == []


def test_bad_segment_and_mode(drop_clip):
    path, _ = drop_clip
    with pytest.raises(ParameterError):
        count_actions(path, start=2.0, end=1.0)
    with pytest.raises(ParameterError):
        count_actions(path, start=100.0)
    with pytest.raises(ParameterError):
        count_actions(path, mode="nope")


def test_evaluate_counts():
    cs = evaluate_counts({"a": 3, "b": 5, "c": 0, "x": 9}, {"a": 3, "b": 3, "c": 0})
    assert cs.n_videos == 3
    assert cs.mean_abs_error == pytest.approx(2 / 3)
    assert cs.mae == pytest.approx((0 + 2 / 3) / 2)  # c has no true events: no relative error
    assert cs.obo == pytest.approx(2 / 3)
    assert math.isnan(evaluate_counts({}, {"a": 1}).mae)


def test_cli_count_json_labels_and_force(drop_clip, tmp_path):
    path, landings = drop_clip
    labels = tmp_path / "labels.csv"
    labels.write_text(f'video_id,sound_label,class\n{path.stem},"{",".join(map(str, landings))}",drop\n')
    out = tmp_path / "count.json"
    r = CliRunner().invoke(cli, ["count", str(path), "--json", str(out), "--labels", str(labels)])
    assert r.exit_code == 0, r.output
    assert "\t3\taudible" in r.output and "OBO 1.000" in r.output
    data = json.loads(out.read_text())
    assert data["count"] == 3 and len(data["frames"]) == 3
    r = CliRunner().invoke(cli, ["count", str(path), "--json", str(out)])
    assert r.exit_code != 0 and "--force" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["count", str(path), "--start", "5", "--end", "1"])
    assert r.exit_code != 0 and r.output.count("\n") == 1


def test_cli_count_fast_is_the_fast_preset():
    import dataclasses
    from pathlib import Path

    from actiondubber.detection import detect
    from actiondubber.detection.detector import FAST_DETECTOR

    clip = Path(__file__).resolve().parents[1] / "examples" / "bouncing_balls.mp4"
    r = CliRunner()
    fast = r.invoke(cli, ["count", str(clip), "--fast"])
    default = r.invoke(cli, ["count", str(clip)])
    assert fast.exit_code == 0 and default.exit_code == 0, (fast.output, default.output)
    n_fast, n_default = (int(res.output.split("\t")[1]) for res in (fast, default))
    assert n_fast == len(detect(clip, **dataclasses.asdict(FAST_DETECTOR)).events)
    assert n_default == len(detect(clip).events)


def test_cli_count_applies_given_options_over_the_default_and_the_presets():
    """``count -s`` / ``--event-mode`` are applied over the default or a preset as ``detect`` applies them
    (per-object events switch the default's second scale off)."""
    from pathlib import Path

    from actiondubber.detection import PRESETS, detect

    clip = Path(__file__).resolve().parents[1] / "examples" / "bouncing_balls.mp4"
    r = CliRunner()
    for argv, want in ((["-s", "0.8"], {"sensitivity": 0.8}),
                       (["--event-mode", "objects"], {"events": "objects"}),
                       (["--fast", "-s", "0.8"], {**vars(PRESETS["fast"]), "sensitivity": 0.8})):
        res = r.invoke(cli, ["count", str(clip), *argv])
        assert res.exit_code == 0, res.output
        assert int(res.output.split("\t")[1]) == len(detect(clip, **want).events), argv
