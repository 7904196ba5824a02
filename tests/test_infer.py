"""Tests of actiondubber.model.infer and the CLI's --model paths: windows, events, heat maps, bad checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from actiondubber.cli import cli  # noqa: E402
from actiondubber.errors import InputError  # noqa: E402
from actiondubber.events import load_events, save_events  # noqa: E402
from actiondubber.model.config import TA2NetConfig  # noqa: E402
from actiondubber.model.infer import (  # noqa: E402
    _window_starts,
    detect_with_model,
    load_checkpoint,
    load_model,
    map_peak,
    predict_rows,
    predict_video,
)
from actiondubber.model.inputs import video_features  # noqa: E402
from actiondubber.synth import render_clip, write_labels_csv  # noqa: E402
from actiondubber.train.loop import THRESHOLDS, TrainRecipe, train  # noqa: E402
from actiondubber.video.reader import probe  # noqa: E402


def tiny_cfg(**kw) -> TA2NetConfig:
    base = dict(backbone="tiny", cut="layer2", size=32, dim=8, attn_dim=8, head_dim=16, clip_len=16,
                temporal_layers=1, temporal_heads=2, dropout=0.0)
    base.update(kw)
    return TA2NetConfig(**base)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two short labelled clips, a 150-frame clip, and a checkpoint trained a few steps on the short ones."""
    d = tmp_path_factory.mktemp("infer")
    vids = d / "videos"
    vids.mkdir()
    clips = [render_clip(vids / f"c{i}.mp4", scene=s, size=(96, 72), seconds=2, seed=20 + i)
             for i, s in enumerate(("bounce", "walls"))]
    write_labels_csv(d / "labels.csv", clips)
    long_clip = render_clip(d / "long.mp4", scene="bounce", size=(96, 72), seconds=5, fps=30, seed=5)
    cache = d / "cache"
    recipe = TrainRecipe(d / "labels.csv", vids, val_csv=d / "labels.csv", iterations=4, batch_size=2, lr=1e-3,
                         eval_every=2, seed=0)
    res = train(recipe, d / "run", cfg=tiny_cfg(), cache_dir=cache)
    assert res.best_checkpoint is not None
    return {"dir": d, "videos": vids, "labels": d / "labels.csv", "long": d / "long.mp4", "long_clip": long_clip,
            "ckpt": Path(res.best_checkpoint), "last": d / "run" / "last.pt", "cache": cache}


def test_window_starts_cover_every_row():
    assert _window_starts(148, 64, 64) == [0, 64, 128]
    assert _window_starts(128, 64, 64) == [0, 64]
    assert _window_starts(10, 64, 64) == [0]
    assert _window_starts(130, 64, 32) == [0, 32, 64, 96]


def test_predict_video_gives_one_probability_per_frame(world):
    model, cfg = load_model(world["ckpt"])
    assert not model.training and cfg.clip_len == 16 and model.feature_params.size == 32
    n = probe(world["long"]).n_frames
    assert n == 150
    probs, maps = predict_video(model, world["long"])
    assert probs.shape == (150,) and probs.dtype == np.float32
    assert probs[0] == 0 and probs[-1] == 0 and np.all((probs >= 0) & (probs <= 1)) and probs[1:-1].std() > 0
    h = model.feature_size()
    assert maps.shape == (150, h, h) and np.all((maps >= 0) & (maps <= 1))
    # streamed from the decoder or read from the cache: the same numbers
    p2, m2 = predict_video(model, world["long"], cache_dir=world["cache"])
    np.testing.assert_allclose(p2, probs, atol=1e-6)
    np.testing.assert_allclose(m2, maps, atol=1e-6)
    # overlapping windows: one value per frame; averaging = the mean of the two window grids (0, 16, ..) and (8, 24, ..)
    p3, _ = predict_video(model, world["long"], overlap_average=True, cache_dir=world["cache"])
    p4, _ = predict_video(model, world["long"], step=4, cache_dir=world["cache"])
    assert p3.shape == p4.shape == (150,) and p4[0] == p4[-1] == 0
    feats = video_features(world["long"], size=32, cache_dir=world["cache"]).load()
    grid_a = predict_rows(model, feats, window=16, step=16)[0]
    grid_b = predict_rows(model, _sub(feats, 8, feats.n_rows - 8), window=16, step=16)[0]
    rows = p3[1:-1]
    np.testing.assert_allclose(rows[:8], grid_a[:8], atol=1e-6)
    np.testing.assert_allclose(rows[8:144], (grid_a[8:144] + grid_b[:136]) / 2, atol=1e-6)
    with pytest.raises(InputError, match="step"):
        predict_video(model, world["long"], step=17)


def _sub(feats, start: int, n: int):
    """Rows start .. start+n-1 of in-memory features, as features of their own."""
    return type(feats)(feats.info, feats.params, n, False, None,
                       {k: v[start : start + n] for k, v in feats._data.items()})


