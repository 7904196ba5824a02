"""Motion flow and inflectional flow (the paper's Eq. 2–4), streamed frame by frame.

Notation, for frames ``I_0 .. I_{n-1}``:

* forward flow ``F_i = flow(I_i -> I_{i+1})`` (on frame i's pixel grid) — the paper's v⁺;
* backward flow ``B_i = flow(I_{i+1} -> I_i)`` (on frame i+1's grid) — the paper's v⁻.

Inflectional flow (Eq. 3) is the change of flow from one frame pair to the
next. Centred on frame i (``1 <= i <= n-2``; the ends are trimmed, Eq. 4):

* forward  ``a⁺_i = F_i − F_{i−1}``
* backward ``a⁻_i = B_{i−1} − B_i``

(both equal the second derivative of position, which keeps its sign under
time reversal). Subtracting flows pixel by pixel (``align='none'``, the
literal reading) mixes different scene points wherever something moves; with
``align='warp'`` (default) the older flow is sampled along the motion so that
each pixel follows the same scene point, and a constant-velocity object gives
exactly zero. ``central`` is the cheapest trajectory-aligned estimate:
``F_i + B_{i−1}`` = (x_{i+1} − x_i) + (x_{i−1} − x_i), both on frame i's grid.
Global (camera) motion is removed from every flow before differencing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from actiondubber.kinematics.flow import FlowBackend
from actiondubber.kinematics.globalmotion import compensate, pixel_grid
from actiondubber.video.reader import Frame

ALIGN = ("warp", "none")


@dataclass(frozen=True)
class Kinematics:
    """Motion and inflection centred on frame ``index`` (all fields on frame index's grid,
    except ``a_plus``/``a_minus`` with ``align='none'`` which are literal pixelwise differences).

    ``v_plus`` = F_i (i -> i+1), ``v_minus`` = B_{i-1} (i -> i-1), both camera-compensated;
    ``central`` = F_i + B_{i-1}; ``a_plus``/``a_minus`` per Eq. 3 (None unless requested).
    ``fb_error`` (when requested) is the forward-backward inconsistency in pixels, the larger
    of the two flows': ``|F_i(x) + B_i(x + F_i(x))|`` and ``|B_{i-1}(x) + F_{i-1}(x + B_{i-1}(x))|``.
    Large values mark occlusions and flow failures, where the inflection is not to be trusted.
    ``change`` is ``max(|I_i − I_{i−1}|, |I_{i+1} − I_i|)`` (uint8): where the picture does not
    change, nothing moves, whatever the flow says (flow on static texture is noise).
    ``inside`` (when requested) is True where both raw flows of frame i (to i+1 and to i−1, before the
    camera is removed) land inside the picture: elsewhere the scene point entered or left the frame
    (a pan, shake, something crossing the edge) and its change of speed cannot be seen.
    """

    index: int
    time: float
    image: np.ndarray
    v_plus: np.ndarray
    v_minus: np.ndarray
    central: np.ndarray
    a_plus: np.ndarray | None = None
    a_minus: np.ndarray | None = None
    fb_error: np.ndarray | None = None
    change: np.ndarray | None = None
    inside: np.ndarray | None = None
    #: The largest per-frame displacement (analysis px, the larger of |dx| and |dy|) that the camera model
    #: gives anywhere in the picture, over frame i's two flows; 0 unless measured (``camera_margin``).
    camera_shift: float = 0.0
    #: Speed factors of the intervals (i−1, i) and (i, i+1): the nominal frame interval over the actual
    #: one, so that ``scale_in · v_in`` and ``scale_out · v_out`` are velocities per nominal frame under a
    #: variable frame rate (1 at a constant rate; set by the detector from the container times).
    scale_in: float = 1.0
    scale_out: float = 1.0


def lands_inside(flow: np.ndarray) -> np.ndarray:
    """Boolean map: where ``x + flow(x)`` lies inside the picture (the point is seen in the other frame)."""
    h, w = flow.shape[:2]
    xs, ys = pixel_grid(h, w)
    tx = xs + flow[..., 0]
    ty = ys + flow[..., 1]
    return (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)


def _sample(field: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """``field(x + disp(x))`` by bilinear interpolation (border replicated), on the cached pixel grid."""
    xs, ys = pixel_grid(*disp.shape[:2])
    return cv2.remap(field, xs + disp[..., 0], ys + disp[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def inflectional_flow(
    f_prev: np.ndarray,
    b_prev: np.ndarray,
    f_cur: np.ndarray,
    b_cur: np.ndarray,
    *,
    align: str = "warp",
) -> tuple[np.ndarray, np.ndarray]:
    """(a⁺_i, a⁻_i) from the flows of pairs (i−1, i) and (i, i+1) — Eq. 3, both directions.

    ``f_prev``=F_{i−1} (grid i−1), ``b_prev``=B_{i−1} (grid i), ``f_cur``=F_i (grid i),
    ``b_cur``=B_i (grid i+1). See the module docstring for ``align``.
    """
    if align == "none":
        return f_cur - f_prev, b_prev - b_cur
    if align != "warp":
        raise ValueError(f"unknown align {align!r}; choose from {', '.join(ALIGN)}")
    a_plus = f_cur - _sample(f_prev, b_prev)
    a_minus = b_prev - _sample(b_cur, f_cur)
    return a_plus, a_minus


def iter_kinematics(
    frames: Iterable[Frame],
    backend: FlowBackend,
    *,
    compensate_model: str = "affine",
    bidirectional: bool = True,
    with_eq3: bool = False,
    align: str = "warp",
    with_fb_error: bool = False,
    backend_bwd: FlowBackend | None = None,
    with_inside: bool = False,
    camera_margin: float = 0.0,
) -> Iterator[Kinematics]:
    """Stream :class:`Kinematics` for frames 1 .. n−2 of *frames* (gray uint8 images).

    Holds only three frames and four flows at a time. ``bidirectional=False``
    approximates the backward flow by the negated forward flow of the previous
    pair (half the flow cost; not trajectory-aligned). ``with_eq3`` also fills
    ``a_plus``/``a_minus`` per Eq. 3 with the given ``align``; ``with_fb_error``
    fills ``fb_error`` (needs ``bidirectional``). With a second backend
    instance ``backend_bwd``, forward and backward flows run in two threads
    at once (OpenCV releases the GIL): about 1.6x faster on two cores. ``with_inside`` fills
    ``inside`` (see :class:`Kinematics`; needs ``bidirectional``: the negated forward flow does not say
    what entered the picture). ``camera_margin`` > 0 measures :attr:`Kinematics.camera_shift` and leaves
    a border band ``camera_margin × camera_shift`` pixels wide out of ``inside`` (see :func:`border_band`).
    """
    # The second thread only ever computes backward flows: none without them.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actiondubber-flow") if backend_bwd and bidirectional \
        else None

    def flow(be: FlowBackend, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        raw = be.calc(a, b)
        comp = compensate(raw, compensate_model)
        shift = float(cv2.norm(raw, comp, cv2.NORM_INF)) if camera_margin > 0 and comp is not raw else 0.0
        return comp, (lands_inside(raw) if with_inside else None), shift

    try:
        yield from _iter_kinematics(
            frames, backend, backend_bwd, pool, flow, bidirectional, with_eq3, align, with_fb_error, camera_margin
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


_band_cache: dict[tuple[int, int, int], np.ndarray] = {}


def border_band(h: int, w: int, width: int) -> np.ndarray:
    """Boolean map of an h x w picture, False within *width* pixels of its edge (cached).

    Under a moving camera the content of that band may have entered or left the picture within a frame
    or two, and the camera model is least sure there (rotation, a rolling shutter and the parallax of a
    near floor all grow towards the edges): on both generations of synthetic family 2 its stops were most
    of the shake scenes' false events. A static camera gives a band of width 0, so nothing changes."""
    key = (h, w, width)
    m = _band_cache.get(key)
    if m is None:
        if len(_band_cache) > 64:
            _band_cache.clear()
        m = np.zeros((h, w), bool)
        if 2 * width < min(h, w):
            m[width : h - width, width : w - width] = True
        _band_cache[key] = m
    return m


