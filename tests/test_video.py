"""Tests for actiondubber.video: probing and frame streaming of messy real-world video, and the writer.

Every clip is generated here with PyAV (see conftest.py): each frame shows its
own index as a barcode, so a test can check that the reader returns the right
picture at the right time, not just some picture.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import subprocess
import sys
import weakref
from pathlib import Path

import av
import numpy as np
import pytest

from actiondubber.errors import InputError, OutputError
from actiondubber.video import Frame, analysis_size, iter_frames, probe
from actiondubber.video.writer import write_video

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
#: MKV/WebM store milliseconds: written times come back rounded to 0.5 ms.
MS = 5e-4 + 1e-9


def _need(*codecs: str) -> None:
    missing = [c for c in codecs if c not in av.codecs_available]
    if missing:
        pytest.skip(f"this PyAV build has no {', '.join(missing)} codec")


def _check_stream(path, n, times, decode_frame_index, tol=1e-6, **kw) -> tuple:
    """Probe + decode *path*; assert n frames, times == written times, each picture == its index."""
    info = probe(path)
    frames = list(iter_frames(path, **kw))
    assert info.n_frames == len(frames) == n
    assert [f.index for f in frames] == list(range(n))
    assert np.allclose(info.timestamps, times, atol=tol, rtol=0)
    assert [f.time for f in frames] == list(info.timestamps)
    assert [decode_frame_index(f.image) for f in frames] == list(range(n))
    assert not any(f.repeated for f in frames)
    return info, frames


def _ctx():
    return pytest.raises(InputError)


# --------------------------------------------------------------------------- well-formed files


def test_h264_mp4_facts_times_and_pictures(tmp_path, make_video, video_times, decode_frame_index):
    # veryfast uses B-frames: decode order != presentation order
    p = make_video(tmp_path / "a.mp4", 30, (160, 120), 30, options={"preset": "veryfast", "tune": "film"})
    info, frames = _check_stream(p, 30, video_times(30, 30), decode_frame_index)
    assert (info.width, info.height, info.rotation) == (160, 120, 0)
    assert info.fps == pytest.approx(30.0)
    assert info.duration == pytest.approx(1.0)
    assert (info.codec, info.pix_fmt, info.has_audio) == ("h264", "yuv420p", False)
    assert frames[0].image.shape == (120, 160) and frames[0].image.dtype == np.uint8
    assert info.time_of(29) == pytest.approx(29 / 30) and info.frame_at(0.5) == 15


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_variable_frame_rate_times_are_the_written_pts(tmp_path, ext, make_video, video_times, decode_frame_index):
    p = make_video(tmp_path / f"vfr.{ext}", 27, (160, 120), 30, vfr=True)
    want = video_times(27, 30, vfr=True)
    assert len(set(np.round(np.diff(want), 3))) > 4  # really irregular
    info, _ = _check_stream(p, 27, want, decode_frame_index)
    assert info.fps == pytest.approx(26 / want[-1], rel=0.02)  # an average rate over the clip


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_hevc_10bit(tmp_path, ext, make_video, video_times, decode_frame_index):
    _need("libx265", "hevc")
    p = make_video(tmp_path / f"h10.{ext}", 12, (192, 108), 25, codec="libx265", pix_fmt="yuv420p10le")
    info, frames = _check_stream(p, 12, video_times(12, 25), decode_frame_index, tol=1e-6 if ext == "mp4" else MS)
    assert (info.codec, info.pix_fmt) == ("hevc", "yuv420p10le")
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (108, 192)


def test_vp9_webm_with_hidden_altref_frames_and_opus_audio(tmp_path, make_video, video_times, decode_frame_index):
    _need("libvpx-vp9", "libopus")
    # lag + auto-alt-ref make invisible reference frames (superframes): still one frame per packet
    opts = {"deadline": "good", "cpu-used": "8", "auto-alt-ref": "1", "lag-in-frames": "10"}
    p = make_video(tmp_path / "v.webm", 20, (160, 120), 30, codec="libvpx-vp9", options=opts, audio=True)
    info, _ = _check_stream(p, 20, video_times(20, 30), decode_frame_index, tol=MS)
    assert info.codec == "vp9" and info.has_audio


def test_mpeg4_avi_times_by_order(tmp_path, make_video, video_times, decode_frame_index):
    # AVI has no presentation times; with B-frames the decoder's pts are in decode order
    p = make_video(tmp_path / "b.avi", 20, (160, 120), 25, codec="mpeg4", options={"bf": "2", "g": "10"})
    _check_stream(p, 20, video_times(20, 25), decode_frame_index)


def test_4k_clip_is_scaled_small_and_memory_stays_flat(tmp_path, make_video, decode_frame_index):
    p = make_video(tmp_path / "uhd.mp4", 5, (3840, 2160), 30)
    info = probe(p)
    assert (info.width, info.height, info.n_frames) == (3840, 2160, 5)
    assert analysis_size(info.width, info.height) == (228, 128)
    frames = list(iter_frames(p))
    assert [f.image.shape for f in frames] == [(128, 228)] * 5
    assert [decode_frame_index(f.image) for f in frames] == list(range(5))
    # Peak memory of a fresh process while decoding: a few decoder buffers, never the clip at 4K
    # (5 RGB frames at 4K alone would be 124 MB).
    code = (
        "import resource, sys\n"
        "from actiondubber.video import iter_frames, probe\n"
        "probe(sys.argv[1])\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "n = sum(1 for _ in iter_frames(sys.argv[1], pix_fmt='rgb24'))\n"
        "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True).stdout
    n, grow_kb = map(int, out.split())
    assert n == 5 and grow_kb < 160 * 1024, f"decoding 4K grew the process by {grow_kb // 1024} MB"


def test_iteration_holds_no_frames(tmp_path, make_video):
    p = make_video(tmp_path / "m.mp4", 10, (160, 120), 30)
    it = iter_frames(p)
    first = next(it)
    ref = weakref.ref(first.image)
    del first
    next(it)
    gc.collect()
    assert ref() is None, "the frame iterator keeps old frames alive"
    it.close()


@pytest.mark.parametrize(("ext", "codec", "pix_fmt"), [("mp4", "libx264", "yuv444p"), ("mkv", "ffv1", "yuv420p")])
def test_odd_frame_size(tmp_path, ext, codec, pix_fmt, make_video, video_times, decode_frame_index):
    p = make_video(tmp_path / f"odd.{ext}", 6, (321, 241), 30, codec=codec, pix_fmt=pix_fmt)
    tol = 1e-6 if ext == "mp4" else MS
    info, frames = _check_stream(p, 6, video_times(6, 30), decode_frame_index, tol=tol)
    assert (info.width, info.height) == (321, 241)
    assert frames[0].image.shape == (128, 170)
    full = next(iter_frames(p, short_side=None, pix_fmt="rgb24"))
    assert full.image.shape == (241, 321, 3)  # no pixel dropped
    assert next(iter_frames(p, size=(100, 60))).image.shape == (60, 100)


def test_unicode_path(tmp_path, make_video, video_times, decode_frame_index):
    p = make_video(tmp_path / "vidéo 動画 ✓.mp4", 8, (160, 120), 30, audio=True)
    info, _ = _check_stream(p, 8, video_times(8, 30), decode_frame_index)
    assert info.path == str(p) and info.has_audio
    with pytest.raises(InputError, match="vidéo 動画 ✗.mp4: file not found"):
        probe(tmp_path / "vidéo 動画 ✗.mp4")


def test_rgb_and_bgr_channel_order(tmp_path, make_video):
    red = lambda i, w, h: np.broadcast_to(np.array([200, 20, 20], np.uint8), (h, w, 3)).copy()  # noqa: E731
    p = make_video(tmp_path / "red.mp4", 3, (64, 48), 30, pix_fmt="yuv444p", draw=red)
    rgb = next(iter_frames(p, pix_fmt="rgb24")).image
    bgr = next(iter_frames(p, pix_fmt="bgr24")).image
    assert rgb.shape == (48, 64, 3)
    assert rgb[..., 0].mean() > 150 > 60 > rgb[..., 2].mean()
    assert np.array_equal(bgr, rgb[..., ::-1])


def test_threaded_and_single_threaded_decoding_agree(tmp_path, make_video):
    p = make_video(tmp_path / "t.mp4", 20, (320, 240), 30, options={"preset": "veryfast"})
    a = [f.image for f in iter_frames(p, threads=True)]
    b = [f.image for f in iter_frames(p, threads=False)]
    assert len(a) == len(b) == 20 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _corner_marker(i, w, h):
    img = np.full((h, w, 3), 30, np.uint8)
    img[: h // 3, : w // 3] = 230  # bright block in the top-left corner
    return img


def _bright_corner(img: np.ndarray) -> str:
    h, w = img.shape[:2]
    corners = {
        "top-left": img[: h // 4, : w // 4],
        "top-right": img[: h // 4, -w // 4 :],
        "bottom-left": img[-h // 4 :, : w // 4],
        "bottom-right": img[-h // 4 :, -w // 4 :],
    }
    return max(corners, key=lambda k: corners[k].mean())


def test_display_matrix_rotation_is_reported_and_applied(tmp_path, make_video):
    # PyAV writes a display matrix rotating the picture 90 degrees counter-clockwise
    p = make_video(tmp_path / "rot.mp4", 4, (160, 96), 30, rotation=90, draw=_corner_marker)
    info = probe(p)
    assert (info.rotation, info.width, info.height) == (90, 96, 160)
    img = next(iter_frames(p, short_side=None)).image
    assert img.shape == (160, 96)
    assert _bright_corner(img) == "bottom-left"  # top-left turned a quarter counter-clockwise


def test_phone_portrait_tkhd_matrix(tmp_path, make_video):
    """A phone's portrait video: landscape pixels plus a 'turn 90 degrees clockwise' track matrix."""
    p = make_video(tmp_path / "phone.mp4", 4, (192, 108), 30, draw=_corner_marker)
    data = bytearray(p.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0 and data[at + 4] == 0  # version 0 track header
    matrix = [0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000]  # a=0 b=1 c=-1 d=0: 90 degrees clockwise
    data[at + 44 : at + 80] = b"".join(v.to_bytes(4, "big", signed=True) for v in matrix)
    p.write_bytes(bytes(data))
    info = probe(p)
    assert (info.rotation, info.width, info.height) == (-90, 108, 192)
    img = next(iter_frames(p, short_side=64)).image
    assert img.shape == (114, 64)  # short side 64 of the upright picture
    assert _bright_corner(img) == "top-right"  # top-left turned a quarter clockwise


@pytest.mark.parametrize("n", [1, 2])
def test_one_and_two_frame_videos(tmp_path, n, make_video, video_times, decode_frame_index):
    p = make_video(tmp_path / f"short{n}.mp4", n, (160, 120), 30)
    info, _ = _check_stream(p, n, video_times(n, 30), decode_frame_index)
    assert info.fps == pytest.approx(30.0) and info.duration == pytest.approx(n / 30)


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real clips not present at {REAL}")
def test_real_clips_frames_match_probe(caplog):
    clips = sorted(REAL.glob("*.mp4")) + sorted(REAL.glob("*.avi"))  # the AVI is H.264 with B-frames
    if not clips:
        pytest.skip(f"no clips in {REAL}")
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        for clip in clips:
            info = probe(clip)
            times = [f.time for f in iter_frames(clip, short_side=64) if not f.repeated]
            assert info.n_frames == len(times), clip.name
            assert times == list(info.timestamps), clip.name
            assert info.fps > 1 and info.width > 0 and info.has_audio, clip.name
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # intact files: no false alarms


# --------------------------------------------------------------------------- damaged files


def _packets(path: Path) -> list[tuple[int, int, int]]:
    """(pts, byte position, size) of the video packets, in presentation order."""
    with av.open(str(path)) as c:
        return sorted((p.pts, p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size)


def _overwrite(path: Path, spans, seed: int = 0) -> None:
    rng = random.Random(seed)
    data = bytearray(path.read_bytes())
    for pos, size in spans:
        data[pos : pos + size] = bytes(rng.getrandbits(8) for _ in range(size))
    path.write_bytes(bytes(data))


def _right_picture_at_right_time(frames: list[Frame], want: list[float], decode_frame_index, tol) -> int:
    """Count frames whose picture's own index was written at exactly the time the reader gives it."""
    ok = 0
    for f in frames:
        i = decode_frame_index(f.image)
        ok += (not f.repeated) and i < len(want) and abs(want[i] - f.time) <= tol
    return ok


def test_damaged_packets_in_mp4(tmp_path, make_video, video_times, decode_frame_index, caplog):
    p = make_video(tmp_path / "bad.mp4", 90, (320, 240), 30, options={"preset": "veryfast", "keyint": "15"})
    pk = _packets(p)
    _overwrite(p, [(pos, size) for _, pos, size in pk[40:44]])  # garbage in place of frames 40-43
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        info = probe(p)
        frames = list(iter_frames(p))
    assert info.n_frames == len(frames) == 90  # one frame per packet, indices stay aligned
    assert [f.time for f in frames] == list(info.timestamps)
    assert _right_picture_at_right_time(frames, video_times(90, 30), decode_frame_index, 1e-6) >= 75
    assert all(decode_frame_index(f.image) == f.index for f in frames[:40] + frames[60:])
    assert any("bad.mp4" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("ext", ["mkv", "webm"])
def test_damaged_bytes_in_the_middle_of_matroska(tmp_path, ext, make_video, video_times, decode_frame_index, caplog):
    kw = {"codec": "libvpx-vp9", "options": {"g": "15"}} if ext == "webm" else {"options": {"keyint": "15"}}
    p = make_video(tmp_path / f"bad.{ext}", 90, (320, 240), 30, container_options={"cluster_time_limit": "400"}, **kw)
    size = p.stat().st_size
    _overwrite(p, [(size // 2, 3000)])
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        info = probe(p)
        frames = list(iter_frames(p))
    assert info.n_frames == len(frames) >= 60
    assert [f.time for f in frames] == list(info.timestamps)
    assert _right_picture_at_right_time(frames, video_times(90, 30), decode_frame_index, MS) >= 55
    assert frames[-1].time > 2.5  # reading went on after the damage
    msgs = [r.getMessage() for r in caplog.records]
    assert any(f"bad.{ext}" in m and "damaged" in m for m in msgs), msgs


def test_truncated_mp4_with_index_at_the_end_is_rejected(tmp_path, make_video):
    p = make_video(tmp_path / "cut.mp4", 60, (160, 120), 30)
    data = p.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")  # default MP4: index written last
    p.write_bytes(data[: len(data) // 2])
    for fn in (probe, iter_frames):
        with pytest.raises(InputError, match=r"cut\.mp4: MP4/MOV file has no index .*cut off"):
            fn(p)


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_truncated_file_with_readable_head_gives_what_is_there(
    tmp_path, ext, make_video, video_times, decode_frame_index, caplog
):
    opts = {"movflags": "+faststart"} if ext == "mp4" else {"cluster_time_limit": "300"}
    p = make_video(tmp_path / f"cut.{ext}", 60, (320, 240), 30, container_options=opts, options={"keyint": "15"})
    data = p.read_bytes()
    if ext == "mp4":
        assert data.find(b"moov") < data.find(b"mdat")
    p.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="actiondubber"):
        info = probe(p)
        frames = list(iter_frames(p))
    assert 20 <= info.n_frames == len(frames) < 60
    assert [f.time for f in frames] == list(info.timestamps)
    good = _right_picture_at_right_time(frames, video_times(60, 30), decode_frame_index, MS)
    assert good >= len(frames) - 2
    assert any(f"cut.{ext}" in r.getMessage() and "ends early" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- unusable inputs


def _one_line_error(fn, path, match) -> str:
    with pytest.raises(InputError, match=match) as err:
        fn(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    return msg


@pytest.mark.parametrize("fn", [probe, iter_frames])
def test_bad_inputs_raise_one_line_input_errors(tmp_path, fn, make_audio):
    _one_line_error(fn, tmp_path / "missing.mp4", "file not found")
    _one_line_error(fn, tmp_path, "is a directory")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    _one_line_error(fn, text, "not a video file that can be read")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    _one_line_error(fn, empty, r"empty \(0 bytes\)")
    for name in ("song.m4a", "speech.wav"):
        _one_line_error(fn, make_audio(tmp_path / name, 0.5), r"contains no video stream \(only audio\)")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions (not root)")
def test_unreadable_file(tmp_path, make_video):
    p = make_video(tmp_path / "locked.mp4", 2, (64, 48), 30)
    p.chmod(0)
    _one_line_error(probe, p, "not readable")


def test_analysis_size():
    assert analysis_size(1920, 1080) == (228, 128)
    assert analysis_size(1080, 1920) == (128, 228)
    assert analysis_size(1280, 720, 256) == (456, 256)
    assert analysis_size(160, 120) == (160, 120)  # already small: untouched
    assert analysis_size(321, 241, None) == (321, 241)
    w, h = analysis_size(3000, 100, 16)
    assert h == 16 and w % 2 == 0


# --------------------------------------------------------------------------- writer


def _ramp(n, w, h):
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = 200
        img[: h // 2, : w // 2, 1] = 10 * i
        yield img


def test_write_video_roundtrip_odd_size(tmp_path):
    out = write_video(tmp_path / "prev.mp4", _ramp(12, 75, 43), 24)
    info = probe(out)
    assert (info.width, info.height, info.n_frames, info.codec) == (76, 44, 12, "h264")  # padded to even
    assert info.fps == pytest.approx(24)
    frames = list(iter_frames(out, short_side=None, pix_fmt="rgb24"))
    assert frames[0].image.shape == (44, 76, 3)
    assert frames[5].image[..., 0].mean() > 170  # red stays red
    assert out.with_name("prev.mp4") == out and not list(tmp_path.glob("*.part*"))


def test_write_video_bgr_gray_and_times(tmp_path):
    bgr = (np.dstack([np.full((32, 48), c, np.uint8) for c in (20, 20, 200)]) for _ in range(4))
    red = next(iter_frames(write_video(tmp_path / "b.mkv", bgr, 30, input_format="bgr24"), pix_fmt="rgb24"))
    assert red.image[..., 0].mean() > 150 > red.image[..., 2].mean()
    times = [0.0, 0.05, 0.3, 0.31, 1.0]
    gray = (np.full((32, 48), 17 * i, np.uint8) for i in range(5))
    out = write_video(tmp_path / "g.mp4", gray, 30, input_format="gray", times=times)
    assert np.allclose(probe(out).timestamps, times, atol=1e-4)


def test_write_video_vp9_webm(tmp_path):
    _need("libvpx-vp9")
    info = probe(write_video(tmp_path / "v.webm", _ramp(5, 64, 48), 25, codec="libvpx-vp9", crf=40))
    assert (info.codec, info.n_frames) == ("vp9", 5)


def test_write_video_failures_leave_nothing(tmp_path, make_video):
    with pytest.raises(OutputError, match="no frames"):
        write_video(tmp_path / "none.mp4", iter(()), 30)

    def broken():
        yield from _ramp(3, 32, 32)
        raise RuntimeError("frame source failed")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "half.mp4", broken(), 30)
    with pytest.raises(ValueError, match="same size"):
        write_video(tmp_path / "sizes.mp4", [np.zeros((32, 32, 3), np.uint8), np.zeros((30, 32, 3), np.uint8)], 30)
    src = make_video(tmp_path / "src.mp4", 2, (64, 48), 30)
    before = src.read_bytes()
    with pytest.raises(OutputError, match="same as the input"):
        write_video(src, _ramp(2, 32, 32), 30, inputs=[src])
    assert src.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["src.mp4"]


def test_frame_at_is_the_one_time_to_frame_lookup():
    from actiondubber.errors import ParameterError
    from actiondubber.types import FALLBACK_FPS, VideoInfo

    vfr = VideoInfo("v.mp4", 64, 48, 20.0, 4, 0.4, False, (0.0, 0.1, 0.15, 0.3))
    assert [vfr.frame_at(t) for t in (0.0, 0.099, 0.1, 0.2, 0.5)] == [0, 0, 1, 2, 3]  # floor: the frame shown
    assert [vfr.frame_at(t, "nearest") for t in (0.05, 0.051, 0.2, 0.25, -1.0)] == [0, 1, 2, 3, 0]  # ties: earlier
    grid = VideoInfo("g.mp4", 64, 48, 0.0, 10, 0.0, False)  # no timestamps, no rate: the fallback grid
    assert grid.frame_rate == FALLBACK_FPS == 25.0
    assert grid.frame_at(0.079) == 1 and grid.frame_at(0.079, "nearest") == 2 and grid.frame_at(99.0) == 9
    with pytest.raises(ParameterError):
        vfr.frame_at(0.1, "round")


def test_reader_modules_are_split_by_job():
    """demux (open + packets), facts (probe), reader (frames), writer (encode), mux (streams together)."""
    import actiondubber.video.demux as demux
    import actiondubber.video.facts as probe_mod
    import actiondubber.video.reader as reader

    assert demux.Packets.__module__ == demux.open_video.__module__ == "actiondubber.video.demux"
    assert probe_mod.probe is probe and probe.__module__ == "actiondubber.video.facts"
    assert reader.iter_frames is iter_frames and iter_frames.__module__ == "actiondubber.video.reader"
    assert reader.probe is probe  # the reader's historical names still import


def test_one_frame_rate_fallback_in_the_media_packages():
    """FALLBACK_FPS (types) is the one 25-fps default: no media module spells its own."""
    import re

    root = Path(__file__).resolve().parents[1] / "src" / "actiondubber"
    pattern = re.compile(r"or 25\.0|else 25\.0|Fraction\(1, 25\)|or Fraction\(25\)|else 0\.04\b")
    for pkg in ("video", "dub", "export", "synth", "audio"):
        for f in (root / pkg).glob("*.py"):
            assert not pattern.search(f.read_text()), f


@pytest.mark.parametrize("kind", ["damaged", "rotated_vfr"])
def test_frame_sets_are_the_frames_of_each_size_from_one_decode(tmp_path, make_video, kind):
    """iter_frame_sets gives, per picture, exactly what iter_frames gives at each size: same index, time,
    repeat flag and pixels, also across damaged packets and on rotated variable-frame-rate video."""
    from actiondubber.video import iter_frame_sets

    if kind == "damaged":
        p = make_video(tmp_path / "bad.mp4", 90, (320, 240), 30, options={"preset": "veryfast", "keyint": "15"})
        _overwrite(p, [(pos, size) for _, pos, size in _packets(p)[40:44]])
    else:
        p = make_video(tmp_path / "rot.mp4", 40, (320, 240), 30, vfr=True, rotation=90)
    sides = (96, 160)
    sets = list(iter_frame_sets(p, short_sides=sides))
    assert sets and all(len(fs) == 2 for fs in sets)
    for k, side in enumerate(sides):
        alone = list(iter_frames(p, short_side=side))
        assert len(alone) == len(sets) == probe(p).n_frames
        for a, fs in zip(alone, sets, strict=True):
            b = fs[k]
            assert (a.index, a.time, a.repeated) == (b.index, b.time, b.repeated)
            assert min(b.image.shape) == side and np.array_equal(a.image, b.image)
    if kind == "damaged":
        assert any(fs[0].repeated for fs in sets)


def test_fan_out_gives_every_branch_every_item_and_stops_cleanly():
    import threading

    from actiondubber.video.prefetch import BranchClosed, FanOut

    items = [(i, -i) for i in range(100)]
    out: dict[int, list] = {0: [], 1: []}
    fan = FanOut(iter(items), 2, depth=4)

    def read(k):
        out[k] = list(fan.branches[k])

    ts = [threading.Thread(target=read, args=(k,)) for k in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert out == {0: list(range(100)), 1: [-i for i in range(100)]}

    def failing():
        yield (1, 1)
        raise ValueError("bad packet")

    fan = FanOut(failing(), 2)
    errors = []

    def read_err(k):
        try:
            list(fan.branches[k])
        except ValueError as exc:
            errors.append(str(exc))

    ts = [threading.Thread(target=read_err, args=(k,)) for k in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert errors == ["bad packet", "bad packet"]  # the producer's error reaches both branches

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield (i, i)
                i += 1
        finally:
            closed.set()

    fan = FanOut(endless(), 2, depth=2)
    a, b = fan.branches
    assert next(a) == 0
    fan.cancel()  # e.g. the other consumer failed: the producer stops and closes its source ...
    assert closed.wait(5)
    with pytest.raises(BranchClosed):  # ... and a branch no longer waits for items that will not come
        list(b)


@pytest.mark.parametrize("size", [(400, 300), (333, 250)])
def test_writer_zeroes_row_padding_and_repeats_bytes(tmp_path, size):
    """Pictures converted for the encoder carry no uninitialised bytes (a 200-px chroma row sits in a
    208-byte line; x264 reads those bytes), and the same pictures give the same file."""
    from actiondubber.video.writer import _encoder_frame

    w, h = size
    rng = np.random.default_rng(3)
    pics = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(6)]
    frame = _encoder_frame(pics[0], "bgr24", "yuv420p")
    padded = [p for p in frame.planes if p.line_size > p.width]
    assert padded, "this size should need row padding"
    for p in padded:
        rows = np.frombuffer(p, np.uint8)[: p.line_size * p.height].reshape(p.height, p.line_size)
        assert not rows[:, p.width:].any()
    # the same conversion the encoder would have made
    ref = av.VideoFrame.from_ndarray(pics[0], format="bgr24").reformat(format="yuv420p")
    for a, b in zip(frame.planes, ref.planes, strict=True):
        ra = np.frombuffer(a, np.uint8)[: a.line_size * a.height].reshape(a.height, a.line_size)[:, : a.width]
        rb = np.frombuffer(b, np.uint8)[: b.line_size * b.height].reshape(b.height, b.line_size)[:, : b.width]
        assert np.array_equal(ra, rb)
    outs = [write_video(tmp_path / f"{k}.mp4", iter(pics), 25, input_format="bgr24", pix_fmt="yuv420p") for k in (0, 1)]
    if w % 2:  # odd sizes are padded to even by the writer first
        assert probe(outs[0]).width == w + 1
    assert outs[0].read_bytes() == outs[1].read_bytes()


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12", "gray"])
def test_zero_row_padding_keeps_the_picture(fmt):
    """Only the bytes past each row's end are zeroed (nv12's chroma row is two bytes per sample), in place."""
    from actiondubber.video.writer import zero_row_padding

    rng = np.random.default_rng(5)
    frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (60, 100, 3), dtype=np.uint8), format="rgb24")
    frame = frame.reformat(format=fmt)
    before, padded = [], 0
    for k, p in enumerate(frame.planes):
        used = p.width * (2 if fmt == "nv12" and k else 1)
        rows = np.frombuffer(p, np.uint8)[: p.line_size * p.height].reshape(p.height, p.line_size)
        rows[:, used:] = 0xFF  # what uninitialised memory may hold
        padded += p.line_size > used
        before.append(rows[:, :used].copy())
    assert padded, "a 100-px picture should need row padding"
    assert zero_row_padding(frame) is frame
    for k, p in enumerate(frame.planes):
        used = p.width * (2 if fmt == "nv12" and k else 1)
        rows = np.frombuffer(p, np.uint8)[: p.line_size * p.height].reshape(p.height, p.line_size)
        assert not rows[:, used:].any()
        assert np.array_equal(rows[:, :used], before[k])
