"""The fastest preset (``--fastest``): one flow per frame pair, 96 px, DIS ultrafast, events one frame on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from motionclips import drops

from actiondubber.cli import cli
from actiondubber.detection.detector import FASTEST_DETECTOR, DetectorParams, run_detector, strength_curve
from actiondubber.errors import ParameterError
from actiondubber.kinematics import iter_kinematics
from actiondubber.kinematics.flow import DISFlow
from actiondubber.video import iter_frames

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("fastest") / "drops.mp4"
    return p, drops(p, 3, xs=(40,))


class _Counting:
    """A real DIS backend that counts its calls."""

    name = "dis"

    def __init__(self) -> None:
        self.flow = DISFlow(preset="ultrafast")
        self.calls = 0

    def calc(self, a, b):
        self.calls += 1
        return self.flow.calc(a, b)


def test_without_backward_flow_one_flow_per_pair_and_the_backward_is_the_negated_forward(clip):
    path, _ = clip
    frames = list(iter_frames(path, short_side=96))
    be, be2 = _Counting(), _Counting()
    kins = list(iter_kinematics(iter(frames), be, backend_bwd=be2, bidirectional=False, compensate_model="none"))
    assert be.calls == len(frames) - 1 and be2.calls == 0
    fwd = [DISFlow(preset="ultrafast").calc(frames[i].image, frames[i + 1].image) for i in range(len(frames) - 1)]
    for k in kins[:5]:  # v− of frame i is −(forward flow i−1 → i), v+ the forward flow i → i+1
        np.testing.assert_allclose(k.v_minus, -fwd[k.index - 1], atol=1e-5)
        np.testing.assert_allclose(k.v_plus, fwd[k.index], atol=1e-5)


def test_the_knob_reaches_the_curve_and_the_preset_finds_the_drops(clip):
    path, truth = clip
    both = strength_curve(path, DetectorParams(short_side=96, flow_preset="ultrafast"))
    one = strength_curve(path, DetectorParams(short_side=96, flow_preset="ultrafast", backward_flow=False))
    assert both.scores.shape == one.scores.shape and not np.allclose(both.scores, one.scores)
    ev = run_detector(path, FASTEST_DETECTOR)
    assert ev.params["backward_flow"] is False and ev.params["short_side"] == 96
    assert all(any(abs(e.frame - t) <= 2 for e in ev.events) for t in truth)


def test_skip_deblock_decodes_every_frame_close_to_the_filtered_picture():
    example = Path(__file__).resolve().parents[1] / "examples" / "bouncing_balls.mp4"
    a = list(iter_frames(example, short_side=96))
    b = list(iter_frames(example, short_side=96, skip_deblock=True))
    assert [f.time for f in a] == [f.time for f in b] and len(a) == 150
    diff = np.array([np.abs(x.image.astype(np.float32) - y.image).mean() for x, y in zip(a, b, strict=True)])
    assert 0.0 < diff.mean() < 2.0  # the filter was skipped (0.89 grey levels measured), and only it


def test_edge_gate_needs_the_backward_flow():
    with pytest.raises(ParameterError, match="backward flow"):
        DetectorParams(edge_gate=True, backward_flow=False)


def test_cli_fastest_and_options_over_it(clip, tmp_path):
    path, _ = clip
    r = CliRunner()
    seen = {}
    for name, extra in (("fastest", ["--fastest"]), ("fastest_s", ["--fastest", "-s", "0.7"]),
                        ("fastest_128", ["--fastest", "--short-side", "128"])):
        out = tmp_path / f"{name}.json"
        res = r.invoke(cli, ["detect", str(path), "--json", str(out), *extra])
        assert res.exit_code == 0, res.output
        p = json.loads(out.read_text())["params"]
        seen[name] = (p["multiscale"], p["abrupt"], p["sensitivity"], p["short_side"], p["flow_preset"],
                      p["backward_flow"], p["frame_offset"], p["fast_decode"])
    assert seen == {"fastest": (0, 0.0, 0.5, 96, "ultrafast", False, 1, True),
                    "fastest_s": (0, 0.0, 0.7, 96, "ultrafast", False, 1, True),
                    "fastest_128": (0, 0.0, 0.5, 128, "ultrafast", False, 1, True)}


@pytest.mark.parametrize("extra", [["--fast", "--fastest"], ["--fastest", "--edge-gate"]])
def test_cli_fastest_conflicts_are_one_line(clip, extra, tmp_path):
    path, _ = clip
    out = tmp_path / "e.json"
    res = CliRunner().invoke(cli, ["detect", str(path), "--json", str(out), *extra])
    assert res.exit_code != 0 and res.output.strip().count("\n") == 0, res.output
    assert "Traceback" not in res.output and not out.exists()


def test_cli_count_fastest_is_the_preset():
    example = Path(__file__).resolve().parents[1] / "examples" / "bouncing_balls.mp4"
    res = CliRunner().invoke(cli, ["count", str(example), "--fastest"])
    assert res.exit_code == 0, res.output
    assert int(res.output.split("\t")[1]) == len(run_detector(example, FASTEST_DETECTOR).events)
    res = CliRunner().invoke(cli, ["count", str(example), "--fastest", "--fast"])
    assert res.exit_code != 0


@pytest.mark.skipif(not (REAL / "vas_drum_snare_overhead.mp4").exists(), reason="../shared/data/real not present")
def test_fastest_on_a_real_drum_clip():
    from actiondubber.evaluate import score
    from actiondubber.evaluate.labels import read_labels

    video = REAL / "vas_drum_snare_overhead.mp4"
    ev = run_detector(video, FASTEST_DETECTOR)
    truth = read_labels(REAL / "labels_audio_onsets.csv").videos[video.stem].frames
    rep = score({video.stem: ev}, {video.stem: truth})
    assert rep.aggregate.strict_pooled["2f"].f1 >= 0.8  # 0.902 measured


@pytest.mark.skipif(not (REAL / "vas_drum_snare_overhead.mp4").exists(), reason="../shared/data/real not present")
def test_fast_preset_on_a_real_drum_clip():
    """The stop-30 ``--fast`` (128 px, ultrafast, one flow per pair) on real footage, end to end."""
    from actiondubber.detection.detector import FAST_DETECTOR
    from actiondubber.evaluate import score
    from actiondubber.evaluate.labels import read_labels

    video = REAL / "vas_drum_snare_overhead.mp4"
    ev = run_detector(video, FAST_DETECTOR)
    assert ev.params["flow_preset"] == "ultrafast" and ev.params["backward_flow"] is False
    truth = read_labels(REAL / "labels_audio_onsets.csv").videos[video.stem].frames
    rep = score({video.stem: ev}, {video.stem: truth})
    assert rep.aggregate.strict_pooled["2f"].f1 >= 0.8  # 0.885 measured


def test_api_presets(clip):
    import actiondubber
    from actiondubber.detection.detector import FAST_DETECTOR

    path, _ = clip
    ev = actiondubber.detect(path, preset="fastest", sensitivity=0.7)
    assert ev.params["short_side"] == 96 and ev.params["fast_decode"] is True and ev.params["sensitivity"] == 0.7
    fast = actiondubber.detect(path, preset="fast").params
    assert fast["multiscale"] == FAST_DETECTOR.multiscale == 0 and fast["flow_preset"] == "ultrafast"
    with pytest.raises(ParameterError, match="preset"):
        actiondubber.detect(path, preset="quickest")


@pytest.mark.parametrize("codec, ext, pix_fmt, options", [
    ("libx264", "mp4", "yuv420p", {"bf": "2"}),
    ("libx265", "mkv", "yuv420p10le", None),
    ("libvpx-vp9", "webm", "yuv420p", {"deadline": "good", "cpu-used": "8", "auto-alt-ref": "1",
                                       "lag-in-frames": "10"}),
    ("mpeg4", "avi", "yuv420p", {"bf": "2", "g": "10"}),
])
def test_skip_deblock_keeps_every_frame_and_time(tmp_path, make_video, video_times, decode_frame_index,
                                                 codec, ext, pix_fmt, options):
    import av

    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} codec")
    p = make_video(tmp_path / f"c.{ext}", 20, (192, 108), 25, codec=codec, pix_fmt=pix_fmt, options=options)
    plain = list(iter_frames(p, short_side=None))
    fast = list(iter_frames(p, short_side=None, skip_deblock=True))
    assert [f.time for f in fast] == [f.time for f in plain]
    assert [decode_frame_index(f.image) for f in fast] == list(range(20))


@pytest.mark.parametrize("name", ["fast", "fastest"])
def test_the_help_texts_flags_rebuild_the_preset(name):
    """--fast / --fastest say in their help which options they stand for; those options, given over the default,
    must give the preset itself (the help is written from the preset, so it cannot drift from it)."""
    import shlex

    import click

    from actiondubber.cli.options import detector_options, pop_detector_params, preset_flags
    from actiondubber.detection import PRESETS

    got = {}

    @click.command()
    @detector_options
    def probe_cmd(**kwargs):
        got["params"] = pop_detector_params(kwargs)

    flags = preset_flags(PRESETS[name])
    help_text = "".join(CliRunner().invoke(probe_cmd, ["--help"]).output.split())  # wrapping may split a flag
    assert flags and f"({flags})".replace(" ", "") in help_text
    for argv in (shlex.split(flags), [f"--{name}"]):
        res = CliRunner().invoke(probe_cmd, argv)
        assert res.exit_code == 0, res.output
        assert got.pop("params") == PRESETS[name]
    assert preset_flags(PRESETS["default"]) == ""


def test_cli_preset_by_name_is_the_flag(clip, tmp_path):
    """``--preset NAME`` (the name the API and the review page use) is the same detector as ``--fast`` /
    ``--fastest`` / no flag; options given with it still apply; two preset choices at once fail with one line."""
    path, _ = clip
    r = CliRunner()

    def params(*extra):
        out = tmp_path / f"p{len(list(tmp_path.iterdir()))}.json"
        res = r.invoke(cli, ["detect", str(path), "--json", str(out), *extra])
        assert res.exit_code == 0, res.output
        return json.loads(out.read_text())["params"]

    assert params("--preset", "fastest") == params("--fastest")
    assert params("--preset", "fast", "-s", "0.7") == params("--fast", "-s", "0.7")
    assert params("--preset", "default") == params()
    res = r.invoke(cli, ["detect", str(path), "--preset", "fast", "--fastest"])
    assert res.exit_code != 0 and res.output.strip().count("\n") == 0 and "Traceback" not in res.output
    res = r.invoke(cli, ["detect", str(path), "--preset", "quickest"])
    assert res.exit_code != 0 and "quickest" in res.output
    example = Path(__file__).resolve().parents[1] / "examples" / "bouncing_balls.mp4"
    a, b = (r.invoke(cli, ["count", str(example), *flag]) for flag in (["--preset", "fastest"], ["--fastest"]))
    assert a.exit_code == 0 and a.output == b.output
