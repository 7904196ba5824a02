"""Flow colouring (Middlebury wheel), the running colour scale, the flow preview and ``actiondubber flow``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.cli import cli
from actiondubber.errors import InputError, OutputError
from actiondubber.kinematics.colour import RunningScale, colour_wheel_legend, flow_to_colour, robust_max
from actiondubber.kinematics.preview import render_flow_preview
from actiondubber.video.reader import iter_frames, probe

W, H, N = 160, 120, 20
SQUARE, STEP = 28, 4  # side of the moving square and its rightward speed (px/frame)


def _one(dx: float, dy: float, max_mag: float | None = 1.0) -> np.ndarray:
    f = np.array([[[dx, dy]]], np.float32)
    return flow_to_colour(f, max_mag=max_mag)[0, 0].astype(int)


# --- colour wheel ---------------------------------------------------------------------------------


def test_colour_directions_follow_middlebury_convention():
    assert _one(1, 0).tolist() == [255, 0, 0]  # right: red
    r, g, b = _one(0, 1)  # down (image y grows downwards): orange-yellow
    assert r == 255 and 200 < g < 255 and b == 0
    r, g, b = _one(-1, 0)  # left: cyan-ish
    assert r == 0 and g > 150 and b == 255
    r, g, b = _one(0, -1)  # up: blue-violet
    assert b == 255 and g == 0 and 50 < r < 160


def test_zero_and_non_finite_flow_are_white():
    assert _one(0, 0).tolist() == [255, 255, 255]
    assert _one(0, 0, max_mag=None).tolist() == [255, 255, 255]
    assert _one(np.nan, 1).tolist() == [255, 255, 255]
    assert _one(np.inf, 0).tolist() == [255, 255, 255]


def test_speed_sets_colour_strength_and_saturation_is_darkened():
    half = _one(0.5, 0)
    assert half[0] == 255 and 120 <= half[1] == half[2] <= 135  # half-way between white and red
    assert _one(0.1, 0)[1] > half[1] > _one(0.9, 0)[1]
    over = _one(3, 0)
    assert over.tolist() == [191, 0, 0]  # beyond max_mag: same hue at 75 % brightness


def test_hue_is_continuous_round_the_wheel():
    angles = np.linspace(0, 2 * np.pi, 721)
    f = np.stack([np.cos(angles), np.sin(angles)], axis=-1)[None].astype(np.float32)
    cols = flow_to_colour(f, max_mag=1.0)[0].astype(int)
    assert np.abs(np.diff(cols, axis=0)).max() <= 12  # no jumps, including across 0 / 2π
    assert np.abs(cols[0] - cols[-1]).max() <= 1
    assert len({tuple(c) for c in cols}) > 300  # many distinct hues


def test_default_scale_is_the_frame_maximum_and_shape_is_checked():
    f = np.zeros((4, 5, 2), np.float32)
    f[0, 0] = (2, 0)
    f[1, 1] = (1, 0)
    img = flow_to_colour(f)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [255, 0, 0]
    assert 120 <= img[1, 1, 1] <= 135
    with pytest.raises(ValueError):
        flow_to_colour(np.zeros((4, 5, 3), np.float32))


def test_legend_is_a_wheel():
    leg = colour_wheel_legend(65, background=(0, 0, 0))
    assert leg.shape == (65, 65, 3) and leg.dtype == np.uint8
    assert leg[32, 32].tolist() == [255, 255, 255]  # centre: no motion
    r, g, b = leg[32, 60].astype(int)  # right rim: red
    assert r > 200 and g < 60 and b < 60
    r, g, b = leg[32, 4].astype(int)  # left rim: cyan
    assert r < 60 and b > 200
    assert leg[0, 0].tolist() == [0, 0, 0]  # outside the disc: background


def test_running_scale_is_stable_and_floored():
    rng = np.random.default_rng(0)
    scale = RunningScale(window=20, floor=0.5, headroom=1.0)
    assert scale.value == 0.5
    values = []
    for i in range(40):
        f = rng.normal(0, 1, (32, 32, 2)).astype(np.float32) * 2.0
        if i == 30:
            f *= 50  # one wild frame
        values.append(scale.update(f))
    steady = robust_max(rng.normal(0, 1, (32, 32, 2)).astype(np.float32) * 2.0)
    assert abs(values[29] - steady) / steady < 0.2
    assert abs(values[30] - values[29]) / values[29] < 0.1  # one outlier frame barely moves it
    assert max(np.abs(np.diff(values[5:]))) / steady < 0.2
    still = RunningScale(floor=0.5)
    assert still.update(np.zeros((8, 8, 2), np.float32)) == 0.5
    const = np.zeros((8, 8, 2), np.float32)
    const[..., 0] = 3.0
    assert RunningScale(headroom=1.2).update(const) == pytest.approx(3.6)


# --- preview ------------------------------------------------------------------------------------


def _moving_square(i: int, w: int, h: int) -> np.ndarray:
    """A textured square moving right by STEP px/frame over a plain grey background."""
    img = np.full((h, w, 3), 100, np.uint8)
    yy, xx = np.mgrid[0:SQUARE, 0:SQUARE]
    tex = (160 + 60 * np.sin(xx / 2.0) * np.cos(yy / 3.0)).astype(np.uint8)
    x0, y0 = 20 + STEP * i, (h - SQUARE) // 2
    img[y0 : y0 + SQUARE, x0 : x0 + SQUARE] = tex[..., None]
    return img


@pytest.fixture
def square_clip(tmp_path, make_video) -> Path:
    return make_video(tmp_path / "square.mp4", N, (W, H), 25, draw=_moving_square)


def test_preview_video_and_pngs(square_clip, tmp_path):
    out = tmp_path / "preview.mp4"
    pngs = tmp_path / "png"
    res = render_flow_preview(square_clip, out, png_dir=pngs)
    # 120 px is under the default 128-px analysis side, so frames keep their size; ends are trimmed.
    assert (res.n_frames, res.width, res.height) == (N - 2, 3 * W, H)
    info = probe(out)
    assert (info.width, info.height, info.n_frames) == (3 * W, H, N - 2)
    assert info.fps == pytest.approx(25, rel=0.01)
    decoded = list(iter_frames(out, short_side=None, pix_fmt="rgb24"))
    assert len(decoded) == N - 2 and decoded[0].image.shape == (H, 3 * W, 3)
    files = sorted(p.name for p in pngs.iterdir())
    assert files == [f"flow_{i:06d}.png" for i in range(1, N - 1)]
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]  # no temp files left

    # Frame 8: the square (x 52..80, moving right) shows as red in the motion panel, the background as white.
    img = cv2.cvtColor(cv2.imread(str(pngs / "flow_000008.png")), cv2.COLOR_BGR2RGB).astype(int)
    assert img.shape == (H, 3 * W, 3)
    motion = img[:, W : 2 * W]
    y0 = (H - SQUARE) // 2
    x0 = 20 + STEP * 8
    r, g, b = motion[y0 + 6 : y0 + SQUARE - 6, x0 + 6 : x0 + SQUARE - 6].reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < r - 60 and b < r - 60, (r, g, b)
    assert motion[H - 40 : H - 30, 5:25].mean() > 235  # still background: white
    # Constant velocity: the inflection panel at the square is near-white (no change of motion).
    infl = img[:, 2 * W :][y0 + 6 : y0 + SQUARE - 6, x0 + 6 : x0 + SQUARE - 6]
    assert infl.mean() > motion[y0 + 6 : y0 + SQUARE - 6, x0 + 6 : x0 + SQUARE - 6].mean()


def test_preview_max_frames_short_side_and_png_only(square_clip, tmp_path):
    res = render_flow_preview(square_clip, None, png_dir=tmp_path / "p", max_frames=4, short_side=64)
    assert res.out is None and res.n_frames == 4
    assert (res.width, res.height) == (3 * 86, 64)  # 160x120 scaled to short side 64 -> 86x64
    assert len(list((tmp_path / "p").glob("flow_*.png"))) == 4


def test_preview_errors(square_clip, tmp_path, make_video):
    with pytest.raises(OutputError, match="same as the input"):
        render_flow_preview(square_clip, square_clip)
    with pytest.raises(InputError, match="file not found"):
        render_flow_preview(tmp_path / "missing.mp4", tmp_path / "o.mp4")
    with pytest.raises(OutputError, match="unsupported preview format"):
        render_flow_preview(square_clip, tmp_path / "o.txt")
    with pytest.raises(OutputError, match="nothing to write"):
        render_flow_preview(square_clip, None)
    short = make_video(tmp_path / "two.mp4", 2, (W, H), 25, draw=_moving_square)
    with pytest.raises(InputError, match="at least 3 frames"):
        render_flow_preview(short, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        render_flow_preview(square_clip, None, png_dir=tmp_path / "afile")


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_flow(square_clip, tmp_path):
    out = tmp_path / "flow_preview.mp4"
    res = CliRunner().invoke(cli, ["flow", str(square_clip), "-o", str(out), "--max-frames", "6"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "6 frames" in res.output
    assert probe(out).n_frames == 6

    res = CliRunner().invoke(
        cli,
        [
            "-q",
            "flow",
            str(square_clip),
            "--png-dir",
            str(tmp_path / "d"),
            "--backend",
            "farneback",
            "--max-frames",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "d").glob("*.png"))) == 2


def test_cli_flow_bad_input_is_one_clean_line(square_clip, tmp_path):
    before = square_clip.read_bytes()
    res = CliRunner().invoke(cli, ["flow", str(square_clip), "-o", str(square_clip)])
    assert res.exit_code == 3
    assert res.stderr.strip().count("\n") == 0 and "same as the input" in res.stderr
    assert "Traceback" not in res.output
    assert square_clip.read_bytes() == before

    res = CliRunner().invoke(cli, ["flow", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("actiondubber: error:") and "file not found" in res.stderr
    assert not (tmp_path / "o.mp4").exists()

    not_video = tmp_path / "junk.mp4"
    not_video.write_bytes(b"this is not a video" * 50)
    res = CliRunner().invoke(cli, ["flow", str(not_video), "-o", str(tmp_path / "o.mp4")])
    assert res.exit_code == 2 and "not a video file" in res.stderr

    res = CliRunner().invoke(cli, ["flow", str(square_clip)])
    assert res.exit_code == 2 and "--output" in res.output  # usage error: nothing to write

    res = CliRunner().invoke(cli, ["flow", str(square_clip), "-o", str(tmp_path / "o.mp4"), "--raft-weights", "w.pth"])
    assert res.exit_code == 2 and "--backend raft" in res.output
