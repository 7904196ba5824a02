"""The review video: a video with its events drawn in, to see where and when the sounds will be.

:func:`render_preview` decodes the source frames one at a time, draws each with
:class:`~actiondubber.exporters.review_frame.PreviewRenderer` (a mark at each event's place, a border
flash at its frame, a scrolling timeline of the score curve), and encodes it with
:func:`actiondubber.video.writer.write_video`, so memory holds one frame. The output keeps the
source's timestamps (variable frame rate stays correct) and, by default, the source's soundtrack
(or another file's, e.g. a dubbed video), placed on the video's clock and muxed with the frames
by the package's one muxer (:mod:`actiondubber.video.mux`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actiondubber.audio.reader import soundtrack_on_video_clock
from actiondubber.errors import InputError, OutputError, ParameterError
from actiondubber.events import check_events_fit, load_events
from actiondubber.exporters.review_frame import (
    DEFAULT_MAX_WIDTH,
    FADE_SECONDS,
    WINDOW_SECONDS,
    PreviewLayout,
    PreviewRenderer,
    preview_layout,
)
from actiondubber.fileio import check_input_file, check_output_path
from actiondubber.types import FALLBACK_FPS, Events, VideoInfo
from actiondubber.video.facts import probe
from actiondubber.video.mux import output_audio_codec
from actiondubber.video.reader import iter_frames
from actiondubber.video.writer import write_png, write_video

#: Output extension -> video encoder (the audio encoder follows :data:`actiondubber.video.mux.AUDIO_CODECS`).
FORMATS = {
    ".mp4": "libx264",
    ".m4v": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".webm": "libvpx-vp9",
}
#: Sample rate of the review video's soundtrack (AAC and Opus both take it).
AUDIO_RATE = 48000


@dataclass(frozen=True)
class ReviewParams:
    """How the review video looks: the picture's width cap (``None``: the source's size), the timeline's
    half-width and how long marks stay (seconds). Bad values raise
    :class:`~actiondubber.errors.ParameterError` when the parameters are made."""

    max_width: int | None = DEFAULT_MAX_WIDTH
    window: float = WINDOW_SECONDS
    fade: float = FADE_SECONDS

    def __post_init__(self) -> None:
        if self.max_width is not None and self.max_width < 16:
            raise ParameterError(f"max_width must be at least 16, got {self.max_width}")
        if not (math.isfinite(self.window) and self.window > 0):
            raise ParameterError(f"the timeline's window must be a positive number of seconds, got {self.window}")
        if not (math.isfinite(self.fade) and self.fade >= 0):
            raise ParameterError(f"fade must be a number of seconds >= 0, got {self.fade}")


@dataclass(frozen=True)
class EventPreview:
    """What :func:`render_preview` wrote: paths, frame count, layout, and the soundtrack's source file."""

    out: Path | None
    png: Path | None
    png_frame: int | None
    n_frames: int
    layout: PreviewLayout
    audio: Path | None


def increasing_times(times: tuple[float, ...], fps: float) -> np.ndarray:
    """Frame times forced strictly increasing the way the reader does it (repeat times step on by 1/fps)."""
    step = 1.0 / (fps if fps > 0 else FALLBACK_FPS)
    out = np.asarray(times, dtype=np.float64).copy()
    for i in range(1, out.size):
        if out[i] <= out[i - 1]:
            out[i] = out[i - 1] + step
    return out