def _iter_kinematics(frames, backend, backend_bwd, pool, flow, bidirectional, with_eq3, align, with_fb_error,
                     camera_margin=0.0):
    prev: Frame | None = None
    cur: Frame | None = None
    f_prev = b_prev = bi_prev = None
    sb_prev = 0.0
    for nxt in frames:
        if cur is None:
            cur = nxt
            continue
        if bidirectional and pool is not None:
            job = pool.submit(flow, backend_bwd, nxt.image, cur.image)
            f_cur, fi_cur, sf_cur = flow(backend, cur.image, nxt.image)
            b_cur, bi_cur, sb_cur = job.result()
        elif bidirectional:
            f_cur, fi_cur, sf_cur = flow(backend, cur.image, nxt.image)
            b_cur, bi_cur, sb_cur = flow(backend, nxt.image, cur.image)
        else:
            f_cur, fi_cur, sf_cur = flow(backend, cur.image, nxt.image)
            b_cur, bi_cur, sb_cur = -f_cur, None, sf_cur  # grid mismatch accepted in the fast mode; no landing map
        if f_prev is not None and prev is not None:
            a_plus = a_minus = fb = None
            if with_eq3:
                a_plus, a_minus = inflectional_flow(f_prev, b_prev, f_cur, b_cur, align=align)
            if with_fb_error and bidirectional:
                e_out = f_cur + _sample(b_cur, f_cur)
                e_in = b_prev + _sample(f_prev, b_prev)
                fb = np.maximum(np.linalg.norm(e_out, axis=-1), np.linalg.norm(e_in, axis=-1))
            change = cv2.max(cv2.absdiff(cur.image, prev.image), cv2.absdiff(nxt.image, cur.image))
            inside = fi_cur & bi_prev if fi_cur is not None and bi_prev is not None else None
            shift = max(sf_cur, sb_prev)
            band = int(camera_margin * shift)
            if band > 0:
                keep = border_band(*f_cur.shape[:2], band)
                inside = keep if inside is None else inside & keep
            yield Kinematics(
                cur.index, cur.time, cur.image, f_cur, b_prev, f_cur + b_prev, a_plus, a_minus, fb, change, inside,
                camera_shift=shift,
            )
        prev, cur = cur, nxt
        f_prev, b_prev, bi_prev, sb_prev = f_cur, b_cur, bi_cur, sb_cur
