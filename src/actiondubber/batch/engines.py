"""Where batch tasks run: a local process pool (default) or Ray. Both stream results as they finish.

Both engines run the same :func:`~actiondubber.batch.tasks.run_task` in worker processes, so their
results are identical. Both recycle a worker after ``max_tasks`` videos (memory stays flat however long
the run) and turn a worker that dies (segfault in a decoder, ``kill -9``, out of memory) into a failed
result for the video it held, so the run goes on.

* :class:`LocalEngine`: one process per worker, each fed one task at a time over a pipe (the driver
  knows which video each worker holds, so a crash is charged to that video only); started with
  ``forkserver`` where available (workers fork from a clean process, never from a driver with threads).
  It also enforces ``max_memory_mb`` (resident memory, polled) and ``timeout`` per video by killing the
  worker.
* :class:`RayEngine`: one Ray task per video with a resource request (``num_cpus=1`` and ``memory``),
  ``max_calls`` for recycling, no retries (a failure is a result); ``ray.init()`` starts a local instance
  or joins ``address`` (a cluster: inputs and the output folder must be at the same paths on every node).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait as mp_wait
from pathlib import Path

from actiondubber.batch.tasks import Task, TaskResult, current_rss_mb, output_paths, run_task, worker_init
from actiondubber.errors import BackendUnavailableError

ENGINES = ("local", "ray")
#: Modules the local pool's fork server imports once, so each worker starts without importing them.
PRELOAD = ("actiondubber.batch.tasks", "actiondubber.dubbing.pipeline", "actiondubber.exporters.markers",
           "actiondubber.audio.labels", "actiondubber.evaluate.labels")
#: Seconds between checks of the workers' memory and time limits (local engine).
POLL_S = 0.25


def available_cpus() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory_mb() -> float:
    """Memory available for new work (``MemAvailable``), in MB; a guess of 4096 where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 4096.0


#: Memory one detection worker is planned with (MB): peak RSS of ``detect`` on 720p was ~200 MB
#: (README), dubbing a long clip holds its soundtrack; 1 GB leaves room for both.
PLANNED_WORKER_MB = 1024


