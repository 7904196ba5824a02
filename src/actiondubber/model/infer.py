"""Run a trained TA²Net on a whole video: load a checkpoint, predict per window, pick events.

:func:`load_checkpoint` / :func:`load_model` read a checkpoint written by
``actiondubber train`` (``best.pt`` / ``last.pt``; the format and its checks
are :mod:`actiondubber.model.checkpoint`) and set the model up for inference.

:func:`predict_video` follows the paper's inference: the video's feature rows
(frames 1 .. n-2, see :mod:`actiondubber.model.inputs`) are cut into
windows of ``clip_len`` frames with step ``clip_len``, the last one padded (a
frozen last frame with zero flow, as in training). With a smaller ``step`` the
windows overlap and each frame takes the prediction of the window whose centre
is nearest to it, or, with ``overlap_average``, the mean over every window
that covers it. Features stream from the decoder when no cache is used, so
memory stays bounded by one window however long the video is. The first and
last frame have no inflection (Eq. 4) and get probability 0.

:func:`detect_with_model` turns the per-frame audible probability into
:class:`~actiondubber.types.Events` with the training-free detector's peak
picker (:func:`actiondubber.detection.peaks.pick_peaks`); each event carries the
peak of the spatial map D, mapped to original-video pixels
(:func:`actiondubber.model.heatmap.write_maps_video` draws the maps over the video).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.errors import InputError, ParameterError
from actiondubber.model.checkpoint import (
    build_from_checkpoint,
    checkpoint_features,
    checkpoint_threshold,
    read_checkpoint,
)
from actiondubber.model.config import TA2NetConfig
from actiondubber.model.inputs import (
    MIN_FRAMES,
    FeatureParams,
    VideoFeatures,
    arrays_to_tensors,
    iter_features,
    pad_rows,
    video_features,
)
from actiondubber.model.ta2net import TA2Net
from actiondubber.torchutil import choose_device
from actiondubber.types import Event, Events, VideoInfo
from actiondubber.video.reader import decoded_info, probe

log = logging.getLogger(__name__)

#: Defaults of the peak picking on the probability curve. ``threshold`` is the lowest probability an
#: event may have: training stores the value that did best on its validation videos in the checkpoint;
#: without one, 0.5, the decision boundary of the two-class output the losses train.
DEFAULT_THRESHOLD = 0.5
DEFAULT_SENSITIVITY = 0.5
DEFAULT_MIN_GAP = 0.1
#: Half-width (frames) of the running median baseline of the peak picker (as the training-free detector).
PEAK_WINDOW = 7


@dataclass
class LoadedModel:
    """A model ready for inference plus what it needs to be fed: feature parameters and its checkpoint facts."""

    model: TA2Net
    cfg: TA2NetConfig
    features: FeatureParams
    path: str
    iteration: int = 0
    meta: dict | None = None
    threshold: float | None = None  # peak-picking threshold chosen on validation data at training time


# --------------------------------------------------------------------------- loading


def load_checkpoint(
    checkpoint: str | os.PathLike, *, device: str | torch.device | None = "cpu", fuse: bool = True,
    bf16: bool | None = None, channels_last: bool | None = None,
) -> LoadedModel:
    """Load *checkpoint* for inference: model in eval mode on *device*, its feature parameters and facts.

    *fuse* folds the encoders' BatchNorms into their convolutions (same outputs, faster); such a model
    is for inference only (its state_dict no longer matches a checkpoint's). *bf16* / *channels_last*
    (None: the checkpoint's setting) switch bfloat16 autocast and the channels-last memory format
    regardless of how the model was trained: same weights, faster on CPUs with bf16 support (the paper
    model about 2x), probabilities within ~1e-2.
    """
    ckpt = read_checkpoint(checkpoint)
    model, cfg = build_from_checkpoint(ckpt, checkpoint, {"bf16": bf16, "channels_last": channels_last})
    fp = checkpoint_features(ckpt, checkpoint, cfg)
    model.to(choose_device(device, purpose="TA2Net")).eval()
    if fuse and hasattr(model, "fuse_for_inference"):
        try:
            model.fuse_for_inference()
        except Exception as exc:  # noqa: BLE001 - an optimisation only: the unfused model is just as right
            log.debug("%s: BatchNorm folding skipped (%s)", checkpoint, exc)
    model.feature_params = fp  # type: ignore[attr-defined]
    return LoadedModel(model, cfg, fp, str(checkpoint), int(ckpt.get("iteration", 0) or 0),
                       ckpt.get("meta") if isinstance(ckpt.get("meta"), dict) else None,
                       checkpoint_threshold(ckpt))


def load_model(
    checkpoint: str | os.PathLike, *, device: str | torch.device | None = "cpu"
) -> tuple[TA2Net, TA2NetConfig]:
    """``(model, config)`` from *checkpoint*; the model (eval mode) also carries ``feature_params``."""
    lm = load_checkpoint(checkpoint, device=device)
    return lm.model, lm.cfg


# --------------------------------------------------------------------------- prediction


def _window_starts(n_rows: int, window: int, step: int) -> list[int]:
    """Window starts covering rows 0 .. n_rows-1: 0, step, 2·step ... until a window reaches the end."""
    starts = [0]
    while starts[-1] + window < n_rows:
        starts.append(starts[-1] + step)
    return starts


class _Accumulator:
    """Combines window predictions per row: nearest window centre, or the mean over windows."""

    def __init__(self, average: bool) -> None:
        self.average = average
        self.probs = np.zeros(0, np.float64)
        self.weight = np.zeros(0, np.float64)
        self.dist = np.zeros(0, np.float64)
        self.maps: np.ndarray | None = None

    def _grow(self, n: int, hw: tuple[int, int]) -> None:
        if self.maps is None:
            self.maps = np.zeros((0, *hw), np.float32)
        if n > self.probs.size:
            m = max(n, 2 * self.probs.size)
            self.probs = np.concatenate([self.probs, np.zeros(m - self.probs.size)])
            self.weight = np.concatenate([self.weight, np.zeros(m - self.weight.size)])
            self.dist = np.concatenate([self.dist, np.full(m - self.dist.size, np.inf)])
            self.maps = np.concatenate([self.maps, np.zeros((m - self.maps.shape[0], *hw), np.float32)])

    def add(self, start: int, probs: np.ndarray, maps: np.ndarray, n_valid: int) -> None:
        self._grow(start + n_valid, maps.shape[1:])
        assert self.maps is not None
        sl = slice(start, start + n_valid)
        p, m = probs[:n_valid], maps[:n_valid]
        if self.average:
            self.probs[sl] += p
            self.maps[sl] += m
            self.weight[sl] += 1.0
        else:
            centre = (probs.size - 1) / 2.0
            d = np.abs(np.arange(n_valid) - centre)
            better = d < self.dist[sl]
            idx = np.flatnonzero(better) + start
            self.probs[idx] = p[better]
            self.maps[idx] = m[better]
            self.weight[idx] = 1.0
            self.dist[idx] = d[better]

    def result(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        w = np.maximum(self.weight[:n_rows], 1e-12)
        assert self.maps is not None
        return (self.probs[:n_rows] / w).astype(np.float32), (self.maps[:n_rows] / w[:, None, None]).astype(np.float32)


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.inference_mode()
def predict_window(model: TA2Net, rgb: np.ndarray, motion: np.ndarray, inflection: np.ndarray):
    """Audible probability (T,) and map D (T, h, w) of one window of feature rows (numpy in, numpy out)."""
    cfg = model.cfg
    dev = _model_device(model)
    x, m, a = arrays_to_tensors(rgb, motion, inflection)
    x = x.unsqueeze(0).to(dev)
    m = m.unsqueeze(0).to(dev) if cfg.use_motion else None
    a = a.unsqueeze(0).to(dev) if cfg.use_inflection else None
    with torch.autocast(dev.type, dtype=torch.float16, enabled=dev.type == "cuda" and not cfg.bf16):
        out = model(x, m, a)
    probs = torch.softmax(out.logits.float(), dim=-1)[0, :, 1]
    return probs.cpu().numpy(), out.maps[0].float().cpu().numpy()


def _check_window(model: TA2Net, window: int | None, step: int | None, overlap_average: bool) -> tuple[int, int]:
    window = int(window or model.cfg.clip_len)
    if window < 1:
        raise ParameterError(f"window must be at least 1 frame, got {window}")
    if step is None:
        step = window // 2 if overlap_average else window
    step = int(step)
    if not 1 <= step <= window:
        raise ParameterError(f"step must be between 1 and the window ({window}) frames, got {step}")
    return window, max(1, step)


def predict_rows(
    model: TA2Net,
    rows: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]] | object,
    *,
    window: int | None = None,
    step: int | None = None,
    overlap_average: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row probabilities and maps from a :class:`~actiondubber.model.inputs.VideoFeatures` or from an
    iterator of ``(rgb, motion, inflection)`` rows (streamed: at most one window is held)."""
    window, step = _check_window(model, window, step, overlap_average)
    model.eval()
    acc = _Accumulator(overlap_average)

    def run(start: int, r: np.ndarray, m: np.ndarray, a: np.ndarray) -> None:
        r, m, a, n_valid = pad_rows(r, m, a, window)
        p, d = predict_window(model, r, m, a)
        acc.add(start, p, d, n_valid)
        if progress is not None:
            progress(1)

    if isinstance(rows, VideoFeatures):
        n = rows.n_rows
        for s in _window_starts(n, window, step):
            run(s, *rows.rows(s, s + window))
        return acc.result(n)
    buf: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    buf_start = next_start = 0
    n = 0
    for row in rows:  # type: ignore[union-attr]
        buf.append(row)
        n += 1
        while next_start + window <= n:
            part = buf[next_start - buf_start : next_start - buf_start + window]
            run(next_start, *(np.stack(x) for x in zip(*part, strict=True)))
            next_start += step
            drop = next_start - buf_start
            del buf[:drop]
            buf_start = next_start
    covered = next_start - step + window if next_start > 0 else 0
    while covered < n:
        part = buf[next_start - buf_start :]
        run(next_start, *(np.stack(x) for x in zip(*part, strict=True)))
        covered = next_start + window
        next_start += step
    return acc.result(n)


def predict_video(
    model: TA2Net,
    video: str | os.PathLike,
    *,
    window: int | None = None,
    step: int | None = None,
    overlap_average: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int], None] | None = None,
    info: VideoInfo | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Audible probability per frame ``(n,)`` and maps D ``(n, h, w)`` for every frame of *video*.

    *window* defaults to the model's ``clip_len``; *step* to the window (the
    paper), or half of it with *overlap_average*. Features use the model's
    ``feature_params`` (set by :func:`load_model`; else the defaults at
    ``cfg.size``), from *cache_dir* when given. Frames 0 and n-1 get 0.
    *progress* is called with 1 per window.
    """
    probs, maps, _ = _predict(model, video, window=window, step=step, overlap_average=overlap_average,
                              cache_dir=cache_dir, progress=progress)
    return probs, maps


def _predict(model, video, *, window, step, overlap_average, cache_dir, progress):
    fp = getattr(model, "feature_params", None) or FeatureParams(size=model.cfg.size)
    _check_window(model, window, step, overlap_average)
    if cache_dir is not None:
        feats = video_features(video, params=fp, cache_dir=cache_dir)
        info = feats.info
        probs_r, maps_r = predict_rows(model, feats, window=window, step=step, overlap_average=overlap_average,
                                       progress=progress)
    else:
        info = probe(video)
        if info.n_frames < MIN_FRAMES:
            raise InputError(f"{video}: video has {info.n_frames} frame(s); at least {MIN_FRAMES} are needed")
        times: list[float] = []
        rows = ((r, m, a) for _, r, m, a in iter_features(video, fp, times=times))
        probs_r, maps_r = predict_rows(model, rows, window=window, step=step, overlap_average=overlap_average,
                                       progress=progress)
        info = decoded_info(info, times, min_frames=MIN_FRAMES)
    n = info.n_frames
    probs = np.zeros(n, np.float32)
    h, w = maps_r.shape[1:] if maps_r.ndim == 3 else (1, 1)
    maps = np.zeros((n, h, w), np.float32)
    k = min(probs_r.size, max(0, n - 2))
    probs[1 : 1 + k] = probs_r[:k]
    maps[1 : 1 + k] = maps_r[:k]
    return probs, maps, info


# --------------------------------------------------------------------------- events


def map_peak(m: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """Location of the maximum of map *m* (h, w), refined by the 3x3 centroid, in *width* x *height* pixels."""
    h, w = m.shape
    iy, ix = np.unravel_index(int(np.argmax(m)), m.shape)
    y0, y1, x0, x1 = max(0, iy - 1), min(h, iy + 2), max(0, ix - 1), min(w, ix + 2)
    patch = m[y0:y1, x0:x1].astype(np.float64)
    patch = patch - patch.min()
    if patch.sum() > 0:
        yy, xx = np.mgrid[y0:y1, x0:x1]
        cy, cx = float((yy * patch).sum() / patch.sum()), float((xx * patch).sum() / patch.sum())
    else:
        cy, cx = float(iy), float(ix)
    return (cx + 0.5) * width / w - 0.5, (cy + 0.5) * height / h - 0.5


def events_from_probs(
    info: VideoInfo,
    probs: np.ndarray,
    maps: np.ndarray | None,
    *,
    sensitivity: float = DEFAULT_SENSITIVITY,
    min_gap: float = DEFAULT_MIN_GAP,
    threshold: float = DEFAULT_THRESHOLD,
    params: dict | None = None,
) -> Events:
    """Peaks of the probability curve as :class:`Events` (the training-free detector's picker and schema)."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ParameterError(f"sensitivity must be between 0 and 1, got {sensitivity}")
    if not 0.0 <= threshold <= 1.0:
        raise ParameterError(f"threshold must be between 0 and 1, got {threshold}")
    fps = info.frame_rate
    gap = max(3, math.ceil(min_gap * fps - 1e-9))
    peaks = pick_peaks(probs, delta=sensitivity_to_delta(sensitivity), min_gap=gap, window=PEAK_WINDOW,
                       floor=max(threshold, 1e-6))
    events = []
    for f in peaks:
        f = int(f)
        x = y = None
        if maps is not None and maps.shape[0] > f and maps[f].size:
            x, y = map_peak(maps[f], info.width, info.height)
        events.append(Event(frame=f, time=info.time_of(f), score=float(probs[f]), x=x, y=y))
    p = {"detector": "ta2net", "sensitivity": sensitivity, "min_gap": min_gap, "threshold": threshold}
    p.update(params or {})
    return Events(info, tuple(events), np.asarray(probs, np.float32), p)


def detect_with_model(
    video: str | os.PathLike,
    checkpoint: str | os.PathLike | LoadedModel,
    *,
    sensitivity: float = DEFAULT_SENSITIVITY,
    min_gap: float = DEFAULT_MIN_GAP,
    threshold: float | None = None,
    window: int | None = None,
    step: int | None = None,
    overlap_average: bool = False,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    progress: Callable[[int], None] | None = None,
    return_maps: bool = False,
) -> Events | tuple[Events, np.ndarray]:
    """Detect audible actions in *video* with a trained TA²Net (*checkpoint* path or :class:`LoadedModel`).

    *threshold* (lowest event probability) defaults to the one chosen on the
    validation videos during training, else :data:`DEFAULT_THRESHOLD`.
    Returns :class:`Events` (``params["detector"] == "ta2net"``), and the maps
    ``(n, h, w)`` too with *return_maps*.
    """
    lm = checkpoint if isinstance(checkpoint, LoadedModel) else load_checkpoint(checkpoint, device=device)
    if threshold is None:
        threshold = lm.threshold if lm.threshold is not None else DEFAULT_THRESHOLD
    probs, maps, info = _predict(lm.model, video, window=window, step=step, overlap_average=overlap_average,
                                 cache_dir=cache_dir, progress=progress)
    win, stp = _check_window(lm.model, window, step, overlap_average)
    extra = {
        "checkpoint": lm.path,
        "iteration": lm.iteration,
        "window": win,
        "step": stp,
        "overlap_average": bool(overlap_average),
        "features": asdict(lm.features),  # type: ignore[call-overload]
        "backbone": lm.cfg.backbone,
        "map_size": list(maps.shape[1:]),
    }
    ev = events_from_probs(info, probs, maps, sensitivity=sensitivity, min_gap=min_gap, threshold=threshold,
                           params=extra)
    return (ev, maps) if return_maps else ev
