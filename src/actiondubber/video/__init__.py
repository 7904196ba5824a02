"""Video in and out (PyAV/FFmpeg): file facts, frame streaming, encoding, and the one muxer.

* :mod:`.demux`: opening a video file and its damage-tolerant packet reader.
* :mod:`.facts`: :func:`probe`, a file's facts (:class:`~actiondubber.types.VideoInfo`) in one pass.
* :mod:`.reader`: :func:`iter_frames`, frames one at a time at an analysis size (:func:`iter_frame_sets`: at
  several sizes from one decode).
* :mod:`.writer`: :func:`write_video` (frames, optionally with a soundtrack) and :func:`write_png`.
* :mod:`.mux`: :func:`mux_video_file` (a file's video stream copied, plus a new soundtrack) and
  :class:`Muxer`, the interleaving, atomic writer both use.
"""

from actiondubber.video.facts import DEFAULT_SHORT_SIDE, MIN_FRAMES, analysis_size, decoded_info, probe
from actiondubber.video.mux import (
    AUDIO_CODECS,
    ArraySoundtrack,
    Muxer,
    MuxResult,
    Soundtrack,
    mux_video_file,
    output_audio_codec,
    output_sample_rate,
)
from actiondubber.video.reader import Frame, iter_frame_sets, iter_frames
from actiondubber.video.writer import write_png, write_video

__all__ = [
    "AUDIO_CODECS",
    "DEFAULT_SHORT_SIDE",
    "MIN_FRAMES",
    "ArraySoundtrack",
    "Frame",
    "MuxResult",
    "Muxer",
    "Soundtrack",
    "analysis_size",
    "decoded_info",
    "iter_frame_sets",
    "iter_frames",
    "mux_video_file",
    "output_audio_codec",
    "output_sample_rate",
    "probe",
    "write_png",
    "write_video",
]
