"""Audio–picture sync: measure the offset of a soundtrack against the visible impacts, and fix it.

* :mod:`.offset`: the estimate (:func:`measure_offset`, :func:`estimate_offset`, :class:`SyncResult`).
* :mod:`.soundtype`: impacts, music or speech? (:func:`classify_soundtrack`).
* :mod:`.fix`: write a copy with the audio shifted (:func:`shift_audio`, :func:`fix_offset`).
* :mod:`.labels`: labels from audio corrected by the measured offset, with a per-clip report.
"""

from actiondubber.sync.offset import (
    OnsetEnvelope,
    SyncParams,
    SyncRefused,
    SyncResult,
    WindowEstimate,
    estimate_offset,
    measure_offset,
    onset_envelope,
)
from actiondubber.sync.soundtype import SoundType, classify_soundtrack

__all__ = [
    "OnsetEnvelope",
    "SoundType",
    "SyncParams",
    "SyncRefused",
    "SyncResult",
    "WindowEstimate",
    "classify_soundtrack",
    "estimate_offset",
    "measure_offset",
    "onset_envelope",
]
