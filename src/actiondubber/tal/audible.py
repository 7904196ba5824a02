"""``detect --use-audio``: per-frame audible probability from the picture and the soundtrack.

The picture side is the localiser's kinematic features (:mod:`.features`; its deceleration column is
the training-free detector's curve), the sound side the log-mel features on the same frame grid.
:class:`AudibleNet` runs a small version of the localiser's backbone (3 pyramid levels), fuses the
soundtrack into every level with the same MRAV-FF block (:mod:`.fusion`; here the gate sees picture
and attended sound, ``gate_input="both"``, so it can tell when they disagree), sums the levels back
at frame resolution and predicts one logit per frame. Events are the peaks of the probability curve
(:func:`actiondubber.detection.peaks.pick_peaks`), as for every other detector.

Trained on synthetic clips only (:func:`train_audible`, ``benchmarks/make_av_weights.py``), whose
soundtracks are corrupted at random (:func:`actiondubber.tal.synthdata.corrupt_audio`: shifted,
noisy, music over them, off-screen impacts, another clip's sound, or none) while the labels stay the
visible collisions — so the gate learns when to trust the sound. A file without a soundtrack runs
with the audio switched off (gate 0: the model's picture-only path). The shipped default weights are
``actiondubber/tal/weights/audible_av.pt``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from actiondubber.audio.reader import NoAudioStreamError, read_audio_clip
from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.errors import InputError, ParameterError
from actiondubber.fileio import atomic_output
from actiondubber.tal.features import AUDIO_DIM, VISUAL_DIM, FeatureParams, audio_features_from_samples, visual_features
from actiondubber.tal.fpn import FPNBackbone, pad_length
from actiondubber.tal.fusion import FUSIONS, Fusion, FusionConfig
from actiondubber.tal.heads import SharedHead
from actiondubber.tal.synthdata import CONDITIONS, corrupt_audio
from actiondubber.torchutil import load_torch_file
from actiondubber.types import Event, Events, VideoInfo

log = logging.getLogger(__name__)

CKPT_FORMAT = "actiondubber.audible-av/1"
DEFAULT_WEIGHTS = Path(__file__).with_name("weights") / "audible_av.pt"


@dataclass(frozen=True)
class AudibleConfig:
    """Settings of the audio-visual per-frame model (stored in its checkpoints)."""

    visual_dim: int = VISUAL_DIM
    audio_dim: int = AUDIO_DIM
    width: int = 32
    heads: int = 2
    window: int = 9
    levels: int = 3
    stem: int = 1
    head_layers: int = 2
    fusion: str = "mravff"
    fusion_heads: int = 2
    fusion_window: int = 9
    gate_input: str = "both"
    sigma: float = 1.0
    threshold: float = 0.3
    min_gap_frames: int = 3

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ParameterError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")


class AudibleNet(nn.Module):
    """Backbone (few levels) → fusion at every level → levels summed at frame rate → one logit per frame."""

    def __init__(self, cfg: AudibleConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = FPNBackbone(cfg.visual_dim, cfg.width, cfg.heads, cfg.window, levels=cfg.levels,
                                    stem=cfg.stem, mlp_ratio=2, path_drop=0.0)
        self.fusion = Fusion(FusionConfig(cfg.fusion, cfg.audio_dim, cfg.fusion_heads, cfg.fusion_window,
                                          cfg.gate_input), cfg.width, cfg.levels)
        self.head = SharedHead(cfg.width, 1, cfg.head_layers, prior=0.05)

    def forward(self, visual: torch.Tensor, mask: torch.Tensor, audio: torch.Tensor | None = None,
                audio_on: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats, masks = self.backbone(visual, mask)
        feats, gates = self.fusion(feats, masks, audio, audio_on)
        t = visual.shape[1]
        x = feats[0]
        for lv in range(1, len(feats)):
            x = x + feats[lv].repeat_interleave(2**lv, dim=1)[:, :t]
        return self.head(x, mask)[..., 0], gates


def _batch(vis: Sequence[np.ndarray], aud: Sequence[np.ndarray | None], levels: int):
    t = pad_length(max(v.shape[0] for v in vis), levels)
    b = len(vis)
    V = np.zeros((b, t, vis[0].shape[1]), np.float32)
    A = np.zeros((b, t, AUDIO_DIM), np.float32)
    M = np.zeros((b, t), bool)
    on = np.zeros(b, np.float32)
    for i, (v, a) in enumerate(zip(vis, aud, strict=True)):
        V[i, : len(v)] = v
        M[i, : len(v)] = True
        if a is not None:
            A[i, : len(v)] = a[: len(v)]
            on[i] = 1
    return torch.from_numpy(V), torch.from_numpy(M), torch.from_numpy(A), torch.from_numpy(on)


@dataclass
class CachedClip:
    """A training clip: visual features, frame times, clean soundtrack (16 kHz, start), labelled frames."""

    vid: str
    visual: np.ndarray
    times: np.ndarray
    samples: np.ndarray | None
    sr: int
    start: float
    frames: tuple[int, ...]


def cache_clip(path: str | os.PathLike, frames: Sequence[int], params: FeatureParams | None = None) -> CachedClip:
    """Features and clean soundtrack of a labelled clip, for :func:`train_audible`."""
    params = params or FeatureParams()
    info, vis, _, _ = visual_features(path, params)
    try:
        a = read_audio_clip(path, sr=params.audio_sr)
        y, sr, st = a.samples, a.sr, a.start
    except NoAudioStreamError:
        y, sr, st = None, params.audio_sr, 0.0
    return CachedClip(Path(path).stem, vis, np.asarray(info.timestamps), y, sr, st, tuple(int(f) for f in frames))


def soft_targets(n: int, frames: Sequence[int], sigma: float) -> np.ndarray:
    """Per-frame targets: a Gaussian of width *sigma* frames around each labelled frame (max over labels)."""
    t = np.zeros(n, np.float32)
    idx = np.arange(n)
    for f in frames:
        t = np.maximum(t, np.exp(-0.5 * ((idx - f) / sigma) ** 2))
    return t


def conditioned_audio(c: CachedClip, cond: str, rng: np.random.Generator, other: CachedClip | None
                      ) -> np.ndarray | None:
    """Audio features of *c* under condition *cond* (``None`` = no soundtrack)."""
    if c.samples is None:
        return None
    y = corrupt_audio(c.samples, c.sr, cond, rng, other.samples if other is not None else None)
    if y is None:
        return None
    return audio_features_from_samples(y, c.sr, c.start, c.times)


def predict_probs(model: AudibleNet, visual: np.ndarray, audio: np.ndarray | None
                  ) -> tuple[np.ndarray, list[float]]:
    """Per-frame audible probability and mean gate per level (empty without audio or gate)."""
    model.eval()
    v, m, a, on = _batch([visual], [audio], model.cfg.levels)
    with torch.no_grad():
        logit, gates = model(v, m, a if audio is not None else None, on)
    n = visual.shape[0]
    gm = [float(g[0][: math.ceil(n / 2**lv)].mean()) for lv, g in enumerate(gates)] if audio is not None else []
    return torch.sigmoid(logit[0, :n]).numpy(), gm


def pick_events(probs: np.ndarray, threshold: float, min_gap: int = 3, sensitivity: float = 0.5) -> np.ndarray:
    """Frames of the peaks of a probability curve above *threshold* (lowered by a higher *sensitivity*)."""
    floor = threshold * (1.5 - sensitivity) if sensitivity != 0.5 else threshold
    return pick_peaks(probs, delta=sensitivity_to_delta(sensitivity) * 0.4, min_gap=min_gap, window=7, floor=floor)


def degrade_picture(vis: np.ndarray, frames: Sequence[int], rng: np.random.Generator, p_miss: float = 0.3,
                    n_false: tuple[int, int] = (1, 4)) -> np.ndarray:
    """Picture features made less reliable, as real footage is: some labelled frames get the row of a
    frame without an event (a missed small object), some frames without an event get a labelled
    frame's row (a flow glitch or a silent stop). The labels stay the same, so the sound is what tells."""
    out = vis.copy()
    n = len(vis)
    ev = [f for f in frames if 0 <= f < n]
    if not ev:
        return out
    quiet = np.setdiff1d(np.arange(n), np.concatenate([np.arange(f - 3, f + 4) for f in ev]))
    if quiet.size == 0:
        return out
    for f in ev:
        if rng.uniform() < p_miss:
            out[f - 1 if f > 0 else f: f + 2] = vis[int(rng.choice(quiet))]
    for _ in range(int(rng.integers(n_false[0], n_false[1] + 1))):
        out[int(rng.choice(quiet))] = vis[int(rng.choice(ev))]
    return out


