"""Which videos a batch run covers: every video under a folder, or the paths listed in a text file.

Each input gets a *relative path* (POSIX form) under which its outputs are laid out in the output
folder, so the results mirror the input tree: ``clips/a/b.mp4`` found under ``clips/`` becomes
``a/b.mp4`` and its events ``results/a/b.mp4.events.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from actiondubber.errors import InputError
from actiondubber.fileio import read_text_input

#: File extensions taken for videos when a folder is scanned (lower case).
VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv",
    ".3gp", ".ogv", ".mxf", ".dv",
})


@dataclass(frozen=True)
class BatchInput:
    """One video of a batch: its absolute path (symlinks kept) and its relative path under the output folder."""

    path: str
    rel: str


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def scan_folder(folder: str | os.PathLike, *, exclude: str | os.PathLike | None = None) -> list[BatchInput]:
    """Every video file under *folder* (recursively, sorted), hidden files and folders left out.

    *exclude* (the output folder, when it lies inside *folder*) is not scanned, so a rerun does not
    take its own dubbed videos for inputs. Broken symbolic links with a video extension are kept:
    they become failed rows with a clear error instead of vanishing silently.
    """
    root = Path(os.path.abspath(folder))
    skip = Path(os.path.abspath(exclude)).resolve() if exclude is not None else None
    found: list[BatchInput] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not (skip is not None and (here / d).resolve() == skip))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            p = here / name
            found.append(BatchInput(str(p), p.relative_to(root).as_posix()))
    return found


def read_list_file(list_file: str | os.PathLike) -> list[BatchInput]:
    """The videos named in *list_file*: one path per line; blank lines and ``#`` comments are ignored.

    Relative paths are taken relative to the list file's folder; duplicates are dropped (first one
    kept). The relative output path of each is its path below the deepest folder that holds them all.
    """
    lf, text = read_text_input(list_file, "list file")
    base = Path(os.path.abspath(lf)).parent
    paths: list[Path] = []
    seen: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(os.path.expanduser(line))
        p = Path(os.path.abspath(p if p.is_absolute() else base / p))
        if str(p) not in seen:
            seen.add(str(p))
            paths.append(p)
    if not paths:
        return []
    common = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [BatchInput(str(p), p.relative_to(common).as_posix()) for p in paths]


def discover(source: str | os.PathLike, *, out_dir: str | os.PathLike | None = None) -> list[BatchInput]:
    """The inputs of a batch: *source* is a folder (scanned) or a text file listing videos.

    Raises :class:`InputError` when *source* does not exist, when the output folder is the input
    folder or holds it (outputs would mix with, or be taken for, inputs), and when no video is found.
    """
    src = Path(source)
    if not src.exists():
        raise InputError(f"{src}: no such folder or list file")
    if src.is_dir():
        if out_dir is not None:
            o, s = Path(os.path.abspath(out_dir)).resolve(), src.resolve()
            if o == s or _is_within(s, o):
                raise InputError(f"{out_dir}: the output folder must not be the input folder {src} or hold it")
        items = scan_folder(src, exclude=out_dir)
        if not items:
            raise InputError(f"{src}: no video files found (extensions: {', '.join(sorted(VIDEO_EXTENSIONS))})")
    else:
        items = read_list_file(src)
        if not items:
            raise InputError(f"{src}: the list names no video")
    return items
