"""MRAV-FF (seed 003): hierarchical gated cross-attention from audio into every pyramid level.

Per the seed: audio and visual features are projected to a shared width; the audio is brought to
each pyramid level's temporal resolution by max-pooling; multi-head cross-attention takes visual
queries and audio keys/values; a sigmoid gate computed from the visual stream scales the audio
contribution per level; the result is added to the visual level (residual), so the module plugs
into any FPN localiser. ``fusion="none"`` is the identity (the visual-only model); ``concat`` and
``add`` are the simple baselines. Choices where the seed is silent (all :class:`FusionConfig` fields):

* width = the localiser's width (no extra projection of the visual stream; the audio is encoded to
  it by a small learned encoder: two conv k=3 → LayerNorm → ReLU layers on the log-mel features);
* heads 4, local window 9 steps per level with a learned relative-position bias: the bias lets the
  attention prefer the aligned audio step, the window keeps a sound from being matched to a far-off
  motion that looks alike;
* the gate is one scalar per time step and level (a per-level constant could not close for a
  stretch of noise), ``gate_input="visual"`` (the seed's reading: sigmoid over the visual stream)
  or ``"both"`` (the visual step, the attended audio and their product: the gate can then see
  whether picture and sound agree, which it needs to close for shifted or foreign soundtracks);
* ``gate_input="agreement"`` (used by ``detect --use-audio``, :mod:`.audible`): the gate sees only
  *agreement* statistics between picture and sound (``agree_dim`` per-step features the caller
  computes, e.g. how well the sound's onsets line up with the picture's candidate events at lag 0
  against other lags), pooled to each level like the audio. It cannot see what the picture or the
  sound look like, only whether they fit together, so what it learns on synthetic clips carries over
  to footage that looks and sounds different. Not offered by the localiser (``GATE_INPUTS``).
* the gate's bias starts at 0 (gate 0.5); a clip with no soundtrack gets gate 0 exactly, i.e. the
  visual-only path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from actiondubber.tal.fpn import MaskedAttention, downsample

FUSIONS = ("none", "concat", "add", "mravff")
GATE_INPUTS = ("visual", "both")
#: The gate input reserved for callers that pass agreement features (see the module docstring).
AGREEMENT = "agreement"


@dataclass(frozen=True)
class FusionConfig:
    """Fusion block settings (see the module docstring for why these defaults)."""

    kind: str = "mravff"
    audio_dim: int = 67
    heads: int = 4
    window: int = 9
    gate_input: str = "visual"
    audio_layers: int = 2
    agree_dim: int = 0


class AudioEncoder(nn.Module):
    """Small learned audio encoder: ``layers`` × (conv k=3 → LayerNorm → ReLU) to the shared width."""

    def __init__(self, in_dim: int, dim: int, layers: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(in_dim if i == 0 else dim, dim, 3, padding=1) for i in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))

    def forward(self, a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            a = F.relu(norm(conv(a.transpose(1, 2)).transpose(1, 2))) * mask[..., None]
        return a


def audio_pyramid(a: torch.Tensor, mask: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The encoded audio at each level's resolution, by the same max-pooling the visual levels use."""
    out = [a]
    for _ in range(levels - 1):
        a, mask = downsample(a, mask)
        out.append(a)
    return out


