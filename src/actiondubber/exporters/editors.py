"""Events as markers for video editors, through OpenTimelineIO: ``.otio``, CMX 3600 EDL and FCP 7 XML.

One timeline, one video track, one clip that references the source video
(available range = the whole video), and one zero-length marker per event at
the frame nearest its time. Each marker carries its event (n, frame, time,
score, x, y) under the ``actiondubber`` metadata key and ``score …`` as its
comment.

What each format keeps:

* ``.otio``: everything, at the source's exact frame rate (30000/1001 for 29.97).
* EDL (``otio-cmx3600-adapter``): the adapter writes each clip marker as a
  locator comment ``* LOC: 00:00:59;28 RED     HIT 2`` (SMPTE timecode of the
  marker in the clip's source time, drop-frame at 29.97/59.94, name in upper
  case); metadata and scores are lost. We add the ``FCM: DROP FRAME`` /
  ``FCM: NON-DROP FRAME`` header the adapter leaves out. The adapter's reader
  skips drop-frame locators (its pattern wants ``:`` before the frames), so
  :func:`read_markers` converts them to their frame number first.
* FCP 7 XML (``otio-fcp-adapter``, the ``xmeml`` that Premiere and Resolve
  import): markers as ``<marker>`` frame numbers with the score in
  ``<comment>``; the file's timecode is flagged drop-frame at 29.97/59.94.

EDL and FCP XML need an SMPTE rate (:func:`~actiondubber.exporters.timecode.smpte_rate`):
a video at another rate (variable frame rate, 15 fps …) is placed on the
nearest suitable timecode rate, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
from fractions import Fraction
from pathlib import Path

from actiondubber.errors import BackendUnavailableError, InputError, OutputError
from actiondubber.exporters.cues import DEFAULT_NAME, Cue, check_name, marker_name
from actiondubber.exporters.timecode import exact_rate, grid_frame, is_drop_frame, smpte_rate, video_duration, video_fps
from actiondubber.fileio import check_output_path, read_text_input, write_text_atomic
from actiondubber.types import Events

log = logging.getLogger(__name__)

#: Our format name → (OTIO adapter name, PyPI package that provides it, description).
ADAPTERS = {
    "otio": ("otio_json", "opentimelineio", "OpenTimelineIO"),
    "edl": ("cmx_3600", "otio-cmx3600-adapter", "CMX 3600 EDL"),
    "fcpxml": ("fcp_xml", "otio-fcp-adapter", "Final Cut Pro 7 XML"),
}
META_KEY = "actiondubber"


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise BackendUnavailableError(
            "editor markers need OpenTimelineIO: pip install opentimelineio (or actiondubber[editors])"
        ) from None
    return opentimelineio


def check_adapter(fmt: str, out: str | os.PathLike | None = None) -> None:
    """Raise BackendUnavailableError naming the package to install when *fmt*'s OTIO adapter is missing."""
    if fmt not in ADAPTERS:
        raise InputError(f"unknown marker format {fmt!r} (use {', '.join(ADAPTERS)})")
    adapter, package, label = ADAPTERS[fmt]
    otio = _otio()
    try:
        otio.adapters.from_name(adapter)
    except otio.exceptions.NotSupportedError:
        where = f"{out}: " if out is not None else ""
        raise BackendUnavailableError(f"{where}writing {label} needs the {package} package: pip install {package}") \
            from None


def media_url(path: str | os.PathLike) -> str:
    """``file://`` URL of *path* (made absolute), as OTIO and FCP XML expect for media."""
    return Path(path).resolve().as_uri()


def _plain(value):
    """*value* as plain JSON types (OTIO metadata accepts nothing else)."""
    return json.loads(json.dumps(value, default=str))