def test_streamed_rows_equal_cached_rows_for_awkward_lengths(world):
    model, _ = load_model(world["ckpt"])
    feats = video_features(world["long"], size=32, cache_dir=world["cache"]).load()
    for n_rows, window, step, avg in ((148, 16, 16, False), (37, 16, 16, False), (37, 16, 5, True),
                                      (9, 16, 16, False), (50, 16, 8, False)):
        sub = _sub(feats, 0, n_rows)
        a = predict_rows(model, sub, window=window, step=step, overlap_average=avg)
        rows = zip(*(v[:n_rows] for v in feats._data.values()), strict=True)
        b = predict_rows(model, iter(rows), window=window, step=step, overlap_average=avg)
        assert a[0].shape == (n_rows,)
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
        np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_detect_with_model_events_schema(world, tmp_path):
    ev = detect_with_model(world["long"], world["ckpt"], threshold=0.0, sensitivity=1.0, device="cpu")
    assert ev.params["detector"] == "ta2net" and ev.params["window"] == 16 and ev.params["step"] == 16
    assert ev.video.n_frames == 150 and len(ev.scores) == 150 and len(ev) > 0
    info = ev.video
    for e in ev.events:
        assert 0 < e.frame < 149 and e.time == pytest.approx(info.time_of(e.frame))
        assert -0.5 <= e.x <= info.width - 0.5 and -0.5 <= e.y <= info.height - 0.5
        assert e.score == pytest.approx(float(ev.scores[e.frame]))
    back = load_events(save_events(ev, tmp_path / "ev.json"))
    assert back.frames == ev.frames and back.params["detector"] == "ta2net"
    # by default, the threshold chosen on the validation videos during training
    lm = load_checkpoint(world["ckpt"])
    assert lm.threshold in THRESHOLDS
    chosen = detect_with_model(world["long"], lm, sensitivity=1.0)
    assert chosen.params["threshold"] == lm.threshold and all(e.score >= lm.threshold for e in chosen.events)


def test_bf16_and_channels_last_switch_at_load_time(world, tmp_path):
    base = load_checkpoint(world["ckpt"])
    fast = load_checkpoint(world["ckpt"], bf16=True, channels_last=True)
    assert not base.cfg.bf16 and fast.cfg.bf16 and fast.cfg.channels_last
    p32 = detect_with_model(world["long"], base, cache_dir=world["cache"]).scores
    p16 = detect_with_model(world["long"], fast, cache_dir=world["cache"]).scores
    assert len(p16) == 150 and np.abs(np.asarray(p16) - np.asarray(p32)).max() < 0.05
    r = CliRunner().invoke(cli, ["detect", str(world["long"]), "--model", str(world["ckpt"]), "--bf16", "--json",
                                 str(tmp_path / "ev.json")])
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "ev.json").read_text())["scores"]) == 150


def test_map_peak_in_original_pixels():
    m = np.zeros((4, 4), np.float32)
    m[1, 2] = 1.0
    x, y = map_peak(m, 400, 200)  # cell (row 1, col 2) of a 4x4 grid over 400x200 pixels
    assert x == pytest.approx(2.5 * 100 - 0.5) and y == pytest.approx(1.5 * 50 - 0.5)


def test_cli_detect_with_model_and_heat_map_video(world, tmp_path):
    out_json, maps = tmp_path / "ev.json", tmp_path / "maps.mp4"
    r = CliRunner().invoke(cli, ["detect", str(world["long"]), "--model", str(world["ckpt"]), "--json",
                                 str(out_json), "--maps", str(maps), "--sensitivity", "0.9"])
    assert r.exit_code == 0, r.output
    d = json.loads(out_json.read_text())
    assert d["params"]["detector"] == "ta2net" and len(d["scores"]) == 150
    info = probe(maps)
    assert info.n_frames == 150 and (info.width, info.height) == (96, 72)
    # heat map drawn: the overlay differs from the source frames
    from actiondubber.video.reader import iter_frames

    over = [f.image.astype(int) for f in iter_frames(maps, short_side=None, pix_fmt="rgb24")]
    src = [f.image.astype(int) for f in iter_frames(world["long"], short_side=None, pix_fmt="rgb24")]
    top = slice(0, 60)  # above the probability bar
    d0 = np.abs(over[0][top] - src[0][top]).mean()  # frame 0 has no map (no inflection): coding noise only
    d40 = np.abs(over[40][top] - src[40][top]).mean()
    assert d40 > 10 and d40 > 3 * d0
    r = CliRunner().invoke(cli, ["detect", str(world["long"]), "--maps", str(tmp_path / "m2.mp4")])
    assert r.exit_code == 2 and "--maps, --overlap and --bf16 need --model" in r.output


