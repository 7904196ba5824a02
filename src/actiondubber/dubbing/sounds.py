"""Built-in impact sounds, synthesised on the fly (no sound files ship with the package).

Each sound is a small physical caricature: *modal synthesis* (a struck
object rings at a few inharmonic frequencies, each an exponentially decaying
sinusoid) plus *filtered noise bursts* (the contact itself, a scrape, a
clap's air pulse). Every sound starts at its first sample with a sharp attack,
so placing it at sample ``round(t * sr)`` puts its onset at time ``t``.
Output is deterministic for a given (name, sample rate, seed): the seed only
jitters mode frequencies, levels and the noise, so different seeds give
natural-sounding variants of the same sound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from actiondubber.errors import ParameterError

#: Names of the built-in sounds, in the order the CLI lists them.
BUILTIN_SOUNDS: tuple[str, ...] = ("knock", "clap", "thud", "click", "metal", "footstep")
#: Other accepted spellings.
ALIASES = {"metallic": "metal", "metal-hit": "metal", "metallic-hit": "metal", "step": "footstep"}
#: Fade at the very end of each synthesised sound (s), so truncation never clicks.
_FADE_OUT = 0.01


@dataclass(frozen=True)
class Sound:
    """A sound ready to place: name, float32 samples ``(channels, n)`` peaking at 1.0, sample rate."""

    name: str
    samples: np.ndarray
    sr: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sr


def canonical_name(name: str) -> str | None:
    """The built-in sound *name* refers to (case-insensitive, aliases allowed), or ``None``."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = ALIASES.get(key, key)
    return key if key in BUILTIN_SOUNDS else None


# --------------------------------------------------------------------------- building blocks


def _t(seconds: float, sr: int) -> np.ndarray:
    return np.arange(int(round(seconds * sr)), dtype=np.float64) / sr


def _modes(t: np.ndarray, freqs, amps, taus, sr: int, rng: np.random.Generator, detune: float = 0.01) -> np.ndarray:
    """Sum of decaying sinusoids; each frequency jittered by ~*detune* (relative), modes above Nyquist dropped."""
    out = np.zeros_like(t)
    for f, a, tau in zip(freqs, amps, taus, strict=True):
        f = f * (1.0 + rng.normal(0.0, detune))
        if f >= 0.45 * sr:
            continue
        a = a * rng.uniform(0.85, 1.15)
        out += a * np.sin(2 * math.pi * f * t + rng.uniform(0.2, 1.2)) * np.exp(-t / tau)
    return out