def build_timeline(ev: Events, *, video: str | os.PathLike | None = None, name: str = DEFAULT_NAME,
                   rate: Fraction | None = None):
    """An OTIO ``Timeline`` with one clip of the source video and one marker per event.

    *video* is the media to reference (default: the events' video path);
    *rate* the timeline rate (default: the source's exact rate). Each marker
    sits at the frame nearest its event's time, computed from that time alone.
    """
    otio = _otio()
    check_name(name)
    info = ev.video
    fps = video_fps(info)
    rate = exact_rate(fps) if rate is None else rate
    r = float(rate)
    src = Path(video if video is not None else (info.path or "video"))
    n_dur = max(grid_frame(video_duration(info), rate), 1)
    available = otio.opentime.TimeRange(otio.opentime.RationalTime(0, r), otio.opentime.RationalTime(n_dur, r))
    ref = otio.schema.ExternalReference(target_url=media_url(src), available_range=available)
    clip = otio.schema.Clip(
        name=src.name,
        media_reference=ref,
        source_range=available,
        metadata={META_KEY: _plain({"video": str(src), "fps": fps, "n_frames": info.n_frames,
                                    "duration": video_duration(info), "params": ev.params})},
    )
    for k, e in enumerate(ev.events, 1):
        f = min(max(grid_frame(e.time, rate), 0), n_dur - 1)  # from the event's own time: no accumulated error
        clip.markers.append(otio.schema.Marker(
            name=marker_name(name, k, e),
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(f, r),
                                                 otio.opentime.RationalTime(0, r)),
            comment=f"score {e.score:.3f}, frame {e.frame}, {e.time:.3f} s",
            metadata={META_KEY: _plain({"n": k, "frame": e.frame, "time": e.time, "score": e.score,
                                        "x": e.x, "y": e.y})},
        ))
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(clip)
    return otio.schema.Timeline(name=f"{src.stem} audible events", tracks=[track],
                                global_start_time=otio.opentime.RationalTime(0, r))


def _editing_rate(ev: Events, fmt: str) -> Fraction:
    fps = video_fps(ev.video)
    rate, tc_rate = exact_rate(fps), smpte_rate(fps)
    if tc_rate != rate:
        log.warning("%s: %.3f fps has no SMPTE timecode; %s markers are placed by time on a %.3f fps timeline",
                    ev.video.path or "video", fps, ADAPTERS[fmt][2], float(tc_rate))
    return tc_rate


def markers_text(ev: Events, fmt: str, *, video: str | os.PathLike | None = None, name: str = DEFAULT_NAME) -> str:
    """The text of *fmt* (``otio``, ``edl`` or ``fcpxml``) for *ev*'s markers."""
    check_adapter(fmt)
    otio = _otio()
    rate = None if fmt == "otio" else _editing_rate(ev, fmt)
    tl = build_timeline(ev, video=video, name=name, rate=rate)
    df = rate is not None and is_drop_frame(rate)
    if fmt == "fcpxml":
        tc = {"timecode": {"displayformat": "DF" if df else "NDF"}}
        tl.metadata["fcp_xml"] = tc
        for clip in tl.find_clips():
            clip.media_reference.metadata["fcp_xml"] = tc
            for m in clip.markers:
                m.metadata["fcp_xml"] = {"comment": m.comment}
    try:
        text = otio.adapters.write_to_string(tl, ADAPTERS[fmt][0])
    except (otio.exceptions.OTIOError, ValueError) as exc:
        raise OutputError(f"{ADAPTERS[fmt][2]}: cannot express these markers ({exc})") from None
    if fmt == "edl":
        lines = text.splitlines(keepends=True)
        at = 1 if lines and lines[0].startswith("TITLE:") else 0
        lines.insert(at, "FCM: DROP FRAME\n" if df else "FCM: NON-DROP FRAME\n")
        # Locators in drop-frame counting are written HH:MM:SS:FF, as Avid does (the FCM line says how to
        # count): readers that only take ':' (OpenTimelineIO's among them) skip 'HH:MM:SS;FF' locators.
        text = _DF_LOC.sub(lambda m: m.group(1) + m.group(2).replace(";", ":"), "".join(lines))
    return text


