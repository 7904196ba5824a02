"""``actiondubber export``: an events file as markers for editors (OTIO, EDL, FCP XML) and timed text."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from actiondubber.errors import InputError
from actiondubber.events import load_events
from actiondubber.exporters.cues import DEFAULT_CUE_LENGTH, DEFAULT_NAME, check_name
from actiondubber.exporters.markers import FORMATS, check_events, export_events, resolve_video, with_video
from actiondubber.fileio import check_output_path

log = logging.getLogger(__name__)

_OUT = click.Path(path_type=Path, dir_okay=False)


@click.command("export")
@click.argument("events", type=click.Path(path_type=Path))
@click.option("--otio", "otio_out", type=_OUT, help="OpenTimelineIO timeline (.otio).")
@click.option("--edl", "edl_out", type=_OUT, help="CMX 3600 EDL with one '* LOC:' locator per event.")
@click.option("--fcpxml", "fcpxml_out", type=_OUT, help="Final Cut Pro 7 XML (xmeml; Premiere, Resolve).")
@click.option("--audacity", "audacity_out", type=_OUT, help="Audacity label track (.txt, point labels).")
@click.option("--srt", "srt_out", type=_OUT, help="SubRip subtitles, one cue per event.")
@click.option("--vtt", "vtt_out", type=_OUT, help="WebVTT subtitles, one cue per event.")
@click.option("--csv", "csv_out", type=_OUT, help="CSV table of the events.")
@click.option("--video", type=click.Path(path_type=Path),
              help="Source video the markers reference (default: the one named in EVENTS).")
@click.option("--name", default=DEFAULT_NAME, show_default=True,
              help="Marker name; fields {n} (1-based), {frame}, {time}, {score}.")
@click.option("--cue-length", type=click.FloatRange(0.001, 60.0), default=DEFAULT_CUE_LENGTH, show_default=True,
              help="SRT/WebVTT cue length in seconds (cut short by the next event).")
def export_cmd(events: Path, otio_out, edl_out, fcpxml_out, audacity_out, srt_out, vtt_out, csv_out, video, name,
               cue_length):
    """Write the events in EVENTS (from 'detect --json') as markers and cues for editing tools."""
    chosen = dict(otio=otio_out, edl=edl_out, fcpxml=fcpxml_out, audacity=audacity_out, srt=srt_out, vtt=vtt_out,
                  csv=csv_out)
    outs = {fmt: p for fmt, p in chosen.items() if p is not None}
    if not outs:
        raise click.UsageError("give at least one output: " + ", ".join(f"--{f}" for f in FORMATS))
    check_name(name)
    for p in outs.values():
        check_output_path(p, inputs=[events] + ([video] if video else []))
    ev = load_events(events)
    if video is not None:
        if not video.is_file():
            raise InputError(f"{video}: video not found")
        ev = with_video(ev, video, source=str(events))
    check_events(ev, str(events))
    ref = video if video is not None else resolve_video(ev, events)
    if ref is not None and not ref.exists():
        log.warning("%s: source video not found; the markers reference it anyway", ref)
    written = export_events(ev, outs, video=ref, name=name, cue_length=cue_length, inputs=[events])
    for fmt, p in written.items():
        click.echo(f"{p}: {len(ev)} event(s) as {FORMATS[fmt]}")


COMMANDS = [export_cmd]
