"""``actiondubber batch``: detect (and dub, export, label) every video of a folder or list, resumably."""

from __future__ import annotations

import json
from pathlib import Path

import click

from actiondubber.audio.labels import FRAME_ROUNDING
from actiondubber.batch.engines import ENGINES
from actiondubber.batch.runner import EXIT_SOME_FAILED, BatchFailedError, run_batch
from actiondubber.batch.tasks import TaskOptions
from actiondubber.cli.common import show_progress
from actiondubber.cli.options import detector_options, pop_detector_params
from actiondubber.dubbing.library import ORDERS
from actiondubber.dubbing.place import MIXES, DubParams
from actiondubber.errors import OutputError
from actiondubber.exporters.markers import FORMATS

_DUB = DubParams()


def _formats(_ctx, _param, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    out: list[str] = []
    for f in (v.strip().lower() for v in value.split(",")):
        if f and f not in FORMATS:
            raise click.BadParameter(f"unknown format {f!r}; choose from {', '.join(FORMATS)}")
        if f and f not in out:
            out.append(f)
    return tuple(out)


@click.command("batch")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder: outputs mirror the input tree, plus index.csv/.parquet and videos.csv/.parquet.")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="local: a pool of processes on this machine; ray: Ray tasks (pip install 'actiondubber[ray]').")
@click.option("--address", help="With --engine ray: an existing Ray cluster ('auto', 'ray://host:10001'); inputs and "
                                "the output folder must be at the same paths on every node. Default: a local Ray.")
@click.option("-j", "--workers", type=click.IntRange(1, 1024),
              help="Videos processed at once (default: one per core, fewer if memory is short).")
@click.option("--max-memory", "max_memory", type=click.FloatRange(0, None),
              help="Per-worker memory limit in MB (local: a worker above it is stopped and its video fails; "
                   "default: an equal share of 80% of the available memory. ray: each task's memory request; "
                   "default 1024). 0: none.")
@click.option("--max-tasks-per-worker", "max_tasks", type=click.IntRange(0, None), default=50, show_default=True,
              help="Replace a worker process by a fresh one after this many videos (0: never).")
@click.option("--timeout", type=click.FloatRange(0, None), default=0, show_default=True,
              help="Seconds one video may take before it is stopped and fails (0: no limit).")
@click.option("--force", is_flag=True, help="Redo every video, replacing existing outputs.")
@click.option("--retry-failed/--no-retry-failed", default=True, show_default=True,
              help="Redo the videos that failed in an earlier run.")
@click.option("--json-log", "json_log", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
              help="Write one JSON object per video and a final summary, one per line ('-': stdout).")
@detector_options
@click.option("--dub", "do_dub", is_flag=True, help="Also write <video>.dubbed.<ext>, a sound at every event.")
@click.option("--sound", help="With --dub: built-in sound or sound file.  [default: knock]")
@click.option("--sound-dir", type=click.Path(path_type=Path), help="With --dub: folder of sound files.")
@click.option("--order", type=click.Choice(ORDERS), default=_DUB.order, show_default=True,
              help="With --dub: how events draw from several sounds.")
@click.option("--mix", type=click.Choice(MIXES), default=_DUB.mix, show_default=True,
              help="With --dub: keep, replace or duck the original soundtrack.")
@click.option("--level-db", type=float, default=_DUB.level_db, show_default=True,
              help="With --dub: peak level of a full-score sound, dBFS.")
@click.option("--pan", is_flag=True, help="With --dub: pan each sound by the event's horizontal position.")
@click.option("--seed", type=int, default=_DUB.seed, show_default=True, help="With --dub: seed of the variations.")
@click.option("--export", "export", callback=_formats,
              help=f"Also write markers, comma-separated: {', '.join(FORMATS)} (e.g. otio,edl).")
@click.option("--labels-from-audio", "audio_labels", is_flag=True,
              help="Also label each video's frames from its own soundtrack: <video>.labels.csv and labels.csv.")
@click.option("--audio-threshold", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="With --labels-from-audio: keep onsets at least this fraction of the strongest.")
@click.option("--frame-rounding", type=click.Choice(FRAME_ROUNDING), default="nearest", show_default=True,
              help="With --labels-from-audio: onset to frame rounding.")
@click.option("--dont-care", "dont_care", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="With --labels-from-audio: onsets between this and --audio-threshold x the strongest are "
                   "written as don't-care frames (0 = off).")
@click.pass_context
def batch_cmd(ctx, source: Path, out_dir: Path, engine, address, workers, max_memory, max_tasks, timeout, force,
              retry_failed, json_log, do_dub, sound, sound_dir, order, mix, level_db, pan, seed, export,
              audio_labels, audio_threshold, frame_rounding, dont_care, **detector_kw):
    """Process every video under the folder SOURCE, or listed in the text file SOURCE (one path a line).

    Each video gets the same work as 'detect --json' (and with --dub, --export, --labels-from-audio
    what those commands do), its outputs under OUTPUT at its path relative to SOURCE
    (OUTPUT/<path>.events.json ...). The tables OUTPUT/index.csv (one row per event) and
    OUTPUT/videos.csv (one row per video) have Parquet twins. Run it again to continue: finished
    videos are skipped, changed ones and failed ones redone. Exit code 0 when every video succeeded,
    5 when the run finished but some failed (listed in the summary and in videos.csv).
    """
    if address is not None and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    if sound is not None and sound_dir is not None:
        raise click.UsageError("give --sound or --sound-dir, not both")
    if not do_dub:
        for name in ("sound", "sound_dir", "order", "mix", "level_db", "pan", "seed"):
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
                raise click.UsageError(f"--{name.replace('_', '-')} needs --dub")
    options = TaskOptions(
        detector=pop_detector_params(detector_kw),
        dub=do_dub, sound=(sound or "knock") if sound_dir is None else None,
        sound_dir=str(sound_dir) if sound_dir is not None else None,
        dub_params=DubParams(mix=mix, level_db=level_db, pan=pan, seed=seed, order=order),
        export=export,
        audio_labels=audio_labels,
        audio_label_params=(("rel_threshold", audio_threshold), ("frame_rounding", frame_rounding),
                            ("dont_care", dont_care)),
    )
    log_file = None
    to_stdout = json_log is not None and str(json_log) == "-"
    if json_log is not None and not to_stdout:
        try:
            log_file = open(json_log, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise OutputError(f"{json_log}: cannot write the JSON log ({exc.strerror or exc})") from None

    def on_record(rec: dict) -> None:
        line = json.dumps(rec, default=str)
        if to_stdout:
            click.echo(line)
        elif log_file is not None:
            log_file.write(line + "\n")
            log_file.flush()

    try:
        summary = run_batch(source, out_dir, options, engine=engine, workers=workers, address=address,
                            max_tasks=max_tasks, max_memory_mb=max_memory, timeout=timeout, force=force,
                            retry_failed=retry_failed, progress=show_progress(ctx),
                            on_record=on_record if json_log is not None else None)
    finally:
        if log_file is not None:
            log_file.close()
    click.echo(summary.text(), err=to_stdout)
    if not summary.ok:
        raise BatchFailedError(f"{summary.failed} of {summary.total} video(s) failed (exit code {EXIT_SOME_FAILED}; "
                               f"errors in {summary.out_dir / 'videos.csv'})")


COMMANDS = [batch_cmd]
