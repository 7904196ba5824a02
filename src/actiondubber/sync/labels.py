"""Labels from audio at scale: each clip's onsets corrected by its measured audio–picture offset.

For every video: decode the soundtrack once, find its strong onsets (the
``label-from-audio`` rule, :func:`actiondubber.audio.impact_onsets`), and,
with *align*, measure the offset (:func:`~actiondubber.sync.offset.measure_offset`)
and move each onset by it (an onset heard ``offset`` s after the impact is
labelled at the impact's frame; not when the offset's confidence is low, see
*min_confidence*), after snapping it to the short-frame onset
the offset was measured with (:func:`snap_onsets`: the label onsets peak a
little after the sound starts, ~20 ms on the synthetic clips). Every clip gets a report row; a clip whose
offset cannot be measured because its soundtrack is music or speech is
*rejected* (left out of the labels, with the reason); one whose offset cannot
be measured for another reason (too few impacts, onsets that match any lag)
or only with low confidence is kept *unaligned* (labels not shifted, the
reason reported); a clip that cannot be read at all *failed* (reported, and
the run goes on). Without *align* the soundtrack is still classified
(:func:`~actiondubber.sync.soundtype.classify_soundtrack`: silero-vad for
speech when installed, a rule for music) and music or speech clips are
rejected alike. Weak onsets give "don't care" frames (*dont_care*), moved with
the labels.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from actiondubber.audio import DEFAULT_SR, graded_onsets, read_audio_clip, times_to_frames
from actiondubber.detection import DetectorParams
from actiondubber.errors import ActionDubberError, BackendUnavailableError, InputError
from actiondubber.sync.offset import SyncParams, SyncRefused, measure_offset
from actiondubber.sync.soundtype import classify_soundtrack, resolve_speech_detector
from actiondubber.types import Events
from actiondubber.video import probe

log = logging.getLogger(__name__)

#: Columns of the per-clip report, in order.
REPORT_COLUMNS = ("video", "status", "reason", "n_onsets", "n_labels", "offset_ms", "uncertainty_ms", "confidence",
                  "n_impacts", "onset_lateness_ms", "label_shift_frames", "soundtrack", "percussive_share",
                  "n_dont_care", "speech_share", "speech_detector")
#: Label onsets farther than this (s) from every onset of the offset estimate are not snapped to one.
_LATENESS_RADIUS = 0.05


def snap_onsets(label_times: np.ndarray, precise: np.ndarray) -> tuple[np.ndarray, float]:
    """Each label onset moved to the nearest precise onset within :data:`_LATENESS_RADIUS`, and the
    median lateness (label − precise) of those moved; onsets with no precise one near are moved by
    that median (0.0 when none was near).

    The labels' onsets (librosa's defaults: 2048-sample frames) peak some ms after the sound starts,
    by an amount that varies with the sound; the offset is measured with short frames that peak
    within a few ms of the start. Snapping puts a label on the frame where the impact is seen.
    """
    t = np.asarray(label_times, dtype=np.float64)
    precise = np.sort(np.asarray(precise, dtype=np.float64))
    if precise.size == 0 or t.size == 0:
        return t, 0.0
    k = np.clip(np.searchsorted(precise, t), 0, precise.size - 1)
    lo = precise[np.maximum(k - 1, 0)]
    hi = precise[k]
    near = np.where(np.abs(t - lo) <= np.abs(t - hi), lo, hi)
    ok = np.abs(t - near) <= _LATENESS_RADIUS
    late = float(np.median((t - near)[ok])) if np.any(ok) else 0.0
    return np.where(ok, near, t - late), late


def _soundtype_cols(row: dict, kind) -> None:
    row.update(soundtrack=kind.verdict, percussive_share=round(1.0 - kind.harmonic_share, 3),
               speech_share=kind.speech_share, speech_detector=kind.speech_detector)


#: File extensions taken from a folder given as input.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")


def expand_videos(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """*paths* with each folder replaced by its video files (by extension, sorted; not recursive)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_EXTENSIONS))
        else:
            out.append(p)
    return out


@dataclass
class AlignedLabels:
    """``rows`` (``{video_id: frames}`` of kept clips), their ``dont_care`` frames (weak onsets), one report
    dict per clip, and the counts."""

    rows: dict[str, list[int]] = field(default_factory=dict)
    dont_care: dict[str, list[int]] = field(default_factory=dict)
    report: list[dict] = field(default_factory=list)
    n_failed: int = 0
    n_rejected: int = 0
    n_unaligned: int = 0


