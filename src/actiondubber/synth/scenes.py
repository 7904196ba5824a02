"""Seeded synthetic test clips with exactly known collision frames.

:func:`render_clip` lays out a scene, simulates it exactly
(:mod:`~actiondubber.synth.physics`), renders each frame at its true timestamp
(:mod:`~actiondubber.synth.draw`), adds sensor noise, and streams the frames
one at a time to an H.264 encoder (PyAV), together with an AAC soundtrack that
has one impact sound per collision (:mod:`~actiondubber.synth.audio`).

Scenes (``SCENES``):

``bounce``   1-3 balls / textured discs / boxes bouncing on a floor, each in its own lane.
``walls``    one ball bouncing between two walls and the floor.
``pendulum`` distractors only (one or two pendulums, maybe a sliding block): zero collisions.
``pan``      ``bounce`` under a slow camera pan (the whole picture, background included, moves).
``wheel``    a wheel turning at a varying speed beside one bouncing ball.
``mixed``    1-2 bouncing bodies plus a pendulum and a wheel or sliding block, sometimes panned.
``juggle``   1-3 balls thrown straight up again every time they land on their paddle.

Collision frame convention: a collision at instant ``t`` is labelled with the
0-based frame whose timestamp is nearest to ``t`` (the *contact frame*; on an
exact tie, the earlier frame). Frames are rendered from the exact trajectory at
their own timestamps, so the contact frame shows the body within
``speed / (2 fps)`` pixels of the surface. Only collisions at or before the
last frame's timestamp are simulated, labelled and heard. Distractor motions
are smooth and silent and are never labelled. The label class is the scene name.

With ``vfr=True`` frames get irregular timestamps (time base 1/90000, jittered
durations and a slower middle third); :attr:`SynthClip.times` holds the true
per-frame times, and collision frames follow them.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from actiondubber.errors import OutputError
from actiondubber.fileio import atomic_output, check_output_path
from actiondubber.synth import draw
from actiondubber.synth.audio import Knock, KnockMixer
from actiondubber.synth.physics import (
    G_PER_HEIGHT,
    BounceRule,
    Impact,
    Pan,
    Pendulum,
    Projectile,
    Slider,
    Wheel,
    first_flight,
    simulate,
)

log = logging.getLogger(__name__)

SCENES = ("bounce", "walls", "pendulum", "pan", "wheel", "mixed", "juggle")
OBJECT_KINDS = ("ball", "disc", "box")
BACKGROUNDS = ("noise", "gradient", "checker", "shapes")
#: Time base of variable-frame-rate clips.
VFR_TIME_BASE = Fraction(1, 90000)
_AUDIO_CHUNK = 1024  # AAC frame size


@dataclass(frozen=True)
class Collision:
    """One labelled collision: instant (s), contact frame, body index, surface, speed (px/s), contact point (px)."""

    time: float
    frame: int
    obj: int
    surface: str
    speed: float
    x: float
    y: float


@dataclass(frozen=True)
class SynthObject:
    """A moving body of the scene: kind, RGB colour and half size (radius) in pixels."""

    kind: str
    color: tuple[int, int, int]
    radius: float


@dataclass(frozen=True)
class SynthClip:
    """A rendered synthetic clip and its ground truth.

    ``fps`` is the exact rate for constant-rate clips and the average rate
    ``(n_frames - 1) / times[-1]`` for variable-rate ones. ``times`` are the
    frames' presentation times (s, first frame at 0). ``floor_y`` is the floor
    surface row in frame pixels (continuous coordinates, with the camera at its
    rest position), ``None`` when the scene has no floor contacts.
    ``collision_times`` / ``collision_frames`` are in time order; two
    collisions may share a frame.
    """

    path: str
    scene: str
    seed: int
    fps: float
    n_frames: int
    width: int
    height: int
    times: tuple[float, ...]
    collision_times: tuple[float, ...]
    collision_frames: tuple[int, ...]
    collisions: tuple[Collision, ...]
    objects: tuple[SynthObject, ...]
    floor_y: float | None
    vfr: bool
    has_audio: bool

    @property
    def label_class(self) -> str:
        """The class written to label files: the scene name."""
        return self.scene

    @property
    def video_id(self) -> str:
        """The clip's id in label files: its file stem."""
        return Path(self.path).stem

    @property
    def labelled_frames(self) -> tuple[int, ...]:
        """Sorted, unique collision frames (the Audible623 ``sound_label``)."""
        return tuple(sorted(set(self.collision_frames)))


