"""Seeded synthetic scenes: layout and exact simulation of bodies that collide, and distractors that do not.

:func:`build_scene` lays out a scene and simulates it exactly (:mod:`~actiondubber.synth.physics`);
the :class:`SceneModel` it returns renders its noise-free picture at any time
(:mod:`~actiondubber.synth.draw`). :mod:`actiondubber.synth.clip` turns a scene into a video file.

Scenes (``SCENES``):

``bounce``   1-3 balls / textured discs / boxes bouncing on a floor, each in its own lane.
``walls``    one ball bouncing between two walls and the floor.
``pendulum`` distractors only (one or two pendulums, maybe a sliding block): zero collisions.
``pan``      ``bounce`` under a slow camera pan (the whole picture, background included, moves).
``wheel``    a wheel turning at a varying speed beside one bouncing ball.
``mixed``    1-2 bouncing bodies plus a pendulum and a wheel or sliding block, sometimes panned.
``juggle``   1-3 balls thrown straight up again every time they land on their paddle.

Distractor motions are smooth and silent and are never labelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from actiondubber.errors import ParameterError
from actiondubber.synth import draw
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

SCENES = ("bounce", "walls", "pendulum", "pan", "wheel", "mixed", "juggle")
OBJECT_KINDS = ("ball", "disc", "box")
BACKGROUNDS = ("noise", "gradient", "checker", "shapes")


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
    a later *t_end* only appends impacts. Raises :class:`~actiondubber.errors.ParameterError` for an unknown
    scene, kind or background.
    """
    if scene not in SCENES:
        raise ParameterError(f"unknown scene {scene!r}; choose from {', '.join(SCENES)}")
    for k in kinds or ():
        if k not in OBJECT_KINDS:
            raise ParameterError(f"unknown object kind {k!r}; choose from {', '.join(OBJECT_KINDS)}")
    if background is not None and background not in BACKGROUNDS:
        raise ParameterError(f"unknown background {background!r}; choose from {', '.join(BACKGROUNDS)}")
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
