"""``actiondubber detect``: the training-free detector from the command line."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.cli.options import detector_options, detector_options_given, pop_detector_params
from actiondubber.detection.detector import (
    SINGLE_SCALE_DETECTOR,
    nothing_resolved,
    run_detector,
    strongest_change,
)
from actiondubber.errors import InputError, OutputError
from actiondubber.events import save_events
from actiondubber.exporters.plot import plot_curve
from actiondubber.exporters.tabular import events_table, write_events_csv
from actiondubber.fileio import check_output_path
from actiondubber.progress import progress_bar
from actiondubber.video.reader import probe


def _truth_frames(labels: str | None, video: Path) -> list[int] | None:
    if not labels:
        return None
    from actiondubber.evaluate.labels import read_labels

    lf = read_labels(labels)
    row = lf.videos.get(video.stem)
    if row is None:
        raise InputError(f"{labels}: no row for video id {video.stem!r}")
    return list(row.frames)


@click.command("detect")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write events + per-frame scores as JSON.")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path), help="Write events as CSV.")
@click.option("--plot", "plot_out", type=click.Path(path_type=Path), help="Write a PNG of the strength curve.")
@click.option("--labels", help="Audible623-format CSV; the row for this video is drawn on the plot as ground truth.")
@detector_options
@click.option("--raft-weights", type=click.Path(path_type=Path), help="Local RAFT state_dict (with --backend raft).")
@click.option("--model", "model", type=click.Path(path_type=Path),
              help="Use a trained TA2Net checkpoint (e.g. runs/ta2net/best.pt) instead of the training-free detector "
                   "(flow options then come from the checkpoint).")
@click.option("--maps", "maps_out", type=click.Path(path_type=Path),
              help="With --model: write a video with the model's spatial map D laid over the frames as a heat map.")
@click.option("--overlap", is_flag=True, help="With --model: half-overlapping windows, predictions averaged.")
@click.option("--device", default="auto", show_default=True, help="With --model: auto, cpu, cuda or cuda:N.")
@click.option("--bf16", is_flag=True,
              help="With --model: bfloat16 autocast (same weights; about 2x faster on CPUs with bf16 support).")
@click.option("--sounding-filter", type=click.FloatRange(0, 1),
              help="Drop events whose MC3 sounding probability (from the picture) is below this, e.g. 0.5.")
@click.option("--mc3-weights", type=click.Path(path_type=Path), help="With --sounding-filter: MC3 weight file.")
@click.option("--use-audio", is_flag=True,
              help="Also use the soundtrack: MRAV-FF audio-visual model (shipped default weights, or --model with an "
                   "audio-visual checkpoint); the gate values go into the events file's params.")
@click.option("--sound-check", type=click.Choice(["align", "realign", "off"]), default="align", show_default=True,
              help="With --use-audio: before the model hears the sound, measure its offset over the whole clip; "
                   "align takes out a confident offset and refuses music, speech and sound that fits the picture "
                   "at no lag; realign only takes out the offset; off leaves it all to the learned gate.")
@click.pass_context
def detect_cmd(ctx, video: Path, json_out, csv_out, plot_out, labels, raft_weights, model, maps_out, overlap,
               device, bf16, sounding_filter=None, mc3_weights=None, use_audio=False, sound_check="align",
               **detector):
    """Find the frames and times at which visible actions in VIDEO make a sound."""
    if use_audio:
        bad = [n for n, v in (("--maps", maps_out), ("--overlap", overlap), ("--bf16", bf16)) if v]
        # the audio-visual model was trained on the single-scale detector's candidates at its sensitivity
        given = ctx.get_parameter_source("sensitivity") == click.core.ParameterSource.COMMANDLINE
        _detect_with_audio(ctx, video, model, json_out, csv_out, plot_out, labels,
                           detector["sensitivity"] if given else SINGLE_SCALE_DETECTOR.sensitivity, bad=bad,
                           sound_check=sound_check, fallback=pop_detector_params(detector))
        return
    if ctx.get_parameter_source("sound_check") == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--sound-check needs --use-audio")
    if model is None and (maps_out is not None or overlap or bf16):
        raise click.UsageError("--maps, --overlap and --bf16 need --model")
    outs = [p for p in (json_out, csv_out, plot_out, maps_out) if p is not None]
    if len({p.resolve() for p in outs}) != len(outs):
        raise OutputError("two outputs point to the same file")
    for p in outs:
        check_output_path(p, inputs=[video] + ([labels] if labels else []) + ([model] if model else []))
    params = pop_detector_params(detector)
    if mc3_weights is not None and sounding_filter is None:
        raise click.UsageError("--mc3-weights needs --sounding-filter")
    if model is not None and sounding_filter is not None:
        raise click.UsageError("--sounding-filter works on the training-free detector's events, not with --model")
    if model is not None:
        given = [o for o in detector_options_given(ctx) if o not in ("--sensitivity", "--min-gap")]
        if given:
            raise click.UsageError(f"{given[0]} tunes the training-free detector; with --model only --sensitivity "
                                   "and --min-gap apply (flow options come from the checkpoint)")
        _detect_with_model(ctx, video, model, json_out, csv_out, plot_out, maps_out, labels, params.sensitivity,
                           params.min_gap, overlap, device, bf16)
        return
    if raft_weights is not None and params.backend != "raft":
        raise click.UsageError("--raft-weights needs --backend raft")
    info = probe(video)
    truth = _truth_frames(labels, video)
    flow_kwargs = {"weights": str(raft_weights)} if raft_weights is not None else None
    with progress_bar(total=info.n_frames, desc=video.name, enabled=show_progress(ctx)) as bar:
        ev = run_detector(video, params, info=info, progress=bar.update, flow_kwargs=flow_kwargs)
    if sounding_filter is not None:
        ev = _sounding_filter(video, ev, sounding_filter, mc3_weights, json_out)
        json_out = None  # written with the sounding probabilities
    _write_outputs(ev, json_out, csv_out, plot_out, truth)
    click.echo(events_table(ev), nl=False)
    hint = _why_no_events(ev, params)
    if hint:
        logging.getLogger(__name__).warning(hint)


def _why_no_events(ev, params) -> str:
    """One warning line (stderr; ``-q`` hides it) when no event was found because nothing moved enough to
    pass the floor: small or distant movers (a ball in a wide shot) are under a pixel at the analysis size."""
    if not nothing_resolved(ev, params):
        return ""
    peak = strongest_change(ev)
    tracked = params.small_objects or params.small_objects_fallback
    tip = ("; the small-mover tracker found no bounce either" if tracked
           else "; --small-objects 540 tracks a ball a few pixels across")
    return (f"no audible action found: the strongest change of motion is {peak:.2f} px/frame (at a 128-px "
            f"short side), under --floor {params.floor:g}; nothing moves enough to see, or the movers are too "
            f"small or far to be resolved (a ball in a wide shot is){tip}")


def _sounding_filter(video, ev, threshold, weights, json_out):
    """Keep the events MC3 finds sounding (video mode); write them with their probabilities to *json_out*."""
    from actiondubber.mc3.heads import load_model
    from actiondubber.mc3.score import filter_events, save_scored_events, sounding_probabilities

    probs, used = sounding_probabilities(video, ev, model=load_model(weights), mode="video")
    kept, kept_p = filter_events(ev, probs, threshold)
    if json_out:
        save_scored_events(kept, kept_p, json_out, mode=used, weights=str(weights) if weights else "shipped")
    click.echo(f"sounding filter {threshold:g}: kept {len(kept.events)} of {len(ev.events)} event(s)", err=True)
    return kept


def _write_outputs(ev, json_out, csv_out, plot_out, truth) -> None:
    if json_out:
        save_events(ev, json_out)
    if csv_out:
        write_events_csv(ev, csv_out)
    if plot_out:
        plot_curve(ev, plot_out, truth=truth)


def _detect_with_model(ctx, video, model, json_out, csv_out, plot_out, maps_out, labels, sensitivity, min_gap, overlap,
                       device, bf16):
    """``detect --model``: TA2Net inference (needs the torch extra)."""
    from actiondubber.torchutil import require_torch

    require_torch("--model")
    from actiondubber.model.heatmap import write_maps_video
    from actiondubber.model.infer import detect_with_model, load_checkpoint
    lm = load_checkpoint(model, device=device, bf16=True if bf16 else None)
    info = probe(video)
    truth = _truth_frames(labels, video)
    kw = dict(sensitivity=sensitivity, min_gap=min_gap, overlap_average=overlap, return_maps=True)
    step = lm.cfg.clip_len // 2 if overlap else lm.cfg.clip_len
    with progress_bar(total=max(1, -(-(info.n_frames - 2) // max(1, step))), unit="window", desc=video.name,
                      enabled=show_progress(ctx)) as bar:
        ev, maps = detect_with_model(video, lm, progress=bar.update, **kw)
    _write_outputs(ev, json_out, csv_out, plot_out, truth)
    if maps_out:
        write_maps_video(video, ev, maps, maps_out)
    click.echo(events_table(ev), nl=False)


def _detect_with_audio(ctx, video, model, json_out, csv_out, plot_out, labels, sensitivity, bad,
                       sound_check: str = "align", fallback=None) -> None:
    """``detect --use-audio``: picture + soundtrack through the MRAV-FF audio-visual model (torch extra)."""
    if bad:
        raise click.UsageError(f"{', '.join(bad)} cannot be used with --use-audio")
    outs = [p for p in (json_out, csv_out, plot_out) if p is not None]
    if len({p.resolve() for p in outs}) != len(outs):
        raise OutputError("two outputs point to the same file")
    for p in outs:
        check_output_path(p, inputs=[video] + ([labels] if labels else []) + ([model] if model else []))
    from actiondubber.torchutil import require_torch

    require_torch("--use-audio")
    from actiondubber.tal.audible import detect_av, load_audible
    lm = load_audible(model)
    info = probe(video)
    truth = _truth_frames(labels, video)
    with progress_bar(total=info.n_frames, desc=video.name, enabled=show_progress(ctx)) as bar:
        ev = detect_av(video, lm, sensitivity=sensitivity, sound_check=sound_check, fallback=fallback,
                       progress=bar.update)
    _write_outputs(ev, json_out, csv_out, plot_out, truth)
    click.echo(events_table(ev), nl=False)
    gates = ev.params.get("mean_gate_per_level") or []
    if gates:
        click.echo("audio trusted (mean gate per level): " + " ".join(f"{g:.2f}" for g in gates))
    action = ev.params.get("sound_check")
    if action == "realign":
        click.echo(f"soundtrack realigned: {ev.params['sound_check_reason']} "
                   f"(confidence {ev.params['sound_offset_confidence']:.2f})")
    if action == "refuse":
        click.echo(f"the soundtrack was refused ({ev.params['sound_check_reason'].split(':')[0]}): "
                   "events are the picture-only detector's")
    elif ev.params.get("audio_refused"):
        click.echo(f"the soundtrack does not fit the picture (mean gate under {ev.params['gate_floor']}): "
                   "events are the picture-only detector's")


COMMANDS = [detect_cmd]
