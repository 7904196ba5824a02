"""Labelled videos in the Audible623 release format, and training clips drawn from them.

A data set is a labels CSV (``video_id,sound_label,class``, read by
:func:`actiondubber.evaluate.labels.read_labels`) plus a folder of videos,
searched recursively; a video belongs to the row whose ``video_id`` equals
its file stem, whatever its video extension (UCF101's ``v_...avi``, YouTube
ids as ``.mp4`` ...). This covers the Audible623 release and any folder made
by ``actiondubber label-from-audio`` or ``actiondubber synth --labels``.

Rows that cannot be used are skipped with a warning naming the labels file,
its line and the video, and counted in :class:`DatasetReport` (one summary
line): no video file for the id, a video that cannot be read, an empty label
list (unless ``negatives=True``: then the video is kept as footage with no
audible action, and its clips teach the model where *not* to fire), or
labels all beyond the video's length. Labels beyond the length in an
otherwise usable row are dropped with a warning. Labels on the first or last
frame (which have no inflection, Eq. 4) move to the nearest frame that has one.

Training clips (:class:`ClipSampler`, :meth:`LabelledSet.clip`): each epoch
visits every video once in a seeded random order; a clip of ``clip_len``
frames is placed so that it contains one annotated frame picked at random
(the issue's "sampled around annotated frames"), or anywhere in a negative
video, and is mirrored left-right at random. Everything random is a pure function of (seed, epoch, position),
so the sampler's state is two integers and a resumed run draws exactly the
clips the uninterrupted run would have drawn.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.evaluate.labels import read_labels
from actiondubber.model.inputs import (
    FRAME_OFFSET,
    FeatureParams,
    VideoFeatures,
    arrays_to_tensors,
    hflip,
    pad_rows,
    video_features,
)

log = logging.getLogger(__name__)

#: File extensions taken as videos when matching ids to files (lower case).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
                    ".ts", ".mts")


@dataclass(frozen=True)
class LabelledVideo:
    """One usable row: the video file, its labelled frames (0-based, within the video) and class."""

    video_id: str
    path: str
    frames: tuple[int, ...]
    label_class: str = ""
    line: int = 0
    dont_care: tuple[int, ...] = ()


@dataclass
class DatasetReport:
    """What happened to every row of a labels file.

    ``skipped`` maps a reason to the ``(line, video_id)`` rows skipped for it;
    ``dropped_labels`` counts single labels dropped (beyond a video's end).
    """

    labels: str
    videos_dir: str
    n_rows: int = 0
    n_used: int = 0
    skipped: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    dropped_labels: int = 0
    n_negatives: int = 0

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def skip(self, reason: str, line: int, video_id: str) -> None:
        self.skipped.setdefault(reason, []).append((line, video_id))

    def summary(self) -> str:
        """One line: rows used / skipped by reason / labels dropped."""
        parts = [f"{self.labels}: {self.n_used} of {self.n_rows} row(s) used"]
        if self.n_negatives:
            parts[0] += f" ({self.n_negatives} without labels, as negatives)"
        if self.skipped:
            why = ", ".join(f"{len(v)} {k}" for k, v in self.skipped.items())
            parts.append(f"{self.n_skipped} skipped ({why})")
        if self.dropped_labels:
            parts.append(f"{self.dropped_labels} label(s) beyond a video's end dropped")
        return "; ".join(parts)


def index_videos(folder: str | os.PathLike) -> dict[str, Path]:
    """Map file stem → video path for every video under *folder* (recursive; first in sorted order wins)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: videos folder not found")
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() and not p.name.startswith("."):
            if p.stem in found:
                log.warning("%s: another video with id %s is at %s; using the first", p, p.stem, found[p.stem])
                continue
            found[p.stem] = p
    return found


def _line_numbers(path: Path) -> dict[str, int]:
    """video_id → line number of its (first) row, for warnings."""
    out: dict[str, int] = {}
    try:
        reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
        header = next(reader, [])
        col = [h.strip() for h in header].index("video_id")
        for row in reader:
            if len(row) > col:
                out.setdefault(row[col].strip(), reader.line_num)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error):
        pass
    return out


