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


def _frames(shifts, h=96, w=128, seed=0):
    """Grey frames of one textured picture seen through a camera that moves by *shifts* (px per frame)."""
    import cv2

    from actiondubber.video import Frame

    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + 80, w + 80)).astype(np.float32), (0, 0), 2.0)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    x = y = 40.0
    out = []
    for i, (dx, dy) in enumerate([(0.0, 0.0), *shifts]):
        x, y = x + dx, y + dy
        m = np.float32([[1, 0, -x], [0, 1, -y]])
        out.append(Frame(index=i, time=i / 25.0, image=cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR)))
    return out


def test_camera_margin_leaves_a_band_as_wide_as_the_shake():
    """A moving camera leaves out a border band of margin x its largest per-frame shift; a still one keeps all."""
    from actiondubber.kinematics.flow import DISFlow
    from actiondubber.kinematics.inflection import border_band, iter_kinematics

    shaky = _frames([(3.0, 0.0), (-3.0, 1.0), (3.0, -1.0), (-3.0, 0.0), (3.0, 1.0)])
    kins = list(iter_kinematics(shaky, DISFlow("fast"), camera_margin=2.0))
    assert kins
    for k in kins:
        assert 2.4 < k.camera_shift < 3.6
        band = int(2.0 * k.camera_shift)
        assert k.inside is not None and k.inside.shape == k.v_plus.shape[:2]
        assert not k.inside[:band].any() and not k.inside[:, -band:].any()
        assert k.inside[band:-band, band:-band].all()
    still = list(iter_kinematics(_frames([(0.0, 0.0)] * 4), DISFlow("fast"), camera_margin=2.0))
    assert all(k.camera_shift < 0.5 and k.inside is None for k in still)
    off = list(iter_kinematics(shaky, DISFlow("fast")))
    assert all(k.camera_shift == 0.0 and k.inside is None for k in off)
    b = border_band(10, 12, 3)
    assert b.sum() == (10 - 6) * (12 - 6) and not border_band(10, 12, 5).any()
