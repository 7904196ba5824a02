"""``actiondubber sync``: measure (and fix) how far a video's soundtrack is out of step with its picture."""

from __future__ import annotations

import json
from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.cli.options import detector_options, pop_detector_params
from actiondubber.detection.detector import SINGLE_SCALE_DETECTOR
from actiondubber.errors import OutputError
from actiondubber.fileio import OVERWRITE, check_output_path, write_text_atomic
from actiondubber.sync.fix import fix_offset
from actiondubber.sync.offset import SyncParams, measure_offset
from actiondubber.sync.soundtype import SPEECH_DETECTORS

_S = SyncParams()


@click.command("sync")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--json", "json_out", type=click.Path(path_type=Path),
              help="Write the estimate as JSON (offset_ms > 0: the audio trails the picture).")
@click.option("--fix", is_flag=True, help="Write a copy with the audio moved back in step (needs -o).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="The fixed video to write (with --fix).")
@click.option("--offset", "given_ms", type=float, default=None,
              help="With --fix: apply this offset (ms, > 0 = audio trails) instead of measuring it.")
@click.option("--events", "events_path", type=click.Path(path_type=Path),
              help="Events JSON (e.g. from 'detect --model') whose score curve replaces the training-free detector.")
@click.option("--max-lag", type=click.FloatRange(1, 5000), default=_S.max_lag * 1000, show_default=True,
              help="Largest offset searched, ms (either sign).")
@click.option("--min-impacts", type=click.IntRange(2, None), default=_S.min_impacts, show_default=True,
              help="Fewest matched impacts for an answer.")
@click.option("--window", type=click.FloatRange(1, None), default=_S.window, show_default=True,
              help="Seconds per window for the per-window estimates and drift on long videos.")
@click.option("--allow-music", is_flag=True, help="Measure even when the soundtrack sounds like music or speech.")
@click.option("--speech-detector", type=click.Choice(SPEECH_DETECTORS), default="auto", show_default=True,
              help="How speech is recognised: vad = silero-vad's speech model (the 'vad' extra), rule = a pitch "
                   "rule, auto = vad when installed.")
@detector_options(defaults=SINGLE_SCALE_DETECTOR)  # the single-scale detector its figures were measured with
@click.pass_context
def sync_cmd(ctx: click.Context, video: Path, json_out: Path | None, fix: bool, output: Path | None,
             given_ms: float | None, events_path: Path | None, max_lag: float, min_impacts: int, window: float,
             allow_music: bool, speech_detector: str = "auto", **detector_kw) -> None:
    """Measure the offset between VIDEO's soundtrack and its picture from the visible impacts.

    Prints e.g. "audio trails the picture by 121 ms (±8 ms, 14 matched impacts,
    confidence high)". When the offset cannot be measured (too few impacts, a
    soundtrack of music or speech, onsets that match any lag) it says why and
    exits with status 5 instead of guessing. With --fix -o OUT a copy is
    written with the audio moved back in step (video stream copied, audio
    re-encoded), never over the input, and over an existing OUT only with --force.
    """
    if fix and output is None:
        raise click.UsageError("--fix needs -o/--output for the fixed video")
    if output is not None and not fix:
        raise click.UsageError("-o/--output is the fixed video; give --fix as well")
    if given_ms is not None and not fix:
        raise click.UsageError("--offset is only used with --fix")
    outs = [p for p in (output, json_out) if p is not None]
    for p in outs:
        check_output_path(p, inputs=[video])
        if p.exists() and not OVERWRITE.get():  # --force (added to every command) sets it
            raise OutputError(f"{p}: file exists; use --force to overwrite it")
    if given_ms is not None:
        res = None
        offset = given_ms / 1000.0
    else:
        params = SyncParams(max_lag=max_lag / 1000.0, min_impacts=min_impacts, window=window,
                            refuse_music=not allow_music, speech_detector=speech_detector)
        detector = pop_detector_params(detector_kw)
        events = None
        if events_path is not None:
            from actiondubber.events import check_events_fit, load_events
            from actiondubber.video import probe

            events = load_events(events_path)
            check_events_fit(events, probe(video), source=str(events_path))
        if events is None and show_progress(ctx):
            from actiondubber.progress import progress_bar
            from actiondubber.video import probe

            with progress_bar(total=probe(video).n_frames, desc=video.name) as bar:
                res = measure_offset(video, params=params, detector=detector, progress=bar.update)
        else:
            res = measure_offset(video, params=params, detector=detector, events=events)
        offset = res.offset
        click.echo(res.summary())
        if res.drift_detected:
            for w in res.windows:
                off = "-" if w.offset is None else f"{w.offset * 1000:+.0f} ms"
                click.echo(f"  {w.start:8.1f}-{w.end:8.1f} s: {off} ({w.n_impacts} impacts)")
        if json_out is not None:
            write_text_atomic(json_out, json.dumps(res.to_dict(), indent=1) + "\n")
    if fix:
        if res is not None and res.confidence_label == "low" and not (ctx.find_root().obj or {}).get("quiet"):
            click.echo("actiondubber: warning: the offset was measured with low confidence; check the fixed file",
                       err=True)
        mux = fix_offset(video, output, offset, force=OVERWRITE.get())
        how = "copied" if mux.video_copied else f"re-encoded ({mux.video_codec})"
        click.echo(f"{mux.path}: audio moved by {-offset * 1000:+.1f} ms; video {how}, audio {mux.audio_codec}")


def run_aligned(ctx: click.Context, videos: tuple[Path, ...], output: Path, report_out: Path | None, *,
                label_class: str, align: bool, speech_detector: str = "auto", **label_kw) -> None:
    """``label-from-audio --align-av / --report``: labels shifted by each clip's offset, a per-clip report.

    Every clip is tried; one that fails is reported and the run goes on, and the command exits
    non-zero at the end when any failed.
    """
    from actiondubber.errors import InputError
    from actiondubber.evaluate.labels import write_labels
    from actiondubber.fileio import write_csv_rows
    from actiondubber.progress import progress_bar
    from actiondubber.sync.labels import aligned_labels_from_audio, expand_videos

    videos = tuple(expand_videos(videos))
    if not videos:
        raise InputError("no video files found in the given folder(s)")
    out = check_output_path(output, inputs=videos)
    if report_out is not None:
        check_output_path(report_out, inputs=[*videos, output])
        if report_out.resolve() == out.resolve():
            raise click.UsageError("--report and -o must be different files")
    with progress_bar(total=len(videos), desc="label-from-audio", unit="video", enabled=show_progress(ctx)) as bar:
        res = aligned_labels_from_audio(videos, align=align, on_clip=lambda _row: bar.update(1),
                                        sync=SyncParams(speech_detector=speech_detector), **label_kw)
    if res.rows:
        write_labels(out, res.rows, label_class, res.dont_care)
    if report_out is not None:
        write_csv_rows(report_out, res.report)
    n_events = sum(len(f) for f in res.rows.values())
    n_weak = sum(len(f) for f in res.dont_care.values())
    notes = [f"{k} {what}" for k, what in ((res.n_unaligned, "not shifted: offset unsure"),
                                           (res.n_rejected, "rejected"), (res.n_failed, "failed")) if k]
    note = f" ({', '.join(notes)})" if notes else ""
    where = f"{out}: " if res.rows else "no labels written: "
    weak = f" and {n_weak} don't-care" if n_weak else ""
    click.echo(f"{where}{len(res.rows)} of {len(videos)} video(s) labelled, {n_events} audible{weak} frame(s){note}")
    if res.n_failed:
        raise InputError(f"{res.n_failed} of {len(videos)} video(s) failed"
                         + (f"; see {report_out}" if report_out is not None else ""))
    if not res.rows:
        raise InputError(f"none of the {len(videos)} video(s) could be labelled")


COMMANDS = [sync_cmd]
