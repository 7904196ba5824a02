"""Heads shared across pyramid levels, ActionFormer's label assignment, its losses, and decoding.

Every step ``i`` of level ``l`` is a candidate point at frame ``t = i · 2**l``. A point is positive
for a ground-truth segment ``[s, e]`` (in frames) when it lies within ``center_radius · stride`` of
the segment's centre (centre sampling) and inside the segment, and the larger of its distances to
the two ends falls in the level's regression range; of several such segments the shortest wins.
Losses: sigmoid focal loss on all valid points, DIoU loss on the positives' (left, right) distances
(in units of the level's stride), both normalised by the number of positives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: ActionFormer's regression ranges per level, in frames (max distance to a segment end).
REG_RANGES = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000))


class SharedHead(nn.Module):
    """(conv k=3 → LayerNorm → ReLU) × (layers − 1) → conv k=3 to *out* channels, the same at every level."""

    def __init__(self, dim: int, out: int, layers: int = 3, prior: float | None = None) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, 3, padding=1) for _ in range(layers - 1))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers - 1))
        self.out = nn.Conv1d(dim, out, 3, padding=1)
        if prior is not None:
            nn.init.constant_(self.out.bias, -math.log((1 - prior) / prior))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = F.relu(norm(conv(x.transpose(1, 2)).transpose(1, 2))) * mask[..., None]
        return self.out(x.transpose(1, 2)).transpose(1, 2)


class Scale(nn.Module):
    """A learned scalar per level for the regression output (ActionFormer)."""

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s


def points(lengths: list[int], reg_ranges, device) -> torch.Tensor:
    """``(N, 4)`` rows ``[t (frames), range lo, range hi, stride]`` over all levels, level-major."""
    rows = []
    for lv, n in enumerate(lengths):
        s = 2**lv
        lo, hi = reg_ranges[min(lv, len(reg_ranges) - 1)]
        if lv == len(lengths) - 1:
            hi = max(hi, 10000)
        t = torch.arange(n, device=device, dtype=torch.float32) * s
        rows.append(torch.stack([t, torch.full_like(t, lo), torch.full_like(t, hi), torch.full_like(t, s)], 1))
    return torch.cat(rows)


def assign(pts: torch.Tensor, segs: torch.Tensor, labels: torch.Tensor, num_classes: int,
           center_radius: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Classification targets ``(N, K)`` and regression targets ``(N, 2)`` (stride units) of one video."""
    n = pts.shape[0]
    if segs.numel() == 0:
        return pts.new_zeros(n, num_classes), pts.new_zeros(n, 2)
    t = pts[:, :1]
    s, e = segs[None, :, 0], segs[None, :, 1]
    left, right = t - s, e - t
    lens = (e - s).expand(n, -1)
    stride = pts[:, 3:4]
    centre = 0.5 * (s + e)
    r = center_radius * stride
    inside_centre = torch.minimum(t - torch.maximum(centre - r, s), torch.minimum(centre + r, e) - t) > 0
    inside = inside_centre if center_radius > 0 else torch.minimum(left, right) > 0
    dmax = torch.maximum(left, right)
    in_range = (dmax >= pts[:, 1:2]) & (dmax <= pts[:, 2:3])
    lens = torch.where(inside & in_range, lens, torch.full_like(lens, float("inf")))
    best, idx = lens.min(dim=1)
    pos = torch.isfinite(best)
    ties = (lens <= best[:, None] + 1e-3) & pos[:, None]
    cls_t = (F.one_hot(labels.long(), num_classes).to(pts.dtype)[None] * ties[..., None]).amax(1)
    reg = torch.stack([left.gather(1, idx[:, None])[:, 0], right.gather(1, idx[:, None])[:, 0]], 1) / stride
    return cls_t, reg * pos[:, None]


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017), summed."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    pt = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - pt) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.sum()


def diou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distance-IoU loss of 1-D segments given as (left, right) distances from a shared point, summed."""
    lp, rp = pred[:, 0], pred[:, 1]
    lg, rg = target[:, 0], target[:, 1]
    inter = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    union = lp + rp + lg + rg - inter
    iou = inter / union.clamp(min=1e-6)
    enclose = torch.maximum(lp, lg) + torch.maximum(rp, rg)
    centre = 0.5 * (rp - lp) - 0.5 * (rg - lg)
    return (1 - iou + (centre / enclose.clamp(min=1e-6)) ** 2).sum()


def decode(cls_logits: torch.Tensor, offsets: torch.Tensor, pts: torch.Tensor, valid: torch.Tensor, *,
           pre_thresh: float = 1e-3, top_k: int = 2000, min_len: float = 0.05
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidate ``(segments in frames (M, 2), scores (M,), class indices (M,))`` of one video."""
    prob = torch.sigmoid(cls_logits) * valid[:, None]
    flat = prob.flatten()
    keep = torch.nonzero(flat > pre_thresh)[:, 0]
    if keep.numel() > top_k:
        keep = keep[flat[keep].topk(top_k).indices]
    k = prob.shape[1]
    pi, ci = keep // k, keep % k
    t, s = pts[pi, 0], pts[pi, 3]
    seg = torch.stack([t - offsets[pi, 0] * s, t + offsets[pi, 1] * s], 1)
    ok = (seg[:, 1] - seg[:, 0]) > min_len
    return seg[ok], flat[keep][ok], ci[ok]
