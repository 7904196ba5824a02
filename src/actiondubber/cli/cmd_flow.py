"""``actiondubber flow``: a side-by-side preview of a video's motion and inflectional flow."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.fileio import check_output_path
from actiondubber.kinematics.flow import BACKENDS, make_flow_backend
from actiondubber.kinematics.globalmotion import MODELS as COMPENSATE_MODELS
from actiondubber.kinematics.preview import INFLECTIONS, render_flow_preview
from actiondubber.kinematics.raft import MODELS as RAFT_MODELS
from actiondubber.video.reader import DEFAULT_SHORT_SIDE


@click.command("flow")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path),
              help="Preview video to write (.mp4, .mkv, .mov, .webm).")
@click.option("--out-dir", "--png-dir", "png_dir", type=click.Path(path_type=Path),
              help="Also (or instead) write each frame as a PNG into this folder.")
@click.option("--backend", type=click.Choice(BACKENDS), default="dis", show_default=True, help="Optical-flow backend.")
@click.option("--raft-weights", type=click.Path(path_type=Path), help="RAFT state_dict file (.pth) for --backend raft.")
@click.option(
    "--raft-model", type=click.Choice(RAFT_MODELS), default="raft_small", show_default=True, help="RAFT variant."
)
@click.option(
    "--short-side",
    type=click.IntRange(min=16),
    default=DEFAULT_SHORT_SIDE,
    show_default=True,
    help="Analysis size: short side of the frames in pixels (the preview is three frames wide).",
)
@click.option("--max-frames", type=click.IntRange(min=1), help="Preview only the first N frames.")
@click.option(
    "--compensate",
    type=click.Choice(COMPENSATE_MODELS),
    default="affine",
    show_default=True,
    help="Camera-motion model removed from the flow.",
)
@click.option(
    "--inflection",
    type=click.Choice(INFLECTIONS),
    default="central",
    show_default=True,
    help="Inflection shown in the third panel (central = trajectory-aligned F_i + B_i-1).",
)
@click.pass_context
def flow_cmd(
    ctx: click.Context,
    video: Path,
    out: Path | None,
    png_dir: Path | None,
    backend: str,
    raft_weights: Path | None,
    raft_model: str,
    short_side: int,
    max_frames: int | None,
    compensate: str,
    inflection: str,
) -> None:
    """Preview VIDEO's motion and inflectional flow: frame | motion | inflection, colour-coded.

    Colours follow the Middlebury flow coding (hue = direction, strength =
    speed; white = still); each panel's label gives the speed drawn at full colour.
    """
    if out is None and png_dir is None:
        raise click.UsageError("give -o/--output FILE and/or --out-dir DIR")
    if raft_weights is not None and backend != "raft":
        raise click.UsageError("--raft-weights needs --backend raft")
    if out is not None:
        check_output_path(out, inputs=[video])
    kwargs = {"model": raft_model, "weights": raft_weights} if backend == "raft" else {}
    flow = make_flow_backend(backend, **kwargs)
    result = render_flow_preview(
        video,
        out,
        backend=flow,
        short_side=short_side,
        max_frames=max_frames,
        png_dir=png_dir,
        compensate=compensate,
        inflection=inflection,
        progress=show_progress(ctx),
    )
    size = f"{result.n_frames} frames, {result.width}x{result.height}"
    if result.out is not None:
        click.echo(f"wrote {result.out} ({size})")
    if result.png_dir is not None:
        click.echo(f"wrote {result.n_frames} PNG frames to {result.png_dir}")


COMMANDS = [flow_cmd]
