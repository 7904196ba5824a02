"""A whole batch: find the inputs, skip what is already done, run the rest on an engine, write the index.

:func:`run_batch` is what ``actiondubber batch`` calls. A video is skipped when the manifest
(:mod:`.state`) says it is done with the same options, its file is unchanged (same size and time, or
the same SHA-256 when only the time moved) and its outputs are still there; everything else — new,
changed, failed before, or in flight when an earlier run was killed — is (re)done. Results are
recorded one by one as they arrive, so an interrupted run loses only the videos in flight.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from actiondubber.batch.engines import PLANNED_WORKER_MB, default_max_memory_mb, default_workers, make_engine
from actiondubber.batch.index import event_table, video_table, write_audio_labels, write_index
from actiondubber.batch.inputs import BatchInput, discover
from actiondubber.batch.state import BatchState, VideoRow
from actiondubber.batch.tasks import Task, TaskOptions, TaskResult, file_sha256
from actiondubber.errors import ActionDubberError, InputError
from actiondubber.fileio import ensure_output_dir
from actiondubber.progress import progress_bar

log = logging.getLogger(__name__)

#: Exit code of ``actiondubber batch`` when the run finished but some videos failed.
EXIT_SOME_FAILED = 5


class BatchFailedError(ActionDubberError):
    """The batch ran to the end, but some videos failed (their errors are in ``videos.csv``)."""

    exit_code = EXIT_SOME_FAILED


@dataclass
class BatchSummary:
    """What a batch run did."""

    out_dir: Path
    engine: str
    workers: int
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    events: int = 0
    frames: int = 0
    seconds: float = 0.0
    startup_s: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def text(self) -> str:
        """The human summary printed at the end of a run."""
        rate = ""
        if self.done and self.seconds > 0:
            rate = f"; {self.done / self.seconds:.2f} videos/s, {self.frames / self.seconds:.0f} frames/s"
        lines = [f"batch ({self.engine}, {self.workers} worker(s)): {self.total} video(s): {self.done} done, "
                 f"{self.skipped} already done (skipped), {self.failed} failed; {self.events} event(s) in the "
                 f"processed videos{rate}"]
        for rel, err in self.failures[:20]:
            lines.append(f"  failed: {rel}: {err}")
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more (see videos.csv)")
        if "index.csv" in self.written:
            lines.append(f"index: {self.written['index.csv']} ({', '.join(sorted(self.written))})")
        return "\n".join(lines)


def _current(row: VideoRow | None, inp: BatchInput, fingerprint: str, state: BatchState) -> bool:
    """Whether *row* describes *inp* as it is now, made with these options."""
    if row is None or row.fingerprint != fingerprint:
        return False
    try:
        st = os.stat(inp.path)
    except OSError:
        return False
    if (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns):
        return True
    if st.st_size != row.size or not row.sha256:
        return False
    try:
        same = file_sha256(inp.path) == row.sha256
    except OSError:
        return False
    if same:  # touched, not changed
        state.touch(inp.path, st.st_size, st.st_mtime_ns)
    return same


def plan(inputs: list[BatchInput], rows: dict[str, VideoRow], options: TaskOptions, out_dir: Path,
         state: BatchState, *, force: bool = False, retry_failed: bool = True) -> tuple[list[Task], list, list]:
    """Split *inputs* into ``(tasks to run, skipped done inputs, skipped failed inputs)``."""
    fp = options.fingerprint()
    todo: list[Task] = []
    done: list[BatchInput] = []
    kept_failed: list[BatchInput] = []
    for inp in inputs:
        row = rows.get(inp.path)
        if not force and row is not None and row.status in ("done", "failed") and _current(row, inp, fp, state):
            if row.status == "done" and all((out_dir / p).is_file() for p in row.outputs.values()) and row.outputs:
                done.append(inp)
                continue
            if row.status == "failed" and not retry_failed:
                kept_failed.append(inp)
                continue
        todo.append(Task(inp.path, inp.rel, str(out_dir), options, overwrite=force or row is not None))
    return todo, done, kept_failed


#: Temporary names :func:`actiondubber.fileio.atomic_output` gives files being written (``.<stem>.<random>.part<ext>``).
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.part(\.[^.]+)*$")


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete temporary files left in *out_dir* by workers killed mid-write (run under the state lock)."""
    n = 0
    for dirpath, _dirs, files in os.walk(out_dir):
        for name in files:
            if _TEMP_NAME.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    n += 1
    if n:
        log.info("%s: removed %d unfinished temporary file(s) of an interrupted run", out_dir, n)
    return n


