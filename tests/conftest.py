"""Shared test fixtures: small generated videos and audio files written with PyAV.

Test files use the fixtures ``make_video``, ``make_audio`` and
``decode_frame_index`` (each returns the function of the same purpose below), so
every test writes the exact media it needs into ``tmp_path``.

Generated frames carry their own index as a 10-bit barcode in the top half
(white bar = bit set, most significant bit on the left) above a moving, textured
bottom half, so a test can tell which frame it got back after decoding and
scaling (:func:`decode_frame_index`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

#: Frame-to-frame gaps (ms) cycled through by ``vfr=True``: irregular, like a phone recording.
VFR_GAPS_MS = (33, 17, 50, 33, 100, 25, 41, 8, 66)

_BITS = 10
_X264_FAST = {"preset": "ultrafast", "tune": "zerolatency"}


@functools.lru_cache(maxsize=8)
def _background(width: int, height: int) -> np.ndarray:
    """The static part of :func:`frame_pattern` for one size (barcode area left black)."""
    img = np.zeros((height, width, 3), np.uint8)
    top = max(1, height // 2)
    yy, xx = np.mgrid[0 : height - top, 0:width].astype(np.float32)
    tex = 90 + 40 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    img[top:, :, 0] = tex.astype(np.uint8)
    img[top:, :, 1] = (tex * 0.8).astype(np.uint8)
    img[top:, :, 2] = (255 - tex).astype(np.uint8)
    img.flags.writeable = False
    return img


def frame_pattern(index: int, width: int, height: int) -> np.ndarray:
    """RGB frame showing *index* as a barcode (top half) above a disc moving over a texture."""
    img = _background(width, height).copy()
    top = max(1, height // 2)
    edges = np.linspace(0, width, _BITS + 1).astype(int)
    img[:top] = 16
    for b in range(_BITS):
        if (index >> (_BITS - 1 - b)) & 1:
            img[:top, edges[b] : edges[b + 1]] = 235
    r = max(2, (height - top) // 4)
    cx, cy = (index * 7) % max(1, width), top + (height - top) // 2
    y0, y1, x0, x1 = max(top, cy - r), min(height, cy + r + 1), max(0, cx - r), min(width, cx + r + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    img[y0:y1, x0:x1][(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = (220, 176, 35)
    return img


def decode_frame_index(image: np.ndarray) -> int:
    """Read back the index drawn by :func:`frame_pattern` from a decoded (maybe scaled) frame."""
    gray = image if image.ndim == 2 else image.mean(axis=2)
    h, w = gray.shape[:2]
    row = gray[h // 8 : 3 * h // 8].mean(axis=0)
    edges = np.linspace(0, w, _BITS + 1)
    value = 0
    for b in range(_BITS):
        lo, hi = edges[b], edges[b + 1]
        mid = row[int(lo + (hi - lo) * 0.3) : max(int(lo + (hi - lo) * 0.7), int(lo + (hi - lo) * 0.3) + 1)]
        value = (value << 1) | int(mid.mean() > 128)
    return value


def video_times(n_frames: int, fps: float, vfr: bool | Sequence[float] = False) -> list[float]:
    """Presentation times (s) that :func:`write_test_video` gives its frames.

    Constant rate: ``i / fps``. ``vfr=True``: cumulative :data:`VFR_GAPS_MS`. A
    sequence: those times themselves.
    """
    if isinstance(vfr, Sequence) and not isinstance(vfr, (str, bytes)):
        return [float(t) for t in vfr][:n_frames]
    if vfr:
        out, t = [], 0
        for i in range(n_frames):
            out.append(t / 1000.0)
            t += VFR_GAPS_MS[i % len(VFR_GAPS_MS)]
        return out
    return [i / fps for i in range(n_frames)]


def _codec_options(codec: str, options: dict | None) -> dict:
    base: dict = {}
    if codec == "libx264":
        base = dict(_X264_FAST)
    elif codec == "libx265":
        base = {"preset": "ultrafast", "x265-params": "log-level=error"}
    elif codec == "libvpx-vp9":
        base = {"deadline": "realtime", "cpu-used": "8"}
    base.update(options or {})
    return base


def write_test_video(
    path: str | os.PathLike,
    n_frames: int = 30,
    size: tuple[int, int] = (160, 120),
    fps: float = 30,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    vfr: bool | Sequence[float] = False,
    rotation: int | None = None,
    options: dict | None = None,
    container_options: dict | None = None,
    draw: Callable[[int, int, int], np.ndarray] | None = None,
) -> Path:
    """Encode *n_frames* of :func:`frame_pattern` (or *draw*) into *path* with PyAV and return it.

    *size* is (width, height). The container comes from the extension. ``vfr``
    gives irregular timestamps (see :func:`video_times`) in a 1/1000 s time
    base. ``audio`` adds a 440 Hz tone as a second stream. ``rotation`` writes
    a display matrix (counter-clockwise degrees, as PyAV reads it back).
    """
    path = Path(path)
    width, height = size
    times = video_times(n_frames, fps, vfr)
    draw = draw or frame_pattern
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=rate, options=_codec_options(codec, options))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if vfr is not False:
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        astream = None
        if audio:
            acodec = {".webm": "libopus", ".wav": "pcm_s16le", ".avi": "pcm_s16le"}.get(path.suffix.lower(), "aac")
            astream = out.add_stream(acodec, rate=48000, layout="mono")
        a_done = 0
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(draw(i, width, height), format="rgb24").reformat(format=pix_fmt)
            if vfr is not False:
                frame.pts = int(round(times[i] * 1000))
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = i
            out.mux(stream.encode(frame))
            if astream is not None:
                a_done = _mux_audio(out, astream, a_done, int((times[i] + 1.0 / fps) * 48000))
        out.mux(stream.encode(None))
        if astream is not None:
            out.mux(astream.encode(None))
    return path


def _mux_audio(out, astream, done: int, until: int, chunk: int = 960) -> int:
    while done < until:
        t = (np.arange(done, done + chunk) / 48000.0).astype(np.float64)
        tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = done
        out.mux(astream.encode(frame))
        done += chunk
    return done


def write_test_audio(path: str | os.PathLike, seconds: float = 1.0, codec: str | None = None) -> Path:
    """Write an audio-only file (440 Hz tone): AAC for .m4a/.mp4, PCM for .wav, unless *codec* is given."""
    path = Path(path)
    codec = codec or ("pcm_s16le" if path.suffix.lower() == ".wav" else "aac")
    with av.open(str(path), "w") as out:
        astream = out.add_stream(codec, rate=48000, layout="mono")
        _mux_audio(out, astream, 0, int(seconds * 48000))
        out.mux(astream.encode(None))
    return path


@pytest.fixture
def make_video() -> Callable[..., Path]:
    """The :func:`write_test_video` function."""
    return write_test_video


@pytest.fixture
def make_audio() -> Callable[..., Path]:
    """The :func:`write_test_audio` function."""
    return write_test_audio


@pytest.fixture(name="decode_frame_index")
def _decode_frame_index_fixture() -> Callable[[np.ndarray], int]:
    """The :func:`decode_frame_index` function."""
    return decode_frame_index


@pytest.fixture(name="video_times")
def _video_times_fixture() -> Callable[..., list[float]]:
    """The :func:`video_times` function (the times :func:`write_test_video` writes)."""
    return video_times


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one intra-op thread, and two OpenMP threads stall badly on a busy 2-core machine."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _plain_logging():
    """The CLI reconfigures the package logger (its own handler, no propagation) when a test runs it in this
    process; give every test a propagating one, so ``caplog`` sees the package's records whatever ran before."""
    lg = logging.getLogger("actiondubber")
    saved = (lg.handlers[:], lg.level, lg.propagate)
    lg.handlers[:] = []
    lg.propagate = True
    lg.setLevel(logging.NOTSET)
    yield
    lg.handlers[:], lg.level, lg.propagate = saved
