"""One batch task = one video: the library calls of the single-file commands, outputs written atomically.

:func:`run_task` runs in a worker process (local pool or Ray) and never raises for a bad video: every
failure becomes a :class:`TaskResult` with a one-line error, so a broken file cannot stop the run.
It calls only the public functions the single-file commands use — :func:`actiondubber.detection.detector.detect`,
:func:`actiondubber.events.save_events`, :func:`actiondubber.dubbing.pipeline.dub`,
:func:`actiondubber.exporters.markers.export_events`, :func:`actiondubber.audio.labels.audio_event_frames` —
with the same parameters, so a batch result equals the single-file result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from actiondubber import __version__
from actiondubber.detection.detector import DEFAULT_DETECTOR, DetectorParams
from actiondubber.dubbing.place import DubParams
from actiondubber.errors import ActionDubberError, OutputError
from actiondubber.exporters.cues import DEFAULT_CUE_LENGTH, DEFAULT_NAME

#: Output name suffix per export format (appended to the input's relative path).
EXPORT_SUFFIXES = {
    "otio": ".otio",
    "edl": ".edl",
    "fcpxml": ".fcp.xml",
    "audacity": ".audacity.txt",
    "srt": ".srt",
    "vtt": ".vtt",
    "csv": ".events.csv",
}
#: Input extensions a dubbed copy keeps (the containers :mod:`actiondubber.video.mux` can write);
#: other inputs are dubbed into ``.mkv``.
DUB_KEEPS_EXTENSION = (".mp4", ".m4v", ".mov", ".mkv", ".webm")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class TaskOptions:
    """What every video of a batch gets done to it; the same knobs as the single-file commands.

    ``detector`` as for ``detect``; ``dub`` with ``sound``/``sound_dir``/``dub_params`` as for ``dub``;
    ``export`` is a tuple of :data:`actiondubber.exporters.markers.FORMATS` keys with ``export_name`` and
    ``cue_length`` as for ``export``; ``audio_labels`` with ``audio_label_params`` (keyword arguments of
    :func:`~actiondubber.audio.labels.audio_event_frames`) as for ``label-from-audio``.
    """

    detector: DetectorParams = DEFAULT_DETECTOR
    dub: bool = False
    sound: str | None = "knock"
    sound_dir: str | None = None
    dub_params: DubParams = field(default_factory=DubParams)
    export: tuple[str, ...] = ()
    export_name: str = DEFAULT_NAME
    cue_length: float = DEFAULT_CUE_LENGTH
    audio_labels: bool = False
    audio_label_params: tuple[tuple[str, object], ...] = ()

    def fingerprint(self) -> str:
        """Hash of everything that shapes the outputs (and the package version): a change means redo."""
        d = asdict(self)
        if self.sound_dir:  # a sound folder counts by its files' names, sizes and times
            d["sound_dir_files"] = _folder_signature(self.sound_dir)
        elif self.sound and Path(self.sound).is_file():
            st = Path(self.sound).stat()
            d["sound_file"] = [st.st_size, st.st_mtime_ns]
        d["version"] = __version__
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _folder_signature(folder: str) -> list:
    out = []
    for p in sorted(Path(folder).glob("*")):
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append([p.name, st.st_size, st.st_mtime_ns])
    return out


@dataclass(frozen=True)
class Task:
    """One video to process: *path* (absolute), *rel* (its outputs' path under *out_dir*), the options.

    *overwrite*: existing outputs may be replaced (they are this batch's own from an earlier attempt,
    or ``--force`` was given); otherwise an existing output makes the video fail, untouched.
    """

    path: str
    rel: str
    out_dir: str
    options: TaskOptions
    overwrite: bool = False


@dataclass
class TaskResult:
    """What one task did. ``events`` rows are ``(frame, time, score, x, y)`` exactly as in the events JSON."""

    path: str
    rel: str
    ok: bool
    error: str | None = None
    sha256: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    n_frames: int = 0
    fps: float = 0.0
    duration: float = 0.0
    width: int = 0
    height: int = 0
    has_audio: bool = False
    events: list[tuple] = field(default_factory=list)
    audio_frames: list[int] | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pid: int = 0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0


def output_paths(task: Task) -> dict[str, Path]:
    """``{kind: path}`` of every output *task* writes (kinds: ``events``, ``dub``, ``labels``, export formats)."""
    base = Path(task.out_dir) / task.rel
    opts = task.options
    out = {"events": base.with_name(base.name + ".events.json")}
    if opts.dub:
        ext = Path(task.rel).suffix.lower()
        ext = ext if ext in DUB_KEEPS_EXTENSION else ".mkv"
        out["dub"] = base.with_name(base.name + ".dubbed" + ext)
    for fmt in opts.export:
        out[fmt] = base.with_name(base.name + EXPORT_SUFFIXES[fmt])
    if opts.audio_labels:
        out["labels"] = base.with_name(base.name + ".labels.csv")
    return out


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def current_rss_mb(pid: int | str = "self") -> float:
    """Resident memory of process *pid* in MB (Linux ``/proc``); 0.0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return 0.0


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


_initialised = False


def worker_init(threads: int | None = None) -> None:
    """Set a worker process up once: OpenCV threads per worker (so workers do not oversubscribe the
    cores), and the package's warnings collected per task instead of printed by each worker."""
    global _initialised
    if _initialised:
        return
    _initialised = True
    if threads:
        import cv2

        cv2.setNumThreads(int(threads))
    root = logging.getLogger("actiondubber")
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    root.propagate = False


def one_line(exc: BaseException) -> str:
    """An exception as one line: the project's errors as their message, others with their type."""
    msg = str(exc) if isinstance(exc, ActionDubberError) else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError):
        msg = "out of memory"
    return " ".join(msg.split()) or type(exc).__name__


