"""Flow and inflection maths on generated frames with known motion."""

from __future__ import annotations

import numpy as np
import pytest

from actiondubber.kinematics import compensate, global_flow, inflectional_flow, iter_kinematics, make_flow_backend
from actiondubber.kinematics.flow import DISFlow, FarnebackFlow, TVL1Flow
from actiondubber.video.reader import Frame

H, W = 96, 128


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    t = rng.integers(0, 255, (h, w)).astype(np.uint8)
    return cv2.GaussianBlur(t, (0, 0), 1.5)


def _scene(positions: list[tuple[float, float]], *, bg_shift: list[float] | None = None) -> list[Frame]:
    """Frames of a textured 24-px square at integer *positions* over a textured background."""
    bg = _texture(H + 64, W + 64, 1)
    sq = _texture(24, 24, 2) // 2 + 128
    frames = []
    for i, (x, y) in enumerate(positions):
        s = int(bg_shift[i]) if bg_shift else 0
        img = bg[32 : 32 + H, 32 + s : 32 + s + W].copy()
        xi, yi = int(round(x)), int(round(y))
        img[yi : yi + 24, xi : xi + 24] = sq
        frames.append(Frame(i, i / 30.0, img))
    return frames


def _top(m: np.ndarray, frac: float = 0.01) -> float:
    v = np.sort(m.ravel())
    return float(v[-max(1, int(v.size * frac)) :].mean())


@pytest.mark.parametrize("backend", ["dis", "farneback"])
def test_flow_measures_known_translation(backend):
    fr = _scene([(40, 30), (44, 31)])
    flow = make_flow_backend(backend).calc(fr[0].image, fr[1].image)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    inside = flow[36:50, 48:62].reshape(-1, 2)
    assert np.allclose(np.median(inside, axis=0), [4, 1], atol=0.6)
    assert np.abs(np.median(flow[:10, :10].reshape(-1, 2), axis=0)).max() < 0.3


def test_backward_flow_is_opposite():
    fr = _scene([(40, 30), (45, 30)])
    be = DISFlow()
    fwd = be.calc(fr[0].image, fr[1].image)
    bwd = be.calc(fr[1].image, fr[0].image)
    assert np.median(fwd[36:50, 48:60, 0]) == pytest.approx(5, abs=0.6)
    assert np.median(bwd[36:50, 52:64, 0]) == pytest.approx(-5, abs=0.6)


def test_tvl1_available_or_clear_error():
    try:
        be = TVL1Flow()
    except Exception as exc:  # noqa: BLE001 - must be our clean error type
        from actiondubber.errors import BackendUnavailableError

        assert isinstance(exc, BackendUnavailableError)
        return
    fr = _scene([(40, 30), (43, 30)])
    flow = be.calc(fr[0].image, fr[1].image)
    assert np.median(flow[36:50, 48:60, 0]) == pytest.approx(3, abs=0.7)


def _inside(field: np.ndarray, pos: tuple[float, float], margin: int = 5) -> np.ndarray:
    """Vectors of *field* inside the square at *pos*, away from its edges (occlusion strips)."""
    x, y = int(round(pos[0])), int(round(pos[1]))
    return field[y + margin : y + 24 - margin, x + margin : x + 24 - margin].reshape(-1, 2)


def _mag(field: np.ndarray, pos) -> float:
    return float(np.median(np.linalg.norm(_inside(field, pos), axis=-1)))


def test_constant_velocity_gives_no_inflection():
    pos = [(10 + 4 * i, 20 + 2 * i) for i in range(12)]
    kins = list(iter_kinematics(_scene(pos), DISFlow(), with_eq3=True))
    assert [k.index for k in kins] == list(range(1, 11))  # ends trimmed (Eq. 4)
    for k in kins:
        p = pos[k.index]
        assert np.allclose(np.median(_inside(k.v_plus, p), axis=0), [4, 2], atol=0.5)
        assert np.allclose(np.median(_inside(k.v_minus, p), axis=0), [-4, -2], atol=0.5)
        assert _mag(k.central, p) < 0.3
        assert _mag(k.a_plus, p) < 0.3
        assert _mag(k.a_minus, p) < 0.3


