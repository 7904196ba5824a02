"""Audio–picture offset from visible impacts and the soundtrack's onsets.

Each visible impact (a peak of the detector's per-frame strength curve) and
the sound it makes should coincide. The offset is found in three steps:

1. **Lag search.** Every visual event ``e`` (time ``t_e``, weight from its
   prominence) votes for the lags ``τ`` at which the soundtrack has an onset
   at ``t_e + τ``: ``S(τ) = Σ_e w_e · A(t_e + τ)``, with ``A`` the audio onset
   strength (spectral flux, :func:`actiondubber.audio.onset_strength`) above
   its running median, scaled so strong onsets count ~1 and smoothed by a
   third of a frame. ``τ`` runs over ±``max_lag`` in 1 ms steps; the best
   lag is the maximum of ``S`` (ties go to the lag nearest 0).
2. **Matching.** Visual events and audio onsets are paired one to one within
   ``tolerance`` frame periods of that lag (strongest events first); the
   estimate is the mean of the pairs' differences, re-matched once around the
   new value. A single pair is quantised to the frame grid, so the mean of
   many pairs is what gives sub-frame resolution.
3. **Checks.** The confidence combines the number of matched impacts, the
   peak's sharpness (``1 − S₂/S₁``, ``S₂`` the best lag at least 1.5 frames
   away), the share of visual events that found a sound, and whether the two
   halves of the clip agree. Fewer than ``min_impacts`` matched impacts, or a
   soundtrack that sounds like music or speech (:mod:`.soundtype`), raise
   :class:`SyncRefused` instead of returning a guess.

Long videos are cut into windows of ``window`` seconds, each estimated on its
own; a robust slope through the window estimates is the drift. Only the
per-frame curve and the onset envelope are kept in memory (the envelope is
computed in blocks).

Sign: ``offset > 0`` means the audio trails the picture (a sound is heard
``offset`` seconds after the impact is seen).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from actiondubber.audio import DEFAULT_SR, AudioClip, onset_strength, peak_pick, read_audio_clip
from actiondubber.detection import DetectorParams, events_from_curve, strength_curve
from actiondubber.errors import ActionDubberError, ParameterError
from actiondubber.sync.soundtype import SPEECH_DETECTORS, SoundType, classify_soundtrack
from actiondubber.types import Events

#: Audio block length for the onset envelope (bounds the spectrogram's memory on long soundtracks).
_BLOCK_SECONDS = 30.0
#: Stretch (s) over which the onsets' loudness scale is set.
_SCALE_SECONDS = 20.0
#: Step of the lag grid (s).
_LAG_STEP = 0.001


class SyncRefused(ActionDubberError):
    """The offset cannot be measured with any confidence (too few impacts, music or speech...).

    ``kind`` says why: ``music``, ``speech`` (the soundtrack is not made of impacts), ``few_impacts``
    (too few visible impacts or sound onsets), ``unmatched`` (enough of both, but too few of them
    match at any lag) or ``ambiguous`` (any lag matches about as well).
    """

    exit_code = 5

    def __init__(self, message: str, kind: str = "few_impacts", soundtype: SoundType | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.soundtype = soundtype  # the classifier's verdict, when it refused for music/speech


@dataclass(frozen=True)
class SyncParams:
    """Settings of the offset estimate.

    ``max_lag``: largest offset searched (s, either sign). ``min_impacts``:
    fewest matched impacts for an answer. ``tolerance``: how far (in frame
    periods, at least ``min_tolerance`` s) an onset may be from an event plus
    the lag to be its sound. ``window``: window length (s) of the per-window
    estimates on long videos (none when the clip is shorter than two windows).
    ``onset_floor``: audio onsets weaker than this fraction of the clip's
    strong onsets are not matched. ``sr``, ``n_fft``, ``hop``, ``n_mels``: the
    onset envelope's analysis (short frames for timing; measured on synthetic
    clips, whose sounds start at known samples, the onset peaks land 0–3 ms
    after the true start). ``refuse_music``: refuse soundtracks that
    :func:`~actiondubber.sync.soundtype.classify_soundtrack` calls music or
    speech. ``speech_detector``: how it finds speech (``auto``, ``vad`` =
    silero-vad, ``rule``; see :mod:`~actiondubber.sync.soundtype`).
    """

    max_lag: float = 0.5
    min_impacts: int = 4
    tolerance: float = 1.0
    min_tolerance: float = 0.025
    window: float = 30.0
    onset_floor: float = 0.1
    sr: int = DEFAULT_SR
    n_fft: int = 512
    hop: int = 64
    n_mels: int = 64
    refuse_music: bool = True
    speech_detector: str = "auto"

    def __post_init__(self) -> None:
        if self.speech_detector not in SPEECH_DETECTORS:
            raise ParameterError(f"speech detector must be one of {', '.join(SPEECH_DETECTORS)}, "
                                 f"not {self.speech_detector!r}")
        if not 0.0 < self.max_lag <= 5.0:
            raise ParameterError(f"max lag must be in (0, 5] s, got {self.max_lag}")
        if self.min_impacts < 2:
            raise ParameterError(f"min impacts must be at least 2, got {self.min_impacts}")
        if not 0.0 < self.tolerance <= 3.0:
            raise ParameterError(f"tolerance must be in (0, 3] frame periods, got {self.tolerance}")
        if self.window <= 0:
            raise ParameterError(f"window must be positive, got {self.window}")
        if self.hop < 1 or self.n_fft < 2 * self.hop:
            raise ParameterError("the onset analysis needs hop >= 1 and n_fft >= 2 hop")


@dataclass(frozen=True)
class WindowEstimate:
    """The offset of one window of a long video (``offset`` None when it had too few impacts)."""

    start: float
    end: float
    offset: float | None
    n_impacts: int


@dataclass(frozen=True)
class SyncResult:
    """The measured offset and how far to trust it (times in seconds; ``offset > 0``: audio trails)."""

    video: str
    offset: float
    uncertainty: float
    confidence: float
    n_impacts: int
    n_visual: int
    n_audio: int
    sharpness: float
    matched_share: float
    chance_share: float
    halves: tuple[float | None, float | None]
    fps: float
    duration: float
    windows: tuple[WindowEstimate, ...] = ()
    drift: float | None = None  # s of offset change per s of video
    drift_detected: bool = False
    soundtype: SoundType | None = None
    pairs: tuple[tuple[float, float], ...] = field(default=(), repr=False)  # (visual time, onset time)
    onsets: tuple[float, ...] = field(default=(), repr=False)  # every onset found (s, video clock)

    @property
    def confidence_label(self) -> str:
        """``high``, ``medium`` or ``low``."""
        return "high" if self.confidence >= 0.6 else "medium" if self.confidence >= 0.35 else "low"

    def summary(self) -> str:
        """One line for people: direction, size, spread, matched impacts, confidence."""
        ms = self.offset * 1000.0
        how = "trails" if ms >= 0 else "leads"
        what = f"audio {how} the picture by {abs(ms):.0f} ms" if round(abs(ms)) else "audio and picture are in step"
        line = (f"{what} (±{self.uncertainty * 1000:.0f} ms, {self.n_impacts} matched impacts, "
                f"confidence {self.confidence_label})")
        if self.drift_detected and self.drift is not None:
            line += f"; drifts {self.drift * 60000:+.0f} ms per minute"
        return line

    def to_dict(self) -> dict:
        """JSON-ready fields; ``offset_ms``, ``confidence`` and ``n_impacts`` are the stable interface."""
        r = _round
        return {
            "video": self.video,
            "offset_ms": r(self.offset * 1000.0, 2),
            "confidence": r(self.confidence, 3),
            "n_impacts": self.n_impacts,
            "uncertainty_ms": r(self.uncertainty * 1000.0, 2),
            "confidence_label": self.confidence_label,
            "offset_frames": r(self.offset * self.fps, 3),
            "fps": r(self.fps, 4),
            "n_visual_events": self.n_visual,
            "n_audio_onsets": self.n_audio,
            "sharpness": r(self.sharpness, 3),
            "matched_share": r(self.matched_share, 3),
            "chance_share": r(self.chance_share, 3),
            "halves_ms": [None if h is None else r(h * 1000.0, 2) for h in self.halves],
            "drift_ms_per_min": None if self.drift is None else r(self.drift * 60000.0, 2),
            "drift_detected": self.drift_detected,
            "windows": [
                {"start": r(w.start, 3), "end": r(w.end, 3),
                 "offset_ms": None if w.offset is None else r(w.offset * 1000.0, 2), "n_impacts": w.n_impacts}
                for w in self.windows
            ],
            "soundtrack": None if self.soundtype is None else asdict(self.soundtype),
        }


def _round(x: float, nd: int) -> float | None:
    return round(float(x), nd) if x is not None and math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------------------------
# Inputs: visual events and the audio onset envelope
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnsetEnvelope:
    """Audio onset strength on the video's clock: ``values[j]`` at ``t0 + j * step`` seconds."""

    values: np.ndarray
    t0: float
    step: float

    @property
    def times(self) -> np.ndarray:
        return self.t0 + self.step * np.arange(self.values.size)


