"""A review video that shows where and when the sounds will be: events drawn over the source.

Each output frame is the source frame (downscaled to a maximum width) above a
timeline strip. On an event's frame a ring, crosshair and centre dot mark the
event's location and a coloured border flashes; both fade out over the next
:data:`FADE_SECONDS`. The strip scrolls with the video: it shows the per-frame
score curve (``Events.scores``) ±``window`` seconds around the playhead,
event ticks with their numbers, and a text line with time, frame, and the
current event's number and score.

Frames are decoded, drawn (OpenCV) and encoded one at a time, so memory stays
flat. The output keeps the source's timestamps (variable frame rate stays
correct) and, by default, the source's soundtrack — or another file's (e.g. a
dubbed video) — re-encoded and placed on the video's clock.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from actiondubber.errors import InputError, OutputError
from actiondubber.events import load_events
from actiondubber.fileio import atomic_output, check_output_path
from actiondubber.types import Events, VideoInfo
from actiondubber.video.reader import iter_frames, probe
from actiondubber.video.writer import write_png, write_video

#: Colour (RGB) of everything that marks an event: a saturated amber that reads on dark and light scenes.
MARK_RGB = (255, 200, 0)
#: How long an event's mark and border stay on screen, fading out (seconds after the event's frame).
FADE_SECONDS = 0.3
#: Half-width of the scrolling timeline, in seconds (the strip shows ±WINDOW_SECONDS around the playhead).
WINDOW_SECONDS = 3.0
#: Default cap on the picture's width; wider videos are downscaled (keeps encoding fast and files small).
DEFAULT_MAX_WIDTH = 1280
#: Output extension -> (video encoder, audio encoder).
FORMATS = {
    ".mp4": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
}
#: Sample rate of the preview's soundtrack (AAC and Opus both take it).
AUDIO_RATE = 48000

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


@dataclass(frozen=True)
class EventPreview:
    """What :func:`render_preview` wrote: paths, frame count, layout, and the soundtrack's source file."""

    out: Path | None
    png: Path | None
    png_frame: int | None
    n_frames: int
    layout: PreviewLayout
    audio: Path | None


def preview_layout(width: int, height: int, max_width: int | None = DEFAULT_MAX_WIDTH) -> PreviewLayout:
    """Layout for a *width* x *height* video, downscaled (to even sizes) when wider than *max_width*."""
    if width <= 0 or height <= 0:
        raise ValueError(f"video size must be positive, got {width}x{height}")
    if max_width is not None and max_width < 16:
        raise ValueError(f"max_width must be at least 16, got {max_width}")
    w, h = width, height
    if max_width is not None and width > max_width:
        w = max(16, int(max_width) // 2 * 2)
        h = max(2, int(round(height * w / width / 2)) * 2)
    strip = int(min(200, max(80, round(0.15 * (w + w % 2)))))
    strip += (h + strip) % 2  # total height even
    return PreviewLayout(w, h, strip, w / width, h / height)


def check_events_match(ev: Events, info: VideoInfo, source: str = "events") -> None:
    """Raise :class:`InputError` when *ev* cannot belong to the video *info* describes.

    Checks the frame count (and the score curve's length), the picture size
    when the events record it, and that every event frame lies in the video.
    """
    n_ev = ev.video.n_frames or len(ev.video.timestamps)
    if n_ev and n_ev != info.n_frames:
        raise InputError(
            f"{source}: events are for a video of {n_ev} frames but {info.path} has {info.n_frames}; "
            "they belong to another video"
        )
    n_sc = len(ev.scores)
    if n_sc and n_sc != info.n_frames:
        raise InputError(f"{source}: score curve has {n_sc} values but {info.path} has {info.n_frames} frames")
    if ev.video.width and ev.video.height and (ev.video.width, ev.video.height) != (info.width, info.height):
        raise InputError(
            f"{source}: events are for a {ev.video.width}x{ev.video.height} video but {info.path} is "
            f"{info.width}x{info.height}; they belong to another video"
        )
    for e in ev.events:
        if not 0 <= e.frame < info.n_frames:
            raise InputError(f"{source}: event at frame {e.frame} lies outside {info.path} (0..{info.n_frames - 1})")


def _increasing(times: tuple[float, ...], fps: float) -> np.ndarray:
    """Frame times forced strictly increasing the way the reader does it (repeat times step on by 1/fps)."""
    step = 1.0 / (fps if fps > 0 else 25.0)
    out = np.asarray(times, dtype=np.float64).copy()
    for i in range(1, out.size):
        if out[i] <= out[i - 1]:
            out[i] = out[i - 1] + step
    return out


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
            raise ValueError("window must be positive and fade non-negative")
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
        self.scores = np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0) if scores.size == self.n else None
        peak = max([0.0] + ([float(self.scores.max())] if self.scores is not None and self.n else []))
        self.score_max = peak if peak > 0 else 1.0
        self.end = float(self.times[-1]) + (float(np.median(np.diff(self.times))) if self.n > 1 else 0.04)
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
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, layout expects {lay.width}x{lay.height}")
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


