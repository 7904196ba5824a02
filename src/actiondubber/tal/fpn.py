"""The ActionFormer-style backbone: conv embedding, local-window transformer, stride-2 pyramid levels.

Tensors are ``(batch, time, channels)`` with a boolean validity mask ``(batch, time)``. Attention is
restricted to a local window of ``±window // 2`` steps at every level (as ActionFormer does), done
with an additive mask over full attention: clips here are a few hundred steps, so the T×T matrix
is small and no custom kernel is needed. Level ``l`` has stride ``2**l``: its step ``i`` is centred
on frame ``i * 2**l`` (max-pooling with kernel 3, stride 2, padding 1), so the input length is
padded to a multiple of ``2**(levels - 1)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NEG = -1.0e4  # additive mask value (finite: a fully masked padded row stays NaN-free)


def local_bias(t: int, window: int, device, rel_bias: torch.Tensor | None = None) -> torch.Tensor:
    """``(heads or 1, t, t)`` additive attention bias: 0 (plus a learned relative-position bias) inside
    ``|i − j| ≤ window // 2``, ``NEG`` outside."""
    half = max(0, window // 2)
    idx = torch.arange(t, device=device)
    rel = idx[None, :] - idx[:, None]  # key − query
    inside = rel.abs() <= half
    if rel_bias is None:
        return torch.where(inside, 0.0, NEG)[None]
    gathered = rel_bias[:, (rel.clamp(-half, half) + half)]  # (H, t, t)
    return torch.where(inside[None], gathered, torch.full_like(gathered, NEG))


def downsample(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Halve the time axis of ``(B, T, C)`` *x* by max-pooling (kernel 3, stride 2, padding 1), and its mask."""
    y = F.max_pool1d(x.masked_fill(~mask[..., None], -1e4).transpose(1, 2), 3, 2, 1).transpose(1, 2)
    m = mask[:, ::2]
    return y.masked_fill(~m[..., None], 0.0), m


class MaskedAttention(nn.Module):
    """Multi-head attention with a local window, key padding and an optional relative-position bias."""

    def __init__(self, dim: int, heads: int, window: int, *, kv_dim: int | None = None, rel_pos: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.window, self.dropout = heads, window, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = nn.Parameter(torch.zeros(heads, 2 * (window // 2) + 1)) if rel_pos else None

    def forward(self, x: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        h = self.heads
        q = self.q(x).view(b, t, h, c // h).transpose(1, 2)
        k, v = self.kv(kv).view(b, kv.shape[1], 2, h, c // h).permute(2, 0, 3, 1, 4)
        bias = local_bias(t, self.window, x.device, self.rel_bias)[None]  # (1, H|1, t, t)
        bias = bias + torch.where(kv_mask[:, None, None, :], 0.0, NEG)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: (optional stride-2 max-pool) → local self-attention → MLP, both residual."""

    def __init__(self, dim: int, heads: int, window: int, *, stride: int = 1, mlp_ratio: int = 4,
                 dropout: float = 0.0, path_drop: float = 0.0) -> None:
        super().__init__()
        self.stride = stride
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MaskedAttention(dim, heads, window, dropout=dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_ratio * dim, dim), nn.Dropout(dropout))
        self.path_drop = path_drop

    def _drop(self, y: torch.Tensor) -> torch.Tensor:
        if not self.training or self.path_drop <= 0:
            return y
        keep = (torch.rand(y.shape[0], 1, 1, device=y.device) >= self.path_drop).to(y.dtype)
        return y * keep / (1.0 - self.path_drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.stride == 2:
            x, mask = downsample(x, mask)
        h = self.ln1(x)
        x = x + self._drop(self.attn(h, h, mask))
        x = x + self._drop(self.mlp(self.ln2(x)))
        return x * mask[..., None], mask


class ConvEmbedding(nn.Module):
    """``layers`` × (conv k=3 → LayerNorm → ReLU) from the input features to the model width."""

    def __init__(self, in_dim: int, dim: int, layers: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(in_dim if i == 0 else dim, dim, 3, padding=1) for i in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(x.transpose(1, 2)).transpose(1, 2)
            x = F.relu(norm(x)) * mask[..., None]
        return x


class FPNBackbone(nn.Module):
    """Embedding, ``stem`` stride-1 blocks, then ``levels − 1`` stride-2 blocks; one output per level."""

    def __init__(self, in_dim: int, dim: int, heads: int, window: int, *, levels: int = 6, stem: int = 2,
                 embed_layers: int = 2, mlp_ratio: int = 4, dropout: float = 0.0, path_drop: float = 0.1) -> None:
        super().__init__()
        self.levels = levels
        self.embed = ConvEmbedding(in_dim, dim, embed_layers)
        self.pos_scale = nn.Parameter(torch.zeros(()))  # learned weight of a sinusoidal position code
        self.stem = nn.ModuleList(TransformerBlock(dim, heads, window, mlp_ratio=mlp_ratio, dropout=dropout,
                                                   path_drop=path_drop) for _ in range(stem))
        self.branch = nn.ModuleList(TransformerBlock(dim, heads, window, stride=2, mlp_ratio=mlp_ratio,
                                                     dropout=dropout, path_drop=path_drop) for _ in range(levels - 1))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(levels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        x = self.embed(x, mask)
        x = x + self.pos_scale * sinusoid(x.shape[1], x.shape[2], x.device)[None]
        for blk in self.stem:
            x, mask = blk(x, mask)
        feats, masks = [x], [mask]
        for blk in self.branch:
            x, mask = blk(x, mask)
            feats.append(x)
            masks.append(mask)
        return [n(f) * m[..., None] for n, f, m in zip(self.norms, feats, masks, strict=True)], masks


def sinusoid(t: int, dim: int, device) -> torch.Tensor:
    """``(t, dim)`` sinusoidal position code."""
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    ang = pos / torch.pow(10000.0, i / dim)
    out = torch.zeros(t, dim, device=device)
    out[:, 0::2] = torch.sin(ang)
    out[:, 1::2] = torch.cos(ang[:, : dim // 2])
    return out


def pad_length(t: int, levels: int, multiple: int = 1) -> int:
    """Smallest length ≥ *t* that is a multiple of ``2**(levels − 1)`` (and of *multiple*)."""
    m = (2 ** (levels - 1)) * multiple // math.gcd(2 ** (levels - 1), multiple)
    return max(m, -(-t // m) * m)
