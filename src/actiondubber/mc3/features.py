"""Per-event inputs of the MC3 heads: what the frozen encoders see around each moment, cached on disk.

Video input of an event at frame f (``VIDEO_DIM`` numbers): the EfficientNet-Lite0 features of
frames f-2, f, f+2 at 112x112 (their mean and the change from f-2 to f+2), plus ten kinematic
numbers from the training-free detector's strength curve (the curve at f-3..f+3 relative to the
clip's 90th percentile, log strength at f, and the grey-level change before and after f). The
kinematics say "something stopped here"; the pictures say what it was.

Audio input (``AUDIO_DIM``): the aisfx embedding of the soundtrack from 0.15 s before to 0.45 s
after the event (peak-normalised, as aisfx was trained) plus three level numbers it cannot see
after normalisation: the window's log RMS, its peak in dB, and the onset contrast (RMS just after
the event over RMS before it). A library sound is framed the same way: its attack 0.15 s into the
window, over a faint noise floor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.types import VideoInfo

log = logging.getLogger(__name__)

FEATURE_VERSION = 1
FRAME_OFFSETS = (-2, 0, 2)
IMAGE_SIZE = 112
KIN_OFFSETS = tuple(range(-3, 4))
N_KIN = len(KIN_OFFSETS) + 3
AUDIO_BEFORE, AUDIO_AFTER = 0.15, 0.45
N_LEVEL = 3
VIDEO_DIM = 2 * 1280 + N_KIN
AUDIO_DIM = 512 + N_LEVEL
#: Noise floor under a library sound (peak 1.0), so its onset contrast stays finite and lifelike.
LIBRARY_FLOOR = 3e-4


def default_cache_dir() -> Path:
    """``$ACTIONDUBBER_CACHE/mc3`` or ``~/.cache/actiondubber/mc3``."""
    base = os.environ.get("ACTIONDUBBER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "actiondubber")
    return Path(base) / "mc3"


def cache_key(video: Path, what: str, times: Sequence[float], extra: object = None) -> str:
    st = video.stat()
    blob = json.dumps([str(video.resolve()), st.st_size, int(st.st_mtime_ns), what, FEATURE_VERSION,
                       [round(float(t), 4) for t in times], extra], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def cached_array(cache_dir: Path | None, key: str, make):
    if cache_dir is None:
        return make()
    path = Path(cache_dir) / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            log.warning("%s: unreadable cache entry; recomputing", path)
    arr = make()
    if arr is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)
    return arr


def kinematic_features(scores: np.ndarray, frame: int, grey_before: float, grey_after: float) -> np.ndarray:
    """The ten kinematic numbers of an event at *frame* (see the module docs)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    ref = max(float(np.percentile(s, 90)) if s.size else 0.0, 1e-3)
    vals = [min(10.0, s[frame + k] / ref) if 0 <= frame + k < s.size else 0.0 for k in KIN_OFFSETS]
    here = s[frame] if 0 <= frame < s.size else 0.0
    return np.array([*vals, math.log1p(max(here, 0.0)), grey_before, grey_after], np.float32)


def pictures_at(video: Path, indices: Sequence[int], size: tuple[int, int]) -> dict[int, np.ndarray]:
    """RGB pictures ``(h, w, 3)`` at *size* (w, h) of the frames *indices* of *video*, decoding no further
    than the last one; a frame the decoder does not deliver (a short stream) gets the last picture seen."""
    from actiondubber.video.reader import iter_frames

    want = set(int(i) for i in indices)
    got: dict[int, np.ndarray] = {}
    prev = None
    for fr in iter_frames(video, size=size, pix_fmt="rgb24"):
        if fr.index in want:
            got[fr.index] = fr.image
        prev = fr.image
        if len(got) == len(want):
            break
    blank = prev if prev is not None else np.zeros((size[1], size[0], 3), np.uint8)
    return {i: got.get(i, blank) for i in want}


