"""Tests of the synthetic clip generator (actiondubber.synth) and ``actiondubber synth``."""

from __future__ import annotations

import math

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.cli import cli
from actiondubber.errors import OutputError
from actiondubber.evaluate.labels import read_labels
from actiondubber.synth import SCENES, build_scene, frame_times, render_clip, write_labels_csv
from actiondubber.types import VideoInfo
from actiondubber.video import iter_frames, probe

TINY = (160, 120)


def _ball_bottoms(path, floor_y: float, centres: list[tuple[float, float]], radius: float) -> np.ndarray:
    """Lowest row (+1, continuous y) of the saturated ball blob below its expected centre, in each decoded frame.

    Walks down from the centre row while the rows near the centre column hold ball-coloured pixels, so
    compression specks or colour bleeding elsewhere in the picture cannot be mistaken for the ball.
    """
    out = []
    for f, (cx, cy) in zip(iter_frames(path, short_side=None, pix_fmt="rgb24"), centres, strict=True):
        hsv = cv2.cvtColor(f.image, cv2.COLOR_RGB2HSV)
        mask = (hsv[..., 1] > 150) & (hsv[..., 2] > 60)
        mask[int(floor_y) :] = False
        x0, x1 = max(0, int(cx - 0.6 * radius)), int(cx + 0.6 * radius) + 1
        row = int(cy)
        while row + 1 < mask.shape[0] and mask[row + 1, x0:x1].sum() >= 2:
            row += 1
        out.append(row + 1.0)
    return np.asarray(out)


def nearest_frame(times, t: float) -> int:
    """The clip's labelling rule, through the one time-to-frame lookup."""
    return VideoInfo("", 0, 0, 0.0, len(times), 0.0, False, tuple(times)).frame_at(t, "nearest")


