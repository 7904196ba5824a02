"""``actiondubber evaluate``: score events JSON files against Audible623-format labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from actiondubber.evaluate.report import (
    evaluate_predictions,
    format_report,
    score,
    write_report_csv,
    write_report_json,
)
from actiondubber.fileio import check_output_path


@click.command("evaluate")
@click.option(
    "--pred",
    "pred",
    type=click.Path(path_type=Path),
    help="An events JSON file or a folder of them (matched to labels by file stem = video_id).",
)
@click.option(
    "--labels",
    "labels",
    required=True,
    type=click.Path(path_type=Path),
    help="Labels CSV in the Audible623 format (video_id,sound_label,class).",
)
@click.option(
    "--merge-labels",
    "merge",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Merge labels at most N frames apart into one (1 joins consecutive frames) for strict and counting metrics.",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the full report as JSON.")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path), help="Also write per-video rows as CSV.")
@click.option("--model", "model", type=click.Path(path_type=Path),
              help="Instead of --pred: run this TA2Net checkpoint on every labelled video in --videos.")
@click.option("--videos", "videos", type=click.Path(path_type=Path), help="With --model: folder of the videos.")
@click.option("--overlap", is_flag=True, help="With --model: half-overlapping windows, predictions averaged.")
@click.option("--device", default="auto", show_default=True, help="With --model: auto, cpu, cuda or cuda:N.")
@click.option("--bf16", is_flag=True,
              help="With --model: bfloat16 autocast (same weights; about 2x faster on CPUs with bf16 support).")
@click.pass_context
def evaluate_cmd(ctx, pred: Path | None, labels: Path, merge: int, json_out: Path | None, csv_out: Path | None,
                 model: Path | None, videos: Path | None, overlap: bool, device: str,
                 bf16: bool) -> None:
    """Score predicted events against Audible623-format labels.

    Prints per-video and mean figures: strict one-to-one F1 at ±1/±2/±3 frames
    and ±50 ms, the paper's Recall/Precision/F1/NME/PME (as its reference code
    computes them) and counting MAE/OBO.
    """
    if (pred is None) == (model is None):
        raise click.UsageError("give either --pred or --model (with --videos)")
    if model is not None and videos is None:
        raise click.UsageError("--model needs --videos")
    if model is None and (videos is not None or overlap or bf16):
        raise click.UsageError("--videos, --overlap and --bf16 need --model")
    if model is not None:
        inputs = [labels, model]
    else:
        inputs = [labels, *(sorted(pred.glob("*.json")) if pred.is_dir() else [pred])]
    for out in (json_out, csv_out):
        if out is not None:
            check_output_path(out, inputs=inputs)
    if model is not None:  # scored in memory: the report names the model and the videos
        found = _predict_with_model(ctx, model, videos, labels, overlap, device, bf16)
        report = dataclasses.replace(score(found, labels, merge=merge), pred=f"{model} (TA2Net) on {videos}",
                                     sources={vid: f"{model} on {videos}" for vid in found},
                                     inputs=(str(labels), str(model)))
    else:
        report = evaluate_predictions(pred, labels, merge=merge)
    written = []
    if json_out is not None:
        written.append(write_report_json(report, json_out))
    if csv_out is not None:
        written.append(write_report_csv(report, csv_out))
    click.echo(format_report(report), nl=False)
    for out in written:
        click.echo(f"wrote {out}")


def _predict_with_model(ctx, model: Path, videos: Path, labels: Path, overlap: bool, device: str,
                        bf16: bool = False) -> dict:
    """Run the checkpoint on every labelled video found in *videos*: ``{video id: Events}``."""
    import logging

    from actiondubber.cli.common import show_progress
    from actiondubber.errors import ActionDubberError, InputError
    from actiondubber.evaluate.labels import read_labels
    from actiondubber.torchutil import require_torch

    require_torch("--model")
    from actiondubber.model.infer import detect_with_model, load_checkpoint
    from actiondubber.train.dataset import index_videos
    log = logging.getLogger("actiondubber.cli.evaluate")
    lm = load_checkpoint(model, device=device, bf16=True if bf16 else None)
    ids = list(read_labels(labels).videos)
    files = index_videos(videos)
    todo = [(vid, files[vid]) for vid in ids if vid in files]
    if not todo:
        raise InputError(f"{videos}: none of the {len(ids)} labelled videos of {labels} is in this folder")
    from actiondubber.progress import progress_bar

    with progress_bar(total=len(todo), unit="video", desc="TA2Net", enabled=show_progress(ctx)) as bar:
        found = {}
        for vid, path in todo:
            try:
                found[vid] = detect_with_model(path, lm, overlap_average=overlap)
            except ActionDubberError as exc:
                log.warning("%s; video %s counts as missed", exc, vid)
            bar.update(1)
    return found


COMMANDS = [evaluate_cmd]
