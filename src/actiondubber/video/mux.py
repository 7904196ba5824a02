"""The one muxer: a video stream and a soundtrack, interleaved by time, written atomically.

Every video file the package writes with sound goes through :class:`Muxer`: the dubbed video
(:func:`mux_video_file`: the input's video stream copied packet for packet, or re-encoded when the
output container cannot hold it), the review video and the synthetic clips
(:func:`actiondubber.video.writer.write_video`: frames encoded one at a time). The soundtrack is
a :class:`Soundtrack` (samples on the video's clock: sample ``k`` plays ``k / sr`` seconds after
the first frame), encoded in chunks as the video goes, at most :data:`AUDIO_LEAD` seconds ahead of
it, so the two streams are interleaved by time and memory holds no encoded stream. The file
appears under its final name only when complete (:func:`actiondubber.fileio.atomic_output`).

Audio codec by container (:data:`AUDIO_CODECS`): AAC for MP4/MOV/M4V, Opus for MKV/WebM (Vorbis
when this FFmpeg has no Opus encoder).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from actiondubber.errors import OutputError, ParameterError
from actiondubber.fileio import atomic_output, check_output_path
from actiondubber.types import FALLBACK_FPS
from actiondubber.video.demux import open_video

log = logging.getLogger(__name__)

#: Audio encoder preferences per output extension.
AUDIO_CODECS: dict[str, tuple[str, ...]] = {
    ".mp4": ("aac",),
    ".m4v": ("aac",),
    ".mov": ("aac",),
    ".mkv": ("libopus", "libvorbis", "vorbis", "aac"),
    ".webm": ("libopus", "libvorbis", "vorbis"),
}
#: Extensions whose files get their index at the front (``+faststart``: playable while downloading).
FASTSTART = (".mp4", ".m4v", ".mov")
#: Encoders that only take these sample rates.
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)
#: Video re-encoders used when a stream cannot be copied, per extension (default: H.264).
_REENCODE = {".webm": ("libvpx-vp9", {"deadline": "good", "cpu-used": "4", "crf": "30", "b": "0"})}
_REENCODE_DEFAULT = ("libx264", {"crf": "18", "preset": "veryfast"})
#: Encoder options: FFmpeg's AAC "fast" coder (a simpler quantiser search) is ~3x faster than its default
#: "twoloop" (measured: 10 s of stereo noise at 192 kb/s, 0.17 s vs 0.52 s); chosen for speed, since
#: encoding the soundtrack is most of dub's own time.
_AUDIO_OPTIONS = {"aac": {"aac_coder": "fast"}}
#: Audio bit rate per channel (b/s).
AUDIO_BITRATE = 96000
#: Audio is encoded up to this far (s) ahead of the video packet being written.
AUDIO_LEAD = 0.5
#: Video packets read before the first one is written, to find the smallest presentation time
#: (B-frames reorder within a few packets); that time becomes the output's time 0.
_HEAD_PACKETS = 48


class Soundtrack(Protocol):
    """Samples to encode, read in increasing chunks: ``chunk(start, n)`` is float32 ``(channels, n)``."""

    channels: int
    n_samples: int

    def chunk(self, start: int, n: int) -> np.ndarray: ...


class ArraySoundtrack:
    """A :class:`Soundtrack` over a ``(channels, n)`` (or 1-D, mono) float array held in memory."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
        self.channels, self.n_samples = int(self.samples.shape[0]), int(self.samples.shape[1])

    def chunk(self, start: int, n: int) -> np.ndarray:
        return self.samples[:, start : start + n]


def as_soundtrack(audio: np.ndarray | Soundtrack | None) -> Soundtrack | None:
    """*audio* as a :class:`Soundtrack` (arrays are wrapped); checks it has 1 or 2 channels."""
    if audio is None:
        return None
    track = ArraySoundtrack(audio) if isinstance(audio, np.ndarray) else audio
    if track.channels not in (1, 2):
        raise ParameterError(f"audio must have 1 or 2 channels, got {track.channels}")
    return track


@dataclass(frozen=True)
class MuxResult:
    """What :func:`mux_video_file` wrote: path, whether the video was copied, the codecs, the frame count."""

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
            f"{p}: cannot write a video with sound with extension {p.suffix or '(none)'!r}; "
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


def container_options(out: Path) -> dict[str, str]:
    """Muxer options for *out*'s container (``+faststart`` for MP4/MOV/M4V)."""
    return {"movflags": "+faststart"} if out.suffix.lower() in FASTSTART else {}


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's reason without the (temporary) file name it names."""
    return (getattr(exc, "strerror", None) or str(exc)).strip()


