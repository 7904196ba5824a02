"""actiondubber: find when visible actions in a video make a sound, and put sound there."""

from actiondubber.errors import ActionDubberError, InputError, OutputError
from actiondubber.types import Event, Events, VideoInfo

__version__ = "0.1.0"

# Bound after the sub-package import so that ``actiondubber.detect`` is the function.
from actiondubber.detect.detector import detect  # noqa: E402

__all__ = ["ActionDubberError", "Event", "Events", "InputError", "OutputError", "VideoInfo", "detect", "__version__"]
