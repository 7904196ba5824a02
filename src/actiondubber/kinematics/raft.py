"""RAFT optical flow (Teed & Deng 2020) through torchvision, as a :class:`FlowBackend`.

torch and torchvision are an optional extra (``pip install actiondubber[torch]``),
imported only when a :class:`RAFTFlow` is made. Weights come from a local
``state_dict`` file given by the user or, failing that, from torchvision's own
pretrained-weights cache/download (which needs a network connection the first
time); offline without a weights file the backend fails at once with a
one-line :class:`BackendUnavailableError` that says what to pass instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np

from actiondubber.errors import BackendUnavailableError, InputError

log = logging.getLogger(__name__)

MODELS = ("raft_small", "raft_large")

#: RAFT's correlation pyramid needs feature maps of at least 16 px, i.e. images of at least 128 px.
_MIN_SIDE = 128

#: Seconds to wait for name resolution and for each socket operation of the weights download.
_NET_TIMEOUT = 10.0

_INSTALL_HINT = "RAFT flow needs torch and torchvision: pip install 'actiondubber[torch]'"


def _import_torch():
    try:
        import torch
        import torchvision.models.optical_flow as of
    except ImportError as exc:
        raise BackendUnavailableError(f"{_INSTALL_HINT} ({exc})") from None
    return torch, of


def _pick_device(torch, device: str):
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise BackendUnavailableError(f"RAFT: unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"RAFT: device {device!r} requested but CUDA is not available here")
    return dev


def _unwrap_state_dict(obj, path: Path) -> dict:
    """The tensor mapping inside a saved checkpoint (plain, ``{'state_dict': ...}``, or DDP ``module.``)."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise InputError(f"{path}: not a RAFT state_dict (expected a mapping of parameter names to tensors)")
    sd = {}
    for k, v in obj.items():
        k = str(k)
        sd[k[len("module.") :] if k.startswith("module.") else k] = v
    return sd


def _load_weights_file(torch, path: Path) -> dict:
    if not path.exists():
        raise InputError(f"{path}: weights file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a weights file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: weights file is empty (0 bytes)")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a bad file
        if "weights only" in str(exc).lower() and zipfile.is_zipfile(path):
            raise InputError(
                f"{path}: holds Python objects besides tensors; save the model's state_dict() instead"
            ) from None
        raise InputError(f"{path}: not a PyTorch weights file, or it is damaged") from None
    return _unwrap_state_dict(obj, path)


def _check_fits(model, sd: dict, model_name: str, source: str) -> None:
    """Raise :class:`InputError` unless *sd* has exactly the tensors of *model*."""
    want = model.state_dict()
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    wrong = [k for k in want if k in sd and tuple(getattr(sd[k], "shape", ())) != tuple(want[k].shape)]
    if missing or unexpected or wrong:
        other = "raft_large" if model_name == "raft_small" else "raft_small"
        raise InputError(
            f"{source}: weights do not fit torchvision {model_name} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} wrong-shape tensors); saved from {other} or another model?"
        )


def _resolves(host: str, timeout: float) -> bool:
    """Whether *host* resolves within *timeout* seconds (name lookups ignore socket timeouts)."""
    ok: list[bool] = []

    def look() -> None:
        try:
            socket.getaddrinfo(host, 443)
            ok.append(True)
        except OSError:
            ok.append(False)

    t = threading.Thread(target=look, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok and ok[0])


def _pretrained_state_dict(torch, of, model_name: str, allow_download: bool) -> dict:
    """torchvision's default weights for *model_name*: from its cache, else downloaded (short timeouts)."""
    enum = of.Raft_Small_Weights if model_name == "raft_small" else of.Raft_Large_Weights
    weights = enum.DEFAULT
    url = weights.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    hint = f"pass a RAFT {model_name} state_dict file (weights=... / --raft-weights FILE)"
    if not cached.exists():
        if not allow_download:
            raise BackendUnavailableError(f"RAFT: no weights file given and no cached pretrained weights; {hint}")
        host = urlparse(url).hostname or ""
        if not _resolves(host, _NET_TIMEOUT):
            raise BackendUnavailableError(
                f"RAFT: no weights file given and pretrained weights cannot be downloaded (no network); {hint}"
            )
        log.info("downloading torchvision %s weights to %s", model_name, cached)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_NET_TIMEOUT)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # torch.hub writes a "Downloading" line to stderr
            return dict(weights.get_state_dict(progress=False))
    except Exception as exc:  # URLError, timeouts, hash mismatch, truncated cache file ...
        reason = str(getattr(exc, "reason", "") or exc).strip().splitlines()
        raise BackendUnavailableError(
            f"RAFT: no weights file given and pretrained weights could not be loaded "
            f"({(reason[0] if reason else type(exc).__name__)[:120]}); {hint}"
        ) from None
    finally:
        socket.setdefaulttimeout(old)


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
            raise BackendUnavailableError(f"RAFT: unknown model {model!r}; choose from {', '.join(MODELS)}")
        if iters < 1:
            raise ValueError("iters must be at least 1")
        torch, of = _import_torch()
        self._torch = torch
        self.model_name = model
        self.iters = int(iters)
        self.device = _pick_device(torch, device)
        net = getattr(of, model)(weights=None, progress=False)
        if weights is not None:
            path = Path(weights)
            sd = _load_weights_file(torch, path)
            source = str(path)
        else:
            sd = _pretrained_state_dict(torch, of, model, allow_download)
            source = f"torchvision {model} pretrained weights"
        _check_fits(net, sd, model, source)
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
        s = max(1.0, _MIN_SIDE / min(h, w))
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
