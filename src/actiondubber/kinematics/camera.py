"""Camera motion that survives hand-held shake: a global fit plus a smooth local background field.

A single affine (or homography) model leaves a residual wherever the camera's motion is not one
rigid map of the picture: a rolling shutter under shake (each row is exposed at another instant,
so the picture wobbles row by row), the parallax of a close floor under a moving camera, lens
distortion. Those residuals change from frame to frame and read as decelerations everywhere.

``compensate_local`` removes them: after the robust global fit (:mod:`.globalmotion`), the
residual flow is sampled on a sparse grid; samples unlike their neighbourhood's median (the
movers) are left out, and the rest are spread into a smooth field by normalised convolution
(a Gaussian of ``sigma`` grid cells), which is subtracted. A moving object keeps its own motion,
measured relative to the background around it, not to one model of the whole frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import median_filter

from actiondubber.kinematics.globalmotion import global_flow

#: Grid step (pixels) of the background samples.
STEP = 8
#: Width of the smoothing Gaussian, in grid cells.
SIGMA = 2.0
#: A grid sample is a mover (left out) when it differs from the median of its 5 x 5 grid neighbourhood
#: by more than this many times the median such difference, and by at least ``MIN_OUTLIER`` px/frame.
OUTLIER_FACTOR = 3.0
MIN_OUTLIER = 0.5


def background_field(residual: np.ndarray, *, step: int = STEP, sigma: float = SIGMA) -> np.ndarray:
    """The smooth background part of *residual* (H x W x 2, float32), movers left out."""
    h, w = residual.shape[:2]
    ys = np.arange(step // 2, h, step)
    xs = np.arange(step // 2, w, step)
    if ys.size < 2 or xs.size < 2:
        return np.zeros_like(residual)
    s = residual[np.ix_(ys, xs)].astype(np.float32)  # gh x gw x 2
    # a mover stands out from its neighbourhood's median (the background may itself vary smoothly)
    med = np.stack([median_filter(s[..., c], size=5, mode="nearest") for c in (0, 1)], axis=-1)
    dev = np.hypot(s[..., 0] - med[..., 0], s[..., 1] - med[..., 1])
    thr = max(MIN_OUTLIER, OUTLIER_FACTOR * float(np.median(dev)))
    wgt = (dev <= thr).astype(np.float32)
    num_x = cv2.GaussianBlur(s[..., 0] * wgt, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    num_y = cv2.GaussianBlur(s[..., 1] * wgt, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(wgt, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = np.maximum(den, 1e-3)
    grid = np.stack([num_x / den, num_y / den], axis=-1) * (den[..., None] > 0.05)
    # grid cell centres sit at step/2 + k*step; resize maps them to the full picture
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)


def compensate_local(flow: np.ndarray, model: str = "affine") -> np.ndarray:
    """*flow* minus the global *model* fit and the smooth background residual (see module docs)."""
    g = global_flow(flow, model)
    r = flow if g is None else flow - g
    return r - background_field(r)
