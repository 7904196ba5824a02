"""Per-frame feature vectors for localisation: kinematic (picture) and log-mel (soundtrack).

Both live on the video's own frame clock: row ``i`` describes frame ``i`` at its container time, so
visual and audio files of one video have the same number of rows and can be fused step by step.

Visual (:func:`visual_features`, ``VISUAL_DIM`` columns) — the project's own kinematics (optical flow
with camera motion removed, :mod:`actiondubber.kinematics`) read by the detector's strength measures
(:func:`actiondubber.detection.strength.frame_strength`): deceleration (with the persistence check and
the gravity prior, i.e. the training-free detector's curve), inflection magnitude, flow magnitude and
the impact measure, each as ``log1p(value)`` and as ``value / (clip 99th percentile)`` (so footage of
any size and speed looks alike), plus the location of the strongest deceleration (0..1 of the frame).

Audio (:func:`audio_features`, ``AUDIO_DIM`` columns) — a log-mel spectrogram (16 kHz, 32 ms window,
10 ms hop, ``N_MELS`` bands, :mod:`actiondubber.audio.onsets`) pooled into each frame's interval (mean
and max per band, in dB relative to the clip's per-band median, /20) plus the spectral flux (onset
strength) max and mean over the interval, normalised by its clip 99th percentile, and ``log1p`` of
the max. The soundtrack is placed on the video clock with :attr:`AudioClip.start`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from actiondubber.audio.onsets import mel_power, power_to_db
from actiondubber.audio.reader import AudioClip, NoAudioStreamError, read_audio_clip
from actiondubber.detection.detector import MIN_FRAMES, DetectorParams
from actiondubber.detection.strength import frame_strength
from actiondubber.errors import InputError
from actiondubber.fileio import atomic_output, ensure_output_dir
from actiondubber.kinematics.flow import make_flow_backend
from actiondubber.kinematics.inflection import iter_kinematics
from actiondubber.types import VideoInfo
from actiondubber.video.reader import decoded_info, iter_frames, probe

log = logging.getLogger(__name__)

#: Strength measures read per frame (see :mod:`actiondubber.detection.strength`).
_KINDS = ("deceleration", "inflection", "flow", "impact")
VISUAL_DIM = 2 * len(_KINDS) + 2
#: Column of the raw-scale-free deceleration (the training-free detector's curve / its 99th pct).
DECEL_COLUMN = len(_KINDS)
N_MELS = 32
AUDIO_DIM = 2 * N_MELS + 3
AUDIO_SR = 16000
_N_FFT = 512
_HOP = 160


@dataclass(frozen=True)
class FeatureParams:
    """How features are made; recorded in checkpoints so inference makes the same ones."""

    short_side: int = 128
    backend: str = "dis"
    flow_preset: str = "fast"
    compensate: str = "affine"
    gravity: float = 1.0
    n_mels: int = N_MELS
    audio_sr: int = AUDIO_SR

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VideoFeatures:
    """One video's features: ``visual`` (T, VISUAL_DIM), ``audio`` (T, AUDIO_DIM) or None, frame times.

    ``decel`` is the raw deceleration curve (the training-free detector's strength, px/frame at the
    analysis size) and ``xy`` the strongest point per frame in original-video pixels (NaN unknown).
    """

    info: VideoInfo
    visual: np.ndarray
    audio: np.ndarray | None
    decel: np.ndarray
    xy: np.ndarray

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.info.timestamps, dtype=np.float64)


def _scale_free(x: np.ndarray) -> np.ndarray:
    p = float(np.percentile(x, 99)) if x.size else 0.0
    return np.clip(x / p, 0.0, 4.0) if p > 1e-6 else np.zeros_like(x)


def visual_features(
    video: str | os.PathLike,
    params: FeatureParams = FeatureParams(),
    *,
    info: VideoInfo | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[VideoInfo, np.ndarray, np.ndarray, np.ndarray]:
    """``(info, features (T, VISUAL_DIM) float32, raw deceleration (T,), xy (T, 2))`` of *video*.

    One streaming pass (flow forward and backward per frame pair); frame 0 and the last frame,
    which have no second derivative, get zeros. Uses the training-free detector's defaults for
    everything not in *params*.
    """
    info = info or probe(video)
    if info.n_frames < MIN_FRAMES:
        raise InputError(f"{video}: video has {info.n_frames} frame(s); at least {MIN_FRAMES} are needed")
    d = DetectorParams(short_side=params.short_side, backend=params.backend, flow_preset=params.flow_preset,
                       compensate=params.compensate, gravity=params.gravity)
    kw = {"preset": d.flow_preset} if d.backend == "dis" else {}
    fwd = make_flow_backend(d.backend, **kw)
    bwd = make_flow_backend(d.backend, **kw) if d.backend in ("dis", "farneback", "tvl1") else None
    times: list[float] = []
    size: list[int] = []

    def frames():
        for fr in iter_frames(video, short_side=d.short_side):
            times.append(fr.time)
            if not size:
                size.extend((fr.image.shape[1], fr.image.shape[0]))
            if progress is not None:
                progress(1)
            yield fr

    blur = max(3, int(round(d.blur * (d.short_side or 128) / 128)) | 1)
    rows: dict[int, list[float]] = {}

    def measure(kin, prev, nxt):
        vals = []
        x = y = np.nan
        for kind in _KINDS:
            link = kind == "deceleration" and d.persistence
            v, kx, ky = frame_strength(kin, kind, gravity=d.gravity, change_gate=d.change_gate, blur=blur,
                                       top_fraction=d.top_fraction, prev=prev if link else None,
                                       nxt=nxt if link else None)
            if kind == "deceleration":
                x, y = kx, ky
            vals.append(v)
        rows[kin.index] = [*vals, x, y]

    prev = cur = None
    for kin in iter_kinematics(frames(), fwd, compensate_model=d.compensate, backend_bwd=bwd):
        if cur is not None:
            measure(cur, prev, kin)
        prev, cur = cur, kin
    if cur is not None:
        measure(cur, prev, None)
    info = decoded_info(info, times, min_frames=MIN_FRAMES)
    n = info.n_frames
    raw = np.zeros((n, len(_KINDS)), np.float64)
    xy = np.full((n, 2), np.nan)
    aw, ah = size
    for i, r in rows.items():
        if 0 <= i < n:
            raw[i] = r[: len(_KINDS)]
            xy[i] = ((r[-2] + 0.5) * info.width / aw - 0.5, (r[-1] + 0.5) * info.height / ah - 0.5)
    feats = np.zeros((n, VISUAL_DIM), np.float32)
    feats[:, : len(_KINDS)] = np.log1p(raw)
    for k in range(len(_KINDS)):
        feats[:, len(_KINDS) + k] = _scale_free(raw[:, k])
    with np.errstate(invalid="ignore"):
        feats[:, -2] = np.nan_to_num(xy[:, 0] / max(info.width, 1), nan=0.5)
        feats[:, -1] = np.nan_to_num(xy[:, 1] / max(info.height, 1), nan=0.5)
    return info, feats, raw[:, 0].astype(np.float32), xy


def frame_windows(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's interval on the video clock: from half-way to the previous frame to half-way to the next."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 1:
        return t - 0.02, t + 0.02
    gaps = np.diff(t)
    lo = np.concatenate([[t[0] - gaps[0] / 2], t[1:] - gaps / 2])
    hi = np.concatenate([t[:-1] + gaps / 2, [t[-1] + gaps[-1] / 2]])
    return lo, hi


def audio_features_from_samples(samples: np.ndarray, sr: int, start: float, times: np.ndarray,
                                n_mels: int = N_MELS) -> np.ndarray:
    """Audio features (T, 2 n_mels + 3) of mono *samples* at *sr*, whose sample 0 is at video time *start*.

    *times* are the frame times (video clock). Resampling to 16 kHz is linear-phase polyphase
    (scipy); frames the soundtrack does not cover get the clip's quiet level.
    """
    from scipy.signal import resample_poly

    y = np.asarray(samples, dtype=np.float32)
    if y.ndim != 1:
        y = y.mean(axis=0)
    if sr != AUDIO_SR:
        g = np.gcd(int(sr), AUDIO_SR)
        y = resample_poly(y, AUDIO_SR // g, int(sr) // g).astype(np.float32)
    n_t = len(times)
    out = np.zeros((n_t, 2 * n_mels + 3), np.float32)
    if y.size < _N_FFT:
        return out
    S = power_to_db(mel_power(y, AUDIO_SR, n_fft=_N_FFT, hop_length=_HOP, n_mels=n_mels), top_db=80.0)
    S = S - np.median(S, axis=1, keepdims=True)
    flux = np.concatenate([[0.0], np.maximum(0.0, np.diff(S, axis=1)).mean(axis=0)]).astype(np.float32)
    t_mel = np.arange(S.shape[1]) * (_HOP / AUDIO_SR) + float(start)
    lo, hi = frame_windows(times)
    a = np.searchsorted(t_mel, lo, side="left")
    b = np.maximum(np.searchsorted(t_mel, hi, side="left"), a + 1)
    fmax = np.zeros(n_t, np.float32)
    fmean = np.zeros(n_t, np.float32)
    for i in range(n_t):
        if a[i] >= S.shape[1] or b[i] <= 0:
            continue
        s, e = max(0, a[i]), min(S.shape[1], b[i])
        seg = S[:, s:e]
        out[i, :n_mels] = seg.mean(axis=1) / 20.0
        out[i, n_mels: 2 * n_mels] = seg.max(axis=1) / 20.0
        fmax[i] = flux[s:e].max()
        fmean[i] = flux[s:e].mean()
    p = float(np.percentile(fmax, 99)) if n_t else 0.0
    scale = p if p > 1e-6 else 1.0
    out[:, 2 * n_mels] = np.clip(fmax / scale, 0, 4)
    out[:, 2 * n_mels + 1] = np.clip(fmean / scale, 0, 4)
    out[:, 2 * n_mels + 2] = np.log1p(fmax)
    return out


def audio_features(video: str | os.PathLike, times: np.ndarray, params: FeatureParams = FeatureParams()
                   ) -> np.ndarray | None:
    """Audio features of *video*'s soundtrack on its frame *times*; ``None`` when it has no audio track."""
    try:
        clip: AudioClip = read_audio_clip(video, sr=params.audio_sr)
    except NoAudioStreamError:
        return None
    return audio_features_from_samples(clip.samples, clip.sr, clip.start, times, params.n_mels)


