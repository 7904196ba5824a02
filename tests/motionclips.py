"""Tiny generated clips with known motion, for the counting and per-object tests (no real footage)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from actiondubber.video.writer import write_video

SIZE = (160, 120)
FPS = 30


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w), dtype=np.uint8), (0, 0), 1.5)
    return cv2.normalize(bg, None, 40, 200, cv2.NORM_MINMAX)


def drops(path: Path, n_drops: int = 3, xs: tuple[int, ...] = (50,), delays: tuple[int, ...] = (0,)) -> list[int]:
    """Textured squares that fall (constant acceleration), stop on a floor, rest, rise slowly, repeat.

    One square per entry of *xs*, each *delays* frames late. Returns the landing frames (sorted).
    """
    w, h = SIZE
    rng = np.random.default_rng(0)
    bg = _background(rng, w, h)
    tex = rng.integers(150, 255, (14, 14)).astype(np.uint8)
    floor, top, fall, rise = 95, 45, 14, 10
    cycle = [top + (floor - top) * (k / fall) ** 2 for k in range(fall + 1)] + [floor] * 6
    cycle += [floor + (top - floor) * 0.5 * (1 - np.cos(np.pi * k / rise)) for k in range(1, rise + 1)] + [top] * 4
    n = 12 + len(cycle) * n_drops
    labels, frames = [], []
    for i in range(n):
        img = bg.copy()
        for x, d in zip(xs, delays, strict=True):
            j = i - 6 - d
            inside = 0 <= j < len(cycle) * n_drops
            y = cycle[j % len(cycle)] if inside else top
            if inside and j % len(cycle) == fall:
                labels.append(i)
            yi = int(round(y)) - 14
            img[yi : yi + 14, x : x + 14] = tex
        frames.append(img)
    write_video(path, frames, FPS, input_format="gray")
    return sorted(labels)


def swings(path: Path, periods: int = 4, period_s: float = 0.8) -> int:
    """A textured square swinging left-right sinusoidally for *periods* full periods; returns *periods*."""
    w, h = SIZE
    rng = np.random.default_rng(1)
    bg = _background(rng, w, h)
    tex = rng.integers(150, 255, (16, 16)).astype(np.uint8)
    n = int(round(periods * period_s * FPS)) + 1
    frames = []
    for i in range(n):
        x = 72 + 40 * np.sin(2 * np.pi * i / (period_s * FPS))
        img = bg.copy()
        xi = int(round(x)) - 8
        img[52:68, xi : xi + 16] = tex
        frames.append(img)
    write_video(path, frames, FPS, input_format="gray")
    return periods
