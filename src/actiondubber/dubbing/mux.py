"""Write the dubbed video: the input's video stream copied untouched, plus a new soundtrack.

The video packets are remuxed as they are (no decoding, no quality loss, the
same frames and timestamps), shifted so that the first frame is at time 0,
which is where the new soundtrack starts: sample ``k`` of the new audio plays
at ``k / sr`` seconds after the first frame. When the output container cannot
hold the input's video codec (e.g. H.264 into WebM), the video is re-encoded
instead (VP9 for WebM, H.264 otherwise) with a logged warning.

Audio codec by container: AAC for MP4/MOV/M4V, Opus for MKV/WebM (Vorbis when
this FFmpeg has no Opus encoder). Audio packets are encoded while the video
is copied, interleaved by time, so memory holds only the soundtrack array.
The file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from actiondubber.errors import InputError, OutputError
from actiondubber.fileio import atomic_output, check_output_path

log = logging.getLogger(__name__)

#: Audio encoder preferences per output extension.
AUDIO_CODECS: dict[str, tuple[str, ...]] = {
    ".mp4": ("aac",),
    ".m4v": ("aac",),
    ".mov": ("aac",),
    ".mkv": ("libopus", "libvorbis", "vorbis", "aac"),
    ".webm": ("libopus", "libvorbis", "vorbis"),
}
#: Encoders that only take these sample rates.
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)
#: Video re-encoders used when the stream cannot be copied, per extension (default: H.264).
_REENCODE = {".webm": ("libvpx-vp9", {"deadline": "good", "cpu-used": "4", "crf": "30", "b": "0"})}
_REENCODE_DEFAULT = ("libx264", {"crf": "18", "preset": "veryfast"})
#: Encoder options: FFmpeg's AAC "fast" coder (a simpler quantiser search) is ~3x faster than its default
#: "twoloop" (measured: 10 s of stereo noise at 192 kb/s, 0.17 s vs 0.52 s); chosen for speed, since
#: encoding the soundtrack is most of dub's own time.
_AUDIO_OPTIONS = {"aac": {"aac_coder": "fast"}}
#: Audio is encoded up to this far (s) ahead of the video packet being copied.
_AUDIO_LEAD = 0.5


@dataclass(frozen=True)
class VideoTiming:
    """Where a video stream's frames lie: first frame time (s, stream clock), length (s), packet count.

    ``duration`` runs from the first frame's start to the last frame's end
    (the last frame's own duration included).
    """

    start: float
    duration: float
    n_frames: int


@dataclass(frozen=True)
class MuxResult:
    """What :func:`write_dubbed` wrote: path, whether the video was copied, the codecs, the frame count."""

    path: Path
    video_copied: bool
    video_codec: str
    audio_codec: str
    n_frames: int


def output_audio_codec(out: str | os.PathLike) -> str:
    """The audio encoder used for *out*'s container; :class:`OutputError` for an unsupported extension."""
    p = Path(out)
    choices = AUDIO_CODECS.get(p.suffix.lower())
    if choices is None:
        raise OutputError(
            f"{p}: cannot write a dubbed video with extension {p.suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(AUDIO_CODECS))}"
        )
    for name in choices:
        if name in av.codecs_available:
            return name
    raise OutputError(f"{p}: this FFmpeg build has no audio encoder for {p.suffix} ({', '.join(choices)})")


def output_sample_rate(codec: str, wanted: int = 48000) -> int:
    """A sample rate *codec* accepts, as close to *wanted* as it allows (Opus: 48 kHz and a few divisors)."""
    if codec in ("libopus", "opus"):
        return wanted if wanted in _OPUS_RATES else 48000
    return wanted


def _video_stream(container):
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _open_video(path: Path):
    if not path.is_file():
        raise InputError(f"{path}: video file not found")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a video file that can be read ({exc})") from None
    stream = _video_stream(container)
    if stream is None:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    return container, stream


def video_timing(path: str | os.PathLike) -> VideoTiming:
    """One demux pass (no decoding) over *path*'s video packets: first frame time, length, frame count."""
    p = Path(path)
    container, stream = _open_video(p)
    try:
        tb = stream.time_base
        first = end = None
        n = 0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        step = Fraction(1) / rate if rate else Fraction(1, 25)
        try:
            for pk in container.demux(stream):
                if pk.size == 0 or pk.is_discard:
                    continue
                key = pk.pts if pk.pts is not None else pk.dts
                if key is None:
                    continue
                n += 1
                t = key * tb
                dur = pk.duration * tb if pk.duration else step
                first = t if first is None else min(first, t)
                end = t + dur if end is None else max(end, t + dur)
        except av.FFmpegError as exc:
            log.warning("%s: stopped reading video packets at damaged data (%s)", p, exc)
        if first is None:
            raise InputError(f"{p}: video stream has no frames with timestamps")
        return VideoTiming(float(first), float(end - first), n)
    finally:
        container.close()


def _audio_chunks(audio: np.ndarray, sr: int, layout: str, chunk: int) -> Iterator[tuple[float, av.AudioFrame]]:
    """``(end time s, frame)`` for consecutive *chunk*-sample pieces of *audio* ``(channels, n)``."""
    n = audio.shape[1]
    tb = Fraction(1, sr)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, a:b], dtype=np.float32), format="fltp",
                                           layout=layout)
        frame.sample_rate = sr
        frame.pts = a
        frame.time_base = tb
        yield b / sr, frame


