"""TA²Net (Sec. 4 of the paper): encoders, cross-kinematics aggregation, spatial map, temporal head.

Per frame i of a clip (B clips of T frames):

* E_X encodes the RGB frame into f_i; E_M encodes the backward and forward motion flow v⁻_i, v⁺_i
  *separately* (two passes, shared weights) into m⁻_i, m⁺_i; E_C does the same for the inflectional
  flow a⁻_i, a⁺_i. m_i = concat(m⁻_i, m⁺_i), c_i = concat(c⁻_i, c⁺_i) (Eq. 4).
* Cross-kinematics aggregation (Eq. 5-6): on the h×w grid of frame i, queries from m_i (resp. c_i),
  keys and values from f_i, ``h = softmax(Q Kᵀ/√d) V``; F_i = concat(f_i, h_m, h_c). Without
  aggregation, F_i = concat(f_i, P m_i, P c_i) with 1×1 projections P back to ``dim`` channels.
* Spatial discriminative map D_i = sigmoid(BN(conv3×3(F_i))); F^m = D⊗F, F^n = (1−D)⊗F (Eq. 7).
* Temporal head (Sec. 4.3): 3D convolution over (T, h, w) of concat(F, F^m) (or F alone), spatial
  max-pooling, a transformer encoder over time, a linear layer → 2 logits per frame.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import NamedTuple

import torch
import torch.nn.functional as nnf
from torch import nn

from actiondubber.model.backbone import FrameEncoder, feature_stride, load_imagenet_state_dict
from actiondubber.model.config import TA2NetConfig

log = logging.getLogger(__name__)


class ModelOutput(NamedTuple):
    """What :meth:`TA2Net.forward` returns (all float32).

    ``logits`` (B, T, 2): per-frame [no-sound, sound] logits. ``maps`` (B, T, h, w): the spatial
    discriminative map D in [0, 1] at feature resolution. ``features`` (B, T, C, h, w): the aggregated
    F. ``masked_m`` / ``masked_n`` (B, T, C): spatial means of D⊗F and (1−D)⊗F (the contrast vectors).
    """

    logits: torch.Tensor
    maps: torch.Tensor
    features: torch.Tensor
    masked_m: torch.Tensor
    masked_n: torch.Tensor


class CrossKinematicsAggregation(nn.Module):
    """Eq. 5-6: one key/value projection of the image feature f, one query projection per kinematic stream."""

    def __init__(self, dim: int, kin_channels: int, n_streams: int, attn_dim: int) -> None:
        super().__init__()
        self.key = nn.Conv2d(dim, attn_dim, 1)
        self.value = nn.Conv2d(dim, dim, 1)
        self.queries = nn.ModuleList(nn.Conv2d(kin_channels, attn_dim, 1) for _ in range(n_streams))

    def forward(self, f: torch.Tensor, kin: list[torch.Tensor]) -> list[torch.Tensor]:
        n, c, h, w = f.shape
        k = self.key(f).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, hw, d)
        v = self.value(f).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, hw, C)
        out = []
        for proj, x in zip(self.queries, kin, strict=True):
            q = proj(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, hw, d)
            a = nnf.scaled_dot_product_attention(q, k, v)  # softmax(Q Kᵀ / √d) V, (N, 1, hw, C)
            out.append(a.squeeze(1).transpose(1, 2).reshape(n, c, h, w))
        return out


class SpatialMap(nn.Module):
    """The discriminative map D: 3×3 conv → BN → sigmoid, one channel (Sec. 4.2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.bn(self.conv(x)))


def sinusoidal_positions(length: int, dim: int, device, dtype) -> torch.Tensor:
    """(length, dim) sine/cosine position codes (Vaswani et al. 2017); any clip length works."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe.to(dtype)


class TemporalHead(nn.Module):
    """Sec. 4.3: Conv3d(3×3×3) + BN + ReLU over (T, h, w) → spatial max → transformer over T → linear → 2."""

    def __init__(self, in_ch: int, hidden: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_ch, hidden, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm3d(hidden)
        self.drop = nn.Dropout(dropout)
        if layers > 0:
            layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=2 * hidden, dropout=dropout,
                                               batch_first=True, norm_first=True)
            self.transformer: nn.Module = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        else:
            self.transformer = nn.Identity()
        self.norm = nn.LayerNorm(hidden)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) → (B, T, 2)."""
        x = torch.relu(self.bn(self.conv(x)))
        x = x.amax(dim=(3, 4)).transpose(1, 2)  # (B, T, hidden)
        x = self.drop(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype))
        x = self.transformer(x)
        return self.fc(self.norm(x))


