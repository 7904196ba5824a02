"""Soundtrack input: decoding, onset detection, and frame labels from audio."""

from actiondubber.audio.labels import (
    FRAME_ROUNDING,
    audio_event_frames,
    audio_label_frames,
    labels_and_dont_care_from_audio,
    labels_from_audio,
    times_to_frames,
)
from actiondubber.audio.onsets import graded_onsets, impact_onsets, onset_detect, onset_strength, peak_pick
from actiondubber.audio.reader import (
    DEFAULT_SR,
    AudioClip,
    NoAudioStreamError,
    read_audio,
    read_audio_clip,
    soundtrack_on_video_clock,
)

__all__ = [
    "DEFAULT_SR",
    "FRAME_ROUNDING",
    "AudioClip",
    "NoAudioStreamError",
    "audio_event_frames",
    "audio_label_frames",
    "graded_onsets",
    "impact_onsets",
    "labels_and_dont_care_from_audio",
    "labels_from_audio",
    "onset_detect",
    "onset_strength",
    "peak_pick",
    "read_audio",
    "read_audio_clip",
    "soundtrack_on_video_clock",
    "times_to_frames",
]