class SceneModel:
    """A laid-out, fully simulated scene that can render its picture at any time."""

    def __init__(self, scene: str, width: int, height: int, world_w: int, world_h: int, floor_y: float | None):
        self.scene, self.width, self.height = scene, width, height
        self.world_w, self.world_h = world_w, world_h
        self.floor_y = floor_y
        self.background = np.zeros((world_h, world_w, 3), np.uint8)
        self.projectiles: list[Projectile] = []
        self.sprites: list[draw.Sprite] = []
        self.impacts: list[Impact] = []
        self.pendulums: list[tuple[Pendulum, draw.Sprite, tuple[int, int, int]]] = []
        self.wheels: list[tuple[Wheel, draw.Sprite]] = []
        self.sliders: list[tuple[Slider, draw.Sprite]] = []
        self.pan: Pan | None = None

    def view_offset(self, t: float) -> tuple[float, float]:
        """World position of the frame's top-left corner at time *t*."""
        return self.pan.offset(t) if self.pan is not None else (0.0, 0.0)

    def render(self, t: float) -> np.ndarray:
        """The noise-free RGB frame (uint8, height x width x 3) at time *t*."""
        canvas = self.background.copy()
        for s, sp in self.sliders:
            draw.blit(canvas, sp, *s.xy(t))
        for w, sp in self.wheels:
            draw.blit(canvas, sp, w.cx, w.cy, w.angle(t))
        for p, sp, rod in self.pendulums:
            bx, by = p.bob_xy(t)
            draw.line(canvas, (p.px, p.py), (bx, by), rod, max(1.0, 0.25 * p.bob))
            draw.blit(canvas, sp, bx, by)
        for p, sp in zip(self.projectiles, self.sprites, strict=True):
            x, y, a = p.state(t)
            draw.blit(canvas, sp, x, y, a if p.kind == "disc" else 0.0)
        if self.pan is None:
            return canvas
        ox, oy = self.pan.offset(t)
        m = np.array([[1.0, 0.0, -ox], [0.0, 1.0, -oy]])
        return cv2.warpAffine(canvas, m, (self.width, self.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)


def _kinds(rng: np.random.Generator, n: int, kinds: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    if kinds:
        return [kinds[i % len(kinds)] for i in range(n)]
    return [str(allowed[int(rng.integers(len(allowed)))]) for _ in range(n)]


def build_scene(
    scene: str,
    size: tuple[int, int],
    *,
    seed: int = 0,
    t_end: float = 4.0,
    n_objects: int | None = None,
    kinds: Sequence[str] | None = None,
    background: str | None = None,
) -> SceneModel:
    """Lay out and simulate *scene* for a frame of *size* (w, h) up to time *t_end* (s).

    Deterministic in (*scene*, *size*, *seed*, *n_objects*, *kinds*, *background*);
    a later *t_end* only appends impacts. Raises ``ValueError`` for an unknown
    scene, kind or background.
    """
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; choose from {', '.join(SCENES)}")
    for k in kinds or ():
        if k not in OBJECT_KINDS:
            raise ValueError(f"unknown object kind {k!r}; choose from {', '.join(OBJECT_KINDS)}")
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; choose from {', '.join(BACKGROUNDS)}")
    W, H = size
    key = [int(seed) & 0xFFFFFFFF, SCENES.index(scene), 7331]
    r_layout, r_bg = np.random.default_rng(key + [1]), np.random.default_rng(key + [2])
    scale = H / 240.0
    g = G_PER_HEIGHT * H

    panned = scene == "pan" or (scene == "mixed" and r_layout.uniform() < 0.5)
    if panned:
        mx, my = math.ceil(0.08 * W) + 2, math.ceil(0.04 * H) + 2
        pan = Pan(mx, my, mx - 2, my - 2, r_layout.uniform(6, 10), r_layout.uniform(5, 9),
                  r_layout.uniform(0, 2 * math.pi), r_layout.uniform(0, 2 * math.pi))
    else:
        mx = my = 0
        pan = None
    padx = (pan.ax if pan else 0.0) + 2.0
    pady = pan.ay if pan else 0.0
    floor_h = max(4, int(round(0.12 * H)))
    floor_y = H - floor_h  # frame coordinates (camera at rest)
    top = 0.04 * H + pady

    model = SceneModel(scene, W, H, W + 2 * mx, H + 2 * my, float(floor_y) if scene != "pendulum" else None)
    model.pan = pan
    bg = draw.make_background(r_bg, model.world_w, model.world_h,
                              background or BACKGROUNDS[int(r_bg.integers(len(BACKGROUNDS)))], scale)
    draw.draw_floor(r_bg, bg, floor_y + my, scale)
    model.background = bg
    fy = floor_y + my  # floor in world coordinates

    def add_body(kind: str, lane: tuple[float, float] | None, *, surface_y: float, surface: str,
                 rule_kw: Callable[[float], dict], vx: float = 0.0, x: float | None = None) -> None:
        ext = max(3.0, r_layout.uniform(0.045, 0.075) * min(W, H))
        if lane is not None:
            ext = min(ext, 0.45 * (lane[1] - lane[0]))
        color = draw.saturated_color(r_layout)
        cap = surface_y - (top + my) - 2 * ext  # highest apex (above contact) keeping the body in view
        rule = BounceRule(min_apex=0.15 * cap, **rule_kw(cap))
        proj = Projectile(kind, ext, color, g)
        if x is None:
            x = r_layout.uniform(lane[0] + ext, lane[1] - ext) if lane else 0.5 * W + mx
        obj = len(model.projectiles)
        r_phys = np.random.default_rng(key + [100 + obj])  # per body: a longer clip only appends impacts
        start = first_flight(r_phys, x=x, height=r_layout.uniform(0.5, 0.95) * cap, surface_y=surface_y,
                             ext=ext, g=g, lane=lane, vx=vx)
        model.impacts += simulate(proj, obj, start, surface_y=surface_y, surface=surface, rule=rule,
                                  t_end=t_end, rng=r_phys)
        model.projectiles.append(proj)
        if kind == "ball":
            model.sprites.append(draw.ball_sprite(ext, color))
        elif kind == "disc":
            model.sprites.append(draw.disc_sprite(ext, color))
        else:
            model.sprites.append(draw.box_sprite(ext, ext, color))

    def bouncers(n: int, x0: float, x1: float, allowed: Sequence[str]) -> None:
        lanes = np.linspace(x0, x1, n + 1)
        for i, kind in enumerate(_kinds(r_layout, n, kinds, allowed)):
            lane = (float(lanes[i]) + mx, float(lanes[i + 1]) + mx)
            e = r_layout.uniform(0.6, 0.85)
            add_body(kind, lane, surface_y=fy, surface="floor",
                     rule_kw=lambda cap, e=e, lane=lane: dict(restitution=e, apex_range=(0.4 * cap, 0.95 * cap),
                                                              lane=lane))

    def pendulum(x_lo: float, x_hi: float, y_max: float) -> None:
        px = 0.5 * (x_lo + x_hi) + mx
        py = top + my + 0.02 * H
        bob = max(3.0, r_layout.uniform(0.04, 0.06) * min(W, H))
        length = r_layout.uniform(0.6, 0.95) * (y_max - (py - my) - bob)
        half = 0.5 * (x_hi - x_lo) - bob - 2
        amp = min(r_layout.uniform(0.35, 0.7), math.asin(min(0.99, max(half, 1.0) / length)))
        period = 2 * math.pi * math.sqrt(length / g)
        p = Pendulum(px, py, length, amp, period, r_layout.uniform(0, 2 * math.pi), bob)
        bar = max(2, int(round(3 * scale)))
        draw.draw_block(r_bg, bg, int(px - 6 * bar), int(py - 2 * bar), int(px + 6 * bar), int(py + bar), scale)
        model.pendulums.append((p, draw.ball_sprite(bob, draw.saturated_color(r_layout)), (60, 60, 60)))

    def wheel(x_lo: float, x_hi: float, rel: float = 0.28) -> float:
        radius = min(rel * H, 0.4 * (x_hi - x_lo))
        cx = 0.5 * (x_lo + x_hi) + mx
        cy = fy - radius - 0.06 * H
        post = max(2, int(round(0.05 * radius)) + 1)
        draw.draw_block(r_bg, bg, int(cx - post), int(cy), int(cx + post), int(fy) + 1, scale)
        omega = math.copysign(r_layout.uniform(1.0, 4.0), r_layout.uniform(-1, 1))
        w = Wheel(cx, cy, radius, omega, r_layout.uniform(0.5, 1.5), r_layout.uniform(2.5, 5.0),
                  r_layout.uniform(0, 2 * math.pi))
        sprite = draw.wheel_sprite(radius, draw.saturated_color(r_layout), int(r_layout.integers(4, 7)))
        model.wheels.append((w, sprite))
        return radius

    def slider(x_lo: float, x_hi: float) -> None:
        hw, hh = 0.07 * W, 0.05 * H
        amp = max(1.0, 0.5 * (x_hi - x_lo) - hw - 2)
        s = Slider(0.5 * (x_lo + x_hi) + mx, fy - hh, amp, r_layout.uniform(2.0, 5.0),
                   r_layout.uniform(0, 2 * math.pi), hw, hh)
        model.sliders.append((s, draw.box_sprite(hw, hh, draw.saturated_color(r_layout))))

    n = n_objects
    if scene in ("bounce", "pan"):
        bouncers(n if n is not None else int(r_layout.integers(1, 4 if scene == "bounce" else 3)),
                 padx, W - padx, OBJECT_KINDS)
    elif scene == "walls":
        ww = max(3, int(round(0.03 * W)))
        xl, xr = int(round(0.1 * W)), W - int(round(0.1 * W))
        draw.draw_block(r_bg, bg, xl - ww + mx, 0, xl + mx, fy, scale)
        draw.draw_block(r_bg, bg, xr + mx, 0, xr + ww + mx, fy, scale)
        vx = math.copysign(r_layout.uniform(0.5, 1.1) * H, r_layout.uniform(-1, 1))
        add_body(_kinds(r_layout, 1, kinds, ("ball", "disc"))[0], None, surface_y=fy, surface="floor",
                 rule_kw=lambda cap: dict(restitution=r_layout.uniform(0.65, 0.85), apex_range=(0.4 * cap, 0.95 * cap),
                                          walls=(xl + mx, xr + mx), wall_restitution=0.85,
                                          vx_range=(0.5 * H, 1.1 * H)),
                 vx=vx, x=r_layout.uniform(xl + 0.1 * W, xr - 0.1 * W) + mx)
    elif scene == "pendulum":
        k = n if n is not None else int(r_layout.integers(1, 3))
        edges = np.linspace(padx, W - padx, max(1, k) + 1)
        for i in range(k):
            pendulum(float(edges[i]), float(edges[i + 1]), floor_y - 0.2 * H)
        if r_layout.uniform() < 0.5:
            slider(padx, W - padx)
    elif scene == "wheel":
        left = r_layout.uniform() < 0.5
        mid = 0.5 * W
        wheel_span, ball_span = ((padx, mid), (mid, W - padx)) if left else ((mid, W - padx), (padx, mid))
        wheel(*wheel_span)
        bouncers(n if n is not None else 1, *ball_span, OBJECT_KINDS)
    elif scene == "mixed":
        mid = 0.5 * W
        bouncers(n if n is not None else int(r_layout.integers(1, 3)), padx, mid, OBJECT_KINDS)
        low = r_layout.uniform() < 0.5
        if low:
            wheel_r = wheel(mid, W - padx, rel=0.18)
            pendulum(mid, W - padx, floor_y - 0.06 * H - 2 * wheel_r - 0.05 * H)
        else:
            slider(mid, W - padx)
            pendulum(mid, W - padx, floor_y - 0.16 * H)
    elif scene == "juggle":
        k = n if n is not None else int(r_layout.integers(1, 4))
        edges = np.linspace(padx, W - padx, k + 1)
        for i, kind in enumerate(_kinds(r_layout, k, kinds, ("ball", "disc"))):
            cx = 0.5 * (edges[i] + edges[i + 1]) + mx
            half = min(0.06 * W, 0.4 * (edges[i + 1] - edges[i]))
            ph = r_layout.uniform(0.04, 0.18) * H
            draw.draw_block(r_bg, bg, int(round(cx - half)), int(round(fy - ph)), int(round(cx + half)), int(fy) + 1,
                            scale)
            sy = float(int(round(fy - ph)))
            lane = (cx - half, cx + half)
            add_body(kind, lane, surface_y=sy, surface="paddle", x=cx,
                     rule_kw=lambda cap, lane=lane: dict(restitution=1.0, apex_range=(0.35 * cap, 0.9 * cap),
                                                         throw=True, lane=lane))
    model.impacts.sort(key=lambda i: (i.time, i.obj))
    return model


def frame_times(seconds: float, fps: float, *, vfr: bool = False, seed: int = 0) -> tuple[list[float], list[int]]:
    """Per-frame times (s) and integer pts for a clip.

    Constant rate: ``round(seconds * fps)`` frames at ``i / fps`` (pts ``i`` in
    time base ``1 / fps``). Variable rate: pts in :data:`VFR_TIME_BASE`, durations
    jittered by +-30 % and doubled in the middle third, until *seconds*.
    """
    if not vfr:
        n = max(2, int(round(seconds * fps)))
        rate = Fraction(fps).limit_denominator(1001)
        return [float(i / rate) for i in range(n)], list(range(n))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 424242]))
    ticks = VFR_TIME_BASE.denominator
    pts = [0]
    while pts[-1] / ticks < seconds or len(pts) < 2:
        t = pts[-1] / ticks
        slow = 2.0 if seconds / 3 <= t < 2 * seconds / 3 else 1.0
        dur = max(1, int(round(ticks / fps * slow * rng.uniform(0.7, 1.3))))
        pts.append(pts[-1] + dur)
    pts.pop()  # keep only frames that start before *seconds*
    if len(pts) < 2:
        pts.append(pts[-1] + int(round(ticks / fps)))
    return [p / ticks for p in pts], pts


