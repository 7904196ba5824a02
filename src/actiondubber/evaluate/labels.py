"""Read and write frame labels in the Audible623 CSV format.

Format: a header ``video_id,sound_label,class`` and one row per video;
``sound_label`` is a quoted, comma-separated list of 0-based frame indices.
The release's quirks are handled: frames out of order or repeated, mixed-case
class names, UCF101 ids (``v_...``). Bad rows are skipped with a warning and
counted, never silently dropped.

"Don't care" frames: the release marks none, so the project adds an optional
fourth column ``dont_care`` (the same quoted frame-list format) for frames whose
sound is too weak to be sure of (``label-from-audio`` writes it). Scoring ignores
predictions there and does not count them as misses; training leaves them out of
the loss. The column is written only when some video has such frames, so files
without it read and write exactly as before, and readers that take only
``video_id,sound_label`` (the paper's code, ``csv.DictReader`` users) see the sure
labels alone. A frame both labelled and don't-care counts as labelled.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from actiondubber.errors import InputError
from actiondubber.fileio import read_text_input, write_text_atomic

log = logging.getLogger(__name__)

HEADER = ("video_id", "sound_label", "class")
#: Name of the optional fourth column: frames that are neither labelled nor unlabelled.
DONT_CARE = "dont_care"


@dataclass(frozen=True)
class VideoLabels:
    """One video's labelled audible frames (sorted, unique) and its class."""

    video_id: str
    frames: tuple[int, ...]
    label_class: str = ""
    dont_care: tuple[int, ...] = ()

    @property
    def class_key(self) -> str:
        """Class name lower-cased, for grouping the release's mixed spellings."""
        return self.label_class.strip().lower()


@dataclass(frozen=True)
class LabelFile:
    """All rows of a labels CSV, keyed by video id, plus how many rows were skipped."""

    path: str
    videos: dict[str, VideoLabels]
    n_skipped: int = 0

    def __len__(self) -> int:
        return len(self.videos)


def parse_frame_list(text: str) -> list[int]:
    """Parse ``"3, 17,17,9"`` into ``[3, 9, 17]`` (sorted, duplicates removed)."""
    items = [s.strip() for s in str(text).replace(";", ",").split(",")]
    frames = {int(float(s)) for s in items if s}
    if any(f < 0 for f in frames):
        raise ValueError("negative frame index")
    return sorted(frames)


def read_labels(path: str | os.PathLike) -> LabelFile:
    """Read an Audible623-format labels CSV.

    Raises :class:`InputError` if the file is missing, lacks the required
    columns, or has rows but none usable (naming the first bad row); when some
    rows are usable, the bad ones are skipped with one warning naming the first.
    """
    p, text = read_text_input(path, "labels file")
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "video_id" not in fields or "sound_label" not in fields:
        raise InputError(f"{p}: not an Audible623 labels CSV (needs columns video_id,sound_label[,class])")
    reader.fieldnames = fields
    videos: dict[str, VideoLabels] = {}
    skipped = 0
    first_bad = ""
    for lineno, row in enumerate(reader, start=2):
        vid = (row.get("video_id") or "").strip()
        try:
            if not vid:
                raise ValueError("empty video_id")
            frames = parse_frame_list(row.get("sound_label") or "")
            dc = parse_frame_list(row.get(DONT_CARE) or "")
        except ValueError as exc:
            skipped += 1
            first_bad = first_bad or f"line {lineno}: {exc}"
            continue
        if vid in videos:
            log.warning("%s line %d: video %s listed twice; frames merged", p, lineno, vid)
            frames = sorted(set(frames) | set(videos[vid].frames))
            dc = sorted(set(dc) | set(videos[vid].dont_care))
        dc = sorted(set(dc) - set(frames))
        videos[vid] = VideoLabels(vid, tuple(frames), (row.get("class") or "").strip(), tuple(dc))
    if skipped and not videos:
        raise InputError(f"{p}: no usable rows ({skipped} bad; {first_bad})")
    if skipped:
        log.warning("%s: %d bad row(s) skipped (first: %s)", p, skipped, first_bad)
    return LabelFile(str(p), videos, skipped)


def format_labels(
    rows: Mapping[str, Sequence[int]],
    classes: Mapping[str, str] | str = "",
    dont_care: Mapping[str, Sequence[int]] | None = None,
) -> str:
    """CSV text in the Audible623 format for ``{video_id: frames}``.

    *dont_care* (``{video_id: frames}``) adds the ``dont_care`` column when any video has such a
    frame that is not also labelled (module docstring); without it the text is the plain format.
    """
    dc = {vid: sorted({int(f) for f in (dont_care or {}).get(vid, ())} - {int(f) for f in frames})
          for vid, frames in rows.items()}
    extra = any(dc.values())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER + ((DONT_CARE,) if extra else ()))
    for vid, frames in rows.items():
        cls = classes if isinstance(classes, str) else classes.get(vid, "")
        row = [vid, ",".join(str(int(f)) for f in sorted(set(frames))), cls]
        if extra:
            row.append(",".join(str(f) for f in dc[vid]))
        w.writerow(row)
    return buf.getvalue()


def write_labels(
    path: str | os.PathLike,
    rows: Mapping[str, Sequence[int]],
    classes: Mapping[str, str] | str = "",
    dont_care: Mapping[str, Sequence[int]] | None = None,
) -> Path:
    """Write ``{video_id: frames}`` (and optional don't-care frames) as an Audible623-format CSV, atomically."""
    return write_text_atomic(path, format_labels(rows, classes, dont_care))
