"""Projection heads to the shared space, and the weight file of a trained MC3 model.

A model is three small MLPs (input standardised with the training set's mean and std) that map the
frozen encoders' outputs to unit vectors in one ``embed_dim`` space, the consensus calibration
(:class:`~actiondubber.mc3.losses.Calibration`), and two read-outs fitted after training:

* ``av``: a logistic map of the audio-video similarity ``e_a . e_v`` to P(sounding) — the paper's
  protocol; it needs the clip's soundtrack;
* ``video``: a logistic probe on the video embedding alone (for footage to be dubbed, which has no
  useful soundtrack), fitted on the labelled training windows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.mc3.config import MC3Config
from actiondubber.mc3.encoders import require
from actiondubber.mc3.losses import Calibration
from actiondubber.torchutil import load_torch_file

torch = require("torch")
nn = torch.nn

FORMAT = "actiondubber.mc3/1"
#: The weights that ship with the package (made by ``benchmarks/train_mc3_default.py``).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "mc3_default.pt"


class Head(nn.Module):
    """Standardise, Linear-GELU-Dropout-Linear, L2-normalise."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def forward(self, x):
        return nn.functional.normalize(self.net((x - self.mean) / self.std), dim=-1)


class MC3Model(nn.Module):
    """Heads for each modality of *config*, the calibration, and the sounding read-outs."""

    def __init__(self, config: MC3Config, in_dims: dict[str, int]):
        super().__init__()
        self.config = config
        self.in_dims = {m: int(in_dims[m]) for m in config.modalities}
        self.heads = nn.ModuleDict(
            {m: Head(self.in_dims[m], config.hidden, config.embed_dim, config.dropout) for m in config.modalities}
        )
        others = [m for m in config.modalities if m != config.anchor]
        self.calib = Calibration(others, config.calibration, config.calib_momentum)
        self.register_buffer("av_platt", torch.tensor([1.0, 0.0]))
        self.register_buffer("probe_w", torch.zeros(config.embed_dim))
        self.register_buffer("probe_b", torch.zeros(()))
        self.meta: dict = {}

    def set_standardisation(self, name: str, x: np.ndarray) -> None:
        x = torch.as_tensor(np.asarray(x, np.float32))
        self.heads[name].mean.copy_(x.mean(dim=0))
        self.heads[name].std.copy_(x.std(dim=0).clamp_min(1e-4))

    def forward(self, batch: dict) -> dict:
        return {m: self.heads[m](x) for m, x in batch.items() if m in self.heads}

    @torch.no_grad()
    def embed(self, name: str, x: np.ndarray) -> np.ndarray:
        """Unit embeddings ``(n, embed_dim)`` of inputs *x* of modality *name* (eval mode)."""
        if name not in self.heads:
            raise InputError(f"this MC3 model has no {name} head")
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.in_dims[name]:
            raise InputError(f"{name} inputs must be (n, {self.in_dims[name]}), got {x.shape}")
        was = self.training
        self.eval()
        out = self.heads[name](torch.from_numpy(x)).numpy()
        self.train(was)
        return out

    def p_av(self, e_v: np.ndarray, e_a: np.ndarray) -> np.ndarray:
        """P(sounding) from the audio-video similarity of paired embeddings."""
        a, b = (float(v) for v in self.av_platt)
        return _sigmoid(a * np.sum(e_v * e_a, axis=1) + b)

    def p_video(self, e_v: np.ndarray) -> np.ndarray:
        """P(sounding) from the video embedding alone (the probe)."""
        return _sigmoid(e_v @ self.probe_w.numpy() + float(self.probe_b))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def save_model(model: MC3Model, path: str | os.PathLike) -> Path:
    """Write *model* (config, input sizes, weights, metadata) atomically; float16 weights keep it small."""
    from actiondubber.fileio import atomic_output

    state = {k: (v.half() if v.is_floating_point() and v.ndim >= 2 else v) for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "config": model.config.to_dict(), "in_dims": model.in_dims, "state_dict": state,
            "meta": model.meta}
    with atomic_output(path) as tmp:
        torch.save(blob, tmp)
    return Path(path)


def load_model(path: str | os.PathLike | None = None) -> MC3Model:
    """Read a weight file written by :func:`save_model` (default: the shipped model).

    Raises :class:`InputError` when the file is missing or is not an MC3 weight file.
    """
    p = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not p.is_file():
        what = "the shipped MC3 weights are missing" if path is None else "MC3 weight file not found"
        raise InputError(f"{p}: {what}")
    try:
        blob = load_torch_file(p, "MC3 weight file")
    except InputError as exc:
        raise InputError(f"{p}: not an MC3 weight file ({str(exc).split(': ', 1)[-1]})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        fmt = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise InputError(f"{p}: not an MC3 weight file (format {fmt!r})")
    try:
        model = MC3Model(MC3Config.from_dict(blob["config"]), blob["in_dims"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise InputError(f"{p}: MC3 weights do not fit the model ({type(exc).__name__}: {str(exc)[:200]})") from None
    model.meta = dict(blob.get("meta") or {})
    model.eval()
    return model
