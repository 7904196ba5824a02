"""The training-free detector: peak picking, end-to-end detection, the CLI and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber import detect
from actiondubber.cli import cli
from actiondubber.detection import pick_peaks, sensitivity_to_delta
from actiondubber.errors import InputError, ParameterError
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import prf_frames
from actiondubber.events import load_events
from actiondubber.synth import render_clip

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


# ---------------------------------------------------------------- peak picking
def test_pick_peaks_finds_isolated_spikes():
    x = np.full(100, 0.1)
    x[[10, 40, 75]] = [1.0, 0.8, 0.6]
    assert pick_peaks(x).tolist() == [10, 40, 75]


def test_pick_peaks_min_gap_keeps_the_stronger():
    x = np.zeros(50)
    x[20], x[22] = 1.0, 0.7
    assert pick_peaks(x, min_gap=3).tolist() == [20]
    assert pick_peaks(x, min_gap=2).tolist() == [20, 22]


def test_pick_peaks_floor_and_flat_and_nan():
    x = np.zeros(60)
    x[30] = 0.2
    assert pick_peaks(x, floor=0.5).tolist() == []
    assert pick_peaks(x, floor=0.1).tolist() == [30]
    assert pick_peaks(np.zeros(40)).tolist() == []
    assert pick_peaks(np.array([])).tolist() == []
    y = x.copy()
    y[5] = np.nan
    assert pick_peaks(y, floor=0.1).tolist() == [30]


def test_pick_peaks_needs_rise_above_running_median():
    # a plateau is not a series of events; a bump on it is
    x = np.full(80, 1.0)
    x[40] = 1.05
    assert pick_peaks(x, delta=0.2).tolist() == []
    x[40] = 2.0
    assert pick_peaks(x, delta=0.2).tolist() == [40]


def test_sensitivity_is_monotonic():
    d = [sensitivity_to_delta(s) for s in np.linspace(0, 1, 11)]
    assert all(a >= b for a, b in zip(d, d[1:], strict=False))
    assert d[-1] == 0.0


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def bounce_clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "bounce.mp4"
    return render_clip(out, scene="juggle", seconds=3.0, fps=30, size=(240, 180), seed=3)


def test_detect_finds_synthetic_collisions(bounce_clip):
    ev = detect(bounce_clip.path)
    assert ev.video.n_frames == bounce_clip.n_frames
    assert len(ev.scores) == bounce_clip.n_frames
    truth = bounce_clip.labelled_frames
    assert len(truth) >= 2
    assert prf_frames(truth, ev.frames, k=2).f1 >= 0.8, (truth, ev.frames)
    for e in ev.events:
        assert e.time == pytest.approx(bounce_clip.times[e.frame], abs=1e-3)
        assert 0 <= e.x < bounce_clip.width and 0 <= e.y < bounce_clip.height


def test_detect_locates_the_bouncing_object(bounce_clip):
    ev = detect(bounce_clip.path)
    for c in bounce_clip.collisions:
        near = [e for e in ev.events if abs(e.frame - c.frame) <= 2]
        if near:
            e = near[0]
            assert abs(e.x - c.x) < 40 and abs(e.y - c.y) < 40, (e, c)


def test_silent_distractors_give_few_events(tmp_path):
    # Pendulums and a smoothly sliding box, no collision at all. Measured: 19 false events in 18 s
    # over these six seeds (a known weakness: flow glitches on the untextured sliding box).
    n_false, seconds = 0, 0.0
    for seed in range(1, 7):
        clip = render_clip(tmp_path / f"p{seed}.mp4", scene="pendulum", seconds=3.0, fps=30, size=(240, 180), seed=seed)
        assert clip.labelled_frames == ()
        n_false += len(detect(clip.path))
        seconds += 3.0
    assert n_false / seconds <= 1.5


def test_vfr_event_times_come_from_the_container(tmp_path):
    clip = render_clip(tmp_path / "vfr.mp4", scene="juggle", seconds=3.0, fps=30, size=(240, 180), seed=3, vfr=True)
    ev = detect(clip.path)
    assert len(ev) >= 1
    assert np.allclose(ev.video.timestamps, clip.times, atol=1e-3)
    for e in ev.events:
        assert e.time == pytest.approx(clip.times[e.frame], abs=1e-3)
    assert prf_frames(clip.labelled_frames, ev.frames, k=2).f1 >= 0.6


def test_detect_rejects_unknown_option(bounce_clip):
    with pytest.raises(ParameterError):
        detect(bounce_clip.path, sensitivty=0.4)
    with pytest.raises(InputError):
        detect(bounce_clip.path, sensitivity=2.0)


def test_cli_detect_writes_json_csv_plot(bounce_clip, tmp_path):
    j, c, p = tmp_path / "ev.json", tmp_path / "ev.csv", tmp_path / "curve.png"
    res = CliRunner().invoke(cli, ["detect", bounce_clip.path, "--json", str(j), "--csv", str(c), "--plot", str(p)])
    assert res.exit_code == 0, res.output
    assert "audible event(s)" in res.stdout
    d = json.loads(j.read_text())
    for key in ("video", "fps", "n_frames", "duration", "params", "events", "scores", "times"):
        assert key in d
    assert len(d["scores"]) == d["n_frames"] == bounce_clip.n_frames
    assert d["params"]["backend"] == "dis" and d["params"]["short_side"] == 128
    assert set(d["events"][0]) == {"frame", "time", "score", "x", "y"}
    rows = c.read_text().strip().splitlines()
    assert rows[0] == "frame,time,timecode,score,x,y" and len(rows) == len(d["events"]) + 1
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ev = load_events(j)
    assert ev.frames == [e["frame"] for e in d["events"]]
    assert not [f for f in os.listdir(tmp_path) if ".part" in f]


def test_cli_detect_sensitivity_changes_count(bounce_clip):
    lo = CliRunner().invoke(cli, ["detect", bounce_clip.path, "-s", "0.0"])
    hi = CliRunner().invoke(cli, ["detect", bounce_clip.path, "-s", "1.0"])
    n = [int(r.stdout.split(": ")[1].split()[0]) for r in (lo, hi)]
    assert n[0] <= n[1] and n[1] > 0


# ---------------------------------------------------------------- bad input
def _run(args):
    res = CliRunner().invoke(cli, args)
    return res.exit_code, res.stderr


def _one_clean_line(code, err):
    assert code != 0
    assert err.startswith("actiondubber: error:"), err
    assert err.strip().count("\n") == 0, err
    assert "Traceback" not in err


def test_bad_inputs_give_one_clean_line(tmp_path, make_video, make_audio):
    out = tmp_path / "o.json"
    cases = {}
    cases["missing"] = tmp_path / "nope.mp4"
    cases["directory"] = tmp_path
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file, not a video\n" * 20)
    cases["text"] = text
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases["empty"] = empty
    good = make_video(tmp_path / "good.mp4", n_frames=30)
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = trunc
    cases["audio only"] = make_audio(tmp_path / "tone.m4a")
    cases["one frame"] = make_video(tmp_path / "one.mp4", n_frames=1)
    cases["two frames"] = make_video(tmp_path / "two.mp4", n_frames=2)
    for name, path in cases.items():
        code, err = _run(["detect", str(path), "--json", str(out)])
        _one_clean_line(code, err)
        assert not out.exists(), name
    code, err = _run(["detect", str(cases["two frames"])])
    assert "at least 3" in err


def test_bad_output_paths(tmp_path, make_video):
    video = make_video(tmp_path / "v.mp4", n_frames=12)
    before = video.read_bytes()
    code, err = _run(["detect", str(video), "--json", str(video)])
    _one_clean_line(code, err)
    assert "same as the input" in err and video.read_bytes() == before
    code, err = _run(["detect", str(video), "--csv", str(tmp_path / "no" / "such" / "dir" / "x.csv")])
    _one_clean_line(code, err)
    code, err = _run(["detect", str(video), "--json", str(tmp_path / "a.json"), "--csv", str(tmp_path / "a.json")])
    _one_clean_line(code, err)
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        code, err = _run(["detect", str(video), "--json", str(ro / "x.json")])
        _one_clean_line(code, err)


# ---------------------------------------------------------------- a real clip
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real not present (real clips are not in the repo)")
def test_real_clip_stick_hits():
    labels = read_labels(REAL / "labels_human_greatesthits.csv").videos["greatesthits_stick_sink"]
    ev = detect(REAL / "greatesthits_stick_sink.mp4")
    assert ev.video.n_frames == 90
    assert prf_frames(labels.frames, ev.frames, k=2).f1 >= 0.7, ev.frames


# ---------------------------------------------------------------- persistence check
def _kin(index: int, v_in: tuple[float, float], v_out: tuple[float, float]):
    from actiondubber.kinematics import Kinematics

    shape = (24, 24)
    vi = np.zeros(shape + (2,), np.float32)
    vo = np.zeros(shape + (2,), np.float32)
    vi[...] = v_in
    vo[...] = v_out
    img = np.zeros(shape, np.uint8)
    return Kinematics(index, index / 30, img, vo, -vi, vo - vi, change=np.full(shape, 80, np.uint8))


def test_persistence_rejects_a_one_pair_glitch_but_keeps_a_stop():
    from actiondubber.detection.strength import strength_map

    down = (0.0, 5.0)
    # velocity per pair: 5, 5, [0 glitch], 5, 5  -> frame 2 sees 5 -> 0, frame 3 sees 0 -> 5
    glitch = [_kin(1, down, down), _kin(2, down, (0, 0)), _kin(3, (0, 0), down), _kin(4, down, down)]
    # a real stop: 5, 5, 0, 0, 0
    stop = [_kin(1, down, down), _kin(2, down, (0, 0)), _kin(3, (0, 0), (0, 0)), _kin(4, (0, 0), (0, 0))]
    for seq, expect_event in ((glitch, False), (stop, True)):
        alone = float(strength_map(seq[1], change_gate=0).max())
        checked = float(strength_map(seq[1], change_gate=0, prev=seq[0], nxt=seq[2]).max())
        assert alone == pytest.approx(5.0, abs=1e-3)
        assert (checked > 4.0) is expect_event, (checked, expect_event)


def test_isolated_repeated_frames_are_skipped_and_still_runs_kept():
    from actiondubber.detection.footage import skip_repeated_frames
    from actiondubber.video.reader import Frame

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (40, 60), dtype=np.uint8)

    def moving(k: int) -> np.ndarray:  # the texture shifted by k pixels: every frame differs
        return np.roll(base, 3 * k, axis=1)

    # 0..9 moving, with the picture of frame 4 shown again as frame 5 (a repeat), then shifts 6..9
    images = [moving(k) for k in range(5)] + [moving(4)] + [moving(k) for k in range(5, 9)]
    # then a scene that stands still for 4 frames, then moves again
    images += [moving(8)] * 4 + [moving(k) for k in range(9, 12)]
    frames = [Frame(i, i / 25, img) for i, img in enumerate(images)]
    stats: dict = {}
    kept = [f.index for f in skip_repeated_frames(frames, stats)]
    assert stats["skipped"] == [5]
    assert kept == [i for i in range(len(images)) if i != 5]
    # slight coding noise on the repeat is still a repeat; the first and last frames are always kept
    noisy = [f.image.copy() for f in frames]
    noisy[5] = np.clip(noisy[5].astype(int) + rng.integers(-2, 3, noisy[5].shape), 0, 255).astype(np.uint8)
    stats = {}
    list(skip_repeated_frames([Frame(i, i / 25, im) for i, im in enumerate(noisy)], stats))
    assert stats["skipped"] == [5]
    two = [Frame(0, 0.0, base), Frame(1, 0.04, base)]
    assert [f.index for f in skip_repeated_frames(two)] == [0, 1]


def test_repeated_end_frames_are_dropped_and_still_ends_kept():
    from actiondubber.detection.footage import drop_end_repeats
    from actiondubber.video.reader import Frame

    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (40, 60), dtype=np.uint8)
    moving = [np.roll(base, 3 * k, axis=1) for k in range(8)]
    # frame 0 repeated as frame 1 (leading duplicate), the last picture repeated at the end (trailing)
    images = [moving[0]] + moving + [moving[-1]]
    frames = [Frame(i, i / 25, img) for i, img in enumerate(images)]
    stats: dict = {}
    kept = [f.index for f in drop_end_repeats(frames, stats)]
    assert kept == list(range(1, len(images) - 1)) and stats["ends"] == [0, len(images) - 1]
    # no duplicate: all kept; a scene standing still at its end is not a repeat (nothing moves before it)
    assert [f.index for f in drop_end_repeats(frames[1:-1])] == list(range(1, len(images) - 1))
    still = [Frame(i, i / 25, base) for i in range(5)]
    assert [f.index for f in drop_end_repeats(still)] == list(range(5))
    # mid-clip repeats are not its business, and three frames are never cut to two
    mid = [Frame(i, i / 25, im) for i, im in enumerate(moving[:3] + [moving[2]] + moving[3:])]
    assert len(list(drop_end_repeats(mid))) == len(mid)
    three = [Frame(i, i / 25, im) for i, im in enumerate([moving[0], moving[1], moving[1]])]
    assert len(list(drop_end_repeats(three))) == 3
    # runs of repeats at both ends (a freeze of three frames), with slight coding noise
    noisy = [np.clip(im.astype(int) + rng.integers(-2, 3, im.shape), 0, 255).astype(np.uint8)
             for im in [moving[0]] * 3 + moving[1:] + [moving[-1]] * 3]
    stats = {}
    kept = [f.index for f in drop_end_repeats([Frame(i, i / 25, im) for i, im in enumerate(noisy)], stats)]
    assert stats["ends"] == [0, 1, len(noisy) - 3, len(noisy) - 2, len(noisy) - 1]
    assert kept == list(range(2, len(noisy) - 3))


@pytest.mark.skipif(not (REAL / "greatesthits_stick_step_edge.mp4").is_file(), reason="needs ../shared")
def test_a_duplicated_last_frame_is_not_an_impact():
    """The step clip ends on a duplicate while the stick moves fast: without the check the detector
    reports a hit on the second-to-last frame, which the audio key does not have."""
    clip = REAL / "greatesthits_stick_step_edge.mp4"
    on = detect(clip, multiscale=0)
    off = detect(clip, multiscale=0, end_repeats=False)
    last = on.video.n_frames - 2
    assert last in off.frames
    assert last not in on.frames and on.scores[last] == 0
    assert on.params["end_repeats"] is True


def test_find_cuts_needs_a_large_jump_against_its_neighbours():
    from actiondubber.detection.footage import find_cuts

    assert find_cuts([2.0, 3.0, 2.5, 40.0, 2.0, 3.0, 2.0]) == [3]
    assert find_cuts([15.0, 16.0, 17.0, 30.0, 16.0, 15.0]) == []  # fast motion everywhere: not a cut
    assert find_cuts([1.0, 1.5, 18.0, 1.0]) == []  # a fast swipe, below the floor
    assert find_cuts([30.0]) == [0] and find_cuts([]) == []


def test_find_dim_flags_fades_and_blank_pictures_not_dark_scenes():
    from actiondubber.detection.footage import find_dim

    fade = [40.0] * 10 + [30.0, 14.0, 3.0, 14.0, 30.0] + [40.0] * 10
    assert find_dim(fade) == [11, 12, 13]
    assert find_dim([9.0] * 30) == []  # a dark, low-contrast scene throughout is not a fade
    assert find_dim([2.0] * 5) == list(range(5))  # blank pictures are


def test_a_dip_through_black_is_not_an_impact(tmp_path):
    """A shot fading to black and the next fading in: the flow shrinks to noise as the contrast goes,
    which reads as everything stopping; with the check (the default) the dark frames give no event."""
    from actiondubber.video.reader import iter_frames
    from actiondubber.video.writer import write_video

    a = render_clip(tmp_path / "a.mp4", scene="bounce", size=(160, 120), seconds=2, seed=4, with_audio=False)
    b = render_clip(tmp_path / "b.mp4", scene="walls", size=(160, 120), seconds=2, seed=7, with_audio=False)
    fa = [f.image for f in iter_frames(a.path, short_side=None, pix_fmt="rgb24")]
    fb = [f.image for f in iter_frames(b.path, short_side=None, pix_fmt="rgb24")]
    k = len(fa) // 2
    gains = [1 - (j + 1) / 6 for j in range(5)] + [(j + 1) / 6 for j in range(5)]  # 10 frames, dark middle
    frames = fa[:k] + [(g * im).astype(np.uint8) for g, im in zip(gains, fa[k : k + 5] + fb[k : k + 5], strict=True)]
    frames += fb[k + 5 :]
    spliced = tmp_path / "faded.mp4"
    write_video(spliced, frames, 25, crf=18)
    dark = range(k + 2, k + 8)  # the frames below half brightness
    off = detect(spliced, cuts=False)
    on = detect(spliced)
    assert any(f in dark for f in off.frames)
    assert not any(f in dark for f in on.frames)


def test_a_shot_cut_is_not_an_impact(tmp_path):
    """Two synthetic shots spliced: across the cut the flow is meaningless; without the check the
    detector reports an event on the cut, with it (the default) there is none and the rest stay."""
    from actiondubber.video.reader import iter_frames
    from actiondubber.video.writer import write_video

    a = render_clip(tmp_path / "a.mp4", scene="bounce", size=(160, 120), seconds=2, seed=4, with_audio=False)
    b = render_clip(tmp_path / "b.mp4", scene="walls", size=(160, 120), seconds=2, seed=7, with_audio=False)
    fa = [f.image for f in iter_frames(a.path, short_side=None, pix_fmt="rgb24")]
    fb = [f.image for f in iter_frames(b.path, short_side=None, pix_fmt="rgb24")]
    cut = len(fa) // 2
    spliced = tmp_path / "spliced.mp4"
    write_video(spliced, fa[:cut] + fb[cut:], 25, crf=18)
    off = detect(spliced, cuts=False)
    on = detect(spliced)
    assert any(abs(f - cut) <= 1 for f in off.frames)
    assert not any(abs(f - cut) <= 2 for f in on.frames)
    assert [f for f in off.frames if abs(f - cut) > 2] == on.frames
    assert on.params["cuts"] is True and np.all(on.scores[cut - 2 : cut + 2] == 0)


def test_cli_skip_repeats_is_recorded(tmp_path):
    clip = render_clip(tmp_path / "c.mp4", scene="bounce", size=(160, 120), seconds=2, seed=4, with_audio=False)
    out = tmp_path / "ev.json"
    r = CliRunner().invoke(cli, ["detect", clip.path, "--skip-repeats", "--json", str(out)])
    assert r.exit_code == 0, r.output
    ev = load_events(out)
    assert ev.params["skip_repeats"] is True and len(ev.scores) == clip.n_frames


def test_detect_says_why_when_nothing_moves_enough(tmp_path):
    """No event because nothing passed the floor: one line on stderr says so (exit 0, outputs written);
    a clip with events gets no such line."""
    from actiondubber.video.writer import write_video

    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    video = write_video(tmp_path / "still.mp4", (still for _ in range(30)), 25, crf=18)
    j = tmp_path / "still.json"
    res = CliRunner().invoke(cli, ["detect", str(video), "--json", str(j)])
    assert res.exit_code == 0, res.output
    assert "no audible action found" in res.stderr and "under --floor 0.6" in res.stderr
    assert "the small-mover tracker found no bounce either" in res.stderr  # the fallback ran on its own
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1
    assert j.exists()
    plain = CliRunner().invoke(cli, ["detect", str(video), "--small-objects-fallback", "0"])
    assert "--small-objects 540" in plain.stderr  # the way to see a ball too small for the flow
    tracked = CliRunner().invoke(cli, ["detect", str(video), "--small-objects", "96"])
    assert "no audible action found" in tracked.stderr and "--small-objects 540" not in tracked.stderr
    low = CliRunner().invoke(cli, ["detect", str(video), "--floor", "0"])
    assert "no audible action found" not in low.stderr


def test_detect_no_hint_when_events_found(bounce_clip):
    res = CliRunner().invoke(cli, ["detect", bounce_clip.path])
    assert res.exit_code == 0
    assert "no audible action found" not in res.stderr
