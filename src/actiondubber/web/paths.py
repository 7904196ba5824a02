"""The served folder: the only place the web app reads from or writes to.

Every path in a request is relative to the folder and resolved with
:meth:`Folder.resolve`, which refuses absolute paths, ``..`` parts, drive
letters and backslashes, control characters, and anything (a symlink
included) whose real location is outside the folder. New files get fresh
names (:meth:`Folder.fresh_name`) so nothing of the user's is replaced
unless they confirm it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from actiondubber.errors import InputError

#: Video files listed in the picker.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
#: Most files a listing walks before it stops (a huge folder must not stall the page).
MAX_LISTED = 5000
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+-]+")


class PathRefused(InputError):
    """A request named a path outside the served folder, or one that cannot be used."""


class PathNotFound(PathRefused):
    """A request named a path inside the served folder that does not exist."""


class Folder:
    """The served folder (resolved once); confines every request path to it."""

    def __init__(self, root: str | os.PathLike):
        p = Path(root).expanduser()
        if not p.is_dir():
            raise InputError(f"{p}: not a folder")
        self.root = p.resolve()

    def resolve(self, rel: str, *, must_exist: bool = True) -> Path:
        """The real path of *rel* inside the folder; :class:`PathRefused` for anything else."""
        if not isinstance(rel, str) or not rel.strip():
            raise PathRefused("no path given")
        if _BAD_CHARS.search(rel):
            raise PathRefused(f"{rel!r}: path contains a backslash or a control character")
        pp = PurePosixPath(rel)
        if pp.is_absolute() or re.match(r"^[A-Za-z]:", rel):
            raise PathRefused(f"{rel}: absolute paths are refused; give a path inside the served folder")
        if any(part == ".." for part in pp.parts):
            raise PathRefused(f"{rel}: '..' is refused; give a path inside the served folder")
        target = (self.root / pp).resolve()
        if not self.contains(target):
            raise PathRefused(f"{rel}: is outside the served folder")
        if must_exist and not target.exists():
            raise PathNotFound(f"{rel}: not found in the served folder")
        if not must_exist and not self.contains(target.parent):
            raise PathRefused(f"{rel}: is outside the served folder")
        return target

    def contains(self, p: Path) -> bool:
        """Whether the real location of *p* is the folder or inside it."""
        try:
            Path(os.path.realpath(p)).relative_to(self.root)
        except ValueError:
            return False
        return True

    def relative(self, p: Path) -> str:
        """*p* as a POSIX path relative to the folder (for the page)."""
        return Path(os.path.realpath(p)).relative_to(self.root).as_posix()

    def files(self, extensions: Iterable[str]) -> Iterator[Path]:
        """Files under the folder with one of *extensions*, sorted per folder; hidden entries and
        symlinks that leave the folder are skipped."""
        exts = tuple(e.lower() for e in extensions)
        seen = 0
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                seen += 1
                if seen > MAX_LISTED:
                    return
                if name.startswith(".") or not name.lower().endswith(exts):
                    continue
                p = Path(dirpath) / name
                if self.contains(p) and p.is_file():
                    yield p

    def fresh_name(self, wanted: Path) -> Path:
        """*wanted*, or ``stem_2.ext``, ``stem_3.ext`` ... beside it: the first name not taken."""
        if not wanted.exists():
            return wanted
        name = wanted.name
        stem, ext = (name[: -len(".events.json")], ".events.json") if name.endswith(".events.json") else \
            (wanted.stem, wanted.suffix)
        m = re.match(r"^(.*)_(\d+)$", stem)
        base, k = (m.group(1), int(m.group(2)) + 1) if m else (stem, 2)
        while True:
            cand = wanted.with_name(f"{base}_{k}{ext}")
            if not cand.exists():
                return cand
            k += 1


def safe_filename(name: str, default: str = "upload.mp4") -> str:
    """A plain file name from an uploaded file's name: no folders, only ordinary characters."""
    base = PurePosixPath(str(name).replace("\\", "/")).name.strip()
    base = _SAFE_NAME.sub("_", base).strip(" .")
    return base or default