class GatedCrossAttention(nn.Module):
    """One level of MRAV-FF: ``v + g · CrossAttn(q = v, k = v = a)`` with a sigmoid gate ``g`` per step."""

    def __init__(self, dim: int, heads: int, window: int, gate_input: str = "visual", agree_dim: int = 0) -> None:
        super().__init__()
        if gate_input not in GATE_INPUTS + (AGREEMENT,):
            raise ValueError(f"gate_input must be one of {GATE_INPUTS + (AGREEMENT,)}, got {gate_input!r}")
        if gate_input == AGREEMENT and agree_dim < 1:
            raise ValueError("gate_input 'agreement' needs agree_dim >= 1")
        self.gate_input = gate_input
        self.ln_v, self.ln_a = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MaskedAttention(dim, heads, window, rel_pos=True)
        if gate_input == "visual":
            self.gate = nn.Linear(dim, 1)
        elif gate_input == AGREEMENT:
            self.gate = nn.Sequential(nn.Linear(agree_dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        else:
            self.gate = nn.Sequential(nn.Linear(3 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        nn.init.zeros_(self.gate.bias if gate_input == "visual" else self.gate[-1].bias)

    def forward(self, v: torch.Tensor, a: torch.Tensor, mask: torch.Tensor, audio_on: torch.Tensor,
                gate_override: float | None = None, agree: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        hv = self.ln_v(v)
        y = self.attn(hv, self.ln_a(a), mask)
        if gate_override is not None:
            g = torch.full(v.shape[:2] + (1,), float(gate_override), device=v.device, dtype=v.dtype)
        elif self.gate_input == "visual":
            g = torch.sigmoid(self.gate(hv))
        elif self.gate_input == AGREEMENT:
            if agree is None:
                raise ValueError("gate_input 'agreement' needs the agreement features")
            g = torch.sigmoid(self.gate(agree))
        else:
            g = torch.sigmoid(self.gate(torch.cat([hv, y, hv * y], dim=-1)))
        g = g * audio_on[:, None, None].to(g.dtype) * mask[..., None]
        return v + g * y, g[..., 0]


class Fusion(nn.Module):
    """Fuse audio into every pyramid level: ``none`` | ``concat`` | ``add`` | ``mravff``.

    ``forward(feats, masks, audio, audio_on)`` → ``(fused feats, gates)``; *audio* is the level-0
    audio ``(B, T0, audio_dim)``, *audio_on* ``(B,)`` is 1 for clips with a soundtrack (0 turns the
    audio off exactly: the output is then the visual input). ``gates`` is a list of ``(B, T_l)``
    (ones for ``concat``/``add``, where nothing is gated, empty for ``none``). *agree* ``(B, T0, agree_dim)``:
    the agreement features a ``gate_input="agreement"`` gate reads (max-pooled to each level).
    """

    def __init__(self, cfg: FusionConfig, dim: int, levels: int) -> None:
        super().__init__()
        if cfg.kind not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {cfg.kind!r}")
        self.cfg, self.levels = cfg, levels
        self.gate_override: float | None = None
        if cfg.kind == "none":
            return
        self.encoder = AudioEncoder(cfg.audio_dim, dim, cfg.audio_layers)
        if cfg.kind == "mravff":
            self.blocks = nn.ModuleList(GatedCrossAttention(dim, cfg.heads, cfg.window, cfg.gate_input,
                                                            cfg.agree_dim) for _ in range(levels))
        elif cfg.kind == "concat":
            self.blocks = nn.ModuleList(nn.Linear(2 * dim, dim) for _ in range(levels))
        else:
            self.blocks = nn.ModuleList(nn.Linear(dim, dim) for _ in range(levels))

    def forward(self, feats: list[torch.Tensor], masks: list[torch.Tensor], audio: torch.Tensor | None,
                audio_on: torch.Tensor | None = None, agree: torch.Tensor | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.cfg.kind == "none" or audio is None:
            return feats, []
        b = feats[0].shape[0]
        on = torch.ones(b, device=feats[0].device) if audio_on is None else audio_on.to(feats[0].device)
        a_lv = audio_pyramid(self.encoder(audio, masks[0]), masks[0], self.levels)
        ag_lv = audio_pyramid(agree, masks[0], self.levels) if agree is not None else [None] * self.levels
        out, gates = [], []
        for blk, v, a, m, ag in zip(self.blocks, feats, a_lv, masks, ag_lv, strict=True):
            if self.cfg.kind == "mravff":
                f, g = blk(v, a, m, on, self.gate_override, ag)
            else:
                x = blk(torch.cat([v, a], -1)) if self.cfg.kind == "concat" else blk(a)
                f, g = v + on[:, None, None] * x * m[..., None], on[:, None].expand(-1, v.shape[1]) * m
            out.append(f)
            gates.append(g)
        return out, gates
