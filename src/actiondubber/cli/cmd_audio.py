"""``actiondubber label-from-audio``: frame labels from the videos' own soundtracks."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from actiondubber.audio.labels import FRAME_ROUNDING, labels_and_dont_care_from_audio
from actiondubber.audio.reader import DEFAULT_SR, NoAudioStreamError
from actiondubber.cli.common import show_progress
from actiondubber.errors import ActionDubberError, InputError, PartialFailure
from actiondubber.evaluate.labels import write_labels
from actiondubber.fileio import check_output_path
from actiondubber.progress import progress_bar

log = logging.getLogger(__name__)


@click.command("label-from-audio")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Labels CSV to write.")
@click.option("--class", "label_class", default="", show_default=True, help="Value of the 'class' column.")
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.25,
    show_default=True,
    help="Keep onsets at least this fraction of the clip's strongest onset.",
)
@click.option(
    "--dont-care",
    "dont_care",
    type=click.FloatRange(0.0, 1.0),
    default=0.1,
    show_default=True,
    help="Onsets at least this fraction of the strongest but below --threshold are too weak to be sure of: "
    "written as \"don't care\" frames (a dont_care column; evaluate ignores predictions there). 0: none.",
)
@click.option(
    "--min-time", type=click.FloatRange(min=0.0), default=0.1, show_default=True, help="Drop onsets before this (s)."
)
@click.option(
    "--frame-rounding",
    type=click.Choice(FRAME_ROUNDING),
    default="nearest",
    show_default=True,
    help="nearest: frame starting closest to the onset (round(t*fps)); floor: frame on screen at the onset.",
)
@click.option(
    "--align-streams/--no-align-streams",
    default=True,
    show_default=True,
    help="Shift onsets by the audio stream's start relative to the first video frame.",
)
@click.option("--sr", type=click.IntRange(min=1000), default=DEFAULT_SR, show_default=True, help="Analysis rate (Hz).")
@click.option("--align-av", is_flag=True,
              help="Measure each clip's audio-picture offset ('actiondubber sync') and shift its labels by it; "
                   "clips with music or speech are left out, clips with an unsure offset are not shifted "
                   "(see --report).")
@click.option("--report", "report_out", type=click.Path(path_type=Path),
              help="Write a per-clip CSV report (onsets, offset, confidence, kept/rejected/failed and why); "
                   "a clip that fails is reported and the others go on (non-zero exit at the end).")
@click.option("--speech-detector", type=click.Choice(("auto", "vad", "rule")), default="auto", show_default=True,
              help="With --align-av/--report: how clips dominated by speech are found and left out (vad = "
                   "silero-vad, the 'vad' extra; rule = a pitch rule; auto = vad when installed). Giving vad or "
                   "rule turns the per-clip checks on.")
@click.pass_context
def label_from_audio(
    ctx: click.Context,
    videos: tuple[Path, ...],
    output: Path,
    label_class: str,
    threshold: float,
    dont_care: float,
    min_time: float,
    frame_rounding: str,
    align_streams: bool,
    sr: int,
    align_av: bool = False,
    report_out: Path | None = None,
    speech_detector: str = "auto",
) -> None:
    """Label each video's audible frames from the strong onsets of its own soundtrack.

    Writes an Audible623-format CSV (video_id = file stem, 0-based frames), with
    a dont_care column for weak onsets (--dont-care) when there are any.
    Videos without an audio stream are skipped with a warning. With --align-av
    or --report, VIDEOS may also be folders (their video files are taken).
    """
    if align_av or report_out is not None or speech_detector != "auto":
        from actiondubber.cli.cmd_sync import run_aligned

        return run_aligned(ctx, videos, output, report_out, label_class=label_class, align=align_av,
                           speech_detector=speech_detector,
                           rel_threshold=threshold, dont_care=dont_care, min_time=min_time,
                           frame_rounding=frame_rounding, align_streams=align_streams, sr=sr)
    out = check_output_path(output, inputs=videos)
    stems: dict[str, Path] = {}
    for v in videos:
        if not v.is_file():
            raise InputError(f"{v}: file not found" if not v.exists() else f"{v}: not a file")
        if v.stem in stems:
            raise InputError(f"{v}: same video id {v.stem!r} as {stems[v.stem]}; rename one of them")
        stems[v.stem] = v
    if len(videos) == 1:  # one file: its own error is the error (one line)
        rows, weak = labels_and_dont_care_from_audio(
            videos, rel_threshold=threshold, dont_care=dont_care, min_time=min_time, frame_rounding=frame_rounding,
            align_streams=align_streams, sr=sr, skip_no_audio=False)
        failed: list[str] = []
    else:  # many files: a file that fails is reported and the others go on
        rows, weak, failed = {}, {}, []
        with progress_bar(total=len(videos), desc="label-from-audio", unit="video", enabled=show_progress(ctx)) as bar:
            for v in videos:
                try:
                    got, got_weak = labels_and_dont_care_from_audio(
                        [v], rel_threshold=threshold, dont_care=dont_care, min_time=min_time,
                        frame_rounding=frame_rounding, align_streams=align_streams, sr=sr, skip_no_audio=False)
                    rows.update(got)
                    weak.update(got_weak)
                except NoAudioStreamError as exc:
                    log.warning("%s; skipped", exc)
                except ActionDubberError as exc:
                    log.warning("%s; skipped", exc)
                    failed.append(str(v))
                bar.update(1)
        if not rows:
            raise InputError(f"none of the {len(videos)} video(s) gave labels (no usable audio stream, or unreadable)")
    write_labels(out, rows, label_class, weak)
    n_events = sum(len(f) for f in rows.values())
    n_weak = sum(len(f) for f in weak.values())
    skipped = len(videos) - len(rows) - len(failed)
    note = f", {n_weak} don't-care frame(s)" if n_weak else ""
    note += f", {skipped} without audio skipped" if skipped else ""
    note += f", {len(failed)} failed" if failed else ""
    click.echo(f"{out}: {len(rows)} video(s), {n_events} audible frame(s){note}")
    if failed:
        raise PartialFailure(f"{len(failed)} of {len(videos)} video(s) failed (see the warnings above); "
                             f"the labels of the others are in {out}")


COMMANDS = [label_from_audio]
