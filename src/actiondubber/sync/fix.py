"""Write a copy of a video with its soundtrack moved in time (the picture's packets copied untouched).

The soundtrack is decoded onto the video's clock (sample 0 = the first
frame, :func:`actiondubber.audio.reader.soundtrack_on_video_clock`), shifted by
whole samples, kept at its original length (silence fills the gap the shift
opens at one end; what it pushes past the other end is dropped) and written
with the dubbing muxer (:func:`actiondubber.video.mux.mux_video_file`: video
stream copied, audio re-encoded as AAC/Opus, temporary file renamed into
place). The input is never overwritten, nor an existing output unless
*force* is given.
"""

from __future__ import annotations

import os

import numpy as np

from actiondubber.audio import NoAudioStreamError
from actiondubber.audio.reader import soundtrack_on_video_clock
from actiondubber.errors import ParameterError
from actiondubber.fileio import check_input_file, check_output_path
from actiondubber.video.mux import MuxResult, mux_video_file, output_audio_codec, output_sample_rate

#: Rate of the written soundtrack (what AAC and Opus in video files usually carry).
FIX_SR = 48000
#: Largest shift accepted (s): beyond this it is not a sync error.
MAX_SHIFT = 10.0


def shift_samples(audio: np.ndarray, shift: int) -> np.ndarray:
    """*audio* ``(channels, n)`` delayed by *shift* samples (advanced when negative), same length."""
    audio = np.atleast_2d(audio)
    n = audio.shape[1]
    out = np.zeros_like(audio)
    if shift >= 0:
        if shift < n:
            out[:, shift:] = audio[:, : n - shift]
    elif -shift < n:
        out[:, : n + shift] = audio[:, -shift:]
    return out


def shift_audio(video: str | os.PathLike, out: str | os.PathLike, delay: float, *, force: bool = False,
                sr: int = FIX_SR) -> MuxResult:
    """Write *video* to *out* with its soundtrack delayed by *delay* seconds (negative: played earlier).

    Parameters
    ----------
    video
        The source file (must have a video and an audio stream).
    out
        The file to write (.mp4/.mov/.m4v get AAC, .mkv/.webm Opus).
    delay
        Seconds; positive makes every sound play later relative to the picture.
    force
        Overwrite *out* if it exists (never the input).
    sr
        Sample rate of the written soundtrack.

    Returns
    -------
    MuxResult
        What the muxer wrote.

    Raises
    ------
    InputError
        Missing/unreadable video, or no audio stream to shift.
    OutputError
        *out* exists (without *force*), equals the input, or cannot be written.
    """
    src = check_input_file(video, "video file")
    if not np.isfinite(delay) or abs(delay) > MAX_SHIFT:
        raise ParameterError(f"audio shift must be a finite number of seconds within ±{MAX_SHIFT:g}, got {delay}")
    out_p = check_output_path(out, inputs=[src], force=force or None)
    codec = output_audio_codec(out_p)
    rate = output_sample_rate(codec, sr)
    audio = soundtrack_on_video_clock(src, rate)
    if audio is None:
        raise NoAudioStreamError(f"{src}: contains no audio stream to shift")
    return mux_video_file(src, out_p, shift_samples(audio, int(round(delay * rate))), rate, inputs=[src])


def fix_offset(video: str | os.PathLike, out: str | os.PathLike, offset: float, *, force: bool = False) -> MuxResult:
    """Undo a measured *offset* (s, ``> 0``: the audio trails the picture) by moving the audio by ``-offset``.

    See :func:`shift_audio` for the arguments and errors.
    """
    return shift_audio(video, out, -float(offset), force=force)


