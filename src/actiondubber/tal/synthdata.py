"""Synthetic audio-visual data with exact labels, for localisation and ``detect --use-audio``.

Clips come from :func:`actiondubber.synth.render_clip` (impact sounds at the exact collision
instants). On top of the clean soundtrack, :func:`corrupt_audio` makes the conditions a real
soundtrack brings, so a fusion gate has something to learn: ``shift`` (±100–300 ms out of sync),
``noise`` (broadband noise over it), ``music`` (a tonal bed with its own percussive beat),
``offscreen`` (extra impacts with nothing visible), ``swap`` (another clip's soundtrack) and
``none`` (no soundtrack at all). Labels never come from the audio the model sees.

Segments for localisation: a body's *flight* between two consecutive impacts of that body (at most
:data:`MAX_FLIGHT` s apart) is one action segment, labelled with the body's kind (``ball``, ``disc``,
``box``): both boundaries are audible, and with several bodies the sound's timbre tells whose impact
it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actiondubber.synth import SynthClip, render_clip
from actiondubber.synth.audio import Knock, knock_wave
from actiondubber.tal.annotations import Segment, VideoAnnotation

CONDITIONS = ("clean", "shift", "noise", "music", "offscreen", "swap", "none")
#: The conditions the benchmarks report: fixed shifts (``shift+100`` = the sound 100 ms late, ``shift-300``
#: 300 ms early; :func:`corrupt_audio` takes any ``shift±<ms>``) instead of a random one.
REPORT_CONDITIONS = ("clean", "none", "shift+100", "shift+300", "shift-100", "shift-300", "noise", "music", "swap")
#: Longest flight (s) labelled as one segment.
MAX_FLIGHT = 2.0


def flight_segments(clip: SynthClip, max_flight: float = MAX_FLIGHT) -> list[Segment]:
    """One segment per flight of a body between two of its consecutive impacts, labelled by body kind."""
    out = []
    for obj, o in enumerate(clip.objects):
        ts = sorted(c.time for c in clip.collisions if c.obj == obj)
        for a, b in zip(ts, ts[1:], strict=False):
            if 0.1 <= b - a <= max_flight:
                out.append(Segment(float(a), float(b), o.kind))
    return sorted(out, key=lambda s: (s.start, s.end))


@dataclass(frozen=True)
class SynthSpec:
    """How one synthetic clip is rendered."""

    scene: str
    seed: int
    n_objects: int | None = None
    seconds: float = 6.0
    fps: float = 30.0


def default_specs(n: int, seed: int = 0, *, scenes: Sequence[str] = ("bounce", "bounce", "mixed", "walls", "juggle"),
                  seconds: float = 6.0, fps: Sequence[float] = (30.0,)) -> list[SynthSpec]:
    """*n* seeded clip specs cycling through *scenes* (1–2 bodies for ``bounce``) and frame rates *fps*."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(n):
        sc = scenes[i % len(scenes)]
        nob = int(rng.integers(1, 3)) if sc == "bounce" else None
        specs.append(SynthSpec(sc, int(seed * 1000 + i), nob, seconds, float(fps[i % len(fps)])))
    return specs


def clip_truth(path: str | os.PathLike, spec: SynthSpec, size: tuple[int, int]) -> SynthClip:
    """The ground truth :func:`render_clip` returns for *spec*, recomputed without rendering (same simulation:
    scene layout, frame times and contact frames are deterministic in the spec)."""
    from fractions import Fraction

    from actiondubber.synth import Collision, SynthObject, build_scene, frame_times
    from actiondubber.types import VideoInfo

    times, _ = frame_times(spec.seconds, spec.fps)
    model = build_scene(spec.scene, size, seed=spec.seed, t_end=times[-1], n_objects=spec.n_objects)
    grid = VideoInfo(path=str(path), width=size[0], height=size[1], fps=float(spec.fps), n_frames=len(times),
                     duration=times[-1] + 1.0 / spec.fps, has_audio=True, timestamps=tuple(times))
    cols = []
    for imp in (i for i in model.impacts if i.time <= times[-1]):
        ox, oy = model.view_offset(imp.time)
        cols.append(Collision(imp.time, grid.frame_at(imp.time, "nearest"), imp.obj, imp.surface, imp.speed,
                              imp.x - ox, imp.y - oy))
    return SynthClip(str(path), spec.scene, int(spec.seed), float(Fraction(spec.fps).limit_denominator(1001)),
                     len(times), size[0], size[1], tuple(times), tuple(c.time for c in cols),
                     tuple(c.frame for c in cols), tuple(cols),
                     tuple(SynthObject(p.kind, p.color, p.ext) for p in model.projectiles), model.floor_y, False, True)


