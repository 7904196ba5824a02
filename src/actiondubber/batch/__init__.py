"""Whole footage libraries: one resumable, failure-proof run over a folder or a list of videos.

* :mod:`.inputs`: which videos (a folder scanned, or a list file) and their paths under the output folder.
* :mod:`.tasks`: one video = the single-file commands' library calls (detect, dub, export, audio labels).
* :mod:`.engines`: where tasks run — a local process pool, or Ray (local instance or cluster).
* :mod:`.state`: the manifest (SQLite) that makes a rerun skip finished videos and redo the rest.
* :mod:`.index`: the tables of all events and of all videos (CSV and Parquet).
* :mod:`.runner`: :func:`run_batch`, the whole run.
"""

from actiondubber.batch.engines import ENGINES, LocalEngine, RayEngine, default_max_memory_mb, default_workers
from actiondubber.batch.index import EVENT_COLUMNS, VIDEO_COLUMNS, write_index
from actiondubber.batch.inputs import VIDEO_EXTENSIONS, BatchInput, discover, read_list_file, scan_folder
from actiondubber.batch.runner import EXIT_SOME_FAILED, BatchFailedError, BatchSummary, run_batch
from actiondubber.batch.state import STATE_NAME, BatchState
from actiondubber.batch.tasks import EXPORT_SUFFIXES, Task, TaskOptions, TaskResult, output_paths, run_task

__all__ = [
    "ENGINES",
    "EVENT_COLUMNS",
    "EXIT_SOME_FAILED",
    "EXPORT_SUFFIXES",
    "STATE_NAME",
    "VIDEO_COLUMNS",
    "VIDEO_EXTENSIONS",
    "BatchFailedError",
    "BatchInput",
    "BatchState",
    "BatchSummary",
    "LocalEngine",
    "RayEngine",
    "Task",
    "TaskOptions",
    "TaskResult",
    "default_max_memory_mb",
    "default_workers",
    "discover",
    "output_paths",
    "read_list_file",
    "run_batch",
    "run_task",
    "scan_folder",
    "write_index",
]
