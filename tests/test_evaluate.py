"""Tests of the evaluation metrics, the report and the ``evaluate`` command."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import linear_sum_assignment

from actiondubber.cli import cli
from actiondubber.errors import InputError, OutputError
from actiondubber.evaluate.labels import read_labels, write_labels
from actiondubber.evaluate.metrics import (
    PRF,
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
    evaluate_predictions,
    format_report,
    write_report_csv,
    write_report_json,
)
from actiondubber.events import save_events
from actiondubber.types import Event, Events, VideoInfo

AUDIBLE623 = Path(__file__).resolve().parents[2] / "shared" / "data" / "audible623"


def _events(frames, *, name="clip.mp4", n=120, fps=25.0, timestamps=None) -> Events:
    ts = tuple(timestamps) if timestamps is not None else tuple(i / fps for i in range(n))
    info = VideoInfo(name, 64, 48, fps, n, max(n / fps, ts[-1] + 1 / fps if ts else 0.0), False, ts)
    return Events(info, tuple(Event(int(f), info.time_of(int(f)), 1.0) for f in frames))


# --------------------------------------------------------------------------- matching


def test_match_events_one_to_one_example():
    assert match_events([10, 20, 30], [10, 11, 12, 31], 1) == [(0, 0), (2, 3)]
    # ±3: 10, 11, 12 are all near label 10, but only one may be used
    assert len(match_events([10, 20, 30], [10, 11, 12, 31], 3)) == 2


def test_match_events_is_maximum_not_greedy():
    # nearest-first greedy pairs 1<->1 and then cannot use 0 or 2; the maximum matching pairs 0-1 and 1-2
    assert match_events([0, 1], [1, 2], 1) == [(0, 0), (1, 1)]


def test_match_events_tolerance_edges_and_order():
    assert match_events([10], [13], 3) == [(0, 0)]
    assert match_events([10], [13], 2.999) == []
    assert match_events([10], [7], 3) == [(0, 0)]
    assert match_events([10.0], [10.0], 0) == [(0, 0)]
    # indices refer to the original (unsorted) order
    assert match_events([30, 10], [11, 29], 1) == [(0, 1), (1, 0)]
    assert match_events([], [1, 2], 1) == []
    assert match_events([1, 2], [], 1) == []
    with pytest.raises(ValueError):
        match_events([1], [1], -1)


def test_match_events_count_equals_assignment_optimum():
    """Cross-check with an independent algorithm: Hungarian assignment maximizing hits."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        ref = rng.integers(0, 40, rng.integers(0, 12))
        est = rng.integers(0, 40, rng.integers(0, 12))
        tol = int(rng.integers(0, 4))
        pairs = match_events(ref, est, tol)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
        assert all(abs(ref[i] - est[j]) <= tol for i, j in pairs)
        best = 0
        if ref.size and est.size:
            hits = (np.abs(ref[:, None] - est[None, :]) <= tol).astype(float)
            rows, cols = linear_sum_assignment(hits, maximize=True)
            best = int(hits[rows, cols].sum())
        assert len(pairs) == best


def test_match_events_works_on_seconds():
    assert prf_time([1.0, 2.0], [1.05, 2.0501], window=0.05).tp == 1  # 1.05 is on the edge; 2.0501 is not
    assert prf_time([1.0], [1.0402], window=0.04).tp == 0
    assert match_events([0.5, 1.0], [0.52, 1.1], 0.05) == [(0, 0)]
    # 0.55 - 0.5 is a hair above 0.05 in floating point; prf_time's 1 µs slack absorbs that
    assert match_events([0.5], [0.55], 0.05) == [] and prf_time([0.5], [0.55]).tp == 1
    assert prf_time([1.0], [1.04], window=0.04).tp == 1


# --------------------------------------------------------------------------- strict scores


