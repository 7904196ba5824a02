"""Read a video's soundtrack with PyAV: decoded, resampled, and placed on the video's clock.

Audio and video streams of one file can start at different presentation
times (encoder priming, edit lists, AVI B-frame delay), so a sound at audio
time ``t`` happens at video time ``t + start`` where ``start`` is the first
decoded audio sample's time minus the first video frame's time. The frame
times of :func:`actiondubber.video.probe` count from that first video frame,
so onset times shifted by ``start`` index frames directly.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from actiondubber.errors import InputError
from actiondubber.fileio import check_input_file, ffmpeg_message

log = logging.getLogger(__name__)

#: Default analysis sample rate (librosa's default, so onset defaults carry over).
DEFAULT_SR = 22050


class NoAudioStreamError(InputError):
    """The file is a readable media file but carries no audio stream."""


@dataclass(frozen=True)
class AudioClip:
    """Decoded soundtrack: float32 samples, their rate, and the start on the video's clock.

    ``samples`` is 1-D (mono) or ``(channels, n)``. ``start`` is the time in
    seconds of sample 0 relative to the first video frame (0.0 when the file
    has no video stream); add it to an audio time to get a video time.
    """

    path: str
    samples: np.ndarray
    sr: int
    start: float = 0.0

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / self.sr if self.sr else 0.0


_ffmsg = ffmpeg_message


def _open(path: Path):
    check_input_file(path, "media file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: not a readable media file ({_ffmsg(exc)})") from None


def _frame_array(frame, channels: int) -> np.ndarray:
    """(channels, n) float32 array of a resampled ``flt``/``fltp`` frame."""
    arr = frame.to_ndarray()
    if frame.format.is_planar:
        return arr.reshape(channels, -1)
    return arr.reshape(-1, channels).T


def read_audio_clip(path: str | os.PathLike, *, sr: int | None = DEFAULT_SR, mono: bool = True,
                    max_channels: int | None = None) -> AudioClip:
    """Decode the first audio stream of *path* as float32, resampled to *sr* (None keeps the file's rate).

    Downmixing and resampling are done by FFmpeg (``av.AudioResampler``).
    One demux pass reads the audio and notes the first video packet time,
    which gives :attr:`AudioClip.start`. *max_channels* (with ``mono=False``) downmixes
    a soundtrack with more channels to stereo (2) or mono (1). Raises :class:`InputError` when the
    file is missing or not media, :class:`NoAudioStreamError` when it has no
    audio stream or the audio decodes to nothing.
    """
    p = Path(path)
    container = _open(p)
    try:
        if not container.streams.audio:
            raise NoAudioStreamError(f"{p}: contains no audio stream")
        astream = container.streams.audio[0]
        vstream = container.streams.video[0] if container.streams.video else None
        in_rate = int(astream.codec_context.sample_rate or astream.rate or 0)
        out_rate = int(sr) if sr else in_rate
        if out_rate <= 0:
            raise InputError(f"{p}: audio stream has no sample rate")
        layout = "mono" if mono else None
        src_channels = astream.codec_context.layout.nb_channels if astream.codec_context.layout else 0
        if not mono and max_channels is not None and src_channels > max_channels:
            layout = "stereo" if max_channels >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
        chunks: list[np.ndarray] = []
        n_channels = 1 if mono else 0
        audio_t0: float | None = None
        video_t0: float | None = None
        n_bad, first_bad = 0, ""
        streams = [astream] + ([vstream] if vstream is not None else [])

        def take(frames) -> None:
            nonlocal n_channels
            for out in frames:
                if not n_channels:
                    n_channels = out.layout.nb_channels
                chunks.append(_frame_array(out, n_channels))

        for packet in container.demux(*streams):
            if packet.stream.type == "video":
                t = packet.pts if packet.pts is not None else packet.dts
                if packet.size and t is not None and vstream.time_base is not None:
                    tv = float(t * vstream.time_base)
                    video_t0 = tv if video_t0 is None else min(video_t0, tv)
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                n_bad += 1
                first_bad = first_bad or f"first at {packet.pts}: {_ffmsg(exc)}"
                continue
            for frame in frames:
                if audio_t0 is None:
                    if frame.pts is not None and frame.time_base is not None:
                        audio_t0 = float(frame.pts * frame.time_base)
                    elif packet.pts is not None and astream.time_base is not None:
                        audio_t0 = float(packet.pts * astream.time_base)
                take(resampler.resample(frame))
        take(resampler.resample(None))
        if n_bad:  # one warning for the file, not one per packet
            log.warning("%s: %d damaged audio packet(s) skipped (%s)", p, n_bad, first_bad)
    except av.FFmpegError as exc:
        raise InputError(f"{p}: cannot decode audio ({_ffmsg(exc)})") from None
    finally:
        container.close()
    if not chunks:
        raise NoAudioStreamError(f"{p}: audio stream holds no decodable samples")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if mono:
        samples = samples[0]
    start = 0.0
    if audio_t0 is not None and video_t0 is not None:
        start = audio_t0 - video_t0
    return AudioClip(str(p), np.ascontiguousarray(samples), out_rate, start)


def read_audio(path: str | os.PathLike, *, sr: int | None = DEFAULT_SR, mono: bool = True) -> tuple[np.ndarray, int]:
    """``(samples, sr)`` of *path*'s first audio stream; see :func:`read_audio_clip` for the stream offset."""
    clip = read_audio_clip(path, sr=sr, mono=mono)
    return clip.samples, clip.sr


def soundtrack_on_video_clock(path: str | os.PathLike, sr: int, *, duration: float | None = None,
                              max_channels: int = 2) -> np.ndarray | None:
    """*path*'s soundtrack ``(channels, n)`` at *sr*, shifted so sample 0 is the first video frame.

    The audio and video streams may start at different times (encoder priming, edit lists); the
    soundtrack is padded with silence or cut at the front so that it plays in sync when it starts
    together with the first frame, and cut at *duration* seconds when given. At most
    *max_channels* channels (more are downmixed). ``None`` when the file has no audio stream.
    """
    try:
        clip = read_audio_clip(path, sr=sr, mono=False, max_channels=max_channels)
    except NoAudioStreamError:
        return None
    y = np.atleast_2d(clip.samples)
    shift = int(round(clip.start * sr))
    if shift > 0:
        y = np.concatenate([np.zeros((y.shape[0], shift), np.float32), y], axis=1)
    elif shift < 0:
        y = y[:, -shift:]
    if duration is not None:
        y = y[:, : int(math.ceil(duration * sr))]
    return y
