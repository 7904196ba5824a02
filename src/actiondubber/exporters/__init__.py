"""Writers of events for people and other tools: table, CSV, plot (later OTIO, EDL, SRT ...)."""

from actiondubber.exporters.plot import plot_curve
from actiondubber.exporters.tabular import events_csv, events_table, write_events_csv

__all__ = ["events_csv", "events_table", "plot_curve", "write_events_csv"]
