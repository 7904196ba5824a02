"""``actiondubber train-verifier``: train the learned candidate verifier on labelled footage."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.errors import ParameterError
from actiondubber.fileio import check_output_path, write_text_atomic


@click.command("train-verifier")
@click.option("--videos", "videos", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Folder of training videos (repeat with --labels for several sets; each weighs the same).")
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Audible623-format labels CSV of the --videos folder at the same position (e.g. from "
                   "label-from-audio).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Verifier JSON to write.")
@click.option("--features", type=click.Choice(["channels", "curve"]), default="channels", show_default=True,
              help="What the verifier reads: the kinematic channels, or the strength curve alone.")
@click.option("--l2", type=click.FloatRange(0, None), default=10.0, show_default=True,
              help="L2 penalty of the logistic fit.")
@click.option("--tune-set", type=int, default=-1, show_default=True,
              help="Which set (0-based; -1 = the last) chooses the decision threshold.")
@click.option("--short-side", type=click.IntRange(16, 4096), default=128, show_default=True,
              help="Analysis size the curves are measured at (use the same for detect).")
@click.pass_context
def train_verifier_cmd(ctx, videos, labels, output, features, l2, tune_set, short_side):
    """Train a verifier that keeps the real audible actions among the detector's candidates.

    Use it with `actiondubber detect VIDEO --verifier FILE`.
    """
    if len(videos) != len(labels):
        raise ParameterError(f"give one --labels per --videos ({len(videos)} folders, {len(labels)} label files)")
    check_output_path(output, inputs=list(labels))
    from actiondubber.detection.detector import DetectorParams
    from actiondubber.train.verifier import train_verifier

    verbose = show_progress(ctx)

    def progress(name: str) -> None:
        if verbose:
            click.echo(f"  measuring {name}", err=True)

    model, rep = train_verifier(list(zip(videos, labels, strict=True)), channels=features == "channels", l2=l2,
                                tune_set=tune_set, params=DetectorParams(short_side=short_side), progress=progress)
    write_text_atomic(output, model.to_json() + "\n")
    click.echo(f"{output}: verifier over {rep['clips']} clips, {rep['candidates']} candidates, threshold "
               f"{rep['threshold']:.2f}; in-sample strict F1@±2 on the tuning set {rep['tune_f1_2_verifier']:.3f} "
               f"(plain peak picker {rep['tune_f1_2_plain']:.3f})")


COMMANDS = [train_verifier_cmd]
