"""DetectorParams.multiscale: the frame curve as the mean of two analysis sizes."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from motionclips import drops

from actiondubber.cli import cli
from actiondubber.detection.detector import DetectorParams, multiscale_curve, run_detector, strength_curve
from actiondubber.errors import ParameterError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("ms") / "drops.mp4"
    return p, drops(p, 3, xs=(40,))


def test_multiscale_curve_is_the_mean_of_both_sizes_and_ticks_once_per_frame(clip):
    path, truth = clip
    p = DetectorParams(multiscale=192)
    ticks = []
    both = multiscale_curve(path, p, progress=ticks.append)
    a = strength_curve(path, DetectorParams(short_side=128))
    b = strength_curve(path, DetectorParams(short_side=192))
    np.testing.assert_allclose(both.scores, 0.5 * (a.scores + b.scores * 128 / 192), rtol=1e-5, atol=1e-6)
    assert sum(ticks) == a.info.n_frames  # a bar sized to the frame count ends at 100 %
    ev = run_detector(path, p)
    assert ev.params["multiscale"] == 192
    assert all(any(abs(e.frame - t) <= 2 for e in ev.events) for t in truth)


@pytest.mark.parametrize("bad", [{"multiscale": 8}, {"multiscale": 128}, {"multiscale": 192, "events": "objects"},
                                 {"multiscale": 192, "short_side": None}])
def test_bad_multiscale_settings_are_refused(bad):
    with pytest.raises(ParameterError):
        DetectorParams(**bad)


def test_cli_multiscale(clip, tmp_path):
    path, _ = clip
    r = CliRunner().invoke(cli, ["detect", str(path), "--multiscale", "192", "--json", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["detect", str(path), "--multiscale", "128"])
    assert r.exit_code == 2 and "--multiscale" in r.output