def default_workers() -> int:
    """Workers that fit the machine: one per core, fewer when memory would not hold them."""
    return max(1, min(available_cpus(), int(available_memory_mb() * 0.8 // PLANNED_WORKER_MB)))


def default_max_memory_mb(workers: int) -> int:
    """Per-worker memory limit: an equal share of 80 % of the available memory, 512 MB to 8 GB."""
    return int(min(8192, max(512, available_memory_mb() * 0.8 / max(1, workers))))


def crash_result(task: Task, why: str) -> TaskResult:
    """A failed result for a video whose worker did not return."""
    return TaskResult(path=task.path, rel=task.rel, ok=False, error=why)


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _worker_main(conn, threads: int | None) -> None:
    """Local worker loop: receive a task, send its result; ``None`` means stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    worker_init(threads)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        res = run_task(task)
        try:
            conn.send(res)
        except (OSError, BrokenPipeError):  # the driver is gone (killed): its next run redoes this video
            return


@dataclass
class _Worker:
    proc: mp.process.BaseProcess
    conn: object
    task: Task | None = None
    started: float = 0.0
    done: int = 0


class LocalEngine:
    """A pool of local worker processes (no Ray needed).

    Parameters
    ----------
    workers
        Processes run at once.
    max_tasks
        Videos per worker process before it is replaced by a fresh one (0: never).
    max_memory_mb
        A worker whose resident memory passes this is killed and its video fails (0: no limit).
    timeout
        Seconds one video may take before its worker is killed and the video fails (0: no limit).
    threads
        OpenCV threads per worker (default: the cores shared out among the workers).
    """

    name = "local"

    def __init__(self, workers: int = 1, *, max_tasks: int = 50, max_memory_mb: float = 0, timeout: float = 0,
                 threads: int | None = None):
        self.workers = max(1, int(workers))
        self.max_tasks = max(0, int(max_tasks))
        self.max_memory_mb = float(max_memory_mb or 0)
        self.timeout = float(timeout or 0)
        self.threads = threads or max(1, available_cpus() // self.workers)
        # forkserver: workers fork from a clean server process (never from a driver with threads) that has
        # imported the task code once (~2 s of CPU saved per worker start). The server does not get the
        # driver's sys.path (Python 3.11), hence PYTHONPATH for a source checkout.
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            export_package_path()
            self._ctx.set_forkserver_preload(list(PRELOAD))
        self._pool: list[_Worker] = []
        self.started_processes = 0
        self.startup_s = 0.0

    def parallelism(self) -> int:
        return self.workers

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child, self.threads), daemon=True,
                                 name="actiondubber-batch-worker")
        proc.start()
        child.close()
        self.started_processes += 1
        return _Worker(proc, parent)

    def _retire(self, w: _Worker, *, kill: bool = False) -> None:
        if w in self._pool:
            self._pool.remove(w)
        if kill:
            w.proc.kill()
        else:
            try:
                w.conn.send(None)
            except (OSError, BrokenPipeError):
                w.proc.kill()
        w.proc.join(5)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join()
        w.conn.close()

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskResult]:
        """Run *tasks*; yield each result as soon as its video is finished.

        Idle workers get their next video before the finished results are handed on, so no worker
        waits while the caller records a result.
        """
        queue = deque(tasks)
        try:
            while queue or any(w.task is not None for w in self._pool):
                self._fill(queue)
                busy = [w for w in self._pool if w.task is not None]
                mp_wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=POLL_S)
                finished = [r for r in (self._collect(w) for w in busy) if r is not None]
                self._fill(queue)
                yield from finished
        finally:
            self.close()

    def _fill(self, queue: deque) -> None:
        """Give every idle worker (starting new ones up to ``workers``) a task from *queue*."""
        while queue and (len(self._pool) < self.workers or any(w.task is None for w in self._pool)):
            idle = next((w for w in self._pool if w.task is None), None) or self._spawn()
            if idle not in self._pool:
                self._pool.append(idle)
            task = queue.popleft()
            try:
                idle.conn.send(task)
            except (OSError, BrokenPipeError):  # the idle worker died: replace it, keep the task
                self._retire(idle, kill=True)
                queue.appendleft(task)
                continue
            idle.task, idle.started = task, time.monotonic()

    def _collect(self, w: _Worker) -> TaskResult | None:
        task = w.task
        assert task is not None
        if w.conn.poll():
            try:
                res = w.conn.recv()
            except (EOFError, OSError):
                res = None
            if res is not None:
                w.task, w.done = None, w.done + 1
                over = self._over_limits(w, res)
                if over:  # finished between two polls but past a limit: the same verdict as if caught running
                    return self._fail(w, task, over)
                if self.max_tasks and w.done >= self.max_tasks:
                    self._retire(w)
                return res
        if not w.proc.is_alive():
            w.proc.join()
            return self._fail(w, task, f"worker process died ({_signal_name(w.proc.exitcode)}) while processing "
                                       "this video")
        if self.timeout and time.monotonic() - w.started > self.timeout:
            return self._fail(w, task, f"took longer than the {self.timeout:g} s timeout; worker stopped")
        if self.max_memory_mb:
            rss = current_rss_mb(w.proc.pid)
            if rss > self.max_memory_mb:
                return self._fail(w, task, f"worker used {rss:.0f} MB, over the {self.max_memory_mb:.0f} MB "
                                           "memory limit; worker stopped")
        return None

    def _fail(self, w: _Worker, task: Task, why: str) -> TaskResult:
        """Stop *w* and fail *task*; a failed video keeps no outputs (the worker may have written some
        just before it was stopped)."""
        self._retire(w, kill=True)
        for path in output_paths(task).values():
            path.unlink(missing_ok=True)
        return crash_result(task, why)

    def _over_limits(self, w: _Worker, res: TaskResult) -> str | None:
        """Why a finished task broke the timeout or the memory limit (so the limits do not depend on how
        often the driver happened to look), else None."""
        if self.timeout and res.seconds > self.timeout:
            return f"took longer than the {self.timeout:g} s timeout; worker stopped"
        rss = max(res.peak_rss_mb, current_rss_mb(w.proc.pid) if w.proc.is_alive() else 0.0)
        if self.max_memory_mb and rss > self.max_memory_mb:
            return f"worker used {rss:.0f} MB, over the {self.max_memory_mb:.0f} MB memory limit; worker stopped"
        return None

    def close(self) -> None:
        """Stop every worker (busy ones are killed: their videos stay pending and are redone next run)."""
        for w in list(self._pool):
            self._retire(w, kill=w.task is not None)


def _ray_task(task: Task, threads: int | None) -> TaskResult:
    worker_init(threads)
    return run_task(task)


class RayEngine:
    """Run the tasks on Ray: a local instance started here, or an existing cluster at *address*.

    Parameters
    ----------
    workers
        Local instance: its CPU count (tasks at once). Cluster: ignored (the cluster's CPUs decide).
    address
        ``None``: start a local Ray instance; ``"auto"`` or ``"ray://host:port"`` ...: join that cluster.
    max_tasks
        ``max_calls``: videos per Ray worker process before it is replaced (0: never).
    max_memory_mb
        The ``memory`` resource each task requests (0: none), so Ray places no more tasks on a node than
        its memory holds.
    timeout
        Seconds one video may take before its task is cancelled and the video fails (0: no limit).
    """

    name = "ray"

    def __init__(self, workers: int = 1, *, address: str | None = None, max_tasks: int = 50,
                 max_memory_mb: float = 0, timeout: float = 0, threads: int | None = None):
        try:
            import ray
        except ImportError:
            raise BackendUnavailableError("--engine ray needs Ray: pip install 'actiondubber[ray]'") from None
        self._ray = ray
        self.workers = max(1, int(workers))
        self.address = address
        self.max_tasks = max(0, int(max_tasks))
        self.max_memory_mb = float(max_memory_mb or 0)
        self.timeout = float(timeout or 0)
        self.threads = threads or (max(1, available_cpus() // self.workers) if address is None else 1)
        self._owns = False
        t0 = time.perf_counter()
        if not ray.is_initialized():
            kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address is None:
                export_package_path()
                kw["num_cpus"] = self.workers
            else:
                kw["address"] = address
            try:
                ray.init(**kw)
            except Exception as exc:  # Ray raises many kinds (ConnectionError, RuntimeError ...)
                raise BackendUnavailableError(f"cannot start or reach Ray ({' '.join(str(exc).split())})") \
                    from None
            self._owns = True
        self.startup_s = time.perf_counter() - t0
        opts: dict = dict(num_cpus=1, max_retries=0)
        if self.max_tasks:
            opts["max_calls"] = self.max_tasks
        if self.max_memory_mb:
            opts["memory"] = int(self.max_memory_mb * 1024 * 1024)
        self._remote = ray.remote(**opts)(_ray_task)

    def parallelism(self) -> int:
        try:
            return max(1, int(self._ray.cluster_resources().get("CPU", self.workers)))
        except Exception:  # a cluster that does not answer: fall back to the asked number
            return self.workers

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskResult]:
        """Submit *tasks* (at most twice the cluster's CPUs in flight); yield each result as it finishes."""
        ray = self._ray
        queue = deque(tasks)
        limit = 2 * self.parallelism()
        flight: dict = {}
        try:
            while queue or flight:
                while queue and len(flight) < limit:
                    task = queue.popleft()
                    flight[self._remote.remote(task, self.threads)] = (task, time.monotonic())
                done, _ = ray.wait(list(flight), num_returns=1, timeout=POLL_S * 4)
                for ref in done:
                    task, _t = flight.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        yield crash_result(task, _ray_error(exc))
                if self.timeout:
                    now = time.monotonic()
                    for ref, (task, t) in list(flight.items()):
                        if now - t > self.timeout:
                            ray.cancel(ref, force=True)
                            del flight[ref]
                            yield crash_result(task, f"took longer than the {self.timeout:g} s timeout; task "
                                                     "cancelled")
        finally:
            for ref in flight:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False


def _ray_error(exc: BaseException) -> str:
    kind = type(exc).__name__
    if "OutOfMemory" in kind:
        return "Ray stopped the task: the node ran out of memory"
    if "WorkerCrashed" in kind or "ActorDied" in kind or "NodeDied" in kind:
        return f"Ray worker died while processing this video ({kind})"
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), kind)
    return f"Ray task failed ({kind}: {first})"


def export_package_path() -> None:
    """Put this package's folder first on ``PYTHONPATH`` so worker interpreters import the same code.

    Only for a source checkout (the folder is not a site-packages folder, which must not go ahead of
    the standard library): the forkserver and Ray workers start as fresh interpreters and would
    otherwise import whatever ``actiondubber`` their environment installs.
    """
    import site

    root = str(Path(__file__).resolve().parents[2])
    site_dirs = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in site_dirs and root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])


def make_engine(name: str, workers: int, **kw):
    """The engine called *name* (:data:`ENGINES`); keyword arguments as for its class."""
    if name == "local":
        kw.pop("address", None)
        return LocalEngine(workers, **kw)
    if name == "ray":
        return RayEngine(workers, **kw)
    raise BackendUnavailableError(f"unknown engine {name!r} (use {', '.join(ENGINES)})")
