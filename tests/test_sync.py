"""Audio–picture sync: known shifts recovered, refusals, --fix round trip, JSON, labels aligned by the offset.

The clips come from the synthetic generator (each impact sound starts at the exact collision
instant), and their soundtracks are shifted by known amounts with :func:`shift_audio` (the picture
is stream-copied, so the detector's curve of the original applies to every shifted copy).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.audio import AudioClip, impact_onsets, onset_strength, read_audio_clip
from actiondubber.cli import cli
from actiondubber.detection import detect
from actiondubber.detection.detector import SINGLE_SCALE_DETECTOR
from actiondubber.evaluate.labels import read_labels
from actiondubber.sync import (
    OnsetEnvelope,
    SyncParams,
    SyncRefused,
    estimate_offset,
    measure_offset,
    onset_envelope,
)
from actiondubber.sync.fix import shift_audio, shift_samples
from actiondubber.synth import render_clip
from actiondubber.synth.audio import music_wave
from actiondubber.video import probe
from actiondubber.video.mux import mux_video_file

FPS = 30.0
HALF_FRAME = 0.5 / FPS


@pytest.fixture(scope="module")
def bounce(tmp_path_factory):
    """A 6 s synthetic clip with many collisions, and the events of the detector sync runs on its picture."""
    d = tmp_path_factory.mktemp("sync")
    clip = render_clip(d / "bounce.mp4", scene="bounce", seconds=6.0, fps=FPS, seed=3, n_objects=3)
    assert len(clip.collision_times) >= 10
    return clip, detect(clip.path, **dataclasses.asdict(SINGLE_SCALE_DETECTOR))  # sync's own (single-scale) detector


@pytest.fixture(scope="module")
def shifted(bounce, tmp_path_factory):
    """The bounce clip with its audio delayed by 80 ms (the audio trails the picture)."""
    clip, _ = bounce
    out = tmp_path_factory.mktemp("shifted") / "late80.mp4"
    shift_audio(clip.path, out, 0.080)
    return out


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize("delay", [0.080, -0.040, 0.023, -0.300])
def test_known_shift_recovered(bounce, tmp_path, delay):
    clip, events = bounce
    out = tmp_path / "shifted.mp4"
    shift_audio(clip.path, out, delay)
    res = measure_offset(out, events=events)
    assert abs(res.offset - delay) <= HALF_FRAME, (res.offset, delay)
    assert res.n_impacts >= 8
    assert res.confidence_label in ("medium", "high")
    assert res.uncertainty < HALF_FRAME


def test_unshifted_clip_is_in_step(bounce):
    clip, events = bounce
    res = measure_offset(clip.path, events=events)
    assert abs(res.offset) <= HALF_FRAME
    assert all(h is not None and abs(h) <= HALF_FRAME for h in res.halves)


def test_shift_samples_keeps_length():
    a = np.arange(10, dtype=np.float32)[None, :]
    assert shift_samples(a, 3)[0].tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    assert shift_samples(a, -3)[0].tolist() == [3, 4, 5, 6, 7, 8, 9, 0, 0, 0]
    assert not shift_samples(a, 20).any()


def test_cli_sync_json_and_fix_round_trip(bounce, shifted, tmp_path):
    clip, events = bounce
    j = tmp_path / "sync.json"
    fixed = tmp_path / "fixed.mp4"
    r = _run(["-q", "sync", str(shifted), "--json", str(j), "--fix", "-o", str(fixed)])
    assert r.exit_code == 0, r.output
    assert "audio trails the picture by" in r.output
    d = json.loads(j.read_text())
    assert isinstance(d["offset_ms"], float) and isinstance(d["confidence"], float)
    assert isinstance(d["n_impacts"], int) and d["n_impacts"] >= 8
    assert abs(d["offset_ms"] - 80.0) <= 1000 * HALF_FRAME
    assert 0.0 <= d["confidence"] <= 1.0
    # The picture is copied untouched: same frames at the same times.
    a, b = probe(clip.path), probe(fixed)
    assert a.n_frames == b.n_frames and np.allclose(a.timestamps, b.timestamps)
    # Decoded, the fixed soundtrack's onsets are back on the original's.
    on_orig = impact_onsets(read_audio_clip(clip.path).samples, 22050)
    fixed_clip = read_audio_clip(fixed)
    on_fixed = impact_onsets(fixed_clip.samples, fixed_clip.sr) + fixed_clip.start
    lag = np.median([on_fixed[np.argmin(np.abs(on_fixed - t))] - t for t in on_orig])
    assert abs(lag) <= HALF_FRAME
    # And sync measures the fixed file as in step.
    assert abs(measure_offset(fixed, events=events).offset) <= HALF_FRAME


def test_fix_never_overwrites(bounce, shifted, tmp_path):
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    r = _run(["-q", "sync", str(shifted), "--fix", "--offset", "80", "-o", str(existing)])
    assert r.exit_code != 0 and "--force" in r.output
    assert existing.read_bytes() == b"keep me"
    before = shifted.read_bytes()
    r = _run(["-q", "sync", str(shifted), "--fix", "--offset", "80", "-o", str(shifted), "--force"])
    assert r.exit_code != 0 and "same as the input" in r.output
    assert shifted.read_bytes() == before
    r = _run(["-q", "sync", str(shifted), "--fix", "--offset", "80", "-o", str(existing), "--force"])
    assert r.exit_code == 0, r.output
    assert probe(existing).n_frames == probe(shifted).n_frames
    assert not list(tmp_path.glob(".*part*"))


def test_refuses_clip_without_impacts(tmp_path):
    clip = render_clip(tmp_path / "pendulum.mp4", scene="pendulum", seconds=3.0, fps=FPS, seed=1)
    assert not clip.collision_times
    j = tmp_path / "out.json"
    r = _run(["-q", "sync", clip.path, "--json", str(j)])
    assert r.exit_code == SyncRefused.exit_code
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actiondubber: error:") and "not estimated" in lines[0]
    assert not j.exists()


def _music(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    return music_wave(seconds, sr, seed=seed)[None, :]


def test_refuses_music(bounce, tmp_path):
    clip, events = bounce
    out = tmp_path / "music.mp4"
    mux_video_file(clip.path, out, _music(6.0, 48000), 48000)
    with pytest.raises(SyncRefused, match="music"):
        measure_offset(out, events=events)


def test_label_from_audio_align_av(bounce, shifted, tmp_path):
    clip, _ = bounce
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    plain, aligned, report = tmp_path / "plain.csv", tmp_path / "aligned.csv", tmp_path / "report.csv"
    r = _run(["-q", "label-from-audio", str(shifted), "-o", str(plain)])
    assert r.exit_code == 0, r.output
    music = tmp_path / "music.mp4"
    mux_video_file(clip.path, music, _music(6.0, 48000), 48000)
    r = _run(["-q", "label-from-audio", str(shifted), str(bad), str(music), "-o", str(aligned), "--align-av",
              "--report", str(report)])
    assert r.exit_code != 0 and "1 of 3 video(s) failed" in r.output  # reported, and the run went on
    truth = np.array(clip.labelled_frames)

    def error(path):
        frames = np.array(read_labels(path).videos["late80"].frames)
        return np.array([frames[np.argmin(np.abs(frames - f))] - f for f in truth])

    assert np.median(error(plain)) >= 2  # 80 ms late at 30 fps: 2.4 frames
    e = error(aligned)
    assert np.median(e) == 0 and np.mean(np.abs(e) <= 1) >= 0.9 and np.mean(e == 0) >= 0.7
    rows = {row["video"]: row for row in csv.DictReader(report.open())}
    assert rows[str(shifted)]["status"] == "kept"
    assert 0.0 < float(rows[str(shifted)]["onset_lateness_ms"]) < 40.0  # librosa-frame onsets peak late
    assert abs(float(rows[str(shifted)]["offset_ms"]) - 80.0) <= 1000 * HALF_FRAME
    assert rows[str(bad)]["status"] == "failed" and rows[str(bad)]["reason"]
    assert rows[str(music)]["status"] == "rejected" and "music" in rows[str(music)]["reason"]
    assert set(read_labels(aligned).videos) == {"late80"}


def _fake_curves(offset_of, seconds: float, fps: float = FPS, seed: int = 0):
    """A strength curve with impacts at random frames and an onset envelope with a bump at each impact's
    time plus ``offset_of(t)``, plus weaker random onsets (the arrays :func:`estimate_offset` takes)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    times = np.arange(n) / fps
    frames = np.sort(rng.choice(np.arange(5, n - 5), size=int(seconds * 1.2), replace=False))
    frames = frames[np.diff(frames, prepend=-10) >= 5]
    scores = rng.uniform(0.0, 0.2, n)
    scores[frames] = rng.uniform(2.0, 4.0, frames.size)
    step = 64 / 22050
    env = np.zeros(int(seconds / step) + 1)
    for f in frames:
        true_t = times[f] + rng.uniform(-0.5, 0.5) / fps  # the picture only shows the impact's frame
        env[int(round((true_t + offset_of(true_t)) / step))] += rng.uniform(1.0, 2.0)
    for k in rng.integers(0, env.size, size=int(seconds)):  # unrelated weak sounds
        env[k] += 0.3
    return times, scores, frames, OnsetEnvelope(env.astype(np.float32), 0.0, step)


