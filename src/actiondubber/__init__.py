"""actiondubber: find when visible actions in a video make a sound, and put sound there."""

from actiondubber.errors import ActionDubberError, InputError, OutputError
from actiondubber.types import Event, Events, VideoInfo

__version__ = "0.1.0"


def detect(video, **kwargs) -> Events:
    """Detect audible actions in *video* with the training-free detector.

    See :func:`actiondubber.detect.detector.detect` for the keyword arguments.
    """
    from actiondubber.detect.detector import detect as _detect

    return _detect(video, **kwargs)


__all__ = ["ActionDubberError", "Event", "Events", "InputError", "OutputError", "VideoInfo", "detect", "__version__"]
