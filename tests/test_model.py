"""TA²Net model, config and losses (actiondubber.model); tiny configs so the file runs in seconds on a CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from actiondubber.errors import InputError  # noqa: E402
from actiondubber.model import ABLATIONS, FLOW_SCALE, ModelOutput, TA2Net, TA2NetConfig, total_loss  # noqa: E402
from actiondubber.model.backbone import FrameEncoder  # noqa: E402
from actiondubber.model.losses import (  # noqa: E402
    loss_ce,
    loss_focal,
    loss_nc,
    loss_pc,
    loss_temp,
    rank_weights,
    soft_labels,
)
from actiondubber.model.ta2net import CrossKinematicsAggregation, SpatialMap, TemporalHead  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_cfg(**kw) -> TA2NetConfig:
    base = dict(backbone="tiny", size=32, dim=16, attn_dim=8, head_dim=32, clip_len=8, temporal_layers=1,
                temporal_heads=4, dropout=0.0)
    base.update(kw)
    return TA2NetConfig(**base)


def inputs(b: int, t: int, s: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, t, 3, s, s, generator=g), torch.randn(b, t, 4, s, s, generator=g),
            torch.randn(b, t, 4, s, s, generator=g))


# ----------------------------------------------------------------------------- config
def test_config_defaults_are_the_papers():
    c = TA2NetConfig.paper()
    assert (c.backbone, c.cut, c.dim, c.clip_len, c.size) == ("resnet50", "layer3", 256, 64, 112)
    assert (c.lambda_ce, c.lambda_focal, c.lambda_action, c.lambda_cont, c.lambda_temp) == (1.0, 0.1, 1.0, 0.01, 0.002)
    assert c.use_motion and c.use_inflection and c.aggregation and c.use_cont and c.use_temp
    assert c.pretrained is None and FLOW_SCALE > 0


def test_config_from_dict_unknown_key_is_named():
    with pytest.raises(InputError, match="lamda_temp"):
        TA2NetConfig.from_dict({"dim": 64, "lamda_temp": 0.1})


@pytest.mark.parametrize(
    "bad, word",
    [({"dim": "big"}, "dim"), ({"use_cont": 1}, "use_cont"), ({"backbone": "vgg"}, "backbone"),
     ({"cut": "layer9"}, "cut"), ({"head_dim": 30, "temporal_heads": 4}, "divisible"),
     ({"lambda_cont": -1}, "lambda_cont"), ({"backbone": "tiny", "pretrained": "x.pth"}, "tiny")],
)
def test_config_rejects_bad_values(bad, word):
    with pytest.raises(InputError, match=word):
        TA2NetConfig.from_dict(bad)


@pytest.mark.parametrize("bad", [{"dim": 0}, {"backbone": "vgg"}, {"dropout": 1.5}, {"use_cont": "yes"}])
def test_config_bad_arguments_are_parameter_errors(bad):
    """Bad arguments raise ParameterError (an InputError and a ValueError) from ``__post_init__``."""
    from actiondubber.errors import ParameterError

    with pytest.raises(ParameterError):
        TA2NetConfig(**bad)
    with pytest.raises(ValueError):
        TA2NetConfig(**bad)
    with pytest.raises(ParameterError, match="no-such-row"):
        TA2NetConfig.ablation("no-such-row")


def test_config_round_trip_and_files(tmp_path):
    c = TA2NetConfig.small_cpu().replace(lambda_temp=0.5)
    assert TA2NetConfig.from_dict(c.to_dict()) == c
    j = tmp_path / "c.json"
    j.write_text(json.dumps(c.to_dict()))
    assert TA2NetConfig.from_file(j) == c
    y = tmp_path / "c.yaml"
    y.write_text("backbone: tiny\ndim: 32\nuse_temp: false\n")
    assert TA2NetConfig.from_file(y) == TA2NetConfig(backbone="tiny", dim=32, use_temp=False)
    y.write_text("dim: 32\nfoo: 1\n")
    with pytest.raises(InputError, match=r"c\.yaml.*foo"):
        TA2NetConfig.from_file(y)
    with pytest.raises(InputError, match="not found"):
        TA2NetConfig.from_file(tmp_path / "missing.yaml")


def test_shipped_config_files_match_presets():
    assert TA2NetConfig.from_file(ROOT / "configs" / "ta2net_paper.yaml") == TA2NetConfig.paper()
    assert TA2NetConfig.from_file(ROOT / "configs" / "ta2net_small_cpu.yaml") == TA2NetConfig.small_cpu()


def test_configs_import_without_torch():
    """torch is an optional extra: configs must load without importing it."""
    import subprocess
    import sys

    code = ("import sys; from actiondubber.model import TA2NetConfig, FLOW_SCALE; "
            "TA2NetConfig.ablation('video'); assert 'torch' not in sys.modules, 'torch imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# ----------------------------------------------------------------------------- ablations
def test_ablation_presets_switch_the_right_parts():
    rows = [TA2NetConfig.ablation(n, tiny_cfg()) for n in ABLATIONS]
    flags = [(c.use_motion, c.use_inflection, c.aggregation, c.use_cont, c.use_temp) for c in rows]
    assert flags == [
        (False, False, False, False, False),
        (True, False, False, False, False),
        (True, True, False, False, False),
        (True, True, True, False, False),
        (True, True, True, True, False),
        (True, True, True, True, True),
    ]
    assert rows[-1] == tiny_cfg()  # the last row is the full model
    with pytest.raises(InputError, match="no-such-row"):
        TA2NetConfig.ablation("no-such-row")


@pytest.mark.parametrize(
    "name, groups",
    [
        ("video", {"encoder_rgb", "spatial_map", "temporal_head"}),
        ("video+motion", {"encoder_rgb", "encoder_motion", "aggregation", "spatial_map", "temporal_head"}),
        ("video+inflection", {"encoder_rgb", "encoder_inflection", "aggregation", "spatial_map", "temporal_head"}),
        ("+aggregation", {"encoder_rgb", "encoder_motion", "encoder_inflection", "aggregation", "spatial_map",
                          "temporal_head"}),
    ],
)
def test_ablation_models_have_only_their_blocks(name, groups):
    cfg = TA2NetConfig.ablation(name, tiny_cfg())
    m = TA2Net(cfg)
    assert set(m.parameter_groups()) == groups
    names = [n for n, _ in m.named_parameters()]
    assert any(n.startswith("encoder_motion") for n in names) == cfg.use_motion
    assert any(n.startswith("encoder_inflection") for n in names) == cfg.use_inflection
    assert (m.aggregation is not None) == (cfg.aggregation and cfg.n_kinematics > 0)
    rgb, mo, inf = inputs(1, 4, 32)
    out = m(rgb, mo if cfg.use_motion else None, inf if cfg.use_inflection else None)
    assert out.features.shape[2] == cfg.dim * (1 + cfg.n_kinematics)


def test_loss_switches_follow_config():
    torch.manual_seed(0)
    for name, keys in [("+aggregation", set()), ("+cont", {"nc", "pc_m", "pc_n", "cont"}), ("+temp", {"temp"})]:
        cfg = TA2NetConfig.ablation(name, tiny_cfg())
        out = TA2Net(cfg)(*inputs(2, 4, 32))
        _, parts = total_loss(out, torch.zeros(2, 4), cfg)
        extra = set(parts) - {"ce", "focal", "action", "total"}
        assert keys <= extra and (name != "+aggregation" or not extra)


# ----------------------------------------------------------------------------- block shapes
@pytest.mark.parametrize("backbone, cut, ch_in, side", [("tiny", "layer3", 2, 2), ("tiny", "layer2", 3, 4),
                                                        ("resnet18", "layer2", 2, 4), ("resnet18", "layer3", 3, 2)])
def test_encoder_shapes(backbone, cut, ch_in, side):
    enc = FrameEncoder(backbone, cut, ch_in, 24)
    assert enc(torch.randn(3, ch_in, 32, 32)).shape == (3, 24, side, side)


def test_aggregation_is_scaled_dot_product_attention_from_kinematics_to_image():
    torch.manual_seed(0)
    agg = CrossKinematicsAggregation(dim=8, kin_channels=16, n_streams=2, attn_dim=4)
    f, m, c = torch.randn(2, 8, 3, 3), torch.randn(2, 16, 3, 3), torch.randn(2, 16, 3, 3)
    h_m, h_c = agg(f, [m, c])
    assert h_m.shape == h_c.shape == f.shape
    # Eq. 5-6 by hand for clip 0: rows = query (motion) positions, columns = image positions.
    q = agg.queries[0](m)[0].flatten(1).T  # (9, 4)
    k = agg.key(f)[0].flatten(1).T
    v = agg.value(f)[0].flatten(1).T  # (9, 8)
    ref = torch.softmax(q @ k.T / math.sqrt(4), dim=-1) @ v  # (9, 8)
    assert torch.allclose(h_m[0].flatten(1).T, ref, atol=1e-5)
    assert not torch.allclose(h_m, h_c)


def test_spatial_map_and_temporal_head_shapes():
    d = SpatialMap(12)(torch.randn(6, 12, 4, 4))
    d = d.detach()
    assert d.shape == (6, 1, 4, 4) and float(d.min()) >= 0 and float(d.max()) <= 1
    head = TemporalHead(12, 16, layers=2, heads=4, dropout=0.0)
    assert head(torch.randn(2, 12, 7, 3, 3)).shape == (2, 7, 2)


def test_model_output_shapes_and_map_range():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    m = TA2Net(cfg).eval()
    out = m(*inputs(2, 8, 32))
    assert isinstance(out, ModelOutput)
    side = m.feature_size()
    assert side == 2
    c = cfg.feature_channels
    assert out.logits.shape == (2, 8, 2)
    assert out.maps.shape == (2, 8, side, side)
    assert out.features.shape == (2, 8, c, side, side)
    assert out.masked_m.shape == out.masked_n.shape == (2, 8, c)
    assert 0 <= float(out.maps.detach().min()) and float(out.maps.detach().max()) <= 1
    # masked_m + masked_n = spatial mean of F (Eq. 7: D⊗F + (1-D)⊗F = F)
    assert torch.allclose(out.masked_m + out.masked_n, out.features.mean(dim=(3, 4)), atol=1e-5)


def test_each_flow_direction_goes_through_the_encoder_separately():
    """Eq. 4: m = concat(m⁻, m⁺) with one encoder pass per direction, so swapping v⁻/v⁺ swaps the halves."""
    torch.manual_seed(0)
    m = TA2Net(tiny_cfg()).eval()
    seen = []
    m.encoder_motion.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape)))
    rgb, mo, inf = inputs(1, 3, 32)
    with torch.no_grad():
        a = m._kinematic(m.encoder_motion, mo, "motion", 3, (32, 32))
        b = m._kinematic(m.encoder_motion, torch.cat([mo[:, :, 2:], mo[:, :, :2]], dim=2), "motion", 3, (32, 32))
    assert seen[0] == (6, 2, 32, 32)
    d = m.cfg.dim
    assert torch.allclose(a[:, :d], b[:, d:], atol=1e-5) and torch.allclose(a[:, d:], b[:, :d], atol=1e-5)


def test_bad_inputs_are_refused():
    m = TA2Net(tiny_cfg())
    rgb, mo, inf = inputs(1, 4, 32)
    with pytest.raises(ValueError, match="inflection"):
        m(rgb, mo, None)
    with pytest.raises(ValueError, match="motion"):
        m(rgb, mo[:, :, :2], inf)
    with pytest.raises(ValueError, match="rgb"):
        m(rgb[:, :, :2], mo, inf)


# ----------------------------------------------------------------------------- gradients
def test_gradients_reach_every_parameter_group():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    m = TA2Net(cfg).train()
    out = m(*inputs(2, 8, 32))
    targets = torch.zeros(2, 8)
    targets[:, 3] = 1
    loss, parts = total_loss(out, targets, cfg)
    loss.backward()
    assert set(parts) >= {"ce", "focal", "nc", "pc_m", "pc_n", "temp", "total"}
    groups = m.parameter_groups()
    assert set(groups) == {"encoder_rgb", "encoder_motion", "encoder_inflection", "aggregation", "spatial_map",
                           "temporal_head"}
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing
    for name, params in groups.items():
        assert sum(float(p.grad.abs().sum()) for p in params) > 0, name


def test_contrast_and_smoothness_losses_reach_the_spatial_map():
    torch.manual_seed(0)
    cfg = tiny_cfg(lambda_ce=0.0, lambda_focal=0.0)
    m = TA2Net(cfg).train()
    loss, _ = total_loss(m(*inputs(2, 8, 32)), torch.zeros(2, 8), cfg)
    loss.backward()
    assert float(m.spatial_map.conv.weight.grad.abs().sum()) > 0
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in m.temporal_head.parameters())


# ----------------------------------------------------------------------------- losses
def test_soft_labels_peak_at_keyframes_and_sum_sensibly():
    mask = torch.zeros(2, 40)
    mask[0, 20] = 1
    mask[1, [5, 30]] = 1
    y = soft_labels(mask, sigma=1.5)
    assert y.shape == mask.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert int(y[0].argmax()) == 20 and float(y[0, 20]) == 1.0
    assert torch.allclose(y[0, 15:20], y[0, 21:26].flip(0))  # symmetric
    assert float(y[0].sum()) == pytest.approx(1.5 * math.sqrt(2 * math.pi), rel=0.02)
    assert float(y[1, 5]) == float(y[1, 30]) == 1.0 and float(y[1].sum()) == pytest.approx(2 * float(y[0].sum()))
    assert torch.equal(soft_labels(mask, 0.0), mask)
    # neighbouring keyframes add up but stay clipped at 1
    close = torch.zeros(1, 10)
    close[0, [4, 5]] = 1
    assert float(soft_labels(close, 1.0).max()) == 1.0


def test_ce_and_focal_losses():
    t = torch.tensor([[0.0, 1.0, 0.0]])
    good = torch.tensor([[[4.0, -4.0], [-4.0, 4.0], [4.0, -4.0]]])
    bad = -good
    assert float(loss_ce(good, t)) < 0.01 < float(loss_ce(bad, t))
    assert float(loss_focal(good, t)) < float(loss_ce(good, t))  # focal down-weights easy frames
    assert float(loss_focal(bad, t)) > 1.0
    valid = torch.tensor([[True, False, True]])
    mixed = torch.tensor([[[4.0, -4.0], [4.0, -4.0], [4.0, -4.0]]])  # wrong only on the invalid frame
    assert float(loss_ce(mixed, t, valid)) < 0.01 < float(loss_ce(mixed, t))


def test_temp_loss_is_zero_for_constant_and_linear_maps_and_positive_for_bumps():
    const = torch.full((2, 6, 3, 3), 0.4, requires_grad=True)
    assert float(loss_temp(const).detach()) == pytest.approx(0.0, abs=1e-6)
    loss_temp(const).backward()
    assert torch.isfinite(const.grad).all()
    ramp = torch.linspace(0, 1, 6).view(1, 6, 1, 1).expand(1, 6, 3, 3)
    assert float(loss_temp(ramp)) == pytest.approx(0.0, abs=1e-5)
    bumpy = torch.zeros(1, 6, 3, 3)
    bumpy[0, 3] = 1.0
    # second differences at i=1,2,3 are 1, -2, 1 on 9 pixels each: norms 3, 6, 3
    assert float(loss_temp(bumpy)) == pytest.approx(12.0, rel=1e-4)
    assert float(loss_temp(torch.rand(1, 2, 3, 3))) == 0.0


def test_rank_weights_favour_the_most_similar_pairs():
    v = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0]])
    sim = torch.nn.functional.normalize(v, dim=1) @ torch.nn.functional.normalize(v, dim=1).T
    w = rank_weights(sim, alpha=0.5)
    assert torch.all(w.diagonal() == 0)
    # for anchor 0 the neighbours by similarity are 1, 2, 3: weights 1, e^-0.5, e^-1
    assert torch.allclose(w[0, 1:], torch.tensor([1.0, math.exp(-0.5), math.exp(-1.0)]))
    for p in range(4):
        others = [q for q in range(4) if q != p]
        order = sorted(others, key=lambda q: -float(sim[p, q]))
        assert [float(w[p, q]) for q in order] == sorted((float(w[p, q]) for q in order), reverse=True)
    assert torch.all(rank_weights(sim, alpha=0.0) == 1 - torch.eye(4))


def test_negative_and_positive_contrast():
    e = torch.eye(4)
    orth = loss_nc(e[:2], e[2:])  # motion and non-motion vectors orthogonal
    same = loss_nc(e[:2] + 0.1, e[:2] + 0.1)
    assert float(orth) == pytest.approx(0.0, abs=1e-6) and float(same) > 1.0
    tight = loss_pc(torch.tensor([[1.0, 0.05], [1.0, 0.0], [1.0, 0.1]]), alpha=0.25)
    spread = loss_pc(torch.tensor([[1.0, 0.0], [0.2, 1.0], [0.0, 1.0]]), alpha=0.25)
    assert 0 <= float(tight) < float(spread)


# ----------------------------------------------------------------------------- pretrained weights
def test_pretrained_weights_from_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    src = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(src.state_dict(), path)
    m = TA2Net(TA2NetConfig(backbone="resnet18", cut="layer2", dim=16, head_dim=32, pretrained=str(path)))
    w = src.conv1.weight
    assert torch.equal(m.encoder_rgb.body.conv1.weight, w)
    assert torch.allclose(m.encoder_motion.body.conv1.weight, w.mean(1, keepdim=True).expand(-1, 2, -1, -1))
    assert torch.equal(m.encoder_inflection.body.layer2[0].conv1.weight, src.layer2[0].conv1.weight)
    with pytest.raises(InputError, match="not found"):
        TA2Net(TA2NetConfig(backbone="resnet18", cut="layer2", dim=16, pretrained=str(tmp_path / "no.pth")))
    with pytest.raises(InputError, match="resnet34"):
        TA2Net(TA2NetConfig(backbone="resnet34", cut="layer2", dim=16, pretrained=str(path)))  # wrong network
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pth"):
        TA2Net(TA2NetConfig(backbone="resnet18", cut="layer2", dim=16, pretrained=str(junk)))


def test_torchvision_weights_offline_fail_clearly(tmp_path, monkeypatch):
    """No cached torchvision weights and no network: one clear BackendUnavailableError, no hang."""
    import actiondubber.torchutil as tu
    from actiondubber.errors import BackendUnavailableError

    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))  # an empty cache
    monkeypatch.setattr(tu, "resolves", lambda host, timeout: False)  # as when offline
    try:
        with pytest.raises(BackendUnavailableError, match=r"no network.*pretrained=PATH"):
            TA2Net(TA2NetConfig(backbone="resnet18", cut="layer2", dim=16, pretrained="torchvision"))
    finally:
        torch.hub.set_dir(old)


def test_random_init_is_logged(caplog):
    with caplog.at_level("INFO", logger="actiondubber.model"):
        TA2Net(tiny_cfg())
    assert any("random weights" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- speed switches
def test_channels_last_and_bf16_give_the_same_answer():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    ref = TA2Net(cfg).eval()
    x = inputs(1, 6, 32)
    with torch.inference_mode():
        a = ref(*x)
        for kw, tol in [({"channels_last": True}, 1e-4), ({"bf16": True}, 0.1)]:
            other = TA2Net(cfg.replace(**kw)).eval()
            other.load_state_dict(ref.state_dict())
            b = other(*x)
            assert b.logits.dtype == torch.float32
            assert torch.allclose(a.logits, b.logits, atol=tol), kw
            assert torch.allclose(a.maps, b.maps, atol=tol), kw


def test_fuse_for_inference_keeps_the_outputs():
    torch.manual_seed(0)
    for cfg in (tiny_cfg(channels_last=True), tiny_cfg(backbone="resnet18", cut="layer2")):
        m = TA2Net(cfg)
        with pytest.raises(RuntimeError, match="eval"):
            m.fuse_for_inference()
        m.eval()
        for mod in m.modules():  # non-trivial BatchNorm statistics, so folding has something to do
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
        x = inputs(1, 4, 32)
        with torch.inference_mode():
            a = m(*x)
            b = m.fuse_for_inference()(*x)
        assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.encoder_rgb.modules())
        assert torch.allclose(a.logits, b.logits, atol=1e-4) and torch.allclose(a.maps, b.maps, atol=1e-4)


def test_encoder_chunking_keeps_the_outputs():
    torch.manual_seed(0)
    whole = TA2Net(tiny_cfg(encoder_chunk=0)).eval()
    chunked = TA2Net(tiny_cfg(encoder_chunk=3)).eval()
    chunked.load_state_dict(whole.state_dict())
    x = inputs(1, 5, 32)
    with torch.inference_mode():
        a, b = whole(*x), chunked(*x)
    assert torch.allclose(a.logits, b.logits, atol=1e-5) and torch.allclose(a.features, b.features, atol=1e-5)


def test_callers_autocast_is_respected():
    """With bf16 off the model must not switch off a caller's autocast (the training loop's mixed precision)."""
    m = TA2Net(tiny_cfg()).eval()
    seen = []
    m.temporal_head.fc.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(*inputs(1, 4, 32))
    assert seen == [torch.bfloat16] and out.logits.dtype == torch.float32


# ----------------------------------------------------------------------------- learning
def test_tiny_model_learns_inflection_spikes():
    """Frames whose inflection input holds a spike are the sound frames; a few Adam steps must fit them."""
    torch.manual_seed(0)
    cfg = tiny_cfg()
    b, t, s = 2, 8, 32
    g = torch.Generator().manual_seed(1)
    rgb = torch.randn(b, t, 3, s, s, generator=g) * 0.5
    motion = torch.randn(b, t, 4, s, s, generator=g) * 0.1
    infl = torch.randn(b, t, 4, s, s, generator=g) * 0.05
    targets = torch.zeros(b, t)
    for i, frames in enumerate([(2, 6), (4,)]):
        for f in frames:
            targets[i, f] = 1
            infl[i, f, :, 10:20, 12:22] += 2.0
    model = TA2Net(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    # soft-label cross-entropy cannot go below the labels' own entropy; measure the excess over it
    y = soft_labels(targets, cfg.soft_label_sigma).clamp(1e-6, 1 - 1e-6)
    floor = float(-(y * y.log() + (1 - y) * (1 - y).log()).mean())
    losses, excess = [], []
    for _ in range(25):
        opt.zero_grad()
        loss, parts = total_loss(model(rgb, motion, infl), targets, cfg)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        excess.append(parts["ce"] - floor)
    assert losses[-1] < losses[0]
    assert excess[-1] < 0.2 * excess[0]
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(rgb, motion, infl).logits, -1)[..., 1]
    assert float(p[targets > 0].min()) > float(p[targets == 0].max())


# ----------------------------------------------------------------------------- the paper's model
def test_paper_model_builds_and_runs():
    torch.manual_seed(0)
    cfg = TA2NetConfig.paper()
    m = TA2Net(cfg).eval()
    assert m.encoder_rgb.body.layer3[0].conv1.in_channels == 512 and not hasattr(m.encoder_rgb.body, "layer4")
    assert m.encoder_motion.body.conv1.in_channels == 2
    with torch.inference_mode():
        out = m(*inputs(1, 2, 112))
    assert out.logits.shape == (1, 2, 2)
    assert out.maps.shape == (1, 2, 7, 7)
    assert out.features.shape == (1, 2, 768, 7, 7)
    assert torch.isfinite(out.logits).all()


# ----------------------------------------------------------------------------- layering
def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, imported names)`` of every ``import`` / ``from ... import`` in the file at *path*."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


SRC = ROOT / "src" / "actiondubber"


def test_model_package_never_imports_train():
    """Layers flow one way: training uses the model, the model (inference included) never uses training."""
    offenders = [f"{p.relative_to(SRC)} imports {mod}" for p in sorted((SRC / "model").rglob("*.py"))
                 for mod, _ in _imports(p) if mod == "actiondubber.train" or mod.startswith("actiondubber.train.")]
    assert not offenders, offenders


def test_library_never_imports_another_modules_private_names():
    offenders = [f"{p.relative_to(SRC)}: from {mod} import {name}" for p in sorted(SRC.rglob("*.py"))
                 for mod, names in _imports(p) if mod.startswith("actiondubber")
                 for name in names if name.startswith("_") and not name.startswith("__")]
    assert not offenders, offenders


def test_torch_helper_is_a_low_layer_and_the_only_weights_loader():
    """torchutil imports no kinematics/model/train; weights are read and downloaded only there and saved only
    by the checkpoint module (RAFT and the backbones once had their own copies)."""
    low = [mod for mod, _ in _imports(SRC / "torchutil.py") if mod.startswith("actiondubber.")]
    assert low and all(mod == "actiondubber.errors" for mod in low), low
    for p in sorted(SRC.rglob("*.py")):
        text = p.read_text(encoding="utf-8")
        name = str(p.relative_to(SRC))
        if name != "torchutil.py":
            assert "torch.load(" not in text and "get_state_dict(" not in text, name
        if name != "torchutil.py" and not name.startswith("web/"):  # the web app resolves its own host name
            assert "getaddrinfo" not in text, name
        # each model family writes its own checkpoint format in one module (TA²Net, MC3, the TAL/AV models)
        if name not in ("model/checkpoint.py", "mc3/heads.py", "tal/audible.py", "tal/train.py"):
            assert "torch.save(" not in text, name