def test_windows_and_drift_on_long_video():
    times, scores, frames, env = _fake_curves(lambda t: 0.020 + 0.0005 * t, 240.0)
    res = estimate_offset(times, scores, frames, env, fps=FPS, params=SyncParams(window=40.0))
    assert len(res.windows) == 6 and all(w.offset is not None for w in res.windows)
    assert res.drift_detected and abs(res.drift - 0.0005) < 0.0001
    assert re.search(r"drifts \+(29|30|31) ms per minute", res.summary())
    mids = np.array([(w.start + w.end) / 2 for w in res.windows])
    assert np.allclose([w.offset for w in res.windows], 0.020 + 0.0005 * mids, atol=HALF_FRAME)
    steady = estimate_offset(*_fake_curves(lambda t: -0.060, 240.0, seed=1), fps=FPS,
                             params=SyncParams(window=40.0))
    assert not steady.drift_detected and abs(steady.offset + 0.060) < 0.005


def test_onset_envelope_in_blocks_matches_one_pass():
    sr = 22050
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(int(70 * sr)) * 1e-3).astype(np.float32)
    for t in np.arange(0.5, 70, 1.7):
        k = int(t * sr)
        y[k : k + 2000] += np.exp(-np.arange(2000) / 300.0).astype(np.float32) * rng.standard_normal(2000)
    env = onset_envelope(AudioClip("x", y, sr, 0.0))
    p = SyncParams()
    one = onset_strength(y, sr, hop_length=p.hop, n_fft=p.n_fft, n_mels=p.n_mels)
    assert env.values.size == one.size
    # Equal up to the 80 dB floor, which each block sets from its own loudest frame.
    assert np.allclose(env.values, one, atol=5e-3 * one.max())
    assert np.array_equal(np.argsort(env.values)[-30:], np.argsort(one)[-30:])
    assert math.isclose(env.step, p.hop / sr)
