"""Events as timed text: Audacity label tracks, SRT and WebVTT subtitles, and readers for all three.

One cue per event, starting at the event's time (to the millisecond, or the
microsecond for Audacity) and lasting ``length`` seconds or until the next
event, whichever is sooner; the text is the marker name and the score, e.g.
``hit 3 (score 0.82)``. Audacity labels are point labels (start = end) by
default, since an event is an instant.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from actiondubber.errors import InputError, ParameterError
from actiondubber.exporters.timecode import clock_time, parse_clock_time
from actiondubber.fileio import check_output_path, read_text_input, write_text_atomic
from actiondubber.types import Event, Events

#: Default marker name; fields: ``{n}`` (1-based event number), ``{frame}``, ``{time}`` (s, 3 decimals),
#: ``{score}`` (2 decimals). Nothing else is substituted (see :func:`check_name`).
DEFAULT_NAME = "hit {n}"
#: Default cue length for SRT / WebVTT in seconds (cut short by the next event).
DEFAULT_CUE_LENGTH = 0.1
_FIELDS = ("n", "frame", "time", "score")


@dataclass(frozen=True)
class Cue:
    """A timed piece of text (or a marker read back): start and end in seconds."""

    start: float
    end: float
    text: str


#: Longest marker-name template accepted (a name longer than this is no use in an editor's marker list).
MAX_NAME = 200
_FIELD_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _substitute(template: str, values: dict[str, str] | None) -> str:
    """Replace ``{n}``, ``{frame}``, ``{time}``, ``{score}`` (``{{``/``}}`` for literal braces) and nothing
    else: no format specs, attributes or indexing, so a template cannot run code or ask for huge padding.
    With *values* ``None`` only check the template."""

    def one(m: re.Match) -> str:
        tok = m.group(0)
        if tok in ("{{", "}}"):
            return tok[0]
        field = m.group(1)
        if field is None:
            raise ParameterError(f"marker name {template!r}: unmatched brace (write {{{{ or }}}} for a literal one)")
        if field not in _FIELDS:
            raise ParameterError(f"marker name {template!r}: unknown field {{{field}}} "
                                 f"(use {', '.join('{' + f + '}' for f in _FIELDS)})")
        return values[field] if values is not None else ""

    return _FIELD_RE.sub(one, template)


def check_name(template: str) -> str:
    """Validate a marker name template (see :data:`DEFAULT_NAME`); raise ParameterError naming the problem."""
    if not isinstance(template, str):
        raise ParameterError("marker name must be text")
    if len(template) > MAX_NAME:
        raise ParameterError(f"marker name is {len(template)} characters long; the limit is {MAX_NAME}")
    _substitute(template, None)
    return template


def marker_name(template: str, n: int, e: Event) -> str:
    """The name of the *n*-th (1-based) event *e* from *template*, on one line."""
    text = _substitute(template, {"n": str(n), "frame": str(e.frame), "time": f"{e.time:.3f}",
                                  "score": f"{e.score:.2f}"})
    return " ".join(text.split())


def cue_text(template: str, n: int, e: Event) -> str:
    """Cue text: the marker name and the score, e.g. ``hit 3 (score 0.82)``."""
    return f"{marker_name(template, n, e)} (score {e.score:.2f})"


def event_cues(ev: Events, *, name: str = DEFAULT_NAME, length: float = DEFAULT_CUE_LENGTH) -> list[Cue]:
    """One cue per event: from its time for *length* seconds, ending no later than the next event or the video."""
    check_name(name)
    if length < 0:
        raise InputError(f"cue length {length} s is negative")
    cues = []
    evs = ev.events
    dur = ev.video.duration if math.isfinite(ev.video.duration) else 0.0
    for k, e in enumerate(evs):
        end = e.time + length
        if k + 1 < len(evs) and evs[k + 1].time > e.time:
            end = min(end, evs[k + 1].time)
        if e.time < dur < end:  # not past the video's end
            end = dur
        cues.append(Cue(e.time, end, cue_text(name, k + 1, e)))
    return cues


def _line(text: str) -> str:
    """Text safe for one cue line: no line breaks, tabs or cue arrows."""
    return " ".join(text.replace("-->", "->").split())


def _ms_span(c: Cue) -> tuple[int, int]:
    start = int(round(max(0.0, c.start) * 1000))
    return start, max(start + 1, int(round(c.end * 1000)))


def audacity_text(ev: Events, *, name: str = DEFAULT_NAME, length: float = 0.0) -> str:
    """Audacity label track: ``start<TAB>end<TAB>label`` per line, seconds with 6 decimals."""
    return "".join(f"{c.start:.6f}\t{c.end:.6f}\t{_line(c.text)}\n" for c in event_cues(ev, name=name, length=length))


def srt_text(ev: Events, *, name: str = DEFAULT_NAME, length: float = DEFAULT_CUE_LENGTH) -> str:
    """SubRip cues: number, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, text, blank line."""
    out = []
    for k, c in enumerate(event_cues(ev, name=name, length=length), 1):
        a, b = _ms_span(c)
        out.append(f"{k}\n{clock_time(a / 1000, ',')} --> {clock_time(b / 1000, ',')}\n{_line(c.text)}\n\n")
    return "".join(out)


def vtt_text(ev: Events, *, name: str = DEFAULT_NAME, length: float = DEFAULT_CUE_LENGTH) -> str:
    """WebVTT: the ``WEBVTT`` header, then numbered cues with ``HH:MM:SS.mmm`` times."""
    out = ["WEBVTT\n\n"]
    for k, c in enumerate(event_cues(ev, name=name, length=length), 1):
        a, b = _ms_span(c)
        out.append(f"{k}\n{clock_time(a / 1000)} --> {clock_time(b / 1000)}\n{_line(c.text)}\n\n")
    return "".join(out)


def _write(text: str, ev: Events, out: str | os.PathLike) -> Path:
    check_output_path(out, inputs=[ev.video.path] if ev.video.path else [])
    return write_text_atomic(out, text)


def write_audacity(ev: Events, out: str | os.PathLike, *, name: str = DEFAULT_NAME, length: float = 0.0) -> Path:
    """Write :func:`audacity_text` to *out* atomically (import in Audacity with File > Import > Labels)."""
    return _write(audacity_text(ev, name=name, length=length), ev, out)


def write_srt(ev: Events, out: str | os.PathLike, *, name: str = DEFAULT_NAME,
              length: float = DEFAULT_CUE_LENGTH) -> Path:
    """Write :func:`srt_text` to *out* atomically."""
    return _write(srt_text(ev, name=name, length=length), ev, out)


def write_vtt(ev: Events, out: str | os.PathLike, *, name: str = DEFAULT_NAME,
              length: float = DEFAULT_CUE_LENGTH) -> Path:
    """Write :func:`vtt_text` to *out* atomically."""
    return _write(vtt_text(ev, name=name, length=length), ev, out)


# ---------------------------------------------------------------- readers


def read_audacity(path: str | os.PathLike) -> list[Cue]:
    """Labels from an Audacity label file (spectral-selection ``\\`` lines are skipped)."""
    p, text = read_text_input(path)
    cues = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t", 2)
        try:
            start, end = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise InputError(f"{p}: line {no} is not 'start<TAB>end<TAB>label'") from None
        cues.append(Cue(start, end, parts[2] if len(parts) > 2 else ""))
    return cues


def _blocks(text: str) -> list[list[str]]:
    blocks, cur = [], []
    for line in text.splitlines():
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def _timed_block(p: Path, block: list[str]) -> Cue:
    i = next((k for k, line in enumerate(block) if "-->" in line), None)
    if i is None or i > 1:
        raise InputError(f"{p}: cue {block[0]!r} has no 'start --> end' line")
    a, _, b = block[i].partition("-->")
    try:
        start, end = parse_clock_time(a), parse_clock_time(b.split()[0] if b.split() else "")
    except ValueError as exc:
        raise InputError(f"{p}: {exc}") from None
    return Cue(start, end, "\n".join(block[i + 1 :]))


def read_srt(path: str | os.PathLike) -> list[Cue]:
    """Cues from a SubRip (``.srt``) file."""
    p, text = read_text_input(path)
    return [_timed_block(p, b) for b in _blocks(text)]


def read_vtt(path: str | os.PathLike) -> list[Cue]:
    """Cues from a WebVTT (``.vtt``) file (NOTE, STYLE and REGION blocks are skipped)."""
    p, text = read_text_input(path)
    blocks = _blocks(text)
    if not blocks or not (blocks[0][0] == "WEBVTT" or blocks[0][0].startswith(("WEBVTT ", "WEBVTT\t"))):
        raise InputError(f"{p}: not a WebVTT file (no WEBVTT header)")
    return [_timed_block(p, b) for b in blocks[1:] if not b[0].startswith(("NOTE", "STYLE", "REGION"))]


def read_cues(path: str | os.PathLike) -> list[Cue]:
    """Read ``.srt``, ``.vtt`` or Audacity ``.txt`` labels by extension."""
    ext = Path(path).suffix.lower()
    readers = {".srt": read_srt, ".vtt": read_vtt, ".txt": read_audacity}
    if ext not in readers:
        raise InputError(f"{path}: unknown cue format {ext!r} (use .srt, .vtt or Audacity .txt)")
    return readers[ext](path)