def resolve_rows(
    labels: str | os.PathLike, videos_dir: str | os.PathLike, *, warn: bool = True, negatives: bool = False
) -> tuple[list[LabelledVideo], DatasetReport]:
    """Pair every labels row with its video file; skip (warn, count) rows without a video or labels.

    With *negatives* a row with an empty label list is kept (a video without audible actions). Frame ranges
    are checked later, when the videos are read (:func:`load_set`).
    """
    lf = read_labels(labels)
    lines = _line_numbers(Path(labels))
    files = index_videos(videos_dir)
    report = DatasetReport(str(labels), str(videos_dir), n_rows=len(lf.videos) + lf.n_skipped)
    for _ in range(lf.n_skipped):
        report.skip("unreadable row", 0, "")
    rows: list[LabelledVideo] = []
    emit = log.warning if warn else log.debug
    for vid, vl in lf.videos.items():
        line = lines.get(vid, 0)
        where = f"{labels} line {line} (video {vid})"
        path = files.get(vid)
        if path is None:
            emit("%s: no video file named %s.* in %s; row skipped", where, vid, videos_dir)
            report.skip("without a video file", line, vid)
            continue
        if not vl.frames and not negatives:
            emit("%s: empty label list; row skipped (train with --negatives to use it as a clip without "
                 "audible actions)", where)
            report.skip("with no labels", line, vid)
            continue
        rows.append(LabelledVideo(vid, str(path), tuple(vl.frames), vl.label_class, line, tuple(vl.dont_care)))
    return rows, report


@dataclass
class Item:
    """A usable video with its features and the feature rows that are audible."""

    video: LabelledVideo
    features: VideoFeatures
    positive_rows: np.ndarray  # sorted unique feature rows (frame - FRAME_OFFSET) with a label
    ignore_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # don't-care rows

    @property
    def n_rows(self) -> int:
        return self.features.n_rows

    def targets(self, start: int, length: int) -> np.ndarray:
        """0/1 float32 targets for rows ``start .. start+length-1`` (0 past the end)."""
        t = np.zeros(length, np.float32)
        r = self.positive_rows - start
        t[r[(r >= 0) & (r < length)]] = 1.0
        return t

    def ignored(self, start: int, length: int) -> np.ndarray:
        """Bool mask of rows ``start .. start+length-1`` that are don't-care (left out of the loss)."""
        m = np.zeros(length, bool)
        r = self.ignore_rows - start
        m[r[(r >= 0) & (r < length)]] = True
        return m


def _check_frames(
    row: LabelledVideo, feats: VideoFeatures, report: DatasetReport, warn: bool
) -> np.ndarray | None:
    n = feats.info.n_frames
    emit = log.warning if warn else log.debug
    where = f"{report.labels} line {row.line} (video {row.video_id})"
    frames = np.asarray(row.frames, np.int64)
    if frames.size == 0:
        report.n_negatives += 1
        return np.zeros(0, np.int64)
    beyond = frames[frames >= n]
    if beyond.size:
        shown = ", ".join(str(int(f)) for f in beyond[:5]) + (" ..." if beyond.size > 5 else "")
        if beyond.size == frames.size:
            emit("%s: every labelled frame (%s) is beyond the video's %d frames; row skipped (wrong video?)",
                 where, shown, n)
            report.skip("with all labels beyond the video", row.line, row.video_id)
            return None
        emit("%s: labelled frame(s) %s beyond the video's %d frames dropped", where, shown, n)
        report.dropped_labels += int(beyond.size)
        frames = frames[frames < n]
    rows = np.clip(frames - FRAME_OFFSET, 0, feats.n_rows - 1)  # first/last frame → nearest frame with features
    return np.unique(rows)


def load_set(
    labels: str | os.PathLike,
    videos_dir: str | os.PathLike,
    params: FeatureParams,
    *,
    cache_dir: str | os.PathLike | None = None,
    shard: tuple[int, int] = (0, 1),
    barrier: Callable[[], None] | None = None,
    progress: Callable[[int], None] | None = None,
    warn: bool = True,
    negatives: bool = False,
) -> LabelledSet:
    """Read labels, pair rows with videos, compute (or load cached) features and check frame ranges.

    With ``shard=(rank, world)`` this process computes the features of every
    ``world``-th video only, then calls *barrier* and opens the rest from the
    cache (distributed training: each video's flow is computed once).
    *progress* is called with 1 per video. Logs a summary line (a warning
    when rows were skipped) and raises :class:`InputError` when no row is usable
    (or only negatives). *negatives* keeps rows with an empty label list (see :func:`resolve_rows`).
    """
    rows, report = resolve_rows(labels, videos_dir, warn=warn, negatives=negatives)
    rank, world = shard
    if world > 1 and cache_dir is not None:
        for i, row in enumerate(rows):
            if i % world == rank:
                try:
                    video_features(row.path, params=params, cache_dir=cache_dir)
                except InputError:
                    pass  # reported below, by every rank alike
        if barrier is not None:
            barrier()
    items: list[Item] = []
    emit = log.warning if warn else log.debug
    for row in rows:
        try:
            feats = video_features(row.path, params=params, cache_dir=cache_dir)
        except InputError as exc:
            emit("%s line %d (video %s): %s; row skipped", labels, row.line, row.video_id, exc)
            report.skip("with an unreadable video", row.line, row.video_id)
            feats = None
        if progress is not None:
            progress(1)
        if feats is None:
            continue
        if feats.n_rows < 1:
            emit("%s line %d (video %s): video too short (%d frames); row skipped", labels, row.line, row.video_id,
                 feats.info.n_frames)
            report.skip("with a too short video", row.line, row.video_id)
            continue
        pos = _check_frames(row, feats, report, warn)
        if pos is None:
            continue
        dc = np.asarray(row.dont_care, np.int64)
        dc = np.setdiff1d(np.unique(np.clip(dc[dc < feats.info.n_frames] - FRAME_OFFSET, 0, feats.n_rows - 1)), pos)
        items.append(Item(row, feats, pos, dc))
    report.n_used = len(items)
    (emit if report.n_skipped else log.info)("%s", report.summary())
    if not any(it.positive_rows.size for it in items):
        raise InputError(f"{labels}: no usable rows with labels ({report.summary()})")
    return LabelledSet(items, report, params)


