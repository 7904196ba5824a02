"""Encode a video from frames made one at a time (numpy arrays or ready ``av.VideoFrame`` objects), atomically.

Used for every video the package draws (flow previews, review videos, synthetic clips, sound-source
maps): frames arrive one at a time from an iterator, are encoded, and go with an optional soundtrack
through the one muxer (:class:`actiondubber.video.mux.Muxer`: interleaved by time, the file appears
under its final name only when complete). Frames with odd width or height are padded (edge pixels
repeated) to the even size that 4:2:0 and 4:2:2 pixel formats require.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from actiondubber.errors import BackendUnavailableError, OutputError, ParameterError
from actiondubber.fileio import atomic_output, check_output_path
from actiondubber.video.mux import Muxer, Soundtrack, as_soundtrack, output_audio_codec

#: Time base used when explicit frame times are given (the MPEG 90 kHz clock).
_VFR_TIME_BASE = Fraction(1, 90000)
_CHANNELS = {"rgb24": 3, "bgr24": 3, "gray": 1}


def _needs_even(pix_fmt: str) -> tuple[bool, bool]:
    """(width, height) must be even for this pixel format (chroma subsampling)."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return True, True
    comps = fmt.components
    if len(comps) < 2 or fmt.name.startswith(("gray", "rgb", "bgr", "gbr")):
        return False, False
    # a chroma plane narrower (shorter) than the luma plane means horizontal (vertical) subsampling
    probe = av.VideoFormat(pix_fmt, 64, 64)
    c = probe.components[1]
    return c.width < 64, c.height < 64


def _codec_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    opts: dict[str, str] = {}
    if codec in ("libx264", "libx265", "libsvtav1"):
        if crf is not None:
            opts["crf"] = str(crf)
        if preset is not None and codec != "libsvtav1":
            opts["preset"] = preset
        if codec == "libx265":
            opts["x265-params"] = "log-level=error"
    elif codec in ("libvpx-vp9", "libvpx"):
        if crf is not None:
            opts.update({"crf": str(crf), "b": "0"})
        opts.update({"deadline": "good", "cpu-used": "4"})
    return opts


def write_video(
    out: str | os.PathLike,
    frames: Iterable[np.ndarray | av.VideoFrame],
    fps: float | Fraction,
    *,
    codec: str = "libx264",
    crf: int | None = 23,
    pix_fmt: str = "yuv420p",
    input_format: str = "rgb24",
    preset: str | None = "veryfast",
    times: Sequence[float] | None = None,
    options: dict[str, str] | None = None,
    bit_rate: int | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    audio: np.ndarray | Soundtrack | None = None,
    sr: int | None = None,
) -> Path:
    """Encode *frames* into *out*, with an optional soundtrack, atomically.

    *frames* are uint8 arrays (H x W x 3 for ``rgb24``/``bgr24``, H x W for ``gray``), or
    ``av.VideoFrame`` objects already in *pix_fmt* (for callers that build their own pictures).
    The container follows *out*'s extension (``.mp4`` gets ``+faststart``). *fps* sets the frame
    rate; *times* (seconds, increasing, one per frame) gives variable-rate timestamps instead.
    *crf* and *preset* tune x264/x265 (and *crf* VP9); *bit_rate* sets a target rate for other
    encoders; *options* passes any other encoder options. *audio* (samples at *sr*, sample 0 = the
    first frame; see :class:`~actiondubber.video.mux.Soundtrack`) is encoded interleaved with the
    frames by :class:`~actiondubber.video.mux.Muxer`. *inputs* are files *out* must not
    overwrite. Returns *out*.

    Raises
    ------
    OutputError
        The file cannot be written or there are no frames.
    BackendUnavailableError
        *codec* is not in this PyAV build.
    ParameterError
        A bad argument (frame rate, input format, frame shape, times).
    """
    # A low-level writer: the commands check their outputs (and --force) before any work; callers may
    # write into a temporary file they created themselves, so an existing *out* is not refused here.
    out_p = check_output_path(out, inputs=inputs, force=True)
    if input_format not in _CHANNELS:
        raise ParameterError(f"input_format must be one of {sorted(_CHANNELS)}, not {input_format!r}")
    if codec not in av.codecs_available:
        raise BackendUnavailableError(f"{out_p}: video encoder {codec!r} is not available in this PyAV build")
    if not fps or float(fps) <= 0:
        raise ParameterError(f"fps must be positive, not {fps!r}")
    track = as_soundtrack(audio)
    if track is not None:
        output_audio_codec(out_p)  # an unsupported container fails before any frame is made
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise OutputError(f"{out_p}: no frames to write")
    ready = isinstance(first, av.VideoFrame)
    height, width = (first.height, first.width) if ready else _check_frame(first, input_format, None)
    even_w, even_h = _needs_even(pix_fmt)
    pad_w, pad_h = (0, 0) if ready else (width % 2 if even_w else 0, height % 2 if even_h else 0)
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    try:
        with atomic_output(out_p) as tmp, Muxer(tmp, out_p, track, sr) as mx:
            opts = _codec_options(codec, crf, preset)
            opts.update(options or {})
            stream = mx.container.add_stream(codec, rate=rate, options=opts)
            stream.width, stream.height, stream.pix_fmt = width + pad_w, height + pad_h, pix_fmt
            stream.codec_context.thread_count = 0
            if bit_rate is not None:
                stream.bit_rate = int(bit_rate)
            if times is not None:
                stream.time_base = _VFR_TIME_BASE
                stream.codec_context.time_base = _VFR_TIME_BASE
            mx.start()
            last_pts = -1
            for i, img in enumerate(itertools.chain([first], it)):
                if ready:
                    frame = img
                else:
                    _check_frame(img, input_format, (height, width))
                    if pad_w or pad_h:
                        pad = ((0, pad_h), (0, pad_w)) + (((0, 0),) if img.ndim == 3 else ())
                        img = np.pad(img, pad, mode="edge")
                    frame = _encoder_frame(np.ascontiguousarray(img), input_format, pix_fmt)
                if times is not None:
                    if i >= len(times):
                        raise ParameterError(f"more frames than times ({len(times)})")
                    pts = int(round(float(times[i]) / _VFR_TIME_BASE))
                    if pts <= last_pts:
                        raise ParameterError(f"frame times must increase (frame {i}: {times[i]})")
                    frame.pts, frame.time_base, last_pts = pts, _VFR_TIME_BASE, pts
                    t = float(times[i])
                else:
                    frame.pts = i
                    t = float(i / rate)
                mx.write_video(stream.encode(frame), t)
            mx.write_video(stream.encode(None), float("inf"))
            mx.finish()
    except av.FFmpegError as exc:
        raise OutputError(f"{out_p}: cannot encode video with {codec} ({exc})") from None
    return out_p


