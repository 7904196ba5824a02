"""``actiondubber preview``: a review video showing where and when the sounds will be."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.cli.options import detector_options, detector_options_given, pop_detector_params
from actiondubber.exporters.review import FORMATS, render_preview
from actiondubber.exporters.review_frame import DEFAULT_MAX_WIDTH, WINDOW_SECONDS
from actiondubber.progress import StagedProgress
from actiondubber.video.reader import probe


@click.command("preview")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path),
              help=f"Preview video to write ({', '.join(sorted(FORMATS))}).")
@click.option("--events", "events_file", type=click.Path(path_type=Path),
              help="Events JSON (from `actiondubber detect --json`); without it the training-free detector runs first.")
@click.option("--png", type=click.Path(path_type=Path), help="Also (or instead) write one preview frame as a PNG.")
@click.option("--png-frame", type=click.IntRange(min=0), help="0-based frame for --png [default: the first event's].")
@click.option("--max-width", type=click.IntRange(min=16), default=DEFAULT_MAX_WIDTH, show_default=True,
              help="Downscale wider videos to this width.")
@click.option("--audio", "audio_file", type=click.Path(path_type=Path),
              help="Take the soundtrack from this file (e.g. a dubbed video) instead of VIDEO's.")
@click.option("--no-audio", is_flag=True, help="Write the preview without sound.")
@click.option("--window", type=click.FloatRange(0.5, 60), default=WINDOW_SECONDS, show_default=True,
              help="The timeline shows this many seconds either side of the playhead.")
@detector_options
@click.pass_context
def preview_cmd(ctx: click.Context, video: Path, out: Path | None, events_file: Path | None, png: Path | None,
                png_frame: int | None, max_width: int, audio_file: Path | None, no_audio: bool, window: float,
                **detector_kw) -> None:
    """Render VIDEO with its events drawn in: a mark at each sound's place, a flash at its frame, a timeline below.

    The timeline strip scrolls with the video and shows the detector's score
    curve, the events and the playhead. The preview keeps VIDEO's timestamps
    and, unless told otherwise, its soundtrack.
    """
    if out is None and png is None:
        raise click.UsageError("give -o/--output FILE and/or --png FILE")
    if audio_file is not None and no_audio:
        raise click.UsageError("--audio and --no-audio exclude each other")
    if png_frame is not None and png is None:
        raise click.UsageError("--png-frame needs --png")
    if events_file is not None and detector_options_given(ctx):
        raise click.UsageError(f"{detector_options_given(ctx)[0]} applies to the detector; it cannot change events "
                               "read from --events")
    audio: bool | Path = False if no_audio else (audio_file if audio_file is not None else True)
    detect_options = dataclasses.asdict(pop_detector_params(detector_kw))
    info = probe(video) if show_progress(ctx) else None  # probed once: its facts go to render_preview too
    with StagedProgress(total=info.n_frames if info else None, desc=video.name, enabled=info is not None) as bars:
        progress, detect_progress = bars.stage("preview"), bars.stage("detect")
        result = render_preview(video, events_file, out, max_width=max_width, audio=audio, png=png,
                                png_frame=png_frame, window=window, progress=progress,
                                detect_options=detect_options, detect_progress=detect_progress, info=info)
    lay = result.layout
    if result.out is not None:
        sound = f", sound from {result.audio}" if result.audio is not None else ", no sound"
        click.echo(f"wrote {result.out} ({result.n_frames} frames, {lay.frame_width}x{lay.frame_height}{sound})")
    if result.png is not None:
        click.echo(f"wrote {result.png} (frame {result.png_frame})")


COMMANDS = [preview_cmd]
