"""Open a video with PyAV, report its facts, and stream frames at an analysis size.

Frames are decoded one at a time (never the whole video in memory), scaled by
FFmpeg's swscale straight to the analysis size and pixel format, and indexed
0-based in presentation order (the same convention as the Audible623
``sound_label`` column). Times come from the container's timestamps, so
variable-frame-rate video gets correct times.

Video in the wild is messy, so both :func:`probe` and :func:`iter_frames` read
packets through one damage-tolerant demuxer:

* a read error or an early stop inside the file (e.g. a damaged Matroska
  cluster) is logged and reading resumes at the next keyframe after it;
* a file that ends early (cut-off download) yields what is there, with a warning;
* every packet :func:`probe` counts becomes exactly one frame of
  :func:`iter_frames`: a frame the decoder cannot rebuild (damaged data, a
  missing reference) is replaced by a repeat of the previous picture with its
  own timestamp, so ``probe(p).timestamps[i] == frame.time`` for frame ``i``;
* display-matrix rotation (phone videos) is applied, and reported in
  ``VideoInfo.rotation``; ``width``/``height`` are the displayed (upright) size.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from actiondubber.errors import InputError
from actiondubber.fileio import check_input_file, ffmpeg_message
from actiondubber.types import VideoInfo

log = logging.getLogger(__name__)

#: Default analysis size: the short side of the scaled frames, in pixels.
DEFAULT_SHORT_SIDE = 128

#: swscale interpolation for the analysis scaling. AREA averages the source pixels (no aliasing
#: when shrinking 720p/4K to 128 px) and costs little next to decoding: measured on a real
#: 1280x720 H.264 clip (2 busy cores), gray at short side 128: AREA ~520 frame/s, FAST_BILINEAR ~530,
#: BILINEAR ~440, BICUBIC ~445 (medians of 4 runs); decoding dominates. Reusing one swscale context
#: for all frames (rather than ``frame.reformat`` making one per frame) doubled the rate.
INTERPOLATION = "AREA"

#: Most jumps over damaged data per file, so a file of garbage cannot loop for long.
_MAX_RESYNCS = 64
#: Packets decoded by :func:`probe` while looking for the first picture (for its rotation).
_PROBE_DECODE_PACKETS = 64
#: Unaccounted bytes between two Matroska packets that mean the demuxer skipped damage (block and
#: cluster headers take under 30 in the files we checked).
_GAP_BYTES = 128


@dataclass(frozen=True)
class Frame:
    """One decoded frame: 0-based index, time (s) and the scaled image.

    ``repeated`` is True when the frame at this timestamp could not be decoded
    (damaged data) and ``image`` repeats the previous picture instead.
    """

    index: int
    time: float
    image: np.ndarray
    repeated: bool = False


# --------------------------------------------------------------------------- opening


def _check_file(path: Path) -> None:
    check_input_file(path, "video file")


_ffmsg = ffmpeg_message


def _mp4_without_index(path: Path) -> bool:
    """True for an ISO-BMFF (MP4/MOV) file whose top-level boxes hold no ``moov`` (cut-off recording)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 8 or head[4:8] not in (b"ftyp", b"mdat", b"wide", b"free", b"skip", b"moov"):
                return False
            pos = 0
            while pos + 8 <= size:
                fh.seek(pos)
                hdr = fh.read(16)
                box_size, kind = int.from_bytes(hdr[:4], "big"), hdr[4:8]
                if kind == b"moov":
                    return False
                if box_size == 1 and len(hdr) >= 16:
                    box_size = int.from_bytes(hdr[8:16], "big")
                elif box_size == 0:
                    break  # box runs to the end of the file
                if box_size < 8:
                    break
                pos += box_size
            return True
    except OSError:
        return False


