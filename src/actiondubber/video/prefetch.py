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