@dataclass
class Clip:
    """One training clip as numpy arrays: rows of features, 0/1 targets, and how many rows are real."""

    rgb: np.ndarray
    motion: np.ndarray
    inflection: np.ndarray
    targets: np.ndarray
    n_valid: int
    video_index: int
    start: int
    ignore: np.ndarray | None = None  # don't-care rows (bool), left out of the loss


@dataclass
class LabelledSet:
    """The usable videos of a labels file with their (lazily read) features."""

    items: list[Item]
    report: DatasetReport
    params: FeatureParams

    def __len__(self) -> int:
        return len(self.items)

    def clip(self, index: int, length: int, rng: np.random.Generator, *, augment: bool = True) -> Clip:
        """A clip of *length* rows from video *index* containing one random annotated frame (anywhere in a
        video without labels)."""
        item = self.items[index]
        n = item.n_rows
        if item.positive_rows.size:
            anchor = int(rng.choice(item.positive_rows))
            lo = max(0, anchor - length + 1)
            hi = min(anchor, max(0, n - length))
            start = int(rng.integers(lo, hi + 1)) if hi >= lo else hi
        else:
            start = int(rng.integers(0, max(0, n - length) + 1))
        rgb, mot, inf = item.features.rows(start, start + length)
        rgb, mot, inf, n_valid = pad_rows(rgb, mot, inf, length)
        if augment and rng.random() < 0.5:
            rgb, mot, inf = hflip(rgb, mot, inf)
        return Clip(rgb, mot, inf, item.targets(start, length), n_valid, index, start, item.ignored(start, length))


class ClipSampler:
    """Which video each training clip comes from, and the seed of its randomness.

    Epoch ``e`` visits the videos in the order ``permutation(seed, e)``; the
    clip at position ``p`` of epoch ``e`` uses ``default_rng([seed, e, p])``.
    State: ``epoch`` and ``position`` (see :meth:`state_dict`).
    """

    def __init__(self, n_videos: int, seed: int = 0) -> None:
        if n_videos < 1:
            raise ValueError("ClipSampler needs at least one video")
        self.n, self.seed = int(n_videos), int(seed)
        self.epoch = 0
        self.position = 0
        self._order: np.ndarray | None = None

    def _perm(self) -> np.ndarray:
        if self._order is None:
            self._order = np.random.default_rng([self.seed, self.epoch, 0x5EED]).permutation(self.n)
        return self._order

    def take(self, count: int) -> list[tuple[int, np.random.Generator]]:
        """The next *count* ``(video index, generator)`` pairs; advances the state."""
        out = []
        for _ in range(count):
            if self.position >= self.n:
                self.epoch += 1
                self.position = 0
                self._order = None
            idx = int(self._perm()[self.position])
            out.append((idx, np.random.default_rng([self.seed, self.epoch, self.position])))
            self.position += 1
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "n": self.n}

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("n", self.n)) != self.n:
            log.warning("training set has %d videos, the checkpoint's sampler had %d; the clip order changes",
                        self.n, state.get("n"))
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.seed = int(state.get("seed", self.seed))
        self._order = None


def collate(clips: Sequence[Clip], *, use_motion: bool = True, use_inflection: bool = True):
    """Stack clips into model inputs ``(rgb, motion | None, inflection | None)``, targets (B,T), valid (B,T).

    *valid* is False on padding and on don't-care rows (:attr:`Clip.ignore`).
    """
    import torch

    rgbs, mots, infs = [], [], []
    for c in clips:
        r, m, a = arrays_to_tensors(c.rgb, c.motion, c.inflection)
        rgbs.append(r)
        mots.append(m)
        infs.append(a)
    rgb = torch.stack(rgbs)
    motion = torch.stack(mots) if use_motion else None
    inflection = torch.stack(infs) if use_inflection else None
    targets = torch.from_numpy(np.stack([c.targets for c in clips]))
    t = targets.shape[1]
    valid = torch.stack([(torch.arange(t) < c.n_valid)
                         & (torch.ones(t, dtype=torch.bool) if c.ignore is None else ~torch.from_numpy(c.ignore))
                         for c in clips])
    return rgb, motion, inflection, targets, valid
