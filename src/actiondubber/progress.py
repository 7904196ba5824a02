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
