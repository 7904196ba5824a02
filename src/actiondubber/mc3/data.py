"""Training and evaluation windows: one moment of one clip, its narration and (when known) whether it sounds.

Sources:

* a clips CSV (``clip,start,end,narration[,sounding]``; the action's moment is the middle of
  ``[start, end]``; paths relative to the CSV's folder or ``videos``) — :func:`read_clips_csv`;
* Ego4DSounds metadata (``video_uid, ..., narration_time | clip_start, clip_end, clip_text, ...,
  positive, ..., clip_file``) — :func:`read_ego4dsounds`, so the paper's protocol runs on Ego4D;
* synthetic clips (:mod:`actiondubber.synth`) — :func:`synthetic_windows`: every collision sounds;
  the detector's events away from a collision, and random moments, are silent motions (swings,
  throws, the top of a bounce, a turning wheel);
* real clips with a soundtrack key — :func:`keyed_windows`: windows at the key's onsets sound, the
  detector's events and random moments away from every onset do not.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.events import load_events, save_events
from actiondubber.fileio import read_text_input, write_text_atomic
from actiondubber.types import Events, VideoInfo

log = logging.getLogger(__name__)

#: A detector event within this many frames of a sounding moment is that moment (not a silent window).
MATCH_FRAMES = 2
#: Random silent windows keep at least this far (s) from every sounding moment.
SILENT_MARGIN = 0.25


@dataclass(frozen=True)
class Window:
    """One training/evaluation moment: clip, time (s), narration, label (1, 0 or None), group, sound kind."""

    video: str
    time: float
    narration: str
    sounding: float | None = None
    group: str = ""
    kind: str = ""


CLIPS_HEADER = ("clip", "start", "end", "narration", "sounding")


def _label(text: str | None, where: str) -> float | None:
    t = (text or "").strip().lower()
    if t in ("", "none", "nan", "?"):
        return None
    if t in ("1", "1.0", "yes", "true", "sounding"):
        return 1.0
    if t in ("0", "0.0", "no", "false", "silent"):
        return 0.0
    raise InputError(f"{where}: sounding label must be 1/0/yes/no, got {text!r}")


def _resolve(name: str, base: Path, videos: Path | None) -> Path:
    p = Path(name)
    for cand in ([p] if p.is_absolute() else []) + ([videos / p] if videos else []) + [base / p]:
        if cand.is_file():
            return cand
    raise InputError(f"{name}: clip not found (looked in {videos or base})")


def read_clips_csv(path: str | os.PathLike, videos: str | os.PathLike | None = None) -> list[Window]:
    """Windows of a clips CSV (see the module docs); a bad row is an :class:`InputError` naming it."""
    p, text = read_text_input(path, "clips CSV")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"clip", "start", "end", "narration"} <= set(rows[0]):
        raise InputError(f"{p}: clips CSV needs the columns clip,start,end,narration (optional: sounding)")
    vdir = Path(videos) if videos else None
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{p} line {i}"
        try:
            start, end = float(r["start"]), float(r["end"])
        except (TypeError, ValueError):
            raise InputError(f"{where}: start and end must be numbers (seconds)") from None
        if not (0 <= start <= end):
            raise InputError(f"{where}: need 0 <= start <= end, got {start}..{end}")
        video = _resolve((r["clip"] or "").strip(), p.parent, vdir)
        out.append(Window(str(video), 0.5 * (start + end), (r["narration"] or "").strip(),
                          _label(r.get("sounding"), where), group=video.stem))
    return out


def write_clips_csv(path: str | os.PathLike, windows: Sequence[Window], half: float = 0.5) -> Path:
    """Write *windows* as a clips CSV (``[time - half, time + half]``), the format :func:`read_clips_csv` reads."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CLIPS_HEADER)
    for x in windows:
        lab = "" if x.sounding is None else int(x.sounding)
        w.writerow([x.video, f"{max(0.0, x.time - half):.4f}", f"{x.time + half:.4f}", x.narration, lab])
    return write_text_atomic(path, buf.getvalue())


