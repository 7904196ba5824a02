"""Soft-NMS for temporal segments in numpy (no compiled extension).

ActionFormer's compiled NMS is a frequent install failure; segment counts per video are small
(hundreds to a few thousand candidates), so an O(n·k) numpy loop is fast enough.
"""

from __future__ import annotations

import numpy as np

from actiondubber.errors import ParameterError

METHODS = ("gaussian", "linear", "hard")


def segment_iou(seg: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """Temporal IoU of one segment ``[s, e]`` with each row of *segs* (N, 2)."""
    segs = np.asarray(segs, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(seg[1], segs[:, 1]) - np.maximum(seg[0], segs[:, 0]), 0.0, None)
    union = (seg[1] - seg[0]) + (segs[:, 1] - segs[:, 0]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def soft_nms(
    segs: np.ndarray,
    scores: np.ndarray,
    *,
    method: str = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.5,
    min_score: float = 1e-3,
    max_keep: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al. 2017) on one class's segments; returns ``(kept indices, new scores)``.

    Repeatedly keeps the highest-scoring segment and decays the others by their IoU ``o`` with it:
    ``gaussian``: ``s · exp(−o² / sigma)``; ``linear``: ``s · (1 − o)`` when ``o ≥ iou_threshold``;
    ``hard``: removed when ``o ≥ iou_threshold`` (classic NMS). Segments whose score falls below
    *min_score* are dropped. Indices refer to the input rows, in the order they were kept.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown NMS method {method!r}; choose from {', '.join(METHODS)}")
    if method == "gaussian" and not sigma > 0:
        raise ParameterError(f"Soft-NMS sigma must be positive, got {sigma}")
    segs = np.asarray(segs, dtype=np.float64).reshape(-1, 2)
    s = np.asarray(scores, dtype=np.float64).reshape(-1).copy()
    if segs.shape[0] != s.shape[0]:
        raise ParameterError(f"{segs.shape[0]} segments but {s.shape[0]} scores")
    idx = np.arange(s.size)
    keep: list[int] = []
    kept_scores: list[float] = []
    alive = s >= min_score
    idx, s, segs_a = idx[alive], s[alive], segs[alive]
    while idx.size and (max_keep is None or len(keep) < max_keep):
        j = int(np.argmax(s))
        keep.append(int(idx[j]))
        kept_scores.append(float(s[j]))
        top = segs_a[j]
        idx, s, segs_a = np.delete(idx, j), np.delete(s, j), np.delete(segs_a, j, axis=0)
        if not idx.size:
            break
        o = segment_iou(top, segs_a)
        if method == "gaussian":
            s = s * np.exp(-(o**2) / sigma)
        elif method == "linear":
            s = np.where(o >= iou_threshold, s * (1.0 - o), s)
        else:
            s = np.where(o >= iou_threshold, 0.0, s)
        alive = s >= min_score
        idx, s, segs_a = idx[alive], s[alive], segs_a[alive]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept_scores, dtype=np.float64)


def batched_soft_nms(segs: np.ndarray, scores: np.ndarray, labels: np.ndarray, *, max_keep: int | None = 200,
                     **kw) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS per class; returns ``(indices, scores)`` over all classes, best first, at most *max_keep*."""
    labels = np.asarray(labels).reshape(-1)
    all_i: list[np.ndarray] = []
    all_s: list[np.ndarray] = []
    for c in np.unique(labels):
        sel = np.flatnonzero(labels == c)
        k, sc = soft_nms(np.asarray(segs)[sel], np.asarray(scores)[sel], max_keep=max_keep, **kw)
        all_i.append(sel[k])
        all_s.append(sc)
    if not all_i:
        return np.zeros(0, np.int64), np.zeros(0)
    i, s = np.concatenate(all_i), np.concatenate(all_s)
    order = np.argsort(-s, kind="stable")[: max_keep if max_keep else None]
    return i[order], s[order]
