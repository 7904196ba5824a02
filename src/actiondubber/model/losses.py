"""TA²Net objectives (Sec. 4.2 and 4.4 of the paper).

L_total = λ_action (λ_ce L_ce + λ_focal L_focal) + λ_cont (L_nc + L_pc^m + L_pc^n) + λ_temp L_temp  (Eq. 13-14)

Readings of the paper where it leaves room (documented choices):

* **Soft labels** (L_ce): each annotated frame k spreads exp(-(t-k)² / 2σ²) over frames |t-k| ≤ 3σ; overlapping
  bumps add and are clipped to 1, so the label is exactly 1 at each keyframe and its sum is ≈ σ√(2π) per
  isolated keyframe. The 2-class target is [1-y, y]. L_focal uses the hard 0/1 labels.
* **The k features of Eq. 8-10** are the spatial means of D⊗F and (1-D)⊗F of *every frame of every clip in
  the batch* (k = B·T; "these k frames are not necessarily from the same video").
* **Rank weights** (Eq. 10): for each anchor p, the similarities ⟨F_p, F_q⟩ (q ≠ p) are ranked in descending
  order (0 = most similar) and w_pq = exp(-α·rank), as in the rank-weighted contrast of Xie et al. (2022) that
  the paper cites; the weights are constants (no gradient). Cosine similarities are clipped to [ε, 1-ε] inside
  the logarithms.
* **L_temp** (Eq. 12) is Σ_i ‖D_{i+2} + D_i - 2 D_{i+1}‖₂ over the frames of each clip (Frobenius norm of the
  h×w map), averaged over the clips of the batch; the norm is smoothed at 0 so its gradient stays finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf

from actiondubber.model.config import TA2NetConfig
from actiondubber.model.ta2net import ModelOutput

_EPS = 1e-4


def soft_labels(frames_mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-smoothed (B, T) labels in [0, 1] from a 0/1 keyframe mask (see module docstring)."""
    mask = frames_mask.float()
    if sigma <= 0:
        return mask.clamp(0, 1)
    radius = max(1, int(math.ceil(3 * sigma)))
    offs = torch.arange(-radius, radius + 1, device=mask.device, dtype=torch.float32)
    kernel = torch.exp(-(offs**2) / (2 * sigma * sigma))
    squeeze = mask.dim() == 1
    m = mask.reshape(-1, 1, mask.shape[-1])
    out = nnf.conv1d(m, kernel.view(1, 1, -1), padding=radius).clamp(0, 1)
    return out.reshape(mask.shape[-1]) if squeeze else out.reshape(mask.shape)


def _masked_mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return x.mean()
    v = valid.to(x.dtype)
    return (x * v).sum() / v.sum().clamp_min(1.0)


def loss_ce(logits: torch.Tensor, soft: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of (..., 2) logits against soft sound-probabilities *soft* (...,), mean over frames."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    per = -((1.0 - soft) * logp[..., 0] + soft * logp[..., 1])
    return _masked_mean(per, valid)


def loss_focal(
    logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) of (..., 2) logits against hard 0/1 *targets*, mean over frames."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    y = (targets > 0.5).long()
    logpt = logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    per = -((1.0 - logpt.exp()) ** gamma) * logpt
    return _masked_mean(per, valid)


def _cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return nnf.normalize(a.float(), dim=-1, eps=1e-8) @ nnf.normalize(b.float(), dim=-1, eps=1e-8).T


def loss_nc(fm: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """Eq. 8: -1/k² Σ_p Σ_q log(1 - ⟨F^m_p, F^n_q⟩) over (k, C) motion / non-motion vectors."""
    sim = _cosine_matrix(fm, fn).clamp(0.0, 1.0 - _EPS)
    return -torch.log1p(-sim).mean()


def rank_weights(sim: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. 10: w_pq = exp(-α·rank_p(q)), rank 0 = q most similar to p among q ≠ p; diagonal weight 0."""
    k = sim.shape[0]
    eye = torch.eye(k, dtype=torch.bool, device=sim.device)
    s = sim.detach().masked_fill(eye, float("-inf"))
    order = s.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(k, device=sim.device).expand(k, k).contiguous())
    return torch.exp(-alpha * ranks.float()).masked_fill(eye, 0.0)


def loss_pc(feats: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. 9: -1/(k(k-1)) Σ_{p≠q} w_pq log⟨F_p, F_q⟩ over (k, C) vectors (F^m or F^n)."""
    k = feats.shape[0]
    if k < 2:
        return feats.sum() * 0.0
    sim = _cosine_matrix(feats, feats)
    w = rank_weights(sim, alpha)
    return -(w * torch.log(sim.clamp(_EPS, 1.0))).sum() / (k * (k - 1))


def loss_temp(maps: torch.Tensor) -> torch.Tensor:
    """Eq. 12: Σ_i ‖D_{i+2} + D_i - 2D_{i+1}‖₂ per clip of (B, T, h, w) maps, mean over clips; 0 when T < 3."""
    if maps.shape[1] < 3:
        return maps.sum() * 0.0
    d = maps.float()
    second = d[:, 2:] + d[:, :-2] - 2.0 * d[:, 1:-1]
    sq = second.pow(2).flatten(2).sum(-1)
    eps = 1e-12
    norms = torch.sqrt(sq + eps) - math.sqrt(eps)  # exactly 0 for a flat sequence, finite gradient there
    return norms.sum(dim=1).mean()


def total_loss(
    out: ModelOutput, targets: torch.Tensor, cfg: TA2NetConfig, *, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 14 for one batch: (loss tensor, {part name: float}).

    *targets* (B, T) 0/1 marks annotated sound frames; *valid* (B, T) bool, optional, leaves padded frames
    out of L_ce / L_focal (the contrast and smoothness terms use every frame given). Parts: ce, focal,
    action, and when switched on nc, pc_m, pc_n, cont, temp; plus total.
    """
    if targets.shape != out.logits.shape[:2]:
        raise ValueError(f"targets must be (B, T) = {tuple(out.logits.shape[:2])}, got {tuple(targets.shape)}")
    targets = targets.to(out.logits.device).float()
    if valid is not None:
        valid = valid.to(out.logits.device).bool()
    soft = soft_labels(targets, cfg.soft_label_sigma)
    ce = loss_ce(out.logits, soft, valid)
    focal = loss_focal(out.logits, targets, cfg.focal_gamma, valid)
    action = cfg.lambda_ce * ce + cfg.lambda_focal * focal
    total = cfg.lambda_action * action
    parts = {"ce": float(ce.detach()), "focal": float(focal.detach()), "action": float(action.detach())}
    if cfg.use_cont:
        fm = out.masked_m.reshape(-1, out.masked_m.shape[-1])
        fn = out.masked_n.reshape(-1, out.masked_n.shape[-1])
        nc, pcm, pcn = loss_nc(fm, fn), loss_pc(fm, cfg.alpha_rank), loss_pc(fn, cfg.alpha_rank)
        cont = nc + pcm + pcn
        total = total + cfg.lambda_cont * cont
        parts.update(nc=float(nc.detach()), pc_m=float(pcm.detach()), pc_n=float(pcn.detach()),
                     cont=float(cont.detach()))
    if cfg.use_temp:
        temp = loss_temp(out.maps)
        total = total + cfg.lambda_temp * temp
        parts["temp"] = float(temp.detach())
    parts["total"] = float(total.detach())
    return total, parts
