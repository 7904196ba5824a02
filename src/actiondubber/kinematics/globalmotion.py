"""Global (camera) motion estimation and removal from a flow field.

A camera pan, zoom or shake moves every background pixel; left in, its
changes of speed would look like inflections everywhere. We fit a global
model to the flow on a sparse grid, robustly (moving objects are outliers),
and subtract the model's flow so what remains is object motion.
"""

from __future__ import annotations

import cv2
import numpy as np

MODELS = ("none", "median", "affine", "homography", "quadratic", "local")

_grid_cache: dict[tuple[int, int, int], np.ndarray] = {}
_xy_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached pixel-coordinate grids (xs, ys), float32."""
    key = (h, w)
    if key not in _xy_cache:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        _xy_cache[key] = (xs, ys)
    return _xy_cache[key]


def _grid(h: int, w: int, step: int) -> np.ndarray:
    key = (h, w, step)
    if key not in _grid_cache:
        ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
        _grid_cache[key] = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    return _grid_cache[key]


def global_flow(flow: np.ndarray, model: str = "affine", *, step: int = 8) -> np.ndarray | None:
    """The camera-induced part of *flow* under *model* (HxWx2), or None for ``none``.

    ``median``: one translation (the median flow). ``affine``: a 6-parameter
    affine map fitted with RANSAC (handles pan, zoom, roll). ``homography``:
    an 8-parameter projective map (RANSAC), for rotating cameras over far scenes. ``quadratic``: each
    flow component a second-degree polynomial of (x, y) (12 parameters), fitted by least squares on
    the affine fit's inliers and refitted once on its own: a camera rotating during a rolling-shutter
    readout moves each row by a different affine map, which a global affine fit leaves at the corners;
    a smooth global surface still cannot take in a compact mover's motion (unlike ``local``).
    Falls back to the median when the robust fit fails.
    """
    if model == "none":
        return None
    h, w = flow.shape[:2]
    pts = _grid(h, w, step)
    xi = pts[:, 0].astype(np.intp)
    yi = pts[:, 1].astype(np.intp)
    sampled = flow[yi, xi]
    if model == "median":
        med = np.median(sampled, axis=0)  # on the sparse grid: same answer, 36x less work
        return np.broadcast_to(med.astype(np.float32), flow.shape)
    dst = pts + sampled
    if model in ("affine", "quadratic"):
        m, inl = cv2.estimateAffine2D(pts, dst, method=cv2.RANSAC, ransacReprojThreshold=0.5, maxIters=200)
        if m is None:
            return global_flow(flow, "median")
        if model == "quadratic":
            q = _quadratic(h, w, pts, sampled, inl.ravel().astype(bool))
            if q is not None:
                return q.astype(flow.dtype, copy=False)
        xs, ys = pixel_grid(h, w)
        out = np.empty_like(flow)
        out[..., 0] = (m[0, 0] - 1.0) * xs + m[0, 1] * ys + m[0, 2]
        out[..., 1] = m[1, 0] * xs + (m[1, 1] - 1.0) * ys + m[1, 2]
        return out
    if model == "homography":
        hm, _ = cv2.findHomography(pts, dst, cv2.RANSAC, 0.5)
        if hm is None:
            return global_flow(flow, "median")
        xs, ys = pixel_grid(h, w)
        den = hm[2, 0] * xs + hm[2, 1] * ys + hm[2, 2]
        gx = (hm[0, 0] * xs + hm[0, 1] * ys + hm[0, 2]) / den - xs
        gy = (hm[1, 0] * xs + hm[1, 1] * ys + hm[1, 2]) / den - ys
        return np.stack([gx, gy], axis=-1).astype(np.float32)
    raise ValueError(f"unknown global-motion model {model!r}; choose from {', '.join(MODELS)}")


def _design(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    """The six monomials of a quadratic in coordinates normalised to [-1, 1] (well conditioned)."""
    u = (xs - 0.5 * w) / (0.5 * w)
    v = (ys - 0.5 * h) / (0.5 * h)
    return [np.ones_like(u), u, v, u * u, u * v, v * v]


def _quadratic(h: int, w: int, pts: np.ndarray, sampled: np.ndarray, keep: np.ndarray) -> np.ndarray | None:
    """The quadratic camera flow (HxWx2) fitted on the affine fit's inliers *keep* and refitted once on its
    own inliers, or None when too few points are left (the caller keeps the affine fit)."""
    a = np.stack(_design(pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64), w, h), axis=1)
    coef = None
    for _ in range(2):
        if keep.sum() < 12:
            break
        coef, *_ = np.linalg.lstsq(a[keep], sampled[keep].astype(np.float64), rcond=None)
        keep = np.hypot(*(a @ coef - sampled).T) < 0.5
    if coef is None:
        return None
    xs, ys = pixel_grid(h, w)
    basis = _design(xs, ys, w, h)
    return np.stack([sum(float(coef[k, c]) * basis[k] for k in range(6)) for c in range(2)], axis=-1)


def compensate(flow: np.ndarray, model: str = "affine") -> np.ndarray:
    """*flow* minus its global (camera) component under *model*.

    ``local``: the affine fit plus a smooth background residual field (:mod:`.camera`), for shake
    and rolling shutter.
    """
    if model == "local":
        from actiondubber.kinematics.camera import compensate_local  # camera builds on this module

        return compensate_local(flow, "affine")
    g = global_flow(flow, model)
    return flow if g is None else flow - g
