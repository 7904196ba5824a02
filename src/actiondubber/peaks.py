"""The parts every peak picker of the package shares: windowed local maxima and keeping peaks apart.

Two pickers are built from them, one per kind of curve, named where they live and differing only in
what the documents say:

* :func:`actiondubber.detection.peaks.pick_peaks` (per-frame strength of the video detectors): a peak
  must rise above a running *median* by a margin relative to the curve's 99th percentile, and of two
  peaks closer than the gap the *stronger* stays;
* :func:`actiondubber.audio.onsets.peak_pick` (audio onset envelopes, librosa's rule): a peak must
  rise above a moving *mean* by an absolute margin, and after a peak the next may come only after a
  wait (the *earlier* stays).

This module sits below both (numpy only), so video and audio code import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def local_maxima(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Mask of the samples that equal the maximum of ``x[n - before : n + after + 1]`` (windows clipped at the ends)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    before, after = max(0, int(before)), max(0, int(after))
    padded = np.concatenate([np.full(before, -np.inf), x, np.full(after, -np.inf)])
    win = np.lib.stride_tricks.sliding_window_view(padded, before + after + 1)[:n]
    return x >= win.max(axis=1)


def keep_apart(candidates: Sequence[int] | np.ndarray, gap: int, strength: np.ndarray | None = None) -> np.ndarray:
    """The *candidates* (sorted indices) left when no two kept ones are closer than *gap* samples.

    With *strength*, the strongest candidates are kept first (ties: the earlier); without, the earliest
    (each kept candidate blocks the next ``gap - 1`` samples). Returns sorted int64 indices.
    """
    cand = np.asarray(candidates, dtype=np.int64)
    gap = max(1, int(gap))
    keep: list[int] = []
    if strength is None:
        last = None
        for c in cand:
            if last is None or c - last >= gap:
                keep.append(int(c))
                last = int(c)
    else:
        for i in cand[np.argsort(-np.asarray(strength)[cand], kind="stable")]:
            if all(abs(int(i) - j) >= gap for j in keep):
                keep.append(int(i))
        keep.sort()
    return np.asarray(keep, dtype=np.int64)
