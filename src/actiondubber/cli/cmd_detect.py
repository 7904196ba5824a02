"""``actiondubber detect``: the training-free detector from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.detect.detector import DetectorParams, events_from_curve, strength_curve
from actiondubber.detect.strength import KINDS
from actiondubber.errors import InputError, OutputError
from actiondubber.events import save_events
from actiondubber.export.plot import plot_curve
from actiondubber.export.tabular import events_table, write_events_csv
from actiondubber.fileio import check_output_path
from actiondubber.kinematics.flow import BACKENDS
from actiondubber.kinematics.globalmotion import MODELS
from actiondubber.video.reader import probe

_D = DetectorParams()


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
@click.option("-s", "--sensitivity", type=click.FloatRange(0, 1), default=_D.sensitivity, show_default=True,
              help="Higher finds more (and weaker) events.")
@click.option("--short-side", type=click.IntRange(16, 4096), default=_D.short_side, show_default=True,
              help="Analysis size: short side of the scaled frames in pixels.")
@click.option("--backend", type=click.Choice(BACKENDS), default=_D.backend, show_default=True, help="Optical flow.")
@click.option("--flow-preset", type=click.Choice(["ultrafast", "fast", "medium"]), default=_D.flow_preset,
              show_default=True, help="DIS flow preset: ultrafast is ~1.6x faster, slightly less accurate.")
@click.option("--raft-weights", type=click.Path(path_type=Path), help="Local RAFT state_dict (with --backend raft).")
@click.option("--compensate", type=click.Choice(MODELS), default=_D.compensate, show_default=True,
              help="Camera-motion model removed from the flow.")
@click.option("--kind", type=click.Choice(KINDS), default=_D.kind, show_default=True,
              help="Strength measure (flow and impact are baselines).")
@click.option("--gravity", type=click.FloatRange(0, 1), default=_D.gravity, show_default=True,
              help="Weight of the prior that sounding impacts arrive moving down (0 = off).")
@click.option("--min-gap", type=click.FloatRange(0, None), default=_D.min_gap, show_default=True,
              help="Minimum time between two events, seconds (at least 3 frames).")
@click.option("--frame-offset", type=click.IntRange(0, 1), default=_D.frame_offset, show_default=True,
              help="0: the frame at the change of motion; 1: the frame after it.")
@click.option("--skip-repeats", is_flag=True,
              help="Leave isolated repeated frames (frame-rate conversion by duplication, pulldown) out of the "
                   "motion analysis; see README.")
@click.option("--model", "model", type=click.Path(path_type=Path),
              help="Use a trained TA2Net checkpoint (e.g. runs/ta2net/best.pt) instead of the training-free detector "
                   "(flow options then come from the checkpoint).")
@click.option("--maps", "maps_out", type=click.Path(path_type=Path),
              help="With --model: write a video with the model's spatial map D laid over the frames as a heat map.")
@click.option("--overlap", is_flag=True, help="With --model: half-overlapping windows, predictions averaged.")
@click.option("--device", default="auto", show_default=True, help="With --model: auto, cpu, cuda or cuda:N.")
@click.option("--bf16", is_flag=True,
              help="With --model: bfloat16 autocast (same weights; about 2x faster on CPUs with bf16 support).")
@click.option("--use-audio", is_flag=True,
              help="Also use the soundtrack: MRAV-FF audio-visual model (shipped default weights, or --model with an "
                   "audio-visual checkpoint); the gate values go into the events file's params.")
@click.pass_context
def detect_cmd(ctx, video: Path, json_out, csv_out, plot_out, labels, sensitivity, short_side, backend, flow_preset,
               raft_weights,
               compensate, kind, gravity, min_gap, frame_offset, skip_repeats, model, maps_out, overlap,
               device, bf16, use_audio=False):
    """Find the frames and times at which visible actions in VIDEO make a sound."""
    if use_audio:
        _detect_with_audio(ctx, video, model, json_out, csv_out, plot_out, labels, sensitivity,
                           bad=[n for n, v in (("--maps", maps_out), ("--overlap", overlap), ("--bf16", bf16)) if v])
        return
    if model is None and (maps_out is not None or overlap or bf16):
        raise click.UsageError("--maps, --overlap and --bf16 need --model")
    outs = [p for p in (json_out, csv_out, plot_out, maps_out) if p is not None]
    if len({p.resolve() for p in outs}) != len(outs):
        raise OutputError("two outputs point to the same file")
    for p in outs:
        check_output_path(p, inputs=[video] + ([labels] if labels else []) + ([model] if model else []))
    if model is not None:
        _detect_with_model(ctx, video, model, json_out, csv_out, plot_out, maps_out, labels, sensitivity, min_gap,
                           overlap, device, bf16)
        return
    if raft_weights is not None and backend != "raft":
        raise click.UsageError("--raft-weights needs --backend raft")
    params = DetectorParams(short_side=short_side, backend=backend, flow_preset=flow_preset, compensate=compensate,
                            kind=kind, gravity=gravity,
                            sensitivity=sensitivity, min_gap=min_gap, frame_offset=frame_offset,
                            skip_repeats=skip_repeats)
    params.validate()
    info = probe(video)
    truth = _truth_frames(labels, video)
    flow_kwargs = {"weights": str(raft_weights)} if raft_weights is not None else None
    if show_progress(ctx):
        from tqdm import tqdm

        with tqdm(total=info.n_frames, unit="frame", desc=video.name, leave=False) as bar:
            curve = strength_curve(video, params, info=info, progress=bar.update, flow_kwargs=flow_kwargs)
    else:
        curve = strength_curve(video, params, info=info, flow_kwargs=flow_kwargs)
    ev = events_from_curve(curve, params)
    _write_outputs(ev, json_out, csv_out, plot_out, truth)
    click.echo(events_table(ev), nl=False)


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
    try:
        from actiondubber.model.infer import detect_with_model, load_checkpoint, write_maps_video
    except ImportError as exc:
        raise InputError(f"--model needs torch and torchvision: pip install 'actiondubber[torch]' ({exc})") from None
    lm = load_checkpoint(model, device=device, bf16=True if bf16 else None)
    info = probe(video)
    truth = _truth_frames(labels, video)
    kw = dict(sensitivity=sensitivity, min_gap=min_gap, overlap_average=overlap, return_maps=True)
    if show_progress(ctx):
        from tqdm import tqdm

        step = lm.cfg.clip_len // 2 if overlap else lm.cfg.clip_len
        with tqdm(total=max(1, -(-(info.n_frames - 2) // max(1, step))), unit="window", desc=video.name,
                  leave=False) as bar:
            ev, maps = detect_with_model(video, lm, progress=bar.update, **kw)
    else:
        ev, maps = detect_with_model(video, lm, **kw)
    _write_outputs(ev, json_out, csv_out, plot_out, truth)
    if maps_out:
        write_maps_video(video, ev, maps, maps_out)
    click.echo(events_table(ev), nl=False)


def _detect_with_audio(ctx, video, model, json_out, csv_out, plot_out, labels, sensitivity, bad) -> None:
    """``detect --use-audio``: picture + soundtrack through the MRAV-FF audio-visual model (torch extra)."""
    if bad:
        raise click.UsageError(f"{', '.join(bad)} cannot be used with --use-audio")
    outs = [p for p in (json_out, csv_out, plot_out) if p is not None]
    if len({p.resolve() for p in outs}) != len(outs):
        raise OutputError("two outputs point to the same file")
    for p in outs:
        check_output_path(p, inputs=[video] + ([labels] if labels else []) + ([model] if model else []))
    try:
        from actiondubber.tal.audible import detect_av, load_audible
    except ImportError as exc:
        raise InputError(f"--use-audio needs torch: pip install 'actiondubber[torch]' ({exc})") from None
    lm = load_audible(model)
    info = probe(video)
    truth = _truth_frames(labels, video)
    if show_progress(ctx):
        from tqdm import tqdm

        with tqdm(total=info.n_frames, unit="frame", desc=video.name, leave=False) as bar:
            ev = detect_av(video, lm, sensitivity=sensitivity, progress=bar.update)
    else:
        ev = detect_av(video, lm, sensitivity=sensitivity)
    _write_outputs(ev, json_out, csv_out, plot_out, truth)
    click.echo(events_table(ev), nl=False)
    gates = ev.params.get("mean_gate_per_level") or []
    if gates:
        click.echo("audio trusted (mean gate per level): " + " ".join(f"{g:.2f}" for g in gates))


COMMANDS = [detect_cmd]
