"""A second, independent family of synthetic clips with exact event frames (test-only).

Written apart from ``actiondubber.synth`` on purpose, to check that what is tuned on one generator
transfers to another. Everything differs: a pinhole camera over a textured 3-D ground plane and
back wall (perspective: things shrink with depth), hand-held shake (smooth random rotations of the
camera) and slow pans, a rolling shutter (rows exposed at different instants) and motion blur (each
row integrates several sub-frame renders), lighting drift and flicker, shaded spheres with ground
shadows, articulated arms swinging hammers onto anvils, soft cushions that squash for several
frames, foreground occluders, sensor noise, H.264.

Scenes (the label class; ``bench_loo.py --subsets`` reports each):

``shake``    1-2 bouncing balls, strong hand-held shake and a fast rolling shutter.
``multi``    2-4 balls at different depths and sometimes a hammering arm: several movers at once.
``soft``     cushions dropped onto the floor: the contact lasts several frames, no rebound.
``hammer``   1-2 arms (shoulder, elbow, hammer) striking anvils; fast, motion-blurred downswings.
``negative`` an arm waving and a ball rolling at constant speed under shake: no events.

Three more scenes, not in the default set (so its figures stay comparable; ask for them with
``--scenes far,dense,steps``), for failure modes the five above do not cover:

``far``      a wide shot of a small ball (tennis-ball size, far from a wide-angle camera, 960x540):
             a few pixels across, under 1 px/frame at the detector's analysis size.
``dense``    two arms drumming fast (0.22-0.4 s per stroke each, alternating): several hits a second.
``steps``    a person walking across the floor, side view: each heel strike is an event; the other
             leg swings through, the body moves on.

The label of a contact at time t is the frame whose nominal time (the middle row's exposure centre,
``i / fps``) is nearest to t, the same convention as ``actiondubber.synth``.

    python benchmarks/make_synth2_set.py benchmarks/results/synth2 [--n 20] [--seconds 6] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from common import REAL, RESULTS, ROOT, run_main  # noqa: F401

from actiondubber.evaluate.labels import write_labels
from actiondubber.video.writer import write_video

SCENES = ("shake", "multi", "soft", "hammer", "negative")
EXTRA_SCENES = ("far", "dense", "steps")
G = 9.81  # m/s^2
WALL_Z = 9.0


# --------------------------------------------------------------------------- camera


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry  # world -> camera


@dataclass
class Camera:
    w: int
    h: int
    f: float
    height: float
    pitch: float  # radians, positive looks down
    shake_deg: float
    pan_rate: float  # rad/s
    rng_seed: int
    freqs: np.ndarray = field(init=False)
    phases: np.ndarray = field(init=False)
    amps: np.ndarray = field(init=False)

    def __post_init__(self):
        r = np.random.default_rng(self.rng_seed)
        self.freqs = r.uniform(1.0, 9.0, (3, 4))
        self.phases = r.uniform(0, 2 * math.pi, (3, 4))
        self.amps = r.uniform(0.4, 1.0, (3, 4)) / np.arange(1, 5)

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(R world->camera, centre) at time t: base pose + pan + smooth hand-held shake."""
        a = math.radians(self.shake_deg)
        s = (self.amps * np.sin(2 * math.pi * self.freqs * t + self.phases)).sum(axis=1) / self.amps.sum(axis=1)
        yaw = self.pan_rate * t + a * s[0]
        pitch = self.pitch + a * s[1]
        roll = 0.5 * a * s[2]
        c = np.array([0.03 * a * 20 * s[0], self.height + 0.02 * a * 20 * s[1], 0.0])
        # pitch>0 looks down: camera y is image-down, so rotate about x by -pitch in the usual sense
        return _rot(yaw, -pitch, roll), c

    def project(self, r: np.ndarray, c: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
        q = r @ (np.asarray(p, float) - c)
        z = max(q[2], 1e-3)
        return self.w / 2 + self.f * q[0] / z, self.h / 2 - self.f * q[1] / z, z


# --------------------------------------------------------------------------- world


def _texture(rng: np.random.Generator, size: int, base: np.ndarray) -> np.ndarray:
    """A tileable-looking texture: low-frequency blotches, planks or tiles, fine grain."""
    low = cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(rng.normal(0, 1, (48, 48)).astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    fine = rng.normal(0, 1, (size, size)).astype(np.float32)
    lum = 1 + 0.18 * low + 0.10 * mid + 0.05 * fine
    kind = rng.integers(3)
    yy, xx = np.mgrid[0:size, 0:size]
    if kind == 0:  # planks
        lum *= np.where((yy % 64) < 3, 0.6, 1.0)
    elif kind == 1:  # tiles
        lum *= np.where(((yy % 96) < 3) | ((xx % 96) < 3), 0.7, 1.0)
    return np.clip(lum[..., None] * base[None, None, :], 0, 255).astype(np.float32)


@dataclass
class World:
    ground: np.ndarray  # texture, BGR float32, covers X in [-6, 6], Z in [0, WALL_Z]
    wall: np.ndarray  # texture, covers X in [-8, 8], Y in [0, 6] at Z = WALL_Z
    light: np.ndarray  # unit vector, world
    gain_drift: float
    flicker: float
    seed: int


def _plane_h(cam: Camera, r: np.ndarray, c: np.ndarray, o, ax, bx) -> np.ndarray:
    """Homography texture pixel (u, v) -> image for the plane point o + u*ax + v*bx."""
    k = np.array([[cam.f, 0, cam.w / 2], [0, -cam.f, cam.h / 2], [0, 0, 1]])
    return k @ r @ np.column_stack([ax, bx, np.asarray(o, float) - c])


def render_background(cam: Camera, world: World, r: np.ndarray, c: np.ndarray, grid) -> np.ndarray:
    """Ground plane (Y = 0) and back wall (Z = WALL_Z) through the camera; they meet in a straight line."""
    gs, ws = world.ground.shape[0], world.wall.shape[0]
    hg = _plane_h(cam, r, c, (-6, 0, 0), (12 / gs, 0, 0), (0, 0, WALL_Z / gs))
    hw = _plane_h(cam, r, c, (-8, 6, WALL_Z), (16 / ws, 0, 0), (0, -6 / ws, 0))
    size = (cam.w, cam.h)
    g = cv2.warpPerspective(world.ground, hg, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    wl = cv2.warpPerspective(world.wall, hw, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    (u0, v0, _), (u1, v1, _) = (cam.project(r, c, (x, 0, WALL_Z)) for x in (-8.0, 8.0))
    xs, ys = grid
    below = (ys - v0) * (u1 - u0) - (xs - u0) * (v1 - v0) > 0
    return np.where(below[..., None], g, wl * 0.9).astype(np.float32)


# --------------------------------------------------------------------------- movers


@dataclass
class Ball:
    """A sphere bouncing on the ground plane (exact analytic flights), relaunched when it comes to rest."""

    x: float
    z: float
    radius: float
    color: np.ndarray
    restitution: float
    vx: float
    vz: float
    launch: float  # upward speed at each relaunch
    rest: float  # seconds at rest before a relaunch
    soft: float = 0.0  # > 0: a cushion: contact lasts this long, squashes, no rebound
    contacts: list = field(default_factory=list)
    segs: list = field(default_factory=list)  # (t0, kind, y0, vy0, x0, z0, vx, vz)

    def simulate(self, seconds: float, y0: float) -> None:
        """Exact flights between contacts; walls of the play area turn the horizontal motion at contacts."""
        t, y, vy, x, z = 0.0, y0, 0.0, self.x, self.z
        vx, vz = self.vx, self.vz
        while t < seconds + 1:
            dt = (vy + math.sqrt(vy * vy + 2 * G * y)) / G  # time to reach the ground
            self.segs.append((t, "fly", y, vy, x, z, vx, vz))
            t += dt
            x, z = x + vx * dt, z + vz * dt
            vx = -abs(vx) * np.sign(x) if abs(x) > 2.0 else vx
            vz = -abs(vz) * np.sign(z - 5.25) if (z < 3.0 or z > 7.5) else vz
            v_hit = vy - G * dt
            self.contacts.append(t)
            if self.soft > 0:
                self.segs.append((t, "squash", 0.0, v_hit, x, z, 0.0, 0.0))
                self.segs.append((t + self.soft, "rest", self._squash(-v_hit, self.soft), 0.0, x, z, 0.0, 0.0))
                t += self.soft + self.rest
                y, vy = 0.0, self.launch
                continue
            vy, y = -v_hit * self.restitution, 0.0
            if vy < 1.2:  # comes to rest, later thrown up again (silently: a speed-up)
                self.segs.append((t, "rest", 0.0, 0.0, x, z, 0.0, 0.0))
                t += self.rest
                vy = self.launch

    def _squash(self, v: float, dt: float) -> float:
        """How far a cushion's centre has sunk *dt* after first touch at speed *v* (peaks at soft/3)."""
        tau = self.soft / 3
        return min(0.45 * self.radius, v * dt * math.exp(-dt / tau))

    def state(self, t: float) -> tuple[float, float, float, float]:
        """(x, y of the centre, z, squash) at time t."""
        seg = self.segs[0]
        for s in self.segs:
            if s[0] > t:
                break
            seg = s
        t0, kind, y0, vy0, x0, z0, vx, vz = seg
        dt = t - t0
        if kind == "fly":
            y = y0 + vy0 * dt - 0.5 * G * dt * dt
            return x0 + vx * dt, max(y, 0.0) + self.radius, z0 + vz * dt, 0.0
        if kind == "roll":
            return x0 + vx * dt, self.radius, z0, 0.0
        if kind == "squash":
            d = self._squash(-vy0, dt)
            return x0, self.radius - d, z0, d
        return x0, self.radius - y0, z0, y0  # rest (y0 = the squash it keeps)


@dataclass
class Arm:
    """Shoulder, upper arm, forearm and hammer in a vertical plane at depth z; strikes an anvil."""

    sx: float
    sy: float
    z: float
    scale: float
    strikes: list  # contact times
    wave: bool = False  # a waving arm that never touches anything
    period: float = 0.8
    side: int = 1
    skin: np.ndarray = field(default_factory=lambda: np.array([120, 150, 200], np.float32))

    phi_hit: float = -0.35  # hammer angle at contact (radians, 0 = horizontal, side-signed)
    phi_up: float = 1.1

    def angle(self, t: float) -> float:
        if self.wave:
            return 0.35 + 0.6 * math.sin(2 * math.pi * t / self.period)
        # strike k: downswing over td before the contact, dwell, slow lift to the next downswing
        td = 0.16 * self.period
        dwell = 0.08
        prev = [s for s in self.strikes if s <= t]
        nxt = [s for s in self.strikes if s > t]
        if nxt and nxt[0] - t <= td:
            s = 1 - (nxt[0] - t) / td
            return self.phi_up + (self.phi_hit - self.phi_up) * s * s
        if prev:
            since = t - prev[-1]
            if since <= dwell:
                return self.phi_hit
            lift_end = (nxt[0] - td) if nxt else prev[-1] + self.period
            span = max(lift_end - prev[-1] - dwell, 1e-3)
            u = min(1.0, (since - dwell) / span)
            return self.phi_hit + (self.phi_up - self.phi_hit) * 0.5 * (1 - math.cos(math.pi * u))
        return self.phi_up

    def joints(self, t: float) -> list[np.ndarray]:
        phi = self.angle(t)
        L1, L2, L3 = 0.45 * self.scale, 0.4 * self.scale, 0.35 * self.scale
        a1 = -1.2 + 0.35 * (phi - self.phi_hit)  # upper arm hangs down and forward, lifts with the swing
        sh = np.array([self.sx, self.sy, self.z])
        el = sh + L1 * np.array([self.side * math.cos(a1), math.sin(a1), 0])
        a2 = phi + 0.2
        wr = el + L2 * np.array([self.side * math.cos(a2), math.sin(a2), 0])
        hd = wr + L3 * np.array([self.side * math.cos(phi - 0.6), math.sin(phi - 0.6), 0])
        return [sh, el, wr, hd]

    def anvil_top(self) -> np.ndarray:
        hd = self.joints(self.strikes[0] if self.strikes and not self.wave else 0.0)[-1]
        return hd - np.array([0, 0.06 * self.scale, 0])


@dataclass
class Walker:
    """A person walking at constant speed in a vertical plane at depth z, side view: hips, knees, feet.

    Each foot plants every ``2 * step`` seconds (the feet alternate); a foot swings forward over the
    last ``swing`` seconds before its plant along an arc, and arrives moving down (a heel strike, the
    contact). Between plants it stays where it landed while the body moves on."""

    x0: float
    z: float
    speed: float  # m/s, signed
    step: float  # s between plants of alternate feet
    scale: float
    t0: float  # first plant (foot 0)
    colour: np.ndarray = field(default_factory=lambda: np.array([70, 60, 140], np.float32))

    @property
    def swing(self) -> float:
        return 0.8 * self.step

    def hip(self, t: float) -> np.ndarray:
        bob = 0.015 * self.scale * math.cos(2 * math.pi * (t - self.t0) / self.step)
        return np.array([self.x0 + self.speed * t, 0.9 * self.scale + bob, self.z])

    def plants(self, foot: int, seconds: float) -> list[float]:
        out, t = [], self.t0 + foot * self.step - 4 * self.step
        while t < seconds + 1:
            out.append(t)
            t += 2 * self.step
        return out

    def _land(self, tp: float) -> float:
        return self.x0 + self.speed * tp + 0.25 * self.speed * 2 * self.step  # a little ahead of the hip

    def foot(self, foot: int, t: float) -> np.ndarray:
        ps = self.plants(foot, t + 2 * self.step)
        nxt = min(p for p in ps if p > t)
        prev = nxt - 2 * self.step
        x_prev, x_next = self._land(prev), self._land(nxt)
        lift = nxt - self.swing
        if t <= lift:
            return np.array([x_prev, 0.03 * self.scale, self.z])
        u = (t - lift) / self.swing
        x = x_prev + (x_next - x_prev) * (3 * u * u - 2 * u ** 3)
        y = 0.03 * self.scale + 0.13 * self.scale * math.sin(math.pi * u)
        return np.array([x, y, self.z])

    def contacts(self, seconds: float) -> list[float]:
        return sorted(t for f in (0, 1) for t in self.plants(f, seconds) if 0 <= t <= seconds)

    def knee(self, hip: np.ndarray, foot: np.ndarray) -> np.ndarray:
        length = 0.46 * self.scale
        d = foot - hip
        dist = min(float(np.linalg.norm(d)), 2 * length - 1e-4)
        mid = hip + 0.5 * d
        off = math.sqrt(max(length * length - 0.25 * dist * dist, 0.0))
        n = np.array([-d[1], d[0], 0.0]) / (float(np.linalg.norm(d[:2])) + 1e-9)
        if n[0] * self.speed < 0:  # knees bend forward
            n = -n
        return mid + off * n


def draw_ball(img, cam, r, c, ball: Ball, t: float, light: np.ndarray) -> None:
    x, y, z, sq = ball.state(t)
    u, v, depth = cam.project(r, c, (x, y, z))
    rad = cam.f * ball.radius / depth
    ry = cam.f * (ball.radius - sq * 0.5) / depth if sq > 0 else rad
    rx = rad + (rad - ry) * 0.6
    # shadow on the ground, weaker and wider with height
    su, sv, _ = cam.project(r, c, (x, 0.0, z))
    hgt = max(0.0, y - ball.radius)
    sh_a = 0.45 / (1 + 3 * hgt)
    axes = (max(1, int(rx * (1 + hgt))), max(1, int(0.3 * rx * (1 + hgt))))
    bx0, by0 = int(max(0, su - axes[0] - 6)), int(max(0, sv - axes[1] - 6))
    bx1, by1 = int(min(cam.w, su + axes[0] + 7)), int(min(cam.h, sv + axes[1] + 7))
    if bx1 > bx0 and by1 > by0:
        shadow = np.zeros((by1 - by0, bx1 - bx0), np.float32)
        cv2.ellipse(shadow, (int(su) - bx0, int(sv) - by0), axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        img[by0:by1, bx0:bx1] *= (1 - sh_a * cv2.GaussianBlur(shadow, (0, 0), 2))[..., None]
    x0, x1 = int(max(0, u - rx - 2)), int(min(cam.w, u + rx + 3))
    y0, y1 = int(max(0, v - ry - 2)), int(min(cam.h, v + ry + 3))
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    nx, ny = (xx - u) / max(rx, 0.5), (yy - v) / max(ry, 0.5)
    rr = nx * nx + ny * ny
    alpha = np.clip((1 - np.sqrt(rr)) * max(rx, 1) + 0.5, 0, 1)
    nz = np.sqrt(np.clip(1 - rr, 0, 1))
    shade = np.clip(0.35 + 0.65 * (nx * light[0] - ny * light[1] + nz * light[2]), 0.2, 1.2)
    spot = (np.clip(nx * light[0] - ny * light[1] + nz * light[2], 0, 1) ** 12) * 90
    col = shade[..., None] * ball.color[None, None, :] + spot[..., None]
    patch = img[y0:y1, x0:x1]
    patch[:] = patch * (1 - alpha[..., None]) + col * alpha[..., None]


def draw_walker(img, cam, r, c, wk: Walker, t: float) -> None:
    hip = wk.hip(t)
    sc = cam.f * wk.scale / cam.project(r, c, hip)[2]

    def px(p):
        u, v, _ = cam.project(r, c, p)
        return int(round(u * 8)), int(round(v * 8))

    neck = hip + np.array([0.03 * wk.speed, 0.55 * wk.scale, 0])
    cv2.line(img, px(hip), px(neck), (90, 90, 90), max(2, int(0.16 * sc)), cv2.LINE_AA, shift=3)
    head = cam.project(r, c, neck + np.array([0, 0.13 * wk.scale, 0]))
    cv2.circle(img, (int(head[0] * 8), int(head[1] * 8)), max(8, int(0.09 * sc * 8)), (110, 140, 190), -1,
               cv2.LINE_AA, shift=3)
    for f, shade in ((1, 0.75), (0, 1.0)):  # far leg first, darker
        ft = wk.foot(f, t)
        kn = wk.knee(hip, ft)
        col = (wk.colour * shade).tolist()
        cv2.line(img, px(hip), px(kn), col, max(2, int(0.09 * sc)), cv2.LINE_AA, shift=3)
        cv2.line(img, px(kn), px(ft), col, max(2, int(0.07 * sc)), cv2.LINE_AA, shift=3)
        toe = ft + np.array([0.12 * wk.scale * np.sign(wk.speed), -0.02 * wk.scale, 0])
        cv2.line(img, px(ft), px(toe), (30, 30, 40), max(2, int(0.05 * sc)), cv2.LINE_AA, shift=3)


def draw_arm(img, cam, r, c, arm: Arm, t: float) -> None:
    pts = [cam.project(r, c, p) for p in arm.joints(t)]
    sc = cam.f * arm.scale / pts[0][2]
    p2 = [(int(round(p[0] * 8)), int(round(p[1] * 8))) for p in pts]
    cv2.line(img, p2[0], p2[1], (60, 70, 110), max(2, int(0.14 * sc)), cv2.LINE_AA, shift=3)
    cv2.line(img, p2[1], p2[2], arm.skin.tolist(), max(2, int(0.10 * sc)), cv2.LINE_AA, shift=3)
    cv2.line(img, p2[2], p2[3], (40, 80, 120), max(1, int(0.04 * sc)), cv2.LINE_AA, shift=3)
    hd = np.array(pts[3][:2])
    hs = max(2.0, 0.07 * sc)
    d = np.array(pts[3][:2]) - np.array(pts[2][:2])
    d /= np.linalg.norm(d) + 1e-6
    n = np.array([-d[1], d[0]])
    quad = np.array([hd + hs * (d * 0.6 + n), hd + hs * (d * 0.6 - n), hd + hs * (-d * 0.6 - n),
                     hd + hs * (-d * 0.6 + n)])
    cv2.fillConvexPoly(img, np.round(quad * 8).astype(np.int32), (150, 150, 160), cv2.LINE_AA, shift=3)


def draw_anvil(img, cam, r, c, arm: Arm) -> None:
    top = arm.anvil_top()
    s = arm.scale
    corners = [top + np.array([dx, dy, 0]) for dx, dy in ((-0.18 * s, 0), (0.18 * s, 0), (0.12 * s, -top[1]),
                                                          (-0.12 * s, -top[1]))]
    q = np.array([cam.project(r, c, p)[:2] for p in corners])
    cv2.fillConvexPoly(img, np.round(q * 8).astype(np.int32), (55, 50, 50), cv2.LINE_AA, shift=3)
    back = [p + np.array([0, 0, 0.25 * s]) for p in corners[:2]]
    qt = np.array([cam.project(r, c, p)[:2] for p in (corners[0], corners[1], back[1], back[0])])
    cv2.fillConvexPoly(img, np.round(qt * 8).astype(np.int32), (90, 85, 85), cv2.LINE_AA, shift=3)


# --------------------------------------------------------------------------- clip


@dataclass
class Clip:
    video_id: str
    scene: str
    fps: float
    n_frames: int
    frames: list[int]
    size: tuple[int, int]  # (width, height): the far scene renders larger than asked


def _strike_times(rng, seconds, period, start) -> list[float]:
    out, t = [], start
    while t < seconds + 1:
        out.append(t)
        t += period * rng.uniform(0.8, 1.25)
    return out


def build(scene: str, rng: np.random.Generator, seconds: float):
    balls: list[Ball] = []
    arms: list[Arm] = []
    walkers: list[Walker] = []

    def ball(soft=0.0):
        col = rng.uniform(40, 230, 3).astype(np.float32)
        rad = rng.uniform(0.08, 0.18) * (1.6 if soft else 1)
        b = Ball(x=rng.uniform(-1.6, 1.6), z=rng.uniform(3.5, 7.0), radius=rad, color=col,
                 restitution=rng.uniform(0.5, 0.78), vx=rng.uniform(-0.5, 0.5), vz=rng.uniform(-0.4, 0.4),
                 launch=rng.uniform(3.5, 5.5), rest=rng.uniform(0.2, 0.6), soft=soft)
        b.simulate(seconds, y0=rng.uniform(0.6, 1.8))
        balls.append(b)

    def arm(wave=False, period=None):
        period = rng.uniform(0.55, 1.1) if period is None else period
        side = 1 if len(arms) == 0 else -1
        a = Arm(sx=-1.2 * side + rng.uniform(-0.3, 0.3), sy=rng.uniform(1.1, 1.5), z=rng.uniform(3.5, 5.0),
                scale=rng.uniform(1.0, 1.4), strikes=[] if wave else _strike_times(rng, seconds, period,
                                                                                    rng.uniform(0.3, 0.8)),
                wave=wave, period=period, side=side)
        arms.append(a)

    if scene == "shake":
        for _ in range(rng.integers(1, 3)):
            ball()
    elif scene == "multi":
        for _ in range(rng.integers(2, 5)):
            ball()
        if rng.random() < 0.5:
            arm()
    elif scene == "soft":
        for _ in range(rng.integers(1, 3)):
            ball(soft=rng.uniform(0.06, 0.14))
    elif scene == "hammer":
        for _ in range(rng.integers(1, 3)):
            arm()
    elif scene == "negative":
        arm(wave=True)
        b = Ball(x=-2.0, z=rng.uniform(4, 6), radius=0.14, color=rng.uniform(40, 230, 3).astype(np.float32),
                 restitution=0.5, vx=rng.uniform(0.4, 0.8), vz=0.0, launch=0.0, rest=1e9)
        b.segs = [(0.0, "roll", 0.0, 0.0, -2.0, b.z, b.vx, 0.0)]
        balls.append(b)
    elif scene == "far":  # tennis-ball size, far back, bouncing lively
        for _ in range(rng.integers(1, 3)):
            b = Ball(x=rng.uniform(-2.5, 2.5), z=rng.uniform(7.0, 8.6), radius=rng.uniform(0.03, 0.045),
                     color=rng.uniform(150, 250, 3).astype(np.float32), restitution=rng.uniform(0.6, 0.8),
                     vx=rng.uniform(-1.0, 1.0), vz=0.0, launch=rng.uniform(4.0, 6.0), rest=rng.uniform(0.1, 0.3))
            b.simulate(seconds, y0=rng.uniform(1.0, 2.2))
            balls.append(b)
    elif scene == "dense":  # two arms drumming fast, alternating
        period = rng.uniform(0.22, 0.4)
        arm(period=period)
        arm(period=period)
        arms[1].strikes = [t + 0.5 * period for t in arms[0].strikes]
    elif scene == "steps":
        side = rng.choice([-1.0, 1.0])
        speed = side * rng.uniform(0.7, 1.3)
        walkers.append(Walker(x0=-side * rng.uniform(1.2, 2.0), z=rng.uniform(3.5, 5.0), speed=speed,
                              step=rng.uniform(0.45, 0.62), scale=rng.uniform(0.9, 1.15), t0=rng.uniform(0.1, 0.5)))
    else:
        raise ValueError(scene)
    return balls, arms, walkers


def render(out: Path, scene: str, seed: int, seconds: float, fps: float, size: tuple[int, int]) -> Clip:
    rng = np.random.default_rng(seed)
    shake = {"shake": rng.uniform(0.8, 2.0), "negative": rng.uniform(0.6, 1.6)}.get(scene, rng.uniform(0.0, 0.35))
    if scene == "far":  # a wide shot: 960x540 through a wide lens
        size = (960, 540)
    readout = rng.uniform(0.5, 0.95) if scene in ("shake", "negative") or rng.random() < 0.4 else 0.0
    exposure = rng.uniform(0.3, 0.9) if scene == "hammer" or rng.random() < 0.5 else rng.uniform(0.0, 0.2)
    w, h = size
    focal = (rng.uniform(0.55, 0.75) if scene == "far" else rng.uniform(0.9, 1.4)) * w
    cam = Camera(w, h, f=focal, height=rng.uniform(1.2, 1.8), pitch=rng.uniform(0.12, 0.3),
                 shake_deg=shake, pan_rate=rng.choice([0.0, 0.0, rng.uniform(-0.08, 0.08)]), rng_seed=seed + 7)
    world = World(ground=_texture(rng, 512, rng.uniform(70, 200, 3)), wall=_texture(rng, 512, rng.uniform(80, 210, 3)),
                  light=np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.4, 0.8), 0.6]), gain_drift=rng.uniform(0, 0.15),
                  flicker=rng.uniform(0, 0.03), seed=seed)
    world.light /= np.linalg.norm(world.light)
    balls, arms, walkers = build(scene, rng, seconds)
    occluder = rng.random() < 0.35
    occ_x0, occ_v, occ_w = rng.uniform(0, w), rng.uniform(-0.08, 0.08) * w, rng.uniform(0.04, 0.09) * w
    noise = rng.uniform(0.5, 3.0)
    n = int(round(seconds * fps))
    ys_, xs_ = np.mgrid[0:h, 0:w].astype(np.float32)
    rows = np.arange(h) / max(h - 1, 1) - 0.5
    span = (readout + exposure) / fps
    k = 1 if span <= 0.05 / fps else int(min(5, max(2, math.ceil(span * fps * 6))))
    offs = np.linspace(-span / 2, span / 2, k) if k > 1 else np.zeros(1)
    centre = rows * readout / fps  # each row's exposure centre, relative to the frame's time
    hw = max(exposure / 2 / fps, (offs[1] - offs[0]) if k > 1 else 1.0)
    wts = np.clip(1 - np.abs(offs[None, :] - centre[:, None]) / hw, 0, None) if k > 1 else np.ones((h, 1))
    wts /= wts.sum(axis=1, keepdims=True)
    noise_rng = np.random.default_rng(seed + 99)
    contacts = (sorted(t for b in balls for t in b.contacts) + sorted(t for a in arms for t in a.strikes)
                + [t for wk in walkers for t in wk.contacts(seconds)])
    labels = sorted({int(math.floor(t * fps + 0.5 - 1e-9)) for t in contacts if 0 <= t * fps <= n - 1 + 0.5})
    labels = [f for f in labels if f <= n - 1]

    def one(t: float) -> np.ndarray:
        r, c = cam.pose(t)
        img = render_background(cam, world, r, c, (xs_, ys_))
        items = ([(b.state(t)[2], "b", b) for b in balls] + [(a.z, "a", a) for a in arms]
                 + [(wk.z, "w", wk) for wk in walkers])
        for _z, kind, obj in sorted(items, key=lambda it: -it[0]):
            if kind == "b":
                draw_ball(img, cam, r, c, obj, t, world.light)
            elif kind == "w":
                draw_walker(img, cam, r, c, obj, t)
            else:
                if not obj.wave:
                    draw_anvil(img, cam, r, c, obj)
                draw_arm(img, cam, r, c, obj, t)
        if occluder:
            x = (occ_x0 + occ_v * t) % (w + occ_w) - occ_w
            cv2.rectangle(img, (int(x), 0), (int(x + occ_w), h), (30, 35, 30), -1)
        return img

    def frames():
        for i in range(n):
            t = i / fps
            acc = np.zeros((h, w, 3), np.float32)
            for j, o in enumerate(offs):
                acc += one(t + o) * wts[:, j, None, None].astype(np.float32)
            gain = 1 + world.gain_drift * math.sin(2 * math.pi * t / 3.1) + world.flicker * noise_rng.normal()
            acc = acc * gain + noise_rng.normal(0, noise, acc.shape).astype(np.float32)
            yield np.clip(acc, 0, 255).astype(np.uint8)

    write_video(out, frames(), fps, input_format="bgr24", crf=20)
    return Clip(out.stem, scene, fps, n, labels, (w, h))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n", type=int, default=20, help="number of clips (default 20: 4 of each scene)")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", default=",".join(SCENES),
                    help=f"comma-separated scenes, taken in turn (default {','.join(SCENES)}; "
                         f"also {', '.join(EXTRA_SCENES)})")
    args = ap.parse_args(argv)
    scenes = tuple(x.strip() for x in args.scenes.split(",") if x.strip())
    bad = [x for x in scenes if x not in SCENES + EXTRA_SCENES]
    if bad or not scenes:
        ap.error(f"unknown scene(s) {', '.join(bad) or '(none)'}; choose from {', '.join(SCENES + EXTRA_SCENES)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    t0 = time.perf_counter()
    fpss = (30.0, 25.0, 30.0, 60.0)
    sizes = ((320, 240), (480, 270), (400, 300), (640, 360))
    for i in range(args.n):
        scene = scenes[i % len(scenes)]
        fps = fpss[(i // len(scenes)) % len(fpss)]
        size = sizes[(i // 2) % len(sizes)]
        clip = render(args.out_dir / f"s2_{i:03d}_{scene}.mp4", scene, args.seed * 1000 + i, args.seconds, fps, size)
        clips.append(clip)
        print(f"{clip.video_id}: {clip.size[0]}x{clip.size[1]} {fps:.0f} fps, {clip.n_frames} frames, "
              f"{len(clip.frames)} events {clip.frames}", flush=True)
    write_labels(args.out_dir / "labels.csv", {c.video_id: c.frames for c in clips},
                 {c.video_id: c.scene for c in clips})
    print(f"{len(clips)} clips in {time.perf_counter() - t0:.0f} s; labels {args.out_dir / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    run_main(main)
