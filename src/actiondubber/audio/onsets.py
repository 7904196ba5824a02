"""Spectral-flux onset detection in numpy/scipy, following librosa's defaults.

Three small functions, as in librosa's ``onset`` module: a strength envelope
(:func:`onset_strength`: log-power mel spectrogram, first difference,
half-wave rectified, mean over bands), a peak picker (:func:`peak_pick`) and
a detector built from both (:func:`onset_detect`). :func:`impact_onsets`
keeps the strong ones, the way the project's audio answer keys are made.
Defaults match librosa 0.11 so results can be compared with its output;
librosa itself is not needed.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d

from actiondubber.peaks import keep_apart, local_maxima

#: Frames of STFT computed at once (bounds memory on long soundtracks).
_STFT_BLOCK = 1024


def hz_to_mel(freqs: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    f = np.asarray(freqs, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mels = f / f_sp
    high = f >= min_log_hz
    return np.where(high, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular, area-normalised (Slaney) mel filters, shape ``(n_mels, n_fft // 2 + 1)``."""
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    dist = edges[:, None] - fft_freqs[None, :]
    rising = -dist[:-2] / widths[:-1, None]
    falling = dist[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (the usual choice for STFT analysis)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def mel_power(y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128) -> np.ndarray:
    """Mel power spectrogram ``(n_mels, 1 + len(y) // hop_length)`` of centred, zero-padded frames."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio (1-D samples), got shape {y.shape}")
    pad = n_fft // 2
    yp = np.pad(y, (pad, pad), mode="constant")
    n_frames = 1 + (len(yp) - n_fft) // hop_length
    window = _hann(n_fft)
    fb = mel_filterbank(sr, n_fft, n_mels)
    frames = np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop_length][:n_frames]
    out = np.empty((n_mels, n_frames), dtype=np.float32)
    for s in range(0, n_frames, _STFT_BLOCK):
        spec = np.fft.rfft(frames[s : s + _STFT_BLOCK] * window, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[:, s : s + _STFT_BLOCK] = fb @ power.T
    return out


def power_to_db(S: np.ndarray, *, amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """``10 log10(S)`` with a floor at *amin* and at *top_db* below the peak (reference power 1)."""
    db = 10.0 * np.log10(np.maximum(amin, S))
    if top_db is not None and db.size:
        db = np.maximum(db, db.max() - top_db)
    return db


def onset_strength(
    y: np.ndarray,
    sr: int,
    *,
    hop_length: int = 512,
    n_fft: int = 2048,
    n_mels: int = 128,
    lag: int = 1,
    max_size: int = 1,
) -> np.ndarray:
    """Spectral-flux onset strength, one value per hop (frame ``i`` centred at ``i * hop_length``).

    The log-power mel spectrogram's increase over *lag* frames (compared with
    the maximum over *max_size* neighbouring bands, which suppresses vibrato),
    half-wave rectified and averaged over bands. The curve is shifted by
    *lag* plus the centring offset (``n_fft // (2 hop_length)``) so that a
    peak lands on the frame where the sound starts, as librosa does.
    """
    if lag < 1 or max_size < 1:
        raise ValueError("lag and max_size must be >= 1")
    S = power_to_db(mel_power(y, sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels))
    ref = S if max_size == 1 else maximum_filter1d(S, max_size, axis=0)
    flux = np.maximum(0.0, S[:, lag:] - ref[:, :-lag]).mean(axis=0)
    shift = lag + n_fft // (2 * hop_length)
    env = np.concatenate([np.zeros(shift, dtype=np.float32), flux.astype(np.float32)])
    return env[: S.shape[1]]


def peak_pick(
    x: np.ndarray, *, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float, wait: int
) -> np.ndarray:
    """Indices ``n`` where ``x[n]`` is a local peak well above its neighbourhood mean (librosa's rule).

    The audio member of the package's peak pickers (shared parts: :mod:`actiondubber.peaks`; the
    video one, :func:`actiondubber.detection.peaks.pick_peaks`, uses a running median and keeps the
    stronger of two close peaks). ``n`` is kept when ``x[n] == max(x[n-pre_max : n+post_max])``, ``x[n] >=
    mean(x[n-pre_avg : n+post_avg]) + delta`` (windows clipped at the ends)
    and more than *wait* samples have passed since the last kept peak.
    """
    if post_max < 1 or post_avg < 1 or min(pre_max, pre_avg, wait) < 0:
        raise ValueError("post_max and post_avg must be >= 1; pre_max, pre_avg and wait >= 0")
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    idx = np.arange(n)
    # Moving mean over the clipped window [max(0, n - pre_avg), min(n + post_avg, len)).
    csum = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.maximum(0, idx - pre_avg)
    hi = np.minimum(n, idx + post_avg)
    mov_avg = (csum[hi] - csum[lo]) / (hi - lo)
    # maximum over [n - pre_max, n + post_max); the first peak after a wait of more than *wait* samples
    candidates = np.flatnonzero(local_maxima(x, pre_max, post_max - 1) & (x >= mov_avg + delta))
    return keep_apart(candidates, wait + 1).astype(int)


def _default_window(seconds: float, sr: int, hop_length: int, extra: int = 0) -> int:
    return int(seconds * sr // hop_length) + extra


def onset_detect(
    y: np.ndarray | None = None,
    sr: int = 22050,
    *,
    onset_envelope: np.ndarray | None = None,
    hop_length: int = 512,
    n_fft: int = 2048,
    n_mels: int = 128,
    lag: int = 1,
    max_size: int = 1,
    delta: float = 0.07,
    wait: int | None = None,
    pre_max: int | None = None,
    post_max: int | None = None,
    pre_avg: int | None = None,
    post_avg: int | None = None,
    normalize: bool = True,
    units: str = "time",
) -> np.ndarray:
    """Onset positions of *y* (or of a precomputed *onset_envelope*), in ``units`` 'time' (s) or 'frames'.

    The envelope is scaled to [0, 1] when *normalize* (so *delta* is relative)
    and passed to :func:`peak_pick`. Window defaults follow librosa: wait and
    pre_max 30 ms, post_max 1 frame, pre_avg 100 ms, post_avg 100 ms + 1 frame.
    """
    if units not in ("time", "frames"):
        raise ValueError(f"units must be 'time' or 'frames', not {units!r}")
    if onset_envelope is None:
        if y is None:
            raise ValueError("give either y or onset_envelope")
        onset_envelope = onset_strength(
            y, sr, hop_length=hop_length, n_fft=n_fft, n_mels=n_mels, lag=lag, max_size=max_size
        )
    env = np.asarray(onset_envelope, dtype=np.float64)
    if env.size == 0 or not np.any(env):
        return np.zeros(0, dtype=float if units == "time" else int)
    if normalize:
        env = env - env.min()
        env = env / (env.max() + np.finfo(np.float32).tiny)
    frames = peak_pick(
        env,
        pre_max=_default_window(0.03, sr, hop_length) if pre_max is None else pre_max,
        post_max=_default_window(0.0, sr, hop_length, 1) if post_max is None else post_max,
        pre_avg=_default_window(0.10, sr, hop_length) if pre_avg is None else pre_avg,
        post_avg=_default_window(0.10, sr, hop_length, 1) if post_avg is None else post_avg,
        delta=delta,
        wait=_default_window(0.03, sr, hop_length) if wait is None else wait,
    )
    if units == "frames":
        return frames
    return frames * hop_length / float(sr)


def graded_onsets(
    y: np.ndarray,
    sr: int,
    *,
    rel_threshold: float = 0.25,
    weak_threshold: float = 0.0,
    min_time: float = 0.1,
    hop_length: int = 512,
    n_fft: int = 2048,
    n_mels: int = 128,
    delta: float = 0.07,
) -> tuple[np.ndarray, np.ndarray]:
    """``(strong, weak)`` onset times (s): strength >= *rel_threshold* x the clip's strongest onset, and
    >= *weak_threshold* x it but below *rel_threshold* (empty when *weak_threshold* is 0 or not below it).

    The weak ones are the onsets too faint to be sure of (a quiet contact, or handling noise):
    ``label-from-audio`` writes them as "don't care" frames. See :func:`impact_onsets`.
    """
    env = onset_strength(y, sr, hop_length=hop_length, n_fft=n_fft, n_mels=n_mels)
    frames = onset_detect(onset_envelope=env, sr=sr, hop_length=hop_length, delta=delta, units="frames")
    if frames.size == 0:
        return np.zeros(0, dtype=float), np.zeros(0, dtype=float)
    strength = env[frames]
    times = frames * hop_length / float(sr)
    late = times >= min_time
    strong = strength >= rel_threshold * strength.max()
    weak = ~strong & (strength >= weak_threshold * strength.max()) & (weak_threshold > 0)
    return times[strong & late], times[weak & late]


def impact_onsets(
    y: np.ndarray,
    sr: int,
    *,
    rel_threshold: float = 0.25,
    min_time: float = 0.1,
    hop_length: int = 512,
    n_fft: int = 2048,
    n_mels: int = 128,
    delta: float = 0.07,
) -> np.ndarray:
    """Times (s) of the strong onsets: strength >= *rel_threshold* x the clip's strongest onset.

    Onsets are :func:`onset_detect`'s (librosa defaults); the strongest is
    taken over all of them, then onsets earlier than *min_time* are dropped
    (codec start-up clicks, handling noise). This is how the project's audio
    answer key ``labels_audio_onsets.csv`` was made.
    """
    return graded_onsets(y, sr, rel_threshold=rel_threshold, min_time=min_time, hop_length=hop_length,
                         n_fft=n_fft, n_mels=n_mels, delta=delta)[0]
