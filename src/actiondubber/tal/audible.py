"""``detect --use-audio``: audible moments from the picture, corrected by the soundtrack when it fits.

The model is a *residual on the training-free detector* (``AudibleConfig.residual``, the default):

* the training-free picture-only detector runs first (its deceleration curve is a column of the
  localiser's kinematic features, :mod:`.features`) and its events are the *candidates*; they become a
  fixed prior logit per frame, ``+prior_logit`` at a candidate, ``-prior_logit`` elsewhere;
* :class:`AudibleNet` runs a small version of the localiser's backbone (3 pyramid levels) over the
  candidate channel only (``picture_input="candidates"``; ``"features"`` adds the kinematic features,
  which let it learn a picture detector of its own that did not carry over from synthetic clips to
  real footage), fuses the soundtrack into every level with the same
  MRAV-FF block (:mod:`.fusion`) and adds ``head(fused) - head(picture only)`` to the prior. With the
  gate closed (or no soundtrack) the two heads agree exactly, so the events *are* the training-free
  detector's; the sound can only confirm, remove, move or add events through the gated path;
* the gate reads audio–picture *agreement* (``gate_input="agreement"``, :func:`agreement_features`):
  how well the soundtrack's onsets line up with the candidates and the deceleration curve at lag 0
  compared with other lags (±``agree_lags`` frames), over the clip and in a local window. Shifted or
  foreign sound peaks at another lag or nowhere, noise and music flatten the match: the gate closes;
* when the clip's mean gate is under ``gate_floor`` the sound is refused for the whole clip.

Training (:func:`train_audible`, ``benchmarks/make_av_weights.py``) shows every clip under a random
soundtrack condition (:func:`actiondubber.tal.synthdata.corrupt_audio`: shifted ±100–300 ms, noise,
music, off-screen impacts, another clip's sound, none) with the labels unchanged, degrades the
candidates (missed, jittered and spurious events) so that the sound has something to correct, and
adds a loss that asks the gate to be open for the clip's own clean, aligned sound and shut for
shifted, foreign, noisy or music-laden sound (``gate_weight``, :data:`GATE_TARGETS`) so that it is
the gate — not the attention — that closes. Training clips: synthetic ones (:func:`synthetic_clips`)
and footage labelled from its own soundtrack (:func:`footage_clip`). A file
without a soundtrack gets the training-free detector's events (identical). The shipped default
weights are ``actiondubber/tal/weights/audible_av.pt``. ``residual=False`` (older checkpoints) is the
first design: the model's own per-frame probability, peaks picked on it.
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
from actiondubber.detection.detector import DetectorParams
from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.errors import InputError, ParameterError
from actiondubber.fileio import atomic_output
from actiondubber.peaks import keep_apart
from actiondubber.tal.features import (
    AUDIO_DIM,
    DECEL_COLUMN,
    VISUAL_DIM,
    FeatureParams,
    audio_features_from_samples,
    visual_features,
)
from actiondubber.tal.fpn import FPNBackbone, pad_length
from actiondubber.tal.fusion import AGREEMENT, FUSIONS, Fusion, FusionConfig
from actiondubber.tal.heads import SharedHead
from actiondubber.tal.soundcheck import SOUND_CHECKS, check_soundtrack
from actiondubber.tal.synthdata import CONDITIONS, corrupt_audio
from actiondubber.torchutil import load_torch_file
from actiondubber.types import Event, Events, VideoInfo

log = logging.getLogger(__name__)

CKPT_FORMAT = "actiondubber.audible-av/1"
DEFAULT_WEIGHTS = Path(__file__).with_name("weights") / "audible_av.pt"


#: Agreement features per step (see :func:`agreement_features`).
AGREE_DIM = 14
#: What the backbone of a residual model reads: only the candidate channel (default; it then cannot
#: learn a picture detector of its own, which on synthetic clips would not carry over to real footage)
#: or all kinematic features plus the candidate channel.
PICTURE_INPUTS = ("candidates", "features")


@dataclass(frozen=True)
class AudibleConfig:
    """Settings of the audio-visual per-frame model (stored in its checkpoints).

    ``residual``: the output is the training-free detector's candidates (prior logit ``±prior_logit``)
    plus ``head(fused) - head(picture only)``; ``threshold`` is then the probability an event needs
    (it must lie strictly between ``sigmoid(-prior_logit)`` and ``sigmoid(prior_logit)`` so that a
    closed gate gives exactly the candidates). ``gate_input="agreement"``: the MRAV-FF gate reads
    :func:`agreement_features` (lags ±``agree_lags`` frames, local window ±``agree_window``).
    ``picture_input``: what the backbone reads (:data:`PICTURE_INPUTS`); the gate's agreement
    features always use the deceleration curve too. ``gate_floor``: when the clip's mean gate (over
    steps and levels) is below it, the sound is refused altogether and the result is the picture-only
    one — the learned gate read as a decision for the whole clip, since a wrong offset or a foreign
    soundtrack concerns the whole clip (0 disables it).
    """

    visual_dim: int = VISUAL_DIM + 1
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
    gate_input: str = AGREEMENT
    sigma: float = 1.0
    threshold: float = 0.5
    min_gap_frames: int = 3
    residual: bool = True
    prior_logit: float = 3.0
    agree_lags: int = 12
    agree_window: int = 16
    picture_input: str = "candidates"
    gate_floor: float = 0.5

    def __post_init__(self) -> None:
        if self.picture_input not in PICTURE_INPUTS:
            raise ParameterError(f"picture_input must be one of {', '.join(PICTURE_INPUTS)}, "
                                 f"got {self.picture_input!r}")
        if self.fusion not in FUSIONS:
            raise ParameterError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.residual and not 1 / (1 + math.exp(self.prior_logit)) < self.threshold < 1 / (
                1 + math.exp(-self.prior_logit)):
            raise ParameterError("threshold must lie strictly between sigmoid(-prior_logit) and sigmoid(prior_logit)")


def _standardise(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    n = m.sum(1, keepdim=True).clamp(min=1.0)
    xc = (x - (x * m).sum(1, keepdim=True) / n) * m
    return xc / torch.sqrt((xc**2).sum(1, keepdim=True) / n + 1e-4)


def agreement_features(signals: Sequence[torch.Tensor], flux: torch.Tensor, mask: torch.Tensor, lags: int,
                       window: int) -> torch.Tensor:
    """``(B, T, AGREE_DIM)`` statistics of how well the sound's onset strength *flux* fits picture *signals*.

    For each picture signal (here: the candidate channel and the deceleration curve, each ``(B, T)``)
    both curves are standardised over the clip and their product is taken at every lag in
    ``±lags`` frames (sound later = positive lag). Per lag the mean product over the clip (a
    correlation) and over a local window of ``±window`` frames; from each the value at lag 0, the
    best value over all lags and lag 0's margin over the best lag at least 3 frames away. Aligned
    sound peaks at lag 0; shifted sound at its shift; another clip's sound, noise or music nowhere.
    Plus the sound's own onset activity (local mean flux, clip mean flux). Everything 0 in padding.
    """
    m = mask.to(flux.dtype)
    b, t = flux.shape
    a = _standardise(flux, m)
    far = torch.tensor([abs(k) >= 3 for k in range(-lags, lags + 1)], device=flux.device)
    a_pad = torch.nn.functional.pad(a, (lags, lags))
    shifted = torch.stack([a_pad[:, lags + k: lags + k + t] for k in range(-lags, lags + 1)], -1)  # a[t + k]
    n = m.sum(1).clamp(min=1.0)
    feats = []
    for sig in signals:
        v = _standardise(sig.to(flux.dtype), m)
        prods = v[..., None] * shifted  # (B, T, 2L+1)
        glob = (prods.sum(1) / n[:, None])[:, None, :].expand(-1, t, -1)
        loc = torch.nn.functional.avg_pool1d(prods.transpose(1, 2), 2 * window + 1, 1, window,
                                             count_include_pad=False).transpose(1, 2)
        for c in (glob, loc):
            c0 = c[..., lags]
            feats += [c0, c.max(-1).values, c0 - c[..., far].max(-1).values]
    fl = flux * m
    loc_act = torch.nn.functional.avg_pool1d(fl[:, None], 2 * window + 1, 1, window, count_include_pad=False)[:, 0]
    feats += [loc_act, (fl.sum(1) / n)[:, None].expand(-1, t)]
    return torch.stack(feats, -1) * m[..., None]


def _level_sum(feats: list[torch.Tensor], t: int) -> torch.Tensor:
    x = feats[0]
    for lv in range(1, len(feats)):
        x = x + feats[lv].repeat_interleave(2**lv, dim=1)[:, :t]
    return x


class AudibleNet(nn.Module):
    """Backbone (few levels) → fusion at every level → levels summed at frame rate → one logit per frame.

    With ``cfg.residual`` the logit is ``prior_logit · (2 · prior − 1) + head(fused) − head(picture)``,
    *prior* being 1 at the training-free detector's events (the last visual column is their smoothed
    channel); a closed gate or ``audio_on = 0`` gives exactly the prior.
    """

    def __init__(self, cfg: AudibleConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.only_candidates = cfg.residual and cfg.picture_input == "candidates"
        self.backbone = FPNBackbone(1 if self.only_candidates else cfg.visual_dim, cfg.width, cfg.heads, cfg.window,
                                    levels=cfg.levels, stem=cfg.stem, mlp_ratio=2, path_drop=0.0)
        agree_dim = AGREE_DIM if cfg.gate_input == AGREEMENT else 0
        self.fusion = Fusion(FusionConfig(cfg.fusion, cfg.audio_dim, cfg.fusion_heads, cfg.fusion_window,
                                          cfg.gate_input, agree_dim=agree_dim), cfg.width, cfg.levels)
        self.head = SharedHead(cfg.width, 1, cfg.head_layers, prior=0.05)

    def agreement(self, visual: torch.Tensor, mask: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """:func:`agreement_features` of a batch: candidate channel and deceleration against the sound's flux."""
        n_mels = (self.cfg.audio_dim - 3) // 2
        return agreement_features([visual[..., -1], visual[..., DECEL_COLUMN]], audio[..., 2 * n_mels], mask,
                                  self.cfg.agree_lags, self.cfg.agree_window)

    def forward(self, visual: torch.Tensor, mask: torch.Tensor, audio: torch.Tensor | None = None,
                audio_on: torch.Tensor | None = None, prior: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats, masks = self.backbone(visual[..., -1:] if self.only_candidates else visual, mask)
        agree = None
        if audio is not None and self.cfg.gate_input == AGREEMENT and self.cfg.fusion == "mravff":
            agree = self.agreement(visual, mask, audio)
        fused, gates = self.fusion(feats, masks, audio, audio_on, agree)
        t = visual.shape[1]
        out = self.head(_level_sum(fused, t), mask)[..., 0]
        if not self.cfg.residual:
            return out, gates
        if prior is None:
            raise ValueError("a residual model needs the prior (training-free events) per frame")
        base = self.head(_level_sum(feats, t), mask)[..., 0] if gates else out
        return self.cfg.prior_logit * (2.0 * prior.to(out.dtype) - 1.0) + (out - base), gates


def vision_frames(raw: np.ndarray, fps: float, fp: FeatureParams, sensitivity: float = 0.5) -> np.ndarray:
    """The training-free detector's event frames from its raw deceleration curve *raw*.

    The same peak picking as :func:`actiondubber.detection.detector.events_from_curve` with the
    detector's defaults (a test checks they agree); used for training clips, whose curve is cached
    without a :class:`~actiondubber.types.VideoInfo`.
    """
    p = DetectorParams(short_side=fp.short_side, sensitivity=sensitivity)
    gap = max(3, math.ceil(p.min_gap * fps - 1e-9))
    floor = p.floor * fp.short_side / 128.0
    return pick_peaks(np.asarray(raw, np.float64), delta=sensitivity_to_delta(sensitivity), min_gap=gap,
                      window=p.window, floor=floor)


def event_gap(fps: float) -> int:
    """The training-free detector's minimum spacing of events in frames (its ``min_gap`` of 0.1 s, at least 3)."""
    return max(3, math.ceil(DetectorParams().min_gap * fps - 1e-9))


def candidate_channel(frames: Sequence[int], n: int, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(prior, channel)``: 1 at the candidate *frames* (else 0), and a Gaussian bump of width *sigma*
    around each (max over candidates), the extra visual input column of a residual model."""
    prior = np.zeros(n, np.float32)
    f = np.asarray([int(x) for x in frames if 0 <= int(x) < n], np.int64)
    prior[f] = 1.0
    return prior, soft_targets(n, f, sigma)


def _batch(vis: Sequence[np.ndarray], aud: Sequence[np.ndarray | None], levels: int,
           priors: Sequence[np.ndarray] | None = None):
    t = pad_length(max(v.shape[0] for v in vis), levels)
    b = len(vis)
    V = np.zeros((b, t, vis[0].shape[1]), np.float32)
    A = np.zeros((b, t, AUDIO_DIM), np.float32)
    M = np.zeros((b, t), bool)
    P = np.zeros((b, t), np.float32)
    on = np.zeros(b, np.float32)
    for i, (v, a) in enumerate(zip(vis, aud, strict=True)):
        V[i, : len(v)] = v
        M[i, : len(v)] = True
        if priors is not None:
            P[i, : len(v)] = priors[i]
        if a is not None:
            A[i, : len(v)] = a[: len(v)]
            on[i] = 1
    return torch.from_numpy(V), torch.from_numpy(M), torch.from_numpy(A), torch.from_numpy(on), torch.from_numpy(P)


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
    candidate_frames: tuple[int, ...] | None = None

    @property
    def fps(self) -> float:
        t = np.asarray(self.times, np.float64)
        return float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 and t[-1] > t[0] else 30.0

    def candidates(self, fp: FeatureParams | None = None, sensitivity: float = 0.5) -> np.ndarray:
        """The training-free detector's events (given, or from the cached ``log1p`` deceleration column)."""
        if self.candidate_frames is not None:
            return np.asarray(self.candidate_frames, np.int64)
        return vision_frames(np.expm1(self.visual[:, 0].astype(np.float64)), self.fps, fp or FeatureParams(),
                             sensitivity)


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


#: Scenes of the synthetic training clips (``bounce`` twice: it is the commonest kind of footage).
SYNTH_SCENES = ("bounce", "mixed", "walls", "juggle", "pendulum", "wheel", "pan", "bounce")


def synthetic_clips(work: str | os.PathLike, n: int, seed: int, prefix: str,
                    params: FeatureParams | None = None) -> list[CachedClip]:
    """*n* synthetic clips (all scenes, 30 and 15 fps) with their features, rendered into ``work/prefix``
    (or reused from there: features are cached as ``.npz`` beside the clips); labels = the collision frames."""
    from actiondubber.tal.synthdata import default_specs, render_set

    specs = default_specs(n, seed=seed, scenes=SYNTH_SCENES, fps=(30.0, 30.0, 15.0))
    out = []
    for c in render_set(Path(work) / prefix, specs, prefix=prefix):
        z = Path(c.path).with_suffix(".npz")
        if z.is_file():
            d = np.load(z)
            out.append(CachedClip(Path(c.path).stem, d["visual"], d["times"], d["samples"], int(d["sr"]),
                                  float(d["start"]), tuple(c.labelled_frames)))
            continue
        cc = cache_clip(c.path, c.labelled_frames, params)
        np.savez(z, visual=cc.visual, times=cc.times, samples=cc.samples, sr=cc.sr, start=cc.start)
        out.append(cc)
    return out


def footage_clip(path: str | os.PathLike, params: FeatureParams | None = None, *, rel_threshold: float = 0.25,
                 features: tuple[VideoInfo, np.ndarray, np.ndarray, np.ndarray] | None = None) -> CachedClip:
    """A training clip from footage with sound, labelled from its own soundtrack.

    Labels: the strong onsets of the clean soundtrack (:func:`actiondubber.audio.labels.audio_event_frames`,
    how ``labels_audio_onsets.csv`` of the real clips was made); candidates: the training-free
    detector's events. *features*: ``visual_features(path, params)`` when already computed.
    """
    from actiondubber.audio.labels import audio_event_frames

    params = params or FeatureParams()
    info, vis, raw, xy = features if features is not None else visual_features(path, params)
    a = read_audio_clip(path, sr=params.audio_sr)
    frames = audio_event_frames(path, rel_threshold=rel_threshold, info=info)
    cands = picture_only_events(info, raw, xy, params).frames
    return CachedClip(Path(path).stem, vis, np.asarray(info.timestamps), a.samples, a.sr, a.start,
                      tuple(int(f) for f in frames), tuple(int(f) for f in cands))


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


def model_inputs(visual: np.ndarray, candidates: Sequence[int], cfg: AudibleConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(visual input, prior)`` of a clip for *cfg*: the candidate channel appended for a residual model."""
    n = visual.shape[0]
    if not cfg.residual:
        return visual, np.zeros(n, np.float32)
    prior, chan = candidate_channel(candidates, n)
    return np.concatenate([visual, chan[:, None]], 1).astype(np.float32), prior


def predict_logits(model: AudibleNet, visual: np.ndarray, audio: np.ndarray | None,
                   candidates: Sequence[int] = ()) -> tuple[np.ndarray, list[float], list[np.ndarray]]:
    """Per-frame logit, mean gate per level (empty without audio or gate) and the gate per step and level.

    A residual model whose clip-mean gate is under ``cfg.gate_floor`` returns the candidates' logits
    (the sound refused); the gates returned are still the learned ones.
    """
    model.eval()
    vin, prior = model_inputs(visual, candidates, model.cfg)
    v, m, a, on, p = _batch([vin], [audio], model.cfg.levels, [prior])
    with torch.no_grad():
        logit, gates = model(v, m, a if audio is not None else None, on, p)
        n = visual.shape[0]
        per = [g[0][: math.ceil(n / 2**lv)].numpy() for lv, g in enumerate(gates)] if audio is not None else []
        if per and model.cfg.residual and float(np.mean([g.mean() for g in per])) < model.cfg.gate_floor:
            logit, _ = model(v, m, None, on, p)  # the sound refused: exactly the candidates
    return logit[0, :n].numpy(), [float(g.mean()) for g in per], per


def sound_span(samples: np.ndarray, sr: int, start: float) -> tuple[float, float]:
    """The stretch of the video clock a soundtrack covers: ``(start, start + duration)`` seconds."""
    return float(start), float(start) + np.asarray(samples).shape[-1] / float(sr)


def picture_outside_span(model: AudibleNet, visual: np.ndarray, logit: np.ndarray, candidates: Sequence[int],
                         times: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """*logit* with the picture-only logits at the frames the soundtrack does not cover.

    A soundtrack that starts late or ends early (or one moved by the sound check) leaves frames with
    no sound at all; the model would read that as silence and could drop a candidate there, where
    the sound in fact says nothing. Frames whose time lies outside *span* get the logits of the
    model with the sound off (a residual model: exactly the candidates).
    """
    t = np.asarray(times, np.float64)[: logit.size]
    out = (t < span[0] - 1e-6) | (t >= span[1] - 1e-6)
    if not out.any():
        return logit
    picture, _, _ = predict_logits(model, visual, None, candidates)
    return np.where(out, picture, logit)


def predict_probs(model: AudibleNet, visual: np.ndarray, audio: np.ndarray | None, candidates: Sequence[int] = ()
                  ) -> tuple[np.ndarray, list[float]]:
    """Per-frame audible probability and mean gate per level (empty without audio or gate)."""
    logit, gm, _ = predict_logits(model, visual, audio, candidates)
    return 1.0 / (1.0 + np.exp(-logit)), gm


def pick_events(probs: np.ndarray, threshold: float, min_gap: int = 3, sensitivity: float = 0.5) -> np.ndarray:
    """Frames of the peaks of a probability curve above *threshold* (lowered by a higher *sensitivity*)."""
    floor = threshold * (1.5 - sensitivity) if sensitivity != 0.5 else threshold
    return pick_peaks(probs, delta=sensitivity_to_delta(sensitivity) * 0.4, min_gap=min_gap, window=7, floor=floor)


def residual_events(probs: np.ndarray, threshold: float, gap: int) -> np.ndarray:
    """Events of a residual model: frames above *threshold*, the most probable kept first, *gap* apart.

    With the audio shut out every candidate has the same probability ``sigmoid(prior_logit)`` and
    every other frame ``sigmoid(-prior_logit)``; the candidates are already *gap* apart (the
    training-free picker keeps them so), so all and only they come back.
    """
    p = np.asarray(probs, np.float64)
    return keep_apart(np.flatnonzero(p > threshold), gap, strength=p)


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


def degrade_candidates(cands: np.ndarray, n: int, gap: int, rng: np.random.Generator, *, p_miss: float = 0.25,
                       p_jitter: float = 0.15, n_false: tuple[int, int] = (0, 3)) -> np.ndarray:
    """Candidate events made as unreliable as on real footage: some missed, some moved by 2–4 frames,
    a few spurious ones added (then kept *gap* apart, as the picker would)."""
    out = []
    for f in np.asarray(cands, np.int64):
        if rng.uniform() < p_miss:
            continue
        if rng.uniform() < p_jitter:
            f = f + int(rng.choice([-1, 1]) * rng.integers(2, 5))
        out.append(int(np.clip(f, 0, n - 1)))
    out += [int(x) for x in rng.integers(0, n, int(rng.integers(n_false[0], n_false[1] + 1)))]
    return keep_apart(np.unique(np.asarray(out, np.int64)), gap)


#: Gate targets of the auxiliary gate loss: open (1) for the clip's own clean, aligned sound, shut (0) for
#: shifted or foreign sound and for sound under noise or music (on real footage these cost more than they
#: gave in the benchmark's first runs, so the gate is taught to treat them as untrusted). Under
#: ``offscreen`` (extra impacts) the target is whether the sound would help: 1 when the model with its
#: gate forced open scores a lower loss on that clip than the picture-only candidates (no gradient).
GATE_TARGETS = {"clean": 1.0, "shift": 0.0, "swap": 0.0, "noise": 0.0, "music": 0.0}


def train_audible(clips: Sequence[CachedClip], cfg: AudibleConfig = AudibleConfig(), *, iters: int = 800,
                  batch: int = 8, lr: float = 2e-3, seed: int = 0, variants: int = 3, p_degrade: float = 0.5,
                  condition_probs: dict[str, float] | None = None, gate_weight: float = 1.0,
                  progress: Callable[[int], None] | None = None) -> AudibleNet:
    """Train :class:`AudibleNet` on *clips*, each step showing each clip under a random soundtrack condition.

    The audio features of *variants* random draws of every condition are computed once per clip
    (the corruption and the log-mel cost more than a training step of this small model). With
    probability *p_degrade* a clip's picture is degraded: for a residual model its candidate events
    (:func:`degrade_candidates`), otherwise its features (:func:`degrade_picture`) — the synthetic
    pictures are otherwise clean enough that the model would never need the sound. *gate_weight*
    scales the auxiliary loss that pulls the clip-mean gate of every level towards :data:`GATE_TARGETS`
    (MRAV-FF only).
    """
    probs = condition_probs or {"clean": 0.35, "shift": 0.15, "noise": 0.1, "music": 0.1, "offscreen": 0.1,
                                "swap": 0.1, "none": 0.1}
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
    cands = [c.candidates() for c in clips]
    gaps = [event_gap(c.fps) for c in clips]
    model = AudibleNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=iters, pct_start=0.1)
    if cfg.residual:  # 1 at a labelled frame, 0 elsewhere, not scored ±1 frame around it (within tolerance)
        targets = [candidate_channel(c.frames, len(c.times))[0] for c in clips]
        weights = [np.where((soft_targets(len(c.times), c.frames, 1.0) > 0.1) & (t < 1), 0.0, 1.0 + 4.0 * t)
                   for c, t in zip(clips, targets, strict=True)]
    else:
        targets = [soft_targets(len(c.times), c.frames, cfg.sigma) for c in clips]
        weights = [1.0 + 4.0 * t for t in targets]
    model.train()
    for _ in range(iters):
        idx = rng.choice(len(clips), size=min(batch, len(clips)), replace=False)
        vis, aud, tg, wt, pri, gt = [], [], [], [], [], []
        for i in idx:
            cond = str(rng.choice(conds, p=p))
            opts = bank[i][cond]
            c = clips[i]
            degrade = rng.uniform() < p_degrade
            if cfg.residual:
                cd = degrade_candidates(cands[i], len(c.times), gaps[i], rng) if degrade else cands[i]
                vin, pr = model_inputs(c.visual, cd, cfg)
            else:
                vin = degrade_picture(c.visual, c.frames, rng) if degrade else c.visual
                pr = np.zeros(len(c.times), np.float32)
            vis.append(vin)
            pri.append(pr)
            aud.append(opts[int(rng.integers(len(opts)))])
            tg.append(targets[i])
            wt.append(weights[i])
            gt.append(-1.0 if aud[-1] is None else GATE_TARGETS.get(cond, -2.0))  # -2: would the sound help?
        v, m, a, on, pp = _batch(vis, aud, cfg.levels, pri)
        y = torch.zeros(m.shape)
        w = torch.zeros(m.shape)
        for b, (t, ww) in enumerate(zip(tg, wt, strict=True)):
            y[b, : len(t)] = torch.from_numpy(t)
            w[b, : len(t)] = torch.from_numpy(np.asarray(ww, np.float32))
        logit, gates = model(v, m, a, on, pp)
        w = w * m
        loss = (nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none") * w).sum() / w.sum()
        g_t = torch.tensor(gt)
        ask = g_t == -2.0
        if cfg.residual and cfg.fusion == "mravff" and bool(ask.any()):
            with torch.no_grad():
                model.fusion.gate_override = 1.0
                try:
                    open_logit, _ = model(v, m, a, on, pp)
                finally:
                    model.fusion.gate_override = None
                bce = nn.functional.binary_cross_entropy_with_logits
                l_open = (bce(open_logit, y, reduction="none") * w).sum(1)
                l_prior = (bce(cfg.prior_logit * (2 * pp - 1), y, reduction="none") * w).sum(1)
            g_t = torch.where(ask, (l_open < l_prior).float(), g_t)
        if gate_weight > 0 and cfg.fusion == "mravff" and gates and bool((g_t >= 0).any()):  # -1: no audio
            sel = g_t >= 0
            gl = 0.0
            for lv, g in enumerate(gates):
                mm = m[:, :: 2**lv][:, : g.shape[1]].float()
                gmean = (g * mm).sum(1) / mm.sum(1).clamp(min=1.0)
                gl = gl + nn.functional.binary_cross_entropy(gmean[sel].clamp(1e-5, 1 - 1e-5), g_t[sel])
            loss = loss + gate_weight * gl / len(gates)
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
        conf = {"residual": False, **ckpt["config"]}  # checkpoints from before the residual design
        cfg = AudibleConfig(**{k: v for k, v in conf.items() if k in names})
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
    """Package the events of *probs* as :class:`Events` (location from the strongest deceleration).

    A residual model's events are :func:`residual_events` (the candidates' sensitivity is already in
    them), an older model's the peaks of its curve (:func:`pick_events`).
    """
    if cfg.residual:
        peaks = residual_events(probs, cfg.threshold, event_gap(info.frame_rate))
    else:
        peaks = pick_events(probs, cfg.threshold, cfg.min_gap_frames, sensitivity)
    evs = []
    for f in peaks:
        f = int(f)
        x, y = xy[f]
        evs.append(Event(f, info.time_of(f), float(probs[f]), None if np.isnan(x) else float(x),
                         None if np.isnan(y) else float(y)))
    return Events(info, tuple(evs), probs.astype(np.float32), params)


def picture_only_events(info: VideoInfo, raw: np.ndarray, xy: np.ndarray, fp: FeatureParams,
                        sensitivity: float = 0.5, extra: dict | None = None) -> Events:
    """The training-free detector's events from its deceleration curve *raw* already computed (same flows)."""
    from actiondubber.detection.detector import StrengthCurve, events_from_curve
    from actiondubber.video.reader import analysis_size

    p = DetectorParams(short_side=fp.short_side, backend=fp.backend, flow_preset=fp.flow_preset,
                       compensate=fp.compensate, gravity=fp.gravity, sensitivity=sensitivity)
    curve = StrengthCurve(info, raw.astype(np.float32), xy[:, 0].copy(), xy[:, 1].copy(),
                          analysis_size(info.width, info.height, fp.short_side))
    return events_from_curve(curve, p, extra=extra)


def _changes(cands: Sequence[int], frames: Sequence[int], tol: int = 2) -> dict:
    """How the sound changed the candidates: kept (an event within *tol* frames), removed, added."""
    c, f = np.asarray(cands, np.int64), np.asarray(frames, np.int64)
    kept = sum(1 for x in c if f.size and np.abs(f - x).min() <= tol)
    added = sum(1 for x in f if not (c.size and np.abs(c - x).min() <= tol))
    return {"candidates": int(c.size), "kept": int(kept), "removed": int(c.size - kept), "added": int(added),
            "identical_to_picture_only": bool(c.size == f.size and np.array_equal(c, f))}


NO_AUDIO_NOTE = "no audio track: the training-free picture-only detector"


def detect_av(video: str | os.PathLike, lm: LoadedAudible | None = None, *, sensitivity: float = 0.5,
              audio: tuple[np.ndarray, int, float] | None = None, use_soundtrack: bool = True,
              no_audio: str = "training-free", sound_check: str = "align",
              fallback: DetectorParams | None = None, progress: Callable[[int], None] | None = None) -> Events:
    """Detect audible actions in *video* from its picture and soundtrack.

    Parameters
    ----------
    video : path of the video.
    lm : a loaded checkpoint (default: the shipped weights).
    sensitivity : 0..1, higher finds more (and weaker) events (passed to the training-free candidates).
    audio : ``(samples, sr, start)`` to use instead of the file's soundtrack (mono samples; *start* is
        sample 0's time on the video clock) — for experiments with corrupted sound.
    use_soundtrack : False runs the model with the audio off (gate 0).
    no_audio : what a file without a soundtrack gets: ``"training-free"`` (default) the training-free
        detector with *fallback* settings (default
        :data:`~actiondubber.detection.detector.DEFAULT_DETECTOR`: the same events as ``detect``), or
        ``"model"`` the model with the audio off (its single-scale candidates).
    fallback : the training-free detector's settings for a file without a soundtrack.
    sound_check : what the whole-clip offset check does before the model hears the sound (one of
        :data:`~actiondubber.tal.soundcheck.SOUND_CHECKS`; see :mod:`actiondubber.tal.soundcheck`):
        ``align`` (default) realigns a confidently measured offset and refuses music, speech and
        sound that matches the picture at no lag; ``realign`` only realigns; ``off`` leaves it all to
        the learned gate.

    Returns
    -------
    Events whose ``scores`` are per-frame audible probabilities and whose ``params`` record the
    model, whether audio was used, the mean gate per pyramid level (how much the sound was trusted)
    and, for a residual model, how the sound changed the picture-only candidates (``audio_changes``).
    """
    if not 0.0 <= sensitivity <= 1.0:
        raise ParameterError(f"sensitivity must be between 0 and 1, got {sensitivity}")
    if no_audio not in ("training-free", "model"):
        raise ParameterError(f"no_audio must be 'training-free' or 'model', got {no_audio!r}")
    if sound_check not in SOUND_CHECKS:
        raise ParameterError(f"sound check must be one of {', '.join(SOUND_CHECKS)}, got {sound_check!r}")
    lm = lm or load_audible()
    t0 = time.time()
    note = ""
    if use_soundtrack and audio is None:  # the soundtrack first: without one, the picture alone decides
        try:
            a = read_audio_clip(video, sr=lm.feature_params.audio_sr)
            audio = (a.samples, a.sr, a.start)
        except NoAudioStreamError:
            log.warning("%s: no audio track; detecting from the picture only", video)
            if no_audio == "training-free":
                from actiondubber.detection.detector import DEFAULT_DETECTOR, run_detector

                ev = run_detector(video, fallback or DEFAULT_DETECTOR, progress=progress)
                return dataclasses.replace(ev, params={**ev.params, "audio_used": False, "mean_gate_per_level": [],
                                                       "note": NO_AUDIO_NOTE})
            note = "no audio track: picture only (gate 0)"
    info, vis, raw, xy = visual_features(video, lm.feature_params, progress=progress)
    times = np.asarray(info.timestamps)
    picture = picture_only_events(info, raw, xy, lm.feature_params, sensitivity)
    aud = None
    check = None
    if use_soundtrack:
        if audio is not None:
            y, sr, st = audio
            check = check_soundtrack(times, picture.scores, np.asarray(picture.frames), y, sr, st, info.frame_rate,
                                     policy=sound_check)
            if check.action != "refuse":
                aud = audio_features_from_samples(y, sr, st - (check.offset if check.action == "realign" else 0.0),
                                                  times, lm.feature_params.n_mels)
            else:
                log.info("%s: soundtrack refused (%s); picture only", video, check.reason)
    cands = picture.frames if lm.cfg.residual else []
    logit, gates, per_step = predict_logits(lm.model, vis, aud, cands)
    if aud is not None:
        y, sr, st = audio
        shift = check.offset if check is not None and check.action == "realign" else 0.0
        logit = picture_outside_span(lm.model, vis, logit, cands, times, sound_span(y, sr, st - shift))
    probs = 1.0 / (1.0 + np.exp(-logit))
    params = {"detector": "mravff-audio-visual", "model": lm.path, "fusion": lm.cfg.fusion,
              "gate_input": lm.cfg.gate_input, "residual": lm.cfg.residual, "audio_used": aud is not None,
              "mean_gate_per_level": [round(g, 4) for g in gates], "threshold": lm.cfg.threshold,
              "sensitivity": sensitivity, **{f"feature_{k}": v for k, v in lm.feature_params.to_dict().items()}}
    if per_step and lm.cfg.residual:
        params["gate_floor"] = lm.cfg.gate_floor
        params["audio_refused"] = bool(float(np.mean([g.mean() for g in per_step])) < lm.cfg.gate_floor)
    if per_step:
        params["gate_per_level"] = {"min": [round(float(g.min()), 4) for g in per_step],
                                    "max": [round(float(g.max()), 4) for g in per_step]}
    if check is not None:
        params.update(check.to_params())
        if check.action == "refuse":
            params["audio_refused"] = True
    if note:
        params["note"] = note
    ev = events_from_av(info, probs, xy, lm.cfg, sensitivity=sensitivity, params=params)
    if lm.cfg.residual:
        params["picture_only_frames"] = [int(f) for f in cands]
        params["audio_changes"] = _changes(cands, ev.frames)
    params["seconds"] = round(time.time() - t0, 3)
    return ev
