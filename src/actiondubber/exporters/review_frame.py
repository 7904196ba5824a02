"""One frame of the review video: a source frame with its events drawn in, above a scrolling timeline.

On an event's frame a ring, crosshair and centre dot mark the event's location and a coloured
border flashes; both fade out over the next :data:`FADE_SECONDS`. The strip below the picture
scrolls with the video: it shows the per-frame score curve (``Events.scores``) ±``window``
seconds around the playhead, event ticks with their numbers, and a text line with time, frame,
and the current event's number and score. :class:`PreviewRenderer` holds only the per-frame
curve, never frames; :mod:`actiondubber.exporters.review` runs it over a whole video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from actiondubber.errors import ParameterError
from actiondubber.events import FRAME_SLACK
from actiondubber.types import FALLBACK_FPS, Events

#: Colour (RGB) of everything that marks an event: a saturated amber that reads on dark and light scenes.
MARK_RGB = (255, 200, 0)
#: How long an event's mark and border stay on screen, fading out (seconds after the event's frame).
FADE_SECONDS = 0.3
#: Half-width of the scrolling timeline, in seconds (the strip shows ±WINDOW_SECONDS around the playhead).
WINDOW_SECONDS = 3.0
#: Default cap on the picture's width; wider videos are downscaled (keeps encoding fast and files small).
DEFAULT_MAX_WIDTH = 1280
_BG = (24, 24, 28)
_OUTSIDE = (12, 12, 14)
_GRID = (58, 58, 64)
_AXIS_TEXT = (150, 150, 158)
_TEXT = (235, 235, 235)
_CURVE = (120, 185, 255)
_CURVE_FILL = (36, 62, 96)
_PLAYHEAD = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class PreviewLayout:
    """Sizes of a preview frame: the picture (``width`` x ``height``) above a strip of ``strip_height``.

    ``scale_x``/``scale_y`` map original-video pixels to picture pixels. The
    frame is ``frame_width`` wide (``width`` rounded up to even, as 4:2:0 video needs).
    """

    width: int
    height: int
    strip_height: int
    scale_x: float
    scale_y: float

    @property
    def frame_width(self) -> int:
        return self.width + self.width % 2

    @property
    def frame_height(self) -> int:
        return self.height + self.strip_height



def preview_layout(width: int, height: int, max_width: int | None = DEFAULT_MAX_WIDTH) -> PreviewLayout:
    """Layout for a *width* x *height* video, downscaled (to even sizes) when wider than *max_width*."""
    if width <= 0 or height <= 0:
        raise ParameterError(f"video size must be positive, got {width}x{height}")
    if max_width is not None and max_width < 16:
        raise ParameterError(f"max_width must be at least 16, got {max_width}")
    w, h = width, height
    if max_width is not None and width > max_width:
        w = max(16, int(max_width) // 2 * 2)
        h = max(2, int(round(height * w / width / 2)) * 2)
    strip = int(min(200, max(80, round(0.15 * (w + w % 2)))))
    strip += (h + strip) % 2  # total height even
    return PreviewLayout(w, h, strip, w / width, h / height)



def _blend_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, paint: np.ndarray, alpha: float) -> None:
    """Blend the rectangle [x0, x1) x [y0, y1) of *img* towards *paint* (a solid image at least as large)."""
    roi = img[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if roi.size:
        cv2.addWeighted(paint[: roi.shape[0], : roi.shape[1]], alpha, roi, 1.0 - alpha, 0.0, dst=roi)


def _text_width(text: str, scale: float, thick: int) -> int:
    return cv2.getTextSize(text, _FONT, scale, thick)[0][0]



class PreviewRenderer:
    """Draws one video's events onto its frames; :meth:`render` makes one preview frame.

    *times* are the video's frame times (seconds, increasing); *layout* the
    output sizes; *window* the strip's half-width in seconds; *fade* how long
    marks stay (seconds). Holds only the per-frame curve, never frames.
    """

    def __init__(
        self,
        events: Events,
        times: np.ndarray,
        layout: PreviewLayout,
        *,
        window: float = WINDOW_SECONDS,
        fade: float = FADE_SECONDS,
    ) -> None:
        if window <= 0 or fade < 0:
            raise ParameterError("window must be positive and fade non-negative")
        self.layout = layout
        self.times = np.asarray(times, dtype=np.float64)
        self.n = self.times.size
        self.window = float(window)
        self.fade = float(fade)
        self.events = tuple(sorted(events.events, key=lambda e: (e.frame, e.time)))  # numbered in time order
        self.ev_frames = np.array([e.frame for e in self.events], dtype=np.int64)
        self.ev_frame_times = np.array([self._t(e.frame) for e in self.events], dtype=np.float64)
        self.ev_times = np.array([e.time for e in self.events], dtype=np.float64)
        scores = np.asarray(events.scores, dtype=np.float64)
        if scores.size and abs(scores.size - self.n) <= FRAME_SLACK:  # the events check's tolerance: fit it
            scores = np.resize(np.concatenate([scores, np.zeros(max(0, self.n - scores.size))]), self.n)
        self.scores = np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0) if scores.size == self.n else None
        peak = max([0.0] + ([float(self.scores.max())] if self.scores is not None and self.n else []))
        self.score_max = peak if peak > 0 else 1.0
        self.end = float(self.times[-1]) + (float(np.median(np.diff(self.times))) if self.n > 1 else 1.0 / FALLBACK_FPS)
        w, h = layout.width, layout.height
        self.radius = max(8.0, 0.055 * min(w, h))
        self.line = max(1, int(round(min(w, h) / 240)))
        self.border = max(3, int(round(min(w, h) * 0.012)))
        fw = layout.frame_width
        self.font_scale = float(min(0.8, max(0.4, fw / 1280 * 0.8)))
        self.font_thick = 1 if self.font_scale < 0.6 else 2
        self.small_scale = max(0.3, self.font_scale * 0.7)
        # solid images copied or blended per frame (numpy broadcasting of a colour is slow on big arrays)
        self._paint = np.empty((h, w, 3), np.uint8)
        self._paint[:] = MARK_RGB
        self._strip_bg = np.empty((layout.strip_height, fw, 3), np.uint8)
        self._strip_bg[:] = _BG

    def _t(self, frame: int) -> float:
        return float(self.times[frame]) if 0 <= frame < self.n else 0.0

    def active(self, index: int) -> list[tuple[int, float]]:
        """(event number, fade alpha) of the events whose marks show on frame *index* (0-based numbers)."""
        t = self._t(index)
        hi = int(np.searchsorted(self.ev_frames, index, side="right"))
        out = []
        for k in range(hi - 1, -1, -1):
            age = t - self.ev_frame_times[k]
            if self.ev_frames[k] == index:
                out.append((k, 1.0))
            elif age < self.fade:
                out.append((k, max(0.0, 1.0 - age / self.fade) if self.fade > 0 else 0.0))
            else:
                break
        return [(k, a) for k, a in out if a > 0.02][::-1]

    def render(self, rgb: np.ndarray, index: int) -> np.ndarray:
        """Preview frame (``frame_height`` x ``frame_width`` x 3 uint8 RGB) for source frame *index* shown as *rgb*."""
        lay = self.layout
        if rgb.shape[:2] != (lay.height, lay.width):
            raise ParameterError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, layout expects {lay.width}x{lay.height}")
        out = np.empty((lay.frame_height, lay.frame_width, 3), np.uint8)
        out[: lay.height, lay.width :] = 0  # the padding column of an odd width
        pic = out[: lay.height, : lay.width]
        pic[:] = rgb
        active = self.active(index)
        for k, alpha in active:
            self._draw_mark(pic, k, alpha)
        if active:
            a = max(alpha for _, alpha in active)
            b = self.border
            _blend_rect(pic, 0, 0, lay.width, b, self._paint, a)
            _blend_rect(pic, 0, lay.height - b, lay.width, lay.height, self._paint, a)
            _blend_rect(pic, 0, b, b, lay.height - b, self._paint, a)
            _blend_rect(pic, lay.width - b, b, lay.width, lay.height - b, self._paint, a)
        self._draw_strip(out[lay.height :], index, active)
        return out

    # ------------------------------------------------------------------ picture

    def _draw_mark(self, pic: np.ndarray, k: int, alpha: float) -> None:
        e = self.events[k]
        if e.x is None or e.y is None or not (math.isfinite(e.x) and math.isfinite(e.y)):
            return
        cx = (e.x + 0.5) * self.layout.scale_x - 0.5
        cy = (e.y + 0.5) * self.layout.scale_y - 0.5
        grow = 1.0 + 0.6 * (1.0 - alpha)  # the ring widens as it fades: a ripple from the impact
        r = self.radius * grow
        reach = int(math.ceil(1.7 * r)) + self.line + 4
        h, w = pic.shape[:2]
        x0, y0 = max(0, int(cx) - reach), max(0, int(cy) - reach)
        x1, y1 = min(w, int(cx) + reach + 1), min(h, int(cy) + reach + 1)
        if x0 >= x1 or y0 >= y1:
            return
        roi = pic[y0:y1, x0:x1]
        layer = roi.copy()
        c = (int(round((cx - x0) * _ONE)), int(round((cy - y0) * _ONE)))
        t = self.line
        dot = max(3.0, r / 4)
        arms = []
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            p = (c[0] + int(dx * 0.45 * r * _ONE), c[1] + int(dy * 0.45 * r * _ONE))
            q = (c[0] + int(dx * 1.6 * r * _ONE), c[1] + int(dy * 1.6 * r * _ONE))
            arms.append((p, q))
        for colour, extra in (((0, 0, 0), 2), (MARK_RGB, 0)):  # dark outline first, so it reads on bright scenes
            cv2.circle(layer, c, int(r * _ONE), colour, t + extra, cv2.LINE_AA, _SHIFT)
            for p, q in arms:
                cv2.line(layer, p, q, colour, t + extra, cv2.LINE_AA, _SHIFT)
        cv2.circle(layer, c, int(dot * _ONE), MARK_RGB, -1, cv2.LINE_AA, _SHIFT)  # no outline: keeps its colour
        if alpha >= 1.0:
            roi[:] = layer
        else:
            cv2.addWeighted(layer, alpha, roi, 1.0 - alpha, 0.0, dst=roi)

    # ------------------------------------------------------------------ timeline strip

    def _draw_strip(self, strip: np.ndarray, index: int, active: list[tuple[int, float]]) -> None:
        sh, sw = strip.shape[:2]
        strip[:] = self._strip_bg
        fs, ft, ss = self.font_scale, self.font_thick, self.small_scale
        (_, th), base = cv2.getTextSize("0", _FONT, fs, ft)
        (_, sth), sbase = cv2.getTextSize("0", _FONT, ss, 1)
        row = th + base + 6
        top, bottom = row + 4, sh - (sth + sbase + 5)
        t_now = self._t(index)
        mid = sw / 2.0
        pps = sw / (2.0 * self.window)

        def px(t: float) -> float:
            return mid + (t - t_now) * pps

        # outside the video: darker
        x_start, x_end = px(0.0), px(self.end)
        if x_start > 0:
            cv2.rectangle(strip, (0, top), (int(min(sw, x_start)) - 1, bottom - 1), _OUTSIDE, -1)
        if x_end < sw:
            cv2.rectangle(strip, (int(max(0, x_end)), top), (sw - 1, bottom - 1), _OUTSIDE, -1)
        # grid every second (every 0.5 s for short windows), labelled below
        step = 1.0 if self.window >= 1.5 else 0.5
        g = math.ceil((t_now - self.window) / step) * step
        while g <= t_now + self.window:
            x = int(round(px(g)))
            cv2.line(strip, (x, top), (x, bottom), _GRID, 1)
            label = f"{g:g}s"
            lw = _text_width(label, ss, 1)
            cv2.putText(strip, label, (x - lw // 2, sh - sbase - 2), _FONT, ss, _AXIS_TEXT, 1, cv2.LINE_AA)
            g += step
        cv2.line(strip, (0, bottom), (sw, bottom), _GRID, 1)
        # score curve
        if self.scores is not None and self.n:
            lo = max(0, int(np.searchsorted(self.times, t_now - self.window, side="left")) - 1)
            hi = min(self.n, int(np.searchsorted(self.times, t_now + self.window, side="right")) + 1)
            ts, ys = self.times[lo:hi], self.scores[lo:hi]
            if ts.size:
                xs = (mid + (ts - t_now) * pps) * _ONE
                yv = (bottom - np.clip(ys / self.score_max, 0.0, 1.0) * (bottom - top - 2)) * _ONE
                pts = np.stack([xs, yv], axis=1).round().astype(np.int32)
                poly = np.concatenate([pts, [[pts[-1, 0], bottom * _ONE], [pts[0, 0], bottom * _ONE]]]).astype(np.int32)
                cv2.fillPoly(strip, [poly], _CURVE_FILL, cv2.LINE_AA, _SHIFT)
                cv2.polylines(strip, [pts], False, _CURVE, self.line, cv2.LINE_AA, _SHIFT)
        # event ticks
        current = {k for k, _ in active}
        lo = int(np.searchsorted(self.ev_times, t_now - self.window - 0.1, side="left"))
        hi = int(np.searchsorted(self.ev_times, t_now + self.window + 0.1, side="right"))
        tri = max(4, int(round(sth * 0.7)))
        for k in range(lo, hi):
            x = int(round(px(float(self.ev_times[k]))))
            colour = MARK_RGB if k in current else tuple(int(c * 0.75) for c in MARK_RGB)
            cv2.line(strip, (x, top), (x, bottom), colour, 2 if k in current else 1)
            tri_pts = np.array([[x - tri, top], [x + tri, top], [x, top + tri + 2]], np.int32)
            cv2.fillPoly(strip, [tri_pts], colour, cv2.LINE_AA)
            if bottom - top > 3 * sth:
                cv2.putText(strip, str(k + 1), (x + tri + 2, top + sth + 1), _FONT, ss, colour, 1, cv2.LINE_AA)
        # playhead
        xm = int(round(mid))
        cv2.line(strip, (xm, top - 2), (xm, bottom), _PLAYHEAD, max(1, self.line))
        # text row
        n_ev = len(self.events)
        last = max(current) if current else None
        left = [f"{t_now:.3f} s   frame {index}/{self.n - 1}", f"{t_now:.2f}s  f{index}"]
        if last is not None:
            e = self.events[last]
            right = [f"event {last + 1}/{n_ev}   score {e.score:.3g}", f"ev {last + 1}/{n_ev} {e.score:.2g}"]
            rcol = MARK_RGB
        else:
            right = [f"{n_ev} event{'s' if n_ev != 1 else ''}", f"{n_ev} ev"]
            rcol = _AXIS_TEXT
        for lt, rt in zip(left, right, strict=True):
            lw, rw = _text_width(lt, fs, ft), _text_width(rt, fs, ft)
            if lw + rw + 24 <= sw or lt == left[-1]:
                break
        y = th + 4
        cv2.putText(strip, lt, (6, y), _FONT, fs, _TEXT, ft, cv2.LINE_AA)
        cv2.putText(strip, rt, (max(6 + lw + 12, sw - rw - 6), y), _FONT, fs, rcol, ft, cv2.LINE_AA)
