"""The batch manifest: one SQLite file in the output folder recording every video's state.

A row per input (keyed by its absolute path) holds the status (``pending`` = handed to a worker and
not finished, ``done``, ``failed``), the file's size, modification time and SHA-256, the fingerprint
of the options, the one-line error, the video facts and the output paths; the ``events`` table holds
each finished video's events. Each finished video is one SQLite transaction (atomic: a ``kill -9`` of
the driver loses at most the videos in flight, which are then ``pending`` and redone on the next run).
A lock on ``<state>.lock`` keeps two runs from sharing one output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from actiondubber.batch.tasks import TaskResult
from actiondubber.errors import OutputError

#: File name of the manifest inside the output folder.
STATE_NAME = "batch_state.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
  path TEXT PRIMARY KEY, rel TEXT NOT NULL, status TEXT NOT NULL, fingerprint TEXT,
  size INTEGER, mtime_ns INTEGER, sha256 TEXT, error TEXT,
  n_frames INTEGER, fps REAL, duration REAL, width INTEGER, height INTEGER, has_audio INTEGER,
  n_events INTEGER, seconds REAL, attempts INTEGER NOT NULL DEFAULT 0, outputs TEXT, audio_frames TEXT,
  warnings TEXT, worker_pid INTEGER, rss_mb REAL, updated REAL
);
CREATE TABLE IF NOT EXISTS events (
  path TEXT NOT NULL, frame INTEGER NOT NULL, time REAL, score REAL, x REAL, y REAL
);
CREATE INDEX IF NOT EXISTS events_path ON events(path);
"""


@dataclass(frozen=True)
class VideoRow:
    """A video's manifest row, as read back."""

    path: str
    rel: str
    status: str
    fingerprint: str | None
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    error: str | None
    attempts: int
    outputs: dict


class BatchState:
    """The manifest of one output folder (open with :meth:`open`; use as a context manager)."""

    def __init__(self, path: Path, con: sqlite3.Connection, lock_fd: int | None):
        self.path = path
        self._con = con
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, out_dir: str | os.PathLike) -> BatchState:
        """Open (or create) the manifest in *out_dir*; :class:`OutputError` if another run holds it."""
        path = Path(out_dir) / STATE_NAME
        lock_fd = _lock(path.with_name(path.name + ".lock"))
        try:
            con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            _unlock(lock_fd)
            raise OutputError(f"{path}: cannot use the batch state file ({exc}); move it away to start over") \
                from None
        return cls(path, con, lock_fd)

    def close(self) -> None:
        self._con.close()
        _unlock(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> BatchState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def rows(self) -> dict[str, VideoRow]:
        """Every row, by path."""
        cur = self._con.execute(
            "SELECT path, rel, status, fingerprint, size, mtime_ns, sha256, error, attempts, outputs FROM videos")
        return {r[0]: VideoRow(*r[:9], json.loads(r[9]) if r[9] else {}) for r in cur}

    def mark_pending(self, items: list[tuple[str, str]]) -> None:
        """Record that these ``(path, rel)`` are being handed to workers (one transaction)."""
        now = time.time()
        with self._tx() as con:
            con.executemany(
                "INSERT INTO videos(path, rel, status, updated) VALUES (?, ?, 'pending', ?) "
                "ON CONFLICT(path) DO UPDATE SET status='pending', rel=excluded.rel, updated=excluded.updated",
                [(p, r, now) for p, r in items])

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """A done file whose time changed but whose bytes did not: keep it done, remember the new time."""
        with self._tx() as con:
            con.execute("UPDATE videos SET size=?, mtime_ns=? WHERE path=?", (size, mtime_ns, path))

    def record(self, res: TaskResult, fingerprint: str) -> None:
        """Store one finished task (done or failed) and its events, atomically."""
        with self._tx() as con:
            con.execute("DELETE FROM events WHERE path=?", (res.path,))
            con.execute(
                "INSERT INTO videos(path, rel, status, fingerprint, size, mtime_ns, sha256, error, n_frames, fps, "
                "duration, width, height, has_audio, n_events, seconds, attempts, outputs, audio_frames, warnings, "
                "worker_pid, rss_mb, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?,?,?,?,?) "
                "ON CONFLICT(path) DO UPDATE SET rel=excluded.rel, status=excluded.status, "
                "fingerprint=excluded.fingerprint, size=excluded.size, mtime_ns=excluded.mtime_ns, "
                "sha256=excluded.sha256, error=excluded.error, n_frames=excluded.n_frames, fps=excluded.fps, "
                "duration=excluded.duration, width=excluded.width, height=excluded.height, "
                "has_audio=excluded.has_audio, n_events=excluded.n_events, seconds=excluded.seconds, "
                "attempts=videos.attempts+1, outputs=excluded.outputs, audio_frames=excluded.audio_frames, "
                "warnings=excluded.warnings, worker_pid=excluded.worker_pid, rss_mb=excluded.rss_mb, "
                "updated=excluded.updated",
                (res.path, res.rel, "done" if res.ok else "failed", fingerprint, res.size, res.mtime_ns, res.sha256,
                 res.error, res.n_frames, res.fps, res.duration, res.width, res.height, int(res.has_audio),
                 len(res.events) if res.ok else None, res.seconds, json.dumps(res.outputs),
                 None if res.audio_frames is None else json.dumps(res.audio_frames), json.dumps(res.warnings),
                 res.pid, res.rss_mb, time.time()))
            if res.ok and res.events:
                con.executemany("INSERT INTO events(path, frame, time, score, x, y) VALUES (?,?,?,?,?,?)",
                                [(res.path, *e) for e in res.events])

    def summary_rows(self, paths: list[str]) -> list[dict]:
        """Per-video summary rows of *paths*, in the given order (missing ones are left out)."""
        cols = ("path", "rel", "status", "error", "n_frames", "fps", "duration", "width", "height", "has_audio",
                "n_events", "seconds", "attempts", "sha256", "outputs", "audio_frames")
        cur = self._con.execute(f"SELECT {', '.join(cols)} FROM videos")
        by_path = {r[0]: dict(zip(cols, r, strict=True)) for r in cur}
        return [by_path[p] for p in paths if p in by_path]

    def event_rows(self, paths: list[str]) -> dict[str, list[tuple]]:
        """``{path: [(frame, time, score, x, y), ...]}`` of the done videos among *paths* (frame order)."""
        wanted = set(paths)
        out: dict[str, list[tuple]] = {}
        cur = self._con.execute("SELECT e.path, e.frame, e.time, e.score, e.x, e.y FROM events e "
                                "JOIN videos v ON v.path = e.path WHERE v.status='done' ORDER BY e.path, e.frame")
        for p, *rest in cur:
            if p in wanted:
                out.setdefault(p, []).append(tuple(rest))
        return out

    @contextlib.contextmanager
    def _tx(self):
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")


def _lock(path: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-run lock
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the batch lock file ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(f"{path.parent}: another batch run is using this output folder") from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
