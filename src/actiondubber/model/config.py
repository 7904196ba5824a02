"""TA²Net configuration: one dataclass, paper defaults, presets and the Table-4 ablations.

This module does not import torch, so configs can be read, checked and written
without the optional extra installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from actiondubber.errors import InputError, ParameterError

#: Optical-flow inputs (motion v and inflection a) are given to the model in pixels *at the model's
#: input size* (``size`` x ``size``) divided by this constant, so typical values fall in about [-1, 1]
#: (a 10-pixel displacement at 112 px is already a fast motion). The data side divides by it.
FLOW_SCALE = 10.0

#: ImageNet mean / std (RGB, 0-1 range) that ``rgb`` inputs are normalised with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKBONES = ("resnet50", "resnet34", "resnet18", "tiny")
CUTS = ("layer1", "layer2", "layer3", "layer4")
HEAD_INPUTS = ("concat", "F")

#: Settings that change only the memory layout, not a single number the model computes.
LAYOUT_SETTINGS = ("channels_last", "encoder_chunk")

#: Rows of the paper's Table 4, each adding one part to the previous row.
ABLATIONS = ("video", "video+motion", "video+motion+inflection", "+aggregation", "+cont", "+temp")


@dataclass
class TA2NetConfig:
    """Every switch and weight of TA²Net (Sec. 4-5 of the paper); defaults are the paper's.

    Not given by the paper, chosen here: ``alpha_rank`` (0.25, the value of the rank-weighted
    contrast of Xie et al. 2022 that Eq. 10 cites), ``soft_label_sigma``, ``focal_gamma`` (2, Lin et
    al. 2017), ``attn_dim``, ``head_dim``, ``temporal_layers``/``temporal_heads``, ``dropout`` and
    ``head_input`` ("concat": the 3D convolution sees concat(F, D⊗F), Sec. 4.3; "F": only F).

    Speed switches (same model, same weights): ``channels_last`` memory format (on by default: the paper
    model reaches 16 frames/s fp32 on 2 cores with it, 13 without) and ``bf16`` autocast
    (about 1.4x and 2.2x on a 2-core AVX-512-BF16 CPU for the paper model, together 2.8x; bf16 changes
    logits by ~1e-2), and ``encoder_chunk``: on CPU in eval mode the encoders take this many images at a
    time (16: +45% fp32 / +30% bf16 over one batch of all 5x64 images; 0 = all at once). Measured with
    ``benchmarks/bench_model.py``.
    """

    backbone: str = "resnet50"
    cut: str = "layer3"
    pretrained: str | None = None
    dim: int = 256
    clip_len: int = 64
    size: int = 112
    use_motion: bool = True
    use_inflection: bool = True
    aggregation: bool = True
    use_cont: bool = True
    use_temp: bool = True
    lambda_ce: float = 1.0
    lambda_focal: float = 0.1
    lambda_action: float = 1.0
    lambda_cont: float = 0.01
    lambda_temp: float = 0.002
    alpha_rank: float = 0.25
    soft_label_sigma: float = 1.0
    focal_gamma: float = 2.0
    attn_dim: int = 32
    head_dim: int = 512
    head_input: str = "concat"
    temporal_layers: int = 2
    temporal_heads: int = 4
    dropout: float = 0.1
    channels_last: bool = True
    bf16: bool = False
    encoder_chunk: int = 16
    #: The Adam learning rate this configuration is trained with unless ``train --lr`` says otherwise
    #: (paper: 5e-6 for ImageNet-initialised ResNet50s; the CPU variant learns from scratch at 1e-3).
    lr: float = 5e-6

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self, source: str = "TA2Net config") -> None:
        """Raise :class:`~actiondubber.errors.ParameterError` (prefixed with *source*) for a value the model
        cannot use; called by ``__post_init__`` and :meth:`from_dict`."""
        for f in fields(self):
            v = getattr(self, f.name)
            kind = _field_kind(f)
            if kind is bool and not isinstance(v, bool):
                raise ParameterError(f"{source}: {f.name} must be true or false, got {v!r}")
            if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise ParameterError(f"{source}: {f.name} must be an integer, got {v!r}")
            if kind is float:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ParameterError(f"{source}: {f.name} must be a number, got {v!r}")
                setattr(self, f.name, float(v))
            if kind is str and not isinstance(v, str):
                raise ParameterError(f"{source}: {f.name} must be a string, got {v!r}")
            if kind == "optstr" and v is not None and not isinstance(v, (str, os.PathLike)):
                raise ParameterError(f"{source}: {f.name} must be a path, 'torchvision' or null, got {v!r}")
        if self.pretrained is not None:
            self.pretrained = os.fspath(self.pretrained)
        if self.backbone not in BACKBONES:
            raise ParameterError(f"{source}: unknown backbone {self.backbone!r}; choose from {', '.join(BACKBONES)}")
        if self.cut not in CUTS:
            raise ParameterError(f"{source}: unknown cut {self.cut!r}; choose from {', '.join(CUTS)}")
        if self.head_input not in HEAD_INPUTS:
            raise ParameterError(
                f"{source}: unknown head_input {self.head_input!r}; choose from {', '.join(HEAD_INPUTS)}"
            )
        if self.backbone == "tiny" and self.pretrained is not None:
            raise ParameterError(f"{source}: the 'tiny' backbone has no pretrained weights; set pretrained to null")
        for name in ("dim", "clip_len", "size", "attn_dim", "head_dim", "temporal_heads"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{source}: {name} must be at least 1, got {getattr(self, name)}")
        if self.encoder_chunk < 0:
            raise ParameterError(f"{source}: encoder_chunk must be 0 (all at once) or more, got {self.encoder_chunk}")
        if self.temporal_layers < 0:
            raise ParameterError(f"{source}: temporal_layers must be 0 or more, got {self.temporal_layers}")
        if self.head_dim % self.temporal_heads:
            raise ParameterError(
                f"{source}: head_dim ({self.head_dim}) must be divisible by temporal_heads ({self.temporal_heads})"
            )
        if self.size < 16:
            raise ParameterError(f"{source}: size must be at least 16 pixels, got {self.size}")
        for name in ("lambda_ce", "lambda_focal", "lambda_action", "lambda_cont", "lambda_temp", "alpha_rank",
                     "soft_label_sigma", "focal_gamma"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{source}: {name} must not be negative, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"{source}: dropout must be in [0, 1), got {self.dropout}")

    # ------------------------------------------------------------------ derived
    @property
    def n_kinematics(self) -> int:
        """How many kinematic streams (motion, inflection) are on: 0, 1 or 2."""
        return int(self.use_motion) + int(self.use_inflection)

    @property
    def feature_channels(self) -> int:
        """Channels of the aggregated feature F: ``dim`` for the image plus ``dim`` per kinematic stream."""
        return self.dim * (1 + self.n_kinematics)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (JSON/YAML safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "TA2Net config") -> TA2NetConfig:
        """Build from a mapping; unknown keys or bad values raise :class:`~actiondubber.errors.ParameterError`
        naming them."""
        if not isinstance(d, dict):
            raise ParameterError(f"{source}: expected a mapping of settings, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise ParameterError(f"{source}: unknown setting(s) {', '.join(unknown)}")
        obj = cls.__new__(cls)
        for f in fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            setattr(obj, f.name, d.get(f.name, default))
        obj.validate(source)
        return obj

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TA2NetConfig:
        """Read a YAML (``.yaml``/``.yml``, needs PyYAML) or JSON config file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{p}: config file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: cannot read config file ({exc})") from None
        if p.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise InputError(f"{p}: reading YAML configs needs PyYAML (pip install pyyaml), or use JSON") from None
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise InputError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data if data is not None else {}, source=str(p))

    def replace(self, **changes: Any) -> TA2NetConfig:
        """A copy with *changes* applied (validated)."""
        d = self.to_dict()
        d.update(changes)
        return type(self).from_dict(d)

    # ------------------------------------------------------------------ presets
    @classmethod
    def paper(cls) -> TA2NetConfig:
        """The paper's model: ResNet50 stem..layer3 encoders, dim 256, 64-frame clips at 112x112, all parts on."""
        return cls()

    @classmethod
    def small_cpu(cls) -> TA2NetConfig:
        """A CPU-friendly variant chosen with ``benchmarks/bench_model.py``: the "tiny" CNN encoders (stride 16
        like ResNet50 layer3; no ImageNet weights, trained from scratch) at 112x112, dim 64, a 128-wide temporal
        head over F with one transformer layer, channels-last, no encoder chunking (it slows small convs).
        About 500-650 frames/s fp32 on 2 cores (vs >= 100 wanted). With ImageNet-initialised encoders,
        ``small_cpu().replace(backbone="resnet18", cut="layer2", encoder_chunk=16)`` runs at ~66 frames/s
        fp32 and ~130 frames/s with ``bf16=True``."""
        return cls(backbone="tiny", cut="layer3", dim=64, size=112, attn_dim=32, head_dim=128,
                   temporal_layers=1, temporal_heads=4, head_input="F", channels_last=True, encoder_chunk=0, lr=1e-3)

    @classmethod
    def ablation(cls, name: str, base: TA2NetConfig | None = None) -> TA2NetConfig:
        """The Table-4 row *name* (see :data:`ABLATIONS`) built on *base* (default: the paper config).

        Rows are cumulative: "video" (RGB encoder and temporal head only), "video+motion",
        "video+motion+inflection" (both kinematic encoders, features concatenated), "+aggregation"
        (cross-kinematics attention), "+cont" (adds L_cont), "+temp" (adds L_temp = the full model).
        ``"video+inflection"`` (inflection without motion) is accepted as an extra row.
        """
        base = base or cls.paper()
        parts = {
            "video": (False, False, False, False, False),
            "video+motion": (True, False, False, False, False),
            "video+inflection": (False, True, False, False, False),
            "video+motion+inflection": (True, True, False, False, False),
            "+aggregation": (True, True, True, False, False),
            "+cont": (True, True, True, True, False),
            "+temp": (True, True, True, True, True),
        }
        if name not in parts:
            raise ParameterError(f"unknown ablation {name!r}; choose from {', '.join(parts)}")
        m, i, a, c, t = parts[name]
        return base.replace(use_motion=m, use_inflection=i, aggregation=a, use_cont=c, use_temp=t)


def ablation(name: str, base: TA2NetConfig | None = None) -> TA2NetConfig:
    """Module-level alias of :meth:`TA2NetConfig.ablation`."""
    return TA2NetConfig.ablation(name, base)


def _field_kind(f: dataclasses.Field) -> Any:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return {"bool": bool, "int": int, "float": float, "str": str}.get(t, "optstr")
