"""Export one events file to several editors' formats at once, all checked before any is written.

:func:`export_events` is what ``actiondubber export`` calls: it validates the
events (times inside the video), the name template, every output path and
every needed OTIO adapter first, renders every output in memory, and only
then writes each file atomically, so a bad input leaves no file behind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from actiondubber.errors import InputError, OutputError
from actiondubber.events import check_events_fit
from actiondubber.exporters.cues import DEFAULT_CUE_LENGTH, DEFAULT_NAME, audacity_text, check_name, srt_text, vtt_text
from actiondubber.exporters.editors import ADAPTERS, check_adapter, markers_text
from actiondubber.exporters.tabular import events_csv
from actiondubber.exporters.timecode import video_duration, video_fps
from actiondubber.fileio import check_output_path, write_text_atomic
from actiondubber.types import Events

log = logging.getLogger(__name__)

#: Every export format and what it is.
FORMATS = {
    "otio": "OpenTimelineIO timeline",
    "edl": "CMX 3600 EDL",
    "fcpxml": "Final Cut Pro 7 XML",
    "audacity": "Audacity label track",
    "srt": "SubRip subtitles",
    "vtt": "WebVTT subtitles",
    "csv": "CSV table",
}


def check_events(ev: Events, source: str = "events") -> None:
    """Raise InputError unless *ev* fit their own video (:func:`actiondubber.events.check_events_fit`).

    The video's duration and frame rate may be derived from its timestamps or frame count
    (:func:`~actiondubber.exporters.timecode.video_duration`); InputError when the file gives neither.
    """
    v = ev.video
    check_events_fit(ev, replace(v, fps=video_fps(v), duration=video_duration(v)), source=source)


def resolve_video(ev: Events, events_path: str | os.PathLike | None = None) -> Path | None:
    """The source video named in *ev*: as given if it exists, else beside the events file, else as given."""
    if not ev.video.path:
        return None
    p = Path(ev.video.path)
    if not p.exists() and events_path is not None:  # moved together with its events file?
        folder = Path(events_path).parent
        for beside in ([] if p.is_absolute() else [folder / p]) + [folder / p.name]:
            if beside.exists():
                return beside
    return p


def with_video(ev: Events, video: str | os.PathLike, source: str = "events") -> Events:
    """*ev* referencing another copy of its video, probed and checked with the events' one rule
    (:func:`actiondubber.events.check_events_fit`: InputError when it is not the same video)."""
    from actiondubber.video.facts import probe

    info = probe(video)
    check_events_fit(ev, info, source=source)
    old = ev.video
    fps = old.fps if old.fps > 0 else info.fps
    return replace(ev, video=replace(old, path=str(video), fps=fps, duration=info.duration,
                                     n_frames=old.n_frames or info.n_frames,
                                     timestamps=old.timestamps or info.timestamps))


def render(ev: Events, fmt: str, *, video: str | os.PathLike | None = None, name: str = DEFAULT_NAME,
           cue_length: float = DEFAULT_CUE_LENGTH) -> str:
    """The text of *ev* in one of :data:`FORMATS`."""
    if fmt in ADAPTERS:
        return markers_text(ev, fmt, video=video, name=name)
    if fmt == "audacity":
        return audacity_text(ev, name=name)
    if fmt == "srt":
        return srt_text(ev, name=name, length=cue_length)
    if fmt == "vtt":
        return vtt_text(ev, name=name, length=cue_length)
    if fmt == "csv":
        return events_csv(ev)
    raise InputError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")


def export_events(
    ev: Events,
    outputs: Mapping[str, str | os.PathLike],
    *,
    video: str | os.PathLike | None = None,
    name: str = DEFAULT_NAME,
    cue_length: float = DEFAULT_CUE_LENGTH,
    inputs: Iterable[str | os.PathLike] = (),
) -> dict[str, Path]:
    """Write *ev* to every ``{format: path}`` of *outputs*; return the paths written.

    *video* is the media the markers reference (default: the events' own
    video path); *inputs* (e.g. the events file) are never overwritten, nor is
    the video. An empty event list writes valid empty files, with a warning.
    """
    unknown = [f for f in outputs if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format {unknown[0]!r} (use {', '.join(FORMATS)})")
    if not outputs:
        raise InputError("nothing to export: give at least one output")
    check_name(name)
    if not (cue_length > 0):
        raise InputError(f"cue length {cue_length} s must be positive")
    check_events(ev, str(ev.video.path or "events"))
    paths = {fmt: Path(p) for fmt, p in outputs.items()}
    if len({p.resolve() for p in paths.values()}) != len(paths):
        raise OutputError("two outputs point to the same file")
    protected = [*inputs, *(p for p in (ev.video.path, video) if p)]
    for fmt, p in paths.items():
        if fmt in ADAPTERS:
            check_adapter(fmt, p)
        check_output_path(p, inputs=protected)
    if not ev.events:
        log.warning("%s: no events; writing empty %s", ev.video.path or "events", ", ".join(paths))
    texts = {fmt: render(ev, fmt, video=video, name=name, cue_length=cue_length) for fmt in paths}
    return {fmt: write_text_atomic(paths[fmt], texts[fmt]) for fmt in paths}
