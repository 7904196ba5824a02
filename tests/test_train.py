"""Tests of actiondubber.train: features + cache, the Audible623-format data set, the loop, resume, DDP, CLI."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from actiondubber.cli import cli  # noqa: E402
from actiondubber.errors import InputError, OutputError, ParameterError  # noqa: E402
from actiondubber.evaluate.labels import write_labels  # noqa: E402
from actiondubber.model.config import FLOW_SCALE, TA2NetConfig  # noqa: E402
from actiondubber.model.inputs import (  # noqa: E402
    FLOW_QUANTUM,
    FeatureParams,
    cache_path,
    hflip,
    to_tensors,
    video_features,
)
from actiondubber.synth import render_clip, write_labels_csv  # noqa: E402
from actiondubber.train.dataset import ClipSampler, load_set, resolve_rows  # noqa: E402
from actiondubber.train.loop import TrainRecipe, train  # noqa: E402

AUDIBLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "audible623"
ROOT = Path(__file__).resolve().parents[1]


def tiny_cfg(**kw) -> TA2NetConfig:
    base = dict(backbone="tiny", cut="layer2", size=32, dim=8, attn_dim=8, head_dim=16, clip_len=8,
                temporal_layers=1, temporal_heads=2, dropout=0.1)
    base.update(kw)
    return TA2NetConfig(**base)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    """Three 2-second 96x72 clips with collisions and their labels CSV."""
    d = tmp_path_factory.mktemp("synth")
    clips = [render_clip(d / f"clip{i}.mp4", scene=scene, size=(96, 72), seconds=2, seed=10 + i)
             for i, scene in enumerate(("bounce", "walls", "juggle"))]
    assert all(c.labelled_frames for c in clips)
    write_labels_csv(d / "labels.csv", clips)
    return d


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


# ----------------------------------------------------------------------------- features


def test_features_shapes_trimming_and_alignment(synth_set):
    from actiondubber.kinematics import iter_kinematics, make_flow_backend
    from actiondubber.video.reader import Frame, iter_frames, probe

    video = synth_set / "clip0.mp4"
    n = probe(video).n_frames
    f = video_features(video, size=48)
    assert f.n_rows == n - 2 and f.info.n_frames == n and not f.cached
    assert f.rgb.shape == (n - 2, 48, 48, 3) and f.rgb.dtype == np.uint8
    assert f.motion.shape == f.inflection.shape == (n - 2, 48, 48, 4)
    assert f.motion.dtype == f.inflection.dtype == np.float16
    # row j is frame j+1, channels (v-, v+) and (a-, a+): recompute frame 5 independently
    import cv2

    frames = [Frame(fr.index, fr.time, cv2.cvtColor(fr.image, cv2.COLOR_RGB2GRAY))
              for fr in iter_frames(video, size=(48, 48), pix_fmt="rgb24")]
    k = next(k for k in iter_kinematics(frames, make_flow_backend("dis"), with_eq3=True) if k.index == 5)
    np.testing.assert_allclose(f.motion[4, ..., :2], k.v_minus, atol=FLOW_QUANTUM)
    np.testing.assert_allclose(f.motion[4, ..., 2:], k.v_plus, atol=FLOW_QUANTUM)
    np.testing.assert_allclose(f.inflection[4, ..., :2], k.a_minus, atol=FLOW_QUANTUM)
    np.testing.assert_allclose(f.inflection[4, ..., 2:], k.a_plus, atol=FLOW_QUANTUM)
    assert np.abs(f.motion).max() > 0.5  # something moves in the clip


def test_cache_hit_and_invalidation(synth_set, tmp_path, caplog):
    video = tmp_path / "v.mp4"
    video.write_bytes((synth_set / "clip1.mp4").read_bytes())
    cdir = tmp_path / "cache"
    t0 = time.perf_counter()
    a = video_features(video, size=40, cache_dir=cdir)
    t_compute = time.perf_counter() - t0
    assert not a.cached and cache_path(video, FeatureParams(size=40), cdir).is_file()
    t0 = time.perf_counter()
    b = video_features(video, size=40, cache_dir=cdir)
    t_load = time.perf_counter() - t0
    assert b.cached and b.n_rows == a.n_rows and t_load < t_compute
    np.testing.assert_array_equal(a.motion, b.motion)
    np.testing.assert_array_equal(a.inflection, b.inflection)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert b.info.timestamps == a.info.timestamps
    # rows read chunk-wise from the file equal the in-memory ones
    for start, stop in ((0, 3), (14, 35), (a.n_rows - 5, a.n_rows + 4)):
        for x, y in zip(b.rows(start, stop), a.rows(start, stop), strict=True):
            np.testing.assert_array_equal(x, y)
    # other parameters, other content → recomputed
    assert not video_features(video, size=48, cache_dir=cdir).cached
    assert not video_features(video, params=FeatureParams(size=40, backend="farneback"), cache_dir=cdir).cached
    assert not video_features(video, params=FeatureParams(size=40, align="none"), cache_dir=cdir).cached
    assert len(list(cdir.glob("*.npz"))) == 4
    video.write_bytes((synth_set / "clip2.mp4").read_bytes())
    assert not video_features(video, size=40, cache_dir=cdir).cached
    # a damaged cache file is recomputed, with a warning naming it
    bad = cache_path(video, FeatureParams(size=40), cdir)
    bad.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING):
        c = video_features(video, size=40, cache_dir=cdir)
    assert not c.cached and str(bad) in caplog.text
    assert video_features(video, size=40, cache_dir=cdir).cached


def test_tensors_are_scaled_normalised_and_padded(synth_set):
    f = video_features(synth_set / "clip0.mp4", size=32)
    rgb, mot, inf = to_tensors(f, f.n_rows - 3, 8)  # 3 real rows, 5 padded
    assert rgb.shape == (8, 3, 32, 32) and mot.shape == inf.shape == (8, 4, 32, 32)
    np.testing.assert_allclose(mot[:3].numpy(), np.moveaxis(f.motion[-3:].astype(np.float32), -1, 1) / FLOW_SCALE,
                               rtol=1e-6)
    assert torch.all(mot[3:] == 0) and torch.all(inf[3:] == 0)  # padding: a frozen frame has no motion
    assert torch.equal(rgb[3], rgb[7]) and torch.equal(rgb[2], rgb[3])
    x = f.rgb[:1].astype(np.float32) / 255.0
    expect = (x[0, 5, 7, 0] - 0.485) / 0.229
    assert abs(float(to_tensors(f, 0, 1)[0][0, 0, 5, 7]) - expect) < 1e-5


def test_hflip_mirrors_and_negates_dx():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (2, 4, 5, 3), dtype=np.uint8)
    mot = rng.normal(size=(2, 4, 5, 4)).astype(np.float16)
    r, m, a = hflip(rgb, mot, mot)
    assert np.array_equal(r[:, :, 0], rgb[:, :, -1])
    assert np.array_equal(m[:, :, 0, 0], -mot[:, :, -1, 0]) and np.array_equal(m[:, :, 0, 1], mot[:, :, -1, 1])
    assert np.array_equal(m[:, :, 0, 2], -mot[:, :, -1, 2]) and np.array_equal(m[:, :, 0, 3], mot[:, :, -1, 3])


def test_feature_params_share_flow_params_with_the_detector():
    """One FlowParams (backend, preset, camera-motion model) builds the flow of both the inputs and the detector."""
    from actiondubber.detection.detector import DetectorParams
    from actiondubber.kinematics.flow import DISFlow, FarnebackFlow, FlowParams

    fp = FeatureParams(size=40, backend="farneback", flow_preset="medium", compensate="median")
    assert fp.flow == FlowParams(backend="farneback", preset="medium", compensate="median")
    assert DetectorParams(backend="farneback", flow_preset="medium", compensate="median").flow == fp.flow
    fwd, bwd = fp.flow.backends()
    assert isinstance(fwd, FarnebackFlow) and isinstance(bwd, FarnebackFlow) and fwd is not bwd
    assert isinstance(FeatureParams().flow.backends()[0], DISFlow)
    # the cache key (and so every cached feature file) is what it was before FlowParams
    assert (FeatureParams().key(), FeatureParams(size=40, backend="farneback").key()) == ("36f30a49d03e",
                                                                                         "433964b1767a")


@pytest.mark.parametrize("bad", [{"size": 8}, {"size": 40.0}, {"backend": "nope"}, {"flow_preset": "slow"},
                                 {"compensate": "wobble"}, {"align": "sideways"}])
def test_feature_params_reject_bad_arguments(bad):
    from actiondubber.kinematics.flow import FlowParams

    with pytest.raises(ParameterError):
        FeatureParams(**bad)
    with pytest.raises(ParameterError, match="wings"):
        FeatureParams.from_dict({"wings": 2})
    with pytest.raises(ParameterError, match="tvl2"):
        FlowParams(backend="tvl2")


# ----------------------------------------------------------------------------- data set


@pytest.mark.skipif(not (AUDIBLE / "data_train.csv").is_file(), reason="../shared/data/audible623 not present")
def test_real_audible623_csvs(tmp_path, caplog):
    from actiondubber.evaluate.labels import read_labels

    train_csv, eval_csv = AUDIBLE / "data_train.csv", AUDIBLE / "data_eval.csv"
    with caplog.at_level(logging.WARNING):
        lf = read_labels(train_csv)
    assert len(lf) == 494 and lf.n_skipped == 0  # 497 rows, 3 ids listed twice (merged, warned)
    assert "line 216: video GA1p9iU0HlY listed twice" in caplog.text
    assert sum(v.startswith("v_") for v in lf.videos) == 160
    assert len({v.class_key for v in lf.videos.values()}) == 17
    assert all(list(v.frames) == sorted(set(v.frames)) for v in lf.videos.values())
    # no videos here: every row is skipped, warned about (file + line) and counted
    with caplog.at_level(logging.WARNING):
        rows, report = resolve_rows(train_csv, tmp_path)
    assert rows == [] and report.n_rows == 494 and report.n_skipped == 494
    assert f"{train_csv} line 2 (video AaTvErday_s)" in caplog.text
    assert "494 skipped (494 without a video file)" in report.summary()
    # a UCF101 id found by its file stem, with labels far beyond the clip: labels dropped, row kept
    vdir = tmp_path / "videos" / "Drumming"
    vdir.mkdir(parents=True)
    render_clip(vdir / "v_Drumming_g07_c01.mp4", size=(96, 72), seconds=2, seed=3)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ds = load_set(eval_csv, tmp_path / "videos", FeatureParams(size=32), cache_dir=tmp_path / "cache")
    assert len(ds) == 1 and ds.items[0].video.label_class == "Drumming"
    assert ds.items[0].video.frames[:3] == (4, 13, 21) and max(ds.items[0].video.frames) > 60
    assert ds.report.dropped_labels == 31  # 39 labels, 8 below frame 60
    assert f"{eval_csv} line 85 (video v_Drumming_g07_c01)" in caplog.text
    assert "beyond the video's 60 frames" in caplog.text
    assert ds.report.n_skipped == 125


def test_bad_rows_are_warned_about_and_counted(synth_set, tmp_path, caplog):
    csv_path = tmp_path / "labels.csv"
    write_labels(csv_path, {"clip0": [10, 20], "no_such_video": [5], "clip1": [], "clip2": [500, 600]},
                 {"clip0": "Bounce"})
    with caplog.at_level(logging.WARNING):
        ds = load_set(csv_path, synth_set, FeatureParams(size=32), cache_dir=tmp_path / "c")
    assert [it.video.video_id for it in ds.items] == ["clip0"]
    rep = ds.report
    assert rep.n_rows == 4 and rep.n_used == 1 and rep.n_skipped == 3
    assert rep.skipped["without a video file"] == [(3, "no_such_video")]
    assert rep.skipped["with no labels"] == [(4, "clip1")]
    assert rep.skipped["with all labels beyond the video"] == [(5, "clip2")]
    text = caplog.text
    assert f"{csv_path} line 3 (video no_such_video): no video file" in text
    assert f"{csv_path} line 4 (video clip1): empty label list" in text
    assert f"{csv_path} line 5 (video clip2)" in text
    assert "1 of 4 row(s) used; 3 skipped" in text  # the summary line
    # targets: frame f is row f-1
    item = ds.items[0]
    assert list(item.positive_rows) == [9, 19]
    assert list(np.flatnonzero(item.targets(5, 8))) == [4]
    # nothing usable at all: a clear error
    write_labels(csv_path, {"no_such_video": [5]})
    with pytest.raises(InputError, match="no usable rows"):
        load_set(csv_path, synth_set, FeatureParams(size=32), cache_dir=tmp_path / "c")


def test_rows_without_labels_as_negatives(synth_set, tmp_path, caplog):
    csv_path = tmp_path / "labels.csv"
    write_labels(csv_path, {"clip0": [10, 20], "clip1": []})
    with caplog.at_level(logging.WARNING):
        ds = load_set(csv_path, synth_set, FeatureParams(size=32), cache_dir=tmp_path / "c", negatives=True)
    assert [it.video.video_id for it in ds.items] == ["clip0", "clip1"]
    assert ds.report.n_skipped == 0 and ds.report.n_negatives == 1
    assert "2 of 2 row(s) used (1 without labels, as negatives)" in ds.report.summary()
    assert "empty label list" not in caplog.text
    neg = ds.items[1]
    starts = set()
    for seed in range(20):
        c = ds.clip(1, 8, np.random.default_rng(seed))
        assert c.targets.sum() == 0 and c.n_valid == 8 and 0 <= c.start <= neg.n_rows - 8
        starts.add(c.start)
    assert len(starts) > 5  # anywhere in the video, not one fixed place
    # negatives only: nothing to learn the audible class from, a clear error
    write_labels(csv_path, {"clip1": [], "clip2": []})
    with pytest.raises(InputError, match="no usable rows with labels"):
        load_set(csv_path, synth_set, FeatureParams(size=32), cache_dir=tmp_path / "c", negatives=True)


def test_sampler_is_a_pure_function_of_its_state(synth_set, cache):
    ds = load_set(synth_set / "labels.csv", synth_set, FeatureParams(size=32), cache_dir=cache)
    s1 = ClipSampler(len(ds), seed=7)
    first = [(i, r.integers(1 << 30)) for i, r in s1.take(5)]
    state = s1.state_dict()
    rest = [(i, r.integers(1 << 30)) for i, r in s1.take(4)]
    s2 = ClipSampler(len(ds), seed=7)
    s2.load_state_dict(state)
    assert [(i, r.integers(1 << 30)) for i, r in s2.take(4)] == rest
    assert sorted(i for i, _ in first[:3]) == [0, 1, 2]  # each epoch visits every video once
    assert state["epoch"] == 1 and state["position"] == 2
    # every clip contains an annotated frame
    for i, rng in ClipSampler(len(ds), seed=1).take(12):
        c = ds.clip(i, 8, rng)
        assert c.targets.sum() >= 1 and c.rgb.shape == (8, 32, 32, 3) and c.n_valid == 8


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("bad", [{"iterations": 0}, {"batch_size": 1.5}, {"accumulate": 0}, {"lr": 0.0},
                                 {"lr": float("nan")}, {"weight_decay": -1.0}, {"warmup": -1}, {"schedule": "step"},
                                 {"grad_clip": 0.0}, {"eval_every": 0}, {"lr_mult": {"encoder_rgb": -1.0}},
                                 {"features": {"size": 32}}])
def test_recipe_rejects_bad_arguments(bad):
    with pytest.raises(ParameterError):
        TrainRecipe("labels.csv", "videos", **bad)


def test_train_takes_a_recipe_whose_defaults_are_the_papers():
    import inspect

    params = inspect.signature(train).parameters
    assert list(params)[:2] == ["recipe", "out_dir"] and len(params) <= 10
    r = TrainRecipe("labels.csv", "videos")
    assert (r.iterations, r.batch_size, r.lr, r.schedule, r.warmup) == (20000, 4, 5e-6, "constant", 0)
    with pytest.raises(ParameterError, match="TrainRecipe"):
        train({"iterations": 2}, "run")



def test_tiny_model_trains_and_loss_falls(synth_set, cache, tmp_path):
    recipe = TrainRecipe(synth_set / "labels.csv", synth_set, val_csv=synth_set / "labels.csv", iterations=80,
                         batch_size=2, lr=3e-3, eval_every=40, seed=0)
    res = train(recipe, tmp_path / "run", cfg=tiny_cfg(dropout=0.0), cache_dir=cache)
    assert len(res.losses) == 80 and all(np.isfinite(res.losses))
    assert np.mean(res.losses[-10:]) < 0.8 * np.mean(res.losses[:10])  # measured: 0.72 -> 0.41
    out = tmp_path / "run"
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file()
    lines = (out / "metrics.csv").read_text().splitlines()
    assert len(lines) == 3 and "val_strict_f1_2f" in lines[0] and "train_total" in lines[0]
    assert "val_threshold" in lines[0]
    assert res.best_iteration in (40, 80) and res.best_metric is not None
    # the folder holds a run now: starting another one there is refused
    with pytest.raises(OutputError, match="already holds a training run"):
        train(TrainRecipe(synth_set / "labels.csv", synth_set, iterations=2), out, cfg=tiny_cfg(), cache_dir=cache)


def test_tensorboard_scalars_and_negatives_in_training(synth_set, cache, tmp_path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    csv_path = tmp_path / "labels.csv"
    write_labels(csv_path, {"clip0": [12, 30], "clip1": []})
    recipe = TrainRecipe(csv_path, synth_set, val_csv=synth_set / "labels.csv", negatives=True, iterations=4,
                         batch_size=2, lr=1e-3, eval_every=2)
    res = train(recipe, tmp_path / "run", cfg=tiny_cfg(), cache_dir=cache)
    assert res.iteration == 4 and all(np.isfinite(res.losses))
    acc = ea.EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train_total" in tags and "val_strict_f1_2f" in tags
    assert [e.step for e in acc.Scalars("train_total")] == [2, 4]
    csv_rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = csv_rows[0].split(",")
    col = header.index("train_total")
    assert [round(e.value, 4) for e in acc.Scalars("train_total")] == \
        [round(float(r.split(",")[col]), 4) for r in csv_rows[1:]]


def test_gradient_accumulation_trains_the_same_clips(synth_set, cache, tmp_path):
    recipe = TrainRecipe(synth_set / "labels.csv", synth_set, iterations=3, batch_size=2, lr=1e-3, seed=2)
    whole = train(recipe, tmp_path / "a", cfg=tiny_cfg(dropout=0.0), cache_dir=cache)
    split = train(replace(recipe, accumulate=2), tmp_path / "b", cfg=tiny_cfg(dropout=0.0), cache_dir=cache)
    assert split.iteration == 3 and np.isfinite(split.losses).all()
    # same clips; only BatchNorm's batch statistics differ (one clip per micro-batch instead of two)
    assert split.losses[0] == pytest.approx(whole.losses[0], rel=0.2)
    meta = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["meta"]
    assert meta["accumulate"] == 2 and meta["batch_size"] == 2
    with pytest.raises(ParameterError, match="accumulate must be at least 1"):
        replace(recipe, accumulate=0)


def test_fine_tuning_starts_from_another_checkpoints_weights(synth_set, cache, tmp_path):
    recipe = TrainRecipe(synth_set / "labels.csv", synth_set, batch_size=1, seed=4, iterations=3, lr=1e-3)
    still = replace(recipe, iterations=1, lr=1e-12)
    train(recipe, tmp_path / "a", cfg=tiny_cfg(dropout=0.0), cache_dir=cache)
    src = tmp_path / "a" / "last.pt"
    tuned = train(still, tmp_path / "b", init_from=src, cache_dir=cache)
    assert tuned.start_iteration == 0 and tuned.iteration == 1
    a = torch.load(src, weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert b["config"] == a["config"] and b["meta"]["init_from"] == str(src)
    floats = [k for k, v in a["model"].items() if v.is_floating_point() and "running" not in k]
    assert all(torch.allclose(a["model"][k], b["model"][k], atol=1e-6) for k in floats)  # lr ~0: the same weights
    train(still, tmp_path / "e", cfg=tiny_cfg(dropout=0.0), cache_dir=cache)
    e = torch.load(tmp_path / "e" / "last.pt", weights_only=True)["model"]
    assert not all(torch.allclose(a["model"][k], e[k], atol=1e-6) for k in floats)  # without it: other weights
    with pytest.raises(InputError, match="do not fit the model of the given config"):
        train(replace(recipe, iterations=1), tmp_path / "c", cfg=tiny_cfg(dim=16), init_from=src, cache_dir=cache)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="bad.pt"):
        train(replace(recipe, iterations=1), tmp_path / "d", init_from=bad, cache_dir=cache)


def test_resume_continues_exactly(synth_set, cache, tmp_path):
    recipe = TrainRecipe(synth_set / "labels.csv", synth_set, val_csv=synth_set / "labels.csv", iterations=6,
                         batch_size=2, lr=1e-3, eval_every=3, ckpt_every=3, seed=3)
    kw = dict(cache_dir=cache)
    full = train(recipe, tmp_path / "a", cfg=tiny_cfg(), **kw)
    part = train(recipe, tmp_path / "b", cfg=tiny_cfg(), stop_after=4, **kw)
    assert part.iteration == 4 and part.losses == full.losses[:4]
    # "killed" after iteration 4: last.pt is from iteration 3; resume replays 4 and continues
    rest = train(recipe, tmp_path / "b", resume=True, **kw)
    assert rest.start_iteration == 3 and rest.iteration == 6
    assert rest.losses == full.losses[3:]  # bit-identical, dropout included
    ma = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    mb = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    rows = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["3", "6"]
    # a different config cannot resume this run
    with pytest.raises(InputError, match="differs from the checkpoint"):
        train(recipe, tmp_path / "b", cfg=tiny_cfg(dim=16), resume=True, **kw)
    # ... but one that only changes the memory layout can (same numbers, e.g. a newer default)
    more = train(replace(recipe, iterations=7), tmp_path / "b", cfg=tiny_cfg(channels_last=False, encoder_chunk=4),
                 resume=True, **kw)
    assert more.start_iteration == 6 and more.iteration == 7 and np.isfinite(more.losses).all()
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["config"]
    assert ck["channels_last"] is False and ck["encoder_chunk"] == 4
    with pytest.raises(InputError, match="no checkpoint to resume"):
        train(recipe, tmp_path / "c", resume=True, **kw)


def test_killed_process_resumes_exactly(synth_set, cache, tmp_path):
    """SIGKILL a training process mid-run; the resumed run computes the losses the uninterrupted one does."""
    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(__import__("json").dumps(tiny_cfg().to_dict()))
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    common = dict(batch_size=2, lr=1e-3, eval_every=500, ckpt_every=2, seed=0)
    cmd = [sys.executable, "-m", "actiondubber", "-q", "train", "--labels", str(synth_set / "labels.csv"), "--videos",
           str(synth_set), "--out", str(out), "--config", str(cfg_file), "--iterations", "500", "--batch-size", "2",
           "--lr", "1e-3", "--eval-every", "500", "--ckpt-every", "2", "--cache-dir", str(cache), "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    k = 0
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "last.pt").is_file():
                k = torch.load(out / "last.pt", weights_only=True)["iteration"]
                if k >= 4:
                    break
            time.sleep(0.05)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert 4 <= k < 500, err.decode()[-2000:]
    k = torch.load(out / "last.pt", weights_only=True)["iteration"]  # the last complete checkpoint
    recipe = TrainRecipe(synth_set / "labels.csv", synth_set, iterations=k + 2, **common)
    resumed = train(recipe, out, resume=True, cache_dir=cache)
    ref = train(recipe, tmp_path / "ref", cfg=tiny_cfg(), cache_dir=cache)
    assert resumed.start_iteration == k and resumed.losses == ref.losses[k:]


def test_sigterm_saves_a_checkpoint_that_resumes_exactly(synth_set, cache, tmp_path):
    """SIGTERM (or Ctrl-C) mid-run: the iteration in progress finishes, last.pt is written (no checkpoint was
    due), the process exits with one line, and the resumed run computes the uninterrupted run's losses."""
    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(__import__("json").dumps(tiny_cfg().to_dict()))
    out = tmp_path / "stopped"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "actiondubber", "-q", "train", "--labels", str(synth_set / "labels.csv"), "--videos",
           str(synth_set), "--out-dir", str(out), "--config", str(cfg_file), "--iterations", "500", "--batch-size",
           "2", "--lr", "1e-3", "--eval-every", "2", "--ckpt-every", "1000", "--cache-dir", str(cache),
           "--device", "cpu", "--seed", "0"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            metrics = out / "metrics.csv"
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:  # header + 2 rows: 4 iterations
                break
            time.sleep(0.05)
        assert proc.poll() is None, "training ended before the signal"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode in (130, 143), err.decode()[-2000:]
    assert (out / "last.pt").is_file(), err.decode()[-2000:]
    k = torch.load(out / "last.pt", weights_only=True)["iteration"]
    assert 4 <= k < 500
    common = dict(batch_size=2, lr=1e-3, eval_every=500, ckpt_every=1000, seed=0)
    recipe = TrainRecipe(synth_set / "labels.csv", synth_set, iterations=k + 2, **common)
    resumed = train(recipe, out, resume=True, cache_dir=cache)
    ref = train(recipe, tmp_path / "ref", cfg=tiny_cfg(), cache_dir=cache)
    assert resumed.start_iteration == k and resumed.losses == ref.losses[k:]


