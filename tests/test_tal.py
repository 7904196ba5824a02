"""Temporal action localisation with the soundtrack (actiondubber.tal): NMS, mAP, fusion, CLI round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.cli import cli
from actiondubber.errors import InputError, ParameterError
from actiondubber.tal.annotations import Segment, VideoAnnotation, load_annotations, load_predictions, read_epic_csv
from actiondubber.tal.metrics import TIOU_EPIC, average_precision, interpolated_ap, mean_ap
from actiondubber.tal.nms import batched_soft_nms, segment_iou, soft_nms

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------- NMS
SEGS = np.array([[0.0, 10.0], [1.0, 11.0], [20.0, 30.0]])
SCORES = np.array([0.9, 0.8, 0.7])
IOU01 = 9.0 / 11.0  # [0, 10] vs [1, 11]


def test_segment_iou_hand_cases():
    np.testing.assert_allclose(segment_iou(np.array([0.0, 10.0]), SEGS), [1.0, IOU01, 0.0])
    assert segment_iou(np.array([0.0, 4.0]), np.array([[2.0, 6.0]]))[0] == pytest.approx(2 / 6)


def test_hard_nms_removes_the_overlap():
    keep, sc = soft_nms(SEGS, SCORES, method="hard", iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    np.testing.assert_allclose(sc, [0.9, 0.7])


def test_gaussian_soft_nms_decays_by_exp_iou_squared():
    keep, sc = soft_nms(SEGS, SCORES, method="gaussian", sigma=0.5)
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(sc, [0.9, 0.7, 0.8 * math.exp(-IOU01**2 / 0.5)], rtol=1e-9)


def test_linear_soft_nms_and_min_score():
    keep, sc = soft_nms(SEGS, SCORES, method="linear", iou_threshold=0.5)
    np.testing.assert_allclose(sc, [0.9, 0.7, 0.8 * (1 - IOU01)])
    keep, _ = soft_nms(SEGS, SCORES, method="linear", iou_threshold=0.5, min_score=0.2)
    assert keep.tolist() == [0, 2]


def test_batched_nms_keeps_classes_apart():
    keep, sc = batched_soft_nms(SEGS, SCORES, np.array([0, 1, 0]), method="hard", iou_threshold=0.5)
    assert sorted(keep.tolist()) == [0, 1, 2]  # the overlapping pair are different classes
    assert sc.tolist() == sorted(sc.tolist(), reverse=True)


def test_nms_rejects_bad_arguments():
    with pytest.raises(ParameterError):
        soft_nms(SEGS, SCORES, method="fancy")
    with pytest.raises(ParameterError):
        soft_nms(SEGS, SCORES[:2])


# ----------------------------------------------------------------------------------------------- mAP
def _gt() -> dict[str, VideoAnnotation]:
    return {"a": VideoAnnotation(60.0, "testing", [Segment(0, 10, "x"), Segment(20, 30, "x")]),
            "b": VideoAnnotation(60.0, "testing", [Segment(5, 15, "y")])}


def test_interpolated_ap_hand_case():
    # ranks: TP (P=1, R=.5), FP (P=.5, R=.5), TP (P=2/3, R=1) -> envelope 1, 2/3 -> AP = .5 + .5 * 2/3
    assert interpolated_ap(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(5 / 6)


def test_average_precision_hand_case_and_thresholds():
    gt = {"a": _gt()["a"].segments}
    pred = {"a": [Segment(0, 10, "x", 0.9), Segment(40, 50, "x", 0.8), Segment(21, 30, "x", 0.7)]}
    ap = average_precision(gt, pred, [0.5, 0.95])
    # at 0.95 the third prediction (tIoU 0.9) is a false positive: AP = 0.5
    np.testing.assert_allclose(ap, [5 / 6, 0.5])


def test_duplicate_detection_is_a_false_positive():
    gt = {"a": [Segment(0, 10, "x")]}
    pred = {"a": [Segment(0, 10, "x", 0.9), Segment(0, 10, "x", 0.8)]}
    assert average_precision(gt, pred, [0.5])[0] == pytest.approx(1.0)  # recall reached at rank 1
    pred = {"a": [Segment(0, 10, "x", 0.8), Segment(0, 10, "x", 0.9), Segment(50, 60, "x", 0.95)]}
    assert average_precision(gt, pred, [0.5])[0] == pytest.approx(0.5)  # FP first: P = 1/2 at full recall


def test_mean_ap_averages_classes_and_counts_unpredicted_class_as_zero():
    pred = {"a": [Segment(0, 10, "x", 0.9), Segment(40, 50, "x", 0.8), Segment(21, 30, "x", 0.7)]}
    r = mean_ap(_gt(), pred, (0.5,))
    assert r.classes == ("x", "y")
    assert r.average == pytest.approx((5 / 6 + 0.0) / 2)
    r = mean_ap(_gt(), pred, (0.5,), videos=["a"])
    assert r.average == pytest.approx(5 / 6)


def test_perfect_predictions_score_one_at_every_threshold():
    db = _gt()
    pred = {v: [Segment(s.start, s.end, s.label, 1.0) for s in a.segments] for v, a in db.items()}
    r = mean_ap(db, pred, TIOU_EPIC)
    assert r.average == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ loaders
def test_activitynet_and_epic_loaders(tmp_path):
    p = tmp_path / "anno.json"
    p.write_text(json.dumps({"database": {"v1": {"duration": 12.5, "subset": "training", "annotations": [
        {"segment": [1.0, 2.5], "label": "hit"}]}}}))
    db = load_annotations(p)
    assert db["v1"].duration == 12.5 and db["v1"].segments == [Segment(1.0, 2.5, "hit")]
    q = tmp_path / "pred.json"
    q.write_text(json.dumps({"results": {"v1": [{"segment": [1.1, 2.4], "label": "hit", "score": 0.7}]}}))
    assert load_predictions(q)["v1"][0].score == 0.7
    c = tmp_path / "EPIC_100_train.csv"
    c.write_text("narration_id,participant_id,video_id,start_timestamp,stop_timestamp,verb,noun\n"
                 "P01_01_0,P01,P01_01,00:00:01.50,00:00:03.00,take,plate\n"
                 "P01_01_1,P01,P01_01,00:01:00.00,00:01:02.25,wash,plate\n")
    epic = read_epic_csv(c)
    assert epic["P01_01"].segments == [Segment(1.5, 3.0, "take"), Segment(60.0, 62.25, "wash")]
    assert load_annotations(c)["P01_01"].duration == 62.25
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"database": {"v": {"annotations": [{"segment": [3, 1], "label": "x"}]}}}))
    with pytest.raises(InputError, match="ends before it starts"):
        load_annotations(bad)
    with pytest.raises(InputError, match="results"):
        load_predictions(p)


# ------------------------------------------------------------------------------------------- fusion
def _inputs(b=2, t=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 10, generator=g), torch.ones(b, t, dtype=torch.bool), torch.randn(b, t, 67, generator=g)


@pytest.mark.parametrize("kind", ["mravff", "concat", "add"])
def test_fusion_shapes_and_audio_off_is_the_visual_path(kind):
    from actiondubber.tal.model import TALConfig, TALModel

    torch.manual_seed(0)
    cfg = TALConfig.preset("cpu", width=32, levels=4, num_classes=3, fusion=kind, path_drop=0.0)
    m = TALModel(cfg).eval()
    v, mask, a = _inputs()
    out = m(v, mask, a)
    assert [c.shape for c in out["cls"]] == [(2, 64 // 2**lv, 3) for lv in range(4)]
    assert [r.shape for r in out["reg"]] == [(2, 64 // 2**lv, 2) for lv in range(4)]
    assert [g.shape for g in out["gates"]] == [(2, 64 // 2**lv) for lv in range(4)]
    # audio switched off: exactly the visual-only network (same backbone and heads, no fusion)
    off = m(v, mask, a, torch.zeros(2))
    feats, masks = m.backbone(v, mask)
    ref = [m.cls_head(f, mk) for f, mk in zip(feats, masks, strict=True)]
    for x, y in zip(off["cls"], ref, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert all(float(g.detach().abs().max()) == 0 for g in off["gates"])
    assert not torch.allclose(out["cls"][0], off["cls"][0])  # with audio on, audio changes the output


def test_gated_cross_attention_closed_gate_equals_input_and_gradients_flow():
    from actiondubber.tal.fusion import Fusion, FusionConfig

    torch.manual_seed(0)
    f = Fusion(FusionConfig("mravff", audio_dim=67, heads=4, window=9), 32, 3)
    feats = [torch.randn(2, 32 // 2**lv, 32, requires_grad=True) for lv in range(3)]
    masks = [torch.ones(2, 32 // 2**lv, dtype=torch.bool) for lv in range(3)]
    audio = torch.randn(2, 32, 67)
    f.gate_override = 0.0
    out, gates = f(feats, masks, audio)
    for x, y in zip(out, feats, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    f.gate_override = None
    out, gates = f(feats, masks, audio)
    assert all(((g > 0) & (g < 1)).all() for g in gates)  # a sigmoid per step and level
    sum(o.sum() for o in out).backward()
    grads = {n: p.grad for n, p in f.named_parameters()}
    assert grads["encoder.convs.0.weight"] is not None and float(grads["encoder.convs.0.weight"].abs().sum()) > 0
    assert all(float(grads[f"blocks.{lv}.gate.weight"].abs().sum()) > 0 for lv in range(3))
    assert float(feats[2].grad.abs().sum()) > 0


def test_padding_does_not_change_the_valid_part():
    from actiondubber.tal.model import TALConfig, TALModel, batch_arrays

    torch.manual_seed(0)
    m = TALModel(TALConfig.preset("cpu", width=32, levels=3, num_classes=2, path_drop=0.0)).eval()
    rng = np.random.default_rng(0)
    v = rng.standard_normal((40, 10)).astype(np.float32)
    a = rng.standard_normal((40, 67)).astype(np.float32)
    one = m(*batch_arrays([v], [a], 3, 67)[:2], *batch_arrays([v], [a], 3, 67)[2:])
    two = m(*batch_arrays([v, np.zeros((70, 10), np.float32)], [a, None], 3, 67)[:2],
            *batch_arrays([v, np.zeros((70, 10), np.float32)], [a, None], 3, 67)[2:])
    torch.testing.assert_close(one["cls"][0][0, :40], two["cls"][0][0, :40], rtol=1e-4, atol=1e-5)


def test_losses_are_finite_and_train_step_reduces_them():
    from actiondubber.tal.model import TALConfig, TALModel

    torch.manual_seed(0)
    m = TALModel(TALConfig.preset("cpu", width=16, levels=3, num_classes=2, path_drop=0.0, fusion_heads=2, heads=2))
    v, mask, a = _inputs(t=32)
    tg = [(torch.tensor([[4.0, 10.0], [14.0, 30.0]]), torch.tensor([0, 1]))] * 2
    opt = torch.optim.Adam(m.parameters(), 5e-3)
    first = None
    for _ in range(6):
        loss = m.loss(m(v, mask, a), tg)
        assert torch.isfinite(loss["loss"]) and float(loss["reg"]) > 0
        first = first if first is not None else float(loss["loss"].detach())
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
    assert float(loss["loss"].detach()) < first


# ---------------------------------------------------------------------------- synthetic data + CLI
@pytest.fixture(scope="module")
def tal_data(tmp_path_factory):
    from actiondubber.tal.synthdata import SynthSpec, make_tal_dataset

    root = tmp_path_factory.mktemp("tal")
    specs = [SynthSpec("bounce", 11, 1, 3.0), SynthSpec("bounce", 12, 2, 3.0), SynthSpec("juggle", 13, None, 3.0)]
    make_tal_dataset(root, specs, ["training", "training", "validation"], conditions=("clean",), size=(96, 72))
    return root


def test_flight_segments_come_from_collisions(tal_data):
    db = load_annotations(tal_data / "anno.json")
    assert set(db) == {p.stem for p in (tal_data / "videos").glob("*.mp4")}
    segs = [s for a in db.values() for s in a.segments]
    assert segs and all(s.label in ("ball", "disc", "box") and 0.1 <= s.end - s.start <= 2.0 for s in segs)
    v = np.load(tal_data / "features" / f"{next(iter(db))}.npy")
    a = np.load(tal_data / "audio_clean" / f"{next(iter(db))}.npy")
    assert v.shape[0] == a.shape[0] == 90 and v.shape[1] == 10 and a.shape[1] == 67


def test_train_localize_evaluate_round_trip(tal_data, tmp_path):
    r = CliRunner()
    out = tmp_path / "run"
    res = r.invoke(cli, ["train-tal", "--annotations", str(tal_data / "anno.json"), "--features",
                         str(tal_data / "features"), "--audio-features", str(tal_data / "audio_clean"), "--fusion",
                         "mravff", "--out", str(out), "--preset", "cpu", "--levels", "4", "--epochs", "3",
                         "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert (out / "best.pt").is_file() and (out / "metrics.csv").is_file()
    assert "gate_l0" in (out / "metrics.csv").read_text()
    video = sorted((tal_data / "videos").glob("*.mp4"))[-1]
    segs = tmp_path / "segs.json"
    res = r.invoke(cli, ["localize", str(video), "--model", str(out / "best.pt"), "--json", str(segs)])
    assert res.exit_code == 0, res.output
    d = json.loads(segs.read_text())
    preds = d["results"][video.stem]
    assert preds and all(0 <= p["segment"][0] <= p["segment"][1] <= 3.05 and 0 < p["score"] <= 1 for p in preds)
    assert len(d["external_data"]["mean_gate_per_level"]) == 4
    res = r.invoke(cli, ["evaluate-tal", "--pred", str(segs), "--annotations", str(tal_data / "anno.json"),
                         "--json", str(tmp_path / "map.json")])
    assert res.exit_code == 0, res.output
    assert "tIoU 0.1:0.5" in res.output and "tIoU 0.3:0.7" in res.output
    m = json.loads((tmp_path / "map.json").read_text())
    assert 0.0 <= m["tIoU 0.1:0.5"]["average_mAP"] <= 1.0 and m["tIoU 0.1:0.5"]["n_videos"] == 1
    # the visual-only baseline trains from the same folder without audio
    res = r.invoke(cli, ["train-tal", "--annotations", str(tal_data / "anno.json"), "--features",
                         str(tal_data / "features"), "--fusion", "none", "--out", str(tmp_path / "vis"),
                         "--preset", "cpu", "--levels", "4", "--epochs", "1", "--threads", "1"])
    assert res.exit_code == 0, res.output
    # an existing output is kept without --force
    res = r.invoke(cli, ["localize", str(video), "--model", str(out / "best.pt"), "--json", str(segs)])
    assert res.exit_code != 0 and "--force" in res.output


def test_features_command_writes_npy_and_silent_audio_for_a_mute_clip(tmp_path):
    from actiondubber.synth import render_clip

    render_clip(tmp_path / "mute.mp4", scene="bounce", seconds=1.0, size=(64, 48), seed=1, with_audio=False)
    r = CliRunner()
    res = r.invoke(cli, ["features", str(tmp_path / "mute.mp4"), "--out-dir", str(tmp_path / "f"), "--audio-dir",
                         str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "no audio track" in res.output
    v, a = np.load(tmp_path / "f" / "mute.npy"), np.load(tmp_path / "a" / "mute.npy")
    assert v.shape == (30, 10) and a.shape == (30, 67) and not a.any()
    assert json.loads((tmp_path / "f" / "features.json").read_text())["kind"] == "kinematic"
    res = r.invoke(cli, ["features", str(tmp_path / "mute.mp4"), "--out-dir", str(tmp_path / "f")])
    assert res.exit_code != 0 and "--force" in res.output


# --------------------------------------------------------------------------------- detect --use-audio
@pytest.fixture(scope="module")
def av_clip(tmp_path_factory):
    from actiondubber.synth import render_clip

    d = tmp_path_factory.mktemp("av")
    clip = render_clip(d / "bounce.mp4", scene="bounce", seconds=4.0, size=(160, 120), seed=4242, n_objects=1)
    mute = render_clip(d / "mute.mp4", scene="bounce", seconds=4.0, size=(160, 120), seed=4242, n_objects=1,
                       with_audio=False)
    return clip, mute


def test_detect_use_audio_with_shipped_weights_finds_the_collisions(av_clip, tmp_path):
    from actiondubber.evaluate.metrics import prf_frames

    clip, _ = av_clip
    out = tmp_path / "ev.json"
    res = CliRunner().invoke(cli, ["detect", clip.path, "--use-audio", "--json", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["params"]["detector"] == "mravff-audio-visual" and d["params"]["audio_used"] is True
    assert len(d["params"]["mean_gate_per_level"]) == 3 and "audio trusted" in res.output
    assert len(d["scores"]) == clip.n_frames and max(d["scores"]) <= 1.0
    f1 = prf_frames(clip.labelled_frames, [e["frame"] for e in d["events"]], k=2).f1
    assert f1 >= 0.6, (clip.labelled_frames, [e["frame"] for e in d["events"]])


def test_detect_use_audio_without_a_soundtrack_falls_back_to_the_picture(av_clip, tmp_path):
    _, mute = av_clip
    out = tmp_path / "ev.json"
    res = CliRunner().invoke(cli, ["detect", mute.path, "--use-audio", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "no audio track" in res.output
    d = json.loads(out.read_text())
    assert d["params"]["audio_used"] is False and d["params"]["mean_gate_per_level"] == []
    assert d["events"], "the picture-only detector still finds events"


def test_mute_file_falls_back_to_the_training_free_detector_or_the_model_picture_path(av_clip):
    from actiondubber.detection import detect
    from actiondubber.tal.audible import detect_av, load_audible

    clip, mute = av_clip
    lm = load_audible()
    ev = detect_av(mute.path, lm)
    ref = detect(mute.path)
    assert ev.frames == ref.frames and ev.params["detector"] == "inflection-training-free"
    a = detect_av(clip.path, lm, use_soundtrack=False)
    b = detect_av(mute.path, lm, no_audio="model")
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    assert b.params["audio_used"] is False and "gate 0" in b.params["note"]
    # the residual model with the sound shut out returns exactly its candidates: the single-scale detector's events
    import dataclasses

    from actiondubber.detection.detector import SINGLE_SCALE_DETECTOR

    single = detect(mute.path, **dataclasses.asdict(SINGLE_SCALE_DETECTOR))
    assert a.frames == b.frames == single.frames and b.params["audio_changes"]["identical_to_picture_only"]


# ------------------------------------------------------------------------------------- checkpoints
def test_checkpoints_round_trip_and_bad_files(tmp_path):
    from actiondubber.tal.audible import AudibleConfig, AudibleNet, load_audible, save_audible
    from actiondubber.tal.infer import load_tal_checkpoint
    from actiondubber.tal.model import TALConfig, TALModel
    from actiondubber.tal.train import save_checkpoint

    torch.manual_seed(3)
    net = AudibleNet(AudibleConfig(width=16, threshold=0.42))
    save_audible(tmp_path / "av.pt", net)
    lm = load_audible(tmp_path / "av.pt")
    assert lm.cfg.threshold == 0.42 and lm.cfg.width == 16
    for k, v in net.state_dict().items():
        torch.testing.assert_close(lm.model.state_dict()[k], v)
    tal = TALModel(TALConfig.preset("cpu", width=32, levels=3, num_classes=2))
    save_checkpoint(tmp_path / "tal.pt", tal, ["a", "b"], feature_params=None)
    lt = load_tal_checkpoint(tmp_path / "tal.pt")
    assert lt.classes == ["a", "b"] and lt.cfg.levels == 3
    with pytest.raises(InputError, match="not an audio-visual"):
        load_audible(tmp_path / "tal.pt")
    with pytest.raises(InputError, match="not a train-tal"):
        load_tal_checkpoint(tmp_path / "av.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable"):
        load_tal_checkpoint(tmp_path / "junk.pt")
    sd = net.state_dict()
    sd.pop(next(iter(sd)))
    torch.save({"format": "actiondubber.audible-av/1", "config": {"width": 16}, "feature_params": {},
                "state_dict": sd}, tmp_path / "short.pt")
    with pytest.raises(InputError, match="does not fit"):
        load_audible(tmp_path / "short.pt")


# ------------------------------------------------------------------------------------------ CLI errors
def _err(args):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    return res.output


def test_command_line_errors(tmp_path, tal_data):
    assert "not found" in _err(["train-tal", "--annotations", str(tmp_path / "no.json"), "--features", str(tmp_path),
                                "--out", str(tmp_path / "o")])
    assert "needs --audio-features" in _err(["train-tal", "--annotations", str(tal_data / "anno.json"), "--features",
                                            str(tal_data / "features"), "--out", str(tmp_path / "o"), "--preset",
                                            "cpu"])
    assert "no feature file" in _err(["train-tal", "--annotations", str(tal_data / "anno.json"), "--features",
                                      str(tmp_path), "--fusion", "none", "--out", str(tmp_path / "o")])
    assert "checkpoint not found" in _err(["localize", str(tmp_path / "v.mp4"), "--model", str(tmp_path / "m.pt")])
    (tmp_path / "p.json").write_text("{not json")
    assert "not valid JSON" in _err(["evaluate-tal", "--pred", str(tmp_path / "p.json"), "--annotations",
                                     str(tal_data / "anno.json")])
    (tmp_path / "p.json").write_text(json.dumps({"results": {"other": []}}))
    assert "no predicted video" in _err(["evaluate-tal", "--pred", str(tmp_path / "p.json"), "--annotations",
                                         str(tal_data / "anno.json")])
    assert "--tiou" in _err(["evaluate-tal", "--pred", str(tmp_path / "p.json"), "--annotations",
                             str(tal_data / "anno.json"), "--tiou", "0.5,2"])
    video = sorted((tal_data / "videos").glob("*.mp4"))[0]
    assert "cannot be used with --use-audio" in _err(["detect", str(video), "--use-audio", "--overlap"])
    assert "not found" in _err(["detect", str(video), "--use-audio", "--model", str(tmp_path / "none.pt")])
    assert "file not found" in _err(["detect", str(tmp_path / "nope.mp4"), "--use-audio"])


def test_visual_features_carry_the_training_free_curve(tmp_path):
    from actiondubber.detection.detector import DetectorParams, strength_curve
    from actiondubber.synth import render_clip
    from actiondubber.tal.features import DECEL_COLUMN, visual_features

    clip = render_clip(tmp_path / "c.mp4", scene="bounce", seconds=1.5, size=(64, 48), seed=3, with_audio=False)
    info, feats, raw, xy = visual_features(clip.path)
    ref = strength_curve(clip.path, DetectorParams())
    np.testing.assert_allclose(raw, ref.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats[:, 0], np.log1p(raw), rtol=1e-5)
    assert feats[:, DECEL_COLUMN].max() <= 4.0 and xy.shape == (clip.n_frames, 2)


def _toy_gate(shuffle: bool) -> float:
    """Mean gate of a tiny audio-visual model trained where the sound marks the events (or is shuffled)."""
    from actiondubber.tal.audible import AudibleConfig, AudibleNet

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    net = AudibleNet(AudibleConfig(visual_dim=10, width=16, heads=2, levels=2, fusion_heads=2, window=5,
                                   fusion_window=5, gate_input="visual", residual=False))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(60):
        y = (torch.rand(8, 32, generator=g) < 0.1).float()
        vis = 0.3 * y[..., None] + torch.randn(8, 32, 10, generator=g)
        src = y[:, torch.randperm(32, generator=g)] if shuffle else y
        aud = 2.0 * src[..., None] + 0.1 * torch.randn(8, 32, 67, generator=g)
        logit, gates = net(vis, torch.ones(8, 32, dtype=torch.bool), aud)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(torch.stack([gg.detach().mean() for gg in gates]).mean())


def test_gate_opens_for_aligned_sound_and_closes_for_shuffled_sound():
    aligned, shuffled = _toy_gate(False), _toy_gate(True)
    assert aligned > shuffled + 0.1, (aligned, shuffled)


def test_training_free_picker_replica_matches_the_detector(av_clip):
    from actiondubber.detection.detector import DetectorParams, events_from_curve, strength_curve
    from actiondubber.tal.audible import vision_frames
    from actiondubber.tal.features import FeatureParams

    clip, _ = av_clip
    curve = strength_curve(clip.path, DetectorParams())  # == visual_features' raw column (tested above)
    for s in (0.3, 0.5, 0.8):
        ref = events_from_curve(curve, DetectorParams(sensitivity=s)).frames
        assert vision_frames(curve.scores, curve.info.frame_rate, FeatureParams(), s).tolist() == ref and ref


def test_cli_use_audio_without_a_soundtrack_gives_the_vision_only_events(av_clip, tmp_path):
    _, mute = av_clip
    r = CliRunner()
    res = r.invoke(cli, ["detect", mute.path, "--use-audio", "--json", str(tmp_path / "av.json")])
    assert res.exit_code == 0, res.output
    assert "no audio track" in res.output and "picture only" in res.output
    res = r.invoke(cli, ["detect", mute.path, "--json", str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    av, v = (json.loads((tmp_path / f).read_text()) for f in ("av.json", "v.json"))
    assert av["events"] == v["events"] and av["events"]
    assert av["params"]["note"].startswith("no audio track")


def _toy_clips(g, b: int = 8, t: int = 64, aligned: bool = True):
    """Candidates = true events with misses and spurious ones; the sound's onsets mark the true events
    (aligned) or are circularly shifted by 6–20 steps (misaligned, as a wrong offset or another clip's sound)."""
    y = torch.zeros(b, t)
    for i in range(b):
        y[i, torch.randperm(t // 4, generator=g)[:4] * 4 + 2] = 1.0
    keep = (torch.rand(b, t, generator=g) > 0.35).float()
    extra = torch.zeros(b, t)
    extra[:, torch.randint(0, t, (3,), generator=g)] = 1.0
    prior = torch.clamp(y * keep + extra * (1 - y), 0, 1)
    bump = torch.nn.functional.max_pool1d(prior[:, None], 3, 1, 1)[:, 0] * 0.6 + prior * 0.4
    vis = torch.cat([0.1 * torch.randn(b, t, 10, generator=g), bump[..., None]], -1)
    vis[..., 4] = bump + 0.1 * torch.randn(b, t, generator=g)  # the deceleration column follows the picture
    src = y if aligned else torch.stack([torch.roll(y[i], int(torch.randint(6, 20, (1,), generator=g)))
                                         for i in range(b)])
    aud = 0.1 * torch.randn(b, t, 67, generator=g)
    aud[..., 64] = 2.0 * src + 0.1 * torch.rand(b, t, generator=g)
    return vis, aud, prior, y


def test_agreement_gate_is_higher_for_aligned_than_for_misaligned_sound_and_closed_gate_is_the_prior():
    from actiondubber.tal.audible import AudibleConfig, AudibleNet

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)
    net = AudibleNet(AudibleConfig(width=16, heads=2, levels=2, fusion_heads=2, window=5, fusion_window=5,
                                   agree_lags=8, agree_window=8))
    mask = torch.ones(8, 64, dtype=torch.bool)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for step in range(50):  # task loss + the gate loss train_audible uses (open: aligned, shut: misaligned)
        aligned = step % 2 == 0
        vis, aud, prior, y = _toy_clips(g, aligned=aligned)
        logit, gates = net(vis, mask, aud, None, prior)
        gl = sum(torch.nn.functional.binary_cross_entropy(gg.mean(1), torch.full((8,), float(aligned)))
                 for gg in gates)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y) + 0.5 * gl
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        vis, aud, prior, _ = _toy_clips(torch.Generator().manual_seed(99), aligned=True)
        _, g_al = net(vis, mask, aud, None, prior)
        vis2, aud2, prior2, _ = _toy_clips(torch.Generator().manual_seed(99), aligned=False)
        _, g_mis = net(vis2, mask, aud2, None, prior2)
        a, m = (float(torch.stack([x.mean() for x in gg]).mean()) for gg in (g_al, g_mis))
        assert a > m + 0.2, (a, m)
        net.fusion.gate_override = 0.0  # a closed gate reproduces the prior (the candidates) exactly
        logit, _ = net(vis, mask, aud, None, prior)
        assert torch.equal(logit, net.cfg.prior_logit * (2 * prior - 1))


# ------------------------------------------------------------------ the whole-clip sound check
def test_sound_check_takes_out_an_offset_and_refuses_music_and_foreign_sound(tmp_path):
    from actiondubber.audio.reader import read_audio_clip
    from actiondubber.synth import render_clip
    from actiondubber.tal.audible import detect_av, load_audible, picture_only_events
    from actiondubber.tal.features import visual_features
    from actiondubber.tal.soundcheck import check_soundtrack
    from actiondubber.tal.synthdata import corrupt_audio

    # 18 collisions in 6 s: enough for the offset estimator's high confidence
    clip = render_clip(tmp_path / "three.mp4", scene="bounce", seconds=6.0, size=(160, 120), seed=11, n_objects=3)
    other = render_clip(tmp_path / "other.mp4", scene="bounce", seconds=6.0, size=(160, 120), seed=12, n_objects=3)
    lm = load_audible()
    info, _, raw, xy = visual_features(clip.path, lm.feature_params)
    pic = picture_only_events(info, raw, xy, lm.feature_params)
    a = read_audio_clip(clip.path, sr=lm.feature_params.audio_sr)
    times = np.asarray(info.timestamps)

    o = read_audio_clip(other.path, sr=lm.feature_params.audio_sr)

    def check(cond, policy="align"):
        y = corrupt_audio(a.samples, a.sr, cond, np.random.default_rng(0), o.samples)
        return y, check_soundtrack(times, pic.scores, np.asarray(pic.frames), y, a.sr, a.start, info.frame_rate,
                                   policy=policy)

    _, clean = check("clean")
    assert clean.action == "keep" and abs(clean.offset) < 0.04 and clean.confidence >= 0.6, clean
    for ms in (300, -300, 150):
        y, ck = check(f"shift{ms:+d}")
        assert ck.action == "realign" and abs(ck.offset - ms / 1000) < 0.03, (ms, ck)
    y, ck = check("music")
    assert ck.action == "refuse" and ck.reason.startswith("music"), ck
    assert check("music", "realign")[1].action == "keep" and check("music", "off")[1].action == "keep"
    swap = check("swap")[1]  # another clip's sound: its onsets do not match the picture at any lag
    assert swap.action == "refuse", swap
    # detect --use-audio: the shifted sound is realigned and gives the clean sound's events; music is refused
    ref = detect_av(clip.path, lm)
    y, _ = check("shift-300")
    ev = detect_av(clip.path, lm, audio=(y, a.sr, a.start))
    assert ev.params["sound_check"] == "realign" and abs(ev.params["sound_offset_ms"] + 300) < 30
    from actiondubber.evaluate.metrics import prf_frames

    assert prf_frames(ref.frames, ev.frames, k=1).f1 == 1.0 and ev.params["audio_used"], (ref.frames, ev.frames)
    y, _ = check("music")
    ev = detect_av(clip.path, lm, audio=(y, a.sr, a.start))
    assert ev.params["sound_check"] == "refuse" and ev.params["audio_refused"] and not ev.params["audio_used"]
    assert ev.frames == pic.frames
    off = detect_av(clip.path, lm, audio=(y, a.sr, a.start), sound_check="off")
    assert off.params["sound_check"] == "keep" and off.params["audio_used"]
    with pytest.raises(ParameterError):
        detect_av(clip.path, lm, sound_check="maybe")


def test_cli_sound_check_needs_use_audio_and_reports_a_realignment(av_clip, tmp_path):
    clip, _ = av_clip
    res = CliRunner().invoke(cli, ["detect", clip.path, "--sound-check", "off"])
    assert res.exit_code == 2 and "--sound-check needs --use-audio" in res.output
    res = CliRunner().invoke(cli, ["detect", clip.path, "--use-audio", "--sound-check", "off",
                                   "--json", str(tmp_path / "ev.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev.json").read_text())["params"]["sound_check_reason"] == "sound check off"


def test_frames_the_soundtrack_does_not_cover_get_the_picture_only_logits(av_clip):
    from actiondubber.audio.reader import read_audio_clip
    from actiondubber.tal.audible import load_audible, picture_outside_span, predict_logits, sound_span
    from actiondubber.tal.features import audio_features_from_samples, visual_features

    clip, _ = av_clip
    lm = load_audible()
    info, vis, raw, xy = visual_features(clip.path, lm.feature_params)
    times = np.asarray(info.timestamps)
    a = read_audio_clip(clip.path, sr=lm.feature_params.audio_sr)
    cands = [20, 49, 72, 90]
    aud = audio_features_from_samples(a.samples, a.sr, a.start, times, lm.feature_params.n_mels)
    full, _, _ = predict_logits(lm.model, vis, aud, cands)
    picture, _, _ = predict_logits(lm.model, vis, None, cands)
    assert sound_span(a.samples, a.sr, a.start) == (a.start, a.start + a.samples.shape[-1] / a.sr)
    whole = picture_outside_span(lm.model, vis, full, cands, times, sound_span(a.samples, a.sr, a.start - 0.01))
    np.testing.assert_array_equal(whole[times < times[-1] - 0.05], full[times < times[-1] - 0.05])
    half = picture_outside_span(lm.model, vis, full, cands, times, (1.0, 2.0))
    inside = (times >= 1.0) & (times < 2.0)
    np.testing.assert_array_equal(half[inside], full[inside])
    np.testing.assert_array_equal(half[~inside], picture[~inside])