def test_strict_vs_lenient_on_hand_example():
    ref, est = [10, 20, 30], [10, 11, 12, 31]
    s = prf_frames(ref, est, k=3)
    assert (s.tp, s.n_ref, s.n_est) == (2, 3, 4)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    p = paper_metrics(ref, est)
    # lenient: 10, 11, 12 and 31 all lie within 3 frames of a label -> no false positive
    assert p.hit_est == 4 and p.found_ref == 2
    assert p.recall == pytest.approx(2 / 3)
    assert p.precision == pytest.approx(1.0)
    assert p.f1 == pytest.approx(0.8)
    assert p.nme == 1.0  # the reference's NME: one label (20) not found
    assert p.pme == pytest.approx(0.5)  # label 10 at 0, label 30 at 1


def test_paper_precision_counts_found_labels_not_predictions():
    # one prediction between two labels finds both: TP = 2 found labels, FP = 0 -> precision 1
    p = paper_metrics([10, 14], [12])
    assert (p.recall, p.precision, p.nme, p.pme) == (1.0, 1.0, 0.0, 2.0)
    assert prf_frames([10, 14], [12], k=3).tp == 1


def test_paper_metrics_zero_cases_follow_reference():
    for ref, est in (([], []), ([5], []), ([], [5]), ([5], [50])):
        p = paper_metrics(ref, est)
        assert (p.recall, p.precision, p.f1, p.nme, p.pme) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_empty_conventions_have_no_division_by_zero():
    both = prf([], [], tolerance=1)
    assert (both.precision, both.recall, both.f1) == (1.0, 1.0, 1.0)
    no_pred = prf([1, 2], [], tolerance=1)
    assert (no_pred.precision, no_pred.recall, no_pred.f1) == (0.0, 0.0, 0.0)
    no_ref = prf([], [1, 2], tolerance=1)
    assert (no_ref.precision, no_ref.recall, no_ref.f1) == (0.0, 0.0, 0.0)
    assert math.isnan(position_error([], [3]))
    assert math.isnan(counting_metrics(3, 0)[1])
    assert PRF(1, 2, 1) + PRF(3, 0, 0) == PRF(4, 2, 1)
    agg = evaluate([])
    assert agg.n_videos == 0 and math.isnan(agg.paper.f1) and math.isnan(agg.mae)


def test_counting_metrics_by_hand():
    assert counting_metrics(5, 4) == (1.0, 0.25, 1.0)
    assert counting_metrics(2, 4) == (2.0, 0.5, 0.0)
    assert counting_metrics(4, 4) == (0.0, 0.0, 1.0)


def test_position_error_uses_two_frame_tolerance():
    assert position_error([10, 20, 30], [10, 11, 12, 31]) == pytest.approx(0.5)
    assert position_error([10], [13]) != position_error([10], [13], tolerance=3)
    assert math.isnan(position_error([10], [13]))
    assert position_error([10], [13], tolerance=3) == 3.0


# --------------------------------------------------------------------------- merge


def test_merge_labels():
    assert merge_labels([12, 10, 11, 20, 22], 0).tolist() == [10, 11, 12, 20, 22]
    assert merge_labels([12, 10, 11, 20, 22], 1).tolist() == [10, 20, 22]
    assert merge_labels([12, 10, 11, 20, 22], 2).tolist() == [10, 20]
    assert merge_labels([], 2).tolist() == []


def test_evaluate_video_merge_affects_strict_not_paper():
    ref, est = [10, 11, 30, 31], [10, 30]
    raw = evaluate_video(ref, est)
    merged = evaluate_video(ref, est, merge=1)
    assert raw.strict["1f"] == PRF(4, 2, 2) and raw.strict["1f"].recall == 0.5
    assert merged.strict["1f"] == PRF(2, 2, 2) and merged.strict["1f"].f1 == 1.0
    assert (merged.n_ref_raw, merged.n_ref) == (4, 2)
    assert raw.nme == 2.0 and merged.nme == 0.0
    assert raw.paper == merged.paper  # the reference code sees the raw labels
    assert raw.paper.recall == 1.0 and raw.paper.precision == 1.0