def read_ego4dsounds(path: str | os.PathLike, videos: str | os.PathLike) -> list[Window]:
    """Windows of an Ego4DSounds metadata CSV; rows whose video is not under *videos* are skipped with a warning.

    With a ``clip_file`` column the extracted 3-s clips are used (moment: their middle); otherwise
    ``{video_uid}.mp4`` at ``narration_time`` (or the middle of ``clip_start``..``clip_end``).
    ``clip_text`` loses its ``#C`` prefix; ``positive`` is the sounding label when present.
    """
    p, text = read_text_input(path, "Ego4DSounds metadata")
    sample = text[:4096]
    delim = "\t" if sample.count("\t") > sample.count(",") else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delim))
    if not rows or "clip_text" not in rows[0] or "video_uid" not in rows[0]:
        raise InputError(f"{p}: not Ego4DSounds metadata (needs video_uid and clip_text columns)")
    vdir = Path(videos)
    out, missing = [], 0
    for i, r in enumerate(rows, 2):
        narr = (r.get("clip_text") or "").replace("#C", "").replace("#c", "").strip(" .")
        narr = narr[2:] if narr.lower().startswith("c ") else narr
        try:
            if r.get("clip_file"):
                video = vdir / r["clip_file"]
                if r.get("clip_start") and r.get("clip_end"):
                    t = 0.5 * (float(r["clip_end"]) - float(r["clip_start"]))
                else:
                    t = 1.5
            else:
                video = vdir / f"{r['video_uid']}.mp4"
                if r.get("narration_time"):
                    t = float(r["narration_time"])
                else:
                    t = 0.5 * (float(r["clip_start"]) + float(r["clip_end"]))
        except (TypeError, ValueError, KeyError):
            raise InputError(f"{p} line {i}: bad clip times") from None
        if not video.is_file():
            missing += 1
            continue
        out.append(Window(str(video), t, narr, _label(r.get("positive"), f"{p} line {i}"), group=r["video_uid"]))
    if missing:
        log.warning("%s: %d row(s) skipped: video not under %s", p, missing, vdir)
    return out


