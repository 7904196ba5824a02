"""Exact, event-driven motion for the synthetic scenes.

Projectiles fly on parabolas under gravity between instantaneous impacts with
a floor, walls or paddles. Impact instants are solved in closed form (sub-frame
exact), so the trajectory at any time ``t`` is exact and the rendered frame at
the impact's nearest timestamp shows the body touching the surface. Every
impact is audible; every other motion here (pendulum, wheel, slider, camera
pan) is smooth (C-infinity in time) and silent.

Coordinates are pixels of the scene ("world") canvas, y pointing down;
times are seconds.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

#: Gravity in frame heights per second squared (a 1 m tall view at about 1/4 of g).
G_PER_HEIGHT = 2.4


@dataclass(frozen=True)
class Impact:
    """One audible impact in world coordinates: when, who, where and how hard."""

    time: float
    obj: int
    surface: str  # "floor", "left", "right" or "paddle"
    speed: float  # normal impact speed, px/s
    x: float
    y: float


@dataclass(frozen=True)
class Flight:
    """A ballistic segment starting at ``t0``: position, velocity, angle and spin there."""

    t0: float
    x0: float
    y0: float
    vx: float
    vy: float
    angle0: float = 0.0
    spin: float = 0.0


@dataclass(frozen=True)
class BounceRule:
    """How a projectile leaves a surface.

    Floor: ``vy_out = restitution * vy_in``; when the next apex would be lower
    than ``min_apex`` (or always, for ``throw``) the body is sent up again to an
    apex drawn from ``apex_range`` (an impulse at the impact instant, so still a
    single audible collision, never a silent change of motion). With ``lane``
    the horizontal speed is re-aimed at every floor impact so the next landing
    stays inside the lane. Walls: ``vx_out = -wall_restitution * vx_in``,
    re-energised into ``vx_range`` when too slow.
    """

    restitution: float
    min_apex: float
    apex_range: tuple[float, float]
    throw: bool = False
    lane: tuple[float, float] | None = None
    walls: tuple[float, float] | None = None
    wall_restitution: float = 0.85
    vx_range: tuple[float, float] = (0.0, 0.0)


def _time_to_fall(y0: float, vy: float, g: float, y_hit: float) -> float:
    """Positive time until ``y0 + vy t + g t^2 / 2`` reaches ``y_hit`` (>= y0), numerically stable."""
    d = max(y_hit - y0, 0.0)
    disc = math.sqrt(vy * vy + 2.0 * g * d)
    if vy < 0:
        return (disc - vy) / g
    if d == 0.0:
        return 0.0
    return 2.0 * d / (vy + disc)


@dataclass
class Projectile:
    """A body (``ball``, ``disc`` or ``box``) moving on exact ballistic segments."""

    kind: str
    ext: float  # half size: radius of a ball/disc, half side of a box
    color: tuple[int, int, int]
    g: float
    flights: list[Flight] = field(default_factory=list)
    _t0s: list[float] = field(default_factory=list, repr=False)

    def add(self, flight: Flight) -> None:
        self.flights.append(flight)
        self._t0s.append(flight.t0)

    def state(self, t: float) -> tuple[float, float, float]:
        """Exact (x, y, angle) of the centre at time *t*."""
        i = max(0, bisect.bisect_right(self._t0s, t) - 1)
        f = self.flights[i]
        dt = t - f.t0
        return f.x0 + f.vx * dt, f.y0 + f.vy * dt + 0.5 * self.g * dt * dt, f.angle0 + f.spin * dt


def simulate(
    proj: Projectile,
    obj: int,
    start: Flight,
    *,
    surface_y: float,
    surface: str,
    rule: BounceRule,
    t_end: float,
    rng: np.random.Generator,
) -> list[Impact]:
    """Fill *proj* with flights from *start* until *t_end*; return its impacts in time order.

    *surface_y* is the y of the floor (or paddle top) the body lands on.
    """
    g, ext = proj.g, proj.ext
    y_rest = surface_y - ext
    impacts: list[Impact] = []
    f = start
    proj.add(f)
    while True:
        t_floor = f.t0 + _time_to_fall(f.y0, f.vy, g, y_rest)
        t_wall, side = math.inf, ""
        if rule.walls is not None and f.vx != 0.0:
            if f.vx > 0:
                t_wall, side = f.t0 + (rule.walls[1] - ext - f.x0) / f.vx, "right"
            else:
                t_wall, side = f.t0 + (rule.walls[0] + ext - f.x0) / f.vx, "left"
            if t_wall <= f.t0:
                t_wall = f.t0 + 1e-9
        t_hit = min(t_floor, t_wall)
        if t_hit > t_end:
            break
        dt = t_hit - f.t0
        x = f.x0 + f.vx * dt
        vy_in = f.vy + g * dt
        angle = f.angle0 + f.spin * dt
        if t_wall < t_floor:
            y = f.y0 + f.vy * dt + 0.5 * g * dt * dt
            speed = abs(f.vx)
            vx = -rule.wall_restitution * f.vx
            if abs(vx) < rule.vx_range[0]:
                vx = -math.copysign(rng.uniform(*rule.vx_range), f.vx)
            x = rule.walls[1] - ext if side == "right" else rule.walls[0] + ext
            cx = x + (ext if side == "right" else -ext)
            impacts.append(Impact(t_hit, obj, side, speed, cx, y))
            spin = -f.spin * 0.6 + rng.normal(0.0, 1.0)
            f = Flight(t_hit, x, y, vx, vy_in, angle, spin)
        else:
            speed = vy_in
            vy_out = rule.restitution * vy_in
            if rule.throw or vy_out * vy_out / (2 * g) < rule.min_apex:
                vy_out = math.sqrt(2 * g * rng.uniform(*rule.apex_range))
            vx = f.vx
            if rule.lane is not None:
                flight_time = 2.0 * vy_out / g
                target = rng.uniform(rule.lane[0] + ext, rule.lane[1] - ext)
                vx = (target - x) / flight_time
            impacts.append(Impact(t_hit, obj, surface, speed, x, surface_y))
            spin = vx / ext + rng.normal(0.0, 1.5) if proj.kind == "disc" else 0.0
            f = Flight(t_hit, x, y_rest, vx, -vy_out, angle, spin)
        proj.add(f)
    return impacts


def first_flight(
    rng: np.random.Generator,
    *,
    x: float,
    height: float,
    surface_y: float,
    ext: float,
    g: float,
    lane: tuple[float, float] | None,
    vx: float = 0.0,
) -> Flight:
    """Starting flight at t=0: released *height* px above contact with a small random vertical speed.

    With a *lane*, the horizontal speed is aimed so the first landing falls in the lane.
    """
    y0 = surface_y - ext - height
    vy = rng.uniform(-0.25, 0.15) * math.sqrt(2 * g * max(height, 1.0))
    if lane is not None:
        t_land = _time_to_fall(y0, vy, g, surface_y - ext)
        vx = (rng.uniform(lane[0] + ext, lane[1] - ext) - x) / max(t_land, 1e-3)
    return Flight(0.0, x, y0, vx, vy, rng.uniform(0, 2 * math.pi), rng.normal(0.0, 2.0))


@dataclass(frozen=True)
class Pendulum:
    """Silent pendulum: ``theta(t) = amp * cos(2 pi t / period + phase)`` about a pivot."""

    px: float
    py: float
    length: float
    amp: float
    period: float
    phase: float
    bob: float  # bob radius

    def bob_xy(self, t: float) -> tuple[float, float]:
        th = self.amp * math.cos(2 * math.pi * t / self.period + self.phase)
        return self.px + self.length * math.sin(th), self.py + self.length * math.cos(th)


@dataclass(frozen=True)
class Wheel:
    """Silent wheel turning in place with a smoothly varying angular speed."""

    cx: float
    cy: float
    radius: float
    omega: float
    wobble: float
    period: float
    phase: float

    def angle(self, t: float) -> float:
        return self.omega * t + self.wobble * math.sin(2 * math.pi * t / self.period + self.phase)


@dataclass(frozen=True)
class Slider:
    """Silent block sliding along a rail, smoothly accelerating and decelerating (sinusoid)."""

    xc: float
    y: float
    amp: float
    period: float
    phase: float
    half_w: float
    half_h: float

    def xy(self, t: float) -> tuple[float, float]:
        return self.xc + self.amp * math.sin(2 * math.pi * t / self.period + self.phase), self.y


@dataclass(frozen=True)
class Pan:
    """Slow camera pan: view offset ``(mx + ax sin(.), my + ay sin(.))`` into the larger world canvas."""

    mx: float
    my: float
    ax: float
    ay: float
    px: float
    py: float
    phx: float
    phy: float

    def offset(self, t: float) -> tuple[float, float]:
        return (
            self.mx + self.ax * math.sin(2 * math.pi * t / self.px + self.phx),
            self.my + self.ay * math.sin(2 * math.pi * t / self.py + self.phy),
        )