def check_options(options: TaskOptions) -> None:
    """Raise the single-file commands' errors for bad options before any video is touched."""
    from actiondubber.errors import ParameterError
    from actiondubber.exporters.cues import check_name
    from actiondubber.exporters.editors import ADAPTERS, check_adapter
    from actiondubber.exporters.markers import FORMATS

    for fmt in options.export:
        if fmt not in FORMATS:
            raise ParameterError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
        if fmt in ADAPTERS:
            check_adapter(fmt)
    if options.export:
        check_name(options.export_name)
        if not options.cue_length > 0:
            raise ParameterError(f"cue length {options.cue_length} s must be positive")
    if options.dub:
        from actiondubber.dubbing.library import resolve_sounds

        resolve_sounds(options.sound, options.sound_dir, sr=48000, seed=options.dub_params.seed)


def run_batch(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: TaskOptions | None = None,
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    max_tasks: int = 50,
    max_memory_mb: float | None = None,
    timeout: float = 0,
    force: bool = False,
    retry_failed: bool = True,
    progress: bool = False,
    on_record: Callable[[dict], None] | None = None,
) -> BatchSummary:
    """Process every video of *source* (a folder or a list file) into *out_dir*; resumable.

    Parameters
    ----------
    source
        A folder (scanned recursively for videos) or a text file with one video path per line.
    out_dir
        Output folder; outputs mirror the input tree, plus ``index.csv``/``.parquet``,
        ``videos.csv``/``.parquet`` and the manifest ``batch_state.sqlite``.
    options
        What is done to each video (:class:`~actiondubber.batch.tasks.TaskOptions`; default: detection only).
    engine, workers, address
        ``"local"`` (process pool) or ``"ray"``; processes at once (default: what fits the machine);
        Ray cluster address (default: a local Ray instance).
    max_tasks, max_memory_mb, timeout
        Videos per worker process before it is replaced; per-worker memory limit in MB (local: the
        worker is killed above it, default a share of 80 % of the available memory; Ray: each task's
        ``memory`` request, default :data:`~actiondubber.batch.engines.PLANNED_WORKER_MB`; 0: none);
        seconds per video (0: none).
    force
        Redo every video and replace existing outputs.
    retry_failed
        Redo videos that failed in an earlier run (default); ``False`` keeps their failure.
    progress
        Show a progress bar (files done/failed, frames/s, ETA).
    on_record
        Called with a JSON-ready dict for every video (``status``: done, failed, skipped) and once at
        the end (``status``: summary); used by ``--json-log``.

    Returns
    -------
    BatchSummary
        Counts, throughput and failures. The caller decides the exit code (:data:`EXIT_SOME_FAILED`).
    """
    options = options or TaskOptions()
    inputs = discover(source, out_dir=out_dir)
    check_options(options)
    out = ensure_output_dir(out_dir, "output folder")
    workers = int(workers or default_workers())
    if max_memory_mb is None:  # local: a kill limit, a share of the memory; Ray: a modest request per task
        max_memory_mb = default_max_memory_mb(workers) if engine == "local" else PLANNED_WORKER_MB
    summary = BatchSummary(out_dir=out, engine=engine, workers=workers, total=len(inputs))
    fp = options.fingerprint()
    emit = on_record or (lambda _r: None)
    with BatchState.open(out) as state:
        remove_stale_temp_files(out)
        todo, skipped, kept_failed = plan(inputs, state.rows(), options, out, state, force=force,
                                          retry_failed=retry_failed)
        summary.skipped = len(skipped)
        summary.failed = len(kept_failed)
        for inp in skipped:
            emit({"status": "skipped", "video": inp.path, "rel": inp.rel})
        for inp in kept_failed:
            emit({"status": "failed", "video": inp.path, "rel": inp.rel, "error": "failed in an earlier run"})
            summary.failures.append((inp.rel, "failed in an earlier run (rerun without --no-retry-failed)"))
        try:
            if todo:
                _run(todo, state, fp, summary, emit, engine=engine, workers=workers, address=address,
                     max_tasks=max_tasks, max_memory_mb=max_memory_mb, timeout=timeout, progress=progress)
        finally:  # also after Ctrl-C: the index shows what is finished
            summary.written = _write_tables(out, inputs, state, options)
    emit({"status": "summary", "total": summary.total, "done": summary.done, "skipped": summary.skipped,
          "failed": summary.failed, "events": summary.events, "frames": summary.frames,
          "seconds": round(summary.seconds, 3), "engine": engine, "workers": workers,
          "startup_s": round(summary.startup_s, 3)})
    return summary