def render_preview(
    video: str | os.PathLike,
    events: Events | str | os.PathLike | None,
    out: str | os.PathLike | None,
    *,
    max_width: int | None = DEFAULT_MAX_WIDTH,
    audio: bool | str | os.PathLike = True,
    png: str | os.PathLike | None = None,
    png_frame: int | None = None,
    window: float = WINDOW_SECONDS,
    fade: float = FADE_SECONDS,
    progress: Callable[[int], None] | None = None,
    detect_options: dict | None = None,
    detect_progress: Callable[[int], None] | None = None,
    info: VideoInfo | None = None,
) -> EventPreview:
    """Write a review video of *video* with *events* drawn over it to *out*, and/or one still to *png*.

    Parameters
    ----------
    video
        The source video.
    events
        An :class:`Events`, an events JSON path, or ``None`` to run the training-free detector first
        (*detect_options*: :class:`~actiondubber.detection.detector.DetectorParams` fields; *detect_progress*
        is called with 1 per frame it decodes).
    out
        The review video (``.mp4``, ``.m4v``, ``.mov``, ``.mkv``, ``.webm``), or ``None`` for the still only.
    max_width, window, fade
        :class:`ReviewParams`.
    audio
        ``True`` copies *video*'s soundtrack when it has one, ``False`` writes none, a path takes that
        file's soundtrack (e.g. a dubbed video).
    png, png_frame
        A still of one review frame (default: the first event's frame, else 0).
    progress
        Called with 1 per decoded frame.
    info
        *video*'s :func:`~actiondubber.video.probe` facts, if the caller has them (saves probing again);
        the one description of the video the detector, the events check and the renderer use.

    Returns
    -------
    EventPreview
        What was written.

    Raises
    ------
    InputError
        A bad video, audio file or events file (events of another video:
        :func:`actiondubber.events.check_events_fit`).
    OutputError
        A bad output path. Every input and output is checked before the detector runs or anything is written.
    ParameterError
        A bad *max_width*, *window* or *fade*.
    """
    look = ReviewParams(max_width=max_width, window=window, fade=fade)
    if out is None and png is None:
        raise OutputError("nothing to write: give an output video and/or a PNG file")
    events_path = None if isinstance(events, Events) or events is None else Path(events)
    audio_path = None if audio is None or isinstance(audio, bool) else Path(audio)
    inputs = [Path(video)] + [p for p in (events_path, audio_path) if p is not None]
    out_p = check_output_path(out, inputs=inputs) if out is not None else None
    if out_p is not None and out_p.suffix.lower() not in FORMATS:
        raise OutputError(f"{out_p}: unsupported preview format; use one of {', '.join(sorted(FORMATS))}")
    png_p = check_output_path(png, inputs=inputs) if png is not None else None
    if png_p is not None and png_p.suffix.lower() != ".png":
        raise OutputError(f"{png_p}: the still must be a .png file")
    if out_p is not None and png_p is not None and out_p.resolve() == png_p.resolve():
        raise OutputError(f"{out_p}: the preview video and the still cannot be the same file")
    info = info or probe(video)
    if png_frame is not None and not 0 <= png_frame < info.n_frames:
        raise InputError(f"{video}: has {info.n_frames} frames; the still's frame {png_frame} is out of range")
    audio_src = audio_path if audio_path is not None else (Path(video) if audio is True and info.has_audio else None)
    if out_p is None:
        audio_src = None
    if audio_path is not None:
        check_input_file(audio_path, "media file")
    times = increasing_times(info.timestamps, info.fps)
    soundtrack = None
    if audio_src is not None:
        output_audio_codec(out_p)
        soundtrack = soundtrack_on_video_clock(audio_src, AUDIO_RATE, duration=float(times[-1]) + 1.0 / info.frame_rate)
        if soundtrack is None:
            raise InputError(f"{audio_src}: contains no audio stream to put in the preview")
    if events is None:
        from actiondubber.detection.detector import detector_params, events_from_curve, frame_curve

        dparams = detector_params(**(detect_options or {}))
        ev = events_from_curve(frame_curve(video, dparams, info=info, progress=detect_progress), dparams)
    elif isinstance(events, Events):
        ev = events
    else:
        ev = load_events(events_path)
    check_events_fit(ev, info, source=str(events_path) if events_path is not None else "events")
    if png_p is not None:
        png_frame = ev.events[0].frame if png_frame is None and ev.events else (png_frame or 0)
        if not 0 <= png_frame < info.n_frames:
            raise InputError(f"{video}: has {info.n_frames} frames; the still's frame {png_frame} is out of range")
    else:
        png_frame = None

    layout = preview_layout(info.width, info.height, look.max_width)
    renderer = PreviewRenderer(ev, times, layout, window=look.window, fade=look.fade)
    size = None if (layout.width, layout.height) == (info.width, info.height) else (layout.width, layout.height)
    source = iter_frames(video, short_side=None, size=size, pix_fmt="rgb24")
    count = 0
    png_done = False
    last = info.n_frames - 1 if out_p is not None else png_frame

    def frames() -> Iterator[np.ndarray]:
        nonlocal count, png_done
        for fr in source:
            if fr.index > last:
                break
            if progress is not None:
                progress(1)
            if out_p is None and fr.index != png_frame:
                continue
            img = renderer.render(fr.image, fr.index)
            if fr.index == png_frame:
                write_png(png_p, img)
                png_done = True
            count += 1
            yield img

    with contextlib.closing(source):
        if out_p is None:
            for _ in frames():
                pass
        else:
            write_video(out_p, frames(), info.fps, codec=FORMATS[out_p.suffix.lower()], times=times, inputs=inputs,
                        audio=soundtrack, sr=AUDIO_RATE)
        if count == 0:
            raise InputError(f"{video}: no frame could be decoded; nothing to preview")
        if png_p is not None and not png_done:
            raise InputError(f"{video}: frame {png_frame} could not be decoded for the still")
    return EventPreview(out_p, png_p, png_frame, count, layout, audio_src)
