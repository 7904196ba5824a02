"""Metrics for audible-action temporal localization.

Two families, kept apart on purpose:

* **Strict** (event detection, as in mir_eval's onset metrics): every label and
  every prediction is used at most once, via a maximum one-to-one matching
  within a tolerance (:func:`match_events`). Reported at ±1/±2/±3 frames and
  within ±50 ms.
* **Paper** (Appendix B of the Action Dubber paper, as its public reference code
  ``WenlongWan/Audible623`` ``trainer/train_util.py::metrics`` computes them):
  lenient nearest-neighbour hits within 3 frames without one-to-one matching
  (:func:`paper_metrics`), plus the paper's formulas as written for NME, PME,
  counting MAE and OBO (:func:`position_error`, :func:`counting_metrics`).

:func:`evaluate_video` computes all of them for one video and :func:`evaluate`
aggregates a list of videos. Empty inputs never divide by zero; the
conventions are stated in each function's docstring.

"Don't care" frames (labels too weak to be sure of, see
:mod:`actiondubber.evaluate.labels`) are neither labels nor background: they
are never counted as misses, and a prediction that no sure label takes but that
lies within the metric's tolerance of one is dropped, neither a hit nor a false
alarm (:func:`ignored_predictions`), as the optional events of mir_eval-style
onset scoring. Without don't-care frames every figure is as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching

#: Strict frame tolerances reported by default (±k frames).
DEFAULT_FRAME_TOLERANCES: tuple[int, ...] = (1, 2, 3)
#: Strict time window reported by default, seconds (±50 ms, the usual onset-detection window).
DEFAULT_WINDOW: float = 0.05
#: The reference code's hit distance for Recall/Precision/F1/NME/PME, frames.
PAPER_TOLERANCE: int = 3
#: The paper text's PME tolerance ("a detection time gap of up to 2 frames"), frames.
PME_TOLERANCE: int = 2
#: Slack added to time windows: the events JSON stores times to 1 µs.
TIME_SLACK: float = 1e-6


def _as_1d(x: Iterable[float] | np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(list(x) if not isinstance(x, np.ndarray) else x, dtype=float).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains a non-finite value")
    return a


# --------------------------------------------------------------------------- matching


def match_events(ref: Sequence[float], est: Sequence[float], tolerance: float) -> list[tuple[int, int]]:
    """Maximum one-to-one matching of events with ``|ref[i] - est[j]| <= tolerance``.

    Works on frames or seconds alike. Each reference event and each estimate
    is used at most once, and the number of pairs is the largest possible
    (maximum bipartite matching, as ``mir_eval.util.match_events``). The
    result is deterministic for a given input and sorted by reference index;
    indices refer to the inputs' original order.
    """
    r = _as_1d(ref, "ref")
    e = _as_1d(est, "est")
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    if r.size == 0 or e.size == 0:
        return []
    e_order = np.argsort(e, kind="stable")
    e_sorted = e[e_order]
    lo = np.searchsorted(e_sorted, r - tolerance, side="left")
    hi = np.searchsorted(e_sorted, r + tolerance, side="right")
    counts = np.maximum(hi - lo, 0)
    if counts.sum() == 0:
        return []
    rows = np.repeat(np.arange(r.size), counts)
    cols = np.concatenate([e_order[a:b] for a, b in zip(lo, hi, strict=True) if b > a])
    # The search bounds are exact in theory; re-check to be safe against float rounding.
    ok = np.abs(r[rows] - e[cols]) <= tolerance
    graph = sp.csr_matrix((np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(r.size, e.size))
    match = maximum_bipartite_matching(graph, perm_type="column")
    return [(int(i), int(j)) for i, j in enumerate(match) if j >= 0]


def ignored_predictions(
    ref: Sequence[float], est: Sequence[float], dont_care: Sequence[float], tolerance: float, *, lenient: bool = False
) -> np.ndarray:
    """Boolean mask over *est*: predictions to leave out because they fall on a don't-care frame.

    A prediction is left out when it is not taken by a sure label and some don't-care frame lies
    within *tolerance* of it. "Taken" is one-to-one (a maximum matching with *ref*, :func:`match_events`;
    the matching stays maximum once the left-out predictions are gone, so the hits do not change) or,
    with *lenient*, any sure label within *tolerance* (the paper's nearest-neighbour hits).
    """
    e = _as_1d(est, "est")
    dc = np.sort(_as_1d(dont_care, "dont_care"))
    if e.size == 0 or dc.size == 0:
        return np.zeros(e.size, dtype=bool)
    r = _as_1d(ref, "ref")
    if lenient:
        taken = _nearest_dist(e, r) <= tolerance if r.size else np.zeros(e.size, dtype=bool)
    else:
        taken = np.zeros(e.size, dtype=bool)
        taken[[j for _, j in match_events(r, e, tolerance)]] = True
    return ~taken & (_nearest_dist(e, dc) <= tolerance)


def merge_groups(frames: Sequence[float], max_gap: float) -> np.ndarray:
    """Indices (into sorted order of *frames*) of the first event of each close group.

    Sorted events whose gap to the previous one is ``<= max_gap`` are chained
    into one group (so ``max_gap=1`` joins runs of consecutive frames, the
    Audible623 annotators' habit of marking one touch on two frames). The
    returned indices point into ``np.sort(frames)``. ``max_gap <= 0`` keeps all.
    """
    f = np.sort(_as_1d(frames, "frames"), kind="stable")
    if f.size == 0 or max_gap <= 0:
        return np.arange(f.size)
    starts = np.concatenate([[True], np.diff(f) > max_gap])
    return np.flatnonzero(starts)


def merge_labels(frames: Sequence[float], max_gap: float) -> np.ndarray:
    """Sorted *frames* with events at most *max_gap* apart (chained) merged into their first one."""
    f = np.sort(_as_1d(frames, "frames"), kind="stable")
    return f[merge_groups(f, max_gap)]


# --------------------------------------------------------------------------- strict


@dataclass(frozen=True)
class PRF:
    """Counts of a one-to-one matching and the precision/recall/F1 they give.

    Empty-input convention: with no labels *and* no predictions all three are
    1.0 (nothing to find, nothing claimed); otherwise an undefined ratio
    (``0/0``) is 0.0, and F1 is 0.0 when precision + recall is 0. Pooling over
    videos is done by adding counts (``a + b``).
    """

    n_ref: int
    n_est: int
    tp: int

    @property
    def precision(self) -> float:
        if self.n_est:
            return self.tp / self.n_est
        return 1.0 if self.n_ref == 0 else 0.0

    @property
    def recall(self) -> float:
        if self.n_ref:
            return self.tp / self.n_ref
        return 1.0 if self.n_est == 0 else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.n_ref + other.n_ref, self.n_est + other.n_est, self.tp + other.tp)


def prf(ref: Sequence[float], est: Sequence[float], *, tolerance: float) -> PRF:
    """Strict one-to-one precision/recall/F1 of *est* against *ref* within *tolerance* (same units)."""
    r = _as_1d(ref, "ref")
    e = _as_1d(est, "est")
    return PRF(int(r.size), int(e.size), len(match_events(r, e, tolerance)))


def prf_frames(ref_frames: Sequence[int], est_frames: Sequence[int], *, k: int = 1) -> PRF:
    """Strict one-to-one scores with hits at most *k* frames apart (default ±1 frame)."""
    return prf(ref_frames, est_frames, tolerance=k)


def prf_time(ref_times: Sequence[float], est_times: Sequence[float], *, window: float = DEFAULT_WINDOW) -> PRF:
    """Strict one-to-one scores with hits at most *window* seconds apart (default ±50 ms).

    :data:`TIME_SLACK` (1 µs) is added to the window to absorb the rounding of
    times stored in events JSON files.
    """
    return prf(ref_times, est_times, tolerance=window + TIME_SLACK)


# --------------------------------------------------------------------------- paper


@dataclass(frozen=True)
class PaperScores:
    """One video's Recall/Precision/F1/NME/PME as the paper's reference code computes them.

    ``found_ref``: labels with a prediction within the tolerance; ``hit_est``:
    predictions with a label within the tolerance (both lenient, several may
    share a partner). ``nme`` is the reference code's number error, i.e. the
    count of labels *not* found; ``pme`` the mean frame distance from each
    found label to its nearest prediction.
    """

    recall: float
    precision: float
    f1: float
    nme: float
    pme: float
    n_ref: int = 0
    n_est: int = 0
    found_ref: int = 0
    hit_est: int = 0


def _nearest_dist(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance from each of *points* to its nearest value in *targets* (non-empty)."""
    t = np.sort(targets)
    idx = np.searchsorted(t, points)
    left = t[np.clip(idx - 1, 0, t.size - 1)]
    right = t[np.clip(idx, 0, t.size - 1)]
    return np.minimum(np.abs(points - left), np.abs(points - right))


def paper_metrics(
    ref_frames: Sequence[int], est_frames: Sequence[int], *, tolerance: float = PAPER_TOLERANCE
) -> PaperScores:
    """Recall, Precision, F1, NME, PME of one video, reproducing the paper's reference code.

    What ``trainer/train_util.py::metrics`` in ``WenlongWan/Audible623``
    (commit f391fcc) does, in our words:

    * a label is *found* when some prediction lies within ``tolerance`` = 3
      frames of it; a prediction is *right* when some label lies within 3
      frames. There is no one-to-one matching: three predictions next to one
      label are all "right", and one prediction can find two labels.
    * TP = found labels, FN = labels not found, FP = predictions not right;
      Recall = TP/(TP+FN), Precision = TP/(TP+FP) (note: TP counts *labels*,
      so extra predictions near a label cost nothing), F1 their harmonic mean.
    * NME = |found labels - labels| (= FN, the number of missed labels; not the
      paper's Eq. 15 count difference, see :func:`counting_metrics`).
    * PME = mean distance from each found label to its nearest prediction,
      so within 3 frames (the paper's text says 2; see :func:`position_error`).
    * with no labels, no predictions, or no label found, all five are 0
      (so NME and PME look perfect for a video with no predictions).

    How the reference aggregates over videos is not in the released code;
    the paper's Eq. 15-16 and its Table 2 (F1 below the harmonic mean of the
    mean R and P) point to a mean of per-video values, which :func:`evaluate`
    uses; pooled R/P/F1 are offered too.
    """
    r = _as_1d(ref_frames, "ref_frames")
    e = _as_1d(est_frames, "est_frames")
    if r.size == 0 or e.size == 0:
        return PaperScores(0.0, 0.0, 0.0, 0.0, 0.0, int(r.size), int(e.size))
    d_ref = _nearest_dist(r, e)
    d_est = _nearest_dist(e, r)
    found = d_ref <= tolerance
    n_found = int(found.sum())
    n_hit = int((d_est <= tolerance).sum())
    if n_found == 0:
        return PaperScores(0.0, 0.0, 0.0, 0.0, 0.0, int(r.size), int(e.size), 0, n_hit)
    tp, fn, fp = n_found, int(r.size) - n_found, int(e.size) - n_hit
    recall = tp / (tp + fn)
    precision = tp / (tp + fp)
    f1 = 2 * recall * precision / (recall + precision)
    return PaperScores(
        recall, precision, f1, float(fn), float(d_ref[found].mean()), int(r.size), int(e.size), n_found, n_hit
    )


def position_error(ref_frames: Sequence[int], est_frames: Sequence[int], *, tolerance: float = PME_TOLERANCE) -> float:
    """The paper's Eq. 16 PME term for one video, with the text's 2-frame tolerance.

    Mean, over labels that have a prediction within *tolerance* frames, of the
    distance to the nearest prediction (the reference code's lenient pairing,
    with the tolerance the paper's text states). NaN when no label is matched
    (such videos are left out of the mean over videos).
    """
    r = _as_1d(ref_frames, "ref_frames")
    e = _as_1d(est_frames, "est_frames")
    if r.size == 0 or e.size == 0:
        return math.nan
    d = _nearest_dist(r, e)
    d = d[d <= tolerance]
    return float(d.mean()) if d.size else math.nan


def counting_metrics(n_est: int, n_ref: int) -> tuple[float, float, float]:
    """``(abs_error, rel_error, off_by_one)`` of a predicted count against the true one.

    The per-video terms of the paper's Eq. 15 (NME: ``|c - c_gt|``), Eq. 18
    (MAE: ``|c - c_gt| / c_gt``; NaN when ``c_gt`` is 0, left out of the mean)
    and Eq. 17 (OBO: 1.0 when ``|c - c_gt| <= 1``, else 0.0).
    """
    err = abs(int(n_est) - int(n_ref))
    rel = err / n_ref if n_ref > 0 else math.nan
    return float(err), rel, 1.0 if err <= 1 else 0.0


# --------------------------------------------------------------------------- per video and aggregate


def tolerance_key(k: int) -> str:
    """Column key of a frame tolerance: ``1 -> "1f"``."""
    return f"{int(k)}f"


def window_key(window: float) -> str:
    """Column key of a time window: ``0.05 -> "50ms"``."""
    return f"{round(window * 1000):d}ms"


@dataclass(frozen=True)
class VideoScores:
    """Every figure for one video.

    ``strict`` maps ``"1f"``, ``"2f"``, ``"3f"``, ``"50ms"`` to one-to-one
    :class:`PRF` (the ms entry is ``None`` when times are unknown). ``paper``
    holds the reference-code figures on the *raw* labels. ``nme``, ``pme``,
    ``mae``, ``obo`` are the paper's Eq. 15-18 terms. ``n_ref`` is the label
    count after the optional merge (``n_ref_raw`` before); strict and counting
    figures use the merged labels. ``n_dont_care``: the video's don't-care frames;
    ``n_ignored``: predictions dropped for landing on one (at the paper tolerance;
    ``n_est`` counts every prediction).
    """

    video_id: str
    n_ref_raw: int
    n_ref: int
    n_est: int
    strict: dict[str, PRF | None]
    paper: PaperScores
    nme: float
    pme: float
    mae: float
    obo: float
    missing: bool = False
    n_dont_care: int = 0
    n_ignored: int = 0


def evaluate_video(
    ref_frames: Sequence[int],
    est_frames: Sequence[int],
    *,
    ref_times: Sequence[float] | None = None,
    est_times: Sequence[float] | None = None,
    video_id: str = "",
    merge: int = 0,
    tolerances: Sequence[int] = DEFAULT_FRAME_TOLERANCES,
    window: float = DEFAULT_WINDOW,
    paper_tolerance: float = PAPER_TOLERANCE,
    pme_tolerance: float = PME_TOLERANCE,
    missing: bool = False,
    dont_care_frames: Sequence[int] | None = None,
    dont_care_times: Sequence[float] | None = None,
) -> VideoScores:
    """All metrics of one video from label and predicted frames (and, optionally, times).

    *ref_times* / *est_times* are the labels' and predictions' times in
    seconds, aligned with *ref_frames* / *est_frames*; without them the
    ±*window* strict score is ``None`` (unless one side is empty, when it is
    known anyway). *merge* > 0 merges labels at most that many frames apart
    into their first frame (:func:`merge_labels`) before the strict and
    counting metrics; the ``paper`` figures always use the raw labels, as the
    reference does. *missing* marks a labelled video that had no predictions.
    *dont_care_frames* (and their *dont_care_times*, for the ±window score) are
    frames that count neither way (module docstring): predictions there are
    dropped per tolerance (one-to-one for the strict scores; the paper's lenient
    rule at *paper_tolerance* for the paper, counting and PME figures).
    """
    ref = _as_1d(ref_frames, "ref_frames")
    est = _as_1d(est_frames, "est_frames")
    rt = None if ref_times is None else _as_1d(ref_times, "ref_times")
    et = None if est_times is None else _as_1d(est_times, "est_times")
    if rt is not None and rt.size != ref.size:
        raise ValueError("ref_times and ref_frames differ in length")
    if et is not None and et.size != est.size:
        raise ValueError("est_times and est_frames differ in length")
    dc = np.zeros(0) if dont_care_frames is None else _as_1d(dont_care_frames, "dont_care_frames")
    dct = None if dont_care_times is None else _as_1d(dont_care_times, "dont_care_times")
    if dct is not None and dct.size != dc.size:
        raise ValueError("dont_care_times and dont_care_frames differ in length")

    order = np.argsort(ref, kind="stable")
    ref_sorted = ref[order]
    keep = merge_groups(ref_sorted, merge)
    ref_m = ref_sorted[keep]
    rt_m = None if rt is None else rt[order][keep]

    strict: dict[str, PRF | None] = {}
    for k in tolerances:
        keep = ~ignored_predictions(ref_m, est, dc, k)
        strict[tolerance_key(k)] = prf(ref_m, est[keep], tolerance=k)
    if dc.size and dct is None and est.size:
        strict[window_key(window)] = None  # which predictions to drop is unknown without the times
    elif ref_m.size == 0 or est.size == 0:
        n_kept = est.size if dct is None or et is None else int(
            (~ignored_predictions(ref_m, et, dct, window + TIME_SLACK)).sum())
        strict[window_key(window)] = PRF(int(ref_m.size), n_kept, 0)
    elif rt_m is not None and et is not None:
        keep_t = np.ones(et.size, bool) if dct is None else ~ignored_predictions(rt_m, et, dct, window + TIME_SLACK)
        strict[window_key(window)] = prf_time(rt_m, et[keep_t], window=window)
    else:
        strict[window_key(window)] = None

    ign = ignored_predictions(ref, est, dc, paper_tolerance, lenient=True)
    est_p = est[~ign]
    nme, mae, obo = counting_metrics(int(est_p.size), int(ref_m.size))
    return VideoScores(
        video_id=video_id,
        n_ref_raw=int(ref.size),
        n_ref=int(ref_m.size),
        n_est=int(est.size),
        strict=strict,
        paper=paper_metrics(ref, est_p, tolerance=paper_tolerance),
        nme=nme,
        pme=position_error(ref, est_p, tolerance=pme_tolerance),
        mae=mae,
        obo=obo,
        missing=missing,
        n_dont_care=int(dc.size),
        n_ignored=int(ign.sum()),
    )


def _nanmean(values: Iterable[float]) -> float:
    a = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    return float(a.mean()) if a.size else math.nan


@dataclass(frozen=True)
class Aggregate:
    """Figures over a set of videos.

    ``strict_pooled``: one-to-one counts added over all videos (micro average);
    ``strict_mean``: mean over videos of per-video ``(precision, recall, f1)``
    (videos without a value, e.g. unknown times, left out). ``paper`` holds
    the mean over videos of the reference-code figures (the paper's
    aggregation), ``paper_pooled`` R/P/F1 from counts added over videos.
    ``nme``, ``pme``, ``mae``, ``obo``: means over videos of Eq. 15-18 (NaN
    per-video values left out; ``n_pme`` / ``n_mae`` say how many counted).
    """

    n_videos: int
    n_missing: int
    strict_pooled: dict[str, PRF | None]
    strict_mean: dict[str, tuple[float, float, float]]
    paper: PaperScores
    paper_pooled: tuple[float, float, float]
    nme: float
    pme: float
    mae: float
    obo: float
    n_pme: int = 0
    n_mae: int = 0
    keys: tuple[str, ...] = field(default_factory=tuple)


def evaluate(videos: Sequence[VideoScores]) -> Aggregate:
    """Aggregate per-video scores: pooled and per-video-mean strict scores, paper means, counting means.

    An empty sequence gives NaN means and empty pooled counts.
    """
    keys: list[str] = []
    for v in videos:
        for k in v.strict:
            if k not in keys:
                keys.append(k)
    pooled: dict[str, PRF | None] = {}
    mean: dict[str, tuple[float, float, float]] = {}
    for k in keys:
        vals = [v.strict.get(k) for v in videos]
        present = [x for x in vals if x is not None]
        if present:
            total = PRF(0, 0, 0)
            for x in present:
                total = total + x
            pooled[k] = total
            mean[k] = (
                _nanmean(x.precision for x in present),
                _nanmean(x.recall for x in present),
                _nanmean(x.f1 for x in present),
            )
        else:
            pooled[k] = None
            mean[k] = (math.nan, math.nan, math.nan)

    ps = [v.paper for v in videos]
    paper = PaperScores(
        recall=_nanmean(p.recall for p in ps),
        precision=_nanmean(p.precision for p in ps),
        f1=_nanmean(p.f1 for p in ps),
        nme=_nanmean(p.nme for p in ps),
        pme=_nanmean(p.pme for p in ps),
        n_ref=sum(p.n_ref for p in ps),
        n_est=sum(p.n_est for p in ps),
        found_ref=sum(p.found_ref for p in ps),
        hit_est=sum(p.hit_est for p in ps),
    )
    # Pooled reference-code R/P: TP = found labels, FN = missed labels, FP = predictions with no label near.
    tp = paper.found_ref
    fp = paper.n_est - paper.hit_est
    pr = tp / paper.n_ref if paper.n_ref else 0.0
    pp = tp / (tp + fp) if tp + fp else 0.0
    pf = 2 * pr * pp / (pr + pp) if pr + pp else 0.0
    return Aggregate(
        n_videos=len(videos),
        n_missing=sum(1 for v in videos if v.missing),
        strict_pooled=pooled,
        strict_mean=mean,
        paper=paper,
        paper_pooled=(pr, pp, pf),
        nme=_nanmean(v.nme for v in videos),
        pme=_nanmean(v.pme for v in videos),
        mae=_nanmean(v.mae for v in videos),
        obo=_nanmean(v.obo for v in videos),
        n_pme=sum(1 for v in videos if not math.isnan(v.pme)),
        n_mae=sum(1 for v in videos if not math.isnan(v.mae)),
        keys=tuple(keys),
    )
