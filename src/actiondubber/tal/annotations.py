"""Segment annotations and predictions: ActivityNet-style JSON and EPIC-Kitchens-100 CSV.

Annotations (ActivityNet 1.3, UnAV-100 and ActionFormer's custom-data format)::

    {"database": {vid: {"duration": s, "subset": "training", "annotations": [{"segment": [s, e], "label": name}]}}}

Predictions (ActivityNet detection results)::

    {"results": {vid: [{"segment": [s, e], "label": name, "score": p}]}}

EPIC-Kitchens-100 CSV: ``video_id, start_timestamp, stop_timestamp`` (``HH:MM:SS.ff``) and a label
column (``verb`` by default, or ``noun`` / ``narration``); durations come from the latest stop time
unless given.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from actiondubber.errors import InputError
from actiondubber.fileio import read_json_input, read_text_input, write_text_atomic


@dataclass(frozen=True)
class Segment:
    """One action segment: start and end (s), class name, and a score (1.0 for ground truth)."""

    start: float
    end: float
    label: str
    score: float = 1.0


@dataclass
class VideoAnnotation:
    """A video's duration (s), subset name and ground-truth segments."""

    duration: float
    subset: str = ""
    segments: list[Segment] = field(default_factory=list)


def _segment(d: Mapping, where: str, *, with_score: bool) -> Segment:
    try:
        s, e = (float(x) for x in d["segment"])
        label = str(d["label"])
        score = float(d["score"]) if with_score else 1.0
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: bad segment entry {dict(d)!r} ({type(exc).__name__}: {exc})") from None
    if not (e >= s):
        raise InputError(f"{where}: segment ends before it starts: [{s}, {e}]")
    return Segment(s, e, label, score)


def parse_annotations(d: object, source: str = "<annotations>") -> dict[str, VideoAnnotation]:
    """``{video id: VideoAnnotation}`` from an ActivityNet-style dictionary."""
    if not isinstance(d, dict) or not isinstance(d.get("database"), dict):
        raise InputError(f"{source}: not an ActivityNet-style annotation file (needs a \"database\" object)")
    out: dict[str, VideoAnnotation] = {}
    for vid, v in d["database"].items():
        if not isinstance(v, dict):
            raise InputError(f"{source}: entry {vid!r} is not an object")
        segs = [_segment(a, f"{source}: {vid}", with_score=False) for a in v.get("annotations") or []]
        try:
            dur = float(v["duration"]) if v.get("duration") is not None else max((s.end for s in segs), default=0.0)
        except (TypeError, ValueError):
            raise InputError(f"{source}: {vid}: duration is not a number") from None
        out[str(vid)] = VideoAnnotation(dur, str(v.get("subset") or ""), segs)
    return out


def _load_json(path: str | os.PathLike, what: str) -> tuple[Path, object]:
    return read_json_input(path, what)


def load_annotations(path: str | os.PathLike) -> dict[str, VideoAnnotation]:
    """Read annotations: ActivityNet-style ``.json``, or EPIC-Kitchens-100 ``.csv`` (see :func:`read_epic_csv`)."""
    if str(path).lower().endswith(".csv"):
        return read_epic_csv(path)
    p, d = _load_json(path, "annotation file")
    return parse_annotations(d, str(p))


def load_predictions(path: str | os.PathLike) -> dict[str, list[Segment]]:
    """``{video id: [Segment]}`` from an ActivityNet results file."""
    p, d = _load_json(path, "prediction file")
    if not isinstance(d, dict) or not isinstance(d.get("results"), dict):
        raise InputError(f"{p}: not an ActivityNet results file (needs a \"results\" object)")
    out = {}
    for vid, segs in d["results"].items():
        if not isinstance(segs, list):
            raise InputError(f"{p}: results for {vid!r} are not a list")
        out[str(vid)] = [_segment(s, f"{p}: {vid}", with_score=True) for s in segs]
    return out


def predictions_dict(results: Mapping[str, Iterable[Segment]], extra: Mapping | None = None) -> dict:
    """The ActivityNet results dictionary of *results* (segments rounded to µs, scores to 6 digits)."""
    d = {"version": "actiondubber.tal/1",
         "results": {vid: [{"segment": [round(s.start, 6), round(s.end, 6)], "label": s.label,
                            "score": round(float(s.score), 6)} for s in segs] for vid, segs in results.items()}}
    if extra:
        d["external_data"] = dict(extra)
    return d


def save_predictions(path: str | os.PathLike, results: Mapping[str, Iterable[Segment]], extra: Mapping | None = None
                     ) -> Path:
    """Write *results* as an ActivityNet results JSON, atomically."""
    return write_text_atomic(path, json.dumps(predictions_dict(results, extra), indent=1) + "\n")


def annotations_dict(db: Mapping[str, VideoAnnotation]) -> dict:
    """The ActivityNet-style dictionary of *db*."""
    return {"database": {vid: {"duration": round(v.duration, 6), "subset": v.subset,
                               "annotations": [{"segment": [round(s.start, 6), round(s.end, 6)], "label": s.label}
                                               for s in v.segments]} for vid, v in db.items()}}


def save_annotations(path: str | os.PathLike, db: Mapping[str, VideoAnnotation]) -> Path:
    """Write *db* as ActivityNet-style JSON, atomically."""
    return write_text_atomic(path, json.dumps(annotations_dict(db), indent=1) + "\n")


def _hms(text: str, where: str) -> float:
    try:
        parts = [float(x) for x in text.strip().split(":")]
    except ValueError:
        raise InputError(f"{where}: bad timestamp {text!r} (expected HH:MM:SS.ff)") from None
    sec = 0.0
    for x in parts:
        sec = sec * 60 + x
    return sec


def read_epic_csv(path: str | os.PathLike, *, label: str = "verb", subset: str = "",
                  durations: Mapping[str, float] | None = None) -> dict[str, VideoAnnotation]:
    """Read EPIC-Kitchens-100 action annotations (``EPIC_100_train.csv`` layout) as segments per video."""
    p, text = read_text_input(path, "EPIC-Kitchens CSV")
    rows = list(csv.DictReader(io.StringIO(text)))
    need = {"video_id", "start_timestamp", "stop_timestamp", label}
    if not rows or not need <= set(rows[0]):
        raise InputError(f"{p}: EPIC-Kitchens CSV needs the columns {', '.join(sorted(need))}")
    out: dict[str, VideoAnnotation] = {}
    for k, r in enumerate(rows, start=2):
        where = f"{p}: line {k}"
        s, e = _hms(r["start_timestamp"], where), _hms(r["stop_timestamp"], where)
        if e < s:
            raise InputError(f"{where}: stop before start")
        v = out.setdefault(r["video_id"], VideoAnnotation(0.0, subset))
        v.segments.append(Segment(s, e, str(r[label])))
    for vid, v in out.items():
        v.duration = float((durations or {}).get(vid, max(s.end for s in v.segments)))
    return out


def class_names(db: Mapping[str, VideoAnnotation]) -> list[str]:
    """Sorted class names appearing in *db*."""
    return sorted({s.label for v in db.values() for s in v.segments})