def test_evaluate_video_times_and_missing_window():
    # label frames 10, 20; predictions at 11, 21: 40 ms frames -> hits at ±50 ms; 60 ms frames -> misses
    v40 = evaluate_video([10, 20], [11, 21], ref_times=[0.40, 0.80], est_times=[0.44, 0.84])
    assert v40.strict["50ms"] == PRF(2, 2, 2)
    v60 = evaluate_video([10, 20], [11, 21], ref_times=[0.60, 1.20], est_times=[0.66, 1.26])
    assert v60.strict["50ms"] == PRF(2, 2, 0)
    assert evaluate_video([10, 20], [11, 21]).strict["50ms"] is None
    assert evaluate_video([10, 20], []).strict["50ms"] == PRF(2, 0, 0)
    with pytest.raises(ValueError):
        evaluate_video([1, 2], [1], ref_times=[0.1])


def test_evaluate_aggregates_by_hand():
    a = evaluate_video([10, 20, 30], [10, 11, 12, 31])
    b = evaluate_video([5, 50], [8, 60, 70, 80])
    # video b by hand: label 5 found by 8 (3 frames), 50 missed; 60/70/80 are false positives
    assert (b.paper.recall, b.paper.precision, b.paper.nme, b.paper.pme) == (0.5, 0.25, 1.0, 3.0)
    assert (b.nme, b.mae, b.obo) == (2.0, 1.0, 0.0)
    assert math.isnan(b.pme)
    agg = evaluate([a, b])
    assert agg.paper.recall == pytest.approx((2 / 3 + 0.5) / 2)
    assert agg.paper.precision == pytest.approx((1.0 + 0.25) / 2)
    assert agg.paper.f1 == pytest.approx((0.8 + 1 / 3) / 2)
    assert agg.paper.nme == pytest.approx(1.0)
    assert agg.paper.pme == pytest.approx(1.75)
    assert agg.paper_pooled[0] == pytest.approx(3 / 5)  # 3 of 5 labels found
    assert agg.paper_pooled[1] == pytest.approx(3 / 6)  # TP 3, FP 3
    assert agg.nme == pytest.approx(1.5)
    assert agg.mae == pytest.approx((1 / 3 + 1.0) / 2)
    assert agg.obo == pytest.approx(0.5)
    assert agg.pme == pytest.approx(0.5) and agg.n_pme == 1
    assert agg.strict_pooled["3f"] == PRF(5, 8, 3)
    assert agg.strict_mean["3f"][2] == pytest.approx((a.strict["3f"].f1 + b.strict["3f"].f1) / 2)
    assert agg.strict_pooled["50ms"] is None


# --------------------------------------------------------------------------- real Audible623 labels


def _real_labels(name: str):
    path = AUDIBLE623 / name
    if not path.is_file():
        pytest.skip(f"Audible623 labels not found at {path}")
    return read_labels(path)


def test_real_labels_against_themselves_and_neighbours():
    lab = _real_labels("data_eval.csv")
    assert len(lab) == 126
    rows = [evaluate_video(v.frames, v.frames, video_id=k) for k, v in lab.videos.items()]
    agg = evaluate(rows)
    assert agg.strict_pooled["1f"].f1 == 1.0
    assert (agg.paper.recall, agg.paper.precision, agg.paper.nme, agg.paper.pme) == (1.0, 1.0, 0.0, 0.0)
    assert (agg.nme, agg.mae, agg.obo) == (0.0, 0.0, 1.0)
    # doubling every prediction (label and label+1): the lenient precision does not notice, the strict one halves
    rows = [evaluate_video(v.frames, sorted({*v.frames, *(f + 1 for f in v.frames)})) for v in lab.videos.values()]
    agg = evaluate(rows)
    assert agg.paper.precision == 1.0
    assert agg.strict_pooled["1f"].precision < 0.6
    assert agg.strict_pooled["1f"].recall == 1.0