def _band(x: np.ndarray, sr: int, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    """Butterworth filter: band-pass (lo, hi), high-pass (lo only) or low-pass (hi only)."""
    from scipy.signal import butter, sosfilt  # scipy.signal costs ~1 s to import: only when a sound is made

    nyq = 0.5 * sr
    hi = None if hi is None or hi >= 0.95 * nyq else hi
    if lo is not None and hi is not None:
        sos = butter(order, [lo / nyq, hi / nyq], btype="bandpass", output="sos")
    elif lo is not None:
        sos = butter(order, lo / nyq, btype="highpass", output="sos")
    elif hi is not None:
        sos = butter(order, hi / nyq, btype="lowpass", output="sos")
    else:
        return x
    return sosfilt(sos, x)


def _burst(n: int, sr: int, rng: np.random.Generator, tau: float, lo: float | None, hi: float | None,
           delay: float = 0.0) -> np.ndarray:
    """A filtered white-noise burst with an exponential envelope (time constant *tau*), starting at *delay* s."""
    out = np.zeros(n)
    d = int(round(delay * sr))
    if d >= n:
        return out
    m = n - d
    t = np.arange(m) / sr
    noise = _band(rng.standard_normal(m), sr, lo, hi)
    seg = noise * np.exp(-t / tau)
    out[d:] = seg / max(np.abs(seg[: max(1, int(0.01 * sr))]).max(), 1e-12)
    return out


# --------------------------------------------------------------------------- the sounds


def modal_impact(
    sr: int,
    rng: np.random.Generator,
    *,
    f0: float,
    ratios: tuple[float, ...],
    amps: tuple[float, ...],
    taus: tuple[float, ...],
    seconds: float = 0.35,
    tick: float = 0.6,
    tick_tau: float = 0.004,
    tick_band: tuple[float | None, float | None] = (800.0, 5000.0),
) -> np.ndarray:
    """A struck object: modes at ``ratios x f0`` (levels *amps*, decay times *taus*) plus a contact tick.

    The modal synthesis of the package's knocks, used by the built-in ``knock`` and by the
    synthetic clips' impact sounds (:mod:`actiondubber.synth.audio`). The tick is a band-passed
    noise burst (time constant *tick_tau*, band *tick_band*; ``None`` leaves an edge open) at
    *tick* times the body's peak. Returns float64 samples (not normalised); *rng* jitters the
    mode frequencies, levels and phases and draws the noise.
    """
    t = _t(seconds, sr)
    body = _modes(t, [r * f0 for r in ratios], list(amps), list(taus), sr, rng)
    burst = _burst(len(t), sr, rng, tick_tau, *tick_band)
    return body + tick * np.abs(body).max() * burst


def _knock(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Knuckle on wood: a few low, fast-decaying plate modes and a bright contact tick."""
    f0 = 190.0 * rng.uniform(0.93, 1.07)
    return modal_impact(sr, rng, f0=f0, ratios=(1.0, 2.27, 3.92, 5.61), amps=(1.0, 0.7, 0.45, 0.3),
                        taus=(0.06, 0.04, 0.025, 0.015))


def _clap(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Hand clap: a few band-passed air pulses ~10 ms apart, then a short noisy tail."""
    n = int(0.25 * sr)
    out = _burst(n, sr, rng, 0.003, 900.0, 2600.0)
    delay = 0.0
    for level in (rng.uniform(0.6, 0.85), rng.uniform(0.55, 0.8), rng.uniform(0.4, 0.6)):
        delay += rng.uniform(0.007, 0.012)
        out += level * _burst(n, sr, rng, 0.003, 900.0, 2600.0, delay)
    out += 0.25 * _burst(n, sr, rng, 0.04, 700.0, 3500.0, delay)
    return out


def _thud(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Something heavy and soft hitting the floor: a low mode whose pitch sinks, with low-passed noise."""
    t = _t(0.45, sr)
    f_hi, f_lo = 95.0 * rng.uniform(0.9, 1.1), 62.0 * rng.uniform(0.9, 1.1)
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / 0.04)
    phase = 2 * math.pi * np.cumsum(freq) / sr
    body = np.sin(phase + rng.uniform(0.3, 1.0)) * np.exp(-t / 0.09)
    body += _modes(t, [2.1 * f_lo, 3.3 * f_lo], [0.35, 0.15], [0.05, 0.03], sr, rng)
    dust = _burst(len(t), sr, rng, 0.015, None, 600.0)
    return body + 0.5 * np.abs(body).max() * dust


def _click(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A small hard click (a switch, a pen): very short high modes and a high-passed tick."""
    t = _t(0.04, sr)
    f0 = 2800.0 * rng.uniform(0.9, 1.1)
    body = _modes(t, [f0, 1.54 * f0, 2.18 * f0], [1.0, 0.6, 0.4], [0.003, 0.002, 0.0015], sr, rng)
    tick = _burst(len(t), sr, rng, 0.001, 2000.0, None)
    return body + 0.8 * np.abs(body).max() * tick


def _metal(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Metal bar struck: free-bar inharmonic modes, long decays, each a slightly detuned pair (shimmer)."""
    t = _t(1.6, sr)
    f0 = 440.0 * rng.uniform(0.9, 1.1)
    ratios, amps, taus = [1.0, 2.756, 5.404, 8.933], [1.0, 0.8, 0.5, 0.3], [1.2, 0.8, 0.5, 0.3]
    body = np.zeros_like(t)
    for r, a, tau in zip(ratios, amps, taus, strict=True):
        split = rng.uniform(0.001, 0.003)
        body += _modes(t, [r * f0 * (1 - split), r * f0 * (1 + split)], [a, 0.7 * a], [tau, 0.8 * tau], sr, rng,
                       detune=0.002)
    ping = _burst(len(t), sr, rng, 0.002, 3000.0, None)
    return body + 0.5 * np.abs(body).max() * ping


def _footstep(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A step on a hard floor: heel impact (low thump + low-passed noise), then a softer sole scuff."""
    t = _t(0.35, sr)
    heel = _modes(t, [110.0 * rng.uniform(0.9, 1.1), 240.0 * rng.uniform(0.9, 1.1)], [1.0, 0.4], [0.03, 0.015],
                  sr, rng)
    heel += 0.7 * _burst(len(t), sr, rng, 0.012, None, 900.0)
    scuff = _burst(len(t), sr, rng, 0.025, 400.0, 4000.0, delay=rng.uniform(0.045, 0.07))
    return heel + 0.3 * scuff


_MAKERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "knock": _knock,
    "clap": _clap,
    "thud": _thud,
    "click": _click,
    "metal": _metal,
    "footstep": _footstep,
}


def synthesize(name: str, sr: int = 48000, *, seed: int = 0) -> Sound:
    """The built-in sound *name* (see :data:`BUILTIN_SOUNDS`) at *sr* Hz, mono, peak 1.0.

    Deterministic for (name, sr, seed). Raises :class:`~actiondubber.errors.ParameterError` for an unknown name.
    """
    key = canonical_name(name)
    if key is None:
        raise ParameterError(f"unknown built-in sound {name!r}; choose from {', '.join(BUILTIN_SOUNDS)}")
    if sr < 8000:
        raise ParameterError(f"sample rate must be at least 8000 Hz, got {sr}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, BUILTIN_SOUNDS.index(key), 0x50DB])
    y = _MAKERS[key](int(sr), rng)
    fade = min(len(y), int(_FADE_OUT * sr))
    if fade:
        y[-fade:] *= np.linspace(1.0, 0.0, fade)
    y /= max(np.abs(y).max(), 1e-12)
    return Sound(key, y.astype(np.float32)[None, :], int(sr))
