"""The project's error types.

Library code raises only these; the CLI prints ``str(error)`` as one line on
stderr and exits with ``error.exit_code``. Messages name the file and the
problem in words a user understands.
"""

from __future__ import annotations


class ActionDubberError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 1


class InputError(ActionDubberError):
    """A file given to us cannot be used (missing, not a video, too short...)."""

    exit_code = 2


class ParameterError(InputError, ValueError):
    """A bad argument or option value (out of range, unknown name, wrong combination).

    Also a :class:`ValueError`, so plain-Python callers can catch it the usual way. Raised by the
    ``__post_init__`` validation of the parameter dataclasses and by the public functions.
    """


class OutputError(ActionDubberError):
    """An output path cannot be written (unwritable, equal to an input...)."""

    exit_code = 3


class BackendUnavailableError(ActionDubberError):
    """An optional component (RAFT weights, TV-L1, torch) is not available here."""

    exit_code = 4


class PartialFailure(ActionDubberError):
    """A command over many files finished, but some of the files failed (each was reported as it failed)."""

    exit_code = 6
