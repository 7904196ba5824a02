"""``localize``: load a localiser checkpoint and find action segments in a video or in feature files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.tal.annotations import Segment
from actiondubber.tal.features import FeatureParams, extract
from actiondubber.tal.model import TALConfig, TALModel
from actiondubber.tal.train import CKPT_FORMAT, Item, predict_items
from actiondubber.torchutil import load_torch_file


@dataclass
class LoadedTAL:
    """A localiser ready to run: model (eval mode), class names, the feature settings it was trained on."""

    model: TALModel
    classes: list[str]
    feature_params: dict | None
    path: str

    @property
    def cfg(self) -> TALConfig:
        return self.model.cfg


def load_tal_checkpoint(path: str | os.PathLike) -> LoadedTAL:
    """Read a ``train-tal`` checkpoint; :class:`InputError` when it is missing or not one."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: checkpoint not found")
    ckpt = load_torch_file(p, "checkpoint")  # its own one-line errors: empty, damaged, foreign objects
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise InputError(f"{p}: not a train-tal checkpoint (format {CKPT_FORMAT!r} expected)")
    try:
        cfg = TALConfig.from_dict(ckpt["config"])
        model = TALModel(cfg)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{p}: checkpoint does not fit the localiser ({str(exc).splitlines()[0][:160]})") from None
    model.eval()
    return LoadedTAL(model, list(ckpt["classes"]), ckpt.get("feature_params"), str(p))


def localize_arrays(lm: LoadedTAL, visual: np.ndarray, audio: np.ndarray | None, duration: float, vid: str = "video"
                    ) -> tuple[list[Segment], list[float]]:
    """Segments (s) and mean gate per level for one video's feature arrays."""
    if visual.ndim != 2 or visual.shape[1] != lm.cfg.visual_dim:
        raise InputError(f"{vid}: visual features have shape {visual.shape}; the model wants (T, {lm.cfg.visual_dim})")
    if audio is not None and audio.shape[1] != lm.cfg.audio_dim:
        raise InputError(f"{vid}: audio features have {audio.shape[1]} columns; the model wants {lm.cfg.audio_dim}")
    res, gates = predict_items(lm.model, [Item(vid, visual, audio, duration, np.zeros((0, 2)), np.zeros(0), "")],
                               lm.classes)
    return res[vid], gates[vid]


def localize_video(lm: LoadedTAL, video: str | os.PathLike, *, progress=None
                   ) -> tuple[list[Segment], list[float], bool]:
    """Extract features of *video* as the checkpoint's training did, then localise.

    Returns ``(segments, mean gate per level, has_audio)``. A video without a soundtrack runs with the
    audio switched off (the visual-only path of the same model).
    """
    if lm.feature_params is None:
        raise InputError(f"{lm.path}: this checkpoint was trained on features not made by `actiondubber features`; "
                         "localize its feature files with --features instead")
    fp = FeatureParams(**lm.feature_params)
    feats = extract(video, fp, with_audio=lm.cfg.fusion != "none", progress=progress)
    segs, gates = localize_arrays(lm, feats.visual, feats.audio, feats.info.n_frames / max(feats.info.fps, 1e-6)
                                  if feats.info.fps > 0 else feats.info.duration, Path(video).stem)
    return segs, gates, feats.audio is not None