# ---------------------------------------------------------------------- audio


def _open_media(path: Path):
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a media file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: not a readable media file ({exc})") from None


def _check_audio_file(path: Path) -> None:
    container = _open_media(path)
    try:
        if not container.streams.audio:
            raise InputError(f"{path}: contains no audio stream to put in the preview")
    finally:
        container.close()


#: Video packets read to find the first video presentation time (B-frames reorder within a few packets).
_VIDEO_HEAD_PACKETS = 48


def _video_start(path: Path) -> float | None:
    """Earliest presentation time (s) among the first video packets of *path*; None without video."""
    container = _open_media(path)
    try:
        if not container.streams.video:
            return None
        vs = container.streams.video[0]
        best = None
        for i, pk in enumerate(container.demux(vs)):
            t = pk.pts if pk.pts is not None else pk.dts
            if pk.size and t is not None:
                s = float(t * vs.time_base)
                best = s if best is None else min(best, s)
            if i >= _VIDEO_HEAD_PACKETS:
                break
        return best
    except av.FFmpegError:
        return None
    finally:
        container.close()


def _to_format(chunk: np.ndarray, fmt: str) -> np.ndarray:
    """(channels, n) float32 samples as the ndarray layout ``AudioFrame.from_ndarray`` wants for *fmt*."""
    if fmt.startswith("s16"):
        chunk = (np.clip(chunk, -1.0, 1.0) * 32767.0).astype(np.int16)
    if fmt.endswith("p"):
        return np.ascontiguousarray(chunk)
    return np.ascontiguousarray(chunk.T.reshape(1, -1))


def _audio_packets(src: Path, container, stream, duration: float) -> Iterator[av.Packet]:
    """Encode *src*'s first audio stream into *stream*, placed on *src*'s video clock and cut at *duration*.

    Audio that starts before the first video frame is trimmed, audio that
    starts after it is preceded by silence; the gaps and jumps inside the
    stream are ignored (the samples are laid end to end).
    """
    v0 = _video_start(src)
    cc = stream.codec_context
    fmt = cc.format.name
    channels = cc.layout.nb_channels
    frame_size = cc.frame_size or 1024
    total = int(math.ceil(duration * AUDIO_RATE))
    resampler = av.AudioResampler(format="fltp", layout=cc.layout.name, rate=AUDIO_RATE)
    pending: list[np.ndarray] = []
    n_pending = 0
    written = 0
    skip: int | None = None

    def emit(final: bool) -> Iterator[av.Packet]:
        nonlocal pending, n_pending, written
        if not pending:
            return
        buf = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
        pos = 0
        while buf.shape[1] - pos >= frame_size or (final and pos < buf.shape[1]):
            chunk = buf[:, pos : pos + frame_size]
            frame = av.AudioFrame.from_ndarray(_to_format(chunk, fmt), format=fmt, layout=cc.layout.name)
            frame.sample_rate = AUDIO_RATE
            frame.pts = written
            frame.time_base = Fraction(1, AUDIO_RATE)
            written += chunk.shape[1]
            pos += chunk.shape[1]
            yield from stream.encode(frame)
        pending = [buf[:, pos:]] if pos < buf.shape[1] else []
        n_pending = buf.shape[1] - pos

    def take(frames) -> None:
        nonlocal skip, n_pending
        for fr in frames:
            arr = fr.to_ndarray().reshape(channels, -1).astype(np.float32, copy=False)
            if skip is None:
                a0 = float(fr.pts * fr.time_base) if fr.pts is not None and fr.time_base is not None else 0.0
                skip = int(round((a0 - (v0 if v0 is not None else a0)) * -AUDIO_RATE))
                if skip < 0:  # audio starts after the first video frame: lead with silence
                    pending.append(np.zeros((channels, -skip), np.float32))
                    n_pending += -skip
                    skip = 0
            if skip > 0:
                cut = min(skip, arr.shape[1])
                arr, skip = arr[:, cut:], skip - cut
            room = total - written - n_pending
            if room <= 0:
                return
            arr = arr[:, :room]
            if arr.shape[1]:
                pending.append(arr)
                n_pending += arr.shape[1]

    inp = _open_media(src)
    try:
        astream = inp.streams.audio[0]
        for packet in inp.demux(astream):
            if written + n_pending >= total:
                break
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: skip it, keep the rest of the soundtrack
            for f in frames:
                take(resampler.resample(f))
            yield from emit(False)
        take(resampler.resample(None))
        yield from emit(True)
        yield from stream.encode(None)
    except av.FFmpegError as exc:
        raise InputError(f"{src}: cannot decode its audio ({exc})") from None
    finally:
        inp.close()


