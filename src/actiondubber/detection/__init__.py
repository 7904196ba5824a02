"""Training-free detection: inflection strength curve, peak picking, events."""

from actiondubber.detection.detector import (
    DEFAULT_DETECTOR,
    FAST_DETECTOR,
    FASTEST_DETECTOR,
    PRESETS,
    SINGLE_SCALE_DETECTOR,
    DetectorParams,
    StrengthCurve,
    detect,
    detector_params,
    events_from_curve,
    strength_curve,
)
from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.detection.strength import KINDS, frame_strength, strength_map

__all__ = [
    "DEFAULT_DETECTOR",
    "FAST_DETECTOR",
    "SINGLE_SCALE_DETECTOR",
    "FASTEST_DETECTOR",
    "KINDS",
    "PRESETS",
    "DetectorParams",
    "StrengthCurve",
    "detect",
    "detector_params",
    "events_from_curve",
    "frame_strength",
    "pick_peaks",
    "sensitivity_to_delta",
    "strength_curve",
    "strength_map",
]
