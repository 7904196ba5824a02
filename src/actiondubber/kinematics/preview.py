"""A side-by-side preview of a video's motion and inflectional flow, streamed frame by frame.

Each preview frame shows, at the analysis size, the original frame | its
motion flow ``v⁺`` (frame i → i+1) | its inflection (by default the
trajectory-aligned ``central`` estimate ``F_i + B_{i−1}``, see
:mod:`actiondubber.kinematics.inflection`) in the Middlebury colour coding
(:mod:`actiondubber.kinematics.colour`), with labels, each panel's colour
scale in pixels, and a colour-wheel legend. Frames 1 .. n−2 are shown (the
ends have no inflection); the preview keeps the source's timestamps.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actiondubber.errors import InputError, OutputError
from actiondubber.fileio import check_output_path, ensure_output_dir
from actiondubber.kinematics.colour import RunningScale, colour_wheel_legend, flow_to_colour
from actiondubber.kinematics.flow import FlowBackend, make_flow_backend
from actiondubber.kinematics.inflection import iter_kinematics
from actiondubber.video import DEFAULT_SHORT_SIDE, Frame, iter_frames, probe, write_png, write_video

log = logging.getLogger(__name__)

#: Which inflection the third panel shows: the Kinematics field name.
INFLECTIONS = ("central", "a_plus", "a_minus")

#: Output container extension -> video encoder.
_CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "libx264", ".webm": "libvpx-vp9"}


@dataclass(frozen=True)
class FlowPreview:
    """What :func:`render_flow_preview` wrote: paths, frame count and frame size (w, h)."""

    out: Path | None
    png_dir: Path | None
    n_frames: int
    width: int
    height: int


def _label(img: np.ndarray, text: str, scale: float) -> None:
    """Draw white *text* in the top-left corner on a half-dark box so it reads on any background."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    x1, y1 = min(img.shape[1], tw + 6), min(img.shape[0], th + base + 5)
    img[:y1, :x1] = (img[:y1, :x1].astype(np.uint16) * 2 // 5).astype(np.uint8)
    cv2.putText(img, text, (3, th + 3), font, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _paste_legend(panel: np.ndarray, legend: np.ndarray) -> None:
    s = legend.shape[0]
    h, w = panel.shape[:2]
    if s + 4 <= min(h, w):
        panel[h - s - 2 : h - 2, w - s - 2 : w - 2] = legend


def compose_preview_frame(
    rgb: np.ndarray,
    motion: np.ndarray,
    inflection: np.ndarray,
    *,
    motion_max: float,
    inflection_max: float,
    legend: np.ndarray | None = None,
    inflection_name: str = "inflection",
) -> np.ndarray:
    """One preview frame: *rgb* | coloured *motion* | coloured *inflection*, labelled (HxW*3x3 uint8 RGB)."""
    h, w = rgb.shape[:2]
    if motion.shape[:2] != (h, w) or inflection.shape[:2] != (h, w):
        raise ValueError("frame and flows must have the same height and width")
    panels = [
        np.ascontiguousarray(rgb if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, axis=2)).copy(),
        flow_to_colour(motion, max_mag=motion_max),
        flow_to_colour(inflection, max_mag=inflection_max),
    ]
    scale = max(0.33, min(h, w) / 360.0)
    _label(panels[0], "frame", scale)
    _label(panels[1], f"motion {motion_max:.1f}px", scale)
    _label(panels[2], f"{inflection_name} {inflection_max:.1f}px", scale)
    if legend is not None:
        _paste_legend(panels[1], legend)
        _paste_legend(panels[2], legend)
    return np.concatenate(panels, axis=1)


def render_flow_preview(
    video: str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    backend: str | FlowBackend = "dis",
    short_side: int | None = DEFAULT_SHORT_SIDE,
    max_frames: int | None = None,
    png_dir: str | os.PathLike | None = None,
    compensate: str = "affine",
    inflection: str = "central",
    progress: bool = False,
) -> FlowPreview:
    """Write a side-by-side flow preview of *video* to *out* (a video file) and/or PNGs in *png_dir*.

    *backend* is a flow-backend name or object; *short_side* the analysis
    size (the preview is 3x the analysis width); *max_frames* caps the number
    of preview frames (the first ones); *compensate* the global-motion model
    removed before colouring; *inflection* which inflection field to show
    (``central``, ``a_plus`` or ``a_minus``). Streams: holds a few frames at
    a time whatever the video's length. PNGs are named ``flow_NNNNNN.png`` by
    source frame index. Raises :class:`InputError` / :class:`OutputError`.
    """
    if out is None and png_dir is None:
        raise OutputError("nothing to write: give an output video and/or a PNG folder")
    if inflection not in INFLECTIONS:
        raise ValueError(f"unknown inflection {inflection!r}; choose from {', '.join(INFLECTIONS)}")
    if max_frames is not None and max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    out_p = check_output_path(out, inputs=[video]) if out is not None else None
    if out_p is not None and out_p.suffix.lower() not in _CODECS:
        raise OutputError(f"{out_p}: unsupported preview format; use one of {', '.join(sorted(_CODECS))}")
    info = probe(video)
    if info.n_frames < 3:
        raise InputError(f"{video}: needs at least 3 frames for an inflection preview, has {info.n_frames}")
    png_p = ensure_output_dir(png_dir) if png_dir is not None else None
    flow = make_flow_backend(backend) if isinstance(backend, str) else backend

    n_total = info.n_frames - 2 if max_frames is None else min(info.n_frames - 2, max_frames)
    rgb_by_index: dict[int, np.ndarray] = {}
    source = iter_frames(video, short_side=short_side, pix_fmt="rgb24")
    if max_frames is not None:
        source_iter: Iterator[Frame] = itertools.islice(source, max_frames + 2)
    else:
        source_iter = source

    def gray_frames() -> Iterator[Frame]:
        for fr in source_iter:
            rgb_by_index[fr.index] = fr.image
            yield Frame(fr.index, fr.time, cv2.cvtColor(fr.image, cv2.COLOR_RGB2GRAY))

    kin = iter_kinematics(gray_frames(), flow, compensate_model=compensate, with_eq3=inflection != "central")
    motion_scale = RunningScale(floor=0.5)
    infl_scale = RunningScale(floor=0.25)
    legend = None
    n = 0
    size = (0, 0)
    t0 = info.timestamps[1] if len(info.timestamps) > 1 else 0.0
    times = [t - t0 for t in info.timestamps[1 : 1 + n_total]]

    def images(bar) -> Iterator[np.ndarray]:
        nonlocal legend, n, size
        for k in kin:
            rgb = rgb_by_index.pop(k.index)
            for old in [i for i in rgb_by_index if i < k.index]:
                del rgb_by_index[old]
            infl = getattr(k, inflection)
            if legend is None:
                legend = colour_wheel_legend(max(16, min(rgb.shape[:2]) // 4))
            img = compose_preview_frame(
                rgb,
                k.v_plus,
                infl,
                motion_max=motion_scale.update(k.v_plus),
                inflection_max=infl_scale.update(infl),
                legend=legend,
                inflection_name="inflection" if inflection == "central" else inflection.replace("_", ""),
            )
            if png_p is not None:
                write_png(png_p / f"flow_{k.index:06d}.png", img)
            n += 1
            size = (img.shape[1], img.shape[0])
            if bar is not None:
                bar.update(1)
            yield img

    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        bar = None
        if progress:
            from actiondubber.progress import progress_bar

            bar = stack.enter_context(progress_bar(total=n_total, desc="flow preview"))
        if out_p is not None:
            codec = _CODECS[out_p.suffix.lower()]
            try:
                write_video(out_p, images(bar), info.fps, codec=codec, times=times, inputs=[video])
            except OutputError as exc:
                if "no frames" not in str(exc):
                    raise
        else:
            for _ in images(bar):
                pass
        if n == 0:
            raise InputError(f"{video}: fewer than 3 frames could be decoded; nothing to preview")
    return FlowPreview(out_p, png_p, n, size[0], size[1])
