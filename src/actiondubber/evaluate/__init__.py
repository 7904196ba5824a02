"""Evaluation: labels in the Audible623 format, the paper's and strict metrics, and :func:`score`.

``score(predictions, labels)`` is the in-memory scorer (validate → metrics → report) that the
``evaluate`` command, training validation and the benchmarks all use.
"""

from actiondubber.evaluate.labels import LabelFile, VideoLabels, read_labels, write_labels
from actiondubber.evaluate.metrics import (
    PRF,
    Aggregate,
    PaperScores,
    VideoScores,
    counting_metrics,
    evaluate,
    evaluate_video,
    match_events,
    merge_labels,
    paper_metrics,
    position_error,
    prf,
    prf_frames,
    prf_time,
)
from actiondubber.evaluate.report import (
    EvaluationReport,
    evaluate_predictions,
    format_report,
    score,
    write_report_csv,
    write_report_json,
    write_report_text,
)

__all__ = [
    "PRF",
    "Aggregate",
    "EvaluationReport",
    "LabelFile",
    "PaperScores",
    "VideoLabels",
    "VideoScores",
    "counting_metrics",
    "evaluate",
    "evaluate_predictions",
    "evaluate_video",
    "format_report",
    "match_events",
    "merge_labels",
    "paper_metrics",
    "position_error",
    "prf",
    "prf_frames",
    "prf_time",
    "read_labels",
    "score",
    "write_labels",
    "write_report_csv",
    "write_report_json",
    "write_report_text",
]
