"""MC3 (seed 004): losses, consensus calibration, the two-stage schedule, weights, scoring, retrieval, CLI.

Skipped cleanly when the ``mc3`` extra is not installed (the core never needs it); the tests of
the missing-extra error and of the core importing without torch always run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actiondubber.errors import BackendUnavailableError, InputError

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_without_torch():
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'aisfx', 'sentence_transformers', 'efficientnet_lite_pytorch'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import actiondubber.mc3, actiondubber.cli, actiondubber.mc3.data, actiondubber.mc3.score\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_missing_extra_is_backend_unavailable():
    from actiondubber.mc3.encoders import require

    with pytest.raises(BackendUnavailableError, match="'mc3' extra") as ei:
        require("no_such_module_for_mc3_test")
    assert ei.value.exit_code == 4


def test_config_validation_and_schedule():
    from actiondubber.errors import ParameterError
    from actiondubber.mc3.config import MC3Config

    c = MC3Config(align_epochs=2, refine_epochs=3, consensus_weight=0.5)
    assert [c.stage(e) for e in range(5)] == ["align", "align", "refine", "refine", "refine"]
    assert c.loss_weights(1) == (1.0, 0.0) and c.loss_weights(2) == (1.0, 0.5)
    assert MC3Config.from_dict(c.to_dict()) == c
    for bad in (dict(anchor="smell"), dict(calibration="iso"), dict(tau=0), dict(batch_size=1)):
        with pytest.raises(ParameterError):
            MC3Config(**bad)


def test_clips_csv_round_trip_and_errors(tmp_path):
    from actiondubber.mc3.data import Window, read_clips_csv, write_clips_csv

    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    p = write_clips_csv(tmp_path / "clips.csv", [Window(str(clip), 1.0, "a ball bounces", 1.0),
                                                 Window(str(clip), 2.0, "a pendulum swings", None)])
    ws = read_clips_csv(p)
    assert [(w.time, w.narration, w.sounding) for w in ws] == [(1.0, "a ball bounces", 1.0),
                                                              (2.0, "a pendulum swings", None)]
    (tmp_path / "bad.csv").write_text("clip,start,end,narration,sounding\na.mp4,2,1,x,1\n")
    with pytest.raises(InputError, match="start <= end"):
        read_clips_csv(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("clip,start,end,narration\nmissing.mp4,0,1,x\n")
    with pytest.raises(InputError, match="clip not found"):
        read_clips_csv(tmp_path / "bad2.csv")


def test_ego4dsounds_loader(tmp_path):
    from actiondubber.mc3.data import read_ego4dsounds

    (tmp_path / "uid1.mp4").write_bytes(b"x")
    meta = tmp_path / "meta.csv"
    meta.write_text("video_uid,video_dur,narration_time,clip_text,tag_verb,positive\n"
                    "uid1,100,12.5,#C C digs the soil with a hoe,dig,1\n"
                    "uid2,100,3.0,#C C moves a machine,move,0\n")
    ws = read_ego4dsounds(meta, tmp_path)
    assert len(ws) == 1  # uid2's video is absent
    assert ws[0].time == 12.5 and ws[0].narration == "digs the soil with a hoe" and ws[0].sounding == 1.0


# --------------------------------------------------------------------------- needs torch + the extra

torch = pytest.importorskip("torch")


def _unit(angles):
    a = np.asarray(angles, dtype=np.float64)
    return torch.tensor(np.stack([np.cos(a), np.sin(a)], axis=1), dtype=torch.float64)


def test_info_nce_known_value():
    from actiondubber.mc3.losses import contrastive_loss, info_nce

    e = torch.eye(2, dtype=torch.float64)
    expected = math.log(1 + math.exp(-1))  # -log(e / (e + 1)) with tau = 1
    assert float(info_nce(e, e, 1.0)) == pytest.approx(expected)
    assert float(info_nce(e, e, 0.5)) == pytest.approx(math.log(1 + math.exp(-2)))
    # three modalities, all identical: 6 ordered pairs
    assert float(contrastive_loss({"video": e, "audio": e, "text": e}, 1.0)) == pytest.approx(6 * expected)
    # mismatched pairing (b swapped): the positive has similarity 0 and the negative 1
    assert float(info_nce(e, e.flip(0), 1.0)) == pytest.approx(math.log(1 + math.e))


def test_consensus_loss_known_value_identity_calibration():
    from actiondubber.mc3.losses import Calibration, consensus, consensus_loss

    v = _unit([0.0, 0.0])
    a = _unit(np.arccos([0.2, 0.8]))  # e_a . e_v = 0.2, 0.8
    t = _unit(np.arccos([0.6, 0.4]))  # e_t . e_v = 0.6, 0.4
    cal = Calibration(["audio", "text"], "identity")
    emb = {"video": v, "audio": a, "text": t}
    c = consensus({"audio": (a * v).sum(1), "text": (t * v).sum(1)}, cal)
    assert c.numpy() == pytest.approx([0.2, 0.4])
    # per sample: |0.2-0.2| + |0.6-0.2| = 0.4 and |0.8-0.4| + |0.4-0.4| = 0.4
    assert float(consensus_loss(emb, "video", cal)) == pytest.approx(0.4)


def test_zscore_calibration_and_inverse():
    from actiondubber.mc3.losses import Calibration, consensus

    cal = Calibration(["audio", "text"], "zscore")
    cal.update({"audio": torch.tensor([0.0, 0.2]), "text": torch.tensor([0.6, 1.0])})
    assert cal.mu.numpy() == pytest.approx([0.1, 0.8])
    assert cal.sigma.numpy() == pytest.approx([0.1, 0.2])
    s = torch.tensor([0.3])
    assert float(cal("audio", s)) == pytest.approx(2.0)
    assert float(cal("text", s)) == pytest.approx(-2.5)
    # K^-1 uses the mean statistics: z * 0.15 + 0.45
    assert float(cal.inverse(torch.tensor(1.0))) == pytest.approx(0.6)
    one = Calibration(["audio"], "zscore")
    one.update({"audio": torch.tensor([0.1, 0.5])})
    x = torch.tensor([0.37, -0.2])
    assert one.inverse(one("audio", x)).numpy() == pytest.approx(x.numpy())
    # the consensus is the calibrated minimum mapped back: audio z=2, text z=-2.5 -> -2.5 * 0.15 + 0.45
    c = consensus({"audio": torch.tensor([0.3]), "text": torch.tensor([0.3])}, cal)
    assert float(c) == pytest.approx(0.075)
    cal.update({"audio": torch.tensor([1.0, 1.0]), "text": torch.tensor([1.0, 1.0])})  # EMA, momentum 0.9
    assert cal.mu.numpy() == pytest.approx([0.9 * 0.1 + 0.1, 0.9 * 0.8 + 0.1])


def _toy_set(n=96, seed=0, dims=(40, 30, 20)):
    """Three modalities that are noisy linear views of one latent; the label is the latent's sign."""
    from actiondubber.mc3.train import FeatureSet

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 6))
    views = [z @ rng.standard_normal((6, d)) + 0.3 * rng.standard_normal((n, d)) for d in dims]
    labels = (z[:, 0] > 0).astype(np.float32)
    return FeatureSet(*(v.astype(np.float32) for v in views), np.ones(n, bool), labels,
                      [f"g{i % 8}" for i in range(n)], [""] * n)


