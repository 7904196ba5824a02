"""actiondubber: find when visible actions in a video make a sound, and put sound there.

The public API (keyword-only options; everything else lives in the packages named for their job):

>>> import actiondubber
>>> ev = actiondubber.detect(clip)                     # training-free; model="best.pt" for TA²Net
>>> ev                                                 # doctest: +ELLIPSIS
Events(video='...clip.mp4', frames=150, fps=30.0, events=5, detector='inflection-training-free')
"""

from actiondubber.api import detect, dub, export
from actiondubber.detection.detector import DetectorParams
from actiondubber.errors import (
    ActionDubberError,
    BackendUnavailableError,
    InputError,
    OutputError,
    ParameterError,
)
from actiondubber.events import load_events, save_events
from actiondubber.exporters.review import render_preview
from actiondubber.types import Event, Events, VideoInfo

__version__ = "0.1.0"

__all__ = [
    "ActionDubberError",
    "BackendUnavailableError",
    "DetectorParams",
    "Event",
    "Events",
    "InputError",
    "OutputError",
    "ParameterError",
    "VideoInfo",
    "__version__",
    "detect",
    "dub",
    "export",
    "load_events",
    "render_preview",
    "save_events",
]
