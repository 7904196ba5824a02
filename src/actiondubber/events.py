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
from actiondubber.fileio import read_json_input, write_text_atomic
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
        # absolute, so that an export made from any folder points at the right file
        "video": os.path.abspath(v.path) if v.path else "",
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


#: Slack (s) allowed past the video's end: the file rounds times to the microsecond.
END_SLACK = 1e-3


def _num(value, what: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False):
    """*value* as a finite float (or int), inside [lo, hi]; ValueError naming *what* otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if integer:
        if x != int(x):
            raise ValueError(f"{what} must be a whole number, got {value!r}")
        x = int(x)
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise ValueError(f"{what} {value!r} is out of range")
    return x


def events_from_dict(d: dict, source: str = "<dict>") -> Events:
    """Rebuild :class:`Events` from its JSON dictionary, validating it fully.

    Checked: the schema id; every number finite and in range (fps > 0, frames inside the video,
    times inside its duration); per-frame ``times`` increasing and ``scores`` one per frame; an
    event without ``time`` is re-timed from ``times`` or ``fps``, or refused when neither is known.
    Raises :class:`InputError` naming the first problem.
    """
    try:
        if not isinstance(d, dict):
            raise ValueError("the top level is not an object")
        schema = d.get("schema")
        if schema != SCHEMA:
            raise ValueError(f"schema is {schema!r}, expected {SCHEMA!r}")
        if not isinstance(d.get("events"), list):
            raise ValueError("'events' must be a list")
        raw_times = d.get("times") or []
        if not isinstance(raw_times, list):
            raise ValueError("'times' must be a list")
        times = tuple(_num(t, f"times[{i}]", lo=0) for i, t in enumerate(raw_times))
        if any(b < a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError("'times' must not decrease from frame to frame")
        n_frames = _num(d.get("n_frames") or len(times), "n_frames", lo=0, integer=True)
        if times and len(times) != n_frames:
            raise ValueError(f"'times' has {len(times)} entries for {n_frames} frames")
        fps = d.get("fps")
        fps = 0.0 if fps is None else _num(fps, "fps")
        if fps <= 0 and d.get("fps") is not None:
            raise ValueError(f"fps must be positive, got {d.get('fps')!r}")
        duration = _num(d.get("duration") or 0.0, "duration", lo=0)
        video = d.get("video", "")
        if not isinstance(video, str):
            raise ValueError("'video' must be a path string")
        info = VideoInfo(
            path=video,
            width=_num(d.get("width") or 0, "width", lo=0, integer=True),
            height=_num(d.get("height") or 0, "height", lo=0, integer=True),
            fps=fps,
            n_frames=n_frames,
            duration=duration,
            has_audio=bool(d.get("has_audio", False)),
            timestamps=times,
        )
        events = []
        for k, e in enumerate(d["events"], 1):
            if not isinstance(e, dict) or "frame" not in e:
                raise ValueError(f"event {k} is not an object with a 'frame'")
            frame = _num(e["frame"], f"event {k} frame", lo=0, integer=True)
            if n_frames and frame >= n_frames:
                raise ValueError(f"event {k} at frame {frame} is beyond the end of the video ({n_frames} frames)")
            t = e.get("time")
            if t is None:
                if not times and fps <= 0:
                    raise ValueError(f"event {k} has no time, and the file has neither 'times' nor 'fps'")
                t = info.time_of(frame)
            t = _num(t, f"event {k} time", lo=0)
            if duration > 0 and t > duration + END_SLACK:
                raise ValueError(f"event {k} at {t:.3f} s is beyond the end of the video ({duration:.3f} s)")
            score = e.get("score")
            events.append(
                Event(
                    frame=frame,
                    time=t,
                    score=1.0 if score is None else _num(score, f"event {k} score"),
                    x=None if e.get("x") is None else _num(e["x"], f"event {k} x"),
                    y=None if e.get("y") is None else _num(e["y"], f"event {k} y"),
                )
            )
        raw_scores = d.get("scores") or []
        if not isinstance(raw_scores, list):
            raise ValueError("'scores' must be a list")
        if raw_scores and n_frames and len(raw_scores) != n_frames:
            raise ValueError(f"'scores' has {len(raw_scores)} values for {n_frames} frames")
        scores = np.asarray([np.nan if s is None else _num(s, f"scores[{i}]") for i, s in enumerate(raw_scores)],
                            dtype=np.float32)
        params = d.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("'params' must be an object")
        return Events(info, tuple(sorted(events, key=lambda e: e.frame)), scores, dict(params))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{source}: not an actiondubber events file ({exc})") from None


def load_events(path: str | os.PathLike) -> Events:
    """Read and validate an events JSON file written by :func:`save_events` (see :func:`events_from_dict`).

    Raises :class:`InputError` with one line for a missing, unreadable, huge, malformed or
    inconsistent file.
    """
    p, d = read_json_input(path, "events file")
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
