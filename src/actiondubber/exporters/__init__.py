"""Writers of events for people and other tools: table, CSV, plot, editor markers and cues, the review video.

* :mod:`.tabular`: table and CSV; :mod:`.plot`: the score curve as a picture.
* :mod:`.cues` (Audacity, SRT, WebVTT), :mod:`.editors` (OTIO, EDL, FCP XML), :mod:`.timecode`,
  :mod:`.markers` (all formats at once, checked first).
* :mod:`.review` (:func:`render_preview`, the review video) drawing frames with :mod:`.review_frame`.
"""

from actiondubber.exporters.plot import plot_curve
from actiondubber.exporters.review import EventPreview, ReviewParams, render_preview
from actiondubber.exporters.review_frame import PreviewLayout, PreviewRenderer, preview_layout
from actiondubber.exporters.tabular import events_csv, events_table, write_events_csv

__all__ = [
    "EventPreview",
    "PreviewLayout",
    "PreviewRenderer",
    "ReviewParams",
    "events_csv",
    "events_table",
    "plot_curve",
    "preview_layout",
    "render_preview",
    "write_events_csv",
]
