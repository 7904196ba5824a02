"""Tests of the event preview (``actiondubber.exporters.review`` and ``actiondubber preview``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.audio.reader import read_audio_clip
from actiondubber.cli import cli
from actiondubber.errors import InputError, OutputError
from actiondubber.events import check_events_fit, save_events
from actiondubber.exporters import PreviewRenderer, preview_layout, render_preview
from actiondubber.exporters.review_frame import MARK_RGB
from actiondubber.synth import render_clip
from actiondubber.types import Event, Events
from actiondubber.video import iter_frames, probe

MARK = np.array(MARK_RGB, dtype=float)


def _events(info, spec, scores=None) -> Events:
    """Events for the video *info* at (frame, x, y) in *spec*, with a score curve peaking at them."""
    if scores is None:
        scores = np.full(info.n_frames, 0.1, np.float32)
        for f, _, _ in spec:
            scores[f] = 1.0
    evs = tuple(Event(f, info.time_of(f), float(scores[f]), x, y) for f, x, y in spec)
    return Events(info, evs, np.asarray(scores, np.float32), {"detector": "test"})


def _frame(path: Path, index: int) -> np.ndarray:
    for fr in iter_frames(path, short_side=None, pix_fmt="rgb24"):
        if fr.index == index:
            return fr.image
    raise AssertionError(f"frame {index} not in {path}")


def _dist(img: np.ndarray, x: float, y: float, k: int = 1) -> float:
    """Largest channel difference from the mark colour of the mean colour of the (2k+1)² pixels around (x, y)."""
    xi, yi = int(round(x)), int(round(y))
    patch = img[yi - k : yi + k + 1, xi - k : xi + k + 1].reshape(-1, 3).astype(float).mean(axis=0)
    return float(np.abs(patch - MARK).max())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("preview") / "c.mp4"
    render_clip(path, scene="juggle", seconds=2, size=(240, 180), seed=3)
    return path


# ---------------------------------------------------------------------- the video


def test_preview_keeps_frames_times_and_sound_and_marks_events(clip, tmp_path):
    info = probe(clip)
    assert info.has_audio
    spec = [(12, 60.0, 40.0), (40, 180.0, 120.0)]
    ev = _events(info, spec)
    out = tmp_path / "p.mp4"
    res = render_preview(clip, ev, out)
    got = probe(out)
    assert got.n_frames == info.n_frames == res.n_frames
    np.testing.assert_allclose(got.timestamps, info.timestamps, atol=1e-6)
    assert (got.width, got.height) == (240, 180 + res.layout.strip_height)
    assert res.layout.strip_height > 0 and got.has_audio and res.audio == clip
    for f, x, y in spec:
        before = _frame(clip, f)
        assert _dist(before, x, y) > 100  # the source is not mark-coloured there
        assert _dist(_frame(out, f)[:180], x, y) < 45  # the preview is
        assert _dist(_frame(out, f + 10)[:180], x, y) > 100  # and the mark has faded 10 frames later
    # the soundtrack is the source's, on the same clock
    a, b = read_audio_clip(clip), read_audio_clip(out)
    n = min(a.samples.size, b.samples.size)
    assert abs(b.start - a.start) < 0.01 and n > 0.9 * a.samples.size
    assert np.corrcoef(a.samples[:n], b.samples[:n])[0, 1] > 0.95


def test_no_audio_and_audio_from_another_file(clip, tmp_path, make_audio):
    info = probe(clip)
    ev = _events(info, [(20, 100.0, 90.0)])
    mute = tmp_path / "mute.mp4"
    render_preview(clip, ev, mute, audio=False)
    assert not probe(mute).has_audio and probe(mute).n_frames == info.n_frames
    tone = make_audio(tmp_path / "tone.m4a", seconds=3.0)  # a 440 Hz tone, longer than the video
    out = tmp_path / "dubbed.mp4"
    res = render_preview(clip, ev, out, audio=tone)
    assert res.audio == tone and probe(out).has_audio
    sound = read_audio_clip(out, sr=8000)
    spectrum = np.abs(np.fft.rfft(sound.samples))
    assert abs(np.argmax(spectrum) * 8000 / sound.samples.size - 440) < 5  # it is the tone, not the clip's impacts
    assert sound.duration < info.duration + 0.1  # cut at the video's end


def test_variable_frame_rate_odd_size_and_downscale(tmp_path):
    src = tmp_path / "vfr.mp4"
    render_clip(src, scene="bounce", seconds=1.5, size=(241, 181), seed=1, vfr=True, with_audio=False)
    info = probe(src)
    assert len(set(np.round(np.diff(info.timestamps), 4))) > 2  # really variable
    ev = _events(info, [(10, 120.0, 90.0)])
    out = tmp_path / "vfr_preview.mp4"
    res = render_preview(src, ev, out)
    got = probe(out)
    np.testing.assert_allclose(got.timestamps, info.timestamps, atol=1e-6)
    assert got.width == 242 and got.height % 2 == 0 and not got.has_audio  # even sizes for 4:2:0
    small = tmp_path / "small.mkv"
    res = render_preview(src, ev, small, max_width=120, png=tmp_path / "small.png")
    assert (probe(small).width, res.layout.height) == (120, 90)
    png = cv2.cvtColor(cv2.imread(str(tmp_path / "small.png")), cv2.COLOR_BGR2RGB)
    assert png.shape[:2] == (res.layout.frame_height, 120)
    assert _dist(png, 120.5 * 120 / 241 - 0.5, 90.5 * 90 / 181 - 0.5, k=0) == 0  # location scaled with the picture


# ---------------------------------------------------------------------- the drawing


def test_renderer_marks_fade_and_timeline():
    from actiondubber.types import VideoInfo

    n, w, h = 90, 320, 240
    times = np.arange(n) / 30.0
    info = VideoInfo("x.mp4", w, h, 30.0, n, 3.0, False, tuple(times))
    ev = _events(info, [(30, 100.0, 80.0), (60, None, None)])
    lay = preview_layout(w, h, None)
    r = PreviewRenderer(ev, times, lay, fade=0.3)
    rgb = np.full((h, w, 3), 90, np.uint8)
    on = r.render(rgb, 30)
    assert on.shape == (lay.frame_height, lay.frame_width, 3)
    assert tuple(on[80, 100]) == MARK_RGB and tuple(on[0, 0]) == MARK_RGB  # mark centre and border
    mid = r.render(rgb, 33)  # 0.1 s later: fading
    assert 90 < mid[0, 0, 0] < 255 and np.array_equal(mid[h // 2, w // 2], rgb[h // 2, w // 2])
    assert np.array_equal(r.render(rgb, 40)[:h], rgb)  # gone after the fade
    no_xy = r.render(rgb, 60)
    assert tuple(no_xy[0, 0]) == MARK_RGB and np.array_equal(no_xy[20 : h - 20, 20:-20], rgb[20:-20, 20:-20])
    strip = on[h:]
    assert (strip[:, w // 2] == 255).all(axis=1).sum() > lay.strip_height // 3  # the playhead
    # an event tick one second ahead of the playhead (event 2 at frame 60) in the strip of frame 30
    x_tick = int(round(w / 2 + 1.0 * w / (2 * 3.0)))
    col = strip[:, x_tick - 1 : x_tick + 2].reshape(-1, 3).astype(int)
    assert (np.abs(col - MARK * 0.75).max(axis=1) < 30).sum() > 10
    # the score curve: a peak at the playhead (frame 45, no event) draws a steep blue line, a flat curve does not
    def curve_pixels(scores) -> int:
        cols = PreviewRenderer(_events(info, [], scores=scores), times, lay).render(rgb, 45)[h:]
        cols = cols[:, w // 2 + 1 : w // 2 + 4].astype(int)
        return int((cols[..., 2] - cols[..., 0] > 100).sum())

    peaked = np.full(n, 0.1, np.float32)
    peaked[45] = 1.0
    assert curve_pixels(peaked) > curve_pixels(np.full(n, 0.5, np.float32)) + 10


def test_events_of_another_video_are_refused(clip):
    info = probe(clip)
    other = Events(
        type(info)("o.mp4", 240, 180, 30.0, info.n_frames + 5, 2.2, False, ()), (), np.zeros(0, np.float32), {}
    )
    with pytest.raises(InputError, match="another video"):
        check_events_fit(other, info, source="o.json")
    bad_frame = _events(info, [(5, 1.0, 1.0)])
    bad_frame = Events(info, (Event(info.n_frames + 3, 9.0, 1.0),), bad_frame.scores, {})
    with pytest.raises(InputError, match="beyond the end"):
        check_events_fit(bad_frame, info)


# ---------------------------------------------------------------------- the command line


def test_cli_runs_detector_and_writes_video_and_png(clip, tmp_path):
    out, png = tmp_path / "p.mp4", tmp_path / "shot.png"
    res = CliRunner().invoke(cli, ["preview", str(clip), "-o", str(out), "--png", str(png)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.stdout and probe(out).n_frames == probe(clip).n_frames
    img = cv2.imread(str(png))
    assert img is not None and img.shape[1] == 240 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_events_file_and_png_frame(clip, tmp_path):
    info = probe(clip)
    ev_file = tmp_path / "ev.json"
    save_events(_events(info, [(7, 50.0, 50.0), (30, 150.0, 100.0)]), ev_file)
    png = tmp_path / "f30.png"
    res = CliRunner().invoke(cli, ["preview", str(clip), "--events", str(ev_file), "--png", str(png),
                                   "--png-frame", "30"])
    assert res.exit_code == 0, res.output
    img = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    assert _dist(img, 150, 100, k=0) == 0 and _dist(img, 50, 50) > 100  # event 2's mark, not event 1's


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name or ".video" in p.name)


@pytest.mark.parametrize(
    "case",
    ["other_video", "same_as_input", "bad_format", "missing_video", "audio_without_sound", "png_frame_range",
     "not_events"],
)
def test_cli_bad_inputs_give_one_line_and_no_output(clip, tmp_path, make_video, case):
    info = probe(clip)
    out = tmp_path / "p.mp4"
    ev_file = tmp_path / "ev.json"
    args = ["preview", str(clip), "-o", str(out)]
    if case == "other_video":
        other = tmp_path / "other.mp4"
        make_video(other, n_frames=12)
        save_events(_events(probe(other), [(3, 5.0, 5.0)]), ev_file)
        args += ["--events", str(ev_file)]
        code, words = 2, "another video"
    elif case == "same_as_input":
        args = ["preview", str(clip), "--events", str(ev_file), "-o", str(clip)]
        save_events(_events(info, [(3, 5.0, 5.0)]), ev_file)
        code, words = 3, "same as the input"
    elif case == "bad_format":
        out = tmp_path / "p.gif"
        args = ["preview", str(clip), "-o", str(out)]
        code, words = 3, "unsupported"
    elif case == "missing_video":
        args = ["preview", str(tmp_path / "nope.mp4"), "-o", str(out)]
        code, words = 2, "not found"
    elif case == "audio_without_sound":
        silent = make_video(tmp_path / "silent.mp4", n_frames=10)
        args += ["--audio", str(silent)]
        code, words = 2, "no audio"
    elif case == "png_frame_range":
        out = tmp_path / "s.png"
        args = ["preview", str(clip), "--png", str(out), "--png-frame", str(info.n_frames)]
        code, words = 2, "out of range"
    else:
        ev_file.write_text('{"hello": 1}')
        args += ["--events", str(ev_file)]
        code, words = 2, "not an actiondubber events file"
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actiondubber: error:") and words in lines[0]
    assert not out.exists() or out == clip  # "same_as_input": the input is untouched, nothing else written
    assert _leftovers(tmp_path) == []


def test_usage_errors():
    assert CliRunner().invoke(cli, ["preview", "x.mp4"]).exit_code == 2
    assert CliRunner().invoke(cli, ["preview", "x.mp4", "-o", "p.mp4", "--audio", "a.wav", "--no-audio"]).exit_code == 2


def test_library_refuses_nothing_to_write(clip):
    with pytest.raises(OutputError):
        render_preview(clip, None, None)


def test_unwritable_folder_is_refused_before_any_work(clip, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if _writable(ro):
            pytest.skip("this user can write into read-only folders (root)")
        with pytest.raises(OutputError, match="not writable"):
            render_preview(clip, _events(probe(clip), []), ro / "p.mp4")
    finally:
        ro.chmod(0o700)


def _writable(folder: Path) -> bool:
    try:
        (folder / ".w").touch()
    except OSError:
        return False
    (folder / ".w").unlink()
    return True


def test_preview_of_a_real_clip():
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "greatesthits_stick_metal_bar.mp4"
    if not real.exists():
        pytest.skip(f"real clip not available: {real}")
    info = probe(real)
    ev = _events(info, [(25, info.width / 2, info.height / 2)])
    renderer = PreviewRenderer(ev, np.asarray(info.timestamps), preview_layout(info.width, info.height))
    img = renderer.render(_frame(real, 25), 25)
    assert _dist(img, info.width / 2, info.height / 2, k=0) == 0


# ---------------------------------------------------------------------- one rule, one muxer


def test_dub_export_and_review_share_one_events_rule(clip, tmp_path):
    """events.check_events_fit is the one rule: one frame apart fits everywhere, two frames apart nowhere."""
    from dataclasses import replace

    from actiondubber.dubbing import DubParams, dub
    from actiondubber.exporters.markers import with_video

    info = probe(clip)
    base = _events(info, [(10, 50.0, 60.0)])
    for shift, fits in ((1, True), (2, False)):
        video = replace(info, n_frames=info.n_frames + shift, timestamps=())
        ev = Events(video, base.events, np.resize(base.scores, video.n_frames), {})
        calls = {
            "dub": lambda ev=ev: dub(clip, tmp_path / "d.mp4", ev, params=DubParams(mix="replace")),
            "review": lambda ev=ev: render_preview(clip, ev, tmp_path / "r.mp4", audio=False),
            "export": lambda ev=ev: with_video(ev, clip),
        }
        for name, call in calls.items():
            if fits:
                call()
            else:
                with pytest.raises(InputError, match="events were made for another video") as err:
                    call()
                assert "\n" not in str(err.value), name


@pytest.mark.parametrize("bad", [dict(max_width=8), dict(window=0.0), dict(fade=-1.0), dict(window=float("inf"))])
def test_review_params_are_checked_when_made(clip, tmp_path, bad):
    from actiondubber.errors import ParameterError
    from actiondubber.exporters import ReviewParams

    with pytest.raises(ParameterError):
        ReviewParams(**bad)
    with pytest.raises(ParameterError):
        render_preview(clip, None, tmp_path / "p.mp4", **bad)
    assert list(tmp_path.iterdir()) == []


def test_review_with_sound_is_written_in_one_pass(clip, tmp_path, monkeypatch):
    """The review video and its soundtrack go through the one muxer: no intermediate video file is written."""
    import av

    info = probe(clip)
    ev = _events(info, [(10, 50.0, 60.0)])
    written: list[str] = []
    real_open = av.open

    def spy(file, mode="r", *args, **kwargs):
        if mode == "w":
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    res = render_preview(clip, ev, tmp_path / "r.mkv", max_width=120)
    assert res.audio == clip and len(written) == 1  # before: a temporary video, then a second file with sound
    got = probe(res.out)
    assert got.has_audio and got.n_frames == info.n_frames
