"""A video's facts (:class:`~actiondubber.types.VideoInfo`) from one pass over its packets.

:func:`probe` reads the container once (no decoding, except the first picture for its rotation)
through the damage-tolerant demuxer of :mod:`.demux`, so every packet it counts becomes exactly one
frame of :func:`~actiondubber.video.reader.iter_frames`: ``probe(p).timestamps[i] == frame.time``
for frame ``i``. Display-matrix rotation (phone videos) is reported in ``VideoInfo.rotation``;
``width``/``height`` are the displayed (upright) size. The result is what every later stage (the
detector, dub, the review renderer, the muxer) takes instead of opening the file again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import av

from actiondubber.errors import InputError
from actiondubber.types import FALLBACK_FPS, VideoInfo
from actiondubber.video.demux import Packets, frame_rate, open_video

log = logging.getLogger(__name__)

#: Default analysis size: the short side of the scaled frames, in pixels.
DEFAULT_SHORT_SIDE = 128
#: Fewest frames that carry a second derivative (frame i needs i-1 and i+1): every stage that
#: looks at a change of motion (the detector, the model inputs) needs at least this many.
MIN_FRAMES = 3
#: Packets decoded by :func:`probe` while looking for the first picture (for its rotation).
_PROBE_DECODE_PACKETS = 64


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


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's facts: one demux pass plus decoding of the first picture (for its rotation).

    ``timestamps`` are the video packets' presentation times in order,
    relative to the first one; ``n_frames`` is their count, which is also the
    number of frames :func:`iter_frames` yields. Raises :class:`InputError`
    for anything that is not a readable video.
    """
    p = Path(path)
    container, stream = open_video(p)
    try:
        cc = stream.codec_context
        packets = Packets(container, stream, p)
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
                    rotation = frame_rotation(frames[0])
        width, height = int(cc.width or 0), int(cc.height or 0)
        n = len(keys) + n_no_time
        if n == 0 or width <= 0 or height <= 0:
            raise InputError(f"{p}: video stream has no readable frames")
        fps_hdr = frame_rate(stream)
        keys.sort()
        times = [float((k - keys[0]) * stream.time_base) for k in keys]
        step = 1.0 / (fps_hdr or FALLBACK_FPS)
        for _ in range(n_no_time):  # packets without any container time: continue at the frame rate
            times.append(times[-1] + step if times else 0.0)
        fps = fps_hdr or FALLBACK_FPS
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


def frame_rotation(frame) -> int:
    """Display rotation of *frame* in counter-clockwise degrees, snapped to 0/90/180/-90."""
    try:
        r = int(round(frame.rotation))
    except (AttributeError, TypeError, ValueError):
        return 0
    r = ((r + 45) // 90 * 90) % 360
    return {0: 0, 90: 90, 180: 180, 270: -90}[r]


def decoded_info(info: VideoInfo, times: Sequence[float], *, min_frames: int = MIN_FRAMES) -> VideoInfo:
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
