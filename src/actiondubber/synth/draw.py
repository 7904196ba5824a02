"""Cheap, sub-pixel-exact drawing for the synthetic scenes (numpy + OpenCV).

Backgrounds are textured (never flat) and rendered once per clip. Moving
things are pre-rendered, anti-aliased RGBA sprites (premultiplied alpha)
placed with a bilinear sub-pixel warp, so a body whose centre is at a
fractional position is drawn exactly there. Continuous coordinates: pixel
column ``j`` covers ``[j, j + 1)``.
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

_SS = 4  # supersampling factor for sprites


def saturated_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """A vivid RGB colour (saturation >= 0.8), easy to tell from the muted backgrounds."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.8, 1.0), rng.uniform(0.85, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _muted(rng: np.random.Generator, lo: float = 70, hi: float = 190, sat: float = 0.25) -> np.ndarray:
    c = rng.uniform(lo, hi, 3)
    return c.mean() + (c - c.mean()) * sat


def _smooth_noise(rng: np.random.Generator, w: int, h: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise with features about *cell* pixels wide."""
    gw, gh = max(2, int(w / cell) + 2), max(2, int(h / cell) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def make_background(rng: np.random.Generator, w: int, h: int, kind: str, scale: float) -> np.ndarray:
    """A muted, textured RGB background (``noise``, ``gradient``, ``checker`` or ``shapes``).

    *scale* is the frame height / 240, so textures look alike at every size.
    Every kind gets a gradient plus fine static grain, so optical flow has
    texture to lock on to (and a camera pan is visible everywhere).
    """
    c1, c2 = _muted(rng), _muted(rng)
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = xx * math.cos(ang) + yy * math.sin(ang)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    img = c1[None, None, :] * (1 - ramp[..., None]) + c2[None, None, :] * ramp[..., None]
    if kind == "noise":
        lum = sum(a * _smooth_noise(rng, w, h, c * scale) for a, c in ((22, 48), (14, 14), (8, 5)))
        img += lum[..., None]
    elif kind == "checker":
        cell = rng.uniform(10, 30) * scale
        rot = rng.uniform(-0.4, 0.4)
        u = (xx * math.cos(rot) + yy * math.sin(rot)) // cell
        v = (-xx * math.sin(rot) + yy * math.cos(rot)) // cell
        img += (((u + v) % 2) * 2 - 1)[..., None] * rng.uniform(12, 24)
        img += 8 * _smooth_noise(rng, w, h, 30 * scale)[..., None]
    elif kind == "shapes":
        canvas = img.astype(np.float32)
        for _ in range(int(rng.integers(25, 60) * max(1.0, w * h / (320 * 240)) ** 0.5)):
            col = tuple(float(v) for v in _muted(rng, 40, 220, 0.35))
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            s = int(rng.uniform(6, 40) * scale) + 1
            pick = rng.integers(0, 3)
            if pick == 0:
                cv2.circle(canvas, (x, y), s, col, -1, cv2.LINE_AA)
            elif pick == 1:
                cv2.rectangle(canvas, (x, y), (x + s, y + int(s * rng.uniform(0.4, 2))), col, -1, cv2.LINE_AA)
            else:
                x2, y2 = x + int(rng.integers(-3 * s, 3 * s)), y + int(rng.integers(-3 * s, 3 * s))
                cv2.line(canvas, (x, y), (x2, y2), col, max(1, s // 5), cv2.LINE_AA)
        img = cv2.GaussianBlur(canvas, (0, 0), 0.6 * scale)
    else:  # gradient
        img += 10 * _smooth_noise(rng, w, h, 60 * scale)[..., None]
    img += rng.normal(0.0, 5.0, (h, w, 1)).astype(np.float32)  # static grain
    return np.clip(img, 15, 240).astype(np.uint8)


def draw_floor(rng: np.random.Generator, img: np.ndarray, y: int, scale: float) -> None:
    """A wooden-looking floor from row *y* down, with a darker top edge (in place)."""
    h, w = img.shape[:2]
    if y >= h:
        return
    fh = h - y
    base = np.array([150, 110, 70], np.float32) * rng.uniform(0.7, 1.1)
    base = base.mean() + (base - base.mean()) * 0.7
    streak = cv2.resize(rng.standard_normal((max(2, fh // 2), max(2, w // int(40 * scale + 1)))).astype(np.float32),
                        (w, fh), interpolation=cv2.INTER_CUBIC)
    band = base[None, None, :] + 14 * streak[..., None] + rng.normal(0, 4, (fh, w, 1)).astype(np.float32)
    plank = max(8, int(rng.uniform(50, 90) * scale))
    off = int(rng.integers(0, plank))
    band[:, (np.arange(w) + off) % plank < max(1, int(scale))] *= 0.6
    edge = max(1, int(round(1.5 * scale)))
    band[:edge] *= 0.55
    img[y:] = np.clip(band, 0, 255).astype(np.uint8)


def draw_block(rng: np.random.Generator, img: np.ndarray, x0: int, y0: int, x1: int, y1: int, scale: float) -> None:
    """A stone/metal looking block (walls, paddles, stands), drawn in place."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    bw, bh = x1 - x0, y1 - y0
    base = _muted(rng, 60, 120, 0.3)
    tex = base[None, None, :] + 12 * _smooth_noise(rng, bw, bh, 6 * scale)[..., None]
    tex += rng.normal(0, 5, (bh, bw, 1)).astype(np.float32)
    img[y0:y1, x0:x1] = np.clip(tex, 0, 255).astype(np.uint8)
    cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), tuple(float(v * 0.5) for v in base), max(1, int(scale)))