def test_real_labels_merge_removes_adjacent_pairs():
    lab = _real_labels("data_train.csv")
    n_raw = n_merged = n_adjacent = n_pairs = 0
    for v in lab.videos.values():
        f = np.asarray(v.frames)
        n_raw += f.size
        n_merged += merge_labels(f, 1).size
        n_adjacent += int((np.diff(f) == 1).sum())
        n_pairs += max(f.size - 1, 0)
    assert n_raw - n_merged == n_adjacent > 0
    assert 0.10 < n_adjacent / n_pairs < 0.20  # README: about 15 %


def test_evaluate_predictions_on_real_labels(tmp_path):
    path = AUDIBLE623 / "data_eval.csv"
    lab = _real_labels("data_eval.csv")
    ids = list(lab.videos)[:3]
    for vid in ids:
        frames = lab.videos[vid].frames
        save_events(_events(frames, name=f"/videos/{vid}.mp4", n=max(frames) + 10), tmp_path / f"{vid}.json")
    rep = evaluate_predictions(tmp_path, path)
    assert rep.aggregate.n_videos == 126 and len(rep.missing) == 123
    done = [r for r in rep.rows if not r.missing]
    assert [r.video_id for r in done] == ids
    assert all(r.strict["1f"].f1 == 1.0 and r.strict["50ms"].f1 == 1.0 for r in done)
    assert rep.aggregate.strict_pooled["1f"].recall == pytest.approx(
        sum(len(lab.videos[v].frames) for v in ids) / sum(len(v.frames) for v in lab.videos.values())
    )


# --------------------------------------------------------------------------- report


@pytest.fixture
def small_set(tmp_path):
    labels = tmp_path / "labels.csv"
    write_labels(labels, {"vidA": [10, 20, 30], "vidB": [5, 50], "vidC": [7, 8, 40]}, "bouncing")
    pred = tmp_path / "pred"
    pred.mkdir()
    save_events(_events([10, 11, 12, 31], name="/x/vidA.mp4"), pred / "vidA.events.json")  # stem before the dot
    save_events(_events([8, 60, 70, 80], name="/x/vidB.mp4"), pred / "something_else.json")  # matched by video
    save_events(_events([1, 2], name="/x/other.mp4"), pred / "other.json")  # no labels
    (pred / "notes.json").write_text('{"hello": 1}\n', encoding="utf-8")  # not an events file
    return labels, pred


def test_evaluate_predictions_dir(small_set, caplog):
    labels, pred = small_set
    with caplog.at_level(logging.WARNING):
        rep = evaluate_predictions(pred, labels)
    rows = {r.video_id: r for r in rep.rows}
    assert rep.missing == ("vidC",) and rows["vidC"].missing
    assert rows["vidC"].strict["1f"] == PRF(3, 0, 0)
    assert rep.unlabelled == (str(pred / "other.json"),)
    assert rep.sources["vidB"].endswith("something_else.json")
    assert rows["vidA"].paper.precision == 1.0 and rows["vidA"].strict["3f"].tp == 2
    assert rows["vidB"].paper.recall == 0.5
    text = caplog.text
    assert "vidC" in text and "other.json" in text and "notes.json" in text
    table = format_report(rep)
    assert "vidA" in table and "vidC *" in table and "mean" in table and "no merging" in table
    assert "merged" in format_report(evaluate_predictions(pred, labels, merge=1))


def test_evaluate_predictions_label_times_from_timestamps(tmp_path):
    """Variable frame rate: the ±50 ms score uses the video's timestamps, not frame/fps."""
    labels = tmp_path / "labels.csv"
    write_labels(labels, {"vfr": [10, 30]})
    ts = [i * 0.04 for i in range(20)] + [0.8 + i * 0.1 for i in range(20)]  # 40 ms, then 100 ms frames
    save_events(_events([11, 31], name="vfr.mp4", n=40, fps=25.0, timestamps=ts), tmp_path / "vfr.json")
    row = evaluate_predictions(tmp_path / "vfr.json", labels).rows[0]
    assert row.strict["1f"].tp == 2
    assert row.strict["50ms"].tp == 1  # frame 10 -> 11 is 40 ms; frame 30 -> 31 is 100 ms


