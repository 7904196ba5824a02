"""Peak picking on a per-frame strength curve: the video member of the package's peak pickers.

A frame is an event when it is the largest value within ``±(min_gap - 1)`` frames,
rises above its surroundings (a running *median* over ``±window`` frames) by
``delta`` (relative to the curve's 99th percentile), and is above an absolute
``floor`` (so a clip with no real motion change yields nothing). Closer peaks
are resolved in favour of the *stronger* one. The windowed maximum and the spacing
are :mod:`actiondubber.peaks`, shared with the audio onset picker
(:func:`actiondubber.audio.onsets.peak_pick`: moving mean, first-come spacing).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from actiondubber.peaks import keep_apart, local_maxima


def sensitivity_to_delta(sensitivity: float) -> float:
    """Map the user's ``--sensitivity`` in [0, 1] to the picker's ``delta``.

    Linear: 0.5 (default) gives delta = 0.25, the value the benchmarks chose;
    1 accepts any local maximum above the floor; 0 needs a rise of 0.5.
    """
    return 0.5 * (1.0 - float(np.clip(sensitivity, 0.0, 1.0)))


def pick_peaks(
    curve: np.ndarray,
    *,
    delta: float = 0.1,
    min_gap: int = 3,
    window: int = 7,
    floor: float = 0.0,
) -> np.ndarray:
    """Indices of the peaks of *curve* (sorted); see the module docstring.

    ``min_gap``: minimum distance in frames between two events (≥ 1).
    ``window``: half-width in frames of the running median baseline.
    ``floor``: absolute minimum value, in the curve's own units.
    """
    x = np.asarray(curve, dtype=np.float64)
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    x = np.nan_to_num(x, nan=0.0)
    scale = float(np.percentile(x, 99))
    if scale <= 0:
        return np.zeros(0, dtype=np.int64)
    xn = x / scale
    gap = max(1, int(min_gap))
    base = median_filter(xn, size=2 * int(window) + 1, mode="nearest")
    cand = np.flatnonzero(local_maxima(xn, gap - 1, gap - 1) & (xn >= base + delta) & (x >= floor) & (x > 0))
    return keep_apart(cand, gap, strength=xn)
