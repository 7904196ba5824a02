"""``dub``: events (detected, or read from a file) → sounds placed and mixed → the dubbed video file.

All checks that can fail run before the slow work: the output path and
container, the sounds (a file that is not audio fails here, not after
detection), and whether an events file belongs to this video and fits in it
(:func:`actiondubber.events.check_events_fit`). The file is muxed by
:func:`actiondubber.video.mux.mux_video_file` (the video stream copied).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from actiondubber.audio.reader import soundtrack_on_video_clock
from actiondubber.dubbing.library import resolve_sounds, sound_inputs
from actiondubber.dubbing.place import DubParams, Placement, render_mix
from actiondubber.dubbing.sounds import Sound
from actiondubber.errors import InputError, OutputError
from actiondubber.events import check_events_fit, load_events, save_events
from actiondubber.fileio import check_output_path
from actiondubber.types import Events, VideoInfo
from actiondubber.video.facts import probe
from actiondubber.video.mux import mux_video_file, output_audio_codec, output_sample_rate

log = logging.getLogger(__name__)

#: Sample rate of the dubbed soundtrack (48 kHz: what AAC and Opus in video files usually carry).
DEFAULT_SR = 48000


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
    :class:`~actiondubber.detection.detector.DetectorParams`; *progress* is
    called with 1 per decoded frame). *sound* is a built-in name or a sound
    file, *sound_dir* a folder of sound files (overrides *sound*). With no
    events the video is still written (original audio under ``keep``/``duck``,
    silence under ``replace``) and a warning is logged. *save_events_to*
    also writes the events used as JSON. *params* defaults to ``DubParams()``. *info*, the
    video's :func:`~actiondubber.video.probe` facts, saves probing it again; it is the one
    description of the video every step uses (detection, the events check, the soundtrack's
    length), so the file is opened only to decode its frames (when detecting), to read its
    soundtrack (``keep``/``duck``) and to copy its video stream.
    *event_sounds* gives one sound per event instead (a sequence, or a function of the events and
    the mix rate that returns one, e.g. chosen by :mod:`actiondubber.mc3.retrieve`); *sound* /
    *sound_dir* then only name the files read, for the output checks.
    """
    params = params or DubParams()
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
        from actiondubber.detection.detector import DEFAULT_DETECTOR, run_detector

        ev = run_detector(src, detector or DEFAULT_DETECTOR, info=info, progress=progress, flow_kwargs=flow_kwargs)
    else:
        ev = events if isinstance(events, Events) else load_events(events_path)
        check_events_fit(ev, info, source=str(events_path) if events_path else "events")
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

    n_samples = max(1, int(round(info.duration * sr)))
    original = None
    if params.mix != "replace" and info.has_audio:
        original = soundtrack_on_video_clock(src, sr)
    if not ev.events:
        what = {"replace": "silence", "keep": "the original soundtrack", "duck": "the original soundtrack"}[params.mix]
        if original is None:
            what = "silence"
        log.warning("%s: no events; writing the video with %s", src, what)
    mix, placements = render_mix(
        ev.events, sounds, sr=sr, n_samples=n_samples, width=info.width, original=original, params=params
    )
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    res = mux_video_file(src, out_p, mix, sr, inputs=inputs[1:], rotation=info.rotation)
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
