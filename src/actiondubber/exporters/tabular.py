"""Events as a human-readable table and as CSV."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from actiondubber.exporters.timecode import clock_time
from actiondubber.fileio import write_text_atomic
from actiondubber.types import Events

CSV_HEADER = ("frame", "time", "timecode", "score", "x", "y")


def _fmt(v: float | None, nd: int) -> str:
    return "" if v is None else f"{v:.{nd}f}"


def events_table(ev: Events) -> str:
    """A fixed-width table of the events, with a one-line header about the video."""
    v = ev.video
    lines = [
        f"{Path(v.path).name}: {len(ev)} audible event(s) in {v.n_frames} frames "
        f"({v.duration:.2f} s at {v.fps:.3f} fps, {v.width}x{v.height})",
        f"{'#':>4} {'frame':>7} {'time (s)':>9} {'timecode':>12} {'score':>9} {'x':>7} {'y':>7}",
    ]
    for k, e in enumerate(ev.events, 1):
        lines.append(
            f"{k:>4} {e.frame:>7} {e.time:>9.3f} {clock_time(e.time):>12} {e.score:>9.3f} "
            f"{_fmt(e.x, 0):>7} {_fmt(e.y, 0):>7}"
        )
    return "\n".join(lines) + "\n"


def events_csv(ev: Events) -> str:
    """CSV text: one row per event (frame, time, timecode, score, x, y)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for e in ev.events:
        w.writerow([e.frame, f"{e.time:.6f}", clock_time(e.time), f"{e.score:.6f}", _fmt(e.x, 2), _fmt(e.y, 2)])
    return buf.getvalue()


def write_events_csv(ev: Events, path: str | os.PathLike) -> Path:
    """Write :func:`events_csv` to *path* atomically."""
    return write_text_atomic(path, events_csv(ev))
