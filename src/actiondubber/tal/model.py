"""The FPN temporal localiser (ActionFormer-style) with a pluggable audio fusion block.

``TALConfig.preset("paper")`` (the default) follows ActionFormer's THUMOS14 model: width 512, 4
heads, local window 19, 2 stem blocks + 5 stride-2 blocks (6 levels), 3-layer shared heads, centre
sampling radius 1.5, focal + DIoU losses, Soft-NMS σ = 0.5, with MRAV-FF fusing audio into every
level. ``preset("cpu")`` is the CPU-sized variant (width 64, window 9, 2-layer heads) the tests,
benchmarks and ``train-tal --preset cpu`` use. Ablations: ``fusion`` = ``none`` (visual only) /
``concat`` / ``add`` / ``mravff``; ``gate_input`` = ``visual`` (seed) / ``both``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from actiondubber.errors import ParameterError
from actiondubber.tal.fpn import FPNBackbone, pad_length
from actiondubber.tal.fusion import FUSIONS, GATE_INPUTS, Fusion, FusionConfig
from actiondubber.tal.heads import REG_RANGES, Scale, SharedHead, assign, decode, diou_loss, focal_loss, points
from actiondubber.tal.nms import METHODS, batched_soft_nms


@dataclass(frozen=True)
class TALConfig:
    """Every setting of the localiser; stored in checkpoints."""

    visual_dim: int = 10
    audio_dim: int = 67
    num_classes: int = 1
    width: int = 512
    heads: int = 4
    window: int = 19
    levels: int = 6
    stem: int = 2
    embed_layers: int = 2
    head_layers: int = 3
    mlp_ratio: int = 4
    dropout: float = 0.0
    path_drop: float = 0.1
    fusion: str = "mravff"
    fusion_heads: int = 4
    fusion_window: int = 9
    gate_input: str = "visual"
    reg_ranges: tuple = REG_RANGES
    center_radius: float = 1.5
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    reg_weight: float = 1.0
    pre_thresh: float = 1e-3
    nms_method: str = "gaussian"
    nms_sigma: float = 0.5
    nms_iou: float = 0.1
    min_score: float = 1e-3
    max_segments: int = 200
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ParameterError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.gate_input not in GATE_INPUTS:
            raise ParameterError(f"gate input must be one of {', '.join(GATE_INPUTS)}, got {self.gate_input!r}")
        if self.nms_method not in METHODS:
            raise ParameterError(f"NMS method must be one of {', '.join(METHODS)}, got {self.nms_method!r}")
        if self.width % self.heads or self.width % self.fusion_heads:
            raise ParameterError(f"width {self.width} must be divisible by the number of heads")
        if not 1 <= self.levels <= 8:
            raise ParameterError(f"levels must be 1..8, got {self.levels}")
        object.__setattr__(self, "reg_ranges", tuple(tuple(float(x) for x in r) for r in self.reg_ranges))

    @classmethod
    def preset(cls, name: str = "paper", **overrides) -> TALConfig:
        """``paper`` (ActionFormer + MRAV-FF sizes) or ``cpu`` (small); *overrides* replace fields."""
        base = {"paper": {}, "cpu": {"width": 64, "window": 9, "head_layers": 2, "mlp_ratio": 2}}
        if name not in base:
            raise ParameterError(f"unknown preset {name!r}; choose paper or cpu")
        return cls(**{**base[name], **overrides})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reg_ranges"] = [list(r) for r in self.reg_ranges]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TALConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(tuple(r) for r in v) if k == "reg_ranges" else v) for k, v in d.items() if k in names})


class TALModel(nn.Module):
    """Backbone → fusion → shared classification / regression heads (per level)."""

    def __init__(self, cfg: TALConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = FPNBackbone(cfg.visual_dim, cfg.width, cfg.heads, cfg.window, levels=cfg.levels,
                                    stem=cfg.stem, embed_layers=cfg.embed_layers, mlp_ratio=cfg.mlp_ratio,
                                    dropout=cfg.dropout, path_drop=cfg.path_drop)
        self.fusion = Fusion(FusionConfig(cfg.fusion, cfg.audio_dim, cfg.fusion_heads, cfg.fusion_window,
                                          cfg.gate_input), cfg.width, cfg.levels)
        self.cls_head = SharedHead(cfg.width, cfg.num_classes, cfg.head_layers, prior=0.01)
        self.reg_head = SharedHead(cfg.width, 2, cfg.head_layers)
        self.scales = nn.ModuleList(Scale() for _ in range(cfg.levels))

    def forward(self, visual: torch.Tensor, mask: torch.Tensor, audio: torch.Tensor | None = None,
                audio_on: torch.Tensor | None = None) -> dict:
        """*visual* ``(B, T, visual_dim)`` with T a multiple of ``2**(levels-1)``; returns per-level outputs."""
        feats, masks = self.backbone(visual, mask)
        feats, gates = self.fusion(feats, masks, audio, audio_on)
        cls = [self.cls_head(f, m) for f, m in zip(feats, masks, strict=True)]
        reg = [torch.relu(sc(self.reg_head(f, m))) for sc, f, m in zip(self.scales, feats, masks, strict=True)]
        return {"cls": cls, "reg": reg, "masks": masks, "gates": gates}

    def loss(self, out: dict, targets: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
        """Focal + DIoU losses; *targets* holds ``(segments in frames (G, 2), class indices (G,))`` per clip."""
        cfg = self.cfg
        pts = points([c.shape[1] for c in out["cls"]], cfg.reg_ranges, out["cls"][0].device)
        cls = torch.cat(out["cls"], 1)
        reg = torch.cat(out["reg"], 1)
        valid = torch.cat(out["masks"], 1)
        cls_l = reg_l = cls.new_zeros(())
        n_pos = 0.0
        for b, (segs, labels) in enumerate(targets):
            ct, rt = assign(pts, segs, labels, cfg.num_classes, cfg.center_radius)
            v = valid[b]
            pos = (ct.sum(1) > 0) & v
            n_pos += float(pos.sum())
            cls_l = cls_l + focal_loss(cls[b][v], ct[v], cfg.focal_alpha, cfg.focal_gamma)
            if pos.any():
                reg_l = reg_l + diou_loss(reg[b][pos], rt[pos])
        norm = max(n_pos, 1.0)
        cls_l, reg_l = cls_l / norm, reg_l / norm
        return {"loss": cls_l + cfg.reg_weight * reg_l, "cls": cls_l.detach(), "reg": reg_l.detach()}

    @torch.no_grad()
    def segments(self, out: dict, b: int, n_valid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segments in frames (M, 2), scores and class indices of clip *b* after Soft-NMS (best first)."""
        cfg = self.cfg
        pts = points([c.shape[1] for c in out["cls"]], cfg.reg_ranges, out["cls"][0].device)
        cls = torch.cat(out["cls"], 1)[b].float()
        reg = torch.cat(out["reg"], 1)[b].float()
        valid = torch.cat(out["masks"], 1)[b]
        seg, sc, ci = decode(cls, reg, pts, valid, pre_thresh=cfg.pre_thresh)
        seg = seg.clamp(0, max(n_valid - 1, 0)).cpu().numpy()
        sc, ci = sc.cpu().numpy(), ci.cpu().numpy()
        keep, scores = batched_soft_nms(seg, sc, ci, method=cfg.nms_method, sigma=cfg.nms_sigma,
                                        iou_threshold=cfg.nms_iou, min_score=cfg.min_score,
                                        max_keep=cfg.max_segments)
        return seg[keep], scores, ci[keep]


def batch_arrays(visual: list[np.ndarray], audio: list[np.ndarray | None], levels: int, audio_dim: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad clips to one length (a multiple of ``2**(levels-1)``): ``(visual, mask, audio, audio_on)`` tensors."""
    t = pad_length(max(v.shape[0] for v in visual), levels)
    b = len(visual)
    vd = visual[0].shape[1]
    vis = np.zeros((b, t, vd), np.float32)
    aud = np.zeros((b, t, audio_dim), np.float32)
    mask = np.zeros((b, t), bool)
    on = np.zeros(b, np.float32)
    for i, (v, a) in enumerate(zip(visual, audio, strict=True)):
        n = v.shape[0]
        vis[i, :n] = v
        mask[i, :n] = True
        if a is not None:
            aud[i, :n] = a[:n]
            on[i] = 1.0
    return torch.from_numpy(vis), torch.from_numpy(mask), torch.from_numpy(aud), torch.from_numpy(on)
