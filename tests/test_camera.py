"""Shake-robust camera motion (kinematics/camera.py): global fit plus a smooth background field."""

from __future__ import annotations

import numpy as np

from actiondubber.kinematics.camera import background_field, compensate_local
from actiondubber.kinematics.globalmotion import compensate


def _wobbly_flow(h=96, w=160):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0] = 1.5 + 3.0 * np.sin(2 * np.pi * ys / h * 0.6)  # rolling shutter under shake: x shift varies with row
    f[..., 1] = 0.3 + 0.004 * xs
    mover = (slice(40, 52), slice(70, 82))
    f[mover] += np.array([0.0, 4.0], np.float32)  # a small object moving down 4 px/frame
    return f, mover


def test_local_compensation_removes_the_wobble_and_keeps_the_mover():
    f, mover = _wobbly_flow()
    aff = compensate(f, "affine")
    loc = compensate_local(f)
    bg = np.ones(f.shape[:2], bool)
    bg[30:62, 60:92] = False  # away from the mover
    bg[:8] = bg[-8:] = False  # and from the borders, where the grid extrapolates
    assert np.abs(aff[bg]).mean() > 0.6  # one affine map leaves the row wobble in
    assert np.abs(loc[bg]).mean() < 0.3 * np.abs(aff[bg]).mean()
    assert np.abs(loc[mover][..., 1].mean() - 4.0) < 0.6  # the mover keeps its own motion
    assert np.abs(compensate(f, "local") - loc).max() == 0


def test_background_field_of_still_picture_is_zero():
    assert not background_field(np.zeros((64, 64, 2), np.float32)).any()
