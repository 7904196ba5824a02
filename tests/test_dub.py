"""Tests of the dub package: built-in sounds, sound files, placement and mixing, the dubbed file, the CLI.

End-to-end tests render tiny synthetic clips (25 fps, 29.97 fps, variable
rate) with known collision instants, dub them with events at those instants,
decode the result and find the onsets of the new soundtrack with a plain
amplitude first-crossing, which must land within 5 ms of the events.
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import correlate

from actiondubber.audio.reader import read_audio_clip
from actiondubber.cli import cli
from actiondubber.dubbing import (
    BUILTIN_SOUNDS,
    DubParams,
    Sound,
    choose,
    dub,
    limit,
    load_sound_dir,
    load_sound_file,
    render_mix,
    resolve_sounds,
    synthesize,
)
from actiondubber.dubbing.place import db, duck_envelope, pan_gains, score_gains
from actiondubber.errors import InputError, OutputError
from actiondubber.evaluate.metrics import match_events
from actiondubber.events import check_events_fit, save_events
from actiondubber.synth import render_clip
from actiondubber.types import Event, Events
from actiondubber.video import probe

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SR = 48000
TOL = 0.005  # onsets within 5 ms of the events


# --------------------------------------------------------------------------- helpers


def onsets(y: np.ndarray, sr: int, *, rel: float = 0.1, rearm: float = 0.05) -> np.ndarray:
    """Times (s) where |y| first rises above *rel* x its peak after at least *rearm* s below it."""
    env = np.abs(np.atleast_2d(y)).max(axis=0)
    idx = np.flatnonzero(env > rel * env.max())
    if idx.size == 0:
        return np.zeros(0)
    starts = idx[np.concatenate([[True], np.diff(idx) > rearm * sr])]
    return starts / sr


def video_clock_onsets(path: Path, **kw) -> np.ndarray:
    """Onsets of *path*'s soundtrack on its video's clock (0 = first frame)."""
    clip = read_audio_clip(path, sr=SR)
    return onsets(clip.samples, SR, **kw) + clip.start


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def events_at(path: Path, times, frames=None, scores=None, xs=None) -> Events:
    info = probe(path)
    frames = frames or [info.frame_at(t) for t in times]
    scores = scores or [1.0] * len(times)
    xs = xs or [None] * len(times)
    return Events(info, tuple(Event(f, t, s, x) for f, t, s, x in zip(frames, times, scores, xs, strict=True)))


def assert_onsets_match(found: np.ndarray, times) -> None:
    pairs = match_events(list(times), list(found), TOL)
    assert len(pairs) == len(times) == len(found), f"onsets {found} vs events {list(times)}"
    errs = [abs(found[j] - times[i]) for i, j in pairs]
    assert max(errs) <= TOL


def no_temp_files(folder: Path) -> bool:
    return not any(".part" in p.name for p in folder.iterdir())


QUIET = DubParams(mix="replace", score_gain=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    """Three tiny bouncing-ball clips with soundtracks: 25 fps, 29.97 fps and variable frame rate."""
    d = tmp_path_factory.mktemp("dubclips")
    out = {}
    for name, kw in {"25": dict(fps=25), "2997": dict(fps=30000 / 1001), "vfr": dict(fps=30, vfr=True)}.items():
        clip = render_clip(d / f"clip{name}.mp4", scene="bounce", seconds=2.0, size=(96, 64), seed=1, n_objects=1,
                           **kw)
        assert len(clip.collision_times) >= 2
        out[name] = clip
    return out


# --------------------------------------------------------------------------- built-in sounds


@pytest.mark.parametrize("name", BUILTIN_SOUNDS)
def test_builtin_sounds_are_deterministic_sharp_and_clean(name):
    a, b, c = synthesize(name, SR, seed=3), synthesize(name, SR, seed=3), synthesize(name, SR, seed=4)
    assert isinstance(a, Sound) and a.samples.dtype == np.float32 and a.samples.shape[0] == 1
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)
    y = a.samples[0]
    assert np.all(np.isfinite(y)) and abs(np.abs(y).max() - 1.0) < 1e-6
    assert np.flatnonzero(np.abs(y) > 0.1)[0] < 0.002 * SR  # the attack is at the start
    assert np.abs(y[-10:]).max() < 1e-3  # faded out, no click at the end
    assert 0.02 < a.duration < 2.0


def test_builtin_sound_timbres_differ_and_names_resolve():
    spectra = {}
    for name in BUILTIN_SOUNDS:
        y = synthesize(name, SR).samples[0]
        spec = np.abs(np.fft.rfft(y, 1 << 16))
        spectra[name] = float((spec * np.fft.rfftfreq(1 << 16, 1 / SR)).sum() / spec.sum())  # spectral centroid
    assert spectra["thud"] < spectra["knock"] < spectra["click"]
    assert len({round(v) for v in spectra.values()}) == len(BUILTIN_SOUNDS)
    assert synthesize("Metallic").name == "metal"
    with pytest.raises(ValueError, match="unknown built-in sound"):
        synthesize("tuba")


# --------------------------------------------------------------------------- sound files


def write_sound(path: Path, codec: str, *, lead: float = 0.05, sr: int = 44100, stereo: bool = False) -> Path:
    """Write *lead* s of silence then a knock, with PyAV (Opus at 48 kHz)."""
    sr = 48000 if codec == "libopus" else sr
    y = synthesize("knock", sr).samples[0] * 0.5
    y = np.concatenate([np.zeros(int(lead * sr), np.float32), y, np.zeros(int(0.05 * sr), np.float32)])
    data = np.stack([y, 0.5 * y]) if stereo else y[None, :]
    layout = "stereo" if stereo else "mono"
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=sr, layout=layout)
        frame_size = {"libmp3lame": 1152, "libopus": 960}.get(codec, 1024)
        for a in range(0, data.shape[1], frame_size):
            chunk = np.ascontiguousarray(data[:, a : a + frame_size])
            f = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            f.sample_rate, f.pts, f.time_base = sr, a, Fraction(1, sr)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize("ext,codec", [(".wav", "pcm_s16le"), (".flac", "flac"), (".ogg", "libopus"),
                                       (".mp3", "libmp3lame")])
def test_sound_files_decode_trimmed_and_normalised(tmp_path, ext, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {codec} encoder")
    p = write_sound(tmp_path / f"knock{ext}", codec, stereo=ext == ".flac")
    s = load_sound_file(p, SR)
    assert s.sr == SR and s.name == "knock"
    assert s.channels == (2 if ext == ".flac" else 1)
    assert abs(np.abs(s.samples).max() - 1.0) < 1e-5
    ref = synthesize("knock", SR).samples[0]
    # the 50 ms of silence before the knock is gone: the attack is at the start (lossy codecs smear it a little)
    lossy = ext in (".ogg", ".mp3")
    assert np.argmax(np.abs(s.samples[0]) > 0.1) < (TOL if lossy else 0.0015) * SR
    assert 0.15 * SR < s.samples.shape[1] <= ref.size + 0.005 * SR  # trailing silence gone too


def test_sound_file_that_is_not_audio_is_a_clear_error(tmp_path, make_video):
    bad = tmp_path / "knock.wav"
    bad.write_text("this is not a sound\n")
    with pytest.raises(InputError, match=r"knock\.wav: not a usable sound file"):
        load_sound_file(bad)
    mute = make_video(tmp_path / "mute.mp4", n_frames=5)
    with pytest.raises(InputError, match="no audio stream"):
        load_sound_file(mute)
    silent = tmp_path / "silent.wav"
    with av.open(str(silent), "w") as out:
        s = out.add_stream("pcm_s16le", rate=SR, layout="mono")
        f = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        f.sample_rate, f.pts = SR, 0
        out.mux(s.encode(f))
        out.mux(s.encode(None))
    with pytest.raises(InputError, match="only silence"):
        load_sound_file(silent)
    with pytest.raises(InputError, match="not found"):
        load_sound_file(tmp_path / "missing.wav")


def test_sound_dir_and_resolve(tmp_path):
    d = tmp_path / "foley"
    d.mkdir()
    write_sound(d / "b_hit.wav", "pcm_s16le")
    write_sound(d / "a_hit.flac", "flac")
    (d / "README.txt").write_text("not a sound")
    sounds = load_sound_dir(d, SR)
    assert [s.name for s in sounds] == ["a_hit", "b_hit"]
    assert [s.name for s in resolve_sounds("ignored", d, sr=SR)] == ["a_hit", "b_hit"]
    (d / "c_broken.wav").write_bytes(b"RIFF....garbage")
    with pytest.raises(InputError, match="c_broken.wav"):
        load_sound_dir(d, SR)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no sound files"):
        load_sound_dir(empty)
    with pytest.raises(InputError, match="not a built-in sound"):
        resolve_sounds("tuba")
    with pytest.raises(InputError, match="sound file not found"):
        resolve_sounds(tmp_path / "nope.wav")
    builtin = resolve_sounds("clap", sr=SR, seed=2)
    assert {s.name for s in builtin} == {"clap"} and len(builtin) > 1
    assert not np.array_equal(builtin[0].samples, builtin[1].samples)


def test_choose_orders():
    assert choose(7, 3, order="round-robin") == [0, 1, 2, 0, 1, 2, 0]
    r = choose(200, 3, order="random", seed=5)
    assert r == choose(200, 3, order="random", seed=5) != choose(200, 3, order="random", seed=6)
    assert set(r) == {0, 1, 2} and all(a != b for a, b in zip(r, r[1:], strict=False))
    assert choose(4, 1, order="random") == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        choose(3, 2, order="shuffle")


# --------------------------------------------------------------------------- placement and mixing


def _ev(times, scores=None, xs=None) -> list[Event]:
    scores = scores or [1.0] * len(times)
    xs = xs or [None] * len(times)
    return [Event(i, t, s, x) for i, (t, s, x) in enumerate(zip(times, scores, xs, strict=True))]


def _peaks(mix: np.ndarray, times, sr=SR, span=0.03) -> np.ndarray:
    env = np.abs(mix).max(axis=0)
    return np.array([env[int(t * sr) : int((t + span) * sr)].max() for t in times])


def test_placement_is_sample_accurate():
    click = synthesize("click", SR)
    times = [0.1, 0.250_31, 0.412_345, 0.7]
    p = DubParams(mix="replace", gain_jitter_db=0, pitch_jitter=0)
    mix, placements = render_mix(_ev(times), [click], sr=SR, n_samples=SR, params=p)
    assert [pl.start for pl in placements] == [round(t * SR) for t in times]
    nz = np.flatnonzero(np.abs(mix[0]) > 1e-7)
    starts = nz[np.concatenate([[True], np.diff(nz) > 0.01 * SR])]
    assert starts.tolist() == [round(t * SR) for t in times]
    # with pitch variation (resampling) the onset stays put
    mix2, _ = render_mix(_ev(times), [click], sr=SR, n_samples=SR, params=DubParams(mix="replace", seed=4))
    assert_onsets_match(onsets(mix2, SR, rel=0.05, rearm=0.02), times)


def test_score_gain_and_its_floor():
    knock = synthesize("knock", SR)
    times = [0.1, 0.6, 1.1, 1.6]
    scores = [2.0, 1.0, 0.1, -5.0]
    np.testing.assert_allclose(score_gains(scores, -18), [1.0, 0.5, db(-18), db(-18)])
    p = DubParams(mix="replace", gain_jitter_db=0, pitch_jitter=0)
    mix, _ = render_mix(_ev(times, scores), [knock], sr=SR, n_samples=2 * SR, params=p)
    levels = 20 * np.log10(_peaks(mix, times))
    np.testing.assert_allclose(levels - levels[0], [0, -6.02, -18, -18], atol=0.05)
    flat, _ = render_mix(_ev(times, scores), [knock], sr=SR, n_samples=2 * SR,
                         params=DubParams(mix="replace", gain_jitter_db=0, pitch_jitter=0, score_gain=False))
    np.testing.assert_allclose(20 * np.log10(_peaks(flat, times)), -3.0, atol=0.05)


def test_seeded_gain_and_pitch_variation():
    knock = synthesize("knock", SR)
    times = list(np.arange(20) * 0.4 + 0.05)
    mk = lambda seed: render_mix(_ev(times), [knock], sr=SR, n_samples=9 * SR,  # noqa: E731
                                 params=DubParams(mix="replace", seed=seed))
    a, pa = mk(1)
    b, _ = mk(1)
    c, pc = mk(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    gains_db = 20 * np.log10([p.gain for p in pa]) + 3.0
    assert np.all(np.abs(gains_db) <= 2.0 + 1e-9) and gains_db.std() > 0.5
    semis = 12 * np.log2([p.pitch for p in pa])
    assert np.all(np.abs(semis) <= 1.0 + 1e-9) and semis.std() > 0.3
    assert [p.gain for p in pa] != [p.gain for p in pc]
    # a higher pitch really is a shorter, higher sound: compare two repeats' zero-crossing rates
    hi, lo = int(np.argmax(semis)), int(np.argmin(semis))

    def zc(i):
        seg = a[0, int(times[i] * SR) : int((times[i] + 0.05) * SR)]
        return np.count_nonzero(np.diff(np.signbit(seg)))

    assert zc(hi) > zc(lo)


def test_limiter_never_exceeds_ceiling_and_leaves_quiet_audio_alone():
    knock = synthesize("knock", SR)
    times = list(np.linspace(0.1, 0.2, 30))  # 30 loud sounds piled up
    mix, _ = render_mix(_ev(times), [knock], sr=SR, n_samples=SR, params=DubParams(mix="replace", level_db=6.0))
    assert np.abs(mix).max() <= db(-1.0)
    t = np.arange(2 * SR) / SR
    x = (0.2 * np.sin(2 * np.pi * 220 * t))[None, :].astype(np.float32)
    x[0, SR : SR + 100] += 3.0  # a huge spike at 1 s
    x[0, int(0.3 * SR) : int(0.3 * SR) + 50] *= 6.0  # and a smaller one at 0.3 s
    y = limit(x.copy(), SR, ceiling_db=-1.0)
    assert np.abs(y).max() <= db(-1.0)
    for a, b in ((0.0, 0.2), (0.45, 0.9), (1.2, 2.0)):  # far from the spikes: untouched
        np.testing.assert_array_equal(y[0, int(a * SR) : int(b * SR)], x[0, int(a * SR) : int(b * SR)])
    gain = y[0, : SR] / np.where(np.abs(x[0, : SR]) > 1e-3, x[0, : SR], np.nan)
    assert np.nanmax(np.abs(np.diff(gain))) < 0.01  # smooth: no gain steps before the spike
    quiet = np.full((2, 100), 0.5, np.float32)
    assert np.array_equal(limit(quiet.copy(), SR), quiet)


def test_equal_power_pan():
    knock = synthesize("knock", SR)
    width = 200
    xs = [0.0, 50.0, 100.0, 150.0, 200.0, None]
    times = [0.1, 0.5, 0.9, 1.3, 1.7, 2.1]
    p = DubParams(mix="replace", pan=True, gain_jitter_db=0, pitch_jitter=0)
    mix, pl = render_mix(_ev(times, xs=xs), [knock], sr=SR, n_samples=3 * SR, width=width, params=p)
    assert mix.shape[0] == 2
    left, right = _peaks(mix[:1], times), _peaks(mix[1:], times)
    assert right[0] == 0 and left[4] < 1e-6  # hard left, hard right
    assert abs(left[2] - right[2]) < 1e-6 and abs(left[5] - right[5]) < 1e-6  # centre, and unknown x
    assert np.all(np.diff(right[:5]) > 0) and np.all(np.diff(left[:5]) < 0)
    np.testing.assert_allclose(left**2 + right**2, db(-3.0) ** 2, rtol=1e-4)  # equal power
    assert pan_gains(0.5) == pytest.approx((2**-0.5, 2**-0.5))


def test_keep_and_duck_treat_the_original_as_documented():
    click = synthesize("click", SR)
    n = 3 * SR
    t = np.arange(n) / SR
    orig = (0.3 * np.sin(2 * np.pi * 330 * t))[None, :].astype(np.float32)
    ev = _ev([1.0])
    base = dict(gain_jitter_db=0, pitch_jitter=0)
    fx, _ = render_mix(ev, [click], sr=SR, n_samples=n, params=DubParams(mix="replace", **base))
    keep, _ = render_mix(ev, [click], sr=SR, n_samples=n, original=orig,
                         params=DubParams(mix="keep", original_db=-6.0, **base))
    np.testing.assert_allclose(keep - fx, orig * db(-6.0), atol=1e-6)
    duck, _ = render_mix(ev, [click], sr=SR, n_samples=n, original=orig,
                         params=DubParams(mix="duck", duck_db=-15.0, duck_attack=0.03, duck_release=0.3, **base))
    gain = (duck - fx)[0] / np.where(np.abs(orig[0]) > 0.05, orig[0], np.nan)
    assert np.nanmax(np.abs(gain[: int(0.96 * SR)] - 1)) < 1e-5  # before the attack: untouched
    assert np.nanmax(np.abs(gain[int(1.0 * SR) : int(1.01 * SR)] - db(-15))) < 1e-4  # at the event: ducked
    assert np.nanmax(np.abs(gain[int(1.5 * SR) :] - 1)) < 1e-5  # released
    env = duck_envelope(n, SR, [(1.0, 1.05)], depth_db=-15, attack=0.03, release=0.3)
    # smooth: no step steeper than the raised-cosine attack's steepest slope
    assert np.max(np.abs(np.diff(20 * np.log10(env)))) <= 1.01 * np.pi / 2 * 15 / (0.03 * SR)
    # the ramps are monotone
    assert np.all(np.diff(env[int(0.96 * SR) : SR]) <= 0) and np.all(np.diff(env[int(1.05 * SR) :]) >= 0)


# --------------------------------------------------------------------------- the dubbed file


@pytest.mark.parametrize("name", ["25", "2997", "vfr"])
def test_dub_lands_sounds_on_the_events_and_copies_the_video(clips, tmp_path, name):
    clip = clips[name]
    src = Path(clip.path)
    ev = events_at(src, list(clip.collision_times), list(clip.collision_frames))
    out = tmp_path / "dubbed.mp4"
    res = dub(src, out, ev, sound="knock", params=QUIET)
    assert res.path == out and res.video_copied and res.audio_codec == "aac" and len(res.placements) == len(ev)
    assert_onsets_match(video_clock_onsets(out), clip.collision_times)
    a, b = probe(src), probe(out)
    assert b.n_frames == a.n_frames
    np.testing.assert_allclose(b.timestamps, a.timestamps, atol=1e-6)
    step = 1.0 / a.fps
    assert abs(b.duration - a.duration) < 1e-6
    with av.open(str(src)) as ci, av.open(str(out)) as co:
        assert abs(co.duration - ci.duration) / 1e6 <= step
    assert video_packets(out) == video_packets(src)  # bit-identical video
    dec = read_audio_clip(out, sr=SR, mono=False)
    assert np.abs(dec.samples).max() < 1.0 and res.peak_db <= -1.0 + 1e-6
    assert no_temp_files(tmp_path)


def test_replace_drops_the_original_and_keep_keeps_it(clips, tmp_path):
    clip = clips["25"]
    src = Path(clip.path)
    c0, c1 = clip.collision_times[:2]
    mine = [0.3, c0]  # one event where nothing collides; the second collision gets no event
    ev = events_at(src, mine)
    out = tmp_path / "replace.mp4"
    dub(src, out, ev, sound="click", params=QUIET)
    assert_onsets_match(video_clock_onsets(out), mine)
    keep = tmp_path / "keep.mp4"
    res = dub(src, keep, events_at(src, [0.3]), sound="click", params=DubParams(mix="keep", score_gain=False))
    assert res.original_used
    assert_onsets_match(video_clock_onsets(keep, rel=0.05), [0.3, *clip.collision_times])


@pytest.mark.parametrize("name,ext", [("25", ".mkv"), ("vfr", ".mkv"), ("25", ".webm")])
def test_matroska_and_webm_outputs(clips, tmp_path, caplog, name, ext):
    clip = clips[name]
    src = Path(clip.path)
    ev = events_at(src, list(clip.collision_times))
    out = tmp_path / f"dubbed{ext}"
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        res = dub(src, out, ev, sound="knock", params=QUIET)
    warnings = [r.getMessage() for r in caplog.records]
    assert res.audio_codec in ("libopus", "libvorbis", "vorbis")
    assert_onsets_match(video_clock_onsets(out), clip.collision_times)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        info = probe(out)
    assert not caplog.records  # reads back cleanly (frame rate written, nothing looks cut off)
    assert info.n_frames == clip.n_frames
    np.testing.assert_allclose(info.timestamps, probe(src).timestamps, atol=0.0006)  # Matroska keeps 1 ms
    assert abs(info.fps - probe(src).fps) < 0.01
    if ext == ".mkv":
        assert res.video_copied and video_packets(out) == video_packets(src)
    else:  # WebM cannot hold H.264: re-encoded, with a warning
        assert not res.video_copied and res.video_codec == "libvpx-vp9"
        assert any("re-encoding" in m for m in warnings)


def test_codec_the_container_cannot_hold_is_reencoded(tmp_path, caplog):
    src = tmp_path / "raw.mkv"
    with av.open(str(src), "w") as o:
        s = o.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(6):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            o.mux(s.encode(f))
        o.mux(s.encode(None))
    out = tmp_path / "raw_dubbed.mp4"
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        res = dub(src, out, events_at(src, [0.1]), sound="click", params=QUIET)
    assert not res.video_copied and res.video_codec == "libx264"
    assert any("cannot be copied" in r.getMessage() and "re-encoding" in r.getMessage() for r in caplog.records)
    a, b = probe(src), probe(out)
    assert b.n_frames == a.n_frames == 6
    np.testing.assert_allclose(b.timestamps, a.timestamps, atol=1e-6)
    assert_onsets_match(video_clock_onsets(out), [0.1])


def _clip_with_late_audio(path: Path, audio_start: float, hit: float) -> Path:
    """2 s of 25 fps H.264 + AAC, the audio stream starting *audio_start* s late; one burst at video time *hit*."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=SR, layout="mono")
        for i in range(50):
            img = np.full((48, 64, 3), 30 + 4 * i, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        n = int((2.0 - audio_start) * SR)
        y = np.zeros(n, np.float32)
        k = int(round((hit - audio_start) * SR))
        y[k : k + 2400] = 0.5 * np.random.default_rng(0).standard_normal(2400) * np.exp(-np.arange(2400) / 300)
        off = int(round(audio_start * SR))
        for s in range(0, n, 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[None, s : s + 1024]), format="fltp", layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = SR, off + s, Fraction(1, SR)
            out.mux(a.encode(fr))
        out.mux(a.encode(None))
    return path


def test_original_soundtrack_stays_in_sync_when_streams_start_apart(tmp_path, caplog):
    src = _clip_with_late_audio(tmp_path / "late.mp4", audio_start=0.3, hit=1.0)
    assert_onsets_match(video_clock_onsets(src), [1.0])
    out = tmp_path / "late_dubbed.mp4"
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        res = dub(src, out, events_at(src, []), params=DubParams(mix="keep"))
    assert res.original_used and not res.placements
    assert any("no events" in r.getMessage() for r in caplog.records)
    clip = read_audio_clip(out, sr=SR)
    assert abs(clip.start) < 1e-3  # the new soundtrack starts with the first frame
    assert_onsets_match(video_clock_onsets(out), [1.0])
    np.testing.assert_allclose(np.abs(clip.samples[: int(0.29 * SR)]).max(), 0.0, atol=1e-3)  # silence before


def test_empty_event_list_is_a_documented_no_op(clips, tmp_path, caplog):
    clip = clips["25"]
    src = Path(clip.path)
    ev = events_at(src, [])
    keep = tmp_path / "keep.mp4"
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        dub(src, keep, ev, params=DubParams(mix="keep"))
        dub(src, tmp_path / "replace.mp4", ev, params=DubParams(mix="replace"))
    assert sum("no events" in r.getMessage() for r in caplog.records) == 2
    assert_onsets_match(video_clock_onsets(keep), clip.collision_times)  # the original soundtrack
    silent = read_audio_clip(tmp_path / "replace.mp4", sr=SR).samples
    assert np.abs(silent).max() < 1e-4
    for p in (keep, tmp_path / "replace.mp4"):
        assert probe(p).n_frames == clip.n_frames


def test_bad_inputs_are_clear_errors_and_leave_no_file(clips, tmp_path):
    src = Path(clips["25"].path)
    other = Path(clips["2997"].path)
    out = tmp_path / "out.mp4"
    bad_sound = tmp_path / "knock.wav"
    bad_sound.write_text("not audio")
    with pytest.raises(InputError, match=r"knock\.wav: not a usable sound file"):
        dub(src, out, events_at(src, [0.5]), sound=bad_sound)
    with pytest.raises(InputError, match="events were made for another video"):
        dub(src, out, events_at(other, [0.5]))
    info = probe(src)
    with pytest.raises(InputError, match="beyond the end"):
        dub(src, out, Events(info, (Event(10, 0.4, 1.0), Event(info.n_frames, info.duration + 0.5, 1.0))))
    with pytest.raises(InputError, match="invalid time"):
        check_events_fit(Events(info, (Event(0, -1.0, 1.0),)), info)
    with pytest.raises(OutputError, match="same as the input"):
        dub(src, src, events_at(src, [0.5]))
    with pytest.raises(OutputError, match="extension"):
        dub(src, tmp_path / "out.avi", events_at(src, [0.5]))
    assert not out.exists() and no_temp_files(tmp_path)


def test_events_file_checks(clips, tmp_path):
    """The one events-versus-video rule (events.check_events_fit): frame counts within one frame, whatever the name."""
    src = Path(clips["25"].path)
    info = probe(src)
    two_off = Events(type(info)(**{**info.__dict__, "path": "/elsewhere/other.mp4", "n_frames": info.n_frames - 2}), ())
    with pytest.raises(InputError, match="another video"):
        check_events_fit(two_off, info)
    renamed = Events(type(info)(**{**info.__dict__, "path": "/elsewhere/renamed.mp4"}), ())
    check_events_fit(renamed, info)  # same facts under another name: fine
    off_by_one = Events(type(info)(**{**info.__dict__, "path": "/elsewhere/other.mp4", "n_frames": info.n_frames + 1}),
                        ())
    check_events_fit(off_by_one, info)  # one frame apart: fine, under any name
    too_long = Events(type(info)(**{**info.__dict__, "duration": info.duration + 0.2}), ())
    with pytest.raises(InputError, match="another video"):
        check_events_fit(too_long, info)
    other_size = Events(type(info)(**{**info.__dict__, "width": info.width * 2}), ())
    with pytest.raises(InputError, match="another video"):
        check_events_fit(other_size, info)
    handmade = Events(type(info)(path="", width=0, height=0, fps=0, n_frames=0, duration=0, has_audio=False),
                      (Event(3, 0.5, 1.0),))
    check_events_fit(handmade, info)  # facts not recorded: only the events themselves are checked
    outside = Events(handmade.video, (Event(info.n_frames, 0.5, 1.0),))
    with pytest.raises(InputError, match="lies outside"):
        check_events_fit(outside, info)


@pytest.mark.skipif(not (REAL / "greatesthits_stick_metal_bar.mp4").exists(),
                    reason="real clips not found in ../shared/data/real")
def test_real_clip_with_b_frames_keeps_sync_and_packets(tmp_path):
    src = REAL / "greatesthits_stick_metal_bar.mp4"
    out = tmp_path / "metal_keep.mp4"
    info = probe(src)
    res = dub(src, out, Events(info, ()), params=DubParams(mix="keep"))
    assert res.video_copied and video_packets(out) == video_packets(src)
    assert probe(out).timestamps == info.timestamps
    a, b = read_audio_clip(src, sr=SR), read_audio_clip(out, sr=SR)
    x, y = a.samples[: 3 * SR], b.samples[: 3 * SR]
    lag = int(np.argmax(correlate(y, x, mode="full", method="fft")) - (x.size - 1))
    lag += int(round((b.start - a.start) * SR))
    assert abs(lag) <= 1  # the original soundtrack did not move against the picture


# --------------------------------------------------------------------------- the command line


def test_cli_dub_with_events_file(clips, tmp_path):
    clip = clips["2997"]
    src = Path(clip.path)
    ev_path = save_events(events_at(src, list(clip.collision_times)), tmp_path / "ev.json")
    out = tmp_path / "cli.mp4"
    r = CliRunner().invoke(cli, ["dub", str(src), "--events", str(ev_path), "--sound", "click", "--mix", "replace",
                                 "--no-score-gain", "--seed", "3", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"{len(clip.collision_times)} sound(s) placed (click)" in r.output and "video copied" in r.output
    assert_onsets_match(video_clock_onsets(out), clip.collision_times)


def test_cli_errors_are_one_line(clips, tmp_path):
    src = Path(clips["25"].path)
    other_ev = save_events(events_at(Path(clips["vfr"].path), [0.5]), tmp_path / "other.json")
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    runner = CliRunner()
    for args, msg in [
        (["--events", str(other_ev)], "another video"),
        (["--sound", str(bad)], "not a usable sound file"),
        (["--sound", "tuba"], "not a built-in sound"),
    ]:
        r = runner.invoke(cli, ["dub", str(src), "-o", str(tmp_path / "x.mp4"), *args])
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("actiondubber: error:") and msg in lines[0]
    r = runner.invoke(cli, ["dub", str(src), "-o", str(tmp_path / "x.mp4"), "--sound", "knock", "--sound-dir",
                            str(tmp_path)])
    assert r.exit_code == 2 and "not both" in r.output
    assert not (tmp_path / "x.mp4").exists()


def test_cli_dub_detects_when_no_events_given(clips, tmp_path):
    src = Path(clips["25"].path)
    out, ev_out = tmp_path / "auto.mp4", tmp_path / "auto.json"
    r = CliRunner().invoke(cli, ["dub", str(src), "-o", str(out), "--mix", "replace", "--pan", "--sound", "metal",
                                 "--save-events", str(ev_out)])
    assert r.exit_code == 0, r.output
    saved = json.loads(ev_out.read_text())
    assert f"{len(saved['events'])} sound(s) placed" in r.output and "stereo" in r.output
    assert saved["params"]["detector"] == "inflection-training-free"
    dec = read_audio_clip(out, sr=SR, mono=False)
    assert dec.samples.shape[0] == 2 and probe(out).n_frames == clips["25"].n_frames


# --------------------------------------------------------------------------- one way to do each thing


def test_dub_with_detection_opens_the_video_four_times(clips, tmp_path, monkeypatch):
    """probe, frame decoding, the soundtrack and the stream copy: the facts are read once and passed down."""
    src = str(clips["25"].path)
    opened: list[str] = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    from actiondubber.detection.detector import SINGLE_SCALE_DETECTOR

    monkeypatch.setattr(av, "open", counting_open)
    res = dub(src, tmp_path / "d.mp4", None, params=DubParams(mix="keep"), detector=SINGLE_SCALE_DETECTOR)
    assert res.video_copied and res.original_used
    assert opened.count(src) == 4, opened  # before: 6 (probe, frames, video_timing, audio, mux, first pts)
    opened.clear()
    dub(src, tmp_path / "d2.mp4", None, params=DubParams(mix="keep"))  # the default: two sizes from one decode
    assert opened.count(src) == 4, opened  # before the one decode: 5
    opened.clear()
    dub(src, tmp_path / "r.mp4", None, params=QUIET, info=probe(src), detector=SINGLE_SCALE_DETECTOR)
    assert opened.count(src) == 3, opened  # facts given, no original soundtrack: frames, mux + the probe here


def _packet_order(path) -> list[tuple[str, float]]:
    with av.open(str(path)) as c:
        return [(pk.stream.type, float(pk.dts * pk.time_base)) for pk in c.demux() if pk.size and pk.dts is not None]


def _max_lag(order: list[tuple[str, float]]) -> float:
    """How far (s) one stream's packets run ahead of the other's in file order."""
    last = {"video": -1e9, "audio": -1e9}
    worst = 0.0
    for kind, t in order:
        other = "audio" if kind == "video" else "video"
        if last[other] > -1e9:
            worst = max(worst, t - last[other])
        last[kind] = t
    return worst


def test_dub_review_and_synth_are_muxed_the_same_way(clips, tmp_path):
    """One muxer: each writer's file has its audio interleaved with the video (never a block of one stream)."""
    src = Path(clips["25"].path)
    ev = events_at(src, list(clips["25"].collision_times))
    from actiondubber.exporters import render_preview

    dubbed = dub(src, tmp_path / "dub.mp4", ev, params=QUIET).path
    review = render_preview(src, ev, tmp_path / "review.mp4", max_width=96).out
    synth = render_clip(tmp_path / "synth.mp4", scene="bounce", seconds=2.0, size=(96, 64), seed=2).path
    for path in (dubbed, review, synth):
        order = _packet_order(path)
        assert {k for k, _ in order} == {"video", "audio"}
        assert _max_lag(order) < 1.0, path  # the muxer keeps the audio within its lead of the video
        with av.open(str(path)) as c:
            assert c.streams.video[0].index == 0 and c.streams.audio[0].codec_context.name == "aac"
    assert no_temp_files(tmp_path)


def test_failed_mux_leaves_nothing(clips, tmp_path):
    from actiondubber.errors import ParameterError
    from actiondubber.video import mux_video_file

    out = tmp_path / "bad.mp4"
    with pytest.raises(ParameterError, match="channels"):
        mux_video_file(clips["25"].path, out, np.zeros((3, 100), np.float32), SR)
    with pytest.raises(OutputError, match="extension"):
        mux_video_file(clips["25"].path, tmp_path / "bad.avi", np.zeros((1, 100), np.float32), SR)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_synth_knock_is_the_dub_knock_synthesis():
    """synth.audio does not synthesise on its own: its impact is dub.sounds.modal_impact, scaled to the impact."""
    from actiondubber.dubbing.sounds import modal_impact
    from actiondubber.synth.audio import KNOCK_SECONDS, Knock, knock_wave

    k = Knock(start=0, amp=0.5, f0=420.0, kind="disc", pan=0.5, seed=7)
    got = knock_wave(k, SR)
    ratios = (1.0, 2.76, 5.40)
    ref = modal_impact(SR, np.random.default_rng(7), f0=420.0, ratios=ratios, amps=(1.0, 0.5, 1 / 3),
                       taus=tuple(0.09 / (1 + 0.5 * i) for i in range(3)), seconds=KNOCK_SECONDS, tick=0.5,
                       tick_band=(1000.0, None))
    np.testing.assert_allclose(got, (ref * 0.5 / np.abs(ref).max()).astype(np.float32), rtol=1e-6, atol=1e-7)
    # and the built-in knock is the same synthesis
    knock = synthesize("knock", SR, seed=0).samples[0]
    rng = np.random.default_rng([0, BUILTIN_SOUNDS.index("knock"), 0x50DB])
    f0 = 190.0 * rng.uniform(0.93, 1.07)
    y = modal_impact(SR, rng, f0=f0, ratios=(1.0, 2.27, 3.92, 5.61), amps=(1.0, 0.7, 0.45, 0.3),
                     taus=(0.06, 0.04, 0.025, 0.015))
    fade = int(0.01 * SR)
    y[-fade:] *= np.linspace(1.0, 0.0, fade)
    np.testing.assert_allclose(knock, (y / np.abs(y).max()).astype(np.float32), atol=1e-7)


@pytest.mark.parametrize("bad", [dict(mix="loud"), dict(order="shuffle"), dict(ceiling_db=1.0),
                                 dict(pitch_jitter=13.0), dict(duck_attack=-1.0), dict(level_db=float("nan"))])
def test_dub_params_are_checked_when_made(bad):
    from actiondubber.errors import ParameterError

    with pytest.raises(ParameterError):
        DubParams(**bad)