#: Pixel formats whose planes hold one byte per sample, so a row's used bytes are the plane's width.
_BYTE_PLANAR = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuv444p", "gray", "nv12"})


def zero_row_padding(frame: av.VideoFrame) -> av.VideoFrame:
    """Zero the alignment padding at the end of each row of *frame*'s planes (8-bit planar formats and
    nv12; others are returned as they are), in place, and return *frame*.

    PyAV leaves those bytes uninitialised (a chroma row of a 400-px picture is 200 bytes in a 208-byte
    line) and x264 reads them: the same pictures could then give different bytes from run to run."""
    fmt = frame.format.name
    if fmt in _BYTE_PLANAR:
        for k, plane in enumerate(frame.planes):
            used = plane.width * (2 if fmt == "nv12" and k else 1)  # nv12's chroma plane interleaves U, V
            if plane.line_size > used:
                rows = np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height]
                rows.reshape(plane.height, plane.line_size)[:, used:] = 0
    return frame


def _encoder_frame(img: np.ndarray, input_format: str, pix_fmt: str) -> av.VideoFrame:
    """*img* as a frame already in the encoder's *pix_fmt*, with the rows' alignment padding zeroed
    (:func:`zero_row_padding`). Converted inside the encoder, the padding would be left uninitialised;
    converting here with the same scaler (``reformat`` with its defaults, as the encoder does) gives the
    same pictures, and zeroing the padding gives the same file for the same pictures."""
    frame = av.VideoFrame.from_ndarray(img, format=input_format)
    if input_format != pix_fmt:
        frame = frame.reformat(format=pix_fmt)
    return zero_row_padding(frame)


def _check_frame(img: np.ndarray, input_format: str, shape: tuple[int, int] | None) -> tuple[int, int]:
    """Validate one frame's type and shape; return its (height, width)."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise ParameterError(f"frames must be uint8 numpy arrays, got {getattr(img, 'dtype', type(img))}")
    want = 2 if _CHANNELS[input_format] == 1 else 3
    if img.ndim != want or (want == 3 and img.shape[2] != 3):
        raise ParameterError(
            f"{input_format} frames must have shape {'H x W' if want == 2 else 'H x W x 3'}, got {img.shape}"
        )
    if shape is not None and img.shape[:2] != shape:
        raise ParameterError(f"all frames must have the same size: {img.shape[:2]} != {shape}")
    return int(img.shape[0]), int(img.shape[1])


def write_png(path: str | os.PathLike, img: np.ndarray) -> Path:
    """Write an RGB (H x W x 3) or grey uint8 image as a PNG file, atomically."""
    import cv2

    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise OutputError(f"{path}: cannot encode PNG")
    with atomic_output(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return Path(path)
