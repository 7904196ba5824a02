"""``actiondubber synth``: render a synthetic clip with exactly known collision frames."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.fileio import check_output_path
from actiondubber.progress import progress_bar
from actiondubber.synth import BACKGROUNDS, OBJECT_KINDS, SCENES, render_clip, write_labels_csv


def _parse_size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not WIDTHxHEIGHT (e.g. 320x240)") from None
    if w < 48 or h < 48:
        raise click.BadParameter(f"{value}: each side must be at least 48 pixels")
    return w, h


@click.command("synth")
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--scene", type=click.Choice(SCENES), default="bounce", show_default=True, help="What happens.")
@click.option("--seconds", type=click.FloatRange(min=0.1, max=24 * 3600), default=4.0, show_default=True)
@click.option("--fps", type=click.FloatRange(1.0, 240.0), default=30.0, show_default=True,
              help="Frame rate (with --vfr: the jittered base rate, halved in the middle third).")
@click.option("--size", default="320x240", show_default=True, callback=_parse_size, help="WIDTHxHEIGHT in pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same clip.")
@click.option("--vfr", is_flag=True, help="Irregular frame timestamps (variable frame rate).")
@click.option("--no-audio", is_flag=True, help="Leave out the soundtrack of impact sounds.")
@click.option("--noise", type=click.FloatRange(min=0.0), default=2.0, show_default=True,
              help="Sensor noise (standard deviation, 8-bit levels).")
@click.option("--crf", type=click.IntRange(0, 51), default=23, show_default=True,
              help="H.264 quality (lower = better).")
@click.option("--objects", "n_objects", type=click.IntRange(0, 4), default=None,
              help="Number of bouncing/thrown bodies (default: the scene's random choice).")
@click.option("--kind", "kinds", type=click.Choice(OBJECT_KINDS), multiple=True,
              help="Body kind; repeat to cycle through several.")
@click.option("--background", type=click.Choice(BACKGROUNDS), default=None, help="Background texture.")
@click.option("--motion-blur", type=click.IntRange(0, 32), default=0, show_default=True,
              help="Average this many sub-frame renders per frame (0 = off).")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Also write an Audible623-format labels CSV for the clip.")
@click.pass_context
def synth(
    ctx: click.Context,
    output: Path,
    scene: str,
    seconds: float,
    fps: float,
    size: tuple[int, int],
    seed: int,
    vfr: bool,
    no_audio: bool,
    noise: float,
    crf: int,
    n_objects: int | None,
    kinds: tuple[str, ...],
    background: str | None,
    motion_blur: int,
    labels: Path | None,
) -> None:
    """Render a synthetic test clip to OUTPUT (e.g. .mp4) and print its collision frames and times.

    Frames are 0-based; a collision is labelled at the frame whose timestamp is
    nearest to the collision instant.
    """
    check_output_path(output)
    if labels is not None:
        check_output_path(labels, inputs=[output])
    total = None if vfr else max(2, round(seconds * fps))
    with progress_bar(total=total, desc="synth", enabled=show_progress(ctx)) as bar:
        try:
            clip = render_clip(
                output, scene=scene, seconds=seconds, fps=fps, size=size, seed=seed, noise=noise, crf=crf,
                with_audio=not no_audio, vfr=vfr, n_objects=n_objects, kinds=kinds or None, background=background,
                motion_blur=motion_blur, progress=bar.update,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if labels is not None:
        write_labels_csv(labels, [clip])
    rate = f"{clip.fps:.3f} fps average, variable" if clip.vfr else f"{clip.fps:g} fps"
    click.echo(f"{clip.path}: scene {clip.scene}, {clip.width}x{clip.height}, {clip.n_frames} frames at {rate}, "
               f"{'with' if clip.has_audio else 'no'} audio, {len(clip.collisions)} collision(s)")
    if clip.collisions:
        click.echo("frame\ttime_s\tobject\tsurface\tspeed_px_s")
        for c in clip.collisions:
            click.echo(f"{c.frame}\t{c.time:.4f}\t{c.obj}\t{c.surface}\t{c.speed:.1f}")
    if labels is not None:
        click.echo(f"labels: {labels}")


COMMANDS = [synth]
