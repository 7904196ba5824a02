"""The batch's result tables: every event of every video, and one summary row per video.

``index.csv`` / ``index.parquet``: one row per event — ``video`` (the input's absolute path), ``rel``
(its path under the output folder), ``frame``, ``time``, ``score``, ``x``, ``y`` — in input order, then
frame order. ``videos.csv`` / ``videos.parquet``: one row per input — status, one-line error,
duration, frames, events, seconds taken, attempts, the events file. Values are those of the events
JSON files (same rounding). Every table is written atomically. Parquet needs pyarrow (the ``batch``
extra); without it only the CSV files are written, with a warning.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

from actiondubber.fileio import atomic_output, write_text_atomic

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("video", "rel", "frame", "time", "score", "x", "y")
VIDEO_COLUMNS = ("video", "rel", "status", "error", "duration", "n_frames", "fps", "width", "height", "has_audio",
                 "events", "audio_events", "seconds", "attempts", "sha256", "events_file")
#: Arrow type of each column (so empty tables keep their schema).
_TYPES = {
    "video": "string", "rel": "string", "frame": "int64", "time": "float64", "score": "float64", "x": "float64",
    "y": "float64", "status": "string", "error": "string", "duration": "float64", "n_frames": "int64",
    "fps": "float64", "width": "int64", "height": "int64", "has_audio": "bool_", "events": "int64",
    "audio_events": "int64", "seconds": "float64", "attempts": "int64", "sha256": "string", "events_file": "string",
}


def event_table(paths: list[str], rels: dict[str, str], events: dict[str, list[tuple]]) -> list[dict]:
    """Index rows of the done videos among *paths*, in that order."""
    rows = []
    for p in paths:
        for frame, t, score, x, y in events.get(p, ()):
            rows.append({"video": p, "rel": rels[p], "frame": frame, "time": t, "score": score, "x": x, "y": y})
    return rows


def video_table(summary: list[dict]) -> list[dict]:
    """Per-video rows from the state's summary rows."""
    rows = []
    for s in summary:
        done = s["status"] == "done"
        outputs = json.loads(s["outputs"]) if s.get("outputs") else {}
        audio = json.loads(s["audio_frames"]) if s.get("audio_frames") else None
        rows.append({
            "video": s["path"], "rel": s["rel"], "status": s["status"], "error": s["error"],
            "duration": s["duration"] if done else None, "n_frames": s["n_frames"] if done else None,
            "fps": s["fps"] if done else None, "width": s["width"] if done else None,
            "height": s["height"] if done else None, "has_audio": bool(s["has_audio"]) if done else None,
            "events": s["n_events"] if done else None, "audio_events": None if audio is None else len(audio),
            "seconds": s["seconds"], "attempts": s["attempts"], "sha256": s["sha256"],
            "events_file": outputs.get("events"),
        })
    return rows


def _csv_text(rows: list[dict], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else _cell(r[c]) for c in columns])
    return buf.getvalue()


def _cell(v):
    if isinstance(v, float):
        return repr(round(v, 6))
    return v


def _write_parquet(rows: list[dict], columns: tuple[str, ...], out: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, getattr(pa, _TYPES[c])()) for c in columns])
    table = pa.table({c: pa.array([r.get(c) for r in rows], type=schema.field(c).type) for c in columns},
                     schema=schema)
    with atomic_output(out) as tmp:
        pq.write_table(table, tmp)
    return out


def parquet_available() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def write_index(out_dir: str | os.PathLike, events: list[dict], videos: list[dict]) -> dict[str, Path]:
    """Write ``index.csv``, ``videos.csv`` and (with pyarrow) their Parquet twins into *out_dir*."""
    d = Path(out_dir)
    written = {
        "index.csv": write_text_atomic(d / "index.csv", _csv_text(events, EVENT_COLUMNS)),
        "videos.csv": write_text_atomic(d / "videos.csv", _csv_text(videos, VIDEO_COLUMNS)),
    }
    if parquet_available():
        written["index.parquet"] = _write_parquet(events, EVENT_COLUMNS, d / "index.parquet")
        written["videos.parquet"] = _write_parquet(videos, VIDEO_COLUMNS, d / "videos.parquet")
    else:
        log.warning("pyarrow is not installed: index.parquet not written (pip install 'actiondubber[batch]')")
    return written


def write_audio_labels(out_dir: str | os.PathLike, labels: dict[str, list[int]],
                       dont_care: dict[str, list[int]] | None = None) -> Path | None:
    """All videos' audio labels in one Audible623-format CSV (``labels.csv``; video id = file stem), with
    the weak onsets in its ``dont_care`` column when any video has some."""
    from actiondubber.evaluate.labels import write_labels

    if not labels:
        return None
    return write_labels(Path(out_dir) / "labels.csv", labels, "", dont_care)
