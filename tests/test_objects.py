"""Per-object events (detect/objects.py): regions of the strength map, several events per frame."""

from __future__ import annotations

import numpy as np
import pytest
from motionclips import drops

from actiondubber.detection import DetectorParams, detect
from actiondubber.detection.objects import frame_regions, object_candidates, object_events, pick_object_events
from actiondubber.detection.strength import _top_mean  # the frame-level reference
from actiondubber.errors import InputError


@pytest.fixture(scope="module")
def two_drops(tmp_path_factory):
    p = tmp_path_factory.mktemp("objects") / "two.mp4"
    return p, drops(p, n_drops=3, xs=(30, 110), delays=(0, 1))


def test_frame_regions_splits_blobs_and_scores_like_the_frame_curve():
    m = np.zeros((60, 100), np.float32)
    m[10:20, 10:20] = 4.0
    m[40:50, 70:80] = 2.0
    regs = frame_regions(m, 0.01, 0.1)
    assert len(regs) == 2
    (s1, x1, y1), (s2, x2, y2) = regs
    assert s1 > s2 > 0
    assert 10 <= x1 < 20 and 10 <= y1 < 20 and 70 <= x2 < 80 and 40 <= y2 < 50
    one = m.copy()
    one[40:50, 70:80] = 0
    assert frame_regions(one, 0.01, 0.1)[0][0] == pytest.approx(_top_mean(one, 0.01))
    assert frame_regions(np.zeros((10, 10), np.float32), 0.01, 0.1) == []


def test_two_simultaneous_landings_give_two_events(two_drops):
    path, landings = two_drops
    left = landings[::2]
    frame_ev = detect(path)
    obj_ev = detect(path, events="objects")
    # the frame-level curve keeps one mover per landing pair; per-object events find both, each at its x
    assert len(frame_ev.events) <= 4
    for f in left:
        near = [e for e in obj_ev.events if abs(e.frame - f) <= 2 and e.y > 70]
        xs = sorted(e.x for e in near)
        assert xs and xs[0] < 60 and xs[-1] > 100, (f, [(e.frame, e.x, e.y) for e in obj_ev.events])
    assert obj_ev.params["events"] == "objects"


def test_object_events_reuse_candidates_and_offset(two_drops):
    path, _ = two_drops
    c = object_candidates(path, DetectorParams())
    assert c.frame.size == c.score.size > 0
    ev0 = object_events(c, DetectorParams())
    ev1 = object_events(c, DetectorParams(frame_offset=1))
    assert [e.frame + 1 for e in ev0.events if e.frame + 1 < ev0.video.n_frames] == [e.frame for e in ev1.events]
    # a huge radius makes one neighbourhood of the whole picture: at most one event per min_gap
    wide = pick_object_events(c, delta=0.25, min_gap=3, window=7, floor=0.6, radius=2.0)
    frames = sorted(int(c.frame[i]) for i in wide)
    assert all(b - a >= 3 for a, b in zip(frames, frames[1:], strict=False))


def test_bad_events_option():
    with pytest.raises(InputError):
        DetectorParams(events="pixels").validate()
