"""How much of a soundtrack is speech: silero-vad's speech model (the ``vad`` extra).

The model is the TorchScript file shipped inside the ``silero-vad`` wheel
(``silero_vad/data/silero_vad.jit``); it is loaded straight from there with
``torch.jit.load`` (the package itself is not imported: importing it sets
torch's global thread count to 1). Nothing is downloaded. The model reads
16 kHz audio in chunks of 512 samples (32 ms) and gives each a speech
probability; :func:`speech_share` is the share of chunks at or above 0.5 (the
model's usual threshold). Long soundtracks are sampled (at most
:data:`MAX_SECONDS`, in evenly spread pieces), and the pieces run as one batch,
so a 10-minute soundtrack costs about as much as a 1-minute one.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from pathlib import Path

import numpy as np

from actiondubber.errors import BackendUnavailableError

#: The model's sample rate and chunk (samples).
VAD_SR = 16000
CHUNK = 512
#: Seconds of a soundtrack analysed at most (evenly spread pieces of :data:`PIECE` s).
MAX_SECONDS = 60.0
PIECE = 4.0
#: Chunk probability at or above which a chunk counts as speech.
SPEECH_PROB = 0.5

_lock = threading.Lock()
_model = None


def _model_file() -> Path | None:
    try:
        spec = importlib.util.find_spec("silero_vad")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    f = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.jit"
    return f if f.is_file() else None


def vad_available() -> bool:
    """True when torch and silero-vad's model file are installed (the ``vad`` extra)."""
    return importlib.util.find_spec("torch") is not None and _model_file() is not None


def load_vad():
    """The silero-vad TorchScript model (loaded once per process).

    Raises
    ------
    BackendUnavailableError
        torch or silero-vad is not installed (``pip install 'actiondubber[vad]'``).
    """
    global _model
    with _lock:
        if _model is not None:
            return _model
        f = _model_file()
        if f is None or importlib.util.find_spec("torch") is None:
            raise BackendUnavailableError(
                "speech detection needs silero-vad and torch (pip install 'actiondubber[vad]')")
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            try:
                m = torch.jit.load(str(f), map_location="cpu")
            except Exception as exc:  # a damaged or incompatible model file
                raise BackendUnavailableError(f"{f}: cannot load the silero-vad model ({exc})") from None
        _model = m.eval()
        return _model


def _to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    if sr == VAD_SR:
        return np.asarray(y, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr), VAD_SR)
    return resample_poly(np.asarray(y, np.float64), VAD_SR // g, int(sr) // g).astype(np.float32)


def speech_probabilities(samples: np.ndarray, sr: int, *, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Speech probability of each 32 ms chunk of *samples* (mono; a sample of at most *max_seconds*).

    A soundtrack longer than *max_seconds* is read as evenly spread pieces of :data:`PIECE` s
    covering *max_seconds* in all; the pieces are run side by side as one batch (each with its
    own model state).
    """
    import torch

    y = np.asarray(samples, np.float32)
    if y.ndim != 1:
        y = y.mean(axis=0)
    y = _to_16k(y, sr)
    piece = int(PIECE * VAD_SR) // CHUNK * CHUNK
    n_pieces = max(1, int(np.ceil(y.size / piece)))
    cap = max(1, int(max_seconds / PIECE))
    starts = np.arange(n_pieces) * piece
    if n_pieces > cap:
        starts = np.linspace(0, max(0, y.size - piece), cap).astype(int)
    batch = np.zeros((starts.size, piece), np.float32)
    lengths = []
    for i, s in enumerate(starts):
        seg = y[s : s + piece]
        batch[i, : seg.size] = seg
        lengths.append(seg.size // CHUNK)
    model = load_vad()
    x = torch.from_numpy(batch)
    probs = np.zeros((starts.size, piece // CHUNK), np.float32)
    threads = torch.get_num_threads()
    with _lock, torch.no_grad():  # the model keeps state: one soundtrack at a time
        torch.set_num_threads(1)  # a tiny recurrent model: one thread is many times faster than several
        try:
            model.reset_states()
            for k in range(piece // CHUNK):
                probs[:, k] = model(x[:, k * CHUNK : (k + 1) * CHUNK], VAD_SR).reshape(-1).numpy()
            model.reset_states()
        finally:
            torch.set_num_threads(threads)
    return np.concatenate([probs[i, :m] for i, m in enumerate(lengths)])


def speech_share(samples: np.ndarray, sr: int, *, max_seconds: float = MAX_SECONDS,
                 threshold: float = SPEECH_PROB) -> float:
    """Share (0–1) of the (sampled) soundtrack's 32 ms chunks that silero-vad calls speech."""
    p = speech_probabilities(samples, sr, max_seconds=max_seconds)
    return float(np.mean(p >= threshold)) if p.size else 0.0
