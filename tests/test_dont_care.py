""""Don't care" frames: written by label-from-audio for weak onsets, read by the label loader and the
training reader, and counted neither way by the scorer (hand-made cases with known numbers)."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.audio import graded_onsets, impact_onsets, labels_and_dont_care_from_audio
from actiondubber.cli import cli
from actiondubber.evaluate import VideoLabels, score
from actiondubber.evaluate.labels import format_labels, read_labels, write_labels
from actiondubber.evaluate.metrics import evaluate_video, ignored_predictions, paper_metrics
from actiondubber.types import Event, Events, VideoInfo
from actiondubber.video.mux import mux_video_file

FPS = 25
SR = 22050
STRONG = (0.6, 1.4, 2.6)  # loud bursts (labels)
WEAK = (2.0,)  # a faint burst (~0.14 of the strongest onset: don't care)


# --------------------------------------------------------------------------- file format


def test_plain_files_unchanged_and_dont_care_column_round_trips(tmp_path):
    rows = {"a": [5, 3], "b": [7]}
    plain = format_labels(rows, "hit")
    assert plain == 'video_id,sound_label,class\na,"3,5",hit\nb,7,hit\n'
    assert format_labels(rows, "hit", {"a": [5], "b": []}) == plain  # a don't-care frame that is a label: none left
    p = write_labels(tmp_path / "l.csv", rows, "hit", {"a": [4, 9], "b": []})
    text = p.read_text()
    assert text.splitlines()[0] == "video_id,sound_label,class,dont_care"
    lab = read_labels(p).videos
    assert lab["a"].frames == (3, 5) and lab["a"].dont_care == (4, 9) and lab["b"].dont_care == ()
    # a reader that knows only the release's columns sees the sure labels alone
    r = {row["video_id"]: row["sound_label"] for row in csv.DictReader(io.StringIO(text))}
    assert r == {"a": "3,5", "b": "7"}
    # the release's own files (no column) read as before
    rel = tmp_path / "rel.csv"
    rel.write_text('video_id,sound_label,class\nv_x,"9,2,9",Drumming\n')
    v = read_labels(rel).videos["v_x"]
    assert v.frames == (2, 9) and v.dont_care == ()
    # a frame both labelled and don't-care counts as labelled
    both = tmp_path / "both.csv"
    both.write_text('video_id,sound_label,class,dont_care\nq,"1,2",,"2,3"\n')
    assert read_labels(both).videos["q"].dont_care == (3,)


# --------------------------------------------------------------------------- scoring


def test_predictions_on_dont_care_are_neither_hits_nor_false_alarms():
    ref, dc, est = [10, 30], [20], [10, 20, 50]
    plain = evaluate_video(ref, est)
    s = plain.strict["1f"]
    assert (s.tp, s.n_ref, s.n_est) == (1, 2, 3)
    v = evaluate_video(ref, est, dont_care_frames=dc)
    s = v.strict["1f"]
    assert (s.tp, s.n_ref, s.n_est) == (1, 2, 2)  # 20 dropped; 50 still a false alarm; 30 still missed
    assert s.precision == 0.5 and s.recall == 0.5
    assert v.n_dont_care == 1 and v.n_ignored == 1
    # paper (lenient) figures: TP = found labels = 1, FP = 1 (50): P = 1/2 instead of 1/3
    assert plain.paper.precision == pytest.approx(1 / 3) and v.paper.precision == pytest.approx(0.5)
    assert v.paper.recall == 0.5 and v.paper.nme == 1.0
    assert v.nme == 0.0  # counting: 2 kept predictions against 2 sure labels


def test_dont_care_labels_are_not_misses_and_tolerance_applies():
    v = evaluate_video([10], [10], dont_care_frames=[40])
    assert v.strict["2f"].recall == 1.0 and v.strict["2f"].precision == 1.0 and v.n_ref == 1
    # 22 is 2 frames from the don't-care frame 20: a false alarm at ±1, ignored at ±2 and ±3
    v = evaluate_video([10], [10, 22], dont_care_frames=[20])
    assert v.strict["1f"].n_est == 2 and v.strict["2f"].n_est == 1 and v.strict["3f"].n_est == 1
    assert v.strict["1f"].precision == 0.5 and v.strict["2f"].precision == 1.0


def test_sure_label_takes_a_prediction_first():
    # 11 is within ±1 of both the label 10 and the don't-care frame 11: it is a hit, not ignored
    assert not ignored_predictions([10], [11], [11], 1).any()
    v = evaluate_video([10], [11], dont_care_frames=[11])
    assert v.strict["1f"].tp == 1 and v.n_ignored == 0
    # two predictions near one label: one is the hit, the other lands on the don't-care frame and is dropped
    v = evaluate_video([10], [10, 12], dont_care_frames=[12])
    assert (v.strict["2f"].tp, v.strict["2f"].n_est) == (1, 1)
    # lenient rule: a prediction with a sure label within 3 frames is never dropped
    assert not ignored_predictions([10], [12], [12], 3, lenient=True).any()
    p = paper_metrics([10], [12])
    assert p.precision == 1.0


def test_score_reads_dont_care_from_labels_and_times():
    info = VideoInfo(path="clip.mp4", width=64, height=48, fps=25.0, n_frames=100, duration=4.0, has_audio=False)
    ev = Events(info, tuple(Event(f, f / 25.0, 1.0) for f in (10, 20, 50)))
    lab = {"clip": VideoLabels("clip", (10, 30), "", (20,))}
    rep = score({"clip": ev}, lab)
    agg = rep.aggregate
    assert agg.strict_pooled["2f"].n_est == 2 and agg.strict_pooled["2f"].tp == 1
    assert agg.strict_pooled["50ms"].n_est == 2  # dropped by time too (20 / 25 fps = 0.8 s)
    assert "1 don't-care frame(s)" in rep.label_convention
    plain = score({"clip": ev}, {"clip": [10, 30]})
    assert plain.aggregate.strict_pooled["2f"].n_est == 3 and "don't-care" not in plain.label_convention


# --------------------------------------------------------------------------- training reader


def test_training_reader_keeps_dont_care_out_of_the_loss(tmp_path):
    torch = pytest.importorskip("torch")
    from actiondubber.train.dataset import Clip, Item, collate, resolve_rows

    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.mp4").write_bytes(b"")  # resolve_rows pairs by file name only
    write_labels(tmp_path / "l.csv", {"a": [10]}, "", {"a": [20, 21]})
    rows, _ = resolve_rows(tmp_path / "l.csv", tmp_path / "v")
    assert rows[0].frames == (10,) and rows[0].dont_care == (20, 21)
    item = Item(rows[0], features=None, positive_rows=np.array([9]), ignore_rows=np.array([19, 20]))
    t, ign = item.targets(5, 20), item.ignored(5, 20)
    assert t.nonzero()[0].tolist() == [4] and ign.nonzero()[0].tolist() == [14, 15]
    flow = np.zeros((20, 2, 2, 4), np.float32)
    clip = Clip(np.zeros((20, 2, 2, 3), np.uint8), flow, flow, t, 18, 0, 5, ign)
    valid = collate([clip], use_motion=False, use_inflection=False)[4]
    assert valid.dtype == torch.bool
    assert valid[0].nonzero().flatten().tolist() == [i for i in range(18) if i not in (14, 15)]


# --------------------------------------------------------------------------- label-from-audio


def _bursts(duration: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    n = int(duration * SR)
    y = 0.002 * rng.standard_normal(n)
    bn = int(0.08 * SR)
    env = np.exp(-np.arange(bn) / (0.012 * SR))
    for t, a in [(t, 0.6) for t in STRONG] + [(t, 0.01) for t in WEAK]:
        i = int(t * SR)
        y[i : i + bn] += a * env * rng.standard_normal(bn)
    return np.clip(y, -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def weak_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("dc")
    pic = d / "pic.mp4"
    with av.open(str(pic), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(3.2 * FPS)):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 + i % 7, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, FPS)
            for pkt in vs.encode(f):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    clip = d / "weak.mp4"
    mux_video_file(pic, clip, _bursts(3.2)[None, :], SR)
    return clip


def test_graded_onsets_split_strong_and_weak():
    y = _bursts(3.2)
    strong, weak = graded_onsets(y, SR, rel_threshold=0.25, weak_threshold=0.1)
    assert np.allclose(strong, STRONG, atol=0.05) and np.allclose(weak, WEAK, atol=0.05)
    assert np.array_equal(strong, impact_onsets(y, SR))
    assert graded_onsets(y, SR, weak_threshold=0.0)[1].size == 0


def test_label_from_audio_writes_dont_care_frames(weak_clip, tmp_path):
    rows, weak = labels_and_dont_care_from_audio([weak_clip], dont_care=0.1)
    assert [abs(a - round(t * FPS)) <= 1 for a, t in zip(rows["weak"], STRONG, strict=True)] == [True] * 3
    assert len(weak["weak"]) == 1 and abs(weak["weak"][0] - WEAK[0] * FPS) <= 1
    out = tmp_path / "labels.csv"
    r = CliRunner().invoke(cli, ["label-from-audio", str(weak_clip), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "1 don't-care frame(s)" in r.output
    v = read_labels(out).videos["weak"]
    assert list(v.frames) == rows["weak"] and list(v.dont_care) == weak["weak"]
    out0 = tmp_path / "plain.csv"
    r = CliRunner().invoke(cli, ["label-from-audio", str(weak_clip), "-o", str(out0), "--dont-care", "0"])
    assert r.exit_code == 0 and out0.read_text().splitlines()[0] == "video_id,sound_label,class"
    # the report path (--report, --align-av) writes them too
    out2, rep = tmp_path / "rep_labels.csv", tmp_path / "rep.csv"
    r = CliRunner().invoke(cli, ["-q", "label-from-audio", str(weak_clip), "-o", str(out2), "--report", str(rep)])
    assert r.exit_code == 0, r.output
    assert read_labels(out2).videos["weak"].dont_care == v.dont_care
    assert next(csv.DictReader(rep.open()))["n_dont_care"] == "1"
