"""``actiondubber count``: zero-shot counting of audible actions or motion repetitions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.cli.options import preset_flags, preset_from_flags
from actiondubber.detection.count import MODES, count_actions
from actiondubber.detection.detector import DEFAULT_DETECTOR, PRESETS, detector_params
from actiondubber.errors import InputError, OutputError
from actiondubber.fileio import check_output_path, write_text_atomic
from actiondubber.progress import progress_bar
from actiondubber.video.reader import probe

_D = DEFAULT_DETECTOR


@click.command("count")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--start", type=float, default=None, help="Segment start, seconds (default: the beginning).")
@click.option("--end", type=float, default=None, help="Segment end, seconds (default: the end).")
@click.option("--reversals", is_flag=True,
              help="Count repetitions of any motion (direction reversals of the main motion) instead of audible "
                   "actions.")
@click.option("-s", "--sensitivity", type=click.FloatRange(0, 1), default=_D.sensitivity, show_default=True,
              help="Audible mode: higher finds more (and weaker) events.")
@click.option("--event-mode", "events_mode", type=click.Choice(["frame", "objects"]), default=_D.events,
              show_default=True, help="Audible mode: one event per frame peak, or per moving object.")
@click.option("--small-objects", "small_objects", type=click.IntRange(0, 4096), default=_D.small_objects,
              show_default=True, help="Audible mode: also track small compact movers (a ball in a wide shot) at this "
                                      "short side and count their bounces (as detect --small-objects; 0 = off).")
@click.option("--fast", "fast", is_flag=True,
              help=f"Audible mode: the fast preset, over 300 frames/s at 720p (as detect --fast: "
                   f"{preset_flags(PRESETS['fast'])}; -s still applies).")
@click.option("--fastest", "fastest", is_flag=True,
              help=f"Audible mode: the fastest preset (as detect --fastest: {preset_flags(PRESETS['fastest'])}; -s "
                   "still applies).")
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), default=None,
              help="Audible mode: the detector preset by name (default, or the same as --fast / --fastest).")
@click.option("--json", "json_out", type=click.Path(path_type=Path),
              help="Write the count(s) and the counted frames as JSON.")
@click.option("--labels", type=click.Path(path_type=Path),
              help="Audible623-format CSV: also print counting MAE/OBO against its number of labels per video.")
@click.option("--force", is_flag=True, help="Overwrite an existing --json file.")
@click.pass_context
def count_cmd(ctx, videos, start, end, reversals, sensitivity, events_mode, json_out, labels, force, fast=False,
              fastest=False, preset_name=None, small_objects=0):
    """Print how many audible actions (or, with --reversals, motion repetitions) each VIDEO holds."""
    if json_out is not None:
        check_output_path(json_out, inputs=list(videos) + ([labels] if labels else []))
        if json_out.exists() and not force:
            raise OutputError(f"{json_out}: exists; use --force to overwrite it")
    ref = None
    if labels is not None:
        from actiondubber.evaluate.labels import read_labels

        ref = {k: len(v.frames) for k, v in read_labels(labels).videos.items()}
    mode = MODES[1] if reversals else MODES[0]
    preset = preset_from_flags(fast, fastest, preset_name)
    kw: dict = {}
    if not reversals:  # the options given, over the preset or the default (as the detector options elsewhere)
        given = {k: v for k, v, name in (("sensitivity", sensitivity, "sensitivity"),
                                         ("events", events_mode, "events_mode"),
                                         ("small_objects", small_objects, "small_objects"))
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        kw = dataclasses.asdict(detector_params(preset, **given))
    results = []
    for video in videos:
        info = probe(video)
        with progress_bar(total=info.n_frames, desc=video.name, enabled=show_progress(ctx)) as bar:
            res = count_actions(video, start=start, end=end, mode=mode, progress=bar.update, **kw)
        results.append(res)
        extra = f"  ({res.reversals} reversals)" if res.reversals is not None else ""
        truth = ""
        if ref is not None and video.stem in ref:
            truth = f"  labels {ref[video.stem]}"
        click.echo(f"{video}\t{res.count}\t{mode}\t{res.start:.3f}-{res.end:.3f} s{extra}{truth}")
    if ref is not None:
        from actiondubber.evaluate.counting import evaluate_counts

        cs = evaluate_counts({Path(r.video).stem: r.count for r in results}, ref)
        if cs.n_videos == 0:
            raise InputError(f"{labels}: no row for any of the videos")
        click.echo(f"{cs.n_videos} labelled video(s): mean |error| {cs.mean_abs_error:.3f}  MAE {cs.mae:.3f}  "
                   f"OBO {cs.obo:.3f}")
    if json_out is not None:
        data = results[0].to_dict() if len(results) == 1 else {"counts": [r.to_dict() for r in results]}
        write_text_atomic(json_out, json.dumps(data, indent=1) + "\n")


COMMANDS = [count_cmd]
