"""Evaluate events JSON files against an Audible623-format labels CSV and report the figures.

:func:`evaluate_predictions` loads the predictions (one events JSON or a
folder of them), pairs each with its labelled video, computes
:mod:`~actiondubber.evaluate.metrics` per video and over all, and returns an
:class:`EvaluationReport`; :func:`format_report`, :func:`write_report_json`
and :func:`write_report_csv` present it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from actiondubber.errors import InputError, ParameterError
from actiondubber.evaluate.labels import LabelFile, VideoLabels, read_labels
from actiondubber.evaluate.metrics import (
    DEFAULT_FRAME_TOLERANCES,
    DEFAULT_WINDOW,
    PAPER_TOLERANCE,
    PME_TOLERANCE,
    PRF,
    Aggregate,
    VideoScores,
    evaluate,
    evaluate_video,
    window_key,
)
from actiondubber.events import load_events
from actiondubber.fileio import check_output_path, write_csv_rows, write_text_atomic
from actiondubber.types import Events

log = logging.getLogger(__name__)

SCHEMA = "actiondubber.evaluation/1"
REFERENCE_CODE = "WenlongWan/Audible623 trainer/train_util.py metrics()"


@dataclass(frozen=True)
class EvaluationReport:
    """Per-video scores, their aggregate, and what was (not) evaluated.

    ``missing``: labelled videos without predictions (scored as all misses);
    ``unlabelled``: prediction files whose video has no labels (skipped);
    ``sources``: video id -> events file used; ``inputs``: every file read.
    """

    pred: str
    labels: str
    rows: tuple[VideoScores, ...]
    aggregate: Aggregate
    missing: tuple[str, ...] = ()
    unlabelled: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)

    @property
    def label_convention(self) -> str:
        """One sentence saying how labels were treated (merge option)."""
        n = int(self.settings.get("merge", 0))
        if n <= 0:
            text = "as given (no merging of close labels)"
        else:
            text = (
                f"runs of labels at most {n} frame(s) apart merged into their first frame for the strict and "
                f"counting figures; paper figures use the raw labels, as the reference code does"
            )
        n_dc = int(self.settings.get("n_dont_care", 0))
        if n_dc:
            n_ign = sum(v.n_ignored for v in self.rows)
            text += (f"; {n_dc} don't-care frame(s) count neither way: {n_ign} prediction(s) on them "
                     f"(within each metric's tolerance, not taken by a sure label) ignored, none counted as missed")
        return text


# --------------------------------------------------------------------------- loading


def _prediction_files(pred: Path) -> list[Path]:
    if pred.is_dir():
        files = sorted(p for p in pred.glob("*.json") if p.is_file())
        if not files:
            raise InputError(f"{pred}: folder holds no .json events files")
        return files
    if pred.is_file():
        return [pred]
    raise InputError(f"{pred}: predictions file or folder not found")


def _candidate_ids(path: Path, ev: Events) -> list[str]:
    video = Path(ev.video.path) if ev.video.path else None
    ids = [path.stem, path.name.split(".")[0]]
    if video is not None:
        ids += [video.stem, video.name.split(".")[0]]
    return [i for i in dict.fromkeys(ids) if i]


def _load_predictions(pred: Path, label_ids: set[str]) -> tuple[dict[str, tuple[Path, Events]], list[str]]:
    files = _prediction_files(pred)
    in_dir = pred.is_dir()
    found: dict[str, tuple[Path, Events]] = {}
    unlabelled: list[str] = []
    for f in files:
        try:
            ev = load_events(f)
        except InputError as exc:
            if not in_dir:
                raise
            log.warning("%s; skipped", exc)
            continue
        ids = _candidate_ids(f, ev)
        vid = next((i for i in ids if i in label_ids), None)
        if vid is None:
            log.warning("%s: no labels for video %s; skipped", f, ids[0] if ids else "?")
            unlabelled.append(str(f))
            continue
        if vid in found:
            raise InputError(f"{f}: video {vid} already has predictions in {found[vid][0]}; keep one of them")
        found[vid] = (f, ev)
    return found, unlabelled


def _label_times(ev: Events, frames: tuple[int, ...]) -> list[float] | None:
    info = ev.video
    if not info.timestamps and info.fps <= 0:
        return None
    return [info.time_of(f) for f in frames]


# --------------------------------------------------------------------------- evaluation


def _as_labels(labels) -> tuple[str, dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """(name, {video id: sorted frames}, {video id: don't-care frames}) from a labels CSV path, a LabelFile
    or a plain mapping (of frame lists or :class:`VideoLabels`)."""
    if isinstance(labels, LabelFile):
        return (labels.path, {k: v.frames for k, v in labels.videos.items()},
                {k: v.dont_care for k, v in labels.videos.items() if v.dont_care})
    if isinstance(labels, Mapping):
        out, dc = {}, {}
        for k, v in labels.items():
            frames = v.frames if isinstance(v, VideoLabels) else v
            try:
                out[str(k)] = tuple(sorted({int(f) for f in frames}))
            except (TypeError, ValueError):
                raise ParameterError(f"labels for {k!r} must be a list of frame numbers") from None
            if isinstance(v, VideoLabels) and v.dont_care:
                dc[str(k)] = tuple(sorted(set(v.dont_care) - set(out[str(k)])))
        return "<labels>", out, dc
    lab = read_labels(labels)
    return str(labels), {k: v.frames for k, v in lab.videos.items()}, {
        k: v.dont_care for k, v in lab.videos.items() if v.dont_care}


def _as_predictions(predictions) -> dict[str, Events]:
    """{video id: Events} from a mapping, or from a list of Events keyed by their video's file stem."""
    if isinstance(predictions, Events):
        predictions = [predictions]
    if isinstance(predictions, Mapping):
        items = dict(predictions)
    else:
        items = {}
        for ev in predictions:
            if not isinstance(ev, Events):
                raise ParameterError(f"predictions must be Events, got {type(ev).__name__}")
            vid = Path(ev.video.path).name.split(".")[0] if ev.video.path else ""
            if not vid:
                raise ParameterError("an Events without a video path needs an id: pass {video_id: events}")
            if vid in items:
                raise ParameterError(f"two predictions for video {vid!r}")
            items[vid] = ev
    for k, ev in items.items():
        if not isinstance(ev, Events):
            raise ParameterError(f"prediction for {k!r} must be Events, got {type(ev).__name__}")
    return {str(k): v for k, v in items.items()}


def score(
    predictions: Mapping[str, Events] | Sequence[Events] | Events,
    labels: Mapping[str, Sequence[int]] | LabelFile | str | os.PathLike,
    *,
    merge: int = 0,
    tolerances: tuple[int, ...] = DEFAULT_FRAME_TOLERANCES,
    window: float = DEFAULT_WINDOW,
    paper_tolerance: float = PAPER_TOLERANCE,
    pme_tolerance: float = PME_TOLERANCE,
) -> EvaluationReport:
    """Score predicted events against labelled frames, in memory.

    The one scorer behind ``actiondubber evaluate``, training validation and the benchmarks.

    Parameters
    ----------
    predictions
        ``{video id: Events}``, or Events (a list or one) keyed by their video's file stem.
    labels
        ``{video id: [0-based frames]}``, a :class:`LabelFile`, or an Audible623 labels CSV path.
        Labelled videos without predictions count as all misses (warned, listed in ``missing``);
        predictions without labels are skipped (``unlabelled``). Don't-care frames (a
        :class:`VideoLabels`' ``dont_care``, the CSV's ``dont_care`` column) count neither way:
        predictions on them are dropped, and they are not misses (:mod:`.metrics`).
    merge
        Merge runs of labels at most this many frames apart (strict and counting figures only).
    tolerances, window, paper_tolerance, pme_tolerance
        Strict F1 frame tolerances, the ±seconds window, and the paper metrics' tolerances.

    Returns
    -------
    EvaluationReport
        Per-video :class:`VideoScores` and their :class:`Aggregate`.

    Raises
    ------
    ParameterError
        Predictions or labels of the wrong type, or no prediction matching a labelled video.

    Examples
    --------
    >>> from actiondubber.evaluate import score
    >>> rep = score({"clip": ev}, {"clip": ev.frames})
    >>> rep.aggregate.strict_pooled["2f"].f1
    1.0
    """
    label_name, lab, dont_care = _as_labels(labels)
    preds = _as_predictions(predictions)
    if not lab:
        raise InputError(f"{label_name}: labels have no usable rows")
    found = {k: v for k, v in preds.items() if k in lab}
    if not found:
        raise ParameterError(f"no predictions match a labelled video in {label_name} (ids: "
                             f"{', '.join(sorted(preds)[:3]) or 'none'})")
    unlabelled = [k for k in preds if k not in lab]
    for k in unlabelled:
        log.warning("no labels for video %s; skipped", k)
    opts = dict(
        merge=merge,
        tolerances=tuple(tolerances),
        window=window,
        paper_tolerance=paper_tolerance,
        pme_tolerance=pme_tolerance,
    )
    rows: list[VideoScores] = []
    missing: list[str] = []
    for vid, frames in lab.items():
        if vid not in found:
            missing.append(vid)
            rows.append(evaluate_video(frames, [], video_id=vid, missing=True,
                                       dont_care_frames=dont_care.get(vid, ()), **opts))
            continue
        ev = found[vid]
        n = ev.video.n_frames
        if n > 0 and frames and max(frames) >= n:
            log.warning("%s: labelled frame %d is beyond the video's %d frames; wrong video?", vid, max(frames), n)
        ref_times = _label_times(ev, frames)
        dc = dont_care.get(vid, ())
        rows.append(
            evaluate_video(
                frames,
                ev.frames,
                ref_times=ref_times,
                est_times=ev.times if ref_times is not None else None,
                video_id=vid,
                dont_care_frames=dc,
                dont_care_times=_label_times(ev, dc) if ref_times is not None else None,
                **opts,
            )
        )
    if missing:
        log.warning(
            "%d labelled video(s) have no predictions and count as all misses: %s%s",
            len(missing),
            ", ".join(missing[:5]),
            " ..." if len(missing) > 5 else "",
        )
    return EvaluationReport(
        pred="<memory>",
        labels=label_name,
        rows=tuple(rows),
        aggregate=evaluate(rows),
        missing=tuple(missing),
        unlabelled=tuple(unlabelled),
        settings={"merge": int(merge), **{k: v for k, v in opts.items() if k != "merge"},
                  "n_dont_care": sum(len(v) for k, v in dont_care.items() if k in lab)},
    )


def evaluate_predictions(
    pred: str | os.PathLike,
    labels: str | os.PathLike,
    **options,
) -> EvaluationReport:
    """Score events JSON file(s) against an Audible623-format labels CSV (``actiondubber evaluate``).

    *pred* is one events JSON or a folder of them (``*.json``; files that are
    not events JSON are skipped with a warning). A prediction belongs to the
    labelled video whose ``video_id`` equals the JSON file's stem (the part
    before the first dot also counts, so ``abc.events.json`` -> ``abc``) or,
    failing that, the stem of the video path stored in the JSON. The files are
    loaded and handed to :func:`score` (*options* are its keyword options).

    Raises :class:`InputError` for a missing or malformed input, two files
    for one video, or when no prediction matches a labelled video.
    """
    pred_p, labels_p = Path(pred), Path(labels)
    lab = read_labels(labels_p)
    if not lab.videos:
        raise InputError(f"{labels_p}: labels file has no usable rows")
    found, unlabelled = _load_predictions(pred_p, set(lab.videos))
    if not found:
        raise InputError(f"{pred_p}: no predictions match a labelled video in {labels_p} (ids are file stems)")
    rep = score({vid: ev for vid, (_, ev) in found.items()}, lab, **options)
    inputs = [str(labels_p)] + [str(f) for f, _ in found.values()]
    return replace(rep, pred=str(pred_p), labels=str(labels_p), unlabelled=tuple(unlabelled),
                   sources={vid: str(f) for vid, (f, _) in found.items()}, inputs=tuple(inputs))


# --------------------------------------------------------------------------- flattening


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


def _strict_cols(key: str, s: PRF | None) -> dict:
    if s is None:
        return {f"strict_precision_{key}": None, f"strict_recall_{key}": None, f"strict_f1_{key}": None}
    return {
        f"strict_precision_{key}": _num(s.precision),
        f"strict_recall_{key}": _num(s.recall),
        f"strict_f1_{key}": _num(s.f1),
    }


def video_row(report: EvaluationReport, v: VideoScores) -> dict:
    """One video's figures as a flat, JSON/CSV-ready dictionary."""
    row: dict = {
        "video_id": v.video_id,
        "source": report.sources.get(v.video_id, ""),
        "missing": v.missing,
        "n_labels_raw": v.n_ref_raw,
        "n_labels": v.n_ref,
        "n_pred": v.n_est,
        "n_dont_care": v.n_dont_care,
        "n_pred_ignored": v.n_ignored,
    }
    for key, s in v.strict.items():
        row.update(_strict_cols(key, s))
    row.update(_paper_cols(v))
    return row


def _paper_cols(x: VideoScores | Aggregate) -> dict:
    """The paper's (reference-code) figures and the counting figures of a video or an aggregate."""
    p = x.paper
    return {
        "paper_recall": _num(p.recall),
        "paper_precision": _num(p.precision),
        "paper_f1": _num(p.f1),
        "paper_nme": _num(p.nme),
        "paper_pme": _num(p.pme),
        "count_error": _num(x.nme),
        "pme_eq16": _num(x.pme),
        "mae": _num(x.mae),
        "obo": _num(x.obo),
    }


def _mean_row(agg: Aggregate) -> dict:
    row: dict = {"video_id": "MEAN", "n_videos": agg.n_videos}
    for key in agg.keys:
        p, r, f = agg.strict_mean[key]
        row.update({f"strict_precision_{key}": _num(p), f"strict_recall_{key}": _num(r), f"strict_f1_{key}": _num(f)})
    row.update(_paper_cols(agg))
    return row


def _pooled_row(agg: Aggregate) -> dict:
    row: dict = {"video_id": "POOLED", "n_videos": agg.n_videos}
    for key in agg.keys:
        s = agg.strict_pooled[key]
        row.update(_strict_cols(key, s))
        if s is not None:
            row.update({f"strict_tp_{key}": s.tp, f"strict_n_labels_{key}": s.n_ref, f"strict_n_pred_{key}": s.n_est})
    r, p, f = agg.paper_pooled
    row.update(paper_recall=_num(r), paper_precision=_num(p), paper_f1=_num(f))
    return row


def report_to_dict(report: EvaluationReport) -> dict:
    """The report as a plain-JSON dictionary (NaN becomes ``null``)."""
    agg = report.aggregate
    return {
        "schema": SCHEMA,
        "pred": report.pred,
        "labels": report.labels,
        "settings": dict(report.settings),
        "label_convention": report.label_convention,
        "paper_metrics": (
            f"as {REFERENCE_CODE}: nearest hits within {report.settings.get('paper_tolerance', PAPER_TOLERANCE)} "
            "frames, no one-to-one matching; NME = missed labels; PME = mean distance of found labels; "
            "mean over videos"
        ),
        "n_videos": agg.n_videos,
        "n_missing": agg.n_missing,
        "missing": list(report.missing),
        "unlabelled": list(report.unlabelled),
        "n_pme_eq16": agg.n_pme,
        "n_mae": agg.n_mae,
        "mean": _mean_row(agg),
        "pooled": _pooled_row(agg),
        "videos": [video_row(report, v) for v in report.rows],
    }


# --------------------------------------------------------------------------- writers


def _f(x: float | None, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{nd}f}"


def format_report(report: EvaluationReport) -> str:
    """A readable text table: one row per video, then the mean and pooled rows and notes."""
    agg = report.aggregate
    keys = list(agg.keys)
    wid = max([len("video")] + [len(v.video_id) for v in report.rows] + [len("pooled")])
    heads = ["gt", "pred"] + [f"F1@{k}" for k in keys] + ["R", "P", "F1", "NME", "PME", "|dc|", "MAE", "OBO"]
    widths = [4, 4] + [max(7, len(h)) for h in heads[2 : 2 + len(keys)]] + [6] * 8
    spans = [
        ("strict one-to-one", widths[2 : 2 + len(keys)]),
        ("paper (reference code)", widths[2 + len(keys) : 7 + len(keys)]),
        ("counting", widths[7 + len(keys) :]),
    ]
    lead = wid + 1 + sum(w + 1 for w in widths[:2])
    lines = [(" " * lead + "".join(f"{g:<{sum(w + 1 for w in ws)}}" for g, ws in spans)).rstrip()]
    lines.append(f"{'video':<{wid}} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    lines.append("-" * len(lines[-1]))

    def row(name: str, gt: str, pr: str, strict: list[str], paper: list[str], count: list[str]) -> str:
        cells = [gt, pr] + strict + paper + count
        return f"{name:<{wid}} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))

    for v in report.rows:
        p = v.paper
        lines.append(
            row(
                v.video_id + (" *" if v.missing else ""),
                str(v.n_ref),
                str(v.n_est),
                [_f(v.strict[k].f1) if v.strict.get(k) is not None else "-" for k in keys],
                [_f(p.recall), _f(p.precision), _f(p.f1), _f(p.nme, 2), _f(p.pme, 2)],
                [_f(v.nme, 1), _f(v.mae), _f(v.obo, 2)],
            )
        )
    lines.append("-" * len(lines[1]))
    ap = agg.paper
    n_ref = sum(v.n_ref for v in report.rows)
    n_est = sum(v.n_est for v in report.rows)
    lines.append(
        row(
            "mean",
            _f(n_ref / max(agg.n_videos, 1), 1),
            _f(n_est / max(agg.n_videos, 1), 1),
            [_f(agg.strict_mean[k][2]) for k in keys],
            [_f(ap.recall), _f(ap.precision), _f(ap.f1), _f(ap.nme, 2), _f(ap.pme, 2)],
            [_f(agg.nme, 1), _f(agg.mae), _f(agg.obo, 2)],
        )
    )
    pr, pp, pf = agg.paper_pooled
    lines.append(
        row(
            "pooled",
            str(n_ref),
            str(n_est),
            [_f(agg.strict_pooled[k].f1) if agg.strict_pooled.get(k) is not None else "-" for k in keys],
            [_f(pr), _f(pp), _f(pf), "", ""],
            ["", "", ""],
        )
    )
    s = report.settings
    notes = [
        "",
        f"videos: {agg.n_videos} ({agg.n_missing} without predictions, marked *, scored as all misses); "
        f"{len(report.unlabelled)} prediction file(s) without labels skipped",
        f"labels: {report.label_convention}",
        f"strict: maximum one-to-one matching within ±k frames / ±{window_key(s.get('window', DEFAULT_WINDOW))} "
        "(label times from the video's timestamps)",
        f"paper: as {REFERENCE_CODE}: hits = nearest within ±{s.get('paper_tolerance', PAPER_TOLERANCE)} frames, "
        "no one-to-one; NME = missed labels; PME = mean frame distance of found labels; mean over videos",
        f"counting (paper Eq. 15-18): |dc| = |count - count_gt|, MAE = |dc|/count_gt "
        f"({agg.n_mae} videos with labels), OBO = share with |dc| <= 1",
        f"PME within ±{s.get('pme_tolerance', PME_TOLERANCE)} frames (paper Eq. 16 with its text's tolerance): "
        f"{_f(agg.pme, 3)} over {agg.n_pme} videos",
    ]
    n_empty = sum(1 for v in report.rows if v.n_est == 0 and v.n_ref_raw > 0)
    if n_empty:
        notes.append(
            f"note: {n_empty} video(s) have no predicted events; the reference code scores them 0 on all five paper "
            "figures, so their NME and PME of 0 are not a good result"
        )
    return "\n".join(lines + notes) + "\n"


def write_report_text(report: EvaluationReport, out: str | os.PathLike) -> Path:
    """Write :func:`format_report` to *out* atomically."""
    check_output_path(out, inputs=report.inputs)
    return write_text_atomic(out, format_report(report))


def write_report_json(report: EvaluationReport, out: str | os.PathLike) -> Path:
    """Write :func:`report_to_dict` as JSON to *out* atomically."""
    check_output_path(out, inputs=report.inputs)
    return write_text_atomic(out, json.dumps(report_to_dict(report), indent=1, allow_nan=False) + "\n")


def write_report_csv(report: EvaluationReport, out: str | os.PathLike) -> Path:
    """Write one CSV row per video plus ``MEAN`` and ``POOLED`` rows to *out* atomically."""
    check_output_path(out, inputs=report.inputs)
    rows = [video_row(report, v) for v in report.rows]
    rows += [_mean_row(report.aggregate), _pooled_row(report.aggregate)]
    return write_csv_rows(out, rows)