class Muxer:
    """One output file being written: a video stream added by the caller, the soundtrack, interleaving.

    Use: ``m = Muxer(tmp, out_name, soundtrack, sr)``; add the video stream to
    ``m.container``; ``m.start()``; for each encoded or copied video packet,
    ``m.write_video(packets, t)`` with the packet's time *t* (s, output clock);
    ``m.finish()``. The soundtrack is encoded up to ``t + AUDIO_LEAD`` before
    each video write. Closing the container is the caller's (``with m:``).
    """

    def __init__(self, tmp: Path, out_name: Path, soundtrack: Soundtrack | None, sr: int | None,
                 *, audio_codec: str | None = None) -> None:
        self.container = av.open(str(tmp), "w", options=container_options(out_name))
        self.track = soundtrack
        self.sr = int(sr or 0)
        self.audio_codec = ""
        self.astream = None
        if soundtrack is not None:
            self.audio_codec = audio_codec or output_audio_codec(out_name)
            if self.sr <= 0 or self.sr != output_sample_rate(self.audio_codec, self.sr):
                self.container.close()
                raise ParameterError(f"{self.audio_codec} cannot encode {sr} Hz audio")
        self._pos = 0  # next sample to encode
        self._done = soundtrack is None

    def __enter__(self) -> Muxer:
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def start(self) -> None:
        """Add the audio stream (after the video stream, so the video is stream 0) and write the header."""
        if self.track is not None:
            layout = "mono" if self.track.channels == 1 else "stereo"
            self.astream = self.container.add_stream(self.audio_codec, rate=self.sr, layout=layout,
                                                     options=dict(_AUDIO_OPTIONS.get(self.audio_codec, {})))
            self.astream.bit_rate = AUDIO_BITRATE * self.track.channels
        self.container.start_encoding()

    def _audio_until(self, t: float) -> None:
        """Encode the soundtrack's chunks that start at or before *t* seconds."""
        if self._done:
            return
        cc = self.astream.codec_context
        size = cc.frame_size or 1024
        fmt = cc.format.name
        layout = cc.layout.name
        tb = Fraction(1, self.sr)
        n = self.track.n_samples
        while self._pos < n and self._pos / self.sr <= t:
            k = min(size, n - self._pos)
            data = np.asarray(self.track.chunk(self._pos, k), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(_sample_layout(data, fmt), format=fmt, layout=layout)
            frame.sample_rate = self.sr
            frame.pts = self._pos
            frame.time_base = tb
            self.container.mux(self.astream.encode(frame))
            self._pos += k
        if self._pos >= n:
            self.container.mux(self.astream.encode(None))
            self._done = True

    def write_video(self, packets: Iterable[av.Packet], t: float) -> None:
        """Write *packets* of the video stream whose time is *t* s, after the soundtrack up to it."""
        self._audio_until(t + AUDIO_LEAD)
        self.container.mux(list(packets) if not isinstance(packets, av.Packet) else packets)

    def finish(self) -> None:
        """Encode the rest of the soundtrack and flush its encoder."""
        self._audio_until(float("inf"))


def _sample_layout(chunk: np.ndarray, fmt: str) -> np.ndarray:
    """``(channels, n)`` float32 samples in the array layout ``AudioFrame.from_ndarray`` wants for *fmt*."""
    if fmt.startswith("s16"):
        chunk = (np.clip(chunk, -1.0, 1.0) * 32767.0).astype(np.int16)
    if fmt.endswith("p"):
        return np.ascontiguousarray(chunk)
    return np.ascontiguousarray(chunk.T.reshape(1, -1))


# --------------------------------------------------------------------------- a file's video + a soundtrack


class _CannotCopy(Exception):
    """The output container refused the copied video stream."""


def _add_template(out, stream):
    """A new output stream with *stream*'s codec parameters (PyAV >= 14 and older spellings)."""
    add = getattr(out, "add_stream_from_template", None)
    if add is not None:
        return add(stream)
    return out.add_stream(template=stream)  # PyAV < 14


def _video_packets(container, stream) -> tuple[int, Iterator[av.Packet]]:
    """(smallest presentation time among the first packets, in ticks; all non-empty packets in file order)."""
    source = (pk for pk in container.demux(stream) if pk.size)
    head: list[av.Packet] = []
    for pk in source:
        head.append(pk)
        if len(head) >= _HEAD_PACKETS:
            break
    keys = [pk.pts if pk.pts is not None else pk.dts for pk in head if not pk.is_discard]
    keys = [k for k in keys if k is not None]

    def packets() -> Iterator[av.Packet]:
        yield from head
        yield from source

    return (min(keys) if keys else 0), packets()


def _write_from_file(src: Path, tmp: Path, out_p: Path, track: Soundtrack | None, sr: int, *, copy: bool,
                     rotation: int) -> tuple[str, int]:
    """Mux (copy or re-encode) the video of *src* plus *track* into *tmp*; returns (video codec, frames)."""
    inp, ivs = open_video(src)
    try:
        with Muxer(tmp, out_p, track, sr) as mx:
            out = mx.container
            in_tb: Fraction = ivs.time_base
            codec_name = ivs.codec_context.codec.canonical_name if ivs.codec_context is not None else "?"
            if copy:
                if codec_name not in out.supported_codecs:
                    raise _CannotCopy(f"{out_p.suffix} files cannot hold {codec_name} video")
                try:
                    ovs = _add_template(out, ivs)
                except (ValueError, av.FFmpegError) as exc:
                    raise _CannotCopy(ffmpeg_reason(exc)) from None
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
                rate = ivs.average_rate or ivs.guessed_rate or Fraction(FALLBACK_FPS)
                ovs = enc = out.add_stream(vname, rate=rate, options=dict(opts))
                ovs.width, ovs.height = dec.width, dec.height
                ovs.pix_fmt = "yuv420p"
                ovs.time_base = in_tb
                ovs.codec_context.time_base = in_tb
                ovs.codec_context.thread_count = 0
                if rotation:
                    ovs.set_display_rotation(rotation)
            try:
                mx.start()
            except (av.FFmpegError, ValueError) as exc:
                if copy:
                    raise _CannotCopy(ffmpeg_reason(exc)) from None
                raise
            t0, packets = _video_packets(inp, ivs)
            n_frames = 0
            for pk in packets:
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
                    pk.stream = ovs
                    try:
                        mx.write_video(pk, float(key * in_tb))
                    except av.FFmpegError as exc:
                        if n_frames <= 1:
                            raise _CannotCopy(ffmpeg_reason(exc)) from None
                        raise
                else:
                    for fr in dec.decode(pk):
                        n_frames += _encode(mx, enc, fr, t0, in_tb)
            if not copy:
                for fr in dec.decode(None):
                    n_frames += _encode(mx, enc, fr, t0, in_tb)
                mx.write_video(enc.encode(None), float("inf"))
            mx.finish()
        return vname, n_frames
    finally:
        inp.close()


def _encode(mx: Muxer, enc, fr, t0: int, tb: Fraction) -> int:
    t = 0.0
    if fr.pts is not None:
        fr.pts -= t0
        fr.time_base = tb
        t = float(fr.pts * tb)
    fr.pict_type = av.video.frame.PictureType.NONE
    mx.write_video(enc.encode(fr), t)
    return 1


def mux_video_file(
    video: str | os.PathLike,
    out: str | os.PathLike,
    audio: np.ndarray | Soundtrack,
    sr: int,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    rotation: int = 0,
) -> MuxResult:
    """Write *video*'s picture with *audio* (samples at *sr*, time 0 = the first frame) to *out*.

    The video stream is copied packet for packet (no decoding, the same frames and timestamps,
    shifted so the first frame is at time 0) when *out*'s container can hold it, else re-encoded
    (VP9 for WebM, H.264 otherwise) with a logged warning; *rotation* (counter-clockwise degrees)
    is then written as display metadata. *inputs* are further files *out* must not overwrite.

    Raises
    ------
    OutputError
        *out* cannot be written (nothing is left behind).
    InputError
        *video* is not a readable video.
    ParameterError
        *audio* has not 1 or 2 channels, or the container's audio codec cannot take *sr*.
    """
    src = Path(video)
    out_p = check_output_path(out, inputs=[src, *inputs])
    acodec = output_audio_codec(out_p)
    track = as_soundtrack(audio)
    if sr != output_sample_rate(acodec, sr):
        raise ParameterError(f"{acodec} cannot encode {sr} Hz audio")
    try:
        with atomic_output(out_p) as tmp:
            try:
                vname, n = _write_from_file(src, tmp, out_p, track, sr, copy=True, rotation=rotation)
                copied = True
            except _CannotCopy as exc:
                enc = _REENCODE.get(out_p.suffix.lower(), _REENCODE_DEFAULT)[0]
                log.warning("%s: the video stream cannot be copied into this container (%s); re-encoding it with %s",
                            out_p, exc, enc)
                track = as_soundtrack(audio)  # a fresh reader: the first attempt may have read some chunks
                vname, n = _write_from_file(src, tmp, out_p, track, sr, copy=False, rotation=rotation)
                copied = False
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"{out_p}: cannot write the video ({ffmpeg_reason(exc)})") from None
    return MuxResult(out_p, copied, vname, acodec, n)
