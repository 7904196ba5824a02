"""Placing sounds at event times and mixing them with the original soundtrack.

:func:`render_mix` builds the dubbed soundtrack as one float32 array
``(channels, n)`` on the video's clock (sample 0 = the first video frame):

* each event's sound starts at sample ``round(event.time * sr)`` (sample
  accurate, never rounded to a frame);
* its gain follows the event's score relative to the clip's strongest event
  (amplitude proportional to score, floored at ``score_floor_db``), plus a
  seeded random ±``gain_jitter_db`` and a seeded pitch shift of up to
  ±``pitch_jitter`` semitones (by resampling), so a series of hits does not
  sound like a machine;
* with ``pan`` each sound is panned by the event's x position (equal power);
* the original soundtrack is kept under the sounds (``keep``), dropped
  (``replace``), or ducked with a smooth gain envelope around each event
  (``duck``);
* a look-ahead limiter keeps every sample at or below ``ceiling_db`` (-1 dBFS).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.ndimage import minimum_filter1d

from actiondubber.dubbing.library import ORDERS, choose
from actiondubber.dubbing.sounds import Sound
from actiondubber.errors import ParameterError
from actiondubber.types import Event

#: Ways to treat the original soundtrack.
MIXES = ("keep", "replace", "duck")


@dataclass(frozen=True)
class DubParams:
    """How sounds are placed and mixed.

    Levels are in dB. ``level_db`` is the peak of a full-score sound before
    jitter and limiting; ``original_db`` the original soundtrack's level under
    ``keep``; ``duck_db`` its attenuation under ``duck``, reached
    ``duck_attack`` s before an event and released over ``duck_release`` s
    after the sound has faded. Defaults are chosen by ear, not by a benchmark:
    they keep a series of hits lively but even, and leave 1 dB of headroom. A value out of range
    raises :class:`~actiondubber.errors.ParameterError` when the parameters are made.
    """

    mix: str = "keep"
    original_db: float = 0.0
    duck_db: float = -15.0
    duck_attack: float = 0.03
    duck_release: float = 0.3
    level_db: float = -3.0
    score_gain: bool = True
    score_floor_db: float = -18.0
    gain_jitter_db: float = 2.0
    pitch_jitter: float = 1.0
    pan: bool = False
    ceiling_db: float = -1.0
    seed: int = 0
    order: str = "round-robin"

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise ParameterError(f"mix must be one of {', '.join(MIXES)}, not {self.mix!r}")
        if self.order not in ORDERS:
            raise ParameterError(f"order must be one of {', '.join(ORDERS)}, not {self.order!r}")
        for name in ("original_db", "duck_db", "duck_attack", "duck_release", "level_db", "score_floor_db",
                     "gain_jitter_db", "pitch_jitter", "ceiling_db"):
            if not math.isfinite(getattr(self, name)):
                raise ParameterError(f"{name} must be a finite number, got {getattr(self, name)}")
        if not self.ceiling_db <= 0.0:
            raise ParameterError(f"limiter ceiling must be <= 0 dBFS, got {self.ceiling_db}")
        if self.gain_jitter_db < 0 or self.pitch_jitter < 0:
            raise ParameterError("gain and pitch jitter must be >= 0")
        if self.pitch_jitter > 12.0:
            raise ParameterError(f"pitch jitter must be at most 12 semitones, got {self.pitch_jitter}")
        if self.duck_attack < 0 or self.duck_release < 0:
            raise ParameterError("duck attack and release must be >= 0")
        if self.score_floor_db > 0:
            raise ParameterError(f"score floor must be <= 0 dB, got {self.score_floor_db}")


@dataclass(frozen=True)
class Placement:
    """One placed sound: event index, sound index, start sample, linear gain, pitch ratio, pan (0 left .. 1 right)."""

    event: int
    sound: int
    start: int
    gain: float
    pitch: float
    pan: float | None


def db(x: float) -> float:
    """Decibels to a linear amplitude factor."""
    return 10.0 ** (x / 20.0)


def score_gains(scores: Sequence[float], floor_db: float = -18.0) -> np.ndarray:
    """Linear gain per event: score / the clip's highest score, floored at *floor_db*.

    Non-finite or negative scores count as 0 (the floor). When no score is
    positive every event gets gain 1.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isfinite(s) & (s > 0), s, 0.0)
    if s.size == 0 or s.max() <= 0:
        return np.ones(s.size)
    return np.maximum(s / s.max(), db(floor_db))