class TA2Net(nn.Module):
    """The TA²Net model for one :class:`TA2NetConfig`; see the module docstring for the data flow.

    Inputs of :meth:`forward`: ``rgb`` (B, T, 3, H, W) ImageNet-normalised; ``motion`` and
    ``inflection`` (B, T, 4, H, W) = concat(backward, forward) flow (dx, dy) in pixels at the input
    size divided by :data:`~actiondubber.model.config.FLOW_SCALE` (``None`` when the stream is off).
    """

    def __init__(self, cfg: TA2NetConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.dim
        self.encoder_rgb = FrameEncoder(cfg.backbone, cfg.cut, 3, d)
        self.encoder_motion = FrameEncoder(cfg.backbone, cfg.cut, 2, d) if cfg.use_motion else None
        self.encoder_inflection = FrameEncoder(cfg.backbone, cfg.cut, 2, d) if cfg.use_inflection else None
        n_kin = cfg.n_kinematics
        self.aggregation: CrossKinematicsAggregation | None = None
        self.kin_proj: nn.ModuleList | None = None
        if n_kin and cfg.aggregation:
            self.aggregation = CrossKinematicsAggregation(d, 2 * d, n_kin, cfg.attn_dim)
        elif n_kin:
            self.kin_proj = nn.ModuleList(
                nn.Sequential(nn.Conv2d(2 * d, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True))
                for _ in range(n_kin)
            )
        c = cfg.feature_channels
        self.spatial_map = SpatialMap(c)
        head_in = 2 * c if cfg.head_input == "concat" else c
        self.temporal_head = TemporalHead(head_in, cfg.head_dim, cfg.temporal_layers, cfg.temporal_heads, cfg.dropout)
        self._load_pretrained()
        if cfg.channels_last:  # 2D blocks only; the Conv3d of the head keeps its default layout
            for mod in (*self.encoders().values(), self.aggregation, self.kin_proj, self.spatial_map):
                if mod is not None:
                    mod.to(memory_format=torch.channels_last)

    def _load_pretrained(self) -> None:
        cfg = self.cfg
        if cfg.pretrained is None:
            log.info("TA2Net: %s encoders start from random weights (no pretrained weights given)", cfg.backbone)
            return
        sd, source = load_imagenet_state_dict(cfg.pretrained, cfg.backbone)
        for enc in self.encoders().values():
            enc.load_imagenet(sd, source)
        log.info("TA2Net: encoders initialised from %s", source)

    def fuse_for_inference(self) -> TA2Net:
        """Fold every BatchNorm of the encoders into the convolution before it (eval mode only; the
        model gives the same outputs, 5-15% faster on CPU, and can no longer be trained)."""
        if self.training:
            raise RuntimeError("TA2Net.fuse_for_inference() needs eval mode (call .eval() first)")
        from torch.fx.experimental.optimization import fuse

        for enc in self.encoders().values():
            enc.body = fuse(enc.body)
            enc.proj = fuse(enc.proj)
            if self.cfg.channels_last:
                enc.to(memory_format=torch.channels_last)
        return self

    # ------------------------------------------------------------------ introspection
    def encoders(self) -> dict[str, FrameEncoder]:
        """The encoders that exist in this configuration, by name."""
        out = {"rgb": self.encoder_rgb}
        if self.encoder_motion is not None:
            out["motion"] = self.encoder_motion
        if self.encoder_inflection is not None:
            out["inflection"] = self.encoder_inflection
        return out

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by block: encoder_rgb / encoder_motion / encoder_inflection (backbone + 1×1 projection),
        aggregation (attention or plain projections), spatial_map, temporal_head. Only blocks present."""
        groups: dict[str, list[nn.Parameter]] = {}
        for name in ("encoder_rgb", "encoder_motion", "encoder_inflection", "aggregation", "kin_proj",
                     "spatial_map", "temporal_head"):
            mod = getattr(self, name)
            if mod is not None:
                groups["aggregation" if name == "kin_proj" else name] = list(mod.parameters())
        return groups

    def feature_size(self, size: int | None = None) -> int:
        """Side of the feature grid (h = w) for square inputs of *size* (default ``cfg.size``)."""
        s = size or self.cfg.size
        stride = feature_stride(self.cfg.cut)
        if self.cfg.backbone == "tiny":
            n = s
            for _ in range(int(math.log2(stride))):
                n = (n + 1) // 2
            return n
        n = (s + 1) // 2  # conv1
        n = (n + 1) // 2  # maxpool
        for _ in range(int(math.log2(stride)) - 2):
            n = (n + 1) // 2
        return n

    # ------------------------------------------------------------------ forward
    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def _encode(self, enc: FrameEncoder, x: torch.Tensor) -> torch.Tensor:
        """Run *enc* over (N, C, H, W) images; on CPU in eval mode in chunks of ``cfg.encoder_chunk`` images
        (smaller working set: faster; same result, as BatchNorm then uses its running statistics)."""
        n = self.cfg.encoder_chunk
        if self.training or n <= 0 or x.shape[0] <= n or x.device.type != "cpu":
            return enc(self._prep(x))
        return torch.cat([enc(self._prep(x[i : i + n])) for i in range(0, x.shape[0], n)])

    def _kinematic(self, enc: FrameEncoder, x: torch.Tensor, name: str, bt: int, hw: tuple[int, int]) -> torch.Tensor:
        if x is None:
            raise ValueError(f"TA2Net: {name} input is required by this configuration (use_{name}=True)")
        if x.dim() != 5 or x.shape[2] != 4 or x.shape[0] * x.shape[1] != bt or tuple(x.shape[-2:]) != hw:
            raise ValueError(f"TA2Net: {name} must be (B, T, 4, H, W) matching rgb, got {tuple(x.shape)}")
        feats = self._encode(enc, x.reshape(bt * 2, 2, *hw))  # backward and forward flow as separate frames
        return feats.reshape(bt, 2 * feats.shape[1], *feats.shape[2:])  # concat(x⁻, x⁺) along channels

    def forward(
        self, rgb: torch.Tensor, motion: torch.Tensor | None = None, inflection: torch.Tensor | None = None
    ) -> ModelOutput:
        if rgb.dim() != 5 or rgb.shape[2] != 3:
            raise ValueError(f"TA2Net: rgb must be (B, T, 3, H, W), got {tuple(rgb.shape)}")
        b, t = rgb.shape[:2]
        hw = tuple(rgb.shape[-2:])
        cfg = self.cfg
        # only enter autocast when asked: an autocast(enabled=False) here would switch off a caller's own
        ctx = torch.autocast(rgb.device.type, dtype=torch.bfloat16) if cfg.bf16 else contextlib.nullcontext()
        with ctx:
            f = self._encode(self.encoder_rgb, rgb.reshape(b * t, 3, *hw))
            kin = []
            if self.encoder_motion is not None:
                kin.append(self._kinematic(self.encoder_motion, motion, "motion", b * t, hw))
            if self.encoder_inflection is not None:
                kin.append(self._kinematic(self.encoder_inflection, inflection, "inflection", b * t, hw))
            if self.aggregation is not None:
                kin = self.aggregation(f, kin)
            elif self.kin_proj is not None:
                kin = [p(x) for p, x in zip(self.kin_proj, kin, strict=True)]
            feat = torch.cat([f, *kin], dim=1) if kin else f  # F: (BT, C, h, w)
            d = self.spatial_map(feat)  # (BT, 1, h, w)
            fm = d * feat
            head_in = torch.cat([feat, fm], dim=1) if cfg.head_input == "concat" else feat
            _, c, h, w = head_in.shape
            logits = self.temporal_head(head_in.reshape(b, t, c, h, w).transpose(1, 2))
        feat = feat.float()
        d = d.float()
        c = feat.shape[1]
        masked_m = (d * feat).mean(dim=(2, 3))
        masked_n = ((1.0 - d) * feat).mean(dim=(2, 3))
        return ModelOutput(
            logits=logits.float(),
            maps=d.reshape(b, t, h, w),
            features=feat.reshape(b, t, c, h, w),
            masked_m=masked_m.reshape(b, t, c),
            masked_n=masked_n.reshape(b, t, c),
        )
