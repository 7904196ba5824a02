"""Dubbing: synthesise or load sounds, place them at events, mix, and write the dubbed video.

* :mod:`.sounds`: built-in sounds (modal synthesis and filtered noise).
* :mod:`.library`: user sound files and folders, and which sound each event gets.
* :mod:`.place`: placement (sample-accurate, score gain, jitter, pan), ducking, the limiter.
* the output file is written by :func:`actiondubber.video.mux.mux_video_file` (video stream copied, new
  AAC/Opus soundtrack), the package's one muxer.
* :mod:`.pipeline`: :func:`dub`, the whole job.
"""

from actiondubber.dubbing.library import ORDERS, choose, load_sound_dir, load_sound_file, resolve_sounds
from actiondubber.dubbing.pipeline import DubResult, dub
from actiondubber.dubbing.place import MIXES, DubParams, Placement, limit, render_mix
from actiondubber.dubbing.sounds import BUILTIN_SOUNDS, Sound, synthesize

__all__ = [
    "BUILTIN_SOUNDS",
    "MIXES",
    "ORDERS",
    "DubParams",
    "DubResult",
    "Placement",
    "Sound",
    "choose",
    "dub",
    "limit",
    "load_sound_dir",
    "load_sound_file",
    "render_mix",
    "resolve_sounds",
    "synthesize",
]