class Sprite:
    """A premultiplied RGBA float32 image whose centre is its geometric centre."""

    def __init__(self, rgba: np.ndarray) -> None:
        self.rgba = np.ascontiguousarray(rgba, dtype=np.float32)
        self.h, self.w = rgba.shape[:2]


def _grid(half_w: float, half_h: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Supersampled sample coordinates relative to the sprite centre."""
    sw, sh = 2 * math.ceil(half_w) + 4, 2 * math.ceil(half_h) + 4
    xs = (np.arange(sw * _SS, dtype=np.float32) + 0.5) / _SS - sw / 2
    ys = (np.arange(sh * _SS, dtype=np.float32) + 0.5) / _SS - sh / 2
    return xs[None, :], ys[:, None], sw, sh


def _finish(rgb: np.ndarray, alpha: np.ndarray, sw: int, sh: int) -> Sprite:
    pm = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2).astype(np.float32)
    return Sprite(cv2.resize(pm, (sw, sh), interpolation=cv2.INTER_AREA))


def ball_sprite(radius: float, color: tuple[int, int, int]) -> Sprite:
    """A shaded sphere with a soft highlight."""
    x, y, sw, sh = _grid(radius, radius)
    d2 = (x * x + y * y) / (radius * radius)
    alpha = (d2 <= 1.0).astype(np.float32)
    nz = np.sqrt(np.clip(1.0 - d2, 0, 1))
    light = np.clip((-0.45 * x / radius - 0.55 * y / radius + 0.7 * nz), 0, 1)
    col = np.asarray(color, np.float32)
    rgb = col * (0.55 + 0.45 * light)[..., None]
    spec = np.clip(light, 0, 1) ** 24
    rgb = rgb + (255 - rgb) * (0.6 * spec)[..., None]
    return _finish(rgb, alpha, sw, sh)


def disc_sprite(radius: float, color: tuple[int, int, int]) -> Sprite:
    """A flat disc with coloured sectors and a ring, so its rotation is visible."""
    x, y, sw, sh = _grid(radius, radius)
    r = np.sqrt(x * x + y * y)
    alpha = (r <= radius).astype(np.float32)
    theta = np.arctan2(y, x)
    col = np.asarray(color, np.float32)
    dark = col * 0.45
    sector = (np.floor((theta + math.pi) / (2 * math.pi) * 6) % 2).astype(np.float32)
    rgb = col * sector[..., None] + dark * (1 - sector[..., None])
    ring = (np.abs(r - 0.6 * radius) < 0.1 * radius + 0.5)
    rgb[ring] = 235.0
    return _finish(rgb, alpha, sw, sh)


def box_sprite(half_w: float, half_h: float, color: tuple[int, int, int]) -> Sprite:
    """A box with a dark border and diagonal stripes."""
    x, y, sw, sh = _grid(half_w, half_h)
    inside = (np.abs(x) <= half_w) & (np.abs(y) <= half_h)
    alpha = inside.astype(np.float32)
    col = np.asarray(color, np.float32)
    border = max(1.0, 0.15 * min(half_w, half_h))
    edge = (np.abs(x) > half_w - border) | (np.abs(y) > half_h - border)
    stripes = ((x + y) // max(2.0, 0.5 * min(half_w, half_h)) % 2).astype(np.float32)
    rgb = col * (0.75 + 0.25 * stripes)[..., None]
    rgb = np.where(edge[..., None], col * 0.4, rgb)
    return _finish(np.broadcast_to(rgb, alpha.shape + (3,)), alpha, sw, sh)


def wheel_sprite(radius: float, color: tuple[int, int, int], spokes: int = 5) -> Sprite:
    """A spoked wheel: tyre, coloured rim, spokes and hub."""
    x, y, sw, sh = _grid(radius, radius)
    r = np.sqrt(x * x + y * y)
    theta = np.arctan2(y, x)
    tyre = (r <= radius) & (r > 0.82 * radius)
    rim = (r <= 0.82 * radius) & (r > 0.72 * radius)
    spoke_w = max(0.8, 0.06 * radius)
    ang = ((theta + math.pi / spokes) % (2 * math.pi / spokes)) - math.pi / spokes  # to the nearest spoke
    spoke = (r <= 0.72 * radius) & (np.abs(r * np.sin(ang)) < spoke_w)
    hub = r <= 0.16 * radius
    alpha = (tyre | rim | spoke | hub).astype(np.float32)
    rgb = np.zeros(alpha.shape + (3,), np.float32)
    rgb[tyre] = (40, 40, 45)
    rgb[rim] = color
    rgb[spoke] = (200, 200, 205)
    rgb[hub] = np.asarray(color, np.float32) * 0.6
    mark = (r > 0.3 * radius) & (r < 0.6 * radius) & (np.abs(theta - 0.3) < 0.25)
    rgb[mark] = (250, 250, 250)
    alpha[mark] = 1.0
    return _finish(rgb, alpha, sw, sh)


def blit(canvas: np.ndarray, sprite: Sprite, cx: float, cy: float, angle: float = 0.0) -> None:
    """Composite *sprite* onto *canvas* (uint8 RGB, in place) centred at (cx, cy), rotated by *angle* rad."""
    ox, oy = cx - sprite.w / 2, cy - sprite.h / 2
    ix, iy = math.floor(ox), math.floor(oy)
    fx, fy = ox - ix, oy - iy
    if angle:
        m = cv2.getRotationMatrix2D((sprite.w / 2 - 0.5, sprite.h / 2 - 0.5), math.degrees(angle), 1.0)
        m[0, 2] += fx
        m[1, 2] += fy
    else:
        m = np.array([[1.0, 0.0, fx], [0.0, 1.0, fy]])
    dw, dh = sprite.w + 2, sprite.h + 2
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(ix, 0), max(iy, 0), min(ix + dw, W), min(iy + dh, H)
    if x0 >= x1 or y0 >= y1:
        return
    warped = cv2.warpAffine(sprite.rgba, m, (dw, dh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    patch = warped[y0 - iy : y1 - iy, x0 - ix : x1 - ix]
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    roi *= 1.0 - patch[..., 3:4]
    roi += patch[..., :3]
    roi += 0.5
    np.clip(roi, 0, 255, out=roi)
    canvas[y0:y1, x0:x1] = roi.astype(np.uint8)


def line(canvas: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], color, width: float) -> None:
    """Anti-aliased line between continuous points (1/16 px precision)."""
    a = (int(round((p0[0] - 0.5) * 16)), int(round((p0[1] - 0.5) * 16)))
    b = (int(round((p1[0] - 0.5) * 16)), int(round((p1[1] - 0.5) * 16)))
    cv2.line(canvas, a, b, color, max(1, int(round(width))), cv2.LINE_AA, 4)


class NoiseBank:
    """Sensor noise without drawing fresh Gaussians per frame (too slow at 720p).

    A few noise planes, a little larger than the frame, are drawn once; each
    frame adds a randomly chosen plane at a random offset with saturating
    uint8 arithmetic (``cv2.add`` / ``cv2.subtract``).
    """

    def __init__(self, rng: np.random.Generator, w: int, h: int, sigma: float, planes: int = 4, pad: int = 32) -> None:
        self.rng, self.w, self.h, self.pad = rng, w, h, pad
        self.pos: list[np.ndarray] = []
        self.neg: list[np.ndarray] = []
        if sigma <= 0:
            return
        for _ in range(planes):
            n = np.rint(rng.standard_normal((h + pad, w + pad, 3), dtype=np.float32) * sigma)
            n = np.clip(n, -255, 255).astype(np.int16)
            self.pos.append(np.clip(n, 0, 255).astype(np.uint8))
            self.neg.append(np.clip(-n, 0, 255).astype(np.uint8))

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if not self.pos:
            return frame
        k = int(self.rng.integers(len(self.pos)))
        oy, ox = (int(v) for v in self.rng.integers(0, self.pad, 2))
        sl = (slice(oy, oy + self.h), slice(ox, ox + self.w))
        out = cv2.add(frame, np.ascontiguousarray(self.pos[k][sl]))
        return cv2.subtract(out, np.ascontiguousarray(self.neg[k][sl]))