def test_torchrun_two_cpu_processes(synth_set, cache, tmp_path):
    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(__import__("json").dumps(tiny_cfg().to_dict()))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "actiondubber", "train", "--labels", str(synth_set / "labels.csv"), "--videos", str(synth_set),
           "--out", str(out), "--config", str(cfg_file), "--iterations", "2", "--batch-size", "2", "--accumulate", "2",
           "--lr", "1e-3", "--cache-dir", str(cache), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained iterations 1-2 (2)" in proc.stdout
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["iteration"] == 2 and ck["meta"]["world_size"] == 2 and len(ck["rng"]) == 2
    assert ck["meta"]["accumulate"] == 2  # micro-batches of one clip; DDP syncs gradients on the last one
    assert ck["sampler"]["position"] == 2 and ck["sampler"]["epoch"] == 2  # 2 steps x 2 processes x 2 clips, 3 videos


def test_cli_train_resume_and_clean_errors(synth_set, cache, tmp_path):
    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(__import__("json").dumps(tiny_cfg().to_dict()))
    base = ["train", "--labels", str(synth_set / "labels.csv"), "--videos", str(synth_set), "--out",
            str(tmp_path / "run"), "--cache-dir", str(cache), "--batch-size", "1", "--lr", "1e-3", "--seed", "1"]
    runner = CliRunner()
    r = runner.invoke(cli, [*base, "--config", str(cfg_file), "--iterations", "2"])
    assert r.exit_code == 0, r.output
    assert "trained iterations 1-2 (2)" in r.output and "wrote" in r.output
    r = runner.invoke(cli, [*base, "--iterations", "3", "--resume"])
    assert r.exit_code == 0, r.output
    assert "trained iterations 3-3 (1)" in r.output
    # unknown config key: one line naming the file and the key, no traceback
    bad = tmp_path / "bad.json"
    bad.write_text('{"backbone": "tiny", "depth": 3}')
    r = runner.invoke(cli, [*base[:6], str(tmp_path / "run2"), "--config", str(bad)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(bad) in r.output and "depth" in r.output
    # a damaged checkpoint to resume from: a clear message naming it
    (tmp_path / "run" / "last.pt").write_bytes(b"\x80\x02garbage")
    r = runner.invoke(cli, [*base, "--iterations", "4", "--resume"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(tmp_path / "run" / "last.pt") in r.output and "not a readable checkpoint" in r.output


def test_a_step_that_will_not_fit_accumulates_or_is_refused(monkeypatch, caplog):
    from actiondubber.train import loop

    paper = TA2NetConfig.paper()
    assert loop.estimated_step_gb(paper, 4) == pytest.approx(4 * loop.estimated_step_gb(paper, 1))
    assert loop.estimated_step_gb(paper.replace(clip_len=32), 1) < loop.estimated_step_gb(paper, 1)
    assert loop.estimated_step_gb(TA2NetConfig.small_cpu(), 4) is None  # not measured: no guess
    monkeypatch.setattr(loop, "_available_gb", lambda: 22.0)
    with caplog.at_level(logging.WARNING):
        assert loop.fit_in_memory(paper, 4, 1) == 2  # 2 clips (~20 GB) at a time fit in 22 GB
    assert "needs about 40 GB of RAM" in caplog.text and "accumulating 2 micro-batches" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert loop.fit_in_memory(paper, 4, 4) == 4  # one clip at a time: ~10 GB fits
    assert caplog.text == ""
    monkeypatch.setattr(loop, "_available_gb", lambda: 6.0)
    with pytest.raises(InputError, match="per clip"):  # refused before any work, not killed later
        loop.fit_in_memory(paper, 4, 1)
