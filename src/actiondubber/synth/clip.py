"""Render a synthetic clip with exactly known collision frames and its impact sounds.

:func:`render_clip` builds the scene (:func:`~actiondubber.synth.scenes.build_scene`), renders each
frame at its true timestamp, adds sensor noise, and hands the frames one at a time, with the
streamed soundtrack (one impact sound per collision, :mod:`~actiondubber.synth.audio`), to the
package's encoder and muxer (:func:`actiondubber.video.writer.write_video`).

Collision frame convention: a collision at instant ``t`` is labelled with the
0-based frame whose timestamp is nearest to ``t`` (the *contact frame*; on an
exact tie, the earlier frame: :meth:`VideoInfo.frame_at` with ``rounding="nearest"``).
Frames are rendered from the exact trajectory at their own timestamps, so the contact
frame shows the body within ``speed / (2 fps)`` pixels of the surface. Only collisions
at or before the last frame's timestamp are simulated, labelled and heard. The label
class is the scene name.

With ``vfr=True`` frames get irregular timestamps (time base 1/90000, jittered
durations and a slower middle third); :attr:`SynthClip.times` holds the true
per-frame times, and collision frames follow them.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from actiondubber.errors import ParameterError
from actiondubber.fileio import check_output_path
from actiondubber.synth import draw
from actiondubber.synth.audio import Knock, KnockMixer
from actiondubber.synth.physics import G_PER_HEIGHT, Impact
from actiondubber.synth.scenes import BACKGROUNDS, OBJECT_KINDS, SCENES, SceneModel, build_scene
from actiondubber.types import VideoInfo
from actiondubber.video.writer import write_video, zero_row_padding

#: Time base of variable-frame-rate clips.
VFR_TIME_BASE = Fraction(1, 90000)
#: Clips whose pictures fit in this many bytes are rendered whole before x264 sees the first one.
#: Rendering interleaved with encoding gave different x264 bytes for the same pictures in about one
#: run in five when the machine was busy (one encoder thread; rendered pictures bit-identical), and
#: that noise moved the synthetic benchmarks' figures by up to 0.03; rendered first, 24 of 24 busy
#: runs matched. Longer clips still stream, so memory stays bounded.
RENDER_AHEAD_BYTES = 256 * 1024 * 1024


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


@dataclass(frozen=True)
class ClipParams:
    """Every knob of :func:`render_clip` (see there); a value out of range raises
    :class:`~actiondubber.errors.ParameterError` when the parameters are made."""

    scene: str = "bounce"
    seconds: float = 4.0
    fps: float = 30.0
    size: tuple[int, int] = (320, 240)
    seed: int = 0
    noise: float = 2.0
    crf: int = 23
    with_audio: bool = True
    vfr: bool = False
    codec: str = "libx264"
    preset: str = "veryfast"
    pix_fmt: str | None = None
    n_objects: int | None = None
    kinds: tuple[str, ...] | None = None
    background: str | None = None
    motion_blur: int = 0
    shutter: float = 0.5
    sample_rate: int = 48000
    channels: int = 1

    def __post_init__(self) -> None:
        W, H = (int(v) for v in self.size)
        object.__setattr__(self, "size", (W, H))
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(self.kinds))
        if self.scene not in SCENES:
            raise ParameterError(f"unknown scene {self.scene!r}; choose from {', '.join(SCENES)}")
        for k in self.kinds or ():
            if k not in OBJECT_KINDS:
                raise ParameterError(f"unknown object kind {k!r}; choose from {', '.join(OBJECT_KINDS)}")
        if self.background is not None and self.background not in BACKGROUNDS:
            raise ParameterError(f"unknown background {self.background!r}; choose from {', '.join(BACKGROUNDS)}")
        if W < 48 or H < 48:
            raise ParameterError(f"size {W}x{H} is too small (each side must be at least 48 pixels)")
        if not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise ParameterError(f"seconds must be positive, got {self.seconds}")
        if not (1.0 <= self.fps <= 240.0):
            raise ParameterError(f"fps must be between 1 and 240, got {self.fps}")
        if self.channels not in (1, 2):
            raise ParameterError(f"channels must be 1 or 2, got {self.channels}")
        if self.n_objects is not None and not 0 <= self.n_objects <= 4:
            raise ParameterError(f"n_objects must be between 0 and 4, got {self.n_objects}")
        if not (self.noise >= 0 and math.isfinite(self.noise)):
            raise ParameterError(f"noise must be >= 0, got {self.noise}")
        if not 0.0 <= self.shutter <= 1.0:
            raise ParameterError(f"shutter must be between 0 and 1 (of the frame interval), got {self.shutter}")
        if self.sample_rate < 8000:
            raise ParameterError(f"sample rate must be at least 8000 Hz, got {self.sample_rate}")


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
    """A yuv420p frame from OpenCV's I420 layout with the rows' alignment padding zeroed
    (:func:`~actiondubber.video.writer.zero_row_padding`): left uninitialised, x264 was seen to read it,
    and the same pictures then gave different bytes from run to run at widths that are not a multiple of
    the row alignment (160x120: 8 of 15 pairs of renders; zeroed: 0 of 52)."""
    frame = av.VideoFrame(w, h, "yuv420p")
    flat = i420.reshape(-1)
    planes = (flat[: w * h].reshape(h, w), flat[w * h : w * h + (w // 2) * (h // 2)].reshape(h // 2, w // 2),
              flat[w * h + (w // 2) * (h // 2) :].reshape(h // 2, w // 2))
    for plane, data in zip(frame.planes, planes, strict=True):
        rows = np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)
        rows[:, : data.shape[1]] = data
    return zero_row_padding(frame)


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
    params: ClipParams | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    **kwargs,
) -> SynthClip:
    """Render a synthetic clip of a scene to *out_path* and return its ground truth.

    Parameters
    ----------
    out_path
        The video file to write (``.mp4``/``.mov``/``.m4v``/``.mkv``/``.webm`` with sound).
    params, **kwargs
        A :class:`ClipParams`, or its fields as keywords: *noise* is the sensor-noise standard
        deviation in 8-bit levels; *crf* and *preset* are libx264's quality and speed (other
        codecs get a bit rate instead); *pix_fmt* defaults to ``yuv420p``, or ``yuv444p`` when a
        side is odd (4:2:0 needs even sizes; 4:4:4 H.264 keeps the exact size); *motion_blur*
        >= 2 averages that many renders over *shutter* of the frame interval.
    progress
        Called with a count of frames as the work goes on, *n_frames* in all. A clip rendered whole
        before it is encoded (see :data:`RENDER_AHEAD_BYTES`) counts each frame half when rendered
        and half when encoded, so a bar sized to the frame count reaches 100 % when the file is done.

    Returns
    -------
    SynthClip
        The file and its ground truth (frame times, collision frames and times, bodies).

    Raises
    ------
    OutputError
        The file cannot be written.
    ParameterError
        A bad parameter.

    Short clips are rendered whole, then encoded (their bytes do not depend on the machine's load);
    longer ones are rendered and encoded one frame at a time, with the soundtrack streamed beside
    them, so memory stays bounded for any length.
    """
    if params is None:
        unknown = set(kwargs) - set(ClipParams.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown render_clip option(s): {', '.join(sorted(unknown))}")
        params = ClipParams(**kwargs)
    elif kwargs:
        raise TypeError("give a ClipParams or keyword options, not both")
    p = params
    W, H = p.size
    out = check_output_path(out_path)
    times, pts = frame_times(p.seconds, p.fps, vfr=p.vfr, seed=p.seed)
    model = build_scene(p.scene, (W, H), seed=p.seed, t_end=times[-1], n_objects=p.n_objects, kinds=p.kinds,
                        background=p.background)
    rate = Fraction(p.fps).limit_denominator(1001)
    last_dur = (times[-1] - times[-2]) if p.vfr else 1.0 / p.fps
    duration = times[-1] + last_dur
    avg_fps = (len(times) - 1) / times[-1] if p.vfr else float(rate)
    grid = VideoInfo(path=str(out), width=W, height=H, fps=avg_fps, n_frames=len(times), duration=duration,
                     has_audio=bool(p.with_audio), timestamps=tuple(times))
    impacts = [i for i in model.impacts if i.time <= times[-1]]
    collisions = []
    for imp in impacts:
        ox, oy = model.view_offset(imp.time)
        collisions.append(Collision(imp.time, grid.frame_at(imp.time, "nearest"), imp.obj, imp.surface, imp.speed,
                                    imp.x - ox, imp.y - oy))
    pix_fmt = p.pix_fmt or ("yuv420p" if W % 2 == 0 and H % 2 == 0 else "yuv444p")
    rng_noise = np.random.default_rng(np.random.SeedSequence([int(p.seed) & 0xFFFFFFFF, 5]))
    bank = draw.NoiseBank(rng_noise, W, H, p.noise)
    mixer = None
    if p.with_audio:
        mixer = KnockMixer(_knocks(model, impacts, p.sample_rate, p.seed), p.sample_rate, p.channels, 3e-4,
                           np.random.default_rng(np.random.SeedSequence([int(p.seed) & 0xFFFFFFFF, 11])),
                           n_samples=int(round(duration * p.sample_rate)))
    blur_n = int(p.motion_blur) if p.motion_blur and p.motion_blur >= 2 else 1
    offsets = [0.0] if blur_n == 1 else [p.shutter / p.fps * (k / (blur_n - 1) - 0.5) for k in range(blur_n)]

    ahead = len(times) * W * H * (1.5 if pix_fmt == "yuv420p" else 3) <= RENDER_AHEAD_BYTES
    halves = 0  # rendered ahead: a frame counts once rendered and once encoded

    def tick() -> None:
        nonlocal halves
        if progress is None:
            return
        if not ahead:
            progress(1)
            return
        halves += 1
        if halves == 2:
            halves = 0
            progress(1)

    def frames() -> Iterator[av.VideoFrame | np.ndarray]:
        for t in times:
            if blur_n == 1:
                img = model.render(t)
            else:
                acc = np.zeros((H, W, 3), np.float32)
                for off in offsets:
                    acc += model.render(t + off)
                img = (acc / blur_n + 0.5).astype(np.uint8)
            img = bank.apply(img)
            if pix_fmt == "yuv420p":  # OpenCV's BT.601 conversion: ~10x faster than swscale here
                yield _yuv420p_frame(cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420), W, H)
            else:
                yield img
            tick()

    def encoded(rendered: list) -> Iterator[av.VideoFrame | np.ndarray]:
        for k in range(len(rendered)):
            yield rendered[k]
            rendered[k] = None  # the encoder has it: free the picture
            tick()

    x264 = p.codec.startswith("libx264")
    pictures: Iterable = frames()
    if ahead:
        pictures = encoded(list(pictures))  # see RENDER_AHEAD_BYTES: same seed, same bytes
    # one encoder thread: frame-threaded x264 output was seen to vary between runs under load
    write_video(out, pictures, rate, codec=p.codec, crf=int(p.crf) if x264 else None, pix_fmt=pix_fmt,
                preset=p.preset if x264 else None, times=times if p.vfr else None,
                options={"threads": "1"} if x264 else None,
                bit_rate=None if x264 else int(8 * W * H * float(p.fps) / 20), audio=mixer, sr=p.sample_rate)
    return SynthClip(
        path=str(out),
        scene=p.scene,
        seed=int(p.seed),
        fps=avg_fps,
        n_frames=len(times),
        width=W,
        height=H,
        times=tuple(times),
        collision_times=tuple(c.time for c in collisions),
        collision_frames=tuple(c.frame for c in collisions),
        collisions=tuple(collisions),
        objects=tuple(SynthObject(o.kind, o.color, o.ext) for o in model.projectiles),
        floor_y=model.floor_y,
        vfr=bool(p.vfr),
        has_audio=bool(p.with_audio),
    )


def write_labels_csv(path: str | os.PathLike, clips: Iterable[SynthClip]) -> Path:
    """Write Audible623-format labels (video_id = file stem, class = scene) for *clips*, atomically."""
    clips = list(clips)
    out = check_output_path(path, inputs=[c.path for c in clips])
    from actiondubber.evaluate.labels import write_labels

    rows = {c.video_id: list(c.labelled_frames) for c in clips}
    classes = {c.video_id: c.label_class for c in clips}
    return write_labels(out, rows, classes)