def test_evaluate_predictions_bad_inputs(tmp_path, small_set):
    labels, pred = small_set
    with pytest.raises(InputError, match="not found"):
        evaluate_predictions(tmp_path / "nope.json", labels)
    with pytest.raises(InputError, match="not found"):
        evaluate_predictions(pred, tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,frames\nvidA,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns"):
        evaluate_predictions(pred, bad)
    with pytest.raises(InputError, match="no predictions match"):
        evaluate_predictions(pred / "other.json", labels)
    with pytest.raises(InputError, match="not an actiondubber events file"):
        evaluate_predictions(pred / "notes.json", labels)
    save_events(_events([10], name="vidA.mp4"), pred / "vidA.json")
    with pytest.raises(InputError, match="already has predictions"):
        evaluate_predictions(pred, labels)


def test_report_writers(small_set, tmp_path):
    labels, pred = small_set
    rep = evaluate_predictions(pred, labels, merge=1)
    j = write_report_json(rep, tmp_path / "r.json")
    d = json.loads(j.read_text(encoding="utf-8"))
    assert d["settings"]["merge"] == 1 and "merged" in d["label_convention"]
    assert d["missing"] == ["vidC"] and len(d["videos"]) == 3
    assert d["mean"]["paper_recall"] == pytest.approx(rep.aggregate.paper.recall, abs=1e-6)
    c = write_report_csv(rep, tmp_path / "r.csv")
    rows = list(csv.DictReader(c.open(encoding="utf-8")))
    assert [r["video_id"] for r in rows] == ["vidA", "vidB", "vidC", "MEAN", "POOLED"]
    assert float(rows[-1]["strict_tp_3f"]) == rep.aggregate.strict_pooled["3f"].tp
    with pytest.raises(OutputError):
        write_report_json(rep, labels)  # never overwrite an input
    assert labels.read_text(encoding="utf-8").startswith("video_id,sound_label,class")


# --------------------------------------------------------------------------- CLI


def test_cli_evaluate_end_to_end(small_set, tmp_path):
    labels, pred = small_set
    out_json, out_csv = tmp_path / "rep.json", tmp_path / "rep.csv"
    args = ["evaluate", "--pred", str(pred), "--labels", str(labels), "--merge-labels", "1"]
    res = CliRunner().invoke(cli, [*args, "--json", str(out_json), "--csv", str(out_csv)], obj={})
    assert res.exit_code == 0, res.output
    assert "vidA" in res.stdout and "F1@1f" in res.stdout and "OBO" in res.stdout and "mean" in res.stdout
    assert json.loads(out_json.read_text(encoding="utf-8"))["settings"]["merge"] == 1
    assert out_csv.read_text(encoding="utf-8").startswith("video_id,")


def test_cli_evaluate_single_file(small_set):
    labels, pred = small_set
    res = CliRunner().invoke(cli, ["evaluate", "--pred", str(pred / "vidA.events.json"), "--labels", str(labels)])
    assert res.exit_code == 0, res.output
    assert "vidA" in res.stdout


@pytest.mark.parametrize("case", ["missing_pred", "bad_csv", "no_overlap", "out_is_input"])
def test_cli_evaluate_bad_input(small_set, tmp_path, case):
    labels, pred = small_set
    args = ["evaluate", "--pred", str(pred), "--labels", str(labels)]
    if case == "missing_pred":
        args[2] = str(tmp_path / "missing.json")
    elif case == "bad_csv":
        bad = tmp_path / "bad.csv"
        bad.write_text("a,b\n1,2\n", encoding="utf-8")
        args[4] = str(bad)
    elif case == "no_overlap":
        args[2] = str(pred / "other.json")
    else:
        args += ["--csv", str(labels)]
    res = CliRunner().invoke(cli, args, obj={})
    assert res.exit_code != 0
    err_lines = [ln for ln in res.stderr.splitlines() if ln.startswith("actiondubber: error:")]
    assert len(err_lines) == 1, res.stderr
    assert "Traceback" not in res.output
    assert labels.read_text(encoding="utf-8").startswith("video_id,")