def aligned_labels_from_audio(
    videos: Iterable[str | os.PathLike],
    *,
    align: bool = True,
    rel_threshold: float = 0.25,
    dont_care: float = 0.0,
    min_time: float = 0.1,
    frame_rounding: str = "nearest",
    align_streams: bool = True,
    sr: int = DEFAULT_SR,
    sync: SyncParams | None = None,
    detector: DetectorParams | None = None,
    min_confidence: float = 0.35,
    on_clip: Callable[[dict], None] | None = None,
    events: Mapping[str, Events] | None = None,
) -> AlignedLabels:
    """Audible623 rows for *videos*, shifted by each clip's measured offset when *align*, plus a report.

    Parameters
    ----------
    videos
        Video files (ids are the file stems; two files with one stem: the second fails).
    align
        Measure each clip's offset and correct its labels by it (module docstring
        for the clips where it cannot).
    rel_threshold, min_time, frame_rounding, align_streams, sr
        As for :func:`actiondubber.audio.labels_from_audio`.
    dont_care
        Weak onsets (at least this fraction of the strongest, below *rel_threshold*) become
        "don't care" frames, moved with the labels (0: none).
    sync, detector
        Settings of the offset estimate and of the detector it runs (default: their defaults).
    min_confidence
        An offset measured with a lower confidence is not applied: the clip is
        kept with its labels unshifted (status ``unaligned``, the reason says
        why), since a wrong shift does more harm than none.
    on_clip
        Called with each report row as soon as it is known (progress display).
    events
        ``{video_id: Events}`` whose score curves stand in for running the detector on those
        videos (e.g. from an earlier ``detect`` of the same picture).

    Returns
    -------
    AlignedLabels
        Report rows have ``video, status (kept | unaligned | rejected | failed), reason,
        n_onsets, n_labels, offset_ms, uncertainty_ms, confidence, n_impacts,
        label_shift_frames, soundtrack, percussive_share, n_dont_care, speech_share, speech_detector``.

    Raises
    ------
    BackendUnavailableError
        ``sync.speech_detector == "vad"`` and silero-vad is not installed (before any clip is read).
    """
    sync = sync or SyncParams()
    if sync.refuse_music:
        sync = replace(sync, speech_detector=resolve_speech_detector(sync.speech_detector))
        if sync.speech_detector == "vad":
            from actiondubber.audio.vad import load_vad

            load_vad()  # a missing extra is one clear error, not a failure per clip
    result = AlignedLabels()
    seen: dict[str, Path] = {}
    for video in videos:
        p = Path(video)
        row: dict = dict.fromkeys(REPORT_COLUMNS)
        row.update(video=str(p), status="failed", reason="")
        try:
            if p.stem in seen:
                raise InputError(f"{p}: same video id {p.stem!r} as {seen[p.stem]}; rename one of them")
            info = probe(p)
            clip = read_audio_clip(p, sr=sr, mono=True)
            seen[p.stem] = p
            times, weak = graded_onsets(clip.samples, clip.sr, rel_threshold=rel_threshold,
                                        weak_threshold=dont_care, min_time=min_time)
            if align_streams:
                times, weak = times + clip.start, weak + clip.start
            row["n_onsets"] = int(times.size)
            shift = 0.0
            status, reason = "kept", ""
            if not align and sync.refuse_music:
                kind = classify_soundtrack(clip, sync.speech_detector)
                _soundtype_cols(row, kind)
                if kind.verdict in ("music", "speech"):
                    raise SyncRefused(f"{p}: the soundtrack sounds like {kind.verdict} ({kind.reason})",
                                      kind=kind.verdict, soundtype=kind)
            if align:
                res = measure_offset(p, params=sync, detector=detector, audio=clip,
                                     events=(events or {}).get(p.stem))
                times, late = snap_onsets(np.asarray(times), np.asarray(res.onsets))
                weak = snap_onsets(np.asarray(weak), np.asarray(res.onsets))[0] if weak.size else weak
                if res.confidence >= min_confidence:
                    shift = res.offset
                else:
                    status = "unaligned"
                    reason = (f"offset {res.offset * 1000:+.0f} ms measured with low confidence "
                              f"({res.confidence:.2f} < {min_confidence:g}); labels not shifted")
                    result.n_unaligned += 1
                row.update(offset_ms=round(res.offset * 1000, 2), uncertainty_ms=round(res.uncertainty * 1000, 2),
                           confidence=round(res.confidence, 3), n_impacts=res.n_impacts,
                           onset_lateness_ms=round(late * 1000, 2),
                           label_shift_frames=round(-(shift + late) * info.fps, 3))
                if res.soundtype is not None:
                    _soundtype_cols(row, res.soundtype)
            frames = times_to_frames(info, np.asarray(times) - shift, frame_rounding)
            result.rows[p.stem] = frames
            result.dont_care[p.stem] = sorted(set(times_to_frames(info, np.asarray(weak) - shift, frame_rounding))
                                              - set(frames))
            row.update(status=status, reason=reason, n_labels=len(frames), n_dont_care=len(result.dont_care[p.stem]))
        except SyncRefused as exc:
            if exc.soundtype is not None:
                _soundtype_cols(row, exc.soundtype)
            if exc.kind in ("music", "speech"):
                row.update(status="rejected", reason=str(exc))
                result.n_rejected += 1
            else:  # the labels are as good as without --align-av: keep them, unshifted
                frames = times_to_frames(info, np.asarray(times), frame_rounding)
                result.rows[p.stem] = frames
                result.dont_care[p.stem] = sorted(set(times_to_frames(info, np.asarray(weak), frame_rounding))
                                                  - set(frames))
                row.update(status="unaligned", reason=str(exc), n_labels=len(frames),
                           n_dont_care=len(result.dont_care[p.stem]))
                result.n_unaligned += 1
        except BackendUnavailableError:
            raise
        except ActionDubberError as exc:
            row.update(status="failed", reason=str(exc))
            result.n_failed += 1
            log.warning("%s", exc)
        result.report.append(row)
        if on_clip is not None:
            on_clip(row)
    return result