def _decode_audio(path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        sr = stream.rate
        x = np.concatenate([f.to_ndarray().reshape(f.layout.nb_channels, -1)[0] for f in c.decode(stream)])
    return x.astype(np.float64), sr


def test_same_seed_same_clip_other_seed_other_clip(tmp_path):
    a = render_clip(tmp_path / "a.mp4", scene="bounce", seconds=2, size=TINY, seed=5, with_audio=False)
    b = render_clip(tmp_path / "b.mp4", scene="bounce", seconds=2, size=TINY, seed=5, with_audio=False)
    c = render_clip(tmp_path / "c.mp4", scene="bounce", seconds=2, size=TINY, seed=6, with_audio=False)
    assert a.collision_frames == b.collision_frames and a.collision_times == b.collision_times
    assert a.objects == b.objects and a.times == b.times
    assert a.collision_times != c.collision_times
    longer = build_scene("bounce", TINY, seed=5, t_end=6.0)  # a longer clip extends the same story
    assert [i.time for i in longer.impacts][: len(a.collision_times)] == list(a.collision_times)
    # the same pictures up to coding noise: the rendered frames are identical, and in a fresh process so are
    # the encoded bytes, but inside a long test session x264 was seen to code them differently now and then
    # (mean |difference| of the decoded pictures up to ~0.8 grey levels; another seed differs by > 5)
    fa, fb, fc = (np.stack([f.image.astype(np.int16) for f in iter_frames(x.path, short_side=None, pix_fmt="rgb24")])
                  for x in (a, b, c))
    assert fa.shape == fb.shape == fc.shape
    assert np.abs(fa - fb).mean() < 1.5 and np.abs(fa - fc).mean() > 5


@pytest.mark.parametrize("seed,vfr", [(0, False), (1, False), (2, True), (3, False)])
def test_contact_frame_shows_ball_on_floor(tmp_path, seed, vfr):
    kw = dict(scene="bounce", size=TINY, seed=seed, n_objects=1, kinds=("ball",))
    clip = render_clip(tmp_path / "ball.mp4", seconds=2.5, noise=2.0, vfr=vfr, **kw)
    assert clip.collisions, "a falling ball must land within 2.5 s"
    # the exact trajectory the clip was rendered from
    times, _ = frame_times(2.5, 30.0, vfr=vfr, seed=seed)
    assert tuple(times) == clip.times
    ball = build_scene(t_end=times[-1], **kw).projectiles[0]
    centres = [ball.state(t)[:2] for t in times]
    exact = np.array([y + ball.ext for _, y in centres])
    bottom = _ball_bottoms(clip.path, clip.floor_y, centres, ball.ext)
    assert len(bottom) == clip.n_frames
    # the decoded picture follows the physics in every frame (4:2:0 chroma may bleed a pixel or two)
    assert np.mean(np.abs(bottom - exact)) <= 1.0 and np.max(np.abs(bottom - exact)) <= 4.0
    for col in clip.collisions:
        f = col.frame
        assert col.surface == "floor" and abs(col.y - clip.floor_y) < 1e-6
        dt = max(np.diff(clip.times)[max(f - 1, 0) : f + 1])
        assert abs(clip.times[f] - col.time) <= dt / 2 + 1e-9  # the nearest frame in time
        # contact frame: at most half a frame of travel from the floor, in the physics and in the pixels
        v_out = -next(fl.vy for fl in ball.flights if fl.t0 == col.time)
        reach = max(col.speed, v_out) * dt / 2
        assert clip.floor_y - exact[f] <= reach + 1e-6
        assert clip.floor_y - bottom[f] <= reach + 4.0
        # falling until the last frame before the instant, rising from the first frame after it
        k = int(np.searchsorted(clip.times, col.time)) - 1
        assert f in (k, k + 1)
        assert exact[k - 1] < exact[k] and bottom[k - 1] <= bottom[k]
        if k + 2 < clip.n_frames:
            assert exact[k + 2] < exact[k + 1] and bottom[k + 2] <= bottom[k + 1]
    # between landings the ball is clearly in the air
    frames = (0,) + clip.labelled_frames
    for f0, f1 in zip(frames[:-1], frames[1:], strict=True):
        if f1 - f0 >= 6:
            assert np.nanmax(clip.floor_y - bottom[f0 + 2 : f1 - 1]) > 10


def test_probe_matches_clip(tmp_path):
    clip = render_clip(tmp_path / "p.mp4", scene="walls", seconds=2, fps=25, size=TINY, seed=1)
    info = probe(clip.path)
    assert (info.width, info.height) == TINY
    assert info.n_frames == clip.n_frames == 50
    assert info.fps == pytest.approx(25.0)
    assert info.has_audio
    assert np.allclose(info.timestamps, clip.times, atol=1e-3)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert all(0 <= f < clip.n_frames for f in clip.collision_frames)
    assert list(clip.collision_frames) == [nearest_frame(clip.times, t) for t in clip.collision_times]


def test_odd_size_and_fractional_rate(tmp_path):
    clip = render_clip(tmp_path / "odd.mp4", scene="juggle", seconds=1, fps=30000 / 1001, size=(161, 121), seed=2,
                       with_audio=False)
    info = probe(clip.path)
    assert (info.width, info.height) == (161, 121)
    assert info.n_frames == clip.n_frames == 30
    assert info.fps == pytest.approx(30000 / 1001, rel=1e-4)
    assert not info.has_audio
    frames = list(iter_frames(clip.path, short_side=None, pix_fmt="rgb24"))
    assert len(frames) == 30


def test_vfr_timestamps_are_irregular_and_true(tmp_path):
    clip = render_clip(tmp_path / "v.mp4", scene="bounce", seconds=3, fps=30, size=TINY, seed=4, vfr=True)
    d = np.diff(clip.times)
    assert clip.vfr and d.min() > 0
    assert d.max() / d.min() > 2.0  # jitter plus the slower middle third
    assert max(abs(t * clip.fps - i) for i, t in enumerate(clip.times)) > 2  # index != time * fps
    info = probe(clip.path)
    assert info.n_frames == clip.n_frames
    assert np.allclose(info.timestamps, clip.times, atol=2e-5)
    decoded = [f.time for f in iter_frames(clip.path)]
    assert np.allclose(decoded, clip.times, atol=2e-5)
    assert list(clip.collision_frames) == [nearest_frame(clip.times, t) for t in clip.collision_times]
    assert clip.fps == pytest.approx((clip.n_frames - 1) / clip.times[-1])


def test_frame_times_and_nearest_frame():
    times, pts = frame_times(2.0, 25.0)
    assert len(times) == 50 and pts == list(range(50)) and times[1] == pytest.approx(0.04)
    vt, vp = frame_times(2.0, 30.0, vfr=True, seed=3)
    assert vt == [p / 90000 for p in vp] and vt[-1] < 2.0 and all(np.diff(vp) > 0)
    assert frame_times(2.0, 30.0, vfr=True, seed=3) == (vt, vp)
    assert nearest_frame([0.0, 1.0, 2.0], 0.5) == 0  # tie: the earlier frame
    assert nearest_frame([0.0, 1.0, 2.0], 0.51) == 1
    assert nearest_frame([0.0, 1.0, 2.0], 7.0) == 2


def test_audio_knocks_start_at_collisions(tmp_path):
    clip = render_clip(tmp_path / "s.mp4", scene="walls", seconds=3, size=TINY, seed=3, noise=0)
    assert clip.has_audio and len(clip.collisions) >= 2
    x, sr = _decode_audio(clip.path)
    assert abs(len(x) / sr - (clip.times[-1] + 1 / clip.fps)) < 0.05
    env = np.abs(x)
    for col in clip.collisions:
        i = int(round(col.time * sr))
        assert env[i : i + int(0.03 * sr)].max() > 0.05  # a knock right at the collision
        assert env[max(0, i - int(0.05 * sr)) : i - int(0.004 * sr)].max() < 0.02 or any(
            0 < col.time - c.time < 0.4 for c in clip.collisions
        )  # silent just before it (unless an earlier knock still rings)
    # far from every collision the track is (nearly) silent
    quiet = np.ones(len(x), bool)
    for t in clip.collision_times:
        quiet[max(0, int((t - 0.01) * sr)) : int((t + 0.4) * sr)] = False
    assert quiet.any() and env[quiet].max() < 0.02
    # louder impacts make louder knocks
    peaks = [env[int(round(c.time * sr)) : int(round(c.time * sr)) + int(0.03 * sr)].max() for c in clip.collisions]
    speeds = [c.speed for c in clip.collisions]
    assert np.corrcoef(peaks, speeds)[0, 1] > 0.3


def test_no_audio_flag(tmp_path):
    clip = render_clip(tmp_path / "n.mp4", scene="bounce", seconds=1, size=TINY, seed=0, with_audio=False)
    assert not clip.has_audio and not probe(clip.path).has_audio


def test_pendulum_scene_moves_but_has_no_collisions(tmp_path):
    clip = render_clip(tmp_path / "pend.mp4", scene="pendulum", seconds=2, size=TINY, seed=1, noise=0)
    assert clip.collisions == () and clip.collision_frames == () and clip.objects == ()
    frames = [f.image.astype(np.int16) for f in iter_frames(clip.path, short_side=None, pix_fmt="rgb24")]
    assert np.abs(frames[0] - frames[15]).max() > 60  # the distractor really moves
    x, _ = _decode_audio(clip.path)
    assert np.abs(x).max() < 0.01  # and makes no sound
    assert build_scene("pendulum", TINY, seed=9, t_end=60).impacts == []


@pytest.mark.parametrize("scene", SCENES)
def test_scene_physics_is_exact_and_in_view(scene):
    model = build_scene(scene, (320, 240), seed=11, t_end=30.0)
    if scene == "pendulum":
        assert not model.impacts
        return
    assert len(model.impacts) >= 10
    assert [i.time for i in model.impacts] == sorted(i.time for i in model.impacts)
    for imp in model.impacts:
        p = model.projectiles[imp.obj]
        x, y, _ = p.state(imp.time)
        if imp.surface in ("floor", "paddle"):
            assert y + p.ext == pytest.approx(imp.y, abs=1e-6) and abs(x - imp.x) < 1e-6
        else:
            assert abs(x - imp.x) == pytest.approx(p.ext, abs=1e-6)
    world_floor = model.floor_y + (model.pan.my if model.pan else 0.0)
    for t in np.linspace(0, 30, 3001):
        ox, oy = model.view_offset(t)
        for p in model.projectiles:
            x, y, _ = p.state(t)
            assert y + p.ext <= world_floor + 1e-6
            assert y - p.ext >= oy - 1e-6 and ox <= x - p.ext and x + p.ext <= ox + model.width
    if scene == "walls":
        assert {"left", "right", "floor"} <= {i.surface for i in model.impacts}
    if scene == "juggle":
        assert {i.surface for i in model.impacts} == {"paddle"}


def test_camera_pan_shifts_whole_picture():
    model = build_scene("pan", (320, 240), seed=3, t_end=4.0, n_objects=1)
    assert model.pan is not None and model.background.shape[:2] == (model.world_h, model.world_w)

    def view(t_frame: float, t_offset: float) -> float:
        """Share of pixels of the frame at *t_frame* that equal the background seen from the camera at *t_offset*."""
        ox, oy = model.view_offset(t_offset)
        m = np.array([[1.0, 0.0, -ox], [0.0, 1.0, -oy]])
        bg = cv2.warpAffine(model.background, m, (model.width, model.height), flags=cv2.INTER_LINEAR)
        diff = np.abs(model.render(t_frame).astype(np.int16) - bg).max(axis=2)
        return float((diff <= 2).mean())

    (ox0, oy0), (ox1, oy1) = model.view_offset(0.0), model.view_offset(1.5)
    assert math.hypot(ox1 - ox0, oy1 - oy0) > 2
    assert view(1.5, 1.5) > 0.9  # background, floor and all move with the camera ...
    assert view(1.5, 0.0) < 0.5  # ... so the picture is not where it was at the start
    still = build_scene("bounce", (320, 240), seed=3, t_end=4.0)
    assert still.pan is None and still.view_offset(2.0) == (0.0, 0.0)


def test_motion_blur_and_stereo(tmp_path):
    clip = render_clip(tmp_path / "mb.mp4", scene="mixed", seconds=1, size=TINY, seed=2, motion_blur=3,
                       channels=2)
    assert probe(clip.path).n_frames == clip.n_frames == 30
    with av.open(clip.path) as c:
        assert c.streams.audio[0].channels == 2


def test_labels_csv_roundtrip(tmp_path):
    clips = [render_clip(tmp_path / f"clip{i}.mp4", scene=s, seconds=1.5, size=TINY, seed=i, with_audio=False)
             for i, s in enumerate(("bounce", "pendulum"))]
    out = write_labels_csv(tmp_path / "labels.csv", clips)
    labels = read_labels(out)
    assert set(labels.videos) == {"clip0", "clip1"}
    assert labels.videos["clip0"].frames == clips[0].labelled_frames and labels.videos["clip0"].label_class == "bounce"
    assert labels.videos["clip1"].frames == () and labels.videos["clip1"].label_class == "pendulum"
    with pytest.raises(OutputError):
        write_labels_csv(clips[0].path, clips)


def test_errors(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        render_clip(tmp_path / "missing" / "x.mp4", seconds=1, size=TINY)
    with pytest.raises(ValueError, match="unknown scene"):
        render_clip(tmp_path / "x.mp4", scene="nope", seconds=1, size=TINY)
    with pytest.raises(ValueError, match="too small"):
        render_clip(tmp_path / "x.mp4", seconds=1, size=(20, 20))
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_cli_synth(tmp_path):
    out, labels = tmp_path / "cli.mp4", tmp_path / "cli.csv"
    runner = CliRunner()
    res = runner.invoke(cli, ["synth", str(out), "--scene", "walls", "--seconds", "2", "--size", "160x120",
                              "--seed", "4", "--fps", "25", "--labels", str(labels)], obj={})
    assert res.exit_code == 0, res.output
    clip = render_clip(tmp_path / "ref.mp4", scene="walls", seconds=2, size=TINY, seed=4, fps=25)
    assert probe(out).n_frames == 50
    for c in clip.collisions:
        assert f"{c.frame}\t{c.time:.4f}\t" in res.output
    assert read_labels(labels).videos["cli"].frames == clip.labelled_frames
    res = runner.invoke(cli, ["synth", str(tmp_path / "v.mp4"), "--vfr", "--no-audio", "--seconds", "1",
                              "--size", "160x120", "--scene", "pendulum"], obj={})
    assert res.exit_code == 0 and "variable" in res.output and "0 collision" in res.output
    assert not probe(tmp_path / "v.mp4").has_audio
    res = runner.invoke(cli, ["synth", str(tmp_path / "x.mp4"), "--size", "big"], obj={})
    assert res.exit_code != 0 and "WIDTHxHEIGHT" in res.output
    res = runner.invoke(cli, ["synth", str(tmp_path / "nodir" / "x.mp4")], obj={})
    assert res.exit_code == 3 and "does not exist" in res.output


@pytest.mark.parametrize("bad", [dict(scene="nope"), dict(size=(20, 20)), dict(fps=0.5), dict(channels=3),
                                 dict(n_objects=9), dict(kinds=("cube",)), dict(noise=-1.0), dict(shutter=2.0)])
def test_clip_params_are_checked_when_made(tmp_path, bad):
    from actiondubber.errors import ParameterError
    from actiondubber.synth import ClipParams

    with pytest.raises(ParameterError):
        ClipParams(**bad)
    with pytest.raises(ParameterError):
        render_clip(tmp_path / "x.mp4", **bad)
    assert list(tmp_path.iterdir()) == []


def test_clip_params_and_keywords_render_the_same_clip(tmp_path):
    from actiondubber.synth import ClipParams

    a = render_clip(tmp_path / "a.mp4", ClipParams(scene="walls", seconds=1, size=TINY, seed=2, with_audio=False))
    b = render_clip(tmp_path / "b.mp4", scene="walls", seconds=1, size=TINY, seed=2, with_audio=False)
    assert a.collisions == b.collisions and a.times == b.times
    with pytest.raises(TypeError):
        render_clip(tmp_path / "c.mp4", ClipParams(), seed=3)


@pytest.mark.parametrize("ahead", [True, False])
def test_progress_ends_when_the_file_is_written(tmp_path, monkeypatch, ahead):
    """The progress count reaches the frame count only once the clip is encoded: a clip rendered whole
    first counts half of it by the time the encoder starts; a streamed one counts as it goes."""
    import actiondubber.synth.clip as clip_mod

    if not ahead:
        monkeypatch.setattr(clip_mod, "RENDER_AHEAD_BYTES", 0)
    ticks: list[int] = []
    at_encoder_start: list[int] = []
    real_write = clip_mod.write_video

    def write_video(out, pictures, *a, **kw):
        at_encoder_start.append(sum(ticks))
        return real_write(out, pictures, *a, **kw)

    monkeypatch.setattr(clip_mod, "write_video", write_video)
    clip = render_clip(tmp_path / "p.mp4", scene="bounce", seconds=1, size=TINY, seed=2, with_audio=False,
                       progress=ticks.append)
    assert sum(ticks) == clip.n_frames == probe(clip.path).n_frames
    assert at_encoder_start == [clip.n_frames // 2 if ahead else 0]
