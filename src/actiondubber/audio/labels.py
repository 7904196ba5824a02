"""Frame labels from a video's own soundtrack: strong audio onsets mapped to video frames.

Each video's soundtrack is decoded (:mod:`actiondubber.audio.reader`), its
strong onsets found (:func:`actiondubber.audio.onsets.impact_onsets`), moved
onto the video's clock (audio and video streams may start at different
times) and turned into 0-based frame indices with the video's container
timestamps. The result is ``{video_id: frames}`` with ``video_id`` the file
stem, ready for :func:`actiondubber.evaluate.labels.write_labels`.

Frame convention: ``nearest`` (default) picks the frame whose start time is
closest to the onset (ties go to the earlier frame); for constant-rate video
this is ``round(t * fps)``, the convention of the project's answer key
``labels_audio_onsets.csv``. ``floor`` picks the frame on screen when the
sound starts (the last frame starting at or before it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from actiondubber.audio.onsets import graded_onsets
from actiondubber.audio.reader import DEFAULT_SR, NoAudioStreamError, read_audio_clip
from actiondubber.errors import InputError, ParameterError
from actiondubber.types import FRAME_ROUNDING, VideoInfo
from actiondubber.video import probe

log = logging.getLogger(__name__)

__all__ = ["FRAME_ROUNDING", "audio_event_frames", "audio_label_frames", "labels_and_dont_care_from_audio",
           "labels_from_audio", "times_to_frames"]


def times_to_frames(info: VideoInfo, times: Iterable[float], rounding: str = "nearest") -> list[int]:
    """Sorted unique 0-based frames of *times* (s, on the video's clock); times off the video are dropped.

    A time belongs to the video when it falls inside some frame's span:
    ``[t_i - d/2, t_i + d/2)`` for ``nearest``, ``[t_i, t_i + d)`` for
    ``floor``, with ``d = 1 / fps`` past the ends. The frame is :meth:`VideoInfo.frame_at`'s.
    """
    if rounding not in FRAME_ROUNDING:
        raise ParameterError(f"frame rounding must be one of {', '.join(FRAME_ROUNDING)}, not {rounding!r}")
    ts = np.asarray(info.timestamps, dtype=np.float64)
    if ts.size == 0:
        ts = np.arange(info.n_frames, dtype=np.float64) / info.frame_rate
    if ts.size == 0:
        return []
    dur = 1.0 / info.frame_rate
    eps = 1e-6
    frames: set[int] = set()
    for t in times:
        t = float(t)
        if rounding == "floor":
            if t < ts[0] - eps or t >= ts[-1] + dur - eps:
                continue
        elif t < ts[0] - dur / 2 - eps or t >= ts[-1] + dur / 2 - eps:
            continue
        frames.add(info.frame_at(t, rounding))
    return sorted(frames)


def audio_label_frames(
    path: str | os.PathLike,
    *,
    rel_threshold: float = 0.25,
    dont_care: float = 0.0,
    min_time: float = 0.1,
    frame_rounding: str = "nearest",
    align_streams: bool = True,
    sr: int = DEFAULT_SR,
    info: VideoInfo | None = None,
) -> tuple[list[int], list[int]]:
    """``(frames, dont_care_frames)`` of *path*'s strong and weak audio onsets.

    Weak onsets (strength between *dont_care* and *rel_threshold* x the strongest,
    :func:`~actiondubber.audio.onsets.graded_onsets`) give the "don't care" frames,
    less any frame that is also a label; none when *dont_care* is 0. Other arguments and
    errors as :func:`audio_event_frames`.
    """
    info = probe(path) if info is None else info
    clip = read_audio_clip(path, sr=sr, mono=True)
    strong, weak = graded_onsets(clip.samples, clip.sr, rel_threshold=rel_threshold, weak_threshold=dont_care,
                                 min_time=min_time)
    if align_streams:
        strong, weak = strong + clip.start, weak + clip.start
    frames = times_to_frames(info, strong, frame_rounding)
    return frames, sorted(set(times_to_frames(info, weak, frame_rounding)) - set(frames))


def audio_event_frames(
    path: str | os.PathLike,
    *,
    rel_threshold: float = 0.25,
    min_time: float = 0.1,
    frame_rounding: str = "nearest",
    align_streams: bool = True,
    sr: int = DEFAULT_SR,
    info: VideoInfo | None = None,
) -> list[int]:
    """0-based frames of *path*'s strong audio onsets (see :func:`labels_from_audio` for the arguments).

    Raises :class:`NoAudioStreamError` (an :class:`InputError`) when the file
    has no audio stream, :class:`InputError` when it is not a readable video.
    """
    return audio_label_frames(path, rel_threshold=rel_threshold, min_time=min_time, frame_rounding=frame_rounding,
                              align_streams=align_streams, sr=sr, info=info)[0]


def labels_from_audio(
    videos: Iterable[str | os.PathLike],
    *,
    rel_threshold: float = 0.25,
    min_time: float = 0.1,
    frame_rounding: str = "nearest",
    align_streams: bool = True,
    sr: int = DEFAULT_SR,
    skip_no_audio: bool = True,
) -> dict[str, list[int]]:
    """``{video_id: frames}`` of strong audio onsets for each video (``video_id`` = file stem).

    *rel_threshold*: keep onsets at least this fraction of the clip's
    strongest; *min_time*: drop onsets earlier than this (s, audio clock);
    *frame_rounding*: ``nearest`` or ``floor`` (module docstring);
    *align_streams*: shift onsets by the audio stream's start relative to the
    first video frame (turn off to reproduce keys made from audio time alone);
    *sr*: analysis sample rate. Videos without audio are skipped with a
    warning when *skip_no_audio* (else they raise); raises
    :class:`InputError` when two videos share a stem or no video has audio.
    *videos* may be a progress-bar wrapper; it is iterated once.
    """
    return labels_and_dont_care_from_audio(videos, rel_threshold=rel_threshold, min_time=min_time,
                                           frame_rounding=frame_rounding, align_streams=align_streams, sr=sr,
                                           skip_no_audio=skip_no_audio)[0]


def labels_and_dont_care_from_audio(
    videos: Iterable[str | os.PathLike],
    *,
    rel_threshold: float = 0.25,
    dont_care: float = 0.0,
    min_time: float = 0.1,
    frame_rounding: str = "nearest",
    align_streams: bool = True,
    sr: int = DEFAULT_SR,
    skip_no_audio: bool = True,
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """``({video_id: frames}, {video_id: dont_care_frames})``: :func:`labels_from_audio` plus the frames of
    weak onsets (strength >= *dont_care* x the strongest, below *rel_threshold*; :func:`audio_label_frames`)."""
    if frame_rounding not in FRAME_ROUNDING:
        raise ParameterError(f"frame rounding must be one of {', '.join(FRAME_ROUNDING)}, not {frame_rounding!r}")
    out: dict[str, list[int]] = {}
    weak: dict[str, list[int]] = {}
    seen: dict[str, Path] = {}
    n_seen = 0
    for video in videos:
        p = Path(video)
        n_seen += 1
        vid = p.stem
        if vid in seen:
            raise InputError(f"{p}: same video id {vid!r} as {seen[vid]}; rename one of them")
        seen[vid] = p
        try:
            out[vid], weak[vid] = audio_label_frames(
                p,
                rel_threshold=rel_threshold,
                dont_care=dont_care,
                min_time=min_time,
                frame_rounding=frame_rounding,
                align_streams=align_streams,
                sr=sr,
            )
        except NoAudioStreamError as exc:
            if not skip_no_audio:
                raise
            log.warning("%s; skipped", exc)
    if n_seen and not out:
        raise InputError(f"none of the {n_seen} video(s) has a usable audio stream")
    return out, weak
