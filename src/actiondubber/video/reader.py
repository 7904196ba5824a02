"""Stream a video's frames one at a time, upright and scaled to an analysis size (PyAV/FFmpeg).

Frames are decoded one at a time (never the whole video in memory), scaled by
FFmpeg's swscale straight to the analysis size and pixel format, and indexed
0-based in presentation order (the same convention as the Audible623
``sound_label`` column). Times come from the container's timestamps, so
variable-frame-rate video gets correct times. Packets are read through the
damage-tolerant demuxer of :mod:`.demux`, the one :func:`~actiondubber.video.facts.probe`
counts with, so every packet it counts becomes exactly one :class:`Frame`: a frame the
decoder cannot rebuild (damaged data, a missing reference) is replaced by a repeat of the
previous picture with its own timestamp, so ``probe(p).timestamps[i] == frame.time``.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from actiondubber.errors import InputError, ParameterError
from actiondubber.fileio import ffmpeg_message
from actiondubber.types import FALLBACK_FPS
from actiondubber.video.demux import Packets, frame_rate, open_video, warn_once
from actiondubber.video.facts import (  # the probe names stay importable from here too
    DEFAULT_SHORT_SIDE,
    MIN_FRAMES,
    analysis_size,
    decoded_info,
    frame_rotation,
    probe,
)

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SHORT_SIDE", "INTERPOLATION", "MIN_FRAMES", "Frame", "analysis_size", "decoded_info",
           "iter_frame_sets", "iter_frames", "probe"]

#: swscale interpolation for the analysis scaling. AREA averages the source pixels (no aliasing
#: when shrinking 720p/4K to 128 px) and costs little next to decoding: measured on a real
#: 1280x720 H.264 clip (2 busy cores), gray at short side 128: AREA ~520 frame/s, FAST_BILINEAR ~530,
#: BILINEAR ~440, BICUBIC ~445 (medians of 4 runs); decoding dominates. Reusing one swscale context
#: for all frames (rather than ``frame.reformat`` making one per frame) doubled the rate.
INTERPOLATION = "AREA"


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



class _Scaler:
    """Scale and rotate decoded frames to one fixed analysis size, reusing one swscale context."""

    def __init__(self, first, size, short_side, pix_fmt: str) -> None:
        self.rotation = frame_rotation(first)
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
    skip_deblock: bool = False,
) -> Iterator[Frame]:
    """Yield :class:`Frame` objects one at a time, upright and scaled for analysis.

    *size* (w, h) of the displayed picture overrides *short_side*. *pix_fmt*
    is an FFmpeg pixel format (``gray`` for flow, ``rgb24`` / ``bgr24`` for
    models and previews). *threads* lets FFmpeg decode on all cores (frame and
    slice threads); False decodes on one. *skip_deblock* decodes without the codec's in-loop
    deblocking filter (FFmpeg's ``skip_loop_filter``; H.264, HEVC and VP8/9 honour it, others ignore
    it): about a quarter less decode work, with block edges left in the picture, and the small
    differences carried on to the frames predicted from it until the next key frame (at 96 px on a
    CRF 23 H.264 clip, 250-frame GOP: under 0.3 grey levels on average). Frame ``i`` has time
    ``probe(path).timestamps[i]``; damaged data is skipped with a logged warning (see the module docs).
    """
    sets = iter_frame_sets(path, short_sides=(short_side,), size=size, pix_fmt=pix_fmt, threads=threads,
                           skip_deblock=skip_deblock)
    return _only(sets)


def _only(sets: Iterator[tuple[Frame, ...]]) -> Iterator[Frame]:
    with closing(sets):  # closing this generator closes the decoder's (and the file) at once
        for fs in sets:
            yield fs[0]


def iter_frame_sets(
    path: str | os.PathLike,
    *,
    short_sides: Sequence[int | None],
    size: tuple[int, int] | None = None,
    pix_fmt: str = "gray",
    threads: bool = True,
    skip_deblock: bool = False,
) -> Iterator[tuple[Frame, ...]]:
    """As :func:`iter_frames`, decoding once and scaling each picture to every one of *short_sides*: one
    :class:`Frame` per size (same index, time and ``repeated``), in that order. For analyses at several
    sizes, which would otherwise decode the video once per size. *size* (w, h) applies to the first."""
    p = Path(path)
    if not short_sides:
        raise ParameterError("iter_frame_sets needs at least one short side")
    container, stream = open_video(p)  # bad input fails here, at the call, not at the first next()
    if threads:
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = 0
    else:  # one thread, e.g. when the caller already decodes several videos in parallel
        stream.codec_context.thread_count = 1
    if skip_deblock:
        stream.codec_context.options = {**stream.codec_context.options, "skip_loop_filter": "all"}
    sizes = [(size if i == 0 else None, side) for i, side in enumerate(short_sides)]
    return _frames(container, stream, p, sizes=sizes, pix_fmt=pix_fmt)


def _frames(container, stream, path: Path, **kw) -> Iterator[tuple[Frame, ...]]:
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


def _decode(container, stream, path: Path, *, sizes, pix_fmt) -> Iterator[tuple[Frame, ...]]:
    cc = stream.codec_context
    tb: Fraction = stream.time_base
    step = 1.0 / (frame_rate(stream) or FALLBACK_FPS)
    timeline = _Timeline(by_order=(container.format.name or "") in _ORDER_ONLY_FORMATS)
    origin: int | None = None
    index = 0
    last_time = -1.0
    last_imgs: tuple[np.ndarray, ...] | None = None
    scalers: list[_Scaler] | None = None
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

    def repeats(keys) -> Iterator[tuple[Frame, ...]]:
        nonlocal index, n_repeated
        for key in keys:
            n_repeated += 1
            if last_imgs is None:
                early.append(key)
                continue
            t = time_of(key)
            yield tuple(Frame(index, t, img, repeated=True) for img in last_imgs)
            index += 1

    def emit(frames) -> Iterator[tuple[Frame, ...]]:
        nonlocal index, scalers, last_imgs
        for fr in frames:
            placed = timeline.place(fr.pts)
            if placed is None:
                continue
            lost, key = placed
            yield from repeats(lost)
            if scalers is None:
                scalers = [_Scaler(fr, size, short_side, pix_fmt) for size, short_side in sizes]
            imgs = tuple(sc(fr) for sc in scalers)
            for k in early:
                t = time_of(k)
                yield tuple(Frame(index, t, img, repeated=True) for img in imgs)
                index += 1
            early.clear()
            last_imgs = imgs
            t = time_of(key)
            yield tuple(Frame(index, t, img) for img in imgs)
            index += 1

    def decode(packet) -> list:
        nonlocal n_bad_packets
        try:
            return cc.decode(packet)
        except (av.FFmpegError, ValueError) as exc:
            n_bad_packets += 1
            if packet is not None:
                log.debug("%s: damaged packet at %s (%s)", path, packet.pts, ffmpeg_message(exc))
            return []

    for item in Packets(container, stream, path):
        if item is None:  # end of file or a jump over damage: drain, then reset the decoder
            yield from emit(decode(None))
            cc.flush_buffers()
            continue
        pk, key, is_frame = item
        if is_frame:
            timeline.add(key)
        yield from emit(decode(pk))
    yield from repeats(timeline.rest())
    if scalers is None:
        raise InputError(f"{path}: no frame of the video stream could be decoded")
    if n_repeated:
        warn_once(
            path,
            "%d frame(s) could not be decoded (damaged data); repeated the previous frame in their place",
            n_repeated,
        )
    elif n_bad_packets:
        warn_once(path, "%d damaged packet(s) skipped", n_bad_packets)