def render_set(out_dir: str | os.PathLike, specs: Sequence[SynthSpec], *, size: tuple[int, int] = (160, 120),
               prefix: str = "av", progress: Callable[[int], None] | None = None) -> list[SynthClip]:
    """Render *specs* into *out_dir* (``{prefix}_{i:03d}_{scene}.mp4``); files already there are reused."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, s in enumerate(specs):
        p = d / f"{prefix}_{i:03d}_{s.scene}.mp4"
        if p.is_file():
            clips.append(clip_truth(p, s, size))
        else:
            clips.append(render_clip(p, scene=s.scene, seconds=s.seconds, size=size, seed=s.seed,
                                     n_objects=s.n_objects, fps=s.fps))
        if progress is not None:
            progress(1)
    return clips


def annotations_for(clips: Sequence[SynthClip], subset: str = "training") -> dict[str, VideoAnnotation]:
    """ActivityNet-style annotations (flight segments) of *clips*, keyed by file stem."""
    return {c.video_id: VideoAnnotation(c.n_frames / c.fps, subset, flight_segments(c)) for c in clips}


def _music(n: int, sr: int, rng: np.random.Generator, level: float) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    chord_len = rng.uniform(0.4, 0.9)
    for k in range(int(math.ceil(n / sr / chord_len)) + 1):
        root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
        a, b = int(k * chord_len * sr), min(n, int((k + 1) * chord_len * sr))
        if a >= n:
            break
        for ratio in (1.0, 1.26, 1.5, 2.0):
            out[a:b] += np.sin(2 * math.pi * root * ratio * t[a:b]) * 0.25
    beat = 1.0 / rng.uniform(1.5, 3.5)
    phase = rng.uniform(0, beat)
    kick_t = np.arange(phase, n / sr, beat)
    for tk in kick_t:
        a = int(tk * sr)
        m = min(n - a, int(0.12 * sr))
        tt = np.arange(m) / sr
        out[a:a + m] += np.sin(2 * math.pi * (60 + 80 * np.exp(-tt / 0.02)) * tt) * np.exp(-tt / 0.05) * 1.5
        out[a:a + m] += rng.standard_normal(m) * np.exp(-tt / 0.01) * 0.6
    return (out / max(np.abs(out).max(), 1e-9) * level).astype(np.float32)


def corrupt_audio(y: np.ndarray, sr: int, condition: str, rng: np.random.Generator,
                  other: np.ndarray | None = None) -> np.ndarray | None:
    """*y* (mono, on the video clock) under *condition* (see the module docstring); ``None`` for ``none``.

    ``shift`` moves the sound by a random ±100–300 ms, ``shift+<ms>`` / ``shift-<ms>`` by that much
    (positive: the sound comes later than the picture).
    """
    y = np.asarray(y, dtype=np.float32)
    n = y.size
    peak = float(np.abs(y).max()) or 0.1
    if condition == "clean":
        return y.copy()
    if condition == "none":
        return None
    if condition.startswith("shift"):
        if condition == "shift":
            s = int(rng.choice([-1, 1]) * rng.uniform(0.1, 0.3) * sr)
        else:
            try:
                s = int(round(float(condition[5:]) / 1000.0 * sr))
            except ValueError:
                raise ValueError(f"bad shift condition {condition!r} (e.g. shift+100, shift-300)") from None
            s = max(-n, min(n, s))
        out = np.zeros_like(y)
        if s >= 0:
            out[s:] = y[: n - s]
        else:
            out[: n + s] = y[-s:]
        return out + (rng.standard_normal(n) * 3e-4).astype(np.float32)
    if condition == "noise":
        return y + (rng.standard_normal(n) * peak * rng.uniform(0.1, 0.5)).astype(np.float32)
    if condition == "music":
        return y + _music(n, sr, rng, peak * rng.uniform(0.5, 1.5))
    if condition == "offscreen":
        out = y.copy()
        for _ in range(int(rng.integers(3, 9))):
            k = Knock(int(rng.uniform(0, max(1, n - 1))), float(peak * rng.uniform(0.3, 1.0)),
                      float(rng.uniform(250, 2500)), str(rng.choice(["ball", "disc", "box"])), 0.5,
                      int(rng.integers(1 << 30)))
            w = knock_wave(k, sr)
            m = min(w.size, n - k.start)
            out[k.start:k.start + m] += w[:m]
        return out
    if condition == "swap":
        if other is None:
            raise ValueError("swap needs another soundtrack")
        o = np.asarray(other, dtype=np.float32)
        return np.resize(o, n) if o.size else np.zeros_like(y)
    raise ValueError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")


def write_features_json(folder: str | os.PathLike, params: dict, kind: str) -> Path:
    """The ``features.json`` a feature folder carries: which extractor and settings made its files."""
    import json

    from actiondubber.fileio import write_text_atomic

    return write_text_atomic(Path(folder) / "features.json",
                             json.dumps({"kind": kind, "params": params}, indent=1) + "\n")


def make_tal_dataset(out_dir: str | os.PathLike, specs: Sequence[SynthSpec], subsets: Sequence[str], *,
                     conditions: Sequence[str] = ("clean",), condition_mix: Sequence[str] | None = None,
                     size: tuple[int, int] = (160, 120), seed: int = 0, params=None,
                     progress: Callable[[int], None] | None = None) -> Path:
    """Render clips and write a localisation dataset into *out_dir*.

    Layout: ``videos/*.mp4``, ``anno.json`` (flight segments; ``subsets[i]`` for clip i),
    ``features/`` (visual, with ``features.json``), ``audio_<condition>/`` for each of *conditions*
    (every clip's soundtrack under that condition) and, with *condition_mix*, ``audio_mix/`` where each
    clip gets one condition drawn from *condition_mix* (seeded). Existing files are reused. *params*:
    the :class:`~actiondubber.tal.features.FeatureParams` (default settings when None).
    """
    from actiondubber.audio.reader import read_audio_clip
    from actiondubber.tal.annotations import save_annotations
    from actiondubber.tal.features import (
        AUDIO_DIM,
        FeatureParams,
        audio_features_from_samples,
        save_npy,
        visual_features,
    )

    root = Path(out_dir)
    clips = render_set(root / "videos", specs, size=size)
    db = {}
    for c, sub in zip(clips, subsets, strict=True):
        db[c.video_id] = VideoAnnotation(c.n_frames / c.fps, sub, flight_segments(c))
    save_annotations(root / "anno.json", db)
    fp = params or FeatureParams()
    (root / "features").mkdir(exist_ok=True)
    write_features_json(root / "features", fp.to_dict(), "kinematic")
    dirs = [f"audio_{c}" for c in conditions] + (["audio_mix"] if condition_mix else [])
    for d in dirs:
        (root / d).mkdir(exist_ok=True)
        write_features_json(root / d, fp.to_dict(), "logmel")
    sounds = {}
    for c in clips:
        a = read_audio_clip(c.path, sr=fp.audio_sr)
        sounds[c.video_id] = a
    ids = list(sounds)
    rng = np.random.default_rng(seed)
    for k, c in enumerate(clips):
        vp = root / "features" / f"{c.video_id}.npy"
        if vp.is_file():
            times = np.asarray(c.times)
        else:
            info, vis, _, _ = visual_features(c.path, fp)
            times = np.asarray(info.timestamps)
            save_npy(vp, vis)
        a = sounds[c.video_id]
        other = sounds[ids[(k + 1 + int(rng.integers(len(ids) - 1))) % len(ids)]].samples if len(ids) > 1 else None
        todo = [(f"audio_{cond}", cond) for cond in conditions]
        if condition_mix:
            todo.append(("audio_mix", str(rng.choice(list(condition_mix)))))
        for d, cond in todo:
            y = corrupt_audio(a.samples, a.sr, cond, np.random.default_rng([seed, k, CONDITIONS.index(cond)]),
                              other if cond == "swap" else None)
            feats = (np.zeros((len(times), AUDIO_DIM), np.float32) if y is None
                     else audio_features_from_samples(y, a.sr, a.start, times))
            save_npy(root / d / f"{c.video_id}.npy", feats)
        if progress is not None:
            progress(1)
    return root
