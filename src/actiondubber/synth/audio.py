"""Impact sounds for the synthetic clips, synthesised and mixed in a stream.

Each collision gets a short "knock": the package's modal synthesis
(:func:`actiondubber.dubbing.sounds.modal_impact`: a few exponentially decaying modes of a struck
object plus a brief high-passed noise burst for the attack), tuned per body kind. It starts
exactly at the collision's sample, ``round(t * sr)``, and its peak amplitude grows with the
impact speed. Everything else is a very low
noise floor; silent motions (pendulum, wheel, pan) add nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actiondubber.dubbing.sounds import modal_impact

#: Seconds of sound per impact.
KNOCK_SECONDS = 0.35

_RATIOS = {"ball": (1.0, 2.32, 4.25), "disc": (1.0, 2.76, 5.40), "box": (1.0, 1.59, 2.14, 2.65)}
_TAU = {"ball": 0.035, "disc": 0.09, "box": 0.05}


@dataclass(frozen=True)
class Knock:
    """One impact sound: start sample, peak amplitude, timbre, stereo position (0 left .. 1 right) and seed."""

    start: int
    amp: float
    f0: float
    kind: str
    pan: float
    seed: int


def knock_wave(k: Knock, sr: int) -> np.ndarray:
    """The mono waveform (float32, peak ``k.amp``) of one impact: :func:`actiondubber.dubbing.sounds.modal_impact`
    with the body kind's mode ratios and decay, at the impact's pitch."""
    rng = np.random.default_rng(k.seed)
    ratios = _RATIOS.get(k.kind, _RATIOS["ball"])
    tau = _TAU.get(k.kind, 0.05)
    wave = modal_impact(sr, rng, f0=k.f0, ratios=ratios, amps=tuple(1.0 / (1 + i) for i in range(len(ratios))),
                        taus=tuple(tau / (1 + 0.5 * i) for i in range(len(ratios))), seconds=KNOCK_SECONDS,
                        tick=0.5, tick_band=(1000.0, None))
    wave *= k.amp / max(np.abs(wave).max(), 1e-9)
    return wave.astype(np.float32)


class KnockMixer:
    """Render the soundtrack chunk by chunk: knocks (sorted by start) over a faint noise floor.

    A :class:`actiondubber.video.mux.Soundtrack` of *n_samples* samples, so the muxer encodes it as
    the frames go (memory stays flat for any length).
    """

    def __init__(self, knocks: list[Knock], sr: int, channels: int, noise_level: float, rng: np.random.Generator,
                 n_samples: int = 0):
        self.knocks = sorted(knocks, key=lambda k: k.start)
        self.sr, self.channels, self.noise, self.rng = sr, channels, noise_level, rng
        self.n_samples = int(n_samples)
        self._next = 0
        self._active: list[tuple[Knock, np.ndarray]] = []

    def chunk(self, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)`` as float32 ``(channels, n)``; call with increasing *start*."""
        out = np.zeros((self.channels, n), np.float32)
        if self.noise > 0:
            out += (self.rng.standard_normal(n) * self.noise).astype(np.float32)
        end = start + n
        while self._next < len(self.knocks) and self.knocks[self._next].start < end:
            k = self.knocks[self._next]
            self._active.append((k, knock_wave(k, self.sr)))
            self._next += 1
        keep = []
        for k, wave in self._active:
            a, b = max(start, k.start), min(end, k.start + len(wave))
            if a < b:
                seg = wave[a - k.start : b - k.start]
                if self.channels == 1:
                    out[0, a - start : b - start] += seg
                else:
                    gains = (math.cos(k.pan * math.pi / 2), math.sin(k.pan * math.pi / 2))
                    for c in range(self.channels):
                        out[c, a - start : b - start] += seg * gains[min(c, 1)] * math.sqrt(2)
            if k.start + len(wave) > end:
                keep.append((k, wave))
        self._active = keep
        np.clip(out, -1.0, 1.0, out=out)
        return out


