"""``features``, ``train-tal``, ``localize``, ``evaluate-tal``: temporal action localisation with the soundtrack."""

from __future__ import annotations

import json
from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.errors import InputError, OutputError, ParameterError
from actiondubber.fileio import check_input_file, check_output_path, write_text_atomic


def _need_torch(what: str):
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise InputError(f"{what} needs torch: pip install 'actiondubber[torch]' ({exc})") from None


def _no_clobber(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputError(f"{path}: exists; use --force to replace it")


@click.command("features")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out-dir", required=True, type=click.Path(path_type=Path),
              help="Folder for the visual (kinematic) features, one <video stem>.npy per video.")
@click.option("--audio-dir", type=click.Path(path_type=Path),
              help="Folder for the audio (log-mel) features on the same frame grid.")
@click.option("--short-side", type=click.IntRange(16, 4096), default=128, show_default=True,
              help="Analysis size of the flow.")
@click.option("--force", is_flag=True, help="Replace existing feature files.")
@click.pass_context
def features_cmd(ctx, videos, out_dir, audio_dir, short_side, force):
    """Write per-video feature files for train-tal (one row per frame, .npy of shape (frames, channels))."""
    from actiondubber.tal.features import FeatureParams, write_video_features
    from actiondubber.tal.synthdata import write_features_json
    from actiondubber.video import MIN_FRAMES, probe

    for v in videos:  # every input checked (opened as a video) before an output folder is made
        check_input_file(v, "video file")
        if probe(v).n_frames < MIN_FRAMES:
            raise InputError(f"{v}: fewer than {MIN_FRAMES} frames; nothing to measure motion on")
    stems = [v.stem for v in videos]
    if len(set(stems)) != len(stems):
        raise InputError("two videos share a file name stem; their feature files would collide")
    fp = FeatureParams(short_side=short_side)
    from actiondubber.progress import progress_bar

    with progress_bar(total=len(videos), unit="video", desc="features",
                      enabled=show_progress(ctx) and len(videos) > 1) as bar:
        for v in videos:
            vp, ap = write_video_features(v, out_dir, audio_dir, fp, force=force)
            click.echo(f"{v}: {vp}" + (f", {ap}" if ap else ""))
            bar.update(1)
    write_features_json(out_dir, fp.to_dict(), "kinematic")
    if audio_dir is not None:
        write_features_json(audio_dir, fp.to_dict(), "logmel")


@click.command("train-tal")
@click.option("--annotations", required=True, type=click.Path(path_type=Path),
              help="ActivityNet-style JSON (or EPIC-Kitchens-100 CSV); subset validation/testing is held out.")
@click.option("--features", required=True, type=click.Path(path_type=Path),
              help="Folder of <video id>.npy visual features.")
@click.option("--audio-features", type=click.Path(path_type=Path), help="Folder of <video id>.npy audio features.")
@click.option("--fusion", type=click.Choice(["none", "concat", "add", "mravff"]), default="mravff", show_default=True,
              help="How audio enters the pyramid (none = visual-only baseline).")
