"""Open a video file and read its video packets, jumping over damaged data.

:func:`open_video` is the one place a video file is opened for reading (input checks, a clear
:class:`~actiondubber.errors.InputError` for what is not a video); :class:`Packets` is the
damage-tolerant demuxer that both :func:`~actiondubber.video.facts.probe` and
:func:`~actiondubber.video.reader.iter_frames` read through, so they count the same frames:

* a read error or an early stop inside the file (e.g. a damaged Matroska
  cluster) is logged and reading resumes at the next keyframe after it;
* a file that ends early (cut-off download) yields what is there, with a warning.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from actiondubber.errors import InputError
from actiondubber.fileio import check_input_file, ffmpeg_message
from actiondubber.types import FALLBACK_FPS

log = logging.getLogger(__name__)

#: Most jumps over damaged data per file, so a file of garbage cannot loop for long.
_MAX_RESYNCS = 64
#: Unaccounted bytes between two Matroska packets that mean the demuxer skipped damage (block and
#: cluster headers take under 30 in the files we checked).
_GAP_BYTES = 128

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


def video_stream(container: av.container.InputContainer):
    """The first real video stream (cover art pictures in music files do not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def open_video(path: Path):
    """Open *path*; return ``(container, video stream)`` or raise :class:`InputError`."""
    check_input_file(path, "video file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError, ValueError) as exc:
        if _mp4_without_index(path):
            raise InputError(
                f"{path}: MP4/MOV file has no index ('moov' box); it is probably cut off "
                "(an unfinished recording or download)"
            ) from None
        raise InputError(f"{path}: not a video file that can be read ({ffmpeg_message(exc)})") from None
    stream = video_stream(container)
    if stream is None:
        kinds = sorted({s.type for s in container.streams if s.type != "video"})
        container.close()
        what = f" (only {', '.join(kinds)})" if kinds else ""
        raise InputError(f"{path}: contains no video stream{what}")
    if stream.codec_context is None or stream.time_base is None:
        container.close()
        raise InputError(f"{path}: video stream cannot be decoded here (codec not supported by this FFmpeg)")
    return container, stream


# --------------------------------------------------------------------------- warnings

_WARNED: dict[tuple, None] = {}


def warn_once(path: Path, msg: str, *args) -> None:
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


def frame_rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _parse_hms(text: str) -> float | None:
    try:
        h, m, s = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None


class Packets:
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
        self.step = 1.0 / (frame_rate(stream) or FALLBACK_FPS)
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
                        warn_once(
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
                error = ffmpeg_message(exc)
            yield None
            if floor is not None:
                warn_once(
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
            warn_once(self.path, "stopped reading at damaged data after %.2f s (%s)", at, error)
        elif self.byte_end >= self.file_size * 0.9:
            warn_once(self.path, "file ends early (cut off?): video stops at %.2f s of %.2f s", at, self.end_s or 0.0)
        else:
            warn_once(self.path, "stopped reading at damaged data after %.2f s of %.2f s", at, self.end_s or 0.0)