def train_audible(clips: Sequence[CachedClip], cfg: AudibleConfig = AudibleConfig(), *, iters: int = 800,
                  batch: int = 8, lr: float = 2e-3, seed: int = 0, variants: int = 3, p_degrade: float = 0.5,
                  condition_probs: dict[str, float] | None = None,
                  progress: Callable[[int], None] | None = None) -> AudibleNet:
    """Train :class:`AudibleNet` on *clips*, each step showing each clip under a random soundtrack condition.

    The audio features of *variants* random draws of every condition are computed once per clip
    (the corruption and the log-mel cost more than a training step of this small model). With
    probability *p_degrade* a clip's picture features are degraded (:func:`degrade_picture`): the
    synthetic pictures are otherwise clean enough that the model would never need the sound.
    """
    probs = condition_probs or {"clean": 0.35, "shift": 0.12, "noise": 0.1, "music": 0.1, "offscreen": 0.12,
                                "swap": 0.11, "none": 0.1}
    conds = list(probs)
    p = np.asarray([probs[c] for c in conds], float)
    p /= p.sum()
    for c in conds:
        if c not in CONDITIONS:
            raise ParameterError(f"unknown condition {c!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bank: list[dict[str, list[np.ndarray | None]]] = []
    for i, c in enumerate(clips):
        d = {}
        for cond in conds:
            n_var = 1 if cond in ("clean", "none") else variants
            d[cond] = [conditioned_audio(c, cond, rng, clips[(i + 1 + int(rng.integers(max(1, len(clips) - 1))))
                                                         % len(clips)]) for _ in range(n_var)]
        bank.append(d)
    model = AudibleNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=iters, pct_start=0.1)
    targets = [soft_targets(len(c.times), c.frames, cfg.sigma) for c in clips]
    model.train()
    for _ in range(iters):
        idx = rng.choice(len(clips), size=min(batch, len(clips)), replace=False)
        vis, aud, tg = [], [], []
        for i in idx:
            cond = str(rng.choice(conds, p=p))
            opts = bank[i][cond]
            c = clips[i]
            vis.append(degrade_picture(c.visual, c.frames, rng) if rng.uniform() < p_degrade else c.visual)
            aud.append(opts[int(rng.integers(len(opts)))])
            tg.append(targets[i])
        v, m, a, on = _batch(vis, aud, cfg.levels)
        y = torch.zeros(m.shape)
        for b, t in enumerate(tg):
            y[b, : len(t)] = torch.from_numpy(t)
        logit, _ = model(v, m, a, on)
        w = (1.0 + 4.0 * y) * m
        loss = (nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none") * w).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if progress is not None:
            progress(1)
    model.eval()
    return model


def save_audible(path: str | os.PathLike, model: AudibleNet, *, feature_params: FeatureParams | None = None,
                 extra: dict | None = None) -> Path:
    """Write an audio-visual checkpoint (config, feature settings, weights in float32) atomically."""
    import json

    feature_params = feature_params or FeatureParams()
    ckpt = {"format": CKPT_FORMAT, "config": asdict(model.cfg), "feature_params": feature_params.to_dict(),
            "state_dict": {k: v.detach().float().clone() for k, v in model.state_dict().items()},
            "extra": json.loads(json.dumps(extra or {}, default=float))}  # plain types: loads with weights_only
    with atomic_output(path, suffix=".pt") as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


@dataclass
class LoadedAudible:
    """An audio-visual detector ready to run."""

    model: AudibleNet
    feature_params: FeatureParams
    path: str
    extra: dict

    @property
    def cfg(self) -> AudibleConfig:
        return self.model.cfg


def load_audible(path: str | os.PathLike | None = None) -> LoadedAudible:
    """Load an audio-visual checkpoint (default: the shipped weights); :class:`InputError` if unusable."""
    p = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not p.is_file():
        what = "shipped default weights" if path is None else "checkpoint"
        raise InputError(f"{p}: {what} not found")
    ckpt = load_torch_file(p, "checkpoint")  # its own one-line errors: empty, damaged, foreign objects
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise InputError(f"{p}: not an audio-visual detector checkpoint (format {CKPT_FORMAT!r} expected; "
                         "TA2Net checkpoints run with detect --model without --use-audio)")
    try:
        names = {f.name for f in dataclasses.fields(AudibleConfig)}
        cfg = AudibleConfig(**{k: v for k, v in ckpt["config"].items() if k in names})
        model = AudibleNet(cfg)
        model.load_state_dict(ckpt["state_dict"])
        fp = FeatureParams(**ckpt["feature_params"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{p}: checkpoint does not fit the audio-visual detector "
                         f"({str(exc).splitlines()[0][:160]})") from None
    model.eval()
    return LoadedAudible(model, fp, str(p), dict(ckpt.get("extra") or {}))


def events_from_av(info: VideoInfo, probs: np.ndarray, xy: np.ndarray, cfg: AudibleConfig, *, sensitivity: float,
                   params: dict) -> Events:
    """Package the peaks of *probs* as :class:`Events` (location from the strongest deceleration)."""
    peaks = pick_events(probs, cfg.threshold, cfg.min_gap_frames, sensitivity)
    evs = []
    for f in peaks:
        f = int(f)
        x, y = xy[f]
        evs.append(Event(f, info.time_of(f), float(probs[f]), None if np.isnan(x) else float(x),
                         None if np.isnan(y) else float(y)))
    return Events(info, tuple(evs), probs.astype(np.float32), params)


def _training_free(info: VideoInfo, raw: np.ndarray, xy: np.ndarray, lm: LoadedAudible, sensitivity: float
                   ) -> Events:
    """The training-free detector's events from the deceleration curve already computed (same flows)."""
    from actiondubber.detection.detector import DetectorParams, StrengthCurve, events_from_curve
    from actiondubber.video.reader import analysis_size

    fp = lm.feature_params
    p = DetectorParams(short_side=fp.short_side, backend=fp.backend, flow_preset=fp.flow_preset,
                       compensate=fp.compensate, gravity=fp.gravity, sensitivity=sensitivity)
    curve = StrengthCurve(info, raw.astype(np.float32), xy[:, 0].copy(), xy[:, 1].copy(),
                          analysis_size(info.width, info.height, fp.short_side))
    return events_from_curve(curve, p, extra={"audio_used": False, "mean_gate_per_level": [],
                                              "note": "no audio track: training-free picture-only detector"})


def detect_av(video: str | os.PathLike, lm: LoadedAudible | None = None, *, sensitivity: float = 0.5,
              audio: tuple[np.ndarray, int, float] | None = None, use_soundtrack: bool = True,
              no_audio: str = "training-free", progress: Callable[[int], None] | None = None) -> Events:
    """Detect audible actions in *video* from its picture and soundtrack.

    Parameters
    ----------
    video : path of the video.
    lm : a loaded checkpoint (default: the shipped weights).
    sensitivity : 0..1, higher finds more (and weaker) events.
    audio : ``(samples, sr, start)`` to use instead of the file's soundtrack (mono samples; *start* is
        sample 0's time on the video clock) — for experiments with corrupted sound.
    use_soundtrack : False runs the model's picture-only path (audio off, gate 0).
    no_audio : what a file without a soundtrack gets: ``"training-free"`` (default) the training-free
        detector on the same flows (on the real clips it is more accurate than the model's picture-only
        path, which has only seen synthetic footage), or ``"model"`` the model with the audio off.

    Returns
    -------
    Events whose ``scores`` are per-frame audible probabilities and whose ``params`` record the
    model, whether audio was used, and the mean gate per pyramid level (how much the sound was trusted).
    """
    if not 0.0 <= sensitivity <= 1.0:
        raise ParameterError(f"sensitivity must be between 0 and 1, got {sensitivity}")
    if no_audio not in ("training-free", "model"):
        raise ParameterError(f"no_audio must be 'training-free' or 'model', got {no_audio!r}")
    lm = lm or load_audible()
    t0 = time.time()
    info, vis, raw, xy = visual_features(video, lm.feature_params, progress=progress)
    times = np.asarray(info.timestamps)
    aud = None
    note = ""
    if use_soundtrack:
        if audio is not None:
            y, sr, st = audio
            aud = audio_features_from_samples(y, sr, st, times, lm.feature_params.n_mels)
        else:
            try:
                a = read_audio_clip(video, sr=lm.feature_params.audio_sr)
                aud = audio_features_from_samples(a.samples, a.sr, a.start, times, lm.feature_params.n_mels)
            except NoAudioStreamError:
                log.warning("%s: no audio track; detecting from the picture only", video)
                if no_audio == "training-free":
                    return _training_free(info, raw, xy, lm, sensitivity)
                note = "no audio track: picture only (gate 0)"
    probs, gates = predict_probs(lm.model, vis, aud)
    params = {"detector": "mravff-audio-visual", "model": lm.path, "fusion": lm.cfg.fusion,
              "gate_input": lm.cfg.gate_input, "audio_used": aud is not None,
              "mean_gate_per_level": [round(g, 4) for g in gates], "threshold": lm.cfg.threshold,
              "sensitivity": sensitivity, **{f"feature_{k}": v for k, v in lm.feature_params.to_dict().items()},
              "seconds": round(time.time() - t0, 3)}
    if note:
        params["note"] = note
    return events_from_av(info, probs, xy, lm.cfg, sensitivity=sensitivity, params=params)