def write_markers(ev: Events, out: str | os.PathLike, fmt: str, *, video: str | os.PathLike | None = None,
                  name: str = DEFAULT_NAME) -> Path:
    """Write *ev*'s markers as *fmt* (``otio``, ``edl``, ``fcpxml``) to *out* atomically."""
    check_adapter(fmt, out)
    inputs = [p for p in (ev.video.path, video) if p]
    check_output_path(out, inputs=inputs)
    return write_text_atomic(out, markers_text(ev, fmt, video=video, name=name))


def write_otio(ev: Events, out: str | os.PathLike, **kw) -> Path:
    """Write an OpenTimelineIO ``.otio`` file (see :func:`build_timeline`)."""
    return write_markers(ev, out, "otio", **kw)


def write_edl(ev: Events, out: str | os.PathLike, **kw) -> Path:
    """Write a CMX 3600 EDL with one ``* LOC:`` locator per event."""
    return write_markers(ev, out, "edl", **kw)


def write_fcpxml(ev: Events, out: str | os.PathLike, **kw) -> Path:
    """Write Final Cut Pro 7 XML (xmeml) with one ``<marker>`` per event."""
    return write_markers(ev, out, "fcpxml", **kw)


# ---------------------------------------------------------------- reading back

_DF_LOC = re.compile(r"^(\s*\*\s*LOC:\s*)(\d\d:\d\d:\d\d;\d\d)", re.MULTILINE)
_LOC = re.compile(r"^(\s*\*\s*LOC:\s*)(\d\d:\d\d:\d\d[:;]\d\d)", re.MULTILINE)
_FCM_DF = re.compile(r"^\s*FCM:\s*DROP FRAME", re.MULTILINE)
_READERS = {".otio": "otio", ".edl": "edl", ".xml": "fcpxml", ".fcpxml": "fcpxml"}


def read_markers(path: str | os.PathLike, *, fps: float | None = None) -> list[Cue]:
    """Markers in an ``.otio``, ``.edl`` or FCP ``.xml`` file, as cues in the source's seconds, by time.

    Clip markers are read in their clip's media time (the source video's
    time). An EDL states no frame rate, so *fps* (the video's rate, taken to
    its SMPTE rate as when writing) is required for it.
    """
    p = Path(path)
    fmt = _READERS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(f"{p}: unknown marker format {p.suffix!r} (use .otio, .edl or .xml)")
    check_adapter(fmt)
    otio = _otio()
    p, text = read_text_input(p)
    kw = {}
    if fmt == "edl":
        if not fps:
            raise InputError(f"{p}: an EDL does not state its frame rate; give fps")
        rate = float(smpte_rate(fps))
        kw["rate"] = rate

        drop = bool(_FCM_DF.search(text))

        def _ndf(m: re.Match) -> str:  # the adapter counts every locator as non-drop: rewrite each as the
            # non-drop timecode of the same frame (drop-frame counting when the FCM line says so)
            tc = m.group(2)
            if drop:
                tc = tc[:8] + ";" + tc[9:]
            frame = otio.opentime.from_timecode(tc, rate)
            return m.group(1) + otio.opentime.to_timecode(frame, rate, False)

        text = _LOC.sub(_ndf, text)
    try:
        tl = otio.adapters.read_from_string(text, adapter_name=ADAPTERS[fmt][0], **kw)
    except Exception as exc:  # adapters raise anything from XML, JSON and their own errors
        raise InputError(f"{p}: cannot read as {ADAPTERS[fmt][2]} ({type(exc).__name__}: {exc})") from None
    found = []
    items = [tl.tracks, *tl.tracks, *tl.find_clips()] if isinstance(tl, otio.schema.Timeline) else []
    for item in items:
        for m in item.markers:
            start = m.marked_range.start_time.to_seconds()
            found.append(Cue(start, start + m.marked_range.duration.to_seconds(), m.name))
    return sorted(found, key=lambda c: c.start)
