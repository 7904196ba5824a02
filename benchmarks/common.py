"""What the benchmark scripts share: where the data is, which files are videos, the labelled clips.

Benchmarks import actiondubber as installed (``make install`` puts it in ``.venv`` in editable mode)
and this module from their own folder; none edits ``sys.path`` or imports another script's names.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The real clips with sound (never copied into the repository).
REAL = ROOT.parent / "shared" / "data" / "real"
RESULTS = ROOT / "benchmarks" / "results"
VIDEO_EXT = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


def labelled_videos(folder: Path, ids: set[str]) -> dict[str, Path]:
    """``{video id: path}`` for the videos in *folder* whose file stem is one of *ids*."""
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_EXT and p.stem in ids}


def require(path: Path, what: str) -> Path:
    """*path*, or exit with one line when it is missing (e.g. ``../shared`` is not beside the checkout)."""
    if not path.exists():
        print(f"{what} not found: {path} (is ../shared present?)", file=sys.stderr)
        raise SystemExit(2)
    return path