def _silent_times(info: VideoInfo, sounding: Sequence[float], n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    lo, hi = 0.2, max(0.2, info.duration - 0.5)
    out: list[float] = []
    for _ in range(50 * max(n, 1)):
        if len(out) >= n or hi <= lo:
            break
        t = float(rng.uniform(lo, hi))
        if all(abs(t - s) >= SILENT_MARGIN for s in sounding) and all(abs(t - o) >= 0.2 for o in out):
            out.append(t)
    return out


def keyed_windows(
    video: str | os.PathLike,
    sounding_frames: Sequence[int],
    events: Events,
    *,
    narration: str,
    group: str | None = None,
    kinds: Sequence[str] | None = None,
    silent_narration: str | None = None,
    n_random: int = 3,
    seed: int = 0,
) -> list[Window]:
    """Windows of one clip with a key: sounding moments, unmatched detector events, random silent moments.

    *kinds* (one per sounding frame) names the sound each sounding moment makes (for retrieval).
    """
    info = events.video
    group = group or Path(video).stem
    sf = sorted(int(f) for f in sounding_frames)
    kinds = list(kinds) if kinds is not None else [""] * len(sf)
    out = [Window(str(video), info.time_of(f), narration, 1.0, group, k) for f, k in zip(sf, kinds, strict=True)]
    quiet = silent_narration or narration
    for e in events.events:
        if all(abs(e.frame - f) > MATCH_FRAMES for f in sf):
            out.append(Window(str(video), info.time_of(e.frame), quiet, 0.0, group))
    for t in _silent_times(info, [info.time_of(f) for f in sf], n_random, seed):
        out.append(Window(str(video), t, quiet, 0.0, group))
    return out


_SILENT_TEXT = {
    "pendulum": "a pendulum swings",
    "wheel": "a wheel turns",
    "juggle": "a {kind} is thrown up into the air",
    "mixed": "a pendulum swings and a {kind} flies through the air",
}


def synthetic_windows(clip, events: Events, *, n_random: int = 3) -> list[Window]:
    """Windows of a rendered :class:`~actiondubber.synth.SynthClip` with its detector *events*."""
    kinds = [clip.objects[c.obj].kind for c in clip.collisions]
    main = kinds[0] if kinds else (clip.objects[0].kind if clip.objects else "ball")
    narr = []
    for c, k in zip(clip.collisions, kinds, strict=True):
        narr.append(f"a {k} lands on a paddle" if c.surface == "paddle" else f"a {k} bounces on the floor")
    silent = _SILENT_TEXT.get(clip.scene, "a {kind} flies through the air").format(kind=main)
    frames = [c.frame for c in clip.collisions]
    base = keyed_windows(clip.path, frames, events, narration="", kinds=[f"synth-{k}" for k in kinds],
                         silent_narration=silent, n_random=n_random, seed=clip.seed)
    out = []
    for i, w in enumerate(base):
        out.append(replace(w, narration=narr[i]) if i < len(frames) else w)
    return out


#: Narrations of the real clips in ``../shared/data/real`` (by MANIFEST ``action`` or file stem).
REAL_NARRATIONS = {
    "drum_stroke": "a drumstick strikes a snare drum",
    "hammer_blow": "a hammer strikes a hot bar on an anvil",
    "chopping": "a knife chops cabbage on a cutting board",
    "ball_bounce": "a ball bounces on a wooden floor",
    "racket_hit": "a tennis player hits a ball with a racket",
    "stick_hit": "a drumstick hits {what}",
}


def real_narration(stem: str, action: str) -> str:
    """The narration of a real clip from its MANIFEST action (and, for stick hits, what its name says is hit)."""
    text = REAL_NARRATIONS.get(action, f"someone does {action.replace('_', ' ')}")
    if "{what}" in text:
        what = stem.split("stick_", 1)[-1].replace("_", " ")
        text = text.format(what=f"a {what}")
    return text


# --------------------------------------------------------------------------- the sets the shipped model is trained on


#: Scenes cycled through by :func:`synthetic_set` (every scene of the generator).
SYNTH_SCENES = ("bounce", "pendulum", "juggle", "mixed", "walls", "wheel", "pan")


def _window_json(w: Window) -> dict:
    return {"video": Path(w.video).name, "time": w.time, "narration": w.narration, "sounding": w.sounding,
            "group": w.group, "kind": w.kind}


def synthetic_set(out_dir: str | os.PathLike, seeds: Sequence[int], *, seconds: float = 4.0,
                  size: tuple[int, int] = (320, 240), progress=None) -> list[Window]:
    """Render (once; kept in *out_dir*) synthetic clips for *seeds* and return their windows.

    Scene ``SYNTH_SCENES[seed % 7]``; each clip's windows are stored beside it
    (``<clip>.windows.json``) so a second call renders and detects nothing.
    """
    import json

    from actiondubber.detection.detector import detect
    from actiondubber.synth import render_clip

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    windows: list[Window] = []
    for seed in seeds:
        scene = SYNTH_SCENES[int(seed) % len(SYNTH_SCENES)]
        path = out / f"mc3_{scene}_{int(seed):04d}.mp4"
        meta = path.with_suffix(".windows.json")
        if path.is_file() and meta.is_file():
            for d in json.loads(meta.read_text()):
                windows.append(Window(str(out / d["video"]), d["time"], d["narration"], d["sounding"], d["group"],
                                      d["kind"]))
        else:
            clip = render_clip(path, scene=scene, seconds=seconds, size=size, seed=int(seed))
            ev = detect(path)
            save_events(ev, path.with_suffix(".events.json"))
            ws = synthetic_windows(clip, ev)
            write_text_atomic(meta, json.dumps([_window_json(w) for w in ws], indent=0))
            windows += ws
        if progress is not None:
            progress(1)
    return windows


def real_set(real_dir: str | os.PathLike, labels: str = "labels_audio_onsets.csv", progress=None,
             events_dir: str | os.PathLike | None = None) -> list[Window]:
    """Windows of the real clips in *real_dir* (MANIFEST.csv + an Audible623 key from their soundtracks).

    Sounding moments are the key's frames (sound kind ``real-<clip>``); silent ones are the
    detector's events away from every key frame and random moments. With *events_dir* the
    detector's events are kept there (``<clip>.events.json``) and reused.
    """
    from actiondubber.detection.detector import detect
    from actiondubber.evaluate.labels import read_labels

    d = Path(real_dir)
    _, text = read_text_input(d / "MANIFEST.csv", "manifest")
    actions = {Path(r["file"]).stem: (r["file"], r.get("action", "")) for r in csv.DictReader(io.StringIO(text))}
    key = read_labels(d / labels)
    windows: list[Window] = []
    for stem, (fname, action) in sorted(actions.items()):
        row = key.videos.get(stem)
        if row is None or not (d / fname).is_file():
            continue
        cached = Path(events_dir) / f"{stem}.events.json" if events_dir else None
        if cached is not None and cached.is_file():
            ev = load_events(cached)
        else:
            ev = detect(d / fname)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                save_events(ev, cached)
        windows += keyed_windows(d / fname, row.frames, ev, narration=real_narration(stem, action), group=stem,
                                 kinds=[f"real-{stem}"] * len(row.frames), seed=len(windows))
        if progress is not None:
            progress(1)
    return windows
