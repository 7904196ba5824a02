"""Small movers (detection/tracks.py): a ball a few pixels across in a wide shot, under camera shake."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from actiondubber.detection import detect
from actiondubber.detection.detector import DetectorParams, nothing_resolved
from actiondubber.detection.tracks import (
    Track,
    TrackParams,
    link_tracks,
    merge_nearby,
    small_mover_events,
    track_bounces,
)
from actiondubber.errors import ParameterError
from actiondubber.evaluate.metrics import prf_frames
from actiondubber.video.writer import write_video

W, H, N = 640, 360, 96


def _ball_path(n=N, x0=40.0, vx=5.5, y0=110.0, floor=300.0, g=1.1, e=0.78):
    """Centre of a ball bouncing on a floor (sub-stepped), and the frames nearest each contact."""
    xs, ys, bounces = [], [], []
    x, y, vy, sub = x0, y0, 0.0, 20
    for i in range(n):
        xs.append(x)
        ys.append(y)
        for k in range(sub):
            vy += g / sub
            y += vy / sub
            if y >= floor and vy > 0:
                y, vy = floor, -e * vy
                t = i + (k + 1) / sub
                bounces.append(int(round(t)))
        x += vx
    return np.array(xs), np.array(ys), sorted(set(bounces))


def _scene(path, *, ball=True, big_mover=False, seed=0):
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.uniform(40, 200, (H + 16, W + 16, 3)).astype(np.float32), (0, 0), 2.5)
    xs, ys, bounces = _ball_path()
    jitter = rng.integers(-2, 3, (N, 2))  # a hand-held camera: whole-pixel shake

    def frames():
        for i in range(N):
            dx, dy = jitter[i]
            img = bg[8 + dy: 8 + dy + H, 8 + dx: 8 + dx + W].copy()
            if ball:
                cv2.circle(img, (int(round(xs[i] * 4)), int(round(ys[i] * 4))), 10, (250, 250, 240), -1,
                           lineType=cv2.LINE_AA, shift=2)
            if big_mover:  # a large block sliding back and forth: the flow detector's business, not the tracker's
                x = int(200 + 120 * np.sin(i / 6.0))
                img[150:260, x: x + 90] = (30, 60, 200)
            yield np.clip(img, 0, 255).astype(np.uint8)

    write_video(path, frames(), 30, crf=18)
    return bounces


@pytest.fixture(scope="module")
def far_ball(tmp_path_factory):
    p = tmp_path_factory.mktemp("tracks") / "far ball é.mp4"
    return p, _scene(p)


def test_tracker_finds_the_bounces_of_a_small_ball_under_shake(far_ball):
    path, bounces = far_ball
    bounces = [b for b in bounces if b <= N - 6]  # a bounce needs four frames after it to be seen
    assert len(bounces) >= 3
    found, size = small_mover_events(path, TrackParams(short_side=360))
    assert size == (W, H)
    frames = [f for f, *_ in found]
    assert prf_frames(bounces, frames, k=2).f1 >= 0.8, (bounces, found)
    for _f, _x, y, s in found:  # each at the floor, with a score in the flow detector's unit
        assert abs(y - 300) < 12 and s > 0


def test_small_objects_option_adds_the_bounces_to_the_events(far_ball, tmp_path):
    path, bounces = far_ball
    bounces = [b for b in bounces if b <= N - 6]
    plain = detect(path, small_objects_fallback=0)
    both = detect(path, small_objects=360)
    assert set(plain.frames) <= set(both.frames)
    assert prf_frames(bounces, both.frames, k=2).recall >= prf_frames(bounces, plain.frames, k=2).recall
    assert prf_frames(bounces, both.frames, k=2).recall >= 0.8
    assert both.params["small_objects"]["short_side"] == 360
    out = tmp_path / "ev.json"
    from click.testing import CliRunner

    from actiondubber.cli import cli

    r = CliRunner().invoke(cli, ["-q", "detect", str(path), "--small-objects", "360", "--json", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert len(data["events"]) == len(both.events)
    r = CliRunner().invoke(cli, ["-q", "count", str(path), "--small-objects", "360"])  # counting sees them too
    assert r.exit_code == 0, r.output
    assert r.output.split("\t")[1] == str(len(both.events))


def test_fallback_tracks_when_the_flow_sees_nothing(far_ball):
    """The flow detector finds no event on the far ball (no change passes the floor), so by default the
    tracker runs instead; with the fallback off the events stay empty."""
    path, bounces = far_ball
    bounces = [b for b in bounces if b <= N - 6]
    off = detect(path, small_objects_fallback=0)
    assert off.frames == [] and nothing_resolved(off, DetectorParams())
    on = detect(path, small_objects_fallback=360)
    assert prf_frames(bounces, on.frames, k=2).f1 >= 0.8, (bounces, on.frames)
    assert on.params["small_objects"]["short_side"] == 360


def test_fallback_leaves_a_clip_with_events_alone(tmp_path):
    from actiondubber.synth import render_clip

    clip = render_clip(tmp_path / "juggle.mp4", scene="juggle", seconds=2.0, fps=30, size=(240, 180), seed=3)
    plain = detect(clip.path, small_objects_fallback=0)
    assert plain.frames  # the flow detector sees this ball
    assert not nothing_resolved(plain, DetectorParams())
    fb = detect(clip.path)
    assert fb.frames == plain.frames and fb.params["small_objects"] == 0


def test_a_large_mover_gives_no_small_mover_events(tmp_path):
    p = tmp_path / "block.mp4"
    _scene(p, ball=False, big_mover=True, seed=1)
    found, _ = small_mover_events(p, TrackParams(short_side=360))
    assert found == []


def test_bad_small_objects_size_is_one_line(far_ball):
    from click.testing import CliRunner

    from actiondubber.cli import cli

    with pytest.raises(ParameterError):
        TrackParams(short_side=8)
    r = CliRunner().invoke(cli, ["-q", "detect", str(far_ball[0]), "--small-objects", "8"])
    assert r.exit_code != 0
    assert "Traceback" not in r.output


def test_linking_follows_a_bounce_and_finds_it_once():
    """A blob falling, turning round at the floor and rising: one track, one bounce at the turn."""
    ys = [100, 112, 126, 142, 160, 180, 166, 154, 144, 136, 130]
    dets = [(i, [(200.0 + 3 * i, float(y), 80.0), (50.0 + 40 * (i % 3), 20.0, 15.0)]) for i, y in enumerate(ys)]
    tracks = [t for t in link_tracks(dets, TrackParams(short_side=360)) if len(t.frames) >= 6]
    assert len(tracks) == 1 and tracks[0].frames == list(range(len(ys)))
    b = track_bounces(tracks[0], TrackParams(short_side=360))
    assert [f for f, *_ in b] == [5]
    # a track flying straight has none, and a short one none either
    straight = Track(list(range(10)), [10.0 * i for i in range(10)], [5.0 * i for i in range(10)], [80.0] * 10)
    assert track_bounces(straight, TrackParams(short_side=360)) == []
    assert track_bounces(Track([0, 1, 2], [0, 1, 2], [0, 5, 0], [1, 1, 1]), TrackParams()) == []


def test_merge_nearby_keeps_the_strongest():
    ev = [(10, 100.0, 100.0, 2.0), (11, 104.0, 102.0, 5.0), (11, 300.0, 100.0, 1.0), (20, 100.0, 100.0, 1.0)]
    assert merge_nearby(ev, frames=2, radius=20) == [(11, 104.0, 102.0, 5.0), (11, 300.0, 100.0, 1.0),
                                                     (20, 100.0, 100.0, 1.0)]
