"""Mean average precision of temporal segments at tIoU thresholds (ActivityNet protocol).

Per class, predictions of all videos are ranked by score; each is a true positive at threshold θ
when its best-overlapping still-unmatched ground-truth segment of the same class and video has
tIoU ≥ θ (ground truth is tried in order of decreasing tIoU, each matched at most once). AP is the
area under the interpolated precision-recall curve (precision made monotone from the right), the
ActivityNet / ActionFormer definition. mAP averages AP over the classes that have ground truth
(a class never predicted scores 0), and the summary averages mAP over the thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from actiondubber.tal.annotations import Segment, VideoAnnotation
from actiondubber.tal.nms import segment_iou

#: EPIC-Kitchens-100 thresholds (0.1:0.5) and THUMOS14 thresholds (0.3:0.7).
TIOU_EPIC = (0.1, 0.2, 0.3, 0.4, 0.5)
TIOU_THUMOS = (0.3, 0.4, 0.5, 0.6, 0.7)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made non-increasing (VOC/ActivityNet style)."""
    mprec = np.concatenate([[0.0], np.asarray(precision, float), [0.0]])
    mrec = np.concatenate([[0.0], np.asarray(recall, float), [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def average_precision(gt: Mapping[str, Sequence[Segment]], pred: Mapping[str, Sequence[Segment]],
                      thresholds: Sequence[float]) -> np.ndarray:
    """AP of one class at each of *thresholds*: *gt* and *pred* map video id → segments of that class."""
    n_gt = sum(len(v) for v in gt.values())
    th = np.asarray(thresholds, dtype=float)
    if n_gt == 0:
        return np.full(th.size, np.nan)
    flat = [(s.score, vid, s) for vid, segs in pred.items() for s in segs]
    if not flat:
        return np.zeros(th.size)
    order = np.argsort(-np.asarray([f[0] for f in flat]), kind="stable")
    gt_arr = {vid: np.asarray([[s.start, s.end] for s in segs], float).reshape(-1, 2) for vid, segs in gt.items()}
    used = {vid: np.zeros((th.size, len(segs)), bool) for vid, segs in gt.items()}
    tp = np.zeros((th.size, len(flat)))
    for rank, k in enumerate(order):
        _, vid, s = flat[k]
        g = gt_arr.get(vid)
        if g is None or not len(g):
            continue
        ious = segment_iou(np.asarray([s.start, s.end], float), g)
        by_iou = np.argsort(-ious, kind="stable")
        for t, theta in enumerate(th):
            for j in by_iou:
                if ious[j] < theta:
                    break
                if not used[vid][t, j]:
                    used[vid][t, j] = True
                    tp[t, rank] = 1
                    break
    ctp = np.cumsum(tp, axis=1)
    cfp = np.cumsum(1 - tp, axis=1)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    return np.asarray([interpolated_ap(prec[t], rec[t]) for t in range(th.size)])


@dataclass(frozen=True)
class MAPResult:
    """mAP per threshold, its mean, and AP per class (rows follow ``classes``, columns ``thresholds``)."""

    thresholds: tuple[float, ...]
    map_per_threshold: tuple[float, ...]
    average: float
    classes: tuple[str, ...]
    ap: np.ndarray
    n_videos: int

    def to_dict(self) -> dict:
        return {"thresholds": list(self.thresholds),
                "mAP": {f"{t:.2f}": round(m, 6) for t, m in zip(self.thresholds, self.map_per_threshold, strict=True)},
                "average_mAP": round(self.average, 6),
                "ap_per_class": {c: [round(float(x), 6) for x in self.ap[i]] for i, c in enumerate(self.classes)},
                "n_videos": self.n_videos}


def mean_ap(annotations: Mapping[str, VideoAnnotation], predictions: Mapping[str, Sequence[Segment]],
            thresholds: Sequence[float] = TIOU_EPIC, *, videos: Sequence[str] | None = None) -> MAPResult:
    """mAP of *predictions* against *annotations* (only the *videos* given, default: all annotated ones).

    Predictions for videos outside the evaluated set are ignored; an evaluated video with no
    predictions counts as all missed.
    """
    vids = list(videos) if videos is not None else list(annotations)
    classes = sorted({s.label for v in vids for s in annotations[v].segments})
    ap = np.zeros((len(classes), len(thresholds)))
    for ci, c in enumerate(classes):
        gt = {v: [s for s in annotations[v].segments if s.label == c] for v in vids}
        pr = {v: [s for s in predictions.get(v, ()) if s.label == c] for v in vids}
        ap[ci] = average_precision(gt, pr, thresholds)
    per_t = ap.mean(axis=0) if classes else np.zeros(len(thresholds))
    return MAPResult(tuple(float(t) for t in thresholds), tuple(float(x) for x in per_t), float(np.mean(per_t)),
                     tuple(classes), ap, len(vids))


def format_map(res: MAPResult, title: str = "") -> str:
    """A short text table of *res*."""
    head = "  ".join(f"{t:.1f}" for t in res.thresholds)
    vals = "  ".join(f"{m * 100:4.1f}"[-4:] if m < 1 else "100." for m in res.map_per_threshold)
    lines = [f"{title}mAP (%) at tIoU  {head}  | avg", f"{' ' * len(title)}                 {vals}  | "
             f"{res.average * 100:.2f}   ({res.n_videos} videos, {len(res.classes)} classes)"]
    return "\n".join(lines) + "\n"
