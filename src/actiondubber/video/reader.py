"""Open a video with PyAV, report its facts, and stream frames at an analysis size.

Frames are decoded one at a time (never the whole video in memory), scaled by
FFmpeg's swscale straight to the analysis size and pixel format, and indexed
0-based in the order the decoder returns them (presentation order; the same
convention as the Audible623 ``sound_label`` column). Times come from the
container's timestamps, so variable-frame-rate video gets correct times.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from actiondubber.errors import InputError
from actiondubber.types import VideoInfo

log = logging.getLogger(__name__)

#: Default analysis size: the short side of the scaled frames, in pixels.
DEFAULT_SHORT_SIDE = 128


@dataclass(frozen=True)
class Frame:
    """One decoded frame: 0-based index, time (s) and the scaled image."""

    index: int
    time: float
    image: np.ndarray


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: file is not readable")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")


def _open(path: Path) -> av.container.InputContainer:
    _check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: not a readable video file ({_ffmsg(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    return container


def _ffmsg(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.split(":")[-1].strip() if "]" in msg else msg.strip()


def analysis_size(width: int, height: int, short_side: int | None = DEFAULT_SHORT_SIDE) -> tuple[int, int]:
    """(width, height) scaled so the short side is *short_side* (even, ≥ 16); None keeps the size."""
    if not short_side or min(width, height) <= short_side:
        return width - width % 2, height - height % 2
    s = short_side / min(width, height)
    w = max(16, int(round(width * s / 2)) * 2)
    h = max(16, int(round(height * s / 2)) * 2)
    return w, h


def _stream_start(stream, container) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    if container.start_time is not None:
        return container.start_time / 1e6
    return 0.0


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's facts without decoding pixels (one fast demux pass).

    Per-frame timestamps come from the video packets' presentation times,
    sorted and made relative to the stream start. Raises :class:`InputError`
    for anything that is not a decodable video.
    """
    p = Path(path)
    container = _open(p)
    try:
        stream = container.streams.video[0]
        tb = stream.time_base
        start = _stream_start(stream, container)
        pts = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                t = packet.pts if packet.pts is not None else packet.dts
                if t is not None:
                    pts.append(float(t * tb) - start)
        except av.FFmpegError as exc:
            log.warning("%s: stopped reading at a damaged packet (%s)", p, _ffmsg(exc))
        times = tuple(sorted(pts))
        cc = stream.codec_context
        width, height = int(cc.width or 0), int(cc.height or 0)
        if not times or width <= 0 or height <= 0:
            raise InputError(f"{p}: video stream has no decodable frames")
        n = len(times)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps_hdr = float(rate) if rate else 0.0
        if n > 1 and times[-1] > times[0]:
            fps = (n - 1) / (times[-1] - times[0])
            # Prefer the header rate for constant-rate files (exact 30000/1001 etc.).
            if fps_hdr > 0 and abs(fps_hdr - fps) / fps < 0.01:
                fps = fps_hdr
        else:
            fps = fps_hdr or 25.0
        frame_dur = 1.0 / fps if fps > 0 else 0.0
        duration = times[-1] - times[0] + frame_dur
        return VideoInfo(
            path=str(p),
            width=width,
            height=height,
            fps=fps,
            n_frames=n,
            duration=duration,
            has_audio=bool(container.streams.audio),
            timestamps=tuple(t - times[0] for t in times),
            codec=stream.codec_context.name or "",
            pix_fmt=str(cc.format.name) if cc.format is not None else "",
        )
    finally:
        container.close()


def iter_frames(
    path: str | os.PathLike,
    *,
    short_side: int | None = DEFAULT_SHORT_SIDE,
    size: tuple[int, int] | None = None,
    pix_fmt: str = "gray",
    threads: bool = True,
) -> Iterator[Frame]:
    """Yield :class:`Frame` objects one at a time, scaled for analysis.

    *size* (w, h) overrides *short_side*. *pix_fmt* is an FFmpeg pixel format
    (``gray`` for flow, ``rgb24`` / ``bgr24`` for models and previews).
    Packets that fail to decode are skipped with a warning; frame times are
    the container's presentation times relative to the first frame.
    """
    p = Path(path)
    container = _open(p)
    try:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        cc = stream.codec_context
        w, h = size if size else analysis_size(cc.width, cc.height, short_side)
        tb = stream.time_base
        rate = stream.average_rate or stream.guessed_rate
        dt = 1.0 / float(rate) if rate else 1.0 / 25.0
        t0: float | None = None
        last_t = None
        index = 0
        n_bad = 0

        def emit(frames):
            nonlocal t0, last_t, index
            for fr in frames:
                if fr.pts is not None and tb is not None:
                    t = float(fr.pts * tb)
                elif last_t is not None:
                    t = last_t + dt
                else:
                    t = 0.0
                if t0 is None:
                    t0 = t
                rel = t - t0
                if last_t is not None and rel <= last_t - 1e-9:
                    rel = last_t + dt  # damaged timestamps: keep times increasing
                last_t = rel
                img = fr.reformat(width=w, height=h, format=pix_fmt, interpolation="AREA").to_ndarray()
                yield Frame(index, rel, img)
                index += 1

        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                n_bad += 1
                log.warning("%s: skipped a damaged packet at %s (%s)", p, packet.pts, _ffmsg(exc))
                continue
            yield from emit(frames)
        if n_bad:
            log.warning("%s: %d damaged packet(s) skipped", p, n_bad)
    except av.FFmpegError as exc:
        raise InputError(f"{p}: cannot decode video ({_ffmsg(exc)})") from None
    finally:
        container.close()