def _video_stream(container: av.container.InputContainer):
    """The first real video stream (cover art pictures in music files do not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _open(path: Path):
    """Open *path*; return ``(container, video stream)`` or raise :class:`InputError`."""
    _check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError, ValueError) as exc:
        if _mp4_without_index(path):
            raise InputError(
                f"{path}: MP4/MOV file has no index ('moov' box); it is probably cut off "
                "(an unfinished recording or download)"
            ) from None
        raise InputError(f"{path}: not a video file that can be read ({_ffmsg(exc)})") from None
    stream = _video_stream(container)
    if stream is None:
        kinds = sorted({s.type for s in container.streams if s.type != "video"})
        container.close()
        what = f" (only {', '.join(kinds)})" if kinds else ""
        raise InputError(f"{path}: contains no video stream{what}")
    if stream.codec_context is None or stream.time_base is None:
        container.close()
        raise InputError(f"{path}: video stream cannot be decoded here (codec not supported by this FFmpeg)")
    return container, stream


def analysis_size(width: int, height: int, short_side: int | None = DEFAULT_SHORT_SIDE) -> tuple[int, int]:
    """(width, height) scaled so the short side is *short_side*; even and ≥ 16 when scaled.

    A frame already at or below *short_side* (or ``short_side=None``) keeps its exact size.
    """
    if not short_side or min(width, height) <= short_side:
        return width, height
    s = short_side / min(width, height)
    w = max(16, int(round(width * s / 2)) * 2)
    h = max(16, int(round(height * s / 2)) * 2)
    return w, h


# --------------------------------------------------------------------------- warnings

_WARNED: dict[tuple, None] = {}


def _warn(path: Path, msg: str, *args) -> None:
    """Log a warning about *path* once per file version (probe and iter_frames see the same damage)."""
    try:
        st = path.stat()
        key: tuple = (str(path), st.st_size, st.st_mtime_ns, msg, args)
    except OSError:
        key = (str(path), msg, args)
    if key in _WARNED:
        return
    if len(_WARNED) > 512:
        _WARNED.clear()
    _WARNED[key] = None
    log.warning("%s: " + msg, path, *args)


# --------------------------------------------------------------------------- demuxing


def _frame_rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _parse_hms(text: str) -> float | None:
    try:
        h, m, s = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None


class _Packets:
    """Iterate a video stream's packets, jumping over damaged data; ``None`` marks "drain the decoder".

    Yields ``(packet, key, is_frame)``: ``key`` is the packet's presentation
    time in stream ticks (dts when pts is missing); ``is_frame`` is False for
    packets the container marks as discarded (before an edit list's start),
    which must still be decoded but show no frame. Empty packets are dropped.
    All streams are demuxed so that, in Matroska/WebM, bytes the demuxer
    silently skipped over (its own recovery from damage) can be noticed.
    """

    def __init__(self, container, stream, path: Path) -> None:
        self.container, self.stream, self.path = container, stream, path
        self.tb: Fraction = stream.time_base
        self.step = 1.0 / (_frame_rate(stream) or 25.0)
        self.last: int | None = None  # highest key yielded so far
        self.byte_end = 0  # end of the furthest packet payload read (any stream)
        self.byte_pos = -1  # start of the last packet read (several laced packets share one)
        self.n_resyncs = 0
        self.file_size = path.stat().st_size
        self.check_gaps = "matroska" in (container.format.name or "")
        self.end_s, self.end_is_stream = self._expected_end()

    def _expected_end(self) -> tuple[float | None, bool]:
        """Where the video should end (s, stream clock) and whether that is the stream's own figure."""
        st, c = self.stream, self.container
        start = float(st.start_time * self.tb) if st.start_time is not None else 0.0
        if st.duration:
            return start + float(st.duration * self.tb), True
        tag = _parse_hms(st.metadata.get("DURATION", "")) if st.metadata.get("DURATION") else None
        if tag:
            return start + tag, True
        if c.duration:
            return (c.start_time or 0) / 1e6 + c.duration / 1e6, False
        return None, False

    def _seconds(self, key: int | None) -> float:
        return float(key * self.tb) if key is not None else 0.0

    def _skipped_bytes(self, pk) -> int:
        """Bytes between the previous packet and *pk* that belong to no packet (0 when unknown)."""
        pos = pk.pos
        if pos is None or pos < 0:
            return 0
        if pos == self.byte_pos:  # laced packets share their block's position
            self.byte_end += pk.size
            return 0
        gap = pos - self.byte_end if self.byte_pos >= 0 else 0
        self.byte_pos = pos
        self.byte_end = max(self.byte_end, pos + pk.size)
        return gap

    def __iter__(self) -> Iterator[tuple[av.Packet, int | None, bool] | None]:
        source: Iterator = self.container.demux()
        floor: int | None = None  # after a jump, keys at or below this were already yielded
        gap_bytes = 0
        sid = self.stream.index
        while True:
            first_new: int | None = None
            error: str | None = None
            try:
                for pk in source:
                    if pk.size == 0:
                        continue
                    skipped = self._skipped_bytes(pk)
                    if self.check_gaps and skipped > _GAP_BYTES:
                        gap_bytes += skipped
                    if pk.stream_index != sid:
                        continue
                    key = pk.pts if pk.pts is not None else pk.dts
                    if floor is not None and key is not None and key <= floor:
                        continue
                    if pk.is_discard:
                        yield pk, None, False
                        continue
                    if gap_bytes:
                        _warn(
                            self.path,
                            "skipped %d bytes of damaged data; video frames between %.2f s and %.2f s are lost",
                            gap_bytes,
                            self._seconds(self.last),
                            self._seconds(key),
                        )
                        gap_bytes = 0
                    if first_new is None:
                        first_new = key
                    if key is not None:
                        self.last = key if self.last is None else max(self.last, key)
                    yield pk, key, True
            except av.FFmpegError as exc:
                error = _ffmsg(exc)
            yield None
            if floor is not None:
                _warn(
                    self.path,
                    "skipped damaged data; video frames between %.2f s and %.2f s are lost",
                    self._seconds(floor),
                    self._seconds(first_new),
                )
            if not self._ended_early(error):
                return
            source = self._resync()
            if source is None:
                self._report_stop(error)
                return
            floor = self.last

    def _ended_early(self, error: str | None) -> bool:
        if error is not None:
            return True
        if self.last is None or self.end_s is None:
            return False
        gap = self.end_s - self._seconds(self.last)
        if self.end_is_stream:
            return gap > 2.5 * self.step
        # only the whole file's duration is known: audio may legitimately run longer than video
        return gap > max(1.0, 0.1 * self.end_s)

    def _resync(self) -> Iterator | None:
        """Demux from the first keyframe after the last packet read; None when there is none."""
        if self.last is None or self.n_resyncs >= _MAX_RESYNCS:
            return None
        self.n_resyncs += 1
        last_s = self._seconds(self.last)
        horizon = (self.end_s if self.end_s is not None else last_s + 60.0) - last_s
        targets = [(self.last + 1, False)]
        delta = 0.5
        while delta < 2 * horizon:  # formats that only seek backwards: aim later and later
            targets.append((self.last + int(delta / self.tb) + 1, True))
            delta *= 2
        for target, backward in targets:
            try:
                self.container.seek(int(target), stream=self.stream, backward=backward)
                source = self.container.demux()
                for pk in source:
                    if pk.stream_index != self.stream.index or pk.size == 0:
                        continue
                    key = pk.pts if pk.pts is not None else pk.dts
                    if key is not None and key > self.last:
                        return itertools.chain([pk], source)
                    break
            except (av.FFmpegError, OSError, ValueError):
                continue
        return None

    def _report_stop(self, error: str | None) -> None:
        at = self._seconds(self.last)
        if error is not None:
            _warn(self.path, "stopped reading at damaged data after %.2f s (%s)", at, error)
        elif self.byte_end >= self.file_size * 0.9:
            _warn(self.path, "file ends early (cut off?): video stops at %.2f s of %.2f s", at, self.end_s or 0.0)
        else:
            _warn(self.path, "stopped reading at damaged data after %.2f s of %.2f s", at, self.end_s or 0.0)


# --------------------------------------------------------------------------- probe


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's facts: one demux pass plus decoding of the first picture (for its rotation).

    ``timestamps`` are the video packets' presentation times in order,
    relative to the first one; ``n_frames`` is their count, which is also the
    number of frames :func:`iter_frames` yields. Raises :class:`InputError`
    for anything that is not a readable video.
    """
    p = Path(path)
    container, stream = _open(p)
    try:
        cc = stream.codec_context
        packets = _Packets(container, stream, p)
        keys: list[int] = []
        n_no_time = 0
        rotation: int | None = None
        decoded = 0
        for item in packets:
            if item is None:
                continue
            pk, key, is_frame = item
            if is_frame:
                if key is None:
                    n_no_time += 1
                else:
                    keys.append(key)
            if rotation is None and decoded < _PROBE_DECODE_PACKETS:
                decoded += 1
                try:
                    frames = cc.decode(pk)
                except (av.FFmpegError, ValueError):
                    frames = []
                if frames:
                    rotation = _rotation(frames[0])
        width, height = int(cc.width or 0), int(cc.height or 0)
        n = len(keys) + n_no_time
        if n == 0 or width <= 0 or height <= 0:
            raise InputError(f"{p}: video stream has no readable frames")
        fps_hdr = _frame_rate(stream)
        keys.sort()
        times = [float((k - keys[0]) * stream.time_base) for k in keys]
        step = 1.0 / (fps_hdr or 25.0)
        for _ in range(n_no_time):  # packets without any container time: continue at the frame rate
            times.append(times[-1] + step if times else 0.0)
        fps = fps_hdr or 25.0
        if n > 1 and times[-1] > times[0]:
            fps_ts = (n - 1) / (times[-1] - times[0])
            # Prefer the header rate for constant-rate files (exact 30000/1001 etc.).
            fps = fps_hdr if fps_hdr > 0 and abs(fps_hdr - fps_ts) / fps_ts < 0.01 else fps_ts
        rotation = rotation or 0
        if rotation in (90, -90, 270, -270):
            width, height = height, width
        return VideoInfo(
            path=str(p),
            width=width,
            height=height,
            fps=fps,
            n_frames=n,
            duration=times[-1] - times[0] + 1.0 / fps,
            has_audio=bool(container.streams.audio),
            timestamps=tuple(times),
            codec=cc.name or "",
            pix_fmt=str(cc.format.name) if cc.format is not None else "",
            rotation=rotation,
        )
    finally:
        container.close()


def _rotation(frame) -> int:
    """Display rotation of *frame* in counter-clockwise degrees, snapped to 0/90/180/-90."""
    try:
        r = int(round(frame.rotation))
    except (AttributeError, TypeError, ValueError):
        return 0
    r = ((r + 45) // 90 * 90) % 360
    return {0: 0, 90: 90, 180: 180, 270: -90}[r]


# --------------------------------------------------------------------------- frames


class _Scaler:
    """Scale and rotate decoded frames to one fixed analysis size, reusing one swscale context."""

    def __init__(self, first, size, short_side, pix_fmt: str) -> None:
        self.rotation = _rotation(first)
        self.k = {0: 0, 90: 1, 180: 2, -90: 3}[self.rotation]
        turned = self.k % 2 == 1
        disp_w, disp_h = (first.height, first.width) if turned else (first.width, first.height)
        out_w, out_h = size if size else analysis_size(disp_w, disp_h, short_side)
        self.coded_w, self.coded_h = (out_h, out_w) if turned else (out_w, out_h)
        self.pix_fmt = pix_fmt
        self.reformatter = VideoReformatter()

    def __call__(self, frame) -> np.ndarray:
        img = self.reformatter.reformat(
            frame, width=self.coded_w, height=self.coded_h, format=self.pix_fmt, interpolation=INTERPOLATION
        ).to_ndarray()
        if self.k:
            img = np.ascontiguousarray(np.rot90(img, self.k))
        return img


def iter_frames(
    path: str | os.PathLike,
    *,
    short_side: int | None = DEFAULT_SHORT_SIDE,
    size: tuple[int, int] | None = None,
    pix_fmt: str = "gray",
    threads: bool = True,
) -> Iterator[Frame]:
    """Yield :class:`Frame` objects one at a time, upright and scaled for analysis.

    *size* (w, h) of the displayed picture overrides *short_side*. *pix_fmt*
    is an FFmpeg pixel format (``gray`` for flow, ``rgb24`` / ``bgr24`` for
    models and previews). *threads* lets FFmpeg decode on all cores (frame and
    slice threads); False decodes on one. Frame ``i`` has time ``probe(path).timestamps[i]``; damaged
    data is skipped with a logged warning (see the module docs).
    """
    p = Path(path)
    container, stream = _open(p)  # bad input fails here, at the call, not at the first next()
    if threads:
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = 0
    else:  # one thread, e.g. when the caller already decodes several videos in parallel
        stream.codec_context.thread_count = 1
    return _frames(container, stream, p, size=size, short_side=short_side, pix_fmt=pix_fmt)


def _frames(container, stream, path: Path, **kw) -> Iterator[Frame]:
    try:
        yield from _decode(container, stream, path, **kw)
    finally:
        container.close()


#: Containers whose packet pts are decode-order counters, not presentation times (AVI has no pts):
#: there the n-th picture out of the decoder gets the n-th smallest packet time.
_ORDER_ONLY_FORMATS = {"avi"}


class _Timeline:
    """Give each decoded picture its packet's time, and notice pictures the decoder never returned.

    Every packet time goes into ``pending`` when the packet is sent. A picture
    whose own pts is pending takes that time, and pending times below it are
    frames the decoder dropped (damage): they become repeats. When pictures'
    pts cannot be trusted (AVI, missing pts, pts that match no packet) the
    picture takes the smallest pending time instead ("order" mode); lost frames
    then show up only at the end.
    """

    def __init__(self, by_order: bool) -> None:
        self.pending: list[int] = []
        self.counts: dict[int, int] = {}
        self.by_order = by_order

    def add(self, key: int | None) -> None:
        if key is None:
            self.by_order = True
            return
        heapq.heappush(self.pending, key)
        self.counts[key] = self.counts.get(key, 0) + 1

    def _pop(self) -> int:
        key = heapq.heappop(self.pending)
        self.counts[key] -= 1
        if not self.counts[key]:
            del self.counts[key]
        return key

    def place(self, pts: int | None) -> tuple[list[int], int | None] | None:
        """(lost keys before it, its key) for a decoded picture; None to drop it (edit-list lead-in)."""
        if not self.by_order:
            if pts is not None and pts in self.counts:
                lost = []
                while self.pending[0] < pts:
                    lost.append(self._pop())
                return lost, self._pop()
            if pts is not None and self.pending and pts < self.pending[0]:
                return None
            self.by_order = True
            log.debug("decoded picture times do not match packet times; timing pictures by order")
        return [], (self._pop() if self.pending else None)

    def rest(self) -> list[int]:
        """Keys of packets whose pictures never came out."""
        return [self._pop() for _ in range(len(self.pending))]


def _decode(container, stream, path: Path, *, size, short_side, pix_fmt) -> Iterator[Frame]:
    cc = stream.codec_context
    tb: Fraction = stream.time_base
    step = 1.0 / (_frame_rate(stream) or 25.0)
    timeline = _Timeline(by_order=(container.format.name or "") in _ORDER_ONLY_FORMATS)
    origin: int | None = None
    index = 0
    last_time = -1.0
    last_img: np.ndarray | None = None
    scaler: _Scaler | None = None
    early: list[int | None] = []  # lost frames before the first decodable picture
    n_bad_packets = n_repeated = 0

    def time_of(key: int | None) -> float:
        nonlocal origin, last_time
        if key is not None and origin is None:
            origin = key
        t = float((key - origin) * tb) if key is not None and origin is not None else last_time + step
        if t <= last_time:  # damaged or missing timestamps: keep times increasing
            t = last_time + step
        last_time = t
        return t

    def repeats(keys) -> Iterator[Frame]:
        nonlocal index, n_repeated
        for key in keys:
            n_repeated += 1
            if last_img is None:
                early.append(key)
                continue
            yield Frame(index, time_of(key), last_img, repeated=True)
            index += 1

    def emit(frames) -> Iterator[Frame]:
        nonlocal index, scaler, last_img
        for fr in frames:
            placed = timeline.place(fr.pts)
            if placed is None:
                continue
            lost, key = placed
            yield from repeats(lost)
            if scaler is None:
                scaler = _Scaler(fr, size, short_side, pix_fmt)
            img = scaler(fr)
            for k in early:
                yield Frame(index, time_of(k), img, repeated=True)
                index += 1
            early.clear()
            last_img = img
            yield Frame(index, time_of(key), img)
            index += 1

    def decode(packet) -> list:
        nonlocal n_bad_packets
        try:
            return cc.decode(packet)
        except (av.FFmpegError, ValueError) as exc:
            n_bad_packets += 1
            if packet is not None:
                log.debug("%s: damaged packet at %s (%s)", path, packet.pts, _ffmsg(exc))
            return []

    for item in _Packets(container, stream, path):
        if item is None:  # end of file or a jump over damage: drain, then reset the decoder
            yield from emit(decode(None))
            cc.flush_buffers()
            continue
        pk, key, is_frame = item
        if is_frame:
            timeline.add(key)
        yield from emit(decode(pk))
    yield from repeats(timeline.rest())
    if scaler is None:
        raise InputError(f"{path}: no frame of the video stream could be decoded")
    if n_repeated:
        _warn(
            path,
            "%d frame(s) could not be decoded (damaged data); repeated the previous frame in their place",
            n_repeated,
        )
    elif n_bad_packets:
        _warn(path, "%d damaged packet(s) skipped", n_bad_packets)


def decoded_info(info: VideoInfo, times: Sequence[float], *, min_frames: int = 3) -> VideoInfo:
    """*info* updated with the times of the frames actually decoded (the truth after a full pass).

    Raises :class:`InputError` when fewer than *min_frames* frames were decoded; warns when the
    count differs from the container's.
    """
    n = len(times)
    if n < min_frames:
        raise InputError(f"{info.path}: only {n} frame(s) could be decoded; at least {min_frames} are needed")
    if n != info.n_frames:
        log.warning("%s: container lists %d frames, %d decoded; using the decoded frames", info.path, info.n_frames, n)
    return dataclasses.replace(info, n_frames=n, timestamps=tuple(times))
