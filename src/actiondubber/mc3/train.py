"""Two-stage MC3 training of the projection heads on cached encoder outputs, and its evaluation.

:func:`extract` turns :class:`~actiondubber.mc3.data.Window` lists into a :class:`FeatureSet` (the
frozen encoders run once per window and are cached). :func:`train_mc3` runs the *align* stage
(L_contrastive) then the *refine* stage (L_contrastive + L_consensus), both self-supervised: the
sounding labels are used only afterwards, by :func:`fit_readouts`, to turn similarities into
probabilities. :func:`roc_auc` / :func:`pr_auc` score a ranking.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.mc3 import features as feats
from actiondubber.mc3.config import MC3Config
from actiondubber.mc3.data import Window
from actiondubber.mc3.encoders import require

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    """Encoder outputs of n windows: ``video``, ``audio`` (zeros where ``has_audio`` is false), ``text``."""

    video: np.ndarray
    audio: np.ndarray
    text: np.ndarray
    has_audio: np.ndarray
    labels: np.ndarray  # 1, 0 or nan
    groups: list[str]
    kinds: list[str]
    windows: list[Window] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.groups)

    def subset(self, idx) -> FeatureSet:
        idx = np.asarray(idx, dtype=int)
        return FeatureSet(self.video[idx], self.audio[idx], self.text[idx], self.has_audio[idx], self.labels[idx],
                          [self.groups[i] for i in idx], [self.kinds[i] for i in idx],
                          [self.windows[i] for i in idx] if self.windows else [])

    @staticmethod
    def concat(sets: Sequence[FeatureSet]) -> FeatureSet:
        return FeatureSet(*(np.concatenate([getattr(s, k) for s in sets]) for k in
                            ("video", "audio", "text", "has_audio", "labels")),
                          [g for s in sets for g in s.groups], [k for s in sets for k in s.kinds],
                          [w for s in sets for w in s.windows])


def clip_curve(video: str | os.PathLike, cache_dir: Path | None = None):
    """(info, per-frame strength curve) of the training-free detector with default settings, cached."""
    from actiondubber.detection.detector import DetectorParams, strength_curve
    from actiondubber.video.reader import probe

    info = probe(video)
    holder = {}

    def make():
        c = strength_curve(video, DetectorParams(), info=info)
        holder["info"] = c.info
        return np.asarray(c.scores, np.float32)

    scores = feats.cached_array(cache_dir, feats.cache_key(Path(video), "curve", [], "default"), make)
    return holder.get("info", info), scores


def extract(
    windows: Sequence[Window],
    *,
    cache_dir: Path | None = None,
    with_text: bool = True,
    progress: Callable[[int], None] | None = None,
    curves: dict | None = None,
) -> FeatureSet:
    """Run the frozen encoders on every window (grouped by clip; cached under *cache_dir*).

    *curves* may give a clip's detector strength curve (``{video path: scores}``, e.g. from its
    events file) so it is not computed again.
    """
    from actiondubber.mc3 import encoders

    windows = list(windows)
    if not windows:
        raise InputError("no training windows")
    by_video: dict[str, list[int]] = {}
    for i, w in enumerate(windows):
        by_video.setdefault(w.video, []).append(i)
    n = len(windows)
    video = np.zeros((n, feats.VIDEO_DIM), np.float32)
    audio = np.zeros((n, feats.AUDIO_DIM), np.float32)
    has_audio = np.zeros(n, bool)
    for path, idx in by_video.items():
        if curves and path in curves:
            from actiondubber.video.reader import probe

            info, scores = probe(path), np.asarray(curves[path], np.float32)
        else:
            info, scores = clip_curve(path, cache_dir)
        frames = [info.frame_at(windows[i].time) for i in idx]
        video[idx] = feats.video_features(path, frames, scores, info=info, cache_dir=cache_dir)
        a = feats.audio_features(path, [windows[i].time for i in idx], cache_dir=cache_dir)
        if a is not None:
            audio[idx] = a
            has_audio[idx] = True
        if progress is not None:
            progress(1)
    text = (encoders.text_features([w.narration for w in windows]) if with_text
            else np.zeros((n, encoders.TEXT_DIM), np.float32))
    labels = np.array([np.nan if w.sounding is None else float(w.sounding) for w in windows], np.float32)
    return FeatureSet(video, audio, text, has_audio, labels, [w.group for w in windows], [w.kind for w in windows],
                      windows)


def _tensors(fs: FeatureSet, modalities):
    torch = require("torch")
    return {m: torch.from_numpy(np.ascontiguousarray(getattr(fs, m))) for m in modalities}


def train_mc3(
    fs: FeatureSet,
    config: MC3Config | None = None,
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
):
    """Train the heads on *fs* with the two-stage schedule; return ``(model, history)``.

    Windows without a soundtrack are left out of training (every modality must be there).
    *history* has one dict per epoch: stage, L_contrastive, L_consensus.
    """
    config = config or MC3Config()
    torch = require("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny MLPs: extra threads only contend with the other processes
    try:
        return _train(fs, config, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _train(fs: FeatureSet, config: MC3Config, seed: int, progress):
    torch = require("torch")
    from actiondubber.mc3.heads import MC3Model
    from actiondubber.mc3.losses import anchor_similarities, consensus_loss, contrastive_loss

    keep = np.flatnonzero(fs.has_audio) if "audio" in config.modalities else np.arange(len(fs))
    if keep.size < 2:
        raise InputError("MC3 training needs at least two windows with video, audio and text")
    tr = fs.subset(keep)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    in_dims = {m: getattr(tr, m).shape[1] for m in config.modalities}
    model = MC3Model(config, in_dims)
    for m in config.modalities:
        model.set_standardisation(m, getattr(tr, m))
    data = _tensors(tr, config.modalities)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(tr)
    bs = min(config.batch_size, n)
    history = []
    model.train()
    for epoch in range(config.align_epochs + config.refine_epochs):
        w_con, w_cons = config.loss_weights(epoch)
        order = rng.permutation(n)
        tot_c = tot_k = 0.0
        steps = 0
        for s in range(0, n - bs + 1, bs):
            idx = torch.from_numpy(order[s : s + bs])
            emb = model({m: x[idx] for m, x in data.items()})
            loss_c = contrastive_loss(emb, config.tau)
            model.calib.update({k: v.detach() for k, v in anchor_similarities(emb, config.anchor).items()})
            loss = w_con * loss_c
            if w_cons > 0:
                loss_k = consensus_loss(emb, config.anchor, model.calib, detach=config.detach_consensus)
                loss = loss + w_cons * loss_k
                tot_k += float(loss_k.detach())
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot_c += float(loss_c.detach())
            steps += 1
        history.append({"epoch": epoch, "stage": config.stage(epoch), "contrastive": tot_c / max(steps, 1),
                        "consensus": tot_k / max(steps, 1) if w_cons > 0 else float("nan")})
        if progress is not None:
            progress(1)
    model.eval()
    return model, history


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 300) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (Newton steps; x: (n, d))."""
    n, d = x.shape
    X = np.concatenate([x, np.ones((n, 1))], axis=1).astype(np.float64)
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2 * n)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -40, 40)))
        g = X.T @ (p - y) + reg * w
        H = (X * (p * (1 - p))[:, None]).T @ X + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def fit_readouts(model, fs: FeatureSet) -> None:
    """Fit the ``av`` logistic map and the ``video`` probe of *model* on the labelled windows of *fs*."""
    torch = require("torch")
    lab = np.isfinite(fs.labels)
    if lab.sum() < 2 or len(set(fs.labels[lab].tolist())) < 2:
        log.warning("no labelled sounding and silent windows: sounding read-outs left at their defaults")
        return
    e_v = model.embed("video", fs.video[lab])
    y = fs.labels[lab].astype(np.float64)
    w, b = _logistic(e_v, y)
    model.probe_w.copy_(torch.from_numpy(w.astype(np.float32)))
    model.probe_b.fill_(b)
    both = lab & fs.has_audio
    if "audio" in model.heads and both.sum() >= 2 and len(set(fs.labels[both].tolist())) == 2:
        s = np.sum(model.embed("video", fs.video[both]) * model.embed("audio", fs.audio[both]), axis=1)
        a, c = _logistic(s[:, None], fs.labels[both].astype(np.float64), l2=1e-4)
        model.av_platt.copy_(torch.tensor([float(a[0]), c]))


def similarity_scores(model, fs: FeatureSet, pair: str) -> np.ndarray:
    """Per-window score for sounding discovery: ``av``, ``al``, ``vl`` similarity, or the ``video`` probe."""
    e = {}
    need = {"av": ("video", "audio"), "al": ("audio", "text"), "vl": ("video", "text"), "video": ("video",)}[pair]
    for m in need:
        e[m] = model.embed(m, getattr(fs, m))
    if pair == "video":
        return model.p_video(e["video"])
    a, b = (e[m] for m in need)
    return np.sum(a * b, axis=1)


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); nan with one class only."""
    y = np.asarray(y, bool)
    s = np.asarray(s, np.float64)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    from scipy.stats import rankdata

    r = rankdata(np.concatenate([pos, neg]))
    return float((r[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve, step-wise)."""
    y = np.asarray(y, bool)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(s, np.float64), kind="stable")
    hits = y[order]
    prec = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(prec[hits].sum() / hits.sum())
