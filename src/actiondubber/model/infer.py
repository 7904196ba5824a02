"""Run a trained TA²Net on a whole video: checkpoints, windowed prediction, events, heat-map video.

:func:`load_model` reads a checkpoint written by :mod:`actiondubber.train.loop`
(``best.pt`` / ``last.pt``) and refuses, with one clear message naming the
file, anything else: a damaged file, a plain ``state_dict``, another
program's checkpoint, or weights that do not fit the architecture the
checkpoint's config describes.

:func:`predict_video` follows the paper's inference: the video's feature rows
(frames 1 .. n-2, see :mod:`actiondubber.train.features`) are cut into
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
peak of the spatial map D, mapped to original-video pixels.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.errors import InputError
from actiondubber.model.config import LAYOUT_SETTINGS, TA2NetConfig
from actiondubber.model.ta2net import TA2Net
from actiondubber.types import Event, Events, VideoInfo

log = logging.getLogger(__name__)

#: The ``format`` entry of every checkpoint this package writes.
CHECKPOINT_FORMAT = "actiondubber.ta2net/1"
ARCH = "TA2Net"

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
    features: object  # actiondubber.train.features.FeatureParams
    path: str
    iteration: int = 0
    meta: dict | None = None
    threshold: float | None = None  # peak-picking threshold chosen on validation data at training time


# --------------------------------------------------------------------------- devices


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None) → the first GPU when there is one, else the CPU; otherwise ``torch.device(device)``."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but no CUDA GPU is available here")
    return dev


# --------------------------------------------------------------------------- checkpoints


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dictionary of *path* (tensors on the CPU); :class:`InputError` for anything unusable."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: checkpoint file not found")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: checkpoint file is empty (0 bytes)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, ImportError, IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        text = str(exc)
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if m:
            raise InputError(f"{p}: not an actiondubber TA2Net checkpoint (it holds {m.group(1)}, not only weights "
                             "and plain data; only checkpoints written by 'actiondubber train' are read)") from None
        why = "a truncated or damaged archive" if "zip archive" in text else "damaged, or not a PyTorch checkpoint"
        raise InputError(f"{p}: not a readable checkpoint ({why})") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise InputError(
            f"{p}: not an actiondubber TA2Net checkpoint (no 'format' entry; a bare state_dict or another "
            "program's checkpoint?)"
        )
    fmt = str(ckpt.get("format"))
    if fmt != CHECKPOINT_FORMAT:
        raise InputError(f"{p}: checkpoint format {fmt!r} is not supported (expected {CHECKPOINT_FORMAT!r})")
    if ckpt.get("arch") != ARCH:
        raise InputError(f"{p}: checkpoint holds a {ckpt.get('arch')!r} model, not {ARCH}")
    for key in ("config", "model"):
        if key not in ckpt:
            raise InputError(f"{p}: checkpoint has no {key!r} entry (damaged or written by another program)")
    return ckpt


#: Config settings that change speed only (same weights, same model): inference may override them.
SPEED_SETTINGS = (*LAYOUT_SETTINGS, "bf16")


def checkpoint_config(ckpt: dict, path: str | os.PathLike, speed: dict | None = None) -> TA2NetConfig:
    """The checkpoint's config, without ImageNet weights to fetch (the weights come from the checkpoint).

    *speed* overrides settings of :data:`SPEED_SETTINGS` (e.g. ``{"bf16": True}``); None values are ignored.
    """
    p = Path(path)
    if not isinstance(ckpt.get("config"), dict):
        raise InputError(f"{p}: checkpoint's config is not a mapping of settings")
    cfg_d = dict(ckpt["config"])
    cfg_d["pretrained"] = None  # never fetch ImageNet weights here
    for k, v in (speed or {}).items():
        if k not in SPEED_SETTINGS:
            raise ValueError(f"{k!r} is not a speed-only setting ({', '.join(SPEED_SETTINGS)})")
        if v is not None:
            cfg_d[k] = v
    return TA2NetConfig.from_dict(cfg_d, source=f"{p} (config)")


def load_weights(
    model: TA2Net, ckpt: dict, path: str | os.PathLike,
    *, fits: str = "the TA2Net architecture of the checkpoint's config (another architecture or version?)",
) -> None:
    """Load the checkpoint's weights into *model*; :class:`InputError` ("the weights do not fit *fits*")
    naming the keys that do not fit."""
    p = Path(path)
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise InputError(f"{p}: checkpoint's weights are not a state_dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(getattr(state[k], "shape", ())) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {few(unexpected)}")
        if wrong:
            parts.append(f"{len(wrong)} of another shape: {few(wrong)}")
        raise InputError(f"{p}: the weights do not fit {fits}: {'; '.join(parts)}")
    model.load_state_dict(state)


def build_from_checkpoint(
    ckpt: dict, path: str | os.PathLike, speed: dict | None = None
) -> tuple[TA2Net, TA2NetConfig]:
    """A :class:`TA2Net` with the checkpoint's config (*speed*: see :func:`checkpoint_config`) and weights;
    :class:`InputError` when they do not fit."""
    cfg = checkpoint_config(ckpt, path, speed)
    model = TA2Net(cfg)
    load_weights(model, ckpt, path)
    return model, cfg


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
    from actiondubber.train.features import FeatureParams

    ckpt = read_checkpoint(checkpoint)
    model, cfg = build_from_checkpoint(ckpt, checkpoint, {"bf16": bf16, "channels_last": channels_last})
    try:
        fp = FeatureParams.from_dict(ckpt.get("features") or {"size": cfg.size})
    except (InputError, TypeError) as exc:
        raise InputError(f"{checkpoint}: checkpoint's feature parameters are unusable ({exc})") from None
    model.to(resolve_device(device)).eval()
    if fuse and hasattr(model, "fuse_for_inference"):
        try:
            model.fuse_for_inference()
        except Exception as exc:  # noqa: BLE001 - an optimisation only: the unfused model is just as right
            log.debug("%s: BatchNorm folding skipped (%s)", checkpoint, exc)
    model.feature_params = fp  # type: ignore[attr-defined]
    inference = ckpt.get("inference") if isinstance(ckpt.get("inference"), dict) else {}
    th = inference.get("threshold")
    return LoadedModel(model, cfg, fp, str(checkpoint), int(ckpt.get("iteration", 0) or 0),
                       ckpt.get("meta") if isinstance(ckpt.get("meta"), dict) else None,
                       float(th) if isinstance(th, (int, float)) and 0.0 <= th <= 1.0 else None)


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
    from actiondubber.train.features import arrays_to_tensors

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
        raise InputError(f"window must be at least 1 frame, got {window}")
    if step is None:
        step = window // 2 if overlap_average else window
    step = int(step)
    if not 1 <= step <= window:
        raise InputError(f"step must be between 1 and the window ({window}) frames, got {step}")
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
    """Per-row probabilities and maps from a :class:`~actiondubber.train.features.VideoFeatures` or from an
    iterator of ``(rgb, motion, inflection)`` rows (streamed: at most one window is held)."""
    from actiondubber.train.features import VideoFeatures, pad_rows

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
    from actiondubber.train.features import MIN_FRAMES, FeatureParams, iter_features, video_features
    from actiondubber.video.reader import decoded_info, probe

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
        raise InputError(f"sensitivity must be between 0 and 1, got {sensitivity}")
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be between 0 and 1, got {threshold}")
    fps = info.fps if info.fps > 0 else 25.0
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


# --------------------------------------------------------------------------- heat-map video


def write_maps_video(
    video: str | os.PathLike,
    events: Events,
    maps: np.ndarray,
    out: str | os.PathLike,
    *,
    alpha: float = 0.55,
    max_short_side: int = 480,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write *out*: the video with the map D of every frame upsampled and laid over it as a heat map.

    Hot (red) regions are where the model sees the discriminative motion. A bar
    at the bottom shows the frame's audible probability; event frames get a
    ring at the event's location. Frames are scaled to at most *max_short_side*
    (keeps the file small); frame times are the source's.
    """
    import cv2

    from actiondubber.fileio import check_output_path
    from actiondubber.video.reader import analysis_size, iter_frames
    from actiondubber.video.writer import write_video

    out_p = check_output_path(out, inputs=[video])
    info = events.video
    w, h = analysis_size(info.width, info.height, max_short_side)
    probs = np.asarray(events.scores, np.float32)
    by_frame = {e.frame: e for e in events.events}
    sx, sy = w / max(info.width, 1), h / max(info.height, 1)

    def frames() -> Iterator[np.ndarray]:
        for fr in iter_frames(video, size=(w, h), pix_fmt="rgb24"):
            i = fr.index
            img = fr.image.astype(np.float32)
            if i < maps.shape[0]:
                m = cv2.resize(maps[i].astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
                m = np.clip(m, 0.0, 1.0)
                heat = cv2.applyColorMap((m * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1].astype(np.float32)
                a = (alpha * m)[..., None]
                img = img * (1 - a) + heat * a
            img = np.clip(img, 0, 255).astype(np.uint8)
            p = float(probs[i]) if i < probs.size else 0.0
            bar_h = max(4, h // 40)
            img[h - bar_h :, :] = (img[h - bar_h :, :] * 0.4).astype(np.uint8)
            img[h - bar_h :, : int(round(p * w))] = (255, 64, 64) if i in by_frame else (255, 255, 255)
            ev = by_frame.get(i)
            if ev is not None and ev.x is not None and ev.y is not None:
                c = (int(round((ev.x + 0.5) * sx - 0.5)), int(round((ev.y + 0.5) * sy - 0.5)))
                cv2.circle(img, c, max(6, min(w, h) // 12), (255, 255, 255), 2, cv2.LINE_AA)
            if progress is not None:
                progress(1)
            yield img

    times = list(info.timestamps) if info.timestamps else None
    return write_video(out_p, frames(), info.fps if info.fps > 0 else 25.0, times=times, inputs=[video])
