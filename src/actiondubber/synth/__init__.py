"""Synthetic test clips with exactly known collision frames and impact sounds.

* :mod:`.scenes`: the scenes, their layout and exact simulation (:func:`build_scene`).
* :mod:`.clip`: :func:`render_clip` (a scene to a video file with sound) and its ground truth.
* :mod:`.physics`, :mod:`.draw`, :mod:`.audio`: motion, pictures and impact sounds.
"""

from actiondubber.synth.clip import (
    VFR_TIME_BASE,
    ClipParams,
    Collision,
    SynthClip,
    SynthObject,
    frame_times,
    render_clip,
    write_labels_csv,
)
from actiondubber.synth.scenes import BACKGROUNDS, OBJECT_KINDS, SCENES, SceneModel, build_scene

__all__ = [
    "BACKGROUNDS",
    "OBJECT_KINDS",
    "SCENES",
    "VFR_TIME_BASE",
    "ClipParams",
    "Collision",
    "SceneModel",
    "SynthClip",
    "SynthObject",
    "build_scene",
    "frame_times",
    "render_clip",
    "write_labels_csv",
]
