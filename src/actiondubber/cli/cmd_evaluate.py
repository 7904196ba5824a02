"""``actiondubber evaluate``: score events JSON files against Audible623-format labels."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.evaluate.report import (
    evaluate_predictions,
    format_report,
    write_report_csv,
    write_report_json,
)
from actiondubber.fileio import check_output_path


@click.command("evaluate")
@click.option(
    "--pred",
    "pred",
    required=True,
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
def evaluate_cmd(pred: Path, labels: Path, merge: int, json_out: Path | None, csv_out: Path | None) -> None:
    """Score predicted events against Audible623-format labels.

    Prints per-video and mean figures: strict one-to-one F1 at ±1/±2/±3 frames
    and ±50 ms, the paper's Recall/Precision/F1/NME/PME (as its reference code
    computes them) and counting MAE/OBO.
    """
    inputs = [labels, *(sorted(pred.glob("*.json")) if pred.is_dir() else [pred])]
    for out in (json_out, csv_out):
        if out is not None:
            check_output_path(out, inputs=inputs)
    report = evaluate_predictions(pred, labels, merge=merge)
    written = []
    if json_out is not None:
        written.append(write_report_json(report, json_out))
    if csv_out is not None:
        written.append(write_report_csv(report, csv_out))
    click.echo(format_report(report), nl=False)
    for out in written:
        click.echo(f"wrote {out}")

COMMANDS = [evaluate_cmd]
