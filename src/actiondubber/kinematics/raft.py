"""RAFT optical flow (Teed & Deng 2020) through torchvision, as a :class:`FlowBackend`.

torch and torchvision are an optional extra (``pip install actiondubber[torch]``),
imported only when a :class:`RAFTFlow` is made. Weights come from a local
``state_dict`` file given by the user or, failing that, from torchvision's own
pretrained-weights cache/download (which needs a network connection the first
time); offline without a weights file the backend fails at once with a
one-line :class:`BackendUnavailableError` that says what to pass instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from actiondubber.errors import InputError, ParameterError
from actiondubber.torchutil import (
    check_fits,
    choose_device,
    fetch_pretrained,
    load_state_dict_file,
    require_torch,
)

MODELS = ("raft_small", "raft_large")

#: RAFT's correlation pyramid needs feature maps of at least 16 px, i.e. images of at least 128 px.
MIN_SIDE = 128


def _pretrained_state_dict(of, model_name: str, allow_download: bool) -> dict:
    """torchvision's default weights for *model_name*: from its cache, else downloaded (short timeouts)."""
    enum = of.Raft_Small_Weights if model_name == "raft_small" else of.Raft_Large_Weights
    return fetch_pretrained(enum.DEFAULT, purpose="RAFT", what=f"torchvision {model_name} pretrained weights",
                            hint=f"pass a RAFT {model_name} state_dict file (weights=... / --raft-weights FILE)",
                            allow_download=allow_download)


class RAFTFlow:
    """Dense flow from torchvision's RAFT (``raft_small`` or ``raft_large``).

    *weights* is a ``state_dict`` file (``.pth``) for the chosen model; ``None``
    uses torchvision's pretrained weights (cached, or downloaded when online
    and *allow_download*). *device* ``auto`` picks CUDA, then Apple MPS, then
    CPU. *iters* is RAFT's number of recurrent refinements (12, torchvision's
    default for inference; fewer is faster and coarser).

    Gray frames are replicated to three channels, scaled to [-1, 1], enlarged
    when a side is under 128 px (RAFT's minimum) and edge-padded to a multiple
    of 8; the returned flow is cropped and rescaled to the input size.
    """

    name = "raft"

    def __init__(
        self,
        model: str = "raft_small",
        weights: str | os.PathLike | None = None,
        device: str = "auto",
        iters: int = 12,
        *,
        allow_download: bool = True,
    ) -> None:
        if model not in MODELS:
            raise ParameterError(f"RAFT: unknown model {model!r}; choose from {', '.join(MODELS)}")
        if iters < 1:
            raise ParameterError("RAFT: iters must be at least 1")
        torch = require_torch("RAFT flow", ("torchvision.models.optical_flow",))
        import torchvision.models.optical_flow as of
        self._torch = torch
        self.model_name = model
        self.iters = int(iters)
        self.device = choose_device(device, purpose="RAFT", mps=True)
        net = getattr(of, model)(weights=None, progress=False)
        if weights is not None:
            sd = load_state_dict_file(weights, "RAFT")
            source = str(Path(weights))
        else:
            sd = _pretrained_state_dict(of, model, allow_download)
            source = f"torchvision {model} pretrained weights"
        other = "raft_large" if model == "raft_small" else "raft_small"
        check_fits(net, sd, source=source, fits=f"torchvision {model} (saved from {other} or another model?)")
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise InputError(f"{source}: cannot load into {model} ({str(exc).splitlines()[0][:160]})") from None
        self._net = net.to(self.device).eval()
        self.weights = str(weights) if weights is not None else "pretrained"

    def __repr__(self) -> str:
        return (
            f"RAFTFlow(model={self.model_name!r}, weights={self.weights!r}, device={str(self.device)!r}, "
            f"iters={self.iters})"
        )

    def _to_tensor(self, img: np.ndarray):
        a = np.asarray(img)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        t = self._torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()
        return (t / 127.5 - 1.0).unsqueeze(0)

    def calc(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow (dx, dy) from *prev* to *nxt*, float32 HxWx2 (8-bit gray or RGB inputs of equal size)."""
        prev = np.asarray(prev)
        nxt = np.asarray(nxt)
        if prev.shape != nxt.shape or prev.ndim not in (2, 3):
            raise ValueError(f"RAFT: frames must be equal-size images, got {prev.shape} and {nxt.shape}")
        h, w = prev.shape[:2]
        s = max(1.0, MIN_SIDE / min(h, w))
        if s > 1.0:
            size = (int(np.ceil(w * s)), int(np.ceil(h * s)))
            prev = cv2.resize(prev, size, interpolation=cv2.INTER_LINEAR)
            nxt = cv2.resize(nxt, size, interpolation=cv2.INTER_LINEAR)
        sh, sw = prev.shape[:2]
        ph, pw = (-sh) % 8, (-sw) % 8
        torch = self._torch
        with torch.inference_mode():
            a = self._to_tensor(prev).to(self.device)
            b = self._to_tensor(nxt).to(self.device)
            if ph or pw:
                pad = (0, pw, 0, ph)
                a = torch.nn.functional.pad(a, pad, mode="replicate")
                b = torch.nn.functional.pad(b, pad, mode="replicate")
            flow = self._net(a, b, num_flow_updates=self.iters)[-1][0, :, :sh, :sw]
            out = flow.permute(1, 2, 0).float().cpu().numpy()
        if s > 1.0:
            fx, fy = w / sw, h / sh
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
            out[..., 0] *= fx
            out[..., 1] *= fy
        return np.ascontiguousarray(out, dtype=np.float32)
