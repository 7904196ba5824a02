"""Safe output writing: temp file in the target folder, then an atomic rename.

Every writer in the package goes through :func:`atomic_output` so that a
failure never leaves a half-written file and an input is never overwritten.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from actiondubber.errors import InputError, OutputError

#: Whether an existing output file may be replaced. The library default is yes; the command line sets
#: it to its ``--force`` flag for the length of one command, so a command never overwrites without it.
OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("actiondubber_overwrite", default=True)


def check_output_path(out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *,
                      force: bool | None = None) -> Path:
    """Validate *out* before any work is done; return it as a ``Path``.

    Raises :class:`OutputError` when *out* is a directory, equals one of
    *inputs* (never allowed), already exists and *force* (default:
    :data:`OVERWRITE`) is false, or its folder does not exist or is not writable.
    """
    out_p = Path(out)
    if len(os.fsencode(out_p.name)) > 255:
        raise OutputError(f"{str(out_p)[:60]}...: file name is longer than 255 bytes")
    if out_p.is_dir():
        raise OutputError(f"{out_p}: output path is a directory")
    for inp in inputs:
        try:
            same = out_p.exists() and Path(inp).exists() and os.path.samefile(out_p, inp)
        except OSError:
            same = False
        if same or out_p.resolve() == Path(inp).resolve():
            raise OutputError(f"{out_p}: output path is the same as the input; refusing to overwrite it")
    parent = out_p.parent if str(out_p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{out_p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out_p}: folder {parent} is not writable")
    if out_p.exists() and not (OVERWRITE.get() if force is None else force):
        raise OutputError(f"{out_p}: file exists; use --force to overwrite it")
    if out_p.exists() and not os.access(out_p, os.W_OK):
        raise OutputError(f"{out_p}: file exists and is not writable")
    return out_p


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside *out*; rename it onto *out* on success.

    The temporary file keeps *out*'s extension (or *suffix*) so that writers
    which pick a format from the extension (FFmpeg muxers, matplotlib) work.
    On any exception the temporary file is removed and *out* is untouched.
    """
    out_p = Path(out)
    parent = out_p.parent if str(out_p.parent) else Path(".")
    ext = suffix if suffix is not None else out_p.suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out_p.stem}.", suffix=f".part{ext}", dir=parent)
    except OSError as exc:
        raise OutputError(f"{out_p}: cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; give the file the mode a normal write would (or the replaced file's).
        try:
            mode = out_p.stat().st_mode & 0o777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, out_p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(out: str | os.PathLike, text: str) -> Path:
    """Write *text* (UTF-8) to *out* atomically and return the path."""
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)


def check_input_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Raise :class:`InputError` unless *path* is an existing, readable, non-empty file.

    *what* names the expected kind in the message ("video file", "media file" ...).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a {what}")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable (permission denied)")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes)")
    return p


def ffmpeg_message(exc: BaseException) -> str:
    """The human part of an FFmpeg/PyAV error message (without the ``[Errno ...] ... :`` prefix)."""
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.split(":")[-1].strip() if "]" in msg else msg.strip()


def write_csv_rows(path: str | os.PathLike, rows: list[dict], *, fmt=None) -> Path:
    """Write dict rows as CSV atomically; columns are the union of the keys, in first-seen order.

    ``None`` values are written as empty cells; *fmt* (value -> cell) formats every other value.
    """
    import csv
    import io

    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else (fmt(r[k]) if fmt else r[k]) for k in cols})
    return write_text_atomic(path, buf.getvalue())


def ensure_output_dir(path: str | os.PathLike, what: str = "folder") -> Path:
    """Create *path* (and parents) if needed; raise :class:`OutputError` unless it is a writable folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{p}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{p}: cannot create the {what} ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: {what} is not writable")
    return p


def read_text_input(path: str | os.PathLike, what: str = "file") -> tuple[Path, str]:
    """``(path, text)`` of a UTF-8 input file (a BOM is dropped); :class:`InputError` naming *what* otherwise."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: {what} not found")
    try:
        return p, p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read {what} as UTF-8 text ({exc})") from None


#: Largest JSON input read (a 10-hour 60-fps video's events file is ~30 MB).
MAX_JSON_BYTES = 256 * 2**20


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def read_json_input(path: str | os.PathLike, what: str = "JSON file") -> tuple[Path, object]:
    """``(path, data)`` of a JSON input; :class:`InputError` with one line for a missing, huge, non-UTF-8,
    malformed or too deeply nested file, or one holding ``NaN``/``Infinity``."""
    p = Path(path)
    if p.is_file() and p.stat().st_size > MAX_JSON_BYTES:
        raise InputError(f"{p}: {what} is larger than {MAX_JSON_BYTES // 2**20} MB")
    p, text = read_text_input(p, what)
    try:
        return p, json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise InputError(f"{p}: {what} is nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"{p}: {what} is not valid JSON ({exc})") from None