def nearest_frame(times: Sequence[float], t: float) -> int:
    """Index of the frame whose timestamp is nearest to *t* (ties: the earlier frame)."""
    i = bisect.bisect_left(times, t)
    if i <= 0:
        return 0
    if i >= len(times):
        return len(times) - 1
    return i - 1 if t - times[i - 1] <= times[i] - t else i


def _knocks(model: SceneModel, impacts: Sequence[Impact], sr: int, seed: int) -> list[Knock]:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 99]))
    H = model.height
    v_ref = H * math.sqrt(2 * G_PER_HEIGHT * 0.8)
    f0s = []
    for p in model.projectiles:
        f = 350.0 * (0.06 * H / p.ext) ** 0.7 * {"ball": 1.0, "disc": 1.6, "box": 0.8}[p.kind]
        f0s.append(min(3000.0, f * rng.uniform(0.85, 1.15)))
    out = []
    for i, imp in enumerate(impacts):
        f0 = f0s[imp.obj] * {"floor": 1.0, "paddle": 1.25}.get(imp.surface, 0.8)
        amp = 0.85 * min(1.0, max(0.08, imp.speed / v_ref))
        pan = min(1.0, max(0.0, (imp.x - model.view_offset(imp.time)[0]) / model.width))
        out.append(Knock(int(round(imp.time * sr)), amp, f0, model.projectiles[imp.obj].kind, pan,
                         int(rng.integers(1 << 31)) ^ i))
    return out


