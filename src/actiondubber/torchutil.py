"""The one place that touches torch for the optional parts (RAFT flow, TA²Net encoders and checkpoints).

Everything here is a low layer: it imports no other actiondubber package than
:mod:`actiondubber.errors`, and imports torch only inside its functions, so it
loads on a machine without the ``torch`` extra.

* :func:`require_torch`: the single "needs torch" check; missing torch or
  torchvision raises :class:`~actiondubber.errors.BackendUnavailableError`
  (exit code 4) with the install hint :data:`INSTALL_HINT`.
* :func:`choose_device`: ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` (/ ``mps``) → a ``torch.device``.
* :func:`load_torch_file` / :func:`load_state_dict_file`: read a local weights file (tensors and plain
  data only) with one-line errors; :func:`unwrap_state_dict` finds the tensors in common wrappers.
* :func:`check_fits`: raise one line naming the missing / unexpected / wrong-shape keys.
* :func:`fetch_pretrained`: torchvision's pretrained weights from its cache, else downloaded with
  short timeouts; offline it fails at once instead of hanging.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import socket
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from actiondubber.errors import BackendUnavailableError, InputError, ParameterError

log = logging.getLogger(__name__)

#: What to install for every torch-based part.
INSTALL_HINT = "pip install 'actiondubber[torch]'"

#: Seconds to wait for name resolution and for each socket operation of a weights download.
NET_TIMEOUT = 10.0


def require_torch(purpose: str = "this feature", modules: tuple[str, ...] = ("torchvision",)) -> Any:
    """Import and return ``torch`` after checking that *modules* (torchvision by default) import too.

    Raises
    ------
    BackendUnavailableError
        When torch or one of *modules* is not installed; the message names *purpose* and says what
        to install (:data:`INSTALL_HINT`).
    """
    try:
        import torch

        for name in modules:
            importlib.import_module(name)
    except ImportError as exc:
        what = "torch and torchvision" if any(m.startswith("torchvision") for m in modules) else "torch"
        raise BackendUnavailableError(f"{purpose} needs {what}: {INSTALL_HINT} ({exc})") from None
    return torch


def choose_device(device: Any = "auto", *, purpose: str = "torch", mps: bool = False) -> Any:
    """The ``torch.device`` for *device*.

    ``auto`` (or None) picks the first CUDA GPU, then (with *mps*) Apple's MPS, then the CPU.
    *mps* is on for RAFT only: TA²Net training and inference are checked on CUDA and CPU only.

    Raises
    ------
    ParameterError
        *device* is not a device name torch knows.
    BackendUnavailableError
        A CUDA device is asked for on a machine without one.
    """
    torch = require_torch(purpose, ())
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        backend = getattr(torch.backends, "mps", None)
        if mps and backend is not None and backend.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ParameterError(f"{purpose}: unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"{purpose}: device {device!r} requested but CUDA is not available here")
    return dev


class ForeignObjectsError(InputError):
    """A torch file that holds pickled Python objects (refused unread); ``held`` names the first one."""

    def __init__(self, message: str, held: str | None = None) -> None:
        super().__init__(message)
        self.held = held


def load_torch_file(path: str | os.PathLike, what: str = "weights file") -> Any:
    """The object saved in *path* by ``torch.save``, tensors on the CPU, read without running pickled code.

    Raises
    ------
    InputError
        The file is missing, a folder, empty, damaged or not a torch file; a file that holds Python
        objects besides tensors and plain data raises the subclass :class:`ForeignObjectsError`.
    """
    torch = require_torch(f"reading {what}s", ())
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {what} not found")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a {what}")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: {what} is empty (0 bytes)")
    try:
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a bad file
        text = str(exc)
        if "weights only" in text.lower() and zipfile.is_zipfile(p):
            held = _unsupported_global(text)
            raise ForeignObjectsError(
                f"{p}: holds Python objects besides tensors{f' ({held})' if held else ''}; "
                "save the model's state_dict() instead", held
            ) from None
        why = "a truncated or damaged archive" if "zip archive" in text else "damaged, or not written by torch.save"
        raise InputError(f"{p}: not a readable {what} ({why})") from None


def load_package_file(path: str | os.PathLike) -> Any:
    """A checkpoint shipped inside an installed package (e.g. ``aisfx``'s), pickled objects allowed.

    Only for files that come with a package the user installed, never for a path the user gives
    (those go through :func:`load_torch_file`, which runs no pickled code).
    """
    torch = require_torch("reading a package's weights", ())
    return torch.load(str(path), map_location="cpu", weights_only=False)


def _unsupported_global(text: str) -> str | None:
    marker = "Unsupported global: GLOBAL "
    if marker not in text:
        return None
    rest = text.split(marker, 1)[1]
    name = ""
    for ch in rest:
        if not (ch.isalnum() or ch in "._"):
            break
        name += ch
    return name or None


def unwrap_state_dict(obj: Any, source: str, kind: str) -> dict:
    """The tensor mapping inside *obj*: itself, or under ``state_dict`` / ``model_state_dict`` / ``model``;
    DDP's ``module.`` prefixes removed. *kind* names the expected weights in the error (e.g. ``RAFT``)."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise InputError(f"{source}: not a {kind} state_dict (expected a mapping of parameter names to tensors)")
    out = {}
    for k, v in obj.items():
        k = str(k)
        out[k[len("module.") :] if k.startswith("module.") else k] = v
    return out


def load_state_dict_file(path: str | os.PathLike, kind: str) -> dict:
    """The ``state_dict`` in the local file *path* (see :func:`load_torch_file`, :func:`unwrap_state_dict`)."""
    return unwrap_state_dict(load_torch_file(path), str(path), kind)


def check_fits(module: Any, state: Mapping[str, Any], *, source: str, fits: str) -> None:
    """Raise unless *state* has exactly the tensors (names and shapes) of *module*.

    Raises
    ------
    InputError
        One line, ``"{source}: the weights do not fit {fits}: 2 missing: a, b; 1 unexpected: c"``
        (at most three names per kind).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(getattr(state[k], "shape", ())) != tuple(own[k].shape)]
    if not (missing or unexpected or wrong):
        return

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {few(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {few(unexpected)}")
    if wrong:
        parts.append(f"{len(wrong)} of another shape: {few(wrong)}")
    raise InputError(f"{source}: the weights do not fit {fits}: {'; '.join(parts)}")


def resolves(host: str, timeout: float = NET_TIMEOUT) -> bool:
    """Whether *host* resolves within *timeout* seconds (name lookups ignore socket timeouts)."""
    ok: list[bool] = []

    def look() -> None:
        try:
            socket.getaddrinfo(host, 443)
            ok.append(True)
        except OSError:
            ok.append(False)

    t = threading.Thread(target=look, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok and ok[0])


def fetch_pretrained(weights: Any, *, purpose: str, what: str, hint: str, allow_download: bool = True) -> dict:
    """The ``state_dict`` of torchvision *weights* (a ``WeightsEnum`` member): from torch's cache, else downloaded.

    *what* describes the weights in messages, *hint* says what to pass instead. Nothing is half
    written: torch.hub downloads to a temporary file.

    Raises
    ------
    BackendUnavailableError
        Not cached and *allow_download* is false, the host does not resolve (offline), or the
        download / cached file fails; one line ``"{purpose}: {what} ...; {hint}"``.
    """
    torch = require_torch(purpose)
    url = weights.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if not cached.exists():
        if not allow_download:
            raise BackendUnavailableError(f"{purpose}: {what} are not cached and downloading is off; {hint}")
        if not resolves(urlparse(url).hostname or "", NET_TIMEOUT):
            raise BackendUnavailableError(f"{purpose}: {what} are not cached and cannot be downloaded (no network); "
                                          f"{hint}")
        log.info("downloading %s to %s", what, cached)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NET_TIMEOUT)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # torch.hub writes a "Downloading" line to stderr
            return dict(weights.get_state_dict(progress=False))
    except Exception as exc:  # URLError, timeouts, hash mismatch, truncated cache file ...
        reason = (str(getattr(exc, "reason", "") or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackendUnavailableError(f"{purpose}: {what} could not be loaded ({reason[:120]}); {hint}") from None
    finally:
        socket.setdefaulttimeout(old)