def video_features(
    video: str | os.PathLike,
    frames: Sequence[int],
    scores: np.ndarray,
    *,
    info: VideoInfo | None = None,
    cache_dir: Path | None = None,
) -> np.ndarray:
    """Video inputs ``(len(frames), VIDEO_DIM)`` for events at 0-based *frames* of *video*.

    *scores* is the per-frame strength curve of the training-free detector (what
    :func:`actiondubber.detection.detector.strength_curve` gives, or an events file's ``scores``).
    """
    from actiondubber.video.reader import probe

    src = Path(video)
    info = info or probe(src)
    frames = [int(f) for f in frames]
    if not frames:
        return np.zeros((0, VIDEO_DIM), np.float32)
    last = max(info.n_frames - 1, 0)

    def make() -> np.ndarray:
        from actiondubber.mc3 import encoders

        need = sorted({min(max(f + o, 0), last) for f in frames for o in FRAME_OFFSETS})
        got = pictures_at(src, need, (IMAGE_SIZE, IMAGE_SIZE))
        feats = dict(zip(need, encoders.image_features(np.stack([got[i] for i in need])), strict=True))
        rows = []
        for f in frames:
            idx = [min(max(f + o, 0), last) for o in FRAME_OFFSETS]
            stack = np.stack([feats[i] for i in idx])
            grey = [got[i].astype(np.float32).mean(axis=2) for i in idx]
            before = float(np.abs(grey[1] - grey[0]).mean()) / 25.5
            after = float(np.abs(grey[2] - grey[1]).mean()) / 25.5
            rows.append(np.concatenate([stack.mean(axis=0), stack[-1] - stack[0],
                                        kinematic_features(scores, f, before, after)]))
        return np.stack(rows).astype(np.float32)

    score_key = hashlib.sha1(np.nan_to_num(np.asarray(scores, np.float32)).tobytes()).hexdigest()[:12]
    return cached_array(cache_dir, cache_key(src, "video", frames, score_key), make)


def _window(y: np.ndarray, sr: int, t: float) -> np.ndarray:
    a = int(round((t - AUDIO_BEFORE) * sr))
    b = int(round((t + AUDIO_AFTER) * sr))
    out = np.zeros(b - a, np.float32)
    lo, hi = max(a, 0), min(b, y.size)
    if lo < hi:
        out[lo - a : hi - a] = y[lo:hi]
    return out


def level_features(w: np.ndarray, sr: int) -> np.ndarray:
    """Log RMS, peak dB and onset contrast of a window whose event lies AUDIO_BEFORE s into it."""
    w = np.asarray(w, dtype=np.float64)
    e = int(round(AUDIO_BEFORE * sr))

    def rms(x):
        return math.sqrt(float(np.mean(x * x))) if x.size else 0.0

    eps = 1e-6
    after = rms(w[max(0, e - int(0.03 * sr)) : e + int(0.12 * sr)])
    before = rms(w[: max(1, e - int(0.05 * sr))])
    peak = float(np.abs(w).max()) if w.size else 0.0
    return np.array([
        math.log10(rms(w) + eps) / 3.0,
        20 * math.log10(peak + eps) / 60.0,
        min(4.0, max(-2.0, math.log10((after + eps) / (before + eps)))),
    ], np.float32)


def audio_features_from_waves(waves: Sequence[np.ndarray], sr: int) -> np.ndarray:
    """Audio inputs ``(n, AUDIO_DIM)`` of mono windows at *sr* framed like :func:`_window`."""
    from actiondubber.mc3 import encoders

    if not waves:
        return np.zeros((0, AUDIO_DIM), np.float32)
    levels = np.stack([level_features(w, sr) for w in waves])
    if sr != encoders.AUDIO_SR:
        from scipy.signal import resample_poly  # slow to import; not every caller resamples

        g = math.gcd(int(sr), encoders.AUDIO_SR)
        waves = [resample_poly(w, encoders.AUDIO_SR // g, int(sr) // g).astype(np.float32) for w in waves]
    return np.concatenate([encoders.audio_features(waves), levels], axis=1).astype(np.float32)


def audio_features(
    video: str | os.PathLike, times: Sequence[float], *, cache_dir: Path | None = None
) -> np.ndarray | None:
    """Audio inputs ``(len(times), AUDIO_DIM)`` of *video*'s soundtrack around *times*; ``None`` if it has none."""
    from actiondubber.audio.reader import NoAudioStreamError, read_audio_clip

    src = Path(video)
    times = [float(t) for t in times]

    def make():
        try:
            clip = read_audio_clip(src, sr=32000, mono=True)
        except NoAudioStreamError:
            return None
        y = np.asarray(clip.samples, dtype=np.float32).ravel()
        return audio_features_from_waves([_window(y, clip.sr, t - clip.start) for t in times], clip.sr)

    if not times:
        return np.zeros((0, AUDIO_DIM), np.float32)
    return cached_array(cache_dir, cache_key(src, "audio", times), make)


def sound_window(samples: np.ndarray, sr: int, seed: int = 0) -> np.ndarray:
    """A library sound ``(channels, n)`` as an event window: mono, attack at AUDIO_BEFORE s, over a faint floor."""
    y = np.atleast_2d(np.asarray(samples, dtype=np.float32)).mean(axis=0)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak <= 0:
        raise InputError("sound holds only silence")
    y = y / peak
    n = int(round((AUDIO_BEFORE + AUDIO_AFTER) * sr))
    e = int(round(AUDIO_BEFORE * sr))
    w = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * LIBRARY_FLOOR
    m = min(n - e, y.size)
    w[e : e + m] += y[:m]
    return w