def test_bounce_gives_spike_at_bounce_frame_both_directions():
    # down at 5 px/frame until frame 6, then back up at 4 px/frame
    ys = [10 + 5 * i for i in range(7)] + [40 - 4 * j for j in range(1, 7)]
    pos = [(50, y) for y in ys]
    kins = list(iter_kinematics(_scene(pos), DISFlow(), with_eq3=True))
    for field in ("central", "a_plus", "a_minus"):
        curve = {k.index: _mag(getattr(k, field), pos[k.index]) for k in kins}
        peak = max(curve, key=curve.get)
        assert peak == 6, (field, curve)
        others = [v for i, v in curve.items() if abs(i - 6) > 1]
        assert curve[6] > 7 and max(others) < 1.0, (field, curve)
    k6 = next(k for k in kins if k.index == 6)
    # the inflection at the bounce points up (−y): v_out − v_in = (−4) − (+5)
    region = k6.central[k6.central[..., 1] < -4]
    assert region.size and np.median(region[:, 1]) == pytest.approx(-9, abs=1.5)


def test_eq3_literal_pixelwise_difference():
    f_prev = np.zeros((4, 4, 2), np.float32)
    f_cur = np.ones((4, 4, 2), np.float32)
    b_prev = -np.ones((4, 4, 2), np.float32) * 0.5
    b_cur = -np.ones((4, 4, 2), np.float32) * 2
    ap, am = inflectional_flow(f_prev, b_prev, f_cur, b_cur, align="none")
    assert np.allclose(ap, 1.0) and np.allclose(am, 1.5)
    with pytest.raises(ValueError):
        inflectional_flow(f_prev, b_prev, f_cur, b_cur, align="sideways")


def test_camera_pan_is_compensated():
    # background pans with accelerating speed; the square is fixed in the scene (moves with it)
    shifts = [0.0, 1, 3, 6, 10, 15, 21, 28]
    pos = [(40 - s, 30) for s in shifts]
    frames = _scene(pos, bg_shift=shifts)
    raw = list(iter_kinematics(frames, DISFlow(), compensate_model="none"))
    comp = list(iter_kinematics(frames, DISFlow(), compensate_model="affine"))
    raw_a = max(_top(np.linalg.norm(k.central, axis=-1), 0.5) for k in raw)
    comp_a = max(_top(np.linalg.norm(k.central, axis=-1), 0.5) for k in comp)
    assert raw_a > 0.8
    assert comp_a < 0.3 * raw_a


@pytest.mark.parametrize("model", ["median", "affine", "homography", "quadratic"])
def test_global_flow_models_recover_translation(model):
    flow = np.zeros((60, 80, 2), np.float32)
    flow[..., 0] = 3.0
    flow[..., 1] = -1.0
    flow[20:30, 20:30] = [10, 10]  # an independently moving object (outlier)
    g = global_flow(flow, model)
    assert np.allclose(g[0, 0], [3, -1], atol=1e-3)
    assert np.allclose(compensate(flow, model)[50, 70], 0, atol=1e-3)
    assert global_flow(flow, "none") is None
    with pytest.raises(ValueError):
        global_flow(flow, "warp-drive")


def test_quadratic_model_takes_a_rolling_shutter_wobble_the_affine_fit_leaves():
    # a camera turning during the readout: each row moves sideways by an amount that grows with the
    # row's readout time, squared (x shift 0.5 + 2 (y/h)^2); a compact mover is an outlier to both fits
    h, w = 96, 128
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = 0.5 + 2.0 * (ys / h) ** 2
    flow[..., 1] = 0.3 - 0.004 * xs
    flow[40:52, 60:72] += [4.0, 3.0]
    res_q = compensate(flow, "quadratic")
    res_a = compensate(flow, "affine")
    bg = np.ones((h, w), bool)
    bg[38:54, 58:74] = False
    assert np.abs(res_q[bg]).max() < 0.05
    assert np.abs(res_a[bg]).max() > 0.3  # the affine fit leaves the curvature at the top and bottom
    np.testing.assert_allclose(res_q[44:48, 64:68].mean(axis=(0, 1)), [4.0, 3.0], atol=0.1)


def test_farneback_backend_runs():
    fr = _scene([(40, 30), (42, 30)])
    assert FarnebackFlow().calc(fr[0].image, fr[1].image).shape == (H, W, 2)