def extract(video: str | os.PathLike, params: FeatureParams = FeatureParams(), *, with_audio: bool = True,
            progress: Callable[[int], None] | None = None) -> VideoFeatures:
    """Visual and (when *with_audio* and the file has a soundtrack) audio features of *video*."""
    info, vis, decel, xy = visual_features(video, params, progress=progress)
    aud = audio_features(video, np.asarray(info.timestamps), params) if with_audio else None
    return VideoFeatures(info, vis, aud, decel, xy)


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> Path:
    """Write *arr* as ``.npy`` atomically."""
    with atomic_output(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(arr, dtype=np.float32))
    return Path(path)


def load_npy(path: str | os.PathLike, what: str = "feature file") -> np.ndarray:
    """A (T, C) float32 feature array from *path*; :class:`InputError` when missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: {what} not found")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: not a .npy {what} ({exc})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{p}: expected a (time, channels) numeric array, got shape {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InputError(f"{p}: {what} holds NaN or infinite values")
    return arr


def write_video_features(video: str | os.PathLike, out_dir: str | os.PathLike, audio_dir: str | os.PathLike | None,
                         params: FeatureParams = FeatureParams(), *, force: bool = False,
                         progress: Callable[[int], None] | None = None) -> tuple[Path, Path | None]:
    """Write ``out_dir/<stem>.npy`` (visual) and ``audio_dir/<stem>.npy`` (audio) for *video*.

    A video without a soundtrack gets an all-zero audio file (the gate then sees silence) and a
    warning. Existing files are kept unless *force*.
    """
    stem = Path(video).stem
    vdir = ensure_output_dir(out_dir, "feature folder")
    vpath = vdir / f"{stem}.npy"
    apath = None if audio_dir is None else ensure_output_dir(audio_dir, "audio feature folder") / f"{stem}.npy"
    for p in (vpath, apath):
        if p is not None and p.exists() and not force:
            from actiondubber.errors import OutputError

            raise OutputError(f"{p}: exists; use --force to replace it")
    feats = extract(video, params, with_audio=apath is not None, progress=progress)
    save_npy(vpath, feats.visual)
    if apath is not None:
        aud = feats.audio
        if aud is None:
            log.warning("%s: no audio track; writing silent audio features", video)
            aud = np.zeros((feats.visual.shape[0], AUDIO_DIM), np.float32)
        save_npy(apath, aud)
    return vpath, apath
