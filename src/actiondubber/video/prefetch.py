"""Decode ahead in a background thread, so that decoding overlaps the flow work that consumes the frames."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield *items* in order while a daemon thread produces up to *depth* of them ahead.

    An exception raised by the producer is raised in the consumer at the same position; closing the
    returned generator early stops the producer and drains its queue, so no thread is left blocked.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    break
                q.put(item)
        except BaseException as exc:  # hand errors to the consumer
            q.put(exc)
        finally:
            q.put(done)

    t = threading.Thread(target=work, name="actiondubber-decode", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


class BranchClosed(RuntimeError):
    """A :func:`fan_out` branch cannot go on: another branch was closed or failed before the end."""


class FanOut:
    """*n* iterators (:attr:`branches`) over the parts of *items* (tuples of *n*): branch k yields ``item[k]``
    for every item, in order, while one daemon thread produces them (up to *depth* ahead per branch). For
    consumers that run at once, each in its own thread: a branch read only after another has ended would
    wait for ever once the other's queue is full.

    An exception raised by the producer is raised in every branch at the same position. :meth:`cancel`
    (from any thread), closing a branch before its end, or an error raised while reading one stops the
    producer (which closes *items*); the branches then raise :class:`BranchClosed` instead of waiting.
    """

    def __init__(self, items: Iterable[tuple], n: int, depth: int = 8) -> None:
        self._items = items
        self._queues: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in range(n)]
        self._done = object()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="actiondubber-decode", daemon=True)
        self.branches: list[Iterator] = [self._branch(q) for q in self._queues]
        self._thread.start()

    def cancel(self) -> None:
        """Stop the producer; every branch not yet at its end raises :class:`BranchClosed` at its next item."""
        self._stop.set()

    def _put(self, q: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for parts in self._items:
                for q, part in zip(self._queues, parts, strict=True):
                    if not self._put(q, part):
                        return
        except BaseException as exc:  # hand errors to every consumer
            for q in self._queues:
                self._put(q, exc)
            return
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()  # a generator's clean-up (the decoder's file) runs here, in its own thread
        for q in self._queues:
            self._put(q, self._done)

    def _branch(self, q: queue.Queue) -> Iterator:
        finished = False
        try:
            while True:
                if self._stop.is_set():
                    raise BranchClosed("another consumer of the same frames stopped first")
                try:
                    item = q.get(timeout=0.05)
                except queue.Empty:
                    if not self._thread.is_alive() and q.empty():
                        raise BranchClosed("the producer of these frames stopped") from None
                    continue
                if item is self._done:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True  # every branch gets the same error; none stops the others
                    raise item
                yield item
        finally:
            if not finished:
                self._stop.set()