class _CannotCopy(Exception):
    """The output container refused the copied video stream."""


def _why(exc: BaseException) -> str:
    """FFmpeg's reason without the (temporary) file name it names."""
    return (getattr(exc, "strerror", None) or str(exc)).strip()


def _add_template(out, stream):
    """A new output stream with *stream*'s codec parameters (PyAV >= 14 and older spellings)."""
    add = getattr(out, "add_stream_from_template", None)
    if add is not None:
        return add(stream)
    return out.add_stream(template=stream)  # PyAV < 14


def _write(src: Path, tmp: Path, out_p: Path, audio: np.ndarray, sr: int, acodec: str, *, copy: bool,
           rotation: int) -> tuple[str, int]:
    """Mux (copy or re-encode) the video of *src* plus *audio* into *tmp*; returns (video codec, frames)."""
    container_opts = {"movflags": "+faststart"} if out_p.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
    inp, ivs = _open_video(src)
    try:
        with av.open(str(tmp), "w", options=container_opts) as out:
            in_tb: Fraction = ivs.time_base
            codec_name = ivs.codec_context.codec.canonical_name if ivs.codec_context is not None else "?"
            if copy:
                if codec_name not in out.supported_codecs:
                    raise _CannotCopy(f"{out_p.suffix} files cannot hold {codec_name} video")
                try:
                    ovs = _add_template(out, ivs)
                except (ValueError, av.FFmpegError) as exc:
                    raise _CannotCopy(_why(exc)) from None
                ovs.time_base = in_tb
                if ivs.average_rate:  # as FFmpeg's stream copy does: the muxer may write it (Matroska's frame rate)
                    ovs.codec_context.framerate = ivs.average_rate
                vname = codec_name
                dec = enc = None
            else:
                vname, opts = _REENCODE.get(out_p.suffix.lower(), _REENCODE_DEFAULT)
                if vname not in av.codecs_available:
                    raise OutputError(f"{out_p}: video encoder {vname} is not available to re-encode the video")
                dec = ivs.codec_context
                dec.thread_type = "AUTO"
                rate = ivs.average_rate or ivs.guessed_rate or Fraction(25)
                ovs = enc = out.add_stream(vname, rate=rate, options=dict(opts))
                ovs.width, ovs.height = dec.width, dec.height
                ovs.pix_fmt = "yuv420p"
                ovs.time_base = in_tb
                ovs.codec_context.time_base = in_tb
                ovs.codec_context.thread_count = 0
                if rotation:
                    ovs.set_display_rotation(rotation)
            channels = audio.shape[0]
            layout = "mono" if channels == 1 else "stereo"
            oas = out.add_stream(acodec, rate=sr, layout=layout, options=dict(_AUDIO_OPTIONS.get(acodec, {})))
            oas.bit_rate = 96000 * channels
            try:
                out.start_encoding()
            except (av.FFmpegError, ValueError) as exc:
                if copy:
                    raise _CannotCopy(_why(exc)) from None
                raise
            chunk = oas.codec_context.frame_size or 1024
            chunks = _audio_chunks(audio, sr, layout, chunk)
            pending: tuple[float, av.AudioFrame] | None = None
            done_audio = False

            def audio_until(t: float) -> None:
                nonlocal pending, done_audio
                while not done_audio:
                    if pending is None:
                        pending = next(chunks, None)
                        if pending is None:
                            done_audio = True
                            out.mux(oas.encode(None))
                            return
                    if pending[0] - pending[1].samples / sr > t:
                        return
                    out.mux(oas.encode(pending[1]))
                    pending = None

            t0 = _first_pts(src)
            n_frames = 0
            for pk in inp.demux(ivs):
                if pk.size == 0:
                    continue
                if copy:
                    if pk.pts is None:
                        pk.pts = pk.dts
                    if pk.pts is None:
                        raise _CannotCopy("video packets carry no timestamps")
                    pk.pts -= t0
                    if pk.dts is not None:
                        pk.dts -= t0
                    if not pk.is_discard:
                        n_frames += 1
                    key = pk.dts if pk.dts is not None else pk.pts
                    audio_until(float(key * in_tb) + _AUDIO_LEAD)
                    pk.stream = ovs
                    try:
                        out.mux(pk)
                    except av.FFmpegError as exc:
                        if n_frames <= 1:
                            raise _CannotCopy(_why(exc)) from None
                        raise
                else:
                    for fr in dec.decode(pk):
                        n_frames += _encode(out, enc, fr, t0, in_tb, audio_until)
            if not copy:
                for fr in dec.decode(None):
                    n_frames += _encode(out, enc, fr, t0, in_tb, audio_until)
                out.mux(enc.encode(None))
            audio_until(float("inf"))
        return vname, n_frames
    finally:
        inp.close()


