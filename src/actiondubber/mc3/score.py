"""Sounding probabilities for events: does the action at each event make a sound?

Modes: ``video`` (default; the probe on the video embedding: what a clip to be dubbed needs, and
it never looks at the soundtrack), ``av`` (the paper's protocol: the audio-video similarity of
the event's picture and the clip's own soundtrack, mapped to a probability), ``auto`` (``av`` when
the clip has a soundtrack, else ``video``).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError, ParameterError
from actiondubber.events import events_to_dict
from actiondubber.fileio import write_text_atomic
from actiondubber.types import Events

MODES = ("video", "av", "auto")
_TRAINING_FREE = "inflection-training-free"
#: Detector settings that only pick peaks on the strength curve; every other one changes the curve.
_PICKING = ("sensitivity", "min_gap", "window", "floor", "object_radius", "object_share")


def _is_base_curve(params: dict) -> bool:
    """Whether events made with *params* carry the single-scale curve of ``DetectorParams()`` as their
    scores: every setting that changes the curve at its default (settings an older file lacks count
    as defaults)."""
    import dataclasses

    from actiondubber.detection.detector import DetectorParams

    base = dataclasses.asdict(DetectorParams())
    return all(params.get(k, v) == v for k, v in base.items() if k not in _PICKING)


def event_curve(video: str | os.PathLike, events: Events, cache_dir: Path | None = None) -> np.ndarray:
    """The single-scale training-free strength curve for *events*' video (what the MC3 heads were trained on):
    the events' own ``scores`` when they are that curve, else computed (and cached)."""
    from actiondubber.mc3.train import clip_curve

    s = np.asarray(events.scores, np.float32)
    if (str(events.params.get("detector", "")).startswith(_TRAINING_FREE) and _is_base_curve(events.params) and s.size
            and s.size == events.video.n_frames):
        return np.nan_to_num(s, nan=0.0)
    return clip_curve(video, cache_dir)[1]


def sounding_probabilities(
    video: str | os.PathLike,
    events: Events,
    *,
    model=None,
    mode: str = "video",
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, str]:
    """P(sounding) of every event of *video* and the mode used (``auto`` resolved).

    Parameters
    ----------
    video
        The clip the events belong to.
    events
        Its events (from ``detect`` or an events file).
    model
        A :class:`~actiondubber.mc3.heads.MC3Model`; default: the shipped weights.
    mode
        ``video``, ``av`` or ``auto`` (see the module docs).
    cache_dir
        Where encoder outputs are cached (default :func:`~actiondubber.mc3.features.default_cache_dir`).
    """
    from actiondubber.mc3 import features as feats
    from actiondubber.mc3.heads import load_model
    from actiondubber.video.reader import probe

    if mode not in MODES:
        raise ParameterError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    model = model or load_model()
    cache_dir = feats.default_cache_dir() if cache_dir is None else cache_dir
    if not events.events:
        return np.zeros(0, np.float32), ("video" if mode == "auto" else mode)
    info = probe(video)
    frames = [min(max(e.frame, 0), info.n_frames - 1) for e in events.events]
    audio = None
    if mode in ("av", "auto"):
        if "audio" not in model.heads:
            raise InputError("this MC3 model has no audio head; use mode video")
        audio = feats.audio_features(video, [e.time for e in events.events], cache_dir=cache_dir)
        if audio is None and mode == "av":
            raise InputError(f"{video}: has no soundtrack; mode av compares the picture with it (use mode video)")
    used = "av" if audio is not None else "video"
    scores = event_curve(video, events, cache_dir)
    e_v = model.embed("video", feats.video_features(video, frames, scores, info=info, cache_dir=cache_dir))
    if used == "av":
        p = model.p_av(e_v, model.embed("audio", audio))
    else:
        p = model.p_video(e_v)
    return np.clip(p, 0.0, 1.0).astype(np.float32), used


def scored_events_dict(events: Events, probs: np.ndarray, *, mode: str, weights: str = "shipped") -> dict:
    """The events JSON dictionary with a ``sounding`` probability on every event (same schema plus the field)."""
    if len(probs) != len(events.events):
        raise ValueError("one probability per event is needed")
    d = events_to_dict(events)
    for item, p in zip(d["events"], probs, strict=True):
        item["sounding"] = round(float(p), 6)
    d["params"] = {**d["params"], "sounding": {"model": "mc3", "mode": mode, "weights": weights}}
    return d


def save_scored_events(events: Events, probs: np.ndarray, path: str | os.PathLike, **kw) -> Path:
    """Write :func:`scored_events_dict` atomically to *path* (readable by every events consumer)."""
    return write_text_atomic(path, json.dumps(scored_events_dict(events, probs, **kw), indent=1) + "\n")


def filter_events(events: Events, probs: np.ndarray, threshold: float) -> tuple[Events, np.ndarray]:
    """The events whose P(sounding) is at least *threshold*, and their probabilities."""
    if not 0.0 <= threshold <= 1.0:
        raise ParameterError(f"sounding threshold must be between 0 and 1, got {threshold}")
    keep = [i for i, p in enumerate(probs) if p >= threshold]
    params = {**events.params, "sounding_filter": float(threshold)}
    return replace(events, events=tuple(events.events[i] for i in keep), params=params), np.asarray(probs)[keep]