def _packet_time(pk: av.Packet) -> float:
    t = pk.dts if pk.dts is not None else pk.pts
    return float(t * pk.time_base) if t is not None and pk.time_base is not None else 0.0


def _mux_with_audio(video_file: Path, audio_src: Path, out_tmp: Path, out_name: Path, duration: float) -> None:
    """Copy *video_file*'s video packets and *audio_src*'s re-encoded soundtrack into *out_tmp*, interleaved."""
    acodec = FORMATS[out_name.suffix.lower()][1]
    opts = {"movflags": "+faststart"} if out_name.suffix.lower() in (".mp4", ".m4v", ".mov") else {}
    probe_in = _open_media(audio_src)
    try:
        src_channels = probe_in.streams.audio[0].codec_context.layout.nb_channels or 1
    finally:
        probe_in.close()
    layout = "mono" if src_channels == 1 else "stereo"
    try:
        with av.open(str(video_file)) as vin, av.open(str(out_tmp), "w", options=opts) as out:
            vs_in = vin.streams.video[0]
            add = getattr(out, "add_stream_from_template", None)
            vs_out = add(vs_in) if add is not None else out.add_stream(template=vs_in)
            rate = vs_in.average_rate or vs_in.guessed_rate
            if rate:  # a copied stream has no frame rate of its own; Matroska needs it for frame durations
                vs_out.codec_context.framerate = rate
            as_out = out.add_stream(acodec, rate=AUDIO_RATE, layout=layout)
            as_out.time_base = Fraction(1, AUDIO_RATE)

            def video_packets() -> Iterator[av.Packet]:
                for pk in vin.demux(vs_in):
                    if pk.size:
                        yield pk

            merged = heapq.merge(
                ((_packet_time(p), 0, p) for p in video_packets()),
                ((_packet_time(p), 1, p) for p in _audio_packets(audio_src, out, as_out, duration)),
                key=lambda item: (item[0], item[1]),
            )
            for _, kind, pk in merged:
                pk.stream = vs_out if kind == 0 else as_out
                out.mux(pk)
    except av.FFmpegError as exc:
        raise OutputError(f"{out_name}: cannot write the preview with sound ({exc})") from None


# ---------------------------------------------------------------------- the whole preview


