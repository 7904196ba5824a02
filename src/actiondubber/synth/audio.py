"""Impact sounds for the synthetic clips, synthesised and mixed in a stream.

Each collision gets a short "knock": a few exponentially decaying modes (a
modal model of a struck object) plus a brief high-passed noise burst for the
attack. It starts exactly at the collision's sample, ``round(t * sr)``, and its
peak amplitude grows with the impact speed. Everything else is a very low
noise floor; silent motions (pendulum, wheel, pan) add nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
    """The mono waveform (float32, peak ``k.amp``) of one impact."""
    rng = np.random.default_rng(k.seed)
    n = int(KNOCK_SECONDS * sr)
    t = np.arange(n, dtype=np.float64) / sr
    tau = _TAU.get(k.kind, 0.05)
    wave = np.zeros(n)
    for i, ratio in enumerate(_RATIOS.get(k.kind, _RATIOS["ball"])):
        f = k.f0 * ratio * (1.0 + rng.normal(0, 0.01))
        if f >= sr / 2:
            continue
        a = rng.uniform(0.6, 1.1) / (1 + i)
        wave += a * np.sin(2 * math.pi * f * t + rng.uniform(0, 0.3)) * np.exp(-t / (tau / (1 + 0.5 * i)))
    burst = rng.standard_normal(n) * np.exp(-t / 0.004)
    burst = np.diff(burst, prepend=0.0)
    wave += 0.5 * burst / max(np.abs(burst).max(), 1e-9) * np.abs(wave).max()
    wave *= k.amp / max(np.abs(wave).max(), 1e-9)
    return wave.astype(np.float32)


class KnockMixer:
    """Render the soundtrack chunk by chunk: knocks (sorted by start) over a faint noise floor."""

    def __init__(self, knocks: list[Knock], sr: int, channels: int, noise_level: float, rng: np.random.Generator):
        self.knocks = sorted(knocks, key=lambda k: k.start)
        self.sr, self.channels, self.noise, self.rng = sr, channels, noise_level, rng
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