def _encode(out, enc, fr, t0: int, tb: Fraction, audio_until) -> int:
    if fr.pts is not None:
        fr.pts -= t0
        fr.time_base = tb
        audio_until(float(fr.pts * tb) + _AUDIO_LEAD)
    fr.pict_type = av.video.frame.PictureType.NONE
    out.mux(enc.encode(fr))
    return 1


def _first_pts(path: Path) -> int:
    """The smallest presentation timestamp of a shown frame, in stream ticks (the time 0 of the output)."""
    container, stream = _open_video(path)
    try:
        first = None
        for pk in container.demux(stream):
            if pk.size == 0 or pk.is_discard:
                continue
            key = pk.pts if pk.pts is not None else pk.dts
            if key is not None:
                first = key if first is None else min(first, key)
        return first or 0
    except av.FFmpegError:
        return first or 0
    finally:
        container.close()


def write_dubbed(
    video: str | os.PathLike,
    out: str | os.PathLike,
    audio: np.ndarray,
    sr: int,
    *,
    inputs: list[str | os.PathLike] | tuple = (),
    rotation: int = 0,
) -> MuxResult:
    """Write *video*'s picture with *audio* ``(channels, n)`` (float32 at *sr*, time 0 = first frame) to *out*.

    The video stream is copied without re-encoding when *out*'s container can
    hold it, else re-encoded with a warning (*rotation*, counter-clockwise
    degrees, is then written as display metadata). *inputs* are further files
    *out* must not overwrite. Raises :class:`OutputError` when *out* cannot be
    written (nothing is left behind) and :class:`InputError` for an unreadable
    *video*.
    """
    src = Path(video)
    out_p = check_output_path(out, inputs=[src, *inputs])
    acodec = output_audio_codec(out_p)
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if audio.shape[0] not in (1, 2):
        raise ValueError(f"audio must have 1 or 2 channels, got {audio.shape[0]}")
    if sr != output_sample_rate(acodec, sr):
        raise ValueError(f"{acodec} cannot encode {sr} Hz audio")
    try:
        with atomic_output(out_p) as tmp:
            try:
                vname, n = _write(src, tmp, out_p, audio, sr, acodec, copy=True, rotation=rotation)
                copied = True
            except _CannotCopy as exc:
                enc = _REENCODE.get(out_p.suffix.lower(), _REENCODE_DEFAULT)[0]
                log.warning("%s: the video stream cannot be copied into this container (%s); re-encoding it with %s",
                            out_p, exc, enc)
                vname, n = _write(src, tmp, out_p, audio, sr, acodec, copy=False, rotation=rotation)
                copied = False
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"{out_p}: cannot write the dubbed video ({_why(exc)})") from None
    return MuxResult(out_p, copied, vname, acodec, n)