def render_preview(
    video: str | os.PathLike,
    events: Events | str | os.PathLike | None,
    out: str | os.PathLike | None,
    *,
    max_width: int | None = DEFAULT_MAX_WIDTH,
    audio: bool | str | os.PathLike = True,
    png: str | os.PathLike | None = None,
    png_frame: int | None = None,
    window: float = WINDOW_SECONDS,
    fade: float = FADE_SECONDS,
    progress: Callable[[int], None] | None = None,
    detect_options: dict | None = None,
    detect_progress: Callable[[int], None] | None = None,
) -> EventPreview:
    """Write a review video of *video* with *events* drawn over it to *out*, and/or one still to *png*.

    *events* is an :class:`Events`, an events JSON path, or None to run the
    training-free detector (:func:`actiondubber.detect`) first. *audio*: True
    copies *video*'s soundtrack when it has one, False writes none, a path
    takes that file's soundtrack (e.g. a dubbed video). *png_frame* (default:
    the first event's frame, else 0) picks the still. *progress* is called
    with 1 per decoded frame; *detect_options* (:class:`DetectorParams`
    fields) and *detect_progress* go to the detector when it runs. Every
    input and output is checked before the detector runs or anything is
    written: :class:`InputError` for a bad video, audio file or events file
    (events of another video), :class:`OutputError` for a bad output path.
    """
    if out is None and png is None:
        raise OutputError("nothing to write: give an output video and/or a PNG file")
    events_path = None if isinstance(events, Events) or events is None else Path(events)
    audio_path = None if audio is None or isinstance(audio, bool) else Path(audio)
    inputs = [Path(video)] + [p for p in (events_path, audio_path) if p is not None]
    out_p = check_output_path(out, inputs=inputs) if out is not None else None
    if out_p is not None and out_p.suffix.lower() not in FORMATS:
        raise OutputError(f"{out_p}: unsupported preview format; use one of {', '.join(sorted(FORMATS))}")
    png_p = check_output_path(png, inputs=inputs) if png is not None else None
    if png_p is not None and png_p.suffix.lower() != ".png":
        raise OutputError(f"{png_p}: the still must be a .png file")
    if out_p is not None and png_p is not None and out_p.resolve() == png_p.resolve():
        raise OutputError(f"{out_p}: the preview video and the still cannot be the same file")
    info = probe(video)
    if png_frame is not None and not 0 <= png_frame < info.n_frames:
        raise InputError(f"{video}: has {info.n_frames} frames; the still's frame {png_frame} is out of range")
    if audio_path is not None:
        _check_audio_file(audio_path)
    if events is None:
        from actiondubber.detection.detector import detect

        ev = detect(video, progress=detect_progress, **(detect_options or {}))
    elif isinstance(events, Events):
        ev = events
    else:
        ev = load_events(events_path)
    check_events_match(ev, info, str(events_path) if events_path is not None else "events")
    audio_src = audio_path if audio_path is not None else (Path(video) if audio is True and info.has_audio else None)
    if out_p is None:
        audio_src = None
    if png_p is not None:
        png_frame = ev.events[0].frame if png_frame is None and ev.events else (png_frame or 0)
        if not 0 <= png_frame < info.n_frames:
            raise InputError(f"{video}: has {info.n_frames} frames; the still's frame {png_frame} is out of range")
    else:
        png_frame = None

    layout = preview_layout(info.width, info.height, max_width)
    times = _increasing(info.timestamps, info.fps)
    renderer = PreviewRenderer(ev, times, layout, window=window, fade=fade)
    size = None if (layout.width, layout.height) == (info.width, info.height) else (layout.width, layout.height)
    source = iter_frames(video, short_side=None, size=size, pix_fmt="rgb24")
    count = 0
    png_done = False
    last = info.n_frames - 1 if out_p is not None else png_frame
    codec = FORMATS[out_p.suffix.lower()][0] if out_p is not None else ""

    def frames() -> Iterator[np.ndarray]:
        nonlocal count, png_done
        for fr in source:
            if fr.index > last:
                break
            if progress is not None:
                progress(1)
            if out_p is None and fr.index != png_frame:
                continue
            img = renderer.render(fr.image, fr.index)
            if fr.index == png_frame:
                write_png(png_p, img)
                png_done = True
            count += 1
            yield img

    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        if out_p is None:
            for _ in frames():
                pass
        elif audio_src is None:
            write_video(out_p, frames(), info.fps, codec=codec, times=times, inputs=inputs)
        else:
            final = stack.enter_context(atomic_output(out_p))
            fd, name = tempfile.mkstemp(prefix=f".{out_p.stem}.", suffix=f".video{out_p.suffix}", dir=out_p.parent)
            os.close(fd)
            video_tmp = Path(name)
            stack.callback(lambda: video_tmp.unlink(missing_ok=True))
            write_video(video_tmp, frames(), info.fps, codec=codec, times=times, inputs=inputs)
            _mux_with_audio(video_tmp, audio_src, final, out_p, float(times[-1]) + 1.0 / (info.fps or 25.0))
        if count == 0:
            raise InputError(f"{video}: no frame could be decoded; nothing to preview")
        if png_p is not None and not png_done:
            raise InputError(f"{video}: frame {png_frame} could not be decoded for the still")
    return EventPreview(out_p, png_p, png_frame, count, layout, audio_src)
