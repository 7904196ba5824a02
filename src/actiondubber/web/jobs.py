"""Long work (detection, dubbing) on worker threads, so requests return at once.

A :class:`Job` counts its progress (frames decoded ...) and ends ``done`` with
a result or ``error`` with the one-line message of the library's error; the
page follows it through :meth:`JobRunner.get` (polled or streamed as
server-sent events by the app).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from actiondubber.errors import ActionDubberError

log = logging.getLogger(__name__)

#: Jobs kept for the page to read after they end (oldest finished ones are dropped first).
KEEP_FINISHED = 64


@dataclass
class Job:
    """One unit of long work and where it stands."""

    id: str
    kind: str
    total: int = 0
    done: int = 0
    state: str = "queued"  # queued | running | done | error
    message: str = ""
    result: dict = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def advance(self, n: int = 1) -> None:
        """Progress callback for the library (``progress(1)`` per frame)."""
        self.done += int(n)

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "total": self.total, "done": min(self.done, self.total or self.done),
                "state": self.state, "message": self.message, "result": self.result,
                "seconds": round(self.seconds or time.monotonic() - self.started, 3)}

    @property
    def finished(self) -> bool:
        return self.state in ("done", "error")


class JobRunner:
    """A small thread pool running :class:`Job` functions."""

    def __init__(self, workers: int = 2):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="actiondubber-web")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def submit(self, kind: str, fn: Callable[[Job], dict], total: int = 0) -> Job:
        """Run ``fn(job)`` on a worker; its returned dict becomes ``job.result``."""
        job = Job(id=f"{kind}-{next(self._ids)}", kind=kind, total=int(total))
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: Callable[[Job], dict]) -> None:
        job.state = "running"
        job.started = time.monotonic()
        try:
            job.result = fn(job) or {}
            if job.total:
                job.done = job.total
            job.state = "done"
        except ActionDubberError as exc:
            job.message, job.state = str(exc), "error"
        except MemoryError:
            job.message, job.state = "out of memory", "error"
        except Exception as exc:  # a bug: keep the server alive, tell the page, log the traceback
            log.exception("%s failed", job.id)
            job.message, job.state = f"internal error: {type(exc).__name__}: {exc}", "error"
        finally:
            job.seconds = time.monotonic() - job.started

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished]
        for j in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[j.id]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
