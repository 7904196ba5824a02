"""Dubbing: synthesise or load sounds, place them at events, mix, and write the dubbed video.

* :mod:`.sounds`: built-in sounds (modal synthesis and filtered noise).
* :mod:`.library`: user sound files and folders, and which sound each event gets.
* :mod:`.place`: placement (sample-accurate, score gain, jitter, pan), ducking, the limiter.
* :mod:`.mux`: the output file (video stream copied, new AAC/Opus soundtrack).
* :mod:`.pipeline`: :func:`dub`, the whole job.
"""

from actiondubber.dubbing.library import ORDERS, choose, load_sound_dir, load_sound_file, resolve_sounds
from actiondubber.dubbing.mux import MuxResult, VideoTiming, video_timing, write_dubbed
from actiondubber.dubbing.pipeline import DubResult, check_events, dub
from actiondubber.dubbing.place import MIXES, DubParams, Placement, limit, render_mix
from actiondubber.dubbing.sounds import BUILTIN_SOUNDS, Sound, synthesize

__all__ = [
    "BUILTIN_SOUNDS",
    "MIXES",
    "ORDERS",
    "DubParams",
    "DubResult",
    "MuxResult",
    "Placement",
    "Sound",
    "VideoTiming",
    "check_events",
    "choose",
    "dub",
    "limit",
    "load_sound_dir",
    "load_sound_file",
    "render_mix",
    "resolve_sounds",
    "synthesize",
    "video_timing",
    "write_dubbed",
]
