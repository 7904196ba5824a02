"""Tests of the editors' exports: OTIO / EDL / FCP XML markers, Audacity labels, SRT and WebVTT cues.

Events are built in code at 25, 29.97 and 59.94 fps and with variable-frame-rate
timestamps; every file is read back (OTIO through its own adapters, cues by
the package's readers) and compared with the events' times.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.cli import cli
from actiondubber.errors import InputError, OutputError
from actiondubber.events import load_events, save_events
from actiondubber.exporters.cues import read_audacity, read_cues, read_srt, read_vtt, srt_text, vtt_text
from actiondubber.exporters.editors import build_timeline, read_markers, write_edl, write_fcpxml, write_otio
from actiondubber.exporters.markers import FORMATS, check_events, export_events
from actiondubber.exporters.timecode import exact_rate, grid_frame, is_drop_frame, smpte_rate, smpte_timecode
from actiondubber.types import Event, Events, VideoInfo
from actiondubber.video.reader import probe

try:
    import opentimelineio as otio
except ImportError:  # the 'editors' extra is not installed: only the timed-text tests run
    otio = None

NTSC30 = Fraction(30000, 1001)
NTSC60 = Fraction(60000, 1001)
#: Irregular frame gaps (ms) for variable-frame-rate timestamps, like a phone recording.
VFR_GAPS_MS = (33, 17, 50, 33, 100, 25, 41, 8, 66)


def _has_adapter(name: str) -> bool:
    if otio is None:
        return False
    try:
        otio.adapters.from_name(name)
    except otio.exceptions.NotSupportedError:
        return False
    return True


needs_otio = pytest.mark.skipif(otio is None, reason="opentimelineio not installed (pip install actiondubber[editors])")
needs_edl = pytest.mark.skipif(not _has_adapter("cmx_3600"), reason="otio-cmx3600-adapter not installed")
needs_fcp = pytest.mark.skipif(not _has_adapter("fcp_xml"), reason="otio-fcp-adapter not installed")


def make_events(rate: Fraction | float, n: int, frames, *, times=None, path="/media/clip.mp4") -> Events:
    """Events at *frames* of an *n*-frame video; times are ``frame / rate`` (exact) unless *times* is given."""
    if times is None:
        times = [float(Fraction(i) / Fraction(rate)) for i in range(n)]
        fps = float(rate)
        duration = float(Fraction(n) / Fraction(rate))
    else:
        fps = (n - 1) / (times[-1] - times[0])
        duration = times[-1] + VFR_GAPS_MS[(n - 1) % len(VFR_GAPS_MS)] / 1000
    info = VideoInfo(path=path, width=320, height=240, fps=fps, n_frames=n, duration=duration, has_audio=False,
                     timestamps=tuple(times))
    rng = np.random.default_rng(len(frames))
    evs = tuple(Event(f, times[f], round(float(rng.uniform(0.1, 1.0)), 6), float(10 + f % 300), float(5 + f % 200))
                for f in frames)
    return Events(info, evs, np.zeros(n, np.float32), {"detector": "test", "sensitivity": 0.5})


def vfr_times(n: int) -> list[float]:
    t, out = 0, []
    for i in range(n):
        out.append(t / 1000)
        t += VFR_GAPS_MS[i % len(VFR_GAPS_MS)]
    return out


CASES = {
    "25": lambda: make_events(25, 2000, [0, 13, 250, 1500, 1999]),
    "29.97": lambda: make_events(NTSC30, 20000, [1, 1798, 1800, 17982, 19999]),
    "59.94": lambda: make_events(NTSC60, 40000, [2, 3596, 3600, 35964, 39999]),
    "vfr": lambda: make_events(0, 500, [0, 7, 100, 333, 499], times=vfr_times(500)),
}


@pytest.fixture(params=list(CASES))
def events(request) -> Events:
    return CASES[request.param]()


def _markers(tl) -> list:
    return [m for clip in tl.find_clips() for m in clip.markers]


# --- rates and timecode ------------------------------------------------------------------------


def test_exact_rates():
    assert exact_rate(29.97) == NTSC30 and exact_rate(29.970030) == NTSC30 and exact_rate(29.965) == NTSC30
    assert exact_rate(29.95) != NTSC30
    assert exact_rate(59.94) == NTSC60 and exact_rate(23.976) == Fraction(24000, 1001)
    assert exact_rate(25.0) == 25 and exact_rate(30.004) == 30
    assert exact_rate(27.3) == Fraction(273, 10)
    assert is_drop_frame(29.97) and is_drop_frame(59.94) and not is_drop_frame(23.976) and not is_drop_frame(30)
    assert smpte_rate(25) == 25 and smpte_rate(29.97) == NTSC30
    assert smpte_rate(15) == 30 and smpte_rate(12.5) == 25 and smpte_rate(120) == 60 and smpte_rate(100) == 50
    assert smpte_rate(29.4) == NTSC30 and smpte_rate(119.88) == NTSC60
    with pytest.raises(InputError):
        exact_rate(0)


def _df_labels(nominal: int, count: int) -> list[str]:
    """The first *count* drop-frame labels by the SMPTE rule itself: skip frame numbers 0..drop-1 at the
    start of every minute except minutes 0, 10, 20 ... (drop = 2 at 29.97, 4 at 59.94)."""
    drop = nominal // 15
    out = []
    h = m = s = f = 0
    while len(out) < count:
        if not (s == 0 and f < drop and m % 10 != 0):
            out.append(f"{h:02d}:{m:02d}:{s:02d};{f:02d}")
        f += 1
        if f == nominal:
            f, s = 0, s + 1
            if s == 60:
                s, m = 0, m + 1
                if m == 60:
                    m, h = 0, h + 1
    return out


@needs_otio
def test_drop_frame_timecode_known_values():
    # frame 1800 at 29.97 is shown 60.06 s in and is labelled 00:01:00;02 (labels ;00 and ;01 are dropped);
    # 60.000 s is nearest frame 1798, still in minute 0.
    assert smpte_timecode(1800 * 1001 / 30000, 29.97) == "00:01:00;02"
    assert smpte_timecode(60.0, 29.97) == "00:00:59;28"
    assert smpte_timecode(17982 * 1001 / 30000, 29.97) == "00:10:00;00"  # no drop at minute 10
    assert smpte_timecode(107892 * 1001 / 30000, 29.97) == "01:00:00;00"  # DF keeps wall-clock time per hour
    assert smpte_timecode(3600 * 1001 / 60000, 59.94) == "00:01:00;04"  # four labels dropped at 59.94
    assert smpte_timecode(1800 * 1001 / 30000, 29.97, drop_frame=False) == "00:01:00:00"
    assert smpte_timecode(60.0, 25) == "00:01:00:00" and smpte_timecode(0.52, 25) == "00:00:00:13"
    with pytest.raises(InputError):
        smpte_timecode(1.0, 15)


@needs_otio
@pytest.mark.parametrize(("nominal", "rate"), [(30, NTSC30), (60, NTSC60)])
def test_drop_frame_timecode_matches_smpte_rule(nominal, rate):
    labels = _df_labels(nominal, 11 * 60 * nominal + 50)
    for frame in list(range(0, len(labels), 97)) + [len(labels) - 1]:
        t = float(frame / rate)
        assert smpte_timecode(t, float(rate)) == labels[frame], frame


def test_frame_from_time_does_not_drift():
    # ten hours at 29.97: each frame computed from its own time, so it never drifts
    for frame in (1, 1799, 1800, 539_460, 1_078_920, 1_078_919):
        t = frame * 1001 / 30000
        assert grid_frame(t, NTSC30) == frame
        assert grid_frame(round(t, 6), NTSC30) == frame  # the events file keeps microseconds


# --- OpenTimelineIO ---------------------------------------------------------------------------


@needs_otio
def test_otio_round_trip(events, tmp_path):
    out = write_otio(events, tmp_path / "m.otio")
    tl = otio.adapters.read_from_file(str(out))
    clips = list(tl.find_clips())
    assert len(clips) == 1
    clip = clips[0]
    assert clip.media_reference.target_url == Path("/media/clip.mp4").resolve().as_uri()
    rate = exact_rate(events.video.fps)
    avail = clip.media_reference.available_range
    assert avail.start_time.value == 0 and avail.duration.rate == pytest.approx(float(rate))
    assert avail.duration.to_seconds() == pytest.approx(events.video.duration, abs=0.5 / float(rate))
    markers = _markers(tl)
    assert len(markers) == len(events)
    for k, (m, e) in enumerate(zip(markers, events.events, strict=True), 1):
        assert m.marked_range.start_time.rate == pytest.approx(float(rate))
        assert abs(m.marked_range.start_time.to_seconds() - e.time) <= 0.5 / float(rate) + 1e-9
        assert m.marked_range.duration.value == 0
        assert m.name == f"hit {k}"
        meta = m.metadata["actiondubber"]
        assert (meta["n"], meta["frame"], meta["time"], meta["score"], meta["x"], meta["y"]) == (
            k, e.frame, e.time, e.score, e.x, e.y)
        assert f"score {e.score:.3f}" in m.comment
    assert clip.metadata["actiondubber"]["params"]["detector"] == "test"
    # and through the package's reader
    assert [c.start for c in read_markers(out)] == [m.marked_range.start_time.to_seconds() for m in markers]


@needs_otio
def test_otio_markers_at_source_frames():
    ev = make_events(NTSC30, 20000, [1800, 19999])
    tl = build_timeline(ev, name="{n}@{frame}")
    assert [m.marked_range.start_time.value for m in _markers(tl)] == [1800, 19999]
    assert [m.name for m in _markers(tl)] == ["1@1800", "2@19999"]
    assert next(iter(tl.find_clips())).media_reference.available_range.duration.value == 20000


# --- EDL / FCP XML ------------------------------------------------------------------------------


@needs_edl
def test_edl_round_trip(events, tmp_path):
    out = write_edl(events, tmp_path / "m.edl")
    text = out.read_text()
    tc_rate = smpte_rate(events.video.fps)
    df = is_drop_frame(tc_rate)
    assert ("FCM: DROP FRAME" if df else "FCM: NON-DROP FRAME") in text.splitlines()[1]
    locs = re.findall(r"^\* LOC: (\d\d:\d\d:\d\d[:;]\d\d) +\w+ +(.*)$", text, re.MULTILINE)
    assert [name for _, name in locs] == [f"HIT {k}" for k in range(1, len(events) + 1)]
    assert not any(";" in tc for tc, _ in locs)  # locators count drop-frame with ':' (the FCM line says so)
    assert [tc for tc, _ in locs] == [smpte_timecode(e.time, float(tc_rate)).replace(";", ":")
                                      for e in events.events]
    # OTIO's own adapter reads the edit and every locator back
    tl = otio.adapters.read_from_file(str(out), rate=float(tc_rate))
    (clip,) = tl.find_clips()
    assert clip.source_range.duration.to_seconds() == pytest.approx(events.video.duration, abs=0.5 / float(tc_rate))
    assert len(_markers(tl)) == len(events)
    if not df:
        assert [m.marked_range.start_time.to_seconds() for m in _markers(tl)] == pytest.approx(
            [c.start for c in read_markers(out, fps=events.video.fps)])
    back = read_markers(out, fps=events.video.fps)
    assert len(back) == len(events)
    for c, e in zip(back, events.events, strict=True):
        assert abs(c.start - e.time) <= 0.5 / float(tc_rate) + 1e-9


@needs_edl
def test_edl_known_drop_frame_locator(tmp_path):
    ev = make_events(NTSC30, 20000, [1798, 1800, 17982])
    text = write_edl(ev, tmp_path / "m.edl").read_text()
    assert re.findall(r"\* LOC: (\S+)", text) == ["00:00:59:28", "00:01:00:02", "00:10:00:00"]
    with pytest.raises(InputError, match="frame rate"):
        read_markers(tmp_path / "m.edl")


@needs_fcp
def test_fcpxml_round_trip(events, tmp_path):
    out = write_fcpxml(events, tmp_path / "m.xml")
    tc_rate = smpte_rate(events.video.fps)
    tl = otio.adapters.read_from_file(str(out))
    (clip,) = tl.find_clips()
    assert clip.media_reference.target_url == Path("/media/clip.mp4").resolve().as_uri()
    markers = _markers(tl)
    assert [m.name for m in markers] == [f"hit {k}" for k in range(1, len(events) + 1)]
    for m, e in zip(markers, events.events, strict=True):
        assert abs(m.marked_range.start_time.to_seconds() - e.time) <= 0.5 / float(tc_rate) + 1e-9
        assert f"score {e.score:.3f}" in m.metadata["fcp_xml"]["comment"]
    text = out.read_text()
    assert ("<displayformat>DF</displayformat>" in text) == is_drop_frame(tc_rate)


# --- Audacity, SRT, WebVTT ----------------------------------------------------------------------


def test_cues_round_trip(events, tmp_path):
    written = export_events(events, {"audacity": tmp_path / "l.txt", "srt": tmp_path / "c.srt",
                                     "vtt": tmp_path / "c.vtt"})
    times = events.times
    labels = read_audacity(written["audacity"])
    assert [c.start for c in labels] == pytest.approx(times, abs=1e-6)
    assert all(c.end == c.start for c in labels)
    assert [c.text for c in labels] == [f"hit {k} (score {e.score:.2f})" for k, e in enumerate(events.events, 1)]
    for fmt, sep in (("srt", ","), ("vtt", ".")):
        cues = read_cues(written[fmt])
        assert [c.start for c in cues] == pytest.approx(times, abs=1e-3)
        assert [c.text for c in cues] == [c.text for c in labels]
        for k, c in enumerate(cues):
            assert c.end > c.start and c.end <= c.start + 0.1 + 1e-3
            if k + 1 < len(cues):
                assert c.end <= cues[k + 1].start + 1e-9
        stamps = re.findall(r"^(\S+) --> (\S+)$", written[fmt].read_text(), re.MULTILINE)
        assert len(stamps) == len(events)
        assert all(re.fullmatch(rf"\d\d:\d\d:\d\d{re.escape(sep)}\d\d\d", s) for pair in stamps for s in pair)
    assert written["vtt"].read_text().startswith("WEBVTT\n\n")


def test_cue_formats_exact_text():
    base = make_events(25, 100000, [0, 3, 90125])
    scores = (0.5, 0.824, 0.1)
    ev = Events(base.video, tuple(Event(e.frame, e.time, s) for e, s in zip(base.events, scores, strict=True)))
    assert srt_text(ev).splitlines()[:8] == [
        "1", "00:00:00,000 --> 00:00:00,100", "hit 1 (score 0.50)", "",
        "2", "00:00:00,120 --> 00:00:00,220", "hit 2 (score 0.82)", ""]
    vtt = vtt_text(ev, name="clap #{n}", length=1.0).splitlines()
    assert vtt[:2] == ["WEBVTT", ""]
    assert vtt[-4:] == ["3", "01:00:05.000 --> 01:00:06.000", "clap #3 (score 0.10)", ""]
    # a cue is cut at the next event: frames 0 and 3 are 120 ms apart
    assert "00:00:00.000 --> 00:00:00.120" in vtt_text(ev, length=0.5)
    # and at the video's end
    assert srt_text(ev, length=1000.0).splitlines()[-3] == "01:00:05,000 --> 01:06:40,000"


def test_readers_reject_bad_files(tmp_path):
    bad = tmp_path / "x.vtt"
    bad.write_text("1\n00:00:01.000 --> 00:00:02.000\nhi\n")
    with pytest.raises(InputError, match="WEBVTT"):
        read_vtt(bad)
    bad = tmp_path / "x.srt"
    bad.write_text("1\nno times here\n")
    with pytest.raises(InputError, match="-->"):
        read_srt(bad)
    bad = tmp_path / "x.txt"
    bad.write_text("abc\tdef\tlabel\n")
    with pytest.raises(InputError, match="line 1"):
        read_audacity(bad)
    with pytest.raises(InputError, match="not found"):
        read_cues(tmp_path / "missing.srt")


# --- validation -----------------------------------------------------------------------------------


def test_events_beyond_duration_rejected(tmp_path):
    ev = make_events(25, 100, [10, 50])
    late = Events(ev.video, ev.events + (Event(120, 4.8, 0.5),), ev.scores, ev.params)
    with pytest.raises(InputError, match="beyond the end"):
        check_events(late)
    with pytest.raises(InputError, match="beyond the end"):
        export_events(late, {"srt": tmp_path / "c.srt", "otio": tmp_path / "m.otio"})
    assert list(tmp_path.iterdir()) == []
    negative = Events(ev.video, (Event(0, -0.5, 0.5),), ev.scores, ev.params)
    with pytest.raises(InputError, match="invalid time"):
        check_events(negative)


def test_export_validates_before_writing(tmp_path):
    ev = make_events(25, 100, [10, 50], path=str(tmp_path / "clip.mp4"))
    (tmp_path / "clip.mp4").write_bytes(b"not really a video")
    with pytest.raises(OutputError, match="same as the input"):
        export_events(ev, {"srt": tmp_path / "c.srt", "vtt": tmp_path / "clip.mp4"})
    with pytest.raises(OutputError, match="same file"):
        export_events(ev, {"srt": tmp_path / "c.srt", "vtt": tmp_path / "c.srt"})
    with pytest.raises(InputError, match="unknown field"):
        export_events(ev, {"srt": tmp_path / "c.srt"}, name="{who}")
    with pytest.raises(InputError, match="unknown export format"):
        export_events(ev, {"mp3": tmp_path / "c.mp3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert (tmp_path / "clip.mp4").read_bytes() == b"not really a video"


@needs_otio
def test_empty_events_write_valid_empty_files(tmp_path):
    ev = make_events(NTSC30, 300, [])
    outs = {fmt: tmp_path / f"e.{fmt}" for fmt in ("otio", "audacity", "srt", "vtt", "csv")}
    outs["audacity"] = tmp_path / "e.txt"
    if _has_adapter("cmx_3600"):
        outs["edl"] = tmp_path / "e.edl"
    if _has_adapter("fcp_xml"):
        outs["fcpxml"] = tmp_path / "e.xml"
    written = export_events(ev, outs)
    assert set(written) == set(outs)
    for fmt in ("otio", "edl", "fcpxml"):
        if fmt in written:
            assert read_markers(written[fmt], fps=29.97) == []
            assert len(list(otio.adapters.read_from_file(str(written[fmt]), **(
                {"rate": float(NTSC30)} if fmt == "edl" else {})).find_clips())) == 1
    assert read_audacity(written["audacity"]) == [] and read_srt(written["srt"]) == []
    assert read_vtt(written["vtt"]) == [] and written["vtt"].read_text() == "WEBVTT\n\n"
    assert written["csv"].read_text().splitlines() == ["frame,time,timecode,score,x,y"]


# --- CLI --------------------------------------------------------------------------------------------


def _all_outputs(tmp_path: Path) -> tuple[list[str], dict[str, Path]]:
    outs = {"otio": tmp_path / "m.otio", "audacity": tmp_path / "l.txt", "srt": tmp_path / "c.srt",
            "vtt": tmp_path / "c.vtt", "csv": tmp_path / "e.csv"}
    if _has_adapter("cmx_3600"):
        outs["edl"] = tmp_path / "m.edl"
    if _has_adapter("fcp_xml"):
        outs["fcpxml"] = tmp_path / "m.xml"
    args = [a for fmt, p in outs.items() for a in (f"--{fmt}", str(p))]
    return args, outs


@needs_otio
def test_cli_end_to_end_with_real_video(make_video, tmp_path):
    """A real 29.97 fps file: probe it, mark three frames, export everything with --video, read it all back."""
    video = make_video(tmp_path / "clip.mp4", n_frames=60, size=(64, 48), fps=30000 / 1001)
    info = probe(video)
    assert exact_rate(info.fps) == NTSC30
    ev = Events(info, tuple(Event(f, info.time_of(f), 0.25 * k, 12.0, 34.0) for k, f in enumerate((5, 30, 59), 1)))
    save_events(ev, tmp_path / "events.json")
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(video.read_bytes())
    args, outs = _all_outputs(tmp_path)
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "events.json"), *args, "--video", str(copy),
                                   "--name", "clap {n} @{frame}"])
    assert res.exit_code == 0, res.output + res.stderr
    assert len(res.stdout.splitlines()) == len(outs) and res.stderr == ""
    tl = otio.adapters.read_from_file(str(outs["otio"]))
    (clip,) = tl.find_clips()
    assert clip.media_reference.target_url == copy.resolve().as_uri()
    assert clip.media_reference.available_range.duration.value == 60
    assert [m.marked_range.start_time.value for m in _markers(tl)] == [5, 30, 59]
    assert [m.name for m in _markers(tl)] == ["clap 1 @5", "clap 2 @30", "clap 3 @59"]
    times = [info.time_of(f) for f in (5, 30, 59)]
    for fmt in ("audacity", "srt", "vtt"):
        cues = read_cues(outs[fmt])
        assert [c.start for c in cues] == pytest.approx(times, abs=1e-3)
        assert cues[1].text == "clap 2 @30 (score 0.50)"
    for fmt in ("edl", "fcpxml"):
        if fmt in outs:
            assert [c.start for c in read_markers(outs[fmt], fps=info.fps)] == pytest.approx(times, abs=0.5 / 29.97)
    if "edl" in outs:
        assert "* LOC: 00:00:01:00 RED     CLAP 2 @30" in outs["edl"].read_text()
    assert [int(r.split(",")[0]) for r in outs["csv"].read_text().splitlines()[1:]] == [5, 30, 59]
    assert load_events(tmp_path / "events.json").frames == [5, 30, 59]  # input untouched


@needs_otio
def test_cli_empty_events_warns(tmp_path):
    save_events(make_events(25, 50, []), tmp_path / "events.json")
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "events.json"), "--srt", str(tmp_path / "c.srt"),
                                   "--otio", str(tmp_path / "m.otio")])
    assert res.exit_code == 0, res.stderr
    assert "no events" in res.stderr and (tmp_path / "c.srt").read_text() == ""
    assert _markers(otio.adapters.read_from_file(str(tmp_path / "m.otio"))) == []


@pytest.mark.parametrize("case", ["missing", "not_json", "not_events", "beyond", "out_is_input", "bad_name", "none"])
def test_cli_bad_inputs(case, tmp_path):
    events = tmp_path / "events.json"
    out = tmp_path / "c.srt"
    args = ["export", str(events), "--srt", str(out), "--otio", str(tmp_path / "m.otio")]
    if case != "missing":
        save_events(make_events(25, 100, [10, 50]), events)
    if case == "not_json":
        events.write_text("frame,time\n1,0.04\n")
    elif case == "not_events":
        events.write_text(json.dumps({"hello": 1}))
    elif case == "beyond":
        d = json.loads(events.read_text())
        d["events"].append({"frame": 400, "time": 16.0, "score": 0.5})
        events.write_text(json.dumps(d))
    elif case == "out_is_input":
        args = ["export", str(events), "--srt", str(tmp_path / "c.srt"), "--vtt", str(events)]
    elif case == "bad_name":
        args += ["--name", "hit {count}"]
    elif case == "none":
        args = ["export", str(events)]
    before = events.read_bytes() if events.exists() else None
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    err = [line for line in res.stderr.splitlines() if line.strip()]
    if case == "none":
        assert "at least one output" in res.stderr
    else:
        assert len(err) == 1 and err[0].startswith("actiondubber: error: "), res.stderr
        assert "Traceback" not in res.output
    expected = {"missing": "not found", "not_json": "not valid JSON", "not_events": "not an actiondubber",
                "beyond": "beyond the end", "out_is_input": "same as the input", "bad_name": "unknown field"}
    if case in expected:
        assert expected[case] in err[0]
    assert not out.exists() and not (tmp_path / "m.otio").exists()
    assert (events.read_bytes() if events.exists() else None) == before


def test_formats_listed():
    assert set(FORMATS) == {"otio", "edl", "fcpxml", "audacity", "srt", "vtt", "csv"}


@needs_otio
def test_cli_video_reference(make_video, tmp_path):
    """A relative video path in the events file is found beside it; --video is probed and checked against the events."""
    long = make_video(tmp_path / "clip.mp4", n_frames=50, size=(64, 48), fps=25)
    ev = Events(replace(probe(long), path="clip.mp4"), (Event(10, 0.4, 0.9), Event(45, 1.8, 0.7)))
    save_events(ev, tmp_path / "events.json")
    out = tmp_path / "m.otio"
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "events.json"), "--otio", str(out)])
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    (clip,) = otio.adapters.read_from_file(str(out)).find_clips()
    assert clip.media_reference.target_url == long.resolve().as_uri()
    # a shorter copy: warned about, and the event at 1.8 s no longer fits
    short = make_video(tmp_path / "short.mp4", n_frames=30, size=(64, 48), fps=25)
    out.unlink()
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "events.json"), "--otio", str(out), "--video", str(short)])
    assert res.exit_code == 2 and "1.20" in res.stderr and "beyond the end" in res.stderr and not out.exists()
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "events.json"), "--otio", str(out), "--video",
                                   str(tmp_path / "nope.mp4")])
    assert res.exit_code == 2 and "video not found" in res.stderr and not out.exists()


def _df_frame(tc: str) -> int:
    """Frame number of a 29.97 drop-frame timecode, by the SMPTE rule (written here, not taken from OTIO)."""
    hh, mm, ss, ff = (int(x) for x in tc.replace(";", ":").split(":"))
    minutes = 60 * hh + mm
    return (3600 * hh + 60 * mm + ss) * 30 + ff - 2 * (minutes - minutes // 10)


def test_edl_drop_frame_markers_read_back_by_independent_readers(tmp_path):
    """29.97 fps: every locator is found by OpenTimelineIO's own EDL reader and lands on its frame."""
    import re

    import opentimelineio as otio

    from actiondubber.exporters.editors import markers_text, read_markers

    fps = 30000 / 1001
    n = 2400  # 80 s: past the first dropped frame numbers at minute 1
    info = VideoInfo("/tmp/df.mp4", 640, 360, fps, n, n / fps, False, tuple(i / fps for i in range(n)))
    frames = list(range(10, n, 89))
    ev = Events(info, tuple(Event(f, info.time_of(f), 1.0) for f in frames))
    text = markers_text(ev, "edl")
    assert "FCM: DROP FRAME" in text
    locs = re.findall(r"\* LOC: (\d\d:\d\d:\d\d[:;]\d\d)", text)
    assert [_df_frame(tc) for tc in locs] == frames  # independent drop-frame count
    tl = otio.adapters.read_from_string(text, "cmx_3600", rate=fps)  # plain OTIO, no help from us
    assert sum(len(c.markers) for c in tl.find_clips()) == len(frames)
    path = tmp_path / "df.edl"
    path.write_text(text, encoding="utf-8")
    back = read_markers(path, fps=fps)
    assert [round(c.start * fps) for c in back] == frames