def test_cli_evaluate_with_model(world, tmp_path):
    r = CliRunner().invoke(cli, ["evaluate", "--model", str(world["ckpt"]), "--labels", str(world["labels"]),
                                 "--videos", str(world["videos"]), "--json", str(tmp_path / "rep.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert "TA2Net" in rep["pred"] and len(rep["videos"]) == 2
    r = CliRunner().invoke(cli, ["evaluate", "--labels", str(world["labels"]), "--model", str(world["ckpt"])])
    assert r.exit_code == 2 and "--model needs --videos" in r.output


def _cli_error(args: list[str]) -> str:
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    return r.output


def test_bad_checkpoints_give_one_clear_line(world, tmp_path):
    video = str(world["long"])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint at all")
    out = _cli_error(["detect", video, "--model", str(garbage)])
    assert str(garbage) in out and "not a readable checkpoint" in out
    truncated = tmp_path / "truncated.pt"
    data = world["ckpt"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    out = _cli_error(["detect", video, "--model", str(truncated)])
    assert str(truncated) in out and "not a readable checkpoint" in out
    # another program's weights: a plain torchvision state_dict
    import torchvision

    plain = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), plain)
    out = _cli_error(["detect", video, "--model", str(plain)])
    assert str(plain) in out and "not an actiondubber TA2Net checkpoint" in out
    # our format, but the weights belong to another architecture than the config says
    ck = torch.load(world["ckpt"], weights_only=True)
    ck["config"]["dim"] = 16
    other = tmp_path / "other_arch.pt"
    torch.save(ck, other)
    out = _cli_error(["detect", video, "--model", str(other)])
    assert str(other) in out and "do not fit the TA2Net architecture" in out
    # a config with a setting this version does not know
    ck = torch.load(world["ckpt"], weights_only=True)
    ck["config"]["wings"] = 2
    odd = tmp_path / "odd.pt"
    torch.save(ck, odd)
    out = _cli_error(["evaluate", "--model", str(odd), "--labels", str(world["labels"]), "--videos",
                      str(world["videos"])])
    assert str(odd) in out and "wings" in out
    # a checkpoint of another model kind
    ck = torch.load(world["ckpt"], weights_only=True)
    ck["arch"] = "RepNet"
    rep = tmp_path / "repnet.pt"
    torch.save(ck, rep)
    out = _cli_error(["detect", video, "--model", str(rep)])
    assert "'RepNet' model, not TA2Net" in out
    out = _cli_error(["detect", video, "--model", str(tmp_path / "missing.pt")])
    assert "checkpoint file not found" in out
    # the full training checkpoint works for inference too
    lm = load_checkpoint(world["last"])
    assert lm.iteration == 4


def test_one_checkpoint_module_writes_and_reads_the_format(world, tmp_path):
    """model.checkpoint holds the format: training writes with it, inference reads with it, neither has a copy."""
    import inspect

    import actiondubber.model.infer as infer
    import actiondubber.train.loop as loop
    from actiondubber.model import checkpoint as ckm
    from actiondubber.model.inputs import FeatureParams

    for mod in (infer, loop):
        src = inspect.getsource(mod)
        assert "CHECKPOINT_FORMAT =" not in src and "torch.save(" not in src and "torch.load(" not in src
    assert loop.read_checkpoint is ckm.read_checkpoint and loop.checkpoint_payload is ckm.checkpoint_payload
    assert infer.read_checkpoint is ckm.read_checkpoint
    # a checkpoint written by training round-trips through the module's writer and reader
    ck = ckm.read_checkpoint(world["ckpt"])
    cfg = ckm.checkpoint_config(ck, world["ckpt"])
    fp = ckm.checkpoint_features(ck, world["ckpt"], cfg)
    assert isinstance(fp, FeatureParams) and fp.size == cfg.size
    payload = ckm.checkpoint_payload(cfg, fp, ck["model"], iteration=7, meta={}, best={}, threshold=0.3)
    again = ckm.save_checkpoint(tmp_path / "again.pt", payload)
    lm = load_checkpoint(again)
    assert (lm.iteration, lm.threshold, lm.features) == (7, 0.3, fp)
    a = detect_with_model(world["long"], world["ckpt"], threshold=0.3, device="cpu", cache_dir=world["cache"])
    b = detect_with_model(world["long"], lm, cache_dir=world["cache"])
    np.testing.assert_array_equal(a.scores, b.scores)
    # weights of another architecture: one line naming the keys that do not fit
    model, _ = ckm.build_from_checkpoint(ck, world["ckpt"])
    ck["model"] = {**ck["model"], "extra.weight": torch.zeros(1)}
    ck["model"].pop(next(iter(model.state_dict())))
    with pytest.raises(InputError, match=r"do not fit .*: 1 missing: .*; 1 unexpected: extra\.weight") as err:
        ckm.load_weights(model, ck, "x.pt")
    assert "\n" not in str(err.value)


def test_infer_is_only_inference():
    """The heat-map video and the checkpoint format are modules of their own; infer uses no training code."""
    import actiondubber.model.infer as infer
    from actiondubber.model.heatmap import write_maps_video

    assert not hasattr(infer, "write_maps_video") and not hasattr(infer, "resolve_device")
    assert callable(write_maps_video)