def _yuv420p_frame(i420: np.ndarray, w: int, h: int) -> av.VideoFrame:
    """A yuv420p frame from OpenCV's I420 layout with the rows' alignment padding zeroed.

    ``VideoFrame.from_ndarray`` leaves that padding uninitialised, and x264 was seen to read it: the
    same pictures then gave different bytes from run to run at widths that are not a multiple of the
    row alignment (160x120: 8 of 15 pairs of renders), while zeroed padding gave identical bytes (0 of 52)."""
    frame = av.VideoFrame(w, h, "yuv420p")
    flat = i420.reshape(-1)
    planes = (flat[: w * h].reshape(h, w), flat[w * h : w * h + (w // 2) * (h // 2)].reshape(h // 2, w // 2),
              flat[w * h + (w // 2) * (h // 2) :].reshape(h // 2, w // 2))
    for plane, data in zip(frame.planes, planes, strict=True):
        buf = np.zeros((data.shape[0], plane.line_size), np.uint8)
        buf[:, : data.shape[1]] = data
        plane.update(buf)
    return frame


def _one_opencv_thread(fn):
    """Run *fn* with OpenCV on one thread. Its worker threads may differ in floating-point state
    (denormal handling) and which thread draws which stripe varies with load, so a seed's pixels and
    encoded bytes could differ between runs (seen only under heavy load); one thread removes that source."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        n = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            cv2.setNumThreads(n)

    return wrapper


@_one_opencv_thread
def render_clip(
    out_path: str | os.PathLike,
    *,
    scene: str = "bounce",
    seconds: float = 4.0,
    fps: float = 30.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    noise: float = 2.0,
    crf: int = 23,
    with_audio: bool = True,
    vfr: bool = False,
    codec: str = "libx264",
    preset: str = "veryfast",
    pix_fmt: str | None = None,
    n_objects: int | None = None,
    kinds: Sequence[str] | None = None,
    background: str | None = None,
    motion_blur: int = 0,
    shutter: float = 0.5,
    sample_rate: int = 48000,
    channels: int = 1,
    progress: Callable[[int], None] | None = None,
) -> SynthClip:
    """Render a synthetic clip of *scene* to *out_path* and return its ground truth.

    *noise* is the sensor-noise standard deviation in 8-bit levels; *crf* and
    *preset* are libx264's quality and speed (ignored by other codecs).
    *pix_fmt* defaults to ``yuv420p``, or ``yuv444p`` when a side is odd
    (4:2:0 needs even sizes; 4:4:4 H.264 keeps the exact size). *motion_blur*
    >= 2 averages that many renders over *shutter* of the frame interval.
    Frames are rendered and encoded one at a time (memory stays flat for any
    length); *progress* is called with 1 after each frame. Raises
    :class:`OutputError` if the file cannot be written and ``ValueError`` for
    bad parameters.
    """
    W, H = (int(v) for v in size)
    if W < 48 or H < 48:
        raise ValueError(f"size {W}x{H} is too small (each side must be at least 48 pixels)")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be positive, got {seconds}")
    if not (1.0 <= fps <= 240.0):
        raise ValueError(f"fps must be between 1 and 240, got {fps}")
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    if n_objects is not None and not 0 <= n_objects <= 4:
        raise ValueError(f"n_objects must be between 0 and 4, got {n_objects}")
    out = check_output_path(out_path)
    times, pts = frame_times(seconds, fps, vfr=vfr, seed=seed)
    model = build_scene(scene, (W, H), seed=seed, t_end=times[-1], n_objects=n_objects, kinds=kinds,
                        background=background)
    impacts = [i for i in model.impacts if i.time <= times[-1]]
    collisions = []
    for imp in impacts:
        ox, oy = model.view_offset(imp.time)
        collisions.append(Collision(imp.time, nearest_frame(times, imp.time), imp.obj, imp.surface, imp.speed,
                                    imp.x - ox, imp.y - oy))
    if pix_fmt is None:
        pix_fmt = "yuv420p" if W % 2 == 0 and H % 2 == 0 else "yuv444p"
    rate = Fraction(fps).limit_denominator(1001)
    last_dur = (times[-1] - times[-2]) if vfr else 1.0 / fps
    duration = times[-1] + last_dur
    rng_noise = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 5]))
    bank = draw.NoiseBank(rng_noise, W, H, noise)
    mixer = None
    if with_audio:
        mixer = KnockMixer(_knocks(model, impacts, sample_rate, seed), sample_rate, channels, 3e-4,
                           np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 11])))
    blur_n = int(motion_blur) if motion_blur and motion_blur >= 2 else 1
    offsets = [0.0] if blur_n == 1 else [shutter / fps * (k / (blur_n - 1) - 0.5) for k in range(blur_n)]

    try:
        with atomic_output(out) as tmp:
            container = av.open(str(tmp), "w")
            try:
                vs = container.add_stream(codec, rate=rate)
                vs.width, vs.height, vs.pix_fmt = W, H, pix_fmt
                if codec.startswith("libx264"):
                    # one encoder thread: frame-threaded x264 output was seen to vary between runs under load
                    vs.options = {"crf": str(int(crf)), "preset": preset, "threads": "1"}
                else:
                    vs.bit_rate = int(8 * W * H * float(fps) / 20)
                if vfr:
                    vs.time_base = VFR_TIME_BASE
                    vs.codec_context.time_base = VFR_TIME_BASE
                astream = None
                if mixer is not None:
                    astream = container.add_stream("aac", rate=sample_rate)
                    astream.layout = "mono" if channels == 1 else "stereo"
                    astream.bit_rate = 96000 * channels
                layout = "mono" if channels == 1 else "stereo"
                n_audio = int(round(duration * sample_rate))
                a_pos = 0
                for i, t in enumerate(times):
                    if blur_n == 1:
                        img = model.render(t)
                    else:
                        acc = np.zeros((H, W, 3), np.float32)
                        for off in offsets:
                            acc += model.render(t + off)
                        img = (acc / blur_n + 0.5).astype(np.uint8)
                    img = bank.apply(img)
                    if pix_fmt == "yuv420p":  # OpenCV's BT.601 conversion: ~10x faster than swscale here
                        frame = _yuv420p_frame(cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420), W, H)
                    else:
                        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                    frame.pts = pts[i]
                    if vfr:
                        frame.time_base = VFR_TIME_BASE
                    container.mux(vs.encode(frame))
                    if astream is not None:
                        t_next = times[i + 1] if i + 1 < len(times) else duration
                        a_end = min(n_audio, int(math.ceil(t_next * sample_rate)))
                        while a_pos < a_end:
                            n = min(_AUDIO_CHUNK, n_audio - a_pos)
                            af = av.AudioFrame.from_ndarray(mixer.chunk(a_pos, n), format="fltp", layout=layout)
                            af.sample_rate = sample_rate
                            af.pts = a_pos
                            container.mux(astream.encode(af))
                            a_pos += n
                    if progress is not None:
                        progress(1)
                container.mux(vs.encode(None))
                if astream is not None:
                    container.mux(astream.encode(None))
            finally:
                container.close()
    except av.FFmpegError as exc:
        raise OutputError(f"{out}: cannot encode the synthetic clip ({exc})") from None

    avg_fps = (len(times) - 1) / times[-1] if vfr else float(rate)
    return SynthClip(
        path=str(out),
        scene=scene,
        seed=int(seed),
        fps=avg_fps,
        n_frames=len(times),
        width=W,
        height=H,
        times=tuple(times),
        collision_times=tuple(c.time for c in collisions),
        collision_frames=tuple(c.frame for c in collisions),
        collisions=tuple(collisions),
        objects=tuple(SynthObject(p.kind, p.color, p.ext) for p in model.projectiles),
        floor_y=model.floor_y,
        vfr=bool(vfr),
        has_audio=bool(with_audio),
    )


def write_labels_csv(path: str | os.PathLike, clips: Iterable[SynthClip]) -> Path:
    """Write Audible623-format labels (video_id = file stem, class = scene) for *clips*, atomically."""
    clips = list(clips)
    out = check_output_path(path, inputs=[c.path for c in clips])
    from actiondubber.evaluate.labels import write_labels

    rows = {c.video_id: list(c.labelled_frames) for c in clips}
    classes = {c.video_id: c.label_class for c in clips}
    return write_labels(out, rows, classes)
