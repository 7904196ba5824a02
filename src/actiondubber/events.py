"""The one JSON form of :class:`~actiondubber.types.Events` (schema in the README).

``save_events`` / ``load_events`` are the only code that writes or reads it.
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
