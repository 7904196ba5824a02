"""Frame rates and time formats for editors' markers and subtitle cues.

Every time is computed from the event's own time in seconds, never by adding
frame durations, so no float error accumulates over a long video. Rates near
an NTSC rate are taken as the exact fraction (30000/1001, not 29.97), so frame
numbers and drop-frame SMPTE timecode come out right at 29.97 and 59.94 fps.
"""

from __future__ import annotations

import math
from fractions import Fraction

from actiondubber.errors import BackendUnavailableError, InputError
from actiondubber.types import VideoInfo

#: Nominal integer rates whose NTSC variants (n * 1000/1001) are recognised.
_NTSC_BASES = (24, 30, 48, 60, 120, 240)
#: Rates that SMPTE timecode (and so EDL / FCP XML via OpenTimelineIO) supports.
SMPTE_RATES = tuple(
    sorted([Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
            Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60)])
)
#: How close (fps) a measured rate must be to snap to an NTSC or integer rate.
RATE_TOLERANCE = 0.01


def exact_rate(fps: float) -> Fraction:
    """The exact frame rate behind a measured *fps*.

    Within :data:`RATE_TOLERANCE` of an NTSC rate: ``n*1000/1001``; within it
    of an integer: that integer; otherwise (variable frame rate, odd rates)
    the closest fraction with a denominator up to 1001.
    """
    if not math.isfinite(fps) or fps <= 0:
        raise InputError(f"frame rate {fps!r} is not a positive number")
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(fps - float(ntsc)) <= RATE_TOLERANCE:
            return ntsc
    if abs(fps - round(fps)) <= RATE_TOLERANCE:
        return Fraction(round(fps))
    return Fraction(fps).limit_denominator(1001)


def smpte_rate(fps: float) -> Fraction:
    """The SMPTE timecode rate for a video of *fps*, so that EDL and FCP XML can express it.

    Its exact rate when SMPTE has it; else the lowest SMPTE rate that is a
    whole multiple of it (15 → 30, 12.5 → 25: every source frame lands on a
    timeline frame); else the highest that divides it (120 → 60, 100 → 50);
    else (variable or odd rates) the nearest one.
    """
    rate = exact_rate(fps)
    if rate in SMPTE_RATES:
        return rate
    multiples = [r for r in SMPTE_RATES if (r / rate).denominator == 1]
    if multiples:
        return min(multiples)
    divisors = [r for r in SMPTE_RATES if (rate / r).denominator == 1]
    if divisors:
        return max(divisors)
    return min(SMPTE_RATES, key=lambda r: (abs(r - rate), -r))


def is_drop_frame(rate: Fraction | float) -> bool:
    """True for the rates that use drop-frame timecode: 29.97 and 59.94 (exact NTSC fractions)."""
    return exact_rate(float(rate)) in (Fraction(30000, 1001), Fraction(60000, 1001))


def grid_frame(seconds: float, rate: Fraction) -> int:
    """Index of the timeline frame nearest *seconds* on a constant *rate* grid (exact rational arithmetic).

    An editor's timeline frame, not a frame of the video: for a video's own frames (variable rate
    included) use :meth:`actiondubber.types.VideoInfo.frame_at`.
    """
    return round(Fraction(seconds) * rate)


def smpte_timecode(seconds: float, fps: float, *, drop_frame: bool | None = None) -> str:
    """SMPTE timecode (``HH:MM:SS:FF``, or ``HH:MM:SS;FF`` drop-frame) of the frame nearest *seconds*.

    *fps* must be an SMPTE rate (see :func:`smpte_rate`); *drop_frame* defaults
    to drop-frame at 29.97 and 59.94 fps. Computed by OpenTimelineIO from the
    frame index alone, e.g. frame 1800 at 29.97 fps is ``00:01:00;02``.
    """
    otime = _opentime()
    rate = exact_rate(fps)
    if rate not in SMPTE_RATES:
        raise InputError(f"{float(fps):g} fps has no SMPTE timecode; use one of "
                         + ", ".join(f"{float(r):.3f}" for r in SMPTE_RATES))
    df = is_drop_frame(rate) if drop_frame is None else drop_frame
    return otime.to_timecode(otime.RationalTime(grid_frame(seconds, rate), float(rate)), float(rate), df)


def _opentime():
    try:
        from opentimelineio import opentime
    except ImportError:
        raise BackendUnavailableError(
            "SMPTE timecode needs OpenTimelineIO: pip install opentimelineio (or actiondubber[editors])"
        ) from None
    return opentime


def clock_time(seconds: float, sep: str = ".") -> str:
    """``HH:MM:SS<sep>mmm`` wall-clock time, rounded to the millisecond (SRT uses ``,``, WebVTT ``.``)."""
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def parse_clock_time(text: str) -> float:
    """Seconds from ``HH:MM:SS,mmm`` / ``HH:MM:SS.mmm`` / ``MM:SS.mmm`` (SRT and WebVTT cue times)."""
    parts = text.strip().replace(",", ".").split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"bad cue time {text!r}")
    try:
        nums = [int(p) for p in parts[:-1]] + [float(parts[-1])]
    except ValueError:
        raise ValueError(f"bad cue time {text!r}") from None
    h, m, s = ([0] + nums) if len(nums) == 2 else nums
    return h * 3600 + m * 60 + s


def video_fps(info: VideoInfo) -> float:
    """The video's frame rate: its stated ``fps``, else the mean rate of its timestamps; InputError if neither."""
    if math.isfinite(info.fps) and info.fps > 0:
        return float(info.fps)
    ts = info.timestamps
    if len(ts) > 1 and ts[-1] > ts[0]:
        return (len(ts) - 1) / (ts[-1] - ts[0])
    raise InputError(f"{info.path or 'events'}: the events file gives no frame rate for its video")


def video_duration(info: VideoInfo) -> float:
    """The video's duration in seconds: stated, else from its timestamps or frame count; InputError if unknown."""
    if math.isfinite(info.duration) and info.duration > 0:
        return float(info.duration)
    fps = video_fps(info)
    if info.timestamps:
        return float(info.timestamps[-1]) + 1.0 / fps
    if info.n_frames > 0:
        return info.n_frames / fps
    raise InputError(f"{info.path or 'events'}: the events file gives no duration for its video")