def plan(events: Sequence[Event], n_sounds: int, *, sr: int, width: int, params: DubParams) -> list[Placement]:
    """Decide, for each event, its sound, start sample, gain, pitch and pan (seeded, deterministic)."""
    events = list(events)
    picks = choose(len(events), n_sounds, order=params.order, seed=params.seed)
    base = score_gains([e.score for e in events], params.score_floor_db) if params.score_gain else np.ones(len(events))
    rng = np.random.default_rng([int(params.seed) & 0xFFFFFFFF, 0xD0B])
    out = []
    for i, e in enumerate(events):
        jitter = rng.uniform(-1.0, 1.0, 2)  # drawn for every event so one knob never shifts the other's draws
        gain = base[i] * db(params.level_db + params.gain_jitter_db * jitter[0])
        pitch = 2.0 ** (params.pitch_jitter * jitter[1] / 12.0)
        pan = None
        if params.pan:
            pan = 0.5 if e.x is None or width <= 0 or not math.isfinite(e.x) else min(1.0, max(0.0, e.x / width))
        out.append(Placement(i, picks[i], int(round(e.time * sr)), float(gain), float(pitch), pan))
    return out


def repitch(samples: np.ndarray, ratio: float) -> np.ndarray:
    """Play *samples* ``(channels, n)`` *ratio* times faster (higher pitch, shorter) by polyphase resampling.

    The ratio is approximated by a fraction with denominator at most 64
    (pitch error below 0.03 semitone for shifts within ±1 semitone).
    """
    frac = Fraction(ratio).limit_denominator(64)
    if frac == 1:
        return samples
    from scipy.signal import resample_poly  # slow to import (~1 s); most placements need no resampling

    y = resample_poly(samples, frac.denominator, frac.numerator, axis=-1)
    return y.astype(np.float32, copy=False)


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power (sin/cos) left and right gains for *pan* in 0 (left) .. 1 (right); -3 dB each at centre."""
    a = 0.5 * math.pi * min(1.0, max(0.0, pan))
    return math.cos(a), math.sin(a)


def effective_length(samples: np.ndarray, sr: int, threshold_db: float = -20.0) -> float:
    """Seconds until a sound stays below *threshold_db* of its peak (how long it is clearly heard)."""
    env = np.abs(samples).max(axis=0)
    if env.size == 0:
        return 0.0
    loud = np.flatnonzero(env >= db(threshold_db) * env.max())
    return float(loud[-1] + 1) / sr if loud.size else 0.0


def duck_envelope(
    n: int, sr: int, spans: Sequence[tuple[float, float]], *, depth_db: float, attack: float, release: float
) -> np.ndarray:
    """Gain curve (length *n*) that dips to *depth_db* over each ``(start, end)`` span (s).

    The dip begins *attack* s before ``start`` and recovers over *release* s
    after ``end``, along raised-cosine ramps in dB; overlapping dips merge
    (the deeper wins), so the curve is continuous and smooth.
    """
    depth = np.zeros(n, np.float64)
    a, r = max(1, int(round(attack * sr))), max(1, int(round(release * sr)))
    for start, end in spans:
        s, e = int(round(start * sr)), max(int(round(start * sr)), int(round(end * sr)))
        lo, hi = max(0, s - a), min(n, e + r)
        if lo >= hi:
            continue
        idx = np.arange(lo, hi)
        d = np.ones(hi - lo)
        up = idx < s
        d[up] = 0.5 - 0.5 * np.cos(math.pi * (idx[up] - (s - a)) / a)
        down = idx >= e
        d[down] = 0.5 + 0.5 * np.cos(math.pi * (idx[down] - e) / r)
        np.maximum(depth[lo:hi], d, out=depth[lo:hi])
    return (10.0 ** (depth_db * depth / 20.0)).astype(np.float32)


def limit(x: np.ndarray, sr: int, *, ceiling_db: float = -1.0, lookahead: float = 0.005,
          release: float = 0.06) -> np.ndarray:
    """Look-ahead peak limiter (in place on *x* ``(channels, n)``); returns *x* with ``|x| <= ceiling``.

    The gain needed at each sample (ceiling / peak over channels, at most 1)
    is spread by a running minimum over ``[n - release, n + lookahead]``, then
    smoothed by a Hann-weighted average over the look-ahead; every value that
    enters a sample's average already covers that sample, so the result never
    exceeds the needed gain, yet moves gently (no clicks, no distortion of
    quiet passages). Channels share one gain, so the stereo image holds.
    Only the stretches around samples over the ceiling are touched (and held
    in float64), so long soundtracks with few peaks cost little.
    """
    c = db(ceiling_db) * (1.0 - 1e-6)
    if x.size == 0:
        return x
    peak = np.abs(x).max(axis=0)
    over = np.flatnonzero(peak > c)
    if over.size == 0:
        return x
    la = max(1, int(round(lookahead * sr)))
    rel = max(la, int(round(release * sr)))
    rel += (rel - la) % 2  # window [n - rel, n + la] centred on an integer origin
    pad = rel + 2 * la + 1  # beyond this distance from an over-ceiling sample the gain is exactly 1
    breaks = np.flatnonzero(np.diff(over) > 2 * pad)
    w = np.hanning(la + 2)[1:-1]
    w /= w.sum()
    for lo_i, hi_i in zip(np.r_[0, breaks + 1], np.r_[breaks, over.size - 1], strict=True):
        a, b = max(0, int(over[lo_i]) - pad), min(x.shape[1], int(over[hi_i]) + pad + 1)
        need = np.minimum(1.0, c / np.maximum(peak[a:b].astype(np.float64), 1e-12))
        gmin = minimum_filter1d(need, size=la + rel + 1, origin=(rel - la) // 2, mode="nearest")
        # causal weighted average over gmin[n - la + 1 .. n]: each window [m - rel, m + la] contains n
        padded = np.concatenate([np.full(la - 1, gmin[0]), gmin])
        g = np.minimum(np.convolve(padded, w, mode="valid"), need)  # the minimum guards against rounding
        x[:, a:b] *= g.astype(np.float32)
    return x


def render_mix(
    events: Sequence[Event],
    sounds: Sequence[Sound],
    *,
    sr: int,
    n_samples: int,
    channels: int | None = None,
    width: int = 0,
    original: np.ndarray | None = None,
    params: DubParams = DubParams(),
) -> tuple[np.ndarray, list[Placement]]:
    """The dubbed soundtrack ``(channels, n_samples)`` float32 and the placements that made it.

    *original* is the original soundtrack already on the video's clock at
    *sr* (``(ch, n)``, any length; cut or zero-padded here); ignored under
    ``replace``. *channels* defaults to 2 when panning or when the original
    or a sound is stereo, else 1. *width* is the video width that event x
    positions are measured in (for ``pan``). Sounds that would run past the
    end are cut there.
    """
    if not sounds:
        raise ParameterError("no sounds to place")
    for s in sounds:
        if s.sr != sr:
            raise ParameterError(f"sound {s.name!r} is at {s.sr} Hz, the mix at {sr} Hz")
    use_orig = original is not None and params.mix != "replace"
    if use_orig:
        original = np.atleast_2d(np.asarray(original, dtype=np.float32))
    if channels is None:
        want = [2 if params.pan else 1, *(min(2, s.channels) for s in sounds)]
        if use_orig:
            want.append(original.shape[0] if original.shape[0] <= 2 else 1)
        channels = max(want)
    if channels not in (1, 2):
        raise ParameterError(f"channels must be 1 or 2, got {channels}")
    n = int(n_samples)
    placements = plan(events, len(sounds), sr=sr, width=width, params=params)
    fx = np.zeros((channels, n), np.float32)
    spans: list[tuple[float, float]] = []
    for pl in placements:
        snd = sounds[pl.sound]
        y = repitch(snd.samples, pl.pitch) * np.float32(pl.gain)
        y = _to_channels(y, channels)
        if pl.pan is not None and channels == 2:
            gl, gr = pan_gains(pl.pan)
            y = y * np.array([[gl], [gr]], np.float32)
        spans.append((pl.start / sr, pl.start / sr + max(0.02, effective_length(y, sr))))
        a, b = max(0, pl.start), min(n, pl.start + y.shape[1])
        if a < b:
            fx[:, a:b] += y[:, a - pl.start : b - pl.start]
    if use_orig:
        orig = _to_channels(original, channels)
        m = min(n, orig.shape[1])
        if params.mix == "keep":
            fx[:, :m] += orig[:, :m] * np.float32(db(params.original_db))
        else:
            env = duck_envelope(n, sr, spans, depth_db=params.duck_db, attack=params.duck_attack,
                                release=params.duck_release)
            fx[:, :m] += orig[:, :m] * env[:m]
    return limit(fx, sr, ceiling_db=params.ceiling_db), placements


def _to_channels(y: np.ndarray, channels: int) -> np.ndarray:
    """*y* ``(c, n)`` as *channels* (1 or 2) channels.

    Mono is copied to both sides; stereo to mono is averaged; surround
    (more than 2) is averaged to mono, then copied to both sides if needed,
    so no channel (a film's centre dialogue) is lost.
    """
    if y.shape[0] == channels:
        return y
    if channels == 1 or y.shape[0] > 2:
        y = y.mean(axis=0, keepdims=True)
    return y if y.shape[0] == channels else np.repeat(y, channels, axis=0)
