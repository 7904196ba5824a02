"""Speech rejection with silero-vad (the ``vad`` extra): speech share of synthetic speech, music and impact
soundtracks, the verdicts, the clear error when the extra is missing, and label-from-audio's rejection.

No recorded speech is available here, so "speech" is formant-synthesised babble
(:func:`actiondubber.synth.audio.speech_like_wave`).
"""

from __future__ import annotations

import csv
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.audio import AudioClip, read_audio_clip
from actiondubber.cli import cli
from actiondubber.errors import BackendUnavailableError, ParameterError
from actiondubber.sync import SyncParams
from actiondubber.sync.soundtype import SPEECH_SHARE, classify_soundtrack, resolve_speech_detector
from actiondubber.synth.audio import music_wave, speech_like_wave
from actiondubber.video.mux import mux_video_file

vad = pytest.importorskip("actiondubber.audio.vad")
if not vad.vad_available():
    pytest.skip("silero-vad (the vad extra) is not installed", allow_module_level=True)

SR = 16000


def _knocks(seconds: float, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(3)
    y = 0.002 * rng.standard_normal(int(seconds * sr))
    bn = int(0.08 * sr)
    env = np.exp(-np.arange(bn) / (0.012 * sr))
    for t in np.arange(0.3, seconds - 0.2, 0.45):
        i = int(t * sr)
        y[i : i + bn] += 0.5 * env * rng.standard_normal(bn)
    return y.astype(np.float32)


def test_speech_share_separates_speech_from_impacts_and_music():
    speech = [vad.speech_share(speech_like_wave(6.0, SR, seed=s), SR) for s in (0, 1)]
    assert min(speech) >= 0.5
    assert vad.speech_share(_knocks(6.0), SR) < 0.1
    assert vad.speech_share(music_wave(6.0, SR), SR) < 0.1
    # other sample rates are resampled; a long soundtrack is sampled (at most MAX_SECONDS)
    assert vad.speech_share(speech_like_wave(6.0, 22050, seed=0), 22050) >= 0.5
    p = vad.speech_probabilities(np.zeros(SR * 130, np.float32), SR)
    assert p.size == int(vad.MAX_SECONDS / vad.PIECE) * (int(vad.PIECE * SR) // vad.CHUNK)


def test_verdicts_with_vad_and_rule():
    clip = AudioClip("s", speech_like_wave(6.0, SR, seed=0), SR, 0.0)
    v = classify_soundtrack(clip, "vad")
    assert v.verdict == "speech" and v.speech_detector == "vad" and v.speech_share >= SPEECH_SHARE
    assert "silero-vad" in v.reason
    k = classify_soundtrack(AudioClip("k", _knocks(6.0), SR, 0.0), "vad")
    assert k.verdict == "impacts" and k.speech_share < SPEECH_SHARE
    m = classify_soundtrack(AudioClip("m", music_wave(6.0, SR), SR, 0.0), "vad")
    assert m.verdict == "music"  # music is still the hand rule's
    r = classify_soundtrack(AudioClip("k", _knocks(6.0), SR, 0.0), "rule")
    assert r.speech_share is None and r.speech_detector == "rule" and r.verdict == "impacts"
    assert resolve_speech_detector("auto") == "vad"
    with pytest.raises(ParameterError):
        SyncParams(speech_detector="whisper")


def test_missing_extra_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(vad, "_model_file", lambda: None)
    monkeypatch.setattr(vad, "_model", None)
    assert not vad.vad_available() and resolve_speech_detector("auto") == "rule"
    with pytest.raises(BackendUnavailableError, match=r"actiondubber\[vad\]"):
        classify_soundtrack(AudioClip("s", _knocks(2.0), SR, 0.0), "vad")
    # the rule still works without it
    assert classify_soundtrack(AudioClip("k", _knocks(2.0), SR, 0.0)).speech_detector == "rule"
    video = _video(tmp_path / "k.mp4", _knocks(2.0))
    out = tmp_path / "l.csv"
    r = CliRunner().invoke(cli, ["label-from-audio", str(video), "-o", str(out), "--speech-detector", "vad"])
    assert r.exit_code == BackendUnavailableError.exit_code == 4
    assert "actiondubber[vad]" in r.output and not out.exists()
    r = CliRunner().invoke(cli, ["sync", str(video), "--speech-detector", "vad"])
    assert r.exit_code == 4 and "silero-vad" in r.output


def _video(path, audio: np.ndarray, sr: int = SR, seconds: float = 2.0):
    pic = path.with_suffix(".pic.mp4")
    with av.open(str(pic), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * 25)):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 + i % 5, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for pkt in vs.encode(f):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    mux_video_file(pic, path, audio[None, :], sr)
    return path


def test_label_from_audio_rejects_speech_clips(tmp_path):
    knocks = _video(tmp_path / "knocks.mp4", _knocks(4.0), seconds=4.0)
    talk = _video(tmp_path / "talk.mp4", speech_like_wave(4.0, SR, seed=1) + 0.3 * _knocks(4.0), seconds=4.0)
    assert vad.speech_share(read_audio_clip(talk, sr=SR).samples, SR) >= SPEECH_SHARE  # survives AAC
    out, rep = tmp_path / "labels.csv", tmp_path / "report.csv"
    r = CliRunner().invoke(cli, ["-q", "label-from-audio", str(knocks), str(talk), "-o", str(out),
                                 "--report", str(rep)])
    assert r.exit_code == 0, r.output
    rows = {row["video"]: row for row in csv.DictReader(rep.open())}
    assert rows[str(talk)]["status"] == "rejected" and "speech" in rows[str(talk)]["reason"]
    assert rows[str(talk)]["speech_detector"] == "vad" and float(rows[str(talk)]["speech_share"]) >= SPEECH_SHARE
    assert rows[str(knocks)]["status"] == "kept" and float(rows[str(knocks)]["speech_share"]) < SPEECH_SHARE
    from actiondubber.evaluate.labels import read_labels

    assert set(read_labels(out).videos) == {"knocks"}
