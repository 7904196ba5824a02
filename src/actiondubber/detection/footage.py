"""What the footage itself says before any motion is read: repeated frames, shot cuts and fades, and
variable frame times.

Each is an artefact of how video is made and edited, not of the scene, and each reads as a sudden
stop to the deceleration strength: a repeated picture is everything stopping dead, a cut or a dip
through black makes the flow meaningless, and a longer gap between two frames is more displacement
that the next normal gap "loses". :func:`~actiondubber.detection.detector.strength_curve` applies
them (``DetectorParams.skip_repeats``, ``end_repeats``, ``cuts``, ``vfr_time``).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from actiondubber.video import MIN_FRAMES, Frame

#: A frame is an isolated repeat when its mean absolute difference to the previous frame is below this
#: fraction of the differences on both sides (motion before and after it) ...
REPEAT_RATIO = 0.2
#: ... and no pixel changed by more than this (grey levels; lossy coding of a repeat stays below it).
REPEAT_MAX_DIFF = 12


def _diff(a: Frame, b: Frame) -> tuple[float, int]:
    """Mean and max absolute difference of two frames' pictures."""
    d = cv2.absdiff(a.image, b.image)
    mean = cv2.mean(d)
    return float(np.mean(mean[: d.shape[2]]) if d.ndim == 3 else mean[0]), int(d.max())


def skip_repeated_frames(frames: Iterable[Frame], stats: dict | None = None) -> Iterator[Frame]:
    """Yield *frames* without isolated repeats: a frame (almost) equal to the previous one between two
    frames that do differ (a duplicate inserted by pulldown or frame-rate conversion, a dropped frame
    shown twice). Left in, such a frame reads as a sudden stop followed by a double-speed jump, which
    the deceleration strength takes for an impact. Runs of still frames (a scene that really stands
    still) are kept; the first and last frames are always kept. *stats* gets ``{"skipped": [frame index, ...]}``."""
    window: deque[Frame] = deque()  # raw frames k-2, k-1, k, k+1 (frame k is decided when k+1 arrives)
    diffs: deque[tuple[float, int]] = deque()  # (mean, max) |difference| of consecutive frames in window
    skipped: list[int] = []
    for fr in frames:
        window.append(fr)
        if len(window) >= 2:
            diffs.append(_diff(window[-2], fr))
        if len(window) <= 2:  # frames 0 and 1 have no motion before them to compare with: kept
            yield fr
        elif len(window) == 4:
            (p_mean, _), (c_mean, c_max), (n_mean, _) = diffs
            if c_max <= REPEAT_MAX_DIFF and c_mean < REPEAT_RATIO * min(p_mean, n_mean):
                skipped.append(window[2].index)
            else:
                yield window[2]
            window.popleft()
            diffs.popleft()
    if len(window) == 3:  # the last frame is always kept
        yield window[2]
    if stats is not None:
        stats["skipped"] = skipped


#: At most this many repeats in a row are left out at either end; a longer still is kept as scene content.
END_REPEATS_MAX = 8


def drop_end_repeats(frames: Iterable[Frame], stats: dict | None = None) -> Iterator[Frame]:
    """Yield *frames* without the repeats of the first picture before motion starts, or of the last
    picture after motion ends (each repeat differing from it by at most ``REPEAT_MAX_DIFF`` grey levels
    and by less than ``REPEAT_RATIO`` of the moving pair's mean difference; up to ``END_REPEATS_MAX``).

    Trimming and frame-rate conversion often leave such duplicates at a clip's ends. Left in, a final
    duplicate reads as everything stopping dead on the last picture, a strong false event (three of the
    twelve real dev clips end on one); a first one hides the real motion of the frames after it. Mid-clip
    repeats are :func:`skip_repeated_frames`'s business. *stats* gets ``{"ends": [frame index, ...]}``.
    """
    it = iter(frames)
    dropped: list[int] = []
    head: list[Frame] = []
    head_diffs: list[tuple[float, int]] = []  # (mean, max) of each consecutive pair in *head*
    for fr in it:  # the first picture and its repeats, then the first frame that differs
        if head:
            head_diffs.append(_diff(head[-1], fr))
        head.append(fr)
        if (head_diffs and head_diffs[-1][1] > REPEAT_MAX_DIFF) or len(head) > END_REPEATS_MAX + 1:
            break
    changed = bool(head_diffs) and head_diffs[-1][1] > REPEAT_MAX_DIFF
    if changed and len(head) >= 3:
        moving = head_diffs[-1][0]
        if all(m < REPEAT_RATIO * moving for m, _ in head_diffs[:-1]):
            dropped += [f.index for f in head[:-2]]  # keep the last repeat: it is where motion starts
            head = head[-2:]
    n_out = 0
    # The tail: *anchor* is the last picture that moved in; *run* holds its repeats, not yet passed on.
    anchor: Frame | None = None
    moving = 0.0
    run: list[Frame] = []

    def take(fr: Frame) -> Iterator[Frame]:
        nonlocal anchor, moving, run, n_out
        if anchor is not None and len(run) < END_REPEATS_MAX:
            m, mx = _diff(anchor, fr)
            if mx <= REPEAT_MAX_DIFF and m < REPEAT_RATIO * moving:
                run.append(fr)
                return
        else:
            m = None
        for r in run:  # not at the end after all: repeats inside the clip stay
            n_out += 1
            yield r
        if run:
            moving = _diff(run[-1], fr)[0]
        else:
            moving = m if m is not None else (_diff(anchor, fr)[0] if anchor is not None else 0.0)
        run = []
        anchor = fr
        n_out += 1
        yield fr

    for fr in head:
        yield from take(fr)
    for fr in it:
        yield from take(fr)
    if run and n_out >= MIN_FRAMES:
        dropped += [f.index for f in run]
    else:
        yield from run
    if stats is not None:
        stats["ends"] = dropped


