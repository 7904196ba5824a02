"""The one JSON form of :class:`~actiondubber.types.Events` (schema in the README), and the one check
that events belong to a video.

``save_events`` / ``load_events`` are the only code that writes or reads it; :func:`check_events_fit`
is the only check that events fit a video, used by dub, export and the review renderer.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.fileio import write_text_atomic
from actiondubber.types import Event, Events, VideoInfo

SCHEMA = "actiondubber.events/1"


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def events_to_dict(ev: Events) -> dict:
    """Plain-JSON dictionary of *ev* (see the README for the schema)."""
    v = ev.video
    return {
        "schema": SCHEMA,
        "video": v.path,
        "fps": _r(v.fps),
        "n_frames": v.n_frames,
        "duration": _r(v.duration),
        "width": v.width,
        "height": v.height,
        "has_audio": v.has_audio,
        "params": ev.params,
        "events": [
            {"frame": e.frame, "time": _r(e.time), "score": _r(e.score), "x": _r(e.x, 2), "y": _r(e.y, 2)}
            for e in ev.events
        ],
        "scores": [_r(s) for s in np.asarray(ev.scores, dtype=float).tolist()],
        "times": [_r(t) for t in v.timestamps],
    }


def save_events(ev: Events, path: str | os.PathLike) -> Path:
    """Write *ev* as JSON to *path* atomically."""
    return write_text_atomic(path, json.dumps(events_to_dict(ev), indent=1) + "\n")


def events_from_dict(d: dict, source: str = "<dict>") -> Events:
    """Rebuild :class:`Events` from its JSON dictionary; raise InputError if malformed."""
    try:
        if not isinstance(d, dict) or "events" not in d:
            raise KeyError("events")
        times = tuple(float(t) for t in d.get("times") or ())
        n_frames = int(d.get("n_frames") or len(times))
        info = VideoInfo(
            path=str(d.get("video", "")),
            width=int(d.get("width") or 0),
            height=int(d.get("height") or 0),
            fps=float(d.get("fps") or 0.0),
            n_frames=n_frames,
            duration=float(d.get("duration") or 0.0),
            has_audio=bool(d.get("has_audio", False)),
            timestamps=times,
        )
        events = []
        for e in d["events"]:
            frame = int(e["frame"])
            t = e.get("time")
            events.append(
                Event(
                    frame=frame,
                    time=float(t) if t is not None else info.time_of(frame),
                    score=float(e.get("score") if e.get("score") is not None else 1.0),
                    x=None if e.get("x") is None else float(e["x"]),
                    y=None if e.get("y") is None else float(e["y"]),
                )
            )
        scores = np.asarray([np.nan if s is None else s for s in d.get("scores") or []], dtype=np.float32)
        return Events(info, tuple(sorted(events, key=lambda e: e.frame)), scores, dict(d.get("params") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: not an actiondubber events file ({type(exc).__name__}: {exc})") from None


def load_events(path: str | os.PathLike) -> Events:
    """Read an events JSON file written by :func:`save_events`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: events file not found")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: cannot read events JSON ({exc})") from None
    return events_from_dict(d, str(p))


#: Frame counts of the events' video and of the video in hand may differ by this many frames (and
#: durations by this many frame lengths) and still be the same video: decoders and containers can
#: disagree over a last, partial frame. Anything further apart is another video.
FRAME_SLACK = 1
#: Slack (s) for comparing times: the events JSON keeps 1 µs.
TIME_SLACK = 1e-5


def check_events_fit(events: Events, info: VideoInfo, *, source: str = "events") -> None:
    """Raise :class:`InputError` unless *events* fit the video *info* describes.

    One rule for every consumer (dub, export, the review renderer):

    * every event lies inside the video: its time is finite and in ``[0, duration]``, and its
      frame in ``0 .. n_frames - 1`` (when *info* knows its frame count);
    * the facts the events record about their video agree with *info*: frame counts within
      :data:`FRAME_SLACK` frames, durations within as many frame lengths, and the picture size
      when both give one. Facts the events do not record (0 frames, 0 s: a hand-written file)
      are not compared.

    Parameters
    ----------
    events
        The events to check.
    info
        The video they are to be used with (e.g. from :func:`actiondubber.video.probe`).
    source
        What to name in the error (the events file's path).

    Raises
    ------
    InputError
        With one line naming the first event or fact that does not fit.
    """
    dur = info.duration
    n = info.n_frames
    where = info.path or "the video"
    for k, e in enumerate(events.events, 1):
        if not math.isfinite(e.time) or e.time < -TIME_SLACK:
            raise InputError(f"{source}: event {k} (frame {e.frame}) has an invalid time {e.time!r}")
        if dur > 0 and e.time > dur + TIME_SLACK:
            raise InputError(f"{source}: event {k} at {e.time:.3f} s (frame {e.frame}) is beyond the end of "
                             f"{where} ({dur:.3f} s); wrong video or events file?")
        if n > 0 and not 0 <= e.frame < n:
            raise InputError(f"{source}: event {k} at frame {e.frame} lies outside {where} (frames 0..{n - 1})")
    v = events.video
    them = f"{Path(v.path).name or 'an unnamed video'} ({v.n_frames} frames, {v.duration:.3f} s)"
    us = f"{where} ({n} frames, {dur:.3f} s)"
    n_ev = v.n_frames or len(v.timestamps)
    step = 1.0 / info.frame_rate
    if n_ev and n and abs(n_ev - n) > FRAME_SLACK:
        raise InputError(f"{source}: events were made for another video: {them}, not {us}")
    if v.duration > 0 and dur > 0 and abs(v.duration - dur) > FRAME_SLACK * step + TIME_SLACK:
        raise InputError(f"{source}: events were made for another video: {them}, not {us}")
    if v.width and v.height and info.width and info.height and (v.width, v.height) != (info.width, info.height):
        raise InputError(f"{source}: events were made for another video: a {v.width}x{v.height} picture, "
                         f"not {where}'s {info.width}x{info.height}")
