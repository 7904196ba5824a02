"""DetectorParams.multiscale: the frame curve as the mean of two analysis sizes."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from motionclips import drops

from actiondubber.cli import cli
from actiondubber.detection.detector import (
    DetectorParams,
    combine_scales,
    multiscale_curve,
    run_detector,
    strength_curve,
)
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
    # one decode for both sizes, the passes at once: exactly the two passes made one after the other
    apart = combine_scales(a, b, 128, 192)
    for name in ("scores", "xs", "ys"):
        np.testing.assert_array_equal(getattr(both, name), getattr(apart, name))
    assert sum(ticks) == a.info.n_frames  # a bar sized to the frame count ends at 100 %
    ev = run_detector(path, p)
    assert ev.params["multiscale"] == 192
    assert all(any(abs(e.frame - t) <= 2 for e in ev.events) for t in truth)


def test_the_two_scales_run_at_once_and_a_failure_in_either_stops_both(clip):
    """The second scale's pass runs in a worker thread beside the first; an error raised in either pass (here by
    the progress callback, as a Ctrl-C would be) ends both at their next frame and reaches the caller."""
    import threading

    path, _ = clip
    both_running = threading.Event()

    def tick(k):
        if any(t.name.startswith("actiondubber-scale") for t in threading.enumerate()):
            both_running.set()

    multiscale_curve(path, DetectorParams(multiscale=192), progress=tick)
    assert both_running.is_set()

    calls = [0]

    def fail_soon(k):
        calls[0] += 1
        if calls[0] == 5:
            raise RuntimeError("stop here")

    n = strength_curve(path, DetectorParams()).info.n_frames
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="stop here"):
        multiscale_curve(path, DetectorParams(multiscale=192), progress=fail_soon)
    assert calls[0] < n // 2  # both passes stopped early (each ticks half a frame per decoded frame)
    assert not any(t.name.startswith("actiondubber-scale") for t in threading.enumerate())
    started = [t for t in threading.enumerate() if t not in before]
    for t in started:  # the one decoder and the passes' prefetchers end too
        t.join(5)
    assert not [t.name for t in started if t.is_alive()]


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


def test_the_default_detector_and_its_fitting_to_other_options():
    from actiondubber.detection.detector import (
        DEFAULT_DETECTOR,
        FAST_DETECTOR,
        SINGLE_SCALE_DETECTOR,
        detector_params,
    )

    assert (DEFAULT_DETECTOR.multiscale, DEFAULT_DETECTOR.abrupt, DEFAULT_DETECTOR.sensitivity) == (192, 2.0, 0.6)
    assert SINGLE_SCALE_DETECTOR == DetectorParams() and FAST_DETECTOR.multiscale == 0
    # the fast preset: one 128-px size, DIS ultrafast, one flow per pair, no deblocking, the event a frame on
    assert FAST_DETECTOR == DetectorParams(flow_preset="ultrafast", backward_flow=False, fast_decode=True,
                                           frame_offset=1)
    assert detector_params() == DEFAULT_DETECTOR and detector_params(sensitivity=0.3).multiscale == 192
    # options the second scale cannot go with switch it off, unless it was asked for
    assert detector_params(events="objects").multiscale == 0
    assert detector_params(short_side=192).multiscale == 0
    v = detector_params(verifier="default")
    assert v.multiscale == 0 and v.abrupt == 0.0
    with pytest.raises(ParameterError):
        detector_params(events="objects", multiscale=192)
    with pytest.raises(ParameterError):
        detector_params(colour="blue")
    assert detector_params(SINGLE_SCALE_DETECTOR, sensitivity=0.7) == DetectorParams(sensitivity=0.7)
    assert detector_params(FAST_DETECTOR, sensitivity=0.7).flow_preset == "ultrafast"


def test_cli_default_fast_and_options_over_them(clip, tmp_path):
    import json

    path, _ = clip
    r = CliRunner()
    seen = {}
    for name, extra in (("default", []), ("fast", ["--fast"]), ("fast_s", ["--fast", "-s", "0.7"]),
                        ("objects", ["--event-mode", "objects"])):
        out = tmp_path / f"{name}.json"
        res = r.invoke(cli, ["detect", str(path), "--json", str(out), *extra])
        assert res.exit_code == 0, res.output
        p = json.loads(out.read_text())["params"]
        seen[name] = (p["multiscale"], p["abrupt"], p["sensitivity"], p["events"], p["flow_preset"])
    assert seen == {"default": (192, 2.0, 0.6, "frame", "fast"), "fast": (0, 0.0, 0.5, "frame", "ultrafast"),
                    "fast_s": (0, 0.0, 0.7, "frame", "ultrafast"), "objects": (0, 2.0, 0.6, "objects", "fast")}