def onset_envelope(clip: AudioClip, params: SyncParams = SyncParams()) -> OnsetEnvelope:
    """Spectral-flux onset strength of *clip* (mono), computed in blocks, on the video's clock.

    Each value is placed at the start of the flux step (one hop before
    librosa's placement), which puts a sharp onset's peak within a few ms of
    the sound's first sample.
    """
    y = np.asarray(clip.samples, dtype=np.float32)
    if y.ndim != 1:
        y = y.mean(axis=0)
    hop, sr = params.hop, clip.sr
    block = max(hop, int(_BLOCK_SECONDS * sr) // hop * hop)
    pad = -(-2 * params.n_fft // hop) * hop
    n_out = 1 + y.size // hop
    out = np.zeros(n_out, np.float32)
    for a in range(0, y.size, block):
        lo = max(0, a - pad)
        seg = y[lo : min(y.size, a + block + pad)]
        env = onset_strength(seg, sr, hop_length=hop, n_fft=params.n_fft, n_mels=params.n_mels)
        first = (a - lo) // hop
        n = min(block // hop, n_out - a // hop, env.size - first)
        out[a // hop : a // hop + n] = env[first : first + n]
    return OnsetEnvelope(out, clip.start - hop / sr, hop / sr)


def _prominence(x: np.ndarray, half: int) -> np.ndarray:
    """``x`` above its running median over ±*half* samples (zero below)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    if x.size == 0:
        return x
    return np.maximum(0.0, x - median_filter(x, size=2 * max(1, half) + 1, mode="nearest"))


@dataclass
class _Audio:
    times: np.ndarray  # envelope sample times (video clock)
    smooth: np.ndarray  # scaled, smoothed prominence (for the lag search)
    onsets: np.ndarray  # onset times (video clock), strong enough to be matched
    strength: np.ndarray  # their scaled strength


def _onset_scale(prom: np.ndarray, peaks: np.ndarray, step: float) -> np.ndarray:
    """Per-sample loudness scale of the onsets: the third strongest onset peak within each
    :data:`_SCALE_SECONDS` stretch (so one stray click cannot set it, and a quiet part of a long
    soundtrack is not judged by a loud one), interpolated between stretches and never below a tenth
    of the clip-wide value."""
    if peaks.size == 0:
        return np.zeros_like(prom)
    def third(v: np.ndarray) -> float:
        return float(np.sort(v)[-min(3, v.size)]) if v.size else 0.0
    overall = third(prom[peaks])
    n_blk = max(1, int(round(prom.size * step / _SCALE_SECONDS)))
    edges = np.linspace(0, prom.size, n_blk + 1).astype(int)
    if n_blk == 1:
        return np.full(prom.size, overall)
    centres, refs = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        sel = peaks[(peaks >= a) & (peaks < b)]
        centres.append(0.5 * (a + b))
        refs.append(max(third(prom[sel]), 0.1 * overall))
    return np.interp(np.arange(prom.size), centres, refs)


def _audio_side(env: OnsetEnvelope, fps: float, params: SyncParams) -> _Audio:
    step = env.step
    prom = _prominence(env.values, int(round(0.1 / step)))
    win = dict(pre_max=int(0.03 / step), post_max=1, pre_avg=int(0.1 / step), post_avg=int(0.1 / step) + 1,
               wait=int(0.03 / step))
    peaks = peak_pick(prom, delta=0.0, **win)
    peaks = peaks[prom[peaks] > 0] if peaks.size else peaks
    times = env.times
    ref = _onset_scale(prom, peaks, step)
    if not np.any(ref > 0):
        return _Audio(times, np.zeros_like(prom), np.zeros(0), np.zeros(0))
    # Onsets: local maxima that stand out of their ±100 ms neighbourhood and are not too weak.
    norm = prom / ref
    scaled = np.minimum(norm, 1.0)
    peaks = peak_pick(norm, delta=0.05, **win)
    strength = scaled[peaks]
    keep = strength >= params.onset_floor
    peaks, strength = peaks[keep], strength[keep]
    # Sub-sample peak position (parabola through the three samples).
    t_on = times[peaks].copy()
    inner = (peaks > 0) & (peaks < prom.size - 1)
    if np.any(inner):
        p = peaks[inner]
        a, b, c = norm[p - 1], norm[p], norm[p + 1]
        den = a - 2 * b + c
        d = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
        t_on[inner] += np.clip(d, -0.5, 0.5) * step
    sigma = max(1.0, (1.0 / max(fps, 1.0)) / 3.0 / step)
    smooth = gaussian_filter1d(scaled, sigma, mode="constant")
    return _Audio(times, smooth, t_on, strength)


@dataclass
class _Visual:
    times: np.ndarray  # event times
    weight: np.ndarray  # prominence weights (capped at 1)


def _visual_side(times: np.ndarray, scores: np.ndarray, frames: np.ndarray) -> _Visual:
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size == 0:
        return _Visual(np.zeros(0), np.zeros(0))
    prom = _prominence(scores, 7)[frames]
    ref = float(np.median(prom[prom > 0])) if np.any(prom > 0) else 1.0
    w = np.clip(prom / ref, 0.2, 1.0)
    return _Visual(np.asarray(times, dtype=np.float64)[frames], w)


# ---------------------------------------------------------------------------------------------------------------
# The estimate
# ---------------------------------------------------------------------------------------------------------------


def _lag_scores(vis: _Visual, idx: np.ndarray, aud: _Audio, lags: np.ndarray) -> np.ndarray:
    """``S(τ)`` over *lags* from the visual events *idx*."""
    s = np.zeros(lags.size)
    for chunk in np.array_split(idx, max(1, idx.size // 256)):
        if chunk.size == 0:
            continue
        q = vis.times[chunk, None] + lags[None, :]
        s += (vis.weight[chunk, None] * np.interp(q, aud.times, aud.smooth, left=0.0, right=0.0)).sum(axis=0)
    return s


def _best_lag(s: np.ndarray, lags: np.ndarray) -> int:
    top = s.max()
    if top <= 0:
        return int(np.argmin(np.abs(lags)))
    cand = np.flatnonzero(s >= top * (1 - 1e-9))
    return int(cand[np.argmin(np.abs(lags[cand]))])


def _match(vis: _Visual, idx: np.ndarray, aud: _Audio, lag: float, tol: float) -> list[tuple[float, float]]:
    """One-to-one pairs ``(event time, onset time)`` with ``|onset − event − lag| <= tol``, strongest event first."""
    used = np.zeros(aud.onsets.size, bool)
    pairs = []
    for i in idx[np.argsort(-vis.weight[idx], kind="stable")]:
        want = vis.times[i] + lag
        lo, hi = np.searchsorted(aud.onsets, [want - tol, want + tol])
        best, best_d = -1, tol + 1.0
        for k in range(lo, min(hi + 1, aud.onsets.size)):
            d = abs(aud.onsets[k] - want)
            if not used[k] and d <= tol and d < best_d:
                best, best_d = k, d
        if best >= 0:
            used[best] = True
            pairs.append((float(vis.times[i]), float(aud.onsets[best])))
    return pairs


@dataclass
class _Part:
    offset: float | None
    pairs: list[tuple[float, float]]
    scores: np.ndarray
    lag_index: int


def _estimate_part(vis: _Visual, idx: np.ndarray, aud: _Audio, lags: np.ndarray, tol: float, min_n: int) -> _Part:
    s = _lag_scores(vis, idx, aud, lags)
    k = _best_lag(s, lags)
    lag = float(lags[k])
    pairs = _match(vis, idx, aud, lag, tol)
    for _ in range(2):
        if len(pairs) < 1:
            break
        lag = float(np.mean([o - v for v, o in pairs]))
        pairs = _match(vis, idx, aud, lag, tol)
    if not pairs:
        return _Part(None, pairs, s, k)
    off = float(np.mean([o - v for v, o in pairs]))
    return _Part(off if len(pairs) >= min_n else None, pairs, s, k)


def _match_strength(vis: _Visual, idx: np.ndarray, aud: _Audio, lags: np.ndarray, tol: float) -> np.ndarray:
    """``m(τ) = Σ_e w_e · (strength of the strongest onset within tol of t_e + τ)`` for each lag."""
    if aud.onsets.size == 0 or idx.size == 0:
        return np.zeros(lags.size)
    q = vis.times[idx, None] + lags[None, :]
    k = np.searchsorted(aud.onsets, q)
    best = np.zeros(q.shape)
    for j in (k - 2, k - 1, k, k + 1):
        jj = np.clip(j, 0, aud.onsets.size - 1)
        hit = (np.abs(aud.onsets[jj] - q) <= tol) & (j >= 0) & (j < aud.onsets.size)
        best = np.maximum(best, np.where(hit, aud.strength[jj], 0.0))
    return (vis.weight[idx, None] * best).sum(axis=0)


def _chance_share(vis: _Visual, idx: np.ndarray, aud: _Audio, lags: np.ndarray, best: float, tol: float,
                  away: float) -> float:
    """How much of the best lag's match strength a wrong lag gets by chance (median over lags *away*).

    Near 0 when the matched onsets stand out; near 1 when the soundtrack is so dense with onsets
    (room noise, music, speech) that any lag matches as well, so a match count is no evidence.
    """
    top = float(_match_strength(vis, idx, aud, np.array([best]), tol)[0])
    grid = lags[np.abs(lags - best) > away][::10]
    if top <= 0:
        return 1.0
    if grid.size == 0:
        return 0.0
    return float(min(1.0, np.median(_match_strength(vis, idx, aud, grid, tol)) / top))


def _sharpness(s: np.ndarray, lags: np.ndarray, k: int, away: float) -> float:
    if s[k] <= 0:
        return 0.0
    far = np.abs(lags - lags[k]) > away
    if not np.any(far):
        return 1.0
    return float(np.clip(1.0 - s[far].max() / s[k], 0.0, 1.0))


def _theil_sen(x: np.ndarray, y: np.ndarray) -> float:
    """Median of pairwise slopes (robust to a few bad window estimates)."""
    i, j = np.triu_indices(x.size, 1)
    dx = x[j] - x[i]
    ok = dx > 0
    return float(np.median((y[j] - y[i])[ok] / dx[ok])) if np.any(ok) else 0.0


def estimate_offset(
    times: np.ndarray,
    scores: np.ndarray,
    event_frames: np.ndarray,
    envelope: OnsetEnvelope,
    *,
    fps: float,
    params: SyncParams = SyncParams(),
    video: str = "",
    soundtype: SoundType | None = None,
) -> SyncResult:
    """The offset from a per-frame strength curve, its events and an audio onset envelope.

    Parameters
    ----------
    times, scores
        Per-frame times (s, video clock) and strengths (any detector's curve).
    event_frames
        Frame indices of the visual events (peaks of *scores*).
    envelope
        :func:`onset_envelope` of the soundtrack.
    fps
        The video's frame rate (sets the smoothing and matching tolerance).
    params
        :class:`SyncParams`.
    video, soundtype
        Recorded in the result (*soundtype* refuses when it says music/speech).

    Returns
    -------
    SyncResult

    Raises
    ------
    SyncRefused
        Too few matched impacts, no visual events or onsets, or music/speech.
    """
    name = os.path.basename(video) if video else "clip"
    if params.refuse_music and soundtype is not None and soundtype.verdict in ("music", "speech"):
        raise SyncRefused(
            f"{name}: the soundtrack sounds like {soundtype.verdict} ({soundtype.reason}); "
            "impact sounds are needed to measure the offset",
            kind=soundtype.verdict,
            soundtype=soundtype,
        )
    fps = float(fps) if fps and fps > 0 else 25.0
    period = 1.0 / fps
    times = np.asarray(times, dtype=np.float64)
    vis = _visual_side(times, np.asarray(scores, dtype=np.float64), event_frames)
    aud = _audio_side(envelope, fps, params)
    need = params.min_impacts
    if vis.times.size < need:
        raise SyncRefused(f"{name}: only {vis.times.size} visible impact(s) found (at least {need} needed); "
                          "offset not estimated")
    if aud.onsets.size < need:
        raise SyncRefused(f"{name}: only {aud.onsets.size} sound onset(s) in the soundtrack (at least {need} "
                          "needed); offset not estimated")
    tol = max(params.tolerance * period, params.min_tolerance)
    lags = np.arange(-params.max_lag, params.max_lag + _LAG_STEP / 2, _LAG_STEP)
    all_idx = np.arange(vis.times.size)
    whole = _estimate_part(vis, all_idx, aud, lags, tol, need)
    n = len(whole.pairs)
    if whole.offset is None:
        raise SyncRefused(f"{name}: only {n} visible impact(s) matched a sound onset (at least {need} needed); "
                          "offset not estimated", kind="unmatched")
    diffs = np.array([o - v for v, o in whole.pairs])
    spread = float(np.std(diffs, ddof=1)) if n > 1 else period
    uncertainty = max(spread, period / math.sqrt(12.0)) / math.sqrt(n)
    away = max(1.5 * period, 0.04)
    sharp = _sharpness(whole.scores, lags, whole.lag_index, away)
    chance = _chance_share(vis, all_idx, aud, lags, whole.offset, tol, away + tol)
    excess = n * (1.0 - chance)
    if excess < need / 2:
        raise SyncRefused(
            f"{name}: the sound onsets do not single out the visible impacts (a wrong lag matches "
            f"{chance:.0%} as well as the best); offset not estimated", kind="ambiguous")
    share = n / vis.times.size
    # Halves: each searched on its own, so an ambiguous lag shows as disagreement.
    mid = 0.5 * (times[0] + times[-1]) if times.size else 0.0
    halves = []
    for sel in (all_idx[vis.times < mid], all_idx[vis.times >= mid]):
        part = _estimate_part(vis, sel, aud, lags, tol, need) if sel.size else None
        halves.append(None if part is None else part.offset)
    # Per-window estimates (long videos) and drift.
    duration = float(times[-1] - times[0] + period) if times.size else 0.0
    windows: list[WindowEstimate] = []
    drift = None
    drift_detected = False
    if duration >= 2 * params.window:
        n_win = int(round(duration / params.window))
        edges = times[0] + np.linspace(0.0, duration, n_win + 1)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            sel = all_idx[(vis.times >= a) & (vis.times < b)]
            part = _estimate_part(vis, sel, aud, lags, tol, need) if sel.size else None
            windows.append(WindowEstimate(float(a), float(b), None if part is None else part.offset,
                                          0 if part is None else len(part.pairs)))
        good = [w for w in windows if w.offset is not None]
        if len(good) >= 3:
            x = np.array([(w.start + w.end) / 2 for w in good])
            y = np.array([w.offset for w in good])
            drift = _theil_sen(x, y)
            drift_detected = bool(abs(drift) * (x[-1] - x[0]) > max(period / 2, 3 * uncertainty))
    c_n = 1.0 - math.exp(-excess / 5.0)
    known = [h for h in halves if h is not None]
    if len(known) == 2:
        c_half = math.exp(-(((known[0] - known[1]) / period) ** 2))
    else:
        c_half = 0.5
    c_sharp = min(1.0, sharp / 0.5)
    c_share = min(1.0, share / 0.7)
    confidence = c_n * (max(c_sharp, 1e-3) * max(c_share, 1e-3) * max(c_half, 1e-3)) ** (1.0 / 3.0)
    return SyncResult(
        video=video,
        offset=whole.offset,
        uncertainty=uncertainty,
        confidence=float(confidence),
        n_impacts=n,
        n_visual=int(vis.times.size),
        n_audio=int(aud.onsets.size),
        sharpness=sharp,
        matched_share=share,
        chance_share=chance,
        halves=(halves[0], halves[1]),
        fps=fps,
        duration=duration,
        windows=tuple(windows),
        drift=drift,
        drift_detected=drift_detected,
        soundtype=soundtype,
        pairs=tuple(whole.pairs),
        onsets=tuple(float(t) for t in aud.onsets),
    )


def measure_offset(
    video: str | os.PathLike,
    *,
    params: SyncParams = SyncParams(),
    detector: DetectorParams | None = None,
    events: Events | None = None,
    audio: AudioClip | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncResult:
    """Measure the audio–picture offset of *video* (``offset > 0``: the audio trails the picture).

    Parameters
    ----------
    video
        A video file with a soundtrack.
    params
        :class:`SyncParams`.
    detector
        Settings of the training-free detector that gives the strength curve (default: its defaults).
    events
        Use these events and their score curve (e.g. from ``detect --model``,
        or from an earlier run on the same picture) instead of running the
        detector.
    audio
        An already decoded soundtrack (mono) of *video*; read from the file when ``None``.
    progress
        Called with 1 per decoded frame while the detector runs.

    Returns
    -------
    SyncResult

    Raises
    ------
    SyncRefused
        When the offset cannot be measured (see :func:`estimate_offset`).
    InputError
        Unreadable video, or no audio stream
        (:class:`~actiondubber.audio.NoAudioStreamError`).
    """
    clip = audio if audio is not None else read_audio_clip(video, sr=params.sr, mono=True)
    if events is None:
        detector = detector or DetectorParams()
        curve = strength_curve(video, detector, progress=progress)
        events = events_from_curve(curve, detector)
    info = events.video
    times = np.asarray(info.timestamps, dtype=np.float64)
    scores = np.asarray(events.scores, dtype=np.float64)
    if times.size != scores.size:
        times = np.array([info.time_of(i) for i in range(scores.size)])
    env = onset_envelope(clip, params)
    kind = classify_soundtrack(clip, params.speech_detector) if params.refuse_music else None
    try:
        return estimate_offset(times, scores, np.asarray(events.frames, dtype=np.int64), env, fps=info.fps,
                               params=params, video=str(video), soundtype=kind)
    except SyncRefused as exc:
        exc.soundtype = exc.soundtype or kind  # what the soundtrack was, for reports
        raise
