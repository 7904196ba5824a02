"""One progress helper for every long job: a tqdm bar that logging warnings print around.

Library functions take ``progress: bool | Callable`` and call :func:`progress_bar`; the bar goes to
stderr, and while it is open warnings from the ``actiondubber`` loggers are routed through
``tqdm.write`` (:func:`tqdm.contrib.logging.logging_redirect_tqdm`) so they never tear a live bar.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm


@contextlib.contextmanager
def progress_bar(*, total: int | None, desc: str, unit: str = "frame", enabled: bool = True,
                 initial: int = 0) -> Iterator[tqdm]:
    """A tqdm bar (disabled when *enabled* is false) with warnings redirected around it.

    Parameters
    ----------
    total, desc, unit, initial
        As for :class:`tqdm.tqdm`.
    enabled
        ``False`` gives a silent bar with the same interface, so callers need no branches.
    """
    bar = tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=not enabled, leave=False,
               dynamic_ncols=True)
    try:
        if enabled:
            with logging_redirect_tqdm(loggers=[logging.getLogger("actiondubber")]):
                yield bar
        else:
            yield bar
    finally:
        bar.close()


class StagedProgress:
    """One bar per stage of a job (e.g. "detect" then "preview"), opened when the stage first reports.

    ``stage(name)`` returns a per-item callback; the previous stage's bar closes when the next one
    starts. Use as a context manager so the last bar is closed.
    """

    def __init__(self, *, total: int | None, desc: str, unit: str = "frame", enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self._name: str | None = None
        self._cm: contextlib.AbstractContextManager | None = None
        self._bar: tqdm | None = None

    def stage(self, name: str):
        """The callback (called with a count of items done) of stage *name*; ``None`` when disabled."""
        if not self.enabled:
            return None

        def update(n: int = 1) -> None:
            if self._name != name:
                self.close()
                self._cm = progress_bar(total=self.total, desc=f"{name} {self.desc}", unit=self.unit)
                self._bar = self._cm.__enter__()
                self._name = name
            self._bar.update(n)

        return update

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
        self._cm = self._bar = self._name = None

    def __enter__(self) -> StagedProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
