"""Synthetic test clips with exactly known collision frames and impact sounds.

See :mod:`actiondubber.synth.scenes` for the scenes, the collision-frame
convention and :func:`render_clip`.
"""

from actiondubber.synth.scenes import (
    BACKGROUNDS,
    OBJECT_KINDS,
    SCENES,
    Collision,
    SceneModel,
    SynthClip,
    SynthObject,
    build_scene,
    frame_times,
    nearest_frame,
    render_clip,
    write_labels_csv,
)

__all__ = [
    "BACKGROUNDS",
    "OBJECT_KINDS",
    "SCENES",
    "Collision",
    "SceneModel",
    "SynthClip",
    "SynthObject",
    "build_scene",
    "frame_times",
    "nearest_frame",
    "render_clip",
    "write_labels_csv",
]