def test_two_stage_training_learns_and_round_trips(tmp_path):
    from actiondubber.mc3.config import MC3Config
    from actiondubber.mc3.heads import load_model, save_model
    from actiondubber.mc3.train import fit_readouts, roc_auc, similarity_scores, train_mc3

    fs = _toy_set()
    cfg = MC3Config(embed_dim=16, hidden=32, align_epochs=30, refine_epochs=10, batch_size=32, dropout=0.0)
    model, hist = train_mc3(fs, cfg, seed=0)
    assert [h["stage"] for h in hist] == ["align"] * 30 + ["refine"] * 10
    assert all(math.isnan(h["consensus"]) for h in hist[:30]) and all(h["consensus"] >= 0 for h in hist[30:])
    assert hist[29]["contrastive"] < 0.6 * hist[0]["contrastive"]
    # paired views are now nearer than unpaired ones
    e_v, e_a = model.embed("video", fs.video), model.embed("audio", fs.audio)
    sims = e_v @ e_a.T
    assert np.mean(np.argmax(sims, axis=1) == np.arange(len(fs))) > 0.3
    fit_readouts(model, fs)
    assert roc_auc(fs.labels, similarity_scores(model, fs, "video")) > 0.8
    path = save_model(model, tmp_path / "w.pt")
    back = load_model(path)
    assert back.config == cfg
    np.testing.assert_allclose(back.embed("audio", fs.audio), e_a, atol=2e-2)  # float16 storage
    np.testing.assert_allclose(back.p_video(back.embed("video", fs.video)),
                               model.p_video(e_v), atol=2e-2)