def music_wave(seconds: float, sr: int, *, seed: int = 0) -> np.ndarray:
    """Synthetic music (mono float32, peak 0.5): harmonic notes on a steady eighth-note grid over a held
    chord. A soundtrack whose onsets are not caused by the picture, for testing what must refuse it."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (110.0, 165.0, 220.0))
    for k in range(int(seconds / 0.25)):
        f = 220.0 * 2 ** (rng.integers(0, 12) / 12)
        a = int(k * 0.25 * sr)
        tt = t[: min(n, a + sr) - a]
        env = np.minimum(1.0, tt / 0.01) * np.exp(-tt / 0.4)
        y[a : a + tt.size] += sum(0.1 / h * env * np.sin(2 * np.pi * f * h * tt) for h in range(1, 6))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


#: Formants (Hz) of five vowels, adult male averages (F1, F2, F3).
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


def _resonator(x: np.ndarray, f: np.ndarray, bw: float, sr: int) -> np.ndarray:
    """Two-pole resonance at the (per-sample) frequency *f* with bandwidth *bw* (Klatt's formant filter)."""
    from scipy.signal import lfilter

    r = math.exp(-math.pi * bw / sr)
    out = np.empty_like(x)
    z = np.zeros(2)
    blk = 256  # the formant moves slowly: constant coefficients per block
    for s in range(0, x.size, blk):
        c = 2 * r * math.cos(2 * math.pi * float(f[s]) / sr)
        a = [1.0, -c, r * r]
        out[s : s + blk], z = lfilter([1.0 - c + r * r], a, x[s : s + blk], zi=z)
    return out


def speech_like_wave(seconds: float, sr: int, *, seed: int = 0, pause: float = 0.15) -> np.ndarray:
    """Formant-synthesised babble (mono float32, peak 0.5): a stand-in for speech where no recorded speech exists.

    A source-filter model: a glottal pulse train (f0 90–180 Hz with jitter and a falling
    contour per phrase) through three formant resonators gliding between random vowels at a
    syllable rate of ~4–6 Hz, with a syllable amplitude envelope, noise fricatives between some
    syllables, and a pause about every 2 s (*pause*: the share of time left silent). It has the
    rhythm and spectrum of speech but no words; what a speech detector calls it is measured,
    not assumed (``benchmarks/bench_sync.py``).
    """
    from scipy.signal import butter, lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    if n == 0:
        return np.zeros(0, np.float32)
    # syllables: (start, length) on a jittered ~5 Hz grid, phrases of ~2 s separated by pauses
    f0 = np.zeros(n)
    amp = np.zeros(n)
    f_tr = np.zeros((3, n))
    noise_env = np.zeros(n)
    t = 0.0
    phrase_end = rng.uniform(1.5, 2.5)
    base = rng.uniform(95.0, 150.0)
    prev = _VOWELS[rng.integers(0, 5)]
    while t < seconds:
        if t >= phrase_end:  # a pause, then a new phrase
            t += pause * 2.0 / (1 - pause) * rng.uniform(0.6, 1.4)
            phrase_end = t + rng.uniform(1.5, 2.5)
            base = rng.uniform(95.0, 150.0)
            continue
        dur = rng.uniform(0.16, 0.26)
        a, b = int(t * sr), min(n, int((t + dur) * sr))
        if b <= a:
            break
        m = b - a
        v = _VOWELS[rng.integers(0, 5)]
        ramp = np.linspace(0, 1, m)
        glide = np.clip(ramp / 0.3, 0, 1)
        for k in range(3):
            f_tr[k, a:b] = prev[k] + (v[k] - prev[k]) * glide
        prev = v
        phase = (t - (phrase_end - 2.0)) / 2.0
        f0[a:b] = base * (1.15 - 0.25 * np.clip(phase, 0, 1)) * (1 + 0.08 * np.sin(np.pi * ramp))
        amp[a:b] = np.sin(np.pi * ramp) ** 0.6 * rng.uniform(0.6, 1.0)
        if rng.random() < 0.35:  # a fricative leading into the syllable
            fl = min(m, int(rng.uniform(0.05, 0.09) * sr))
            noise_env[a : a + fl] = np.hanning(2 * fl)[:fl] * 0.5
            amp[a : a + fl] *= np.linspace(0, 1, fl)
        t += dur + rng.uniform(0.0, 0.04)
    # glottal source: one pulse per period (with jitter), shaped by a short decay
    src = np.zeros(n)
    voiced = f0 > 0
    inc = np.where(voiced, f0 / sr, 0.0) * (1 + 0.01 * rng.standard_normal(n))
    cyc = np.cumsum(inc)
    pulses = np.flatnonzero(np.diff(np.floor(cyc), prepend=0.0) > 0)
    src[pulses] = 1.0
    # glottal spectrum falling ~12 dB/octave (two poles near 0 Hz), then lip radiation (+6 dB/octave)
    src = lfilter([1.0], [1.0, -2 * 0.97, 0.97**2], src)
    src = np.diff(src, prepend=0.0) * amp
    src /= np.abs(src).max() + 1e-12
    y = src
    tracks = [np.maximum(f_tr[0], 200.0), np.maximum(f_tr[1], 600.0), np.maximum(f_tr[2], 1800.0),
              np.full(n, 3300.0), np.full(n, 3750.0)]
    for f, bw in zip(tracks, (60.0, 90.0, 150.0, 250.0, 300.0), strict=True):
        if f[0] < sr / 2 - bw:
            y = _resonator(y, f, bw, sr)  # a cascade, as in Klatt's synthesiser: natural formant levels
    if sr > 8000:
        bh, ah = butter(2, min(0.99, 3000.0 / (sr / 2)), btype="high")
        y += lfilter(bh, ah, rng.standard_normal(n)) * noise_env * 0.3 * np.abs(y).max()
    y += 1e-4 * rng.standard_normal(n)
    return (0.5 * y / (np.abs(y).max() + 1e-12)).astype(np.float32)