def _run(todo: list[Task], state: BatchState, fp: str, summary: BatchSummary, emit, *, engine, workers, address,
         max_tasks, max_memory_mb, timeout, progress) -> None:
    state.mark_pending([(t.path, t.rel) for t in todo])
    eng = make_engine(engine, workers, address=address, max_tasks=max_tasks, max_memory_mb=max_memory_mb,
                      timeout=timeout)
    summary.startup_s = getattr(eng, "startup_s", 0.0)
    t0 = time.perf_counter()
    try:
        with progress_bar(total=len(todo), desc="batch", unit="video", enabled=progress) as bar:
            for res in eng.run(todo):
                state.record(res, fp)
                _count(summary, res)
                for w in res.warnings:
                    log.warning("%s", w)
                emit(_record(res))
                elapsed = time.perf_counter() - t0
                bar.set_postfix_str(f"failed {summary.failed}, {summary.frames / max(elapsed, 1e-9):.0f} frames/s",
                                    refresh=False)
                bar.update(1)
    finally:
        summary.seconds = time.perf_counter() - t0
        eng.close()


def _count(summary: BatchSummary, res: TaskResult) -> None:
    if res.ok:
        summary.done += 1
        summary.events += len(res.events)
        summary.frames += res.n_frames
    else:
        summary.failed += 1
        summary.failures.append((res.rel, res.error or "failed"))


def _record(res: TaskResult) -> dict:
    r = {"status": "done" if res.ok else "failed", "video": res.path, "rel": res.rel,
         "seconds": round(res.seconds, 3), "worker_pid": res.pid, "rss_mb": round(res.rss_mb, 1)}
    if res.ok:
        r.update(events=len(res.events), frames=res.n_frames, duration=res.duration, outputs=res.outputs)
    else:
        r["error"] = res.error
    if res.warnings:
        r["warnings"] = res.warnings
    return r


def _write_tables(out: Path, inputs: list[BatchInput], state: BatchState, options: TaskOptions) -> dict[str, Path]:
    paths = [i.path for i in inputs]
    rels = {i.path: i.rel for i in inputs}
    summary_rows = state.summary_rows(paths)
    written = write_index(out, event_table(paths, rels, state.event_rows(paths)), video_table(summary_rows))
    if options.audio_labels:
        import json

        from actiondubber.evaluate.labels import read_labels

        labels: dict[str, list[int]] = {}
        dont_care: dict[str, list[int]] = {}
        for s in summary_rows:
            if s["status"] != "done" or not s.get("audio_frames"):
                continue
            stem = Path(s["path"]).stem
            if stem in labels:
                log.warning("%s: same video id %r as another video; left out of labels.csv", s["rel"], stem)
                continue
            labels[stem] = json.loads(s["audio_frames"])
            outs = s.get("outputs") or {}
            own = (json.loads(outs) if isinstance(outs, str) else outs).get("labels")  # its own CSV: weak onsets
            try:
                row = read_labels(out / own).videos.get(stem) if own else None
            except InputError:
                row = None
            dont_care[stem] = list(row.dont_care) if row is not None else []
        p = write_audio_labels(out, labels, dont_care)
        if p is not None:
            written["labels.csv"] = p
    return written

