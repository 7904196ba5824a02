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