def test_lands_inside_marks_points_that_leave_the_picture():
    from actiondubber.kinematics.inflection import lands_inside

    flow = np.zeros((4, 6, 2), np.float32)
    flow[..., 0] = 2.0  # everything moves 2 px right: the two right-most columns leave the picture
    inside = lands_inside(flow)
    assert inside[:, :4].all() and not inside[:, 4:].any()


def test_inside_map_excludes_content_entering_under_a_pan():
    # the camera pans 4 px per frame: a 4-px strip at one side is new in every frame (no match in the
    # previous one), a strip at the other side leaves; the middle is seen in all three frames
    shifts = [0, 4, 8, 12, 16, 20]
    frames = _scene([(50 - s, 30) for s in shifts], bg_shift=shifts)
    kins = list(iter_kinematics(frames, DISFlow(), with_inside=True))
    assert kins and all(k.inside is not None and k.inside.shape == (H, W) for k in kins)
    for k in kins:
        assert k.inside[:, 10:-10].mean() > 0.95
        assert k.inside[:, :3].mean() < 0.1 and k.inside[:, -3:].mean() < 0.1  # entered / leaves
    assert all(k.inside is None for k in iter_kinematics(frames, DISFlow()))


def test_edge_gate_zeroes_strength_where_the_flow_leaves_the_picture():
    from actiondubber.detection.strength import strength_map

    shifts = [0, 3, 7, 9, 10, 10]  # the pan stops: the edge strip reads as a sudden loss of speed
    frames = _scene([(50 - s, 30) for s in shifts], bg_shift=shifts)
    for k_in, k_out in zip(iter_kinematics(frames, DISFlow(), compensate_model="none"),
                           iter_kinematics(frames, DISFlow(), compensate_model="none", with_inside=True), strict=True):
        m_in = strength_map(k_in, gravity=0.0, change_gate=0.0)
        m_out = strength_map(k_out, gravity=0.0, change_gate=0.0)
        assert np.all(m_out[~k_out.inside] == 0)
        np.testing.assert_allclose(m_out[k_out.inside], m_in[k_out.inside], rtol=1e-6)


def test_inside_map_needs_backward_flow():
    frames = _scene([(50 - s, 30) for s in [0, 4, 8, 12]], bg_shift=[0, 4, 8, 12])
    kins = list(iter_kinematics(frames, DISFlow(), bidirectional=False, with_inside=True))
    assert kins and all(k.inside is None for k in kins)


def _kin(index, v_plus, v_minus):
    from actiondubber.kinematics.inflection import Kinematics

    h, w = v_plus.shape[:2]
    return Kinematics(index, index / 25.0, np.zeros((h, w), np.uint8), v_plus, v_minus, v_plus + v_minus)


def _const(h, w, vx, vy=0.0):
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = vx, vy
    return f


def test_inside_window_drops_stops_of_points_that_just_came_in_or_are_leaving():
    from actiondubber.detection.strength import strength_map

    h, w = 8, 40
    # everything arrived moving 3 px/frame to the right and stops dead: a point at x < 6 was outside
    # the picture two frames before (x - 3 - 3 < 0), so it has just come in
    stop = [_kin(i, _const(h, w, 0.0), _const(h, w, -3.0)) for i in range(3)]
    plain = strength_map(stop[1], gravity=0.0, change_gate=0.0, prev=stop[0], nxt=stop[2])
    gated = strength_map(stop[1], gravity=0.0, change_gate=0.0, prev=stop[0], nxt=stop[2], inside_window=True)
    assert (plain[:, 1:] > 2.5).all()
    assert (gated[:, :5] == 0).all() and np.allclose(gated[:, 7:], plain[:, 7:])
    # arriving at 3 px/frame to the right and going on at 1: a point at x > 37 is outside two frames on
    slow = [_kin(i, _const(h, w, 1.0), _const(h, w, -3.0)) for i in range(3)]
    plain = strength_map(slow[1], gravity=0.0, change_gate=0.0, prev=slow[0], nxt=slow[2])
    gated = strength_map(slow[1], gravity=0.0, change_gate=0.0, prev=slow[0], nxt=slow[2], inside_window=True)
    assert (plain[:, 6:] > 1.5).all()
    assert (gated[:, 38:] == 0).all() and np.allclose(gated[:, 7:37], plain[:, 7:37])
