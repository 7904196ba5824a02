"""The ``abrupt`` option of the deceleration strength: hits arrive at full speed, swings slow down first."""

from __future__ import annotations

import numpy as np
import pytest

from actiondubber.detection.strength import strength_map
from actiondubber.kinematics.inflection import Kinematics


def _kin(index: int, v_prev: float, v_in: float, v_out: float, v_next: float) -> tuple[Kinematics, ...]:
    """prev, cur, nxt items for a uniform downward motion with these per-pair speeds (px/frame)."""
    h, w = 24, 24
    img = np.zeros((h, w), np.uint8)
    change = np.full((h, w), 60, np.uint8)

    def field(vy: float) -> np.ndarray:
        f = np.zeros((h, w, 2), np.float32)
        f[..., 1] = vy
        return f

    def item(i: int, f_out: float, v_inn: float) -> Kinematics:
        vp, vm = field(f_out), field(-v_inn)
        return Kinematics(i, i / 30, img, vp, vm, vp + vm, change=change)

    return item(index - 1, v_in, v_prev), item(index, v_out, v_in), item(index + 1, v_next, v_out)


def _peak(kins, abrupt: float) -> float:
    prev, cur, nxt = kins
    return float(strength_map(cur, prev=prev, nxt=nxt, abrupt=abrupt)[12, 12])


def test_a_hit_at_full_speed_is_kept():
    hit = _kin(5, 5.0, 6.0, 0.0, 0.0)  # still speeding up when it stops
    assert _peak(hit, 2.0) == pytest.approx(_peak(hit, 0.0)) and _peak(hit, 0.0) > 1.0


def test_a_smooth_reversal_is_weakened():
    swing = _kin(5, 6.0, 3.0, -3.0, -6.0)  # slowing down before it turns back
    plain = _peak(swing, 0.0)
    assert plain > 1.0
    assert _peak(swing, 2.0) == pytest.approx(plain * 0.25, rel=0.02)
