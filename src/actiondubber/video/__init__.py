"""Video input: file facts and frame streaming (PyAV/FFmpeg)."""

from actiondubber.video.reader import DEFAULT_SHORT_SIDE, Frame, analysis_size, iter_frames, probe

__all__ = ["DEFAULT_SHORT_SIDE", "Frame", "analysis_size", "iter_frames", "probe"]