def run_task(task: Task) -> TaskResult:
    """Process one video; never raises for a bad video (the error is in the result).

    Order: input checks and content hash, detection (:func:`~actiondubber.detection.detector.detect`),
    the events JSON, then the optional dub, exports and audio labels. Every file is written atomically;
    when any step fails the files written by this attempt are removed, so a failed video leaves no
    outputs and a finished one has all of them.
    """
    from actiondubber.fileio import check_input_file

    t0 = time.perf_counter()
    res = TaskResult(path=task.path, rel=task.rel, ok=False, pid=os.getpid())
    collect = _Collect()
    log = logging.getLogger("actiondubber")
    log.addHandler(collect)
    written: list[Path] = []
    try:
        src = check_input_file(task.path, "video file")
        st = src.stat()
        res.size, res.mtime_ns = st.st_size, st.st_mtime_ns
        try:
            res.sha256 = file_sha256(src)
        except OSError as exc:
            raise OutputError(f"{src}: cannot read the file ({exc.strerror or exc})") from None
        outs = output_paths(task)
        _check_outputs(task, outs)
        _run_steps(task, src, outs, res, written)
        res.ok = True
    except (Exception, MemoryError) as exc:  # a bad video must never stop the batch
        res.error = one_line(exc)
        for p in written:
            with contextlib.suppress(OSError):
                p.unlink()
        res.outputs = {}
    finally:
        log.removeHandler(collect)
    res.warnings = collect.messages
    res.seconds = time.perf_counter() - t0
    res.rss_mb, res.peak_rss_mb = current_rss_mb(), _peak_rss_mb()
    return res


def _check_outputs(task: Task, outs: dict[str, Path]) -> None:
    from actiondubber.fileio import check_output_path

    for p in outs.values():
        if p.exists() and not task.overwrite:
            raise OutputError(f"{p}: exists and is not from this batch's state; use --force to replace it")
        p.parent.mkdir(parents=True, exist_ok=True)
        check_output_path(p, inputs=[task.path])


def _run_steps(task: Task, src: Path, outs: dict[str, Path], res: TaskResult, written: list[Path]) -> None:
    from dataclasses import asdict as _asdict

    from actiondubber.detection.detector import detect
    from actiondubber.events import events_to_dict, save_events

    opts = task.options
    ev = detect(str(src), **_asdict(opts.detector))
    d = events_to_dict(ev)
    res.n_frames, res.fps, res.duration = ev.video.n_frames, ev.video.fps, ev.video.duration
    res.width, res.height, res.has_audio = ev.video.width, ev.video.height, ev.video.has_audio
    res.events = [(e["frame"], e["time"], e["score"], e["x"], e["y"]) for e in d["events"]]
    if opts.dub:
        from actiondubber.dubbing.pipeline import dub

        dub(src, outs["dub"], ev, sound=opts.sound, sound_dir=opts.sound_dir, params=opts.dub_params, info=ev.video)
        written.append(outs["dub"])
    if opts.export:
        from actiondubber.exporters.markers import export_events

        wanted = {fmt: outs[fmt] for fmt in opts.export}
        written.extend(export_events(ev, wanted, video=src, name=opts.export_name, cue_length=opts.cue_length,
                                     inputs=[src]).values())
    if opts.audio_labels:
        from actiondubber.audio.labels import audio_label_frames
        from actiondubber.audio.reader import NoAudioStreamError
        from actiondubber.evaluate.labels import write_labels

        weak: list[int] = []
        try:
            res.audio_frames, weak = audio_label_frames(src, info=ev.video, **dict(opts.audio_label_params))
        except NoAudioStreamError as exc:  # as label-from-audio: a silent video has no labels, not an error
            logging.getLogger("actiondubber").warning("%s; no audio labels", exc)
            res.audio_frames = None
        write_labels(outs["labels"], {src.stem: res.audio_frames or []}, "", {src.stem: weak})
        written.append(outs["labels"])
    # The events file last: its presence with a state row marked done means the video is complete.
    save_events(ev, outs["events"])
    written.append(outs["events"])
    res.outputs = {k: p.relative_to(task.out_dir).as_posix() for k, p in outs.items()}