def test_weight_file_errors(tmp_path):
    from actiondubber.mc3.heads import load_model

    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="not an MC3 weight file"):
        load_model(tmp_path / "junk.pt")
    torch.save({"format": "something/else"}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an MC3 weight file"):
        load_model(tmp_path / "other.pt")
    torch.save({"format": "actiondubber.mc3/1", "config": {}, "in_dims": {"video": 3, "audio": 3, "text": 3},
                "state_dict": {"heads.video.net.0.weight": torch.zeros(1, 1)}}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="do not fit"):
        load_model(tmp_path / "bad.pt")


def test_roc_and_pr_auc_known_values():
    from actiondubber.mc3.train import pr_auc, roc_auc

    y = np.array([1, 0, 1, 0])
    assert roc_auc(y, [0.9, 0.1, 0.8, 0.2]) == 1.0
    assert roc_auc(y, [0.1, 0.9, 0.2, 0.8]) == 0.0
    assert roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert pr_auc(y, [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)


# --------------------------------------------------------------------------- the real encoders and shipped weights

encoders = pytest.importorskip("actiondubber.mc3.encoders")
if not encoders.available():
    pytest.skip("the mc3 extra is not installed", allow_module_level=True)

from actiondubber.mc3.heads import DEFAULT_WEIGHTS  # noqa: E402

shipped = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped MC3 weights not built")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A bouncing clip (collisions) and a pendulum clip (silent swings) from the generator, 3 s each."""
    from actiondubber.synth import render_clip

    d = tmp_path_factory.mktemp("mc3clips")
    bounce = render_clip(d / "bounce.mp4", scene="bounce", seconds=3.0, seed=5001, n_objects=1)
    swing = render_clip(d / "swing.mp4", scene="pendulum", seconds=3.0, seed=5002)
    return d, bounce, swing


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The built-in dub sounds written as WAV files."""
    import av

    from actiondubber.dubbing.sounds import BUILTIN_SOUNDS, synthesize

    d = tmp_path_factory.mktemp("lib")
    for name in BUILTIN_SOUNDS:
        s = synthesize(name, 48000, seed=1)
        with av.open(str(d / f"{name}.wav"), "w") as out:
            st = out.add_stream("pcm_s16le", rate=48000, layout="mono")
            fr = av.AudioFrame.from_ndarray((s.samples[:1] * 20000).astype(np.int16), format="s16", layout="mono")
            fr.sample_rate = 48000
            for p in st.encode(fr):
                out.mux(p)
            for p in st.encode(None):
                out.mux(p)
    return d


def test_aisfx_spectrogram_shape_and_scale():
    from actiondubber.mc3.encoders import aisfx_spectrogram

    t = np.arange(44100) / 44100
    s = aisfx_spectrogram(np.sin(2 * np.pi * 1000 * t))
    assert s.shape == (44, 96)
    assert 0 <= s.min() and s.max() < 1.0
    assert np.argmax(s[20]) == np.argmax(s[10])  # a steady tone stays in one band


@shipped
def test_shipped_model_scores_collision_above_silent_swing(clips, tmp_path):
    from actiondubber.mc3.score import sounding_probabilities
    from actiondubber.types import Event, Events
    from actiondubber.video.reader import probe

    d, bounce, swing = clips

    def events_at(clip, frames):
        info = probe(clip.path)
        return Events(info, tuple(Event(f, info.time_of(f), 1.0) for f in frames))

    hits = events_at(bounce, bounce.labelled_frames)
    quiet = events_at(swing, [20, 45, 70])
    p_hit, mode = sounding_probabilities(bounce.path, hits, mode="video", cache_dir=tmp_path)
    p_swing, _ = sounding_probabilities(swing.path, quiet, mode="video", cache_dir=tmp_path)
    assert mode == "video"
    assert ((0 <= p_hit) & (p_hit <= 1)).all()
    assert p_hit.mean() > p_swing.mean()
    p_av, mode = sounding_probabilities(bounce.path, hits, mode="auto", cache_dir=tmp_path)
    assert mode == "av" and p_av.shape == p_hit.shape


@shipped
def test_library_retrieval_known_neighbours(library):
    from actiondubber.mc3.features import audio_features_from_waves, sound_window
    from actiondubber.mc3.heads import load_model
    from actiondubber.mc3.retrieve import load_library, match_prompt

    model = load_model()
    lib = load_library(library, model)
    assert lib.names == sorted(lib.names) and len(lib.names) == 6
    # a fresh take of each sound (other seed, other noise floor) retrieves that sound
    from actiondubber.dubbing.sounds import synthesize

    waves = [sound_window(synthesize(n, 48000, seed=7).samples, 48000, seed=99) for n in lib.names]
    q = model.embed("audio", audio_features_from_waves(waves, 48000))
    hits = np.argmax(q @ lib.embeddings.T, axis=1)
    assert np.mean(hits == np.arange(6)) >= 5 / 6
    # a prompt naming a file finds it when names count
    assert lib.names[match_prompt("footstep", lib, model, name_weight=1.0)[0]] == "footstep"


def test_library_errors(tmp_path):
    from actiondubber.mc3.config import MC3Config
    from actiondubber.mc3.heads import MC3Model
    from actiondubber.mc3.retrieve import load_library

    model = MC3Model(MC3Config(), {"video": 3, "audio": 515, "text": 384})
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(InputError, match="no sound files"):
        load_library(tmp_path, model)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....garbage")
    with pytest.raises(InputError, match="broken.wav"):
        load_library(tmp_path, model)


def _cli(args):
    from click.testing import CliRunner

    from actiondubber.cli import cli

    return CliRunner().invoke(cli, args, obj={})


@shipped
def test_cli_sounding_detect_filter_and_dub(clips, library, tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONDUBBER_CACHE", str(tmp_path / "cache"))
    d, bounce, _ = clips
    scored = tmp_path / "scored.json"
    r = _cli(["sounding", bounce.path, "--json", str(scored)])
    assert r.exit_code == 0, r.output
    doc = json.loads(scored.read_text())
    assert doc["schema"] == "actiondubber.events/1" and doc["events"]
    assert all(0.0 <= e["sounding"] <= 1.0 for e in doc["events"])
    from actiondubber.events import load_events

    assert len(load_events(scored).events) == len(doc["events"])  # still an events file
    r = _cli(["sounding", bounce.path, "--events", str(scored), "--mode", "av"])
    assert r.exit_code == 0, r.output
    filt = tmp_path / "filtered.json"
    r = _cli(["detect", bounce.path, "--sounding-filter", "0.5", "--json", str(filt)])
    assert r.exit_code == 0, r.output
    kept = json.loads(filt.read_text())["events"]
    assert len(kept) <= len(doc["events"]) and all(e["sounding"] >= 0.5 for e in kept)
    out = tmp_path / "auto.mp4"
    r = _cli(["dub", bounce.path, "--events", str(scored), "--sound-library", str(library), "--auto", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "auto:" in r.output
    out2 = tmp_path / "prompt.mp4"
    r = _cli(["dub", bounce.path, "--events", str(scored), "--sound-library", str(library),
              "--prompt", "footsteps on gravel", "-o", str(out2)])
    assert r.exit_code == 0, r.output
    assert "prompt 'footsteps on gravel': footstep.wav" in r.output


def test_cli_errors(clips, tmp_path, monkeypatch):
    d, bounce, _ = clips
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _cli(["dub", bounce.path, "--sound-library", str(empty), "--auto", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 2 and "no sound files" in r.output and "Traceback" not in r.output
    r = _cli(["dub", bounce.path, "--auto", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 2 and "need --sound-library" in r.output
    r = _cli(["sounding", str(tmp_path / "missing.mp4")])
    assert r.exit_code == 2 and "not found" in r.output
    r = _cli(["sounding", bounce.path, "--weights", str(tmp_path / "none.pt")])
    assert r.exit_code == 2 and "MC3 weight file not found" in r.output
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    r = _cli(["sounding", bounce.path])
    assert r.exit_code == 4 and "'mc3' extra" in r.output and len(r.output.strip().splitlines()) == 1


def test_cli_train_mc3_round_trip(clips, tmp_path):
    from actiondubber.mc3.data import Window, write_clips_csv
    from actiondubber.mc3.heads import load_model

    d, bounce, swing = clips
    ws = [Window(bounce.path, t, "a ball bounces on the floor", 1.0) for t in bounce.collision_times[:3]]
    ws += [Window(swing.path, t, "a pendulum swings", 0.0) for t in (0.7, 1.5, 2.3)]
    csv_path = write_clips_csv(tmp_path / "clips.csv", ws)
    out = tmp_path / "run"
    r = _cli(["train-mc3", "--clips", str(csv_path), "--out", str(out), "--align-epochs", "3", "--refine-epochs", "2",
              "--batch-size", "4"])
    assert r.exit_code == 0, r.output
    model = load_model(out / "mc3.pt")
    assert model.config.align_epochs == 3 and model.meta["windows"] == 6
    assert (out / "history.csv").read_text().count("refine") == 2


REAL = ROOT.parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not (REAL / "vas_drum_snare_overhead.mp4").is_file(),
                                reason="../shared/data/real is not present")


def test_imagenet_classifier_probabilities_and_names():
    from actiondubber.mc3.encoders import image_class_probs, image_features, imagenet_class_names

    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and "drumstick" in names
    rng = np.random.default_rng(0)
    p = image_class_probs(image_features(rng.integers(0, 255, (2, 112, 112, 3), dtype=np.uint8)))
    assert p.shape == (2, 1000) and np.allclose(p.sum(1), 1.0, atol=1e-4) and (p >= 0).all()
    with pytest.raises(ValueError):
        image_class_probs(np.zeros((1, 5), np.float32))


@needs_real
def test_picture_words_of_a_drum_clip_match_a_drum_file_name(tmp_path):
    from actiondubber.mc3.words import class_probabilities, name_similarities, name_text, top_words
    from actiondubber.video.reader import probe

    clip = REAL / "vas_drum_snare_overhead.mp4"
    info = probe(clip)
    frames = [info.n_frames // 4, info.n_frames // 2]
    probs = class_probabilities(clip, frames, xy=[(None, None), (info.width / 2, info.height / 2)], info=info,
                                cache_dir=tmp_path)
    assert probs.shape == (2, 1000) and np.allclose(probs.sum(1), 1.0, atol=1e-4)
    again = class_probabilities(clip, frames, xy=[(None, None), (info.width / 2, info.height / 2)], info=info,
                                cache_dir=tmp_path)
    np.testing.assert_array_equal(probs, again)  # from the cache
    words = top_words(probs)
    assert len(words) == 2 and all(len(w) == 5 for w in words)
    assert all("drum" in " ".join(n for n, _ in w) for w in words), words  # ImageNet knows drums
    names = [Path("snare_drum-hit.wav"), Path("footsteps_on_gravel.wav"), Path("glass_break.wav")]
    assert name_text(names[0]) == "snare drum hit"
    sims = name_similarities(words, names)
    assert sims.shape == (2, 3) and (np.argmax(sims, axis=1) == 0).all(), sims


@pytest.mark.parametrize("knob", [None, "sensitivity", "min_gap", "multiscale", "abrupt", "edge_gate", "short_side",
                                  "flow_preset", "gravity", "frame_offset"])
def test_event_curve_reuses_only_the_single_scale_curve(monkeypatch, knob):
    # the MC3 heads read the plain single-scale curve: an events file's own scores stand in for it
    # only when every knob that changes the curve was at its default (the picking knobs do not)
    import dataclasses

    import actiondubber.mc3.train as mc3_train
    from actiondubber.detection.detector import DetectorParams
    from actiondubber.mc3.score import event_curve
    from actiondubber.types import Events, VideoInfo

    info = VideoInfo(path="clip.mp4", width=64, height=48, fps=30.0, n_frames=4, duration=4 / 30, has_audio=False,
                     timestamps=tuple(i / 30 for i in range(4)))
    params = {"detector": "inflection-training-free", **dataclasses.asdict(DetectorParams())}
    if knob is not None:
        params[knob] = {"multiscale": 192, "abrupt": 2.0, "edge_gate": True, "short_side": 192, "flow_preset": "medium",
                        "gravity": 0.5, "frame_offset": 1, "sensitivity": 0.9, "min_gap": 0.3}[knob]
    own = np.array([0.0, 1.0, 2.0, 0.0], np.float32)
    ev = Events(info, (), own, params)
    computed = np.array([5.0, 5.0, 5.0, 5.0], np.float32)
    monkeypatch.setattr(mc3_train, "clip_curve", lambda video, cache_dir=None: (info, computed))
    reuse = knob in (None, "sensitivity", "min_gap")
    np.testing.assert_array_equal(event_curve("clip.mp4", ev), own if reuse else computed)
