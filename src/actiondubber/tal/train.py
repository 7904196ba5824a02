"""``train-tal``: train the FPN localiser on per-video feature files and ActivityNet-style annotations.

Data: ``features/<video id>.npy`` (T, C) and, for a fusion other than ``none``,
``audio_features/<video id>.npy`` (T', C_a; resampled to T linearly when T' ≠ T). Feature row ``i``
is taken to sit at time ``i · duration / T`` (true for the ``features`` command's files, one row per
frame). Clips whose annotation subset is ``validation``/``testing`` (or the ids given) are held out
for checkpoint choice by average mAP; the rest train. AdamW with a linear warm-up and a cosine decay
(ActionFormer's schedule), gradient clipping at 1.0. Writes ``best.pt``, ``last.pt``,
``metrics.csv`` and ``config.json`` into the output folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actiondubber.errors import InputError, OutputError
from actiondubber.fileio import atomic_output, ensure_output_dir, write_csv_rows, write_text_atomic
from actiondubber.tal.annotations import Segment, VideoAnnotation, class_names, load_annotations
from actiondubber.tal.features import load_npy
from actiondubber.tal.metrics import TIOU_EPIC, mean_ap
from actiondubber.tal.model import TALConfig, TALModel, batch_arrays

log = logging.getLogger(__name__)

CKPT_FORMAT = "actiondubber.tal/1"
HELD_OUT = ("validation", "testing", "test", "val")


@dataclass
class Item:
    """One video ready for training: features, segments on the feature grid (rows), class indices."""

    vid: str
    visual: np.ndarray
    audio: np.ndarray | None
    duration: float
    segs: np.ndarray
    labels: np.ndarray
    subset: str


def _fit_rows(a: np.ndarray, t: int) -> np.ndarray:
    if a.shape[0] == t:
        return a
    x = np.linspace(0, a.shape[0] - 1, t)
    return np.stack([np.interp(x, np.arange(a.shape[0]), a[:, c]) for c in range(a.shape[1])], 1).astype(np.float32)


def load_items(db: Mapping[str, VideoAnnotation], features: str | os.PathLike, audio_features: str | os.PathLike | None,
               classes: Sequence[str]) -> list[Item]:
    """Read the feature files of every annotated video; a video whose visual file is missing is an error."""
    fdir = Path(features)
    if not fdir.is_dir():
        raise InputError(f"{fdir}: feature folder not found")
    adir = Path(audio_features) if audio_features is not None else None
    if adir is not None and not adir.is_dir():
        raise InputError(f"{adir}: audio feature folder not found")
    cidx = {c: i for i, c in enumerate(classes)}
    items, missing = [], []
    for vid, ann in db.items():
        p = fdir / f"{vid}.npy"
        if not p.is_file():
            missing.append(vid)
            continue
        vis = load_npy(p, "visual feature file")
        aud = None
        if adir is not None:
            aud = _fit_rows(load_npy(adir / f"{vid}.npy", "audio feature file"), vis.shape[0])
            if not aud.any():  # the features step writes zeros for a video without a soundtrack: audio off
                aud = None
        t = vis.shape[0]
        dur = ann.duration if ann.duration > 0 else float(t)
        segs = np.asarray([[s.start * t / dur, s.end * t / dur] for s in ann.segments if s.label in cidx],
                          np.float32).reshape(-1, 2)
        labels = np.asarray([cidx[s.label] for s in ann.segments if s.label in cidx], np.int64)
        items.append(Item(vid, vis, aud, dur, segs, labels, ann.subset))
    if missing:
        raise InputError(f"{fdir}: no feature file for {len(missing)} annotated video(s), e.g. {missing[0]}.npy")
    dims = {it.visual.shape[1] for it in items}
    if len(dims) > 1:
        raise InputError(f"{fdir}: feature files have different widths {sorted(dims)}")
    return items


def predict_items(model: TALModel, items: Sequence[Item], classes: Sequence[str], *, batch: int = 8
                  ) -> tuple[dict[str, list[Segment]], dict[str, list[float]]]:
    """Segments (s) per video, and the mean gate per level per video (empty without a gate)."""
    model.eval()
    results: dict[str, list[Segment]] = {}
    gates: dict[str, list[float]] = {}
    use_audio = model.cfg.fusion != "none"
    with torch.no_grad():
        for i in range(0, len(items), batch):
            chunk = items[i:i + batch]
            v, m, a, on = batch_arrays([it.visual for it in chunk], [it.audio for it in chunk], model.cfg.levels,
                                       model.cfg.audio_dim)
            out = model(v, m, a if use_audio else None, on)
            for b, it in enumerate(chunk):
                t = it.visual.shape[0]
                segs, scores, cls = model.segments(out, b, t)
                k = it.duration / t
                results[it.vid] = [Segment(float(s0 * k), float(s1 * k), classes[int(c)], float(p))
                                   for (s0, s1), p, c in zip(segs, scores, cls, strict=True)]
                gates[it.vid] = [float(g[b][out["masks"][lv][b]].mean()) for lv, g in enumerate(out["gates"])]
    return results, gates


def save_checkpoint(path: str | os.PathLike, model: TALModel, classes: Sequence[str], *,
                    feature_params: dict | None, extra: dict | None = None) -> Path:
    """Write a localiser checkpoint (config, class names, feature settings, weights) atomically."""
    ckpt = {"format": CKPT_FORMAT, "config": model.cfg.to_dict(), "classes": list(classes),
            "feature_params": feature_params, "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_output(path, suffix=".pt") as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def _feature_params(features: str | os.PathLike) -> dict | None:
    p = Path(features) / "features.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8")).get("params")
    except (OSError, ValueError):
        return None


@dataclass
class TrainResult:
    """Where the checkpoints went and the best validation figure."""

    out: Path
    best: Path
    best_map: float | None
    epochs: int
    seconds: float


def train_tal(annotations: str | os.PathLike, features: str | os.PathLike, out: str | os.PathLike, *,
              audio_features: str | os.PathLike | None = None, cfg: TALConfig | None = None, epochs: int = 30,
              batch: int = 4, lr: float = 1e-3, weight_decay: float = 0.05, warmup: int = 2, seed: int = 0,
              audio_dropout: float = 0.1, val_ids: Sequence[str] | None = None, eval_every: int = 1,
              threads: int | None = None, force: bool = False,
              progress: Callable[[int], None] | None = None) -> TrainResult:
    """Train a localiser; see the module docstring. *cfg*'s dims and class count are set from the data.

    *audio_dropout*: fraction of training clips shown without their soundtrack (audio switched off,
    gate 0), so the visual path stays usable when a video has no audio track.
    """
    t0 = time.time()
    if threads:
        torch.set_num_threads(int(threads))
    db = load_annotations(annotations)
    classes = class_names(db)
    if not classes:
        raise InputError(f"{annotations}: no labelled segments")
    cfg = cfg or TALConfig.preset("paper")
    if cfg.fusion != "none" and audio_features is None:
        raise InputError(f"fusion {cfg.fusion!r} needs --audio-features (or use --fusion none)")
    out_d = ensure_output_dir(out, "output folder")
    best_p = out_d / "best.pt"
    if best_p.exists() and not force:
        raise OutputError(f"{best_p}: exists; use --force to replace it")
    items = load_items(db, features, audio_features if cfg.fusion != "none" else None, classes)
    vis_dim = items[0].visual.shape[1]
    aud_dim = items[0].audio.shape[1] if items[0].audio is not None else cfg.audio_dim
    import dataclasses

    cfg = dataclasses.replace(cfg, visual_dim=vis_dim, audio_dim=aud_dim, num_classes=len(classes))
    held = set(val_ids or ()) or {it.vid for it in items if it.subset.lower() in HELD_OUT}
    train = [it for it in items if it.vid not in held]
    val = [it for it in items if it.vid in held]
    if not train:
        raise InputError(f"{annotations}: every video is held out for validation; nothing to train on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TALModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train) / batch)
    total = max(1, epochs * steps_per_epoch)
    warm = max(1, warmup * steps_per_epoch)

    def lr_at(step: int) -> float:
        if step < warm:
            return lr * (step + 1) / warm
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    fparams = _feature_params(features)
    write_text_atomic(out_d / "config.json", json.dumps({"config": cfg.to_dict(), "classes": classes,
                                                          "train": len(train), "val": len(val)}, indent=1) + "\n")
    rows: list[dict] = []
    best_map: float | None = None
    step = 0
    use_audio = cfg.fusion != "none"
    for ep in range(epochs):
        model.train()
        order = rng.permutation(len(train))
        tot = 0.0
        for i in range(0, len(order), batch):
            chunk = [train[j] for j in order[i:i + batch]]
            auds = [None if (it.audio is None or rng.uniform() < audio_dropout) else it.audio for it in chunk]
            v, m, a, on = batch_arrays([it.visual for it in chunk], auds, cfg.levels, cfg.audio_dim)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = model(v, m, a if use_audio else None, on)
            losses = model.loss(out, [(torch.from_numpy(it.segs), torch.from_numpy(it.labels)) for it in chunk])
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tot += float(losses["loss"].detach())
            step += 1
        row = {"epoch": ep + 1, "loss": round(tot / steps_per_epoch, 5), "lr": round(lr_at(step - 1), 7)}
        last = ep + 1 == epochs
        if val and ((ep + 1) % eval_every == 0 or last):
            res, gates = predict_items(model, val, classes)
            r = mean_ap({it.vid: db[it.vid] for it in val}, res, TIOU_EPIC)
            row["val_mAP"] = round(r.average, 5)
            if gates and any(gates.values()):
                g = np.asarray([v for v in gates.values() if v])
                row.update({f"gate_l{k}": round(float(x), 4) for k, x in enumerate(g.mean(0))})
            if best_map is None or r.average > best_map:
                best_map = r.average
                save_checkpoint(best_p, model, classes, feature_params=fparams,
                                extra={"epoch": ep + 1, "val_mAP": r.average})
        elif not val and last:
            save_checkpoint(best_p, model, classes, feature_params=fparams, extra={"epoch": ep + 1})
        rows.append(row)
        log.info("epoch %d: %s", ep + 1, row)
        if progress is not None:
            progress(1)
    save_checkpoint(out_d / "last.pt", model, classes, feature_params=fparams, extra={"epoch": epochs})
    write_csv_rows(out_d / "metrics.csv", rows)
    return TrainResult(out_d, best_p, best_map, epochs, time.time() - t0)
