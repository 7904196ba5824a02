"""Flow fields as colour images (the Middlebury colour coding) and a stable colour scale.

Hue encodes direction and colour strength encodes speed, following the
convention of Baker et al. (*A Database and Evaluation Methodology for Optical
Flow*, 2011): zero flow is white; rightward flow is red, downward (image y
grows downwards) orange-yellow, leftward cyan, upward blue-violet; flow at or
above the scale's maximum has the full colour, and flow beyond it is drawn
darker so saturation is visible. The wheel's six primaries are spaced
unevenly (15, 6, 4, 11, 13, 6 steps) so equal angles look about equally
different, as in the original coding.

:class:`RunningScale` picks that maximum across a streamed video so colours
do not flicker from frame to frame.
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: Steps between the wheel's primaries: red→yellow→green→cyan→blue→magenta→red.
_SEGMENTS = (15, 6, 4, 11, 13, 6)
_PRIMARIES = np.array(
    [[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255], [255, 0, 0]],
    dtype=np.float64,
)


def _build_wheel() -> np.ndarray:
    """The colour wheel as an (N+1)x3 table in [0, 1]; row N repeats row 0 (wrap-around)."""
    rows = []
    for k, n in enumerate(_SEGMENTS):
        t = np.arange(n, dtype=np.float64)[:, None] / n
        rows.append(_PRIMARIES[k] * (1 - t) + _PRIMARIES[k + 1] * t)
    wheel = np.concatenate(rows, axis=0) / 255.0
    return np.concatenate([wheel, wheel[:1]], axis=0)


_WHEEL = _build_wheel()
_NCOLS = len(_WHEEL) - 1


def _finite(flow: np.ndarray) -> np.ndarray:
    """*flow* as float32 with every vector that has a non-finite component set to zero."""
    f = np.asarray(flow, dtype=np.float32)
    bad = ~np.isfinite(f).all(axis=-1)
    if bad.any():
        f = f.copy()
        f[bad] = 0.0
    return f


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """Per-pixel speed ``sqrt(dx² + dy²)`` of an HxWx2 flow (non-finite vectors count as 0)."""
    f = _finite(flow)
    return np.sqrt(f[..., 0] ** 2 + f[..., 1] ** 2)


def robust_max(flow: np.ndarray, percentile: float = 99.0) -> float:
    """The *percentile* of a flow's speed: a maximum that ignores a few wild pixels."""
    mag = flow_magnitude(flow)
    return float(np.percentile(mag, percentile)) if mag.size else 0.0


def flow_to_colour(flow: np.ndarray, *, max_mag: float | None = None) -> np.ndarray:
    """Colour-code an HxWx2 flow (dx, dy in pixels) as an HxWx3 ``uint8`` RGB image.

    *max_mag* is the speed drawn at full colour; ``None`` uses this frame's
    largest finite speed (so a single frame always spans the full range).
    Zero flow and non-finite vectors are white; speeds above *max_mag* keep
    their hue and are darkened to 75 % brightness.
    """
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim != 3 or f.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {f.shape}")
    f = _finite(f)
    dx = f[..., 0].astype(np.float64)
    dy = f[..., 1].astype(np.float64)
    mag = np.sqrt(dx * dx + dy * dy)
    if max_mag is None:
        max_mag = float(mag.max()) if mag.size else 0.0
    scale = float(max_mag) if max_mag and np.isfinite(max_mag) and max_mag > 0 else 1.0
    rad = mag / scale

    # Angle measured from +x towards +y (image y points down), mapped onto the wheel.
    angle = np.mod(np.arctan2(dy, dx), 2 * np.pi)
    pos = angle / (2 * np.pi) * _NCOLS
    k0 = np.floor(pos).astype(np.intp) % _NCOLS
    frac = (pos - np.floor(pos))[..., None]
    hue = _WHEEL[k0] * (1 - frac) + _WHEEL[k0 + 1] * frac

    inside = rad <= 1.0 + 1e-6
    r = np.minimum(rad, 1.0)[..., None]
    col = np.where(inside[..., None], 1.0 - r * (1.0 - hue), hue * 0.75)
    return np.clip(np.round(col * 255.0), 0, 255).astype(np.uint8)


def colour_wheel_legend(size: int = 64, *, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A ``size``x``size`` RGB image of the colour wheel: the colour of flow from the centre to each pixel.

    The disc's rim is full speed; pixels outside the disc get *background*
    and a thin grey rim marks the edge.
    """
    if size < 4:
        raise ValueError(f"legend size must be at least 4 pixels, got {size}")
    c = (size - 1) / 2.0
    radius = size / 2.0 - 1.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.stack([xs - c, ys - c], axis=-1) / radius
    img = flow_to_colour(flow, max_mag=1.0)
    dist = np.hypot(xs - c, ys - c)
    img[dist > radius] = np.asarray(background, dtype=np.uint8)
    img[(dist > radius - 0.5) & (dist <= radius + 0.7)] = (128, 128, 128)
    return img


class RunningScale:
    """A colour-scale maximum for a streamed video that changes slowly.

    Each frame's speed *percentile* (99th: the fastest 1 % of pixels, robust to
    a few bad flow vectors) goes into a window of the last *window* frames;
    the scale is the window's upper quartile times *headroom* (so the fastest
    object shows full colour rather than the darker beyond-scale shade), never
    below *floor*. A single wild frame therefore does not dim the whole video,
    and a still stretch does not blow up noise (the floor). Defaults suit
    flow at the 128-pixel analysis size; they are chosen for viewing, not measured.
    """

    def __init__(
        self, *, percentile: float = 99.0, window: int = 50, floor: float = 0.5, headroom: float = 1.2
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 frame")
        self.percentile = percentile
        self.floor = float(floor)
        self.headroom = float(headroom)
        self._recent: deque[float] = deque(maxlen=window)

    def update(self, flow: np.ndarray) -> float:
        """Add one frame's flow and return the scale to colour it with."""
        self._recent.append(robust_max(flow, self.percentile))
        return self.value

    @property
    def value(self) -> float:
        """The current scale (``floor`` before any frame)."""
        if not self._recent:
            return self.floor
        return max(self.floor, self.headroom * float(np.percentile(np.fromiter(self._recent, float), 75)))