@click.option("--out-dir", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output folder (best.pt, last.pt, metrics.csv).")
@click.option("--preset", type=click.Choice(["paper", "cpu"]), default="paper", show_default=True,
              help="paper: ActionFormer sizes (width 512); cpu: the small variant (width 64).")
@click.option("--gate-input", type=click.Choice(["visual", "both"]), default="visual", show_default=True,
              help="What the MRAV-FF gate sees: the visual stream (seed) or visual + attended audio.")
@click.option("--levels", type=click.IntRange(1, 8), default=6, show_default=True, help="Pyramid levels.")
@click.option("--epochs", type=click.IntRange(1, None), default=30, show_default=True)
@click.option("--batch", type=click.IntRange(1, None), default=4, show_default=True)
@click.option("--lr", type=click.FloatRange(0, None, min_open=True), default=1e-3, show_default=True)
@click.option("--audio-dropout", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Fraction of training clips shown without audio (keeps the visual path usable).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1, None), help="torch CPU threads.")
@click.option("--force", is_flag=True, help="Replace an existing best.pt in --out.")
@click.pass_context
def train_tal_cmd(ctx, annotations, features, audio_features, fusion, out, preset, gate_input, levels, epochs, batch,
                  lr, audio_dropout, seed, threads, force):
    """Train the FPN temporal localiser (ActionFormer-style) with MRAV-FF audio fusion."""
    _need_torch("train-tal")
    from actiondubber.tal.model import TALConfig
    from actiondubber.tal.train import train_tal

    cfg = TALConfig.preset(preset, fusion=fusion, gate_input=gate_input, levels=levels)
    bar = None
    if show_progress(ctx):
        from tqdm import tqdm

        bar = tqdm(total=epochs, unit="epoch", leave=False)
    try:
        res = train_tal(annotations, features, out, audio_features=audio_features, cfg=cfg, epochs=epochs, batch=batch,
                        lr=lr, audio_dropout=audio_dropout, seed=seed, threads=threads, force=force,
                        progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    best = "" if res.best_map is None else f", best validation mAP@0.1:0.5 {res.best_map * 100:.2f}"
    click.echo(f"trained {res.epochs} epochs in {res.seconds:.1f} s{best}; checkpoint {res.best}")


def _segments_table(vid: str, segs) -> str:
    lines = [f"{vid}: {len(segs)} segment(s)", "  start     end  label            score"]
    lines += [f"{s.start:7.3f} {s.end:7.3f}  {s.label:<15} {s.score:.3f}" for s in segs[:20]]
    if len(segs) > 20:
        lines.append(f"  ... {len(segs) - 20} more")
    return "\n".join(lines) + "\n"


@click.command("localize")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--model", "model", required=True, type=click.Path(path_type=Path), help="train-tal checkpoint.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write ActivityNet-format predictions.")
@click.option("--features", "feat", type=click.Path(path_type=Path),
              help="Use this visual .npy instead of extracting features from VIDEO (VIDEO then names the video).")
@click.option("--audio-features", "afeat", type=click.Path(path_type=Path), help="With --features: the audio .npy.")
@click.option("--duration", type=click.FloatRange(0, None, min_open=True), help="With --features: video length (s).")
@click.option("--force", is_flag=True, help="Replace an existing --json file.")
@click.pass_context
def localize_cmd(ctx, video, model, json_out, feat, afeat, duration, force):
    """Find action segments (start, end, class, score) in VIDEO with a train-tal checkpoint."""
    if afeat is not None and feat is None:
        raise click.UsageError("--audio-features needs --features")
    if json_out is not None:
        check_output_path(json_out, inputs=[video, model] + ([feat] if feat else []) + ([afeat] if afeat else []))
        _no_clobber(json_out, force)
    _need_torch("localize")
    from actiondubber.tal.annotations import save_predictions
    from actiondubber.tal.features import load_npy
    from actiondubber.tal.infer import load_tal_checkpoint, localize_arrays, localize_video

    lm = load_tal_checkpoint(model)
    if feat is not None:
        if duration is None:
            raise click.UsageError("--features needs --duration (seconds)")
        vis = load_npy(feat, "visual feature file")
        aud = load_npy(afeat, "audio feature file") if afeat is not None else None
        segs, gates = localize_arrays(lm, vis, aud, duration, video.stem)
        has_audio = aud is not None
    else:
        check_input_file(video, "video file")
        segs, gates, has_audio = localize_video(lm, video)
    if lm.cfg.fusion != "none" and not has_audio:
        click.echo(f"actiondubber: warning: {video}: no soundtrack; localising from the picture only (gate 0)",
                   err=True)
    if json_out is not None:
        save_predictions(json_out, {video.stem: segs},
                         extra={"model": str(model), "fusion": lm.cfg.fusion, "has_audio": has_audio,
                                "mean_gate_per_level": [round(g, 4) for g in gates]})
    click.echo(_segments_table(video.stem, segs), nl=False)
    if gates:
        click.echo("mean gate per level: " + " ".join(f"{g:.3f}" for g in gates))


_TIOUS = {"epic": (0.1, 0.2, 0.3, 0.4, 0.5), "thumos": (0.3, 0.4, 0.5, 0.6, 0.7)}


def _tious(text: str | None) -> list[tuple[str, tuple[float, ...]]]:
    if not text:
        return [("tIoU 0.1:0.5", _TIOUS["epic"]), ("tIoU 0.3:0.7", _TIOUS["thumos"])]
    if text in _TIOUS:
        return [(text, _TIOUS[text])]
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ParameterError(f"--tiou: expected epic, thumos or comma-separated numbers, got {text!r}") from None
    if not vals or not all(0 < v <= 1 for v in vals):
        raise ParameterError(f"--tiou: thresholds must lie in (0, 1], got {text!r}")
    return [(f"tIoU {text}", vals)]


@click.command("evaluate-tal")
@click.option("--pred", required=True, type=click.Path(path_type=Path), help="ActivityNet results JSON.")
@click.option("--annotations", required=True, type=click.Path(path_type=Path), help="ActivityNet-style annotations.")
@click.option("--tiou", help="epic (0.1:0.5), thumos (0.3:0.7) or a comma list; default both.")
@click.option("--subset", help="Evaluate only videos of this annotation subset.")
@click.option("--all-videos", is_flag=True, help="Evaluate every annotated video (default: those with predictions).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the figures as JSON.")
def evaluate_tal_cmd(pred, annotations, tiou, subset, all_videos, json_out):
    """mAP of predicted segments at tIoU thresholds (ActivityNet protocol)."""
    from actiondubber.tal.annotations import load_annotations, load_predictions
    from actiondubber.tal.metrics import format_map, mean_ap

    tious = _tious(tiou)
    if json_out is not None:
        check_output_path(json_out, inputs=[pred, annotations])
    db = load_annotations(annotations)
    pr = load_predictions(pred)
    vids = [v for v in db if (subset is None or db[v].subset == subset)]
    if not all_videos:
        vids = [v for v in vids if v in pr]
    if not vids:
        raise InputError(f"{pred}: no predicted video is in {annotations}" + (f" (subset {subset})" if subset else ""))
    unknown = sorted(set(pr) - set(db))
    if unknown:
        click.echo(f"actiondubber: warning: {len(unknown)} predicted video(s) not annotated, ignored "
                   f"(e.g. {unknown[0]})", err=True)
    out = {}
    for name, th in tious:
        r = mean_ap(db, pr, th, videos=vids)
        click.echo(format_map(r, f"{name}: "), nl=False)
        out[name] = r.to_dict()
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(out, indent=1) + "\n")


COMMANDS = [features_cmd, train_tal_cmd, localize_cmd, evaluate_tal_cmd]
