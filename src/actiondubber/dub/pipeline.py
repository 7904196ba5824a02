"""``dub``: events (detected, or read from a file) → sounds placed and mixed → the dubbed video file.

All checks that can fail run before the slow work: the output path and
container, the sounds (a file that is not audio fails here, not after
detection), and whether an events file belongs to this video and fits in it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from actiondubber.audio.reader import NoAudioStreamError, read_audio_clip
from actiondubber.dub.library import resolve_sounds, sound_inputs
from actiondubber.dub.mux import output_audio_codec, output_sample_rate, video_timing, write_dubbed
from actiondubber.dub.place import DubParams, Placement, render_mix
from actiondubber.dub.sounds import Sound
from actiondubber.errors import InputError, OutputError
from actiondubber.events import load_events, save_events
from actiondubber.fileio import check_output_path
from actiondubber.types import Events, VideoInfo
from actiondubber.video.reader import probe

log = logging.getLogger(__name__)

#: Sample rate of the dubbed soundtrack (48 kHz: what AAC and Opus in video files usually carry).
DEFAULT_SR = 48000
#: Time slack for comparing event times with the video's end (the events JSON keeps 1 µs).
_SLACK = 1e-5


@dataclass(frozen=True)
class DubResult:
    """What :func:`dub` did: the file, the events used, each placement, and how the file was written."""

    path: Path
    events: Events
    placements: tuple[Placement, ...]
    sound_names: tuple[str, ...]
    sr: int
    channels: int
    mix: str
    video_copied: bool
    video_codec: str
    audio_codec: str
    peak_db: float
    original_used: bool


def check_events(events: Events, info: VideoInfo, *, source: str = "events") -> None:
    """Raise :class:`InputError` when *events* were made for another video or fall outside *info*'s video.

    "Another video": frame counts differ by more than one frame, durations by
    more than one frame's length, or the file names differ *and* the frame
    counts differ. Facts the events do not record (0 frames, 0 s: a
    hand-written file) are not compared. Every event time must lie in
    ``[0, duration]``.
    """
    v = events.video
    step = 1.0 / info.fps if info.fps > 0 else 0.04
    them = f"{Path(v.path).name or 'unknown video'} ({v.n_frames} frames, {v.duration:.3f} s)"
    us = f"{info.path} ({info.n_frames} frames, {info.duration:.3f} s)"
    if v.n_frames > 0:
        other_name = bool(v.path) and Path(v.path).stem != Path(info.path).stem
        if abs(v.n_frames - info.n_frames) > 1 or (other_name and v.n_frames != info.n_frames):
            raise InputError(f"{source}: events were made for another video: {them}, not {us}")
    if v.duration > 0 and abs(v.duration - info.duration) > step + _SLACK:
        raise InputError(f"{source}: events were made for another video: {them}, not {us}")
    for i, e in enumerate(events.events, 1):
        if not math.isfinite(e.time) or e.time < -_SLACK:
            raise InputError(f"{source}: event {i} has an invalid time ({e.time})")
        if e.time > info.duration + _SLACK:
            raise InputError(
                f"{source}: event {i} at {e.time:.3f} s (frame {e.frame}) is beyond the end of {info.path} "
                f"({info.duration:.3f} s)"
            )


def original_on_video_clock(video: str | os.PathLike, sr: int) -> np.ndarray | None:
    """*video*'s soundtrack ``(channels, n)`` at *sr*, shifted so sample 0 is the first frame; ``None`` if silent.

    The audio and video streams may start at different times (encoder
    priming, edit lists); the soundtrack is padded or cut at the front so that
    it plays in sync when it starts together with the first frame.
    """
    try:
        clip = read_audio_clip(video, sr=sr, mono=False)
    except NoAudioStreamError:
        return None
    y = np.atleast_2d(clip.samples)
    shift = int(round(clip.start * sr))
    if shift > 0:
        y = np.concatenate([np.zeros((y.shape[0], shift), np.float32), y], axis=1)
    elif shift < 0:
        y = y[:, -shift:]
    return y


def dub(
    video: str | os.PathLike,
    out: str | os.PathLike,
    events: Events | str | os.PathLike | None = None,
    *,
    sound: str | os.PathLike | None = "knock",
    sound_dir: str | os.PathLike | None = None,
    params: DubParams | None = None,
    detector=None,
    info: VideoInfo | None = None,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
    save_events_to: str | os.PathLike | None = None,
    sr: int = DEFAULT_SR,
    event_sounds: Sequence[Sound] | Callable[[Events, int], Sequence[Sound]] | None = None,
) -> DubResult:
    """Put a sound at every event of *video* and write the dubbed video to *out*.

    *events* is an :class:`Events`, an events JSON file, or ``None`` to run
    the training-free detector (*detector*: a
    :class:`~actiondubber.detect.detector.DetectorParams`; *progress* is
    called with 1 per decoded frame). *sound* is a built-in name or a sound
    file, *sound_dir* a folder of sound files (overrides *sound*). With no
    events the video is still written (original audio under ``keep``/``duck``,
    silence under ``replace``) and a warning is logged. *save_events_to*
    also writes the events used as JSON. *params* defaults to ``DubParams()``.
    *event_sounds* gives one sound per event instead (a sequence, or a function of the events and
    the mix rate that returns one, e.g. chosen by :mod:`actiondubber.mc3.retrieve`); *sound* /
    *sound_dir* then only name the files read, for the output checks.
    """
    params = params or DubParams()
    params.validate()
    src = Path(video)
    events_path = None if events is None or isinstance(events, Events) else Path(events)
    inputs: list[Path] = [src] + ([events_path] if events_path else []) + sound_inputs(sound, sound_dir)
    out_p = check_output_path(out, inputs=inputs)
    acodec = output_audio_codec(out_p)
    sr = output_sample_rate(acodec, int(sr))
    if save_events_to is not None:
        ev_out = check_output_path(save_events_to, inputs=inputs)
        if ev_out.resolve() == out_p.resolve():
            raise OutputError(f"{ev_out}: the events file and the video cannot be the same file")
    info = info or probe(src)
    sounds = resolve_sounds(sound, sound_dir, sr=sr, seed=params.seed) if event_sounds is None else []

    if events is None:
        from actiondubber.detect.detector import DetectorParams, events_from_curve, strength_curve

        dparams = detector or DetectorParams()
        curve = strength_curve(src, dparams, info=info, progress=progress, flow_kwargs=flow_kwargs)
        ev = events_from_curve(curve, dparams)
    else:
        ev = events if isinstance(events, Events) else load_events(events_path)
        check_events(ev, info, source=str(events_path) if events_path else "events")
    if save_events_to is not None:
        save_events(ev, save_events_to)
    if event_sounds is not None:
        sounds = list(event_sounds(ev, sr) if callable(event_sounds) else event_sounds)
        if len(sounds) != len(ev.events):
            raise InputError(f"{len(sounds)} sound(s) given for {len(ev.events)} event(s); one per event is needed")
        for s in sounds:
            if s.sr != sr:
                raise InputError(f"sound {s.name!r} is at {s.sr} Hz; the dubbed soundtrack is at {sr} Hz")
        params = replace(params, order="round-robin")  # event i plays sounds[i]
        sounds = sounds or resolve_sounds("knock", sr=sr)  # no events: nothing is placed

    timing = video_timing(src)
    n_samples = max(1, int(round(timing.duration * sr)))
    original = None
    if params.mix != "replace" and info.has_audio:
        original = original_on_video_clock(src, sr)
    if not ev.events:
        what = {"replace": "silence", "keep": "the original soundtrack", "duck": "the original soundtrack"}[params.mix]
        if original is None:
            what = "silence"
        log.warning("%s: no events; writing the video with %s", src, what)
    mix, placements = render_mix(
        ev.events, sounds, sr=sr, n_samples=n_samples, width=info.width, original=original, params=params
    )
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    res = write_dubbed(src, out_p, mix, sr, inputs=inputs[1:], rotation=info.rotation)
    return DubResult(
        path=res.path,
        events=ev,
        placements=tuple(placements),
        sound_names=tuple(s.name for s in sounds),
        sr=sr,
        channels=int(mix.shape[0]),
        mix=params.mix,
        video_copied=res.video_copied,
        video_codec=res.video_codec,
        audio_codec=res.audio_codec,
        peak_db=20 * math.log10(peak) if peak > 0 else -math.inf,
        original_used=original is not None,
    )