#: A frame pair is a shot cut when its mean absolute difference, each picture's mean brightness
#: removed (a flash or flicker is not a cut), is at least this many grey levels ...
CUT_MIN_DIFF = 22.0
#: ... and at least this many times the median of the (up to) three pairs on either side.
CUT_RATIO = 4.0


def picture_stats(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``(centred, contrast)`` of a grey picture, on every second pixel each way (a quarter of the work,
    the same figures within a fraction of a grey level): the picture minus its mean brightness
    (float32) and its standard deviation, what :func:`find_cuts` and :func:`find_dim` read."""
    small = np.ascontiguousarray(image[::2, ::2], dtype=np.float32)
    mean, std = cv2.meanStdDev(small)
    small -= float(mean[0, 0])
    return small, float(std[0, 0])


def centred_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pictures centred by :func:`picture_stats` (each one's mean
    brightness removed), what :func:`find_cuts` reads."""
    return float(cv2.mean(cv2.absdiff(a, b))[0])


#: A picture is *dim* (a fade through black or white, a blank frame) when its grey-level standard
#: deviation is below this share of the median over the 15 frames on either side ...
DIM_RATIO = 0.4
#: ... or below this many grey levels at all.
BLANK_STD = 4.0


def find_dim(contrast: Iterable[float]) -> list[int]:
    """Positions of the pictures of a sequence that are dim (:data:`DIM_RATIO`, :data:`BLANK_STD`), from
    *contrast*, each picture's grey-level standard deviation: the flow into and out of a picture with
    almost no contrast is noise that shrinks towards zero, which reads as everything stopping.

    Within a shot, on the twelve real dev clips and both synthetic families, no picture falls below
    0.65 of its neighbourhood's median contrast (the lowest: 18 grey levels).
    """
    c = np.asarray(list(contrast), np.float64)
    out = []
    for i, v in enumerate(c):
        if v < BLANK_STD or v < DIM_RATIO * float(np.median(c[max(0, i - 15):i + 16])):
            out.append(i)
    return out


def find_cuts(diffs: Iterable[float]) -> list[int]:
    """Positions *p* of the pairs (p, p + 1) of a frame sequence that are shot cuts, from *diffs*, the
    pairs' brightness-removed mean absolute differences (:data:`CUT_MIN_DIFF`, :data:`CUT_RATIO`).

    Within a shot, the largest such difference on the twelve real dev clips and both synthetic families
    at the 128-px analysis size is 17 grey levels (a stick swung fast close to the camera, 3 times its
    neighbours); between two different clips' pictures it is 23 or more (at least 25 in 95 % of pairs).
    """
    d = np.asarray(list(diffs), np.float64)
    out = []
    for p in np.flatnonzero(d >= CUT_MIN_DIFF):
        around = np.r_[d[max(0, p - 3):p], d[p + 1:p + 4]]
        if around.size == 0 or d[p] >= CUT_RATIO * float(np.median(around)):
            out.append(int(p))
    return out


#: A frame interval within this share of the nominal one counts as nominal (constant-rate footage
#: and timestamp rounding are left exactly as they are).
VFR_TOLERANCE = 0.05


def per_nominal_interval(kins: Iterable, times: dict[int, float], nominal: float) -> Iterator:
    """Set each item's :attr:`~actiondubber.kinematics.inflection.Kinematics.scale_in` / ``scale_out``
    from the container times of frames i−1, i, i+1 (*times*: frame index → time, filled as the frames
    are read, so frame i+1 is there when item i is): the nominal interval over the actual one. An
    interval that spans a left-out repeat (indices not consecutive) keeps 1: its times are not the
    capture times."""
    def factor(a: int, b: int) -> float:
        ta, tb = times.get(a), times.get(b)
        if b - a != 1 or ta is None or tb is None or tb <= ta:
            return 1.0
        f = nominal / (tb - ta)
        return 1.0 if abs(f - 1.0) <= VFR_TOLERANCE else f

    for kin in kins:
        i = kin.index
        s_in, s_out = factor(i - 1, i), factor(i, i + 1)
        yield kin if s_in == s_out == 1.0 else dataclasses.replace(kin, scale_in=s_in, scale_out=s_out)
