"""Speed and memory of the training-free detector, stage by stage, at 360p and 720p.

    python benchmarks/bench_speed.py            # 20 s clips at 640x360 and 1280x720 (H.264, 30 fps)
    python benchmarks/bench_speed.py --long     # also peak RSS of `detect` (and --fast, --fastest) on 10 min of 720p

Stages (frames/s, each measured alone on this machine): decode (PyAV, no
scaling), decode + resize to the analysis size, flow forward + backward (DIS),
inflection + scoring, and end-to-end ``detect`` (decode runs in a background
thread, overlapping the flow). Peak RSS is measured on a separate process
running the CLI, so it includes the interpreter and all libraries.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
from common import REAL, RESULTS, ROOT, run_main  # noqa: F401

from actiondubber.detection.detector import FAST_DETECTOR, FASTEST_DETECTOR, DetectorParams, run_detector
from actiondubber.detection.strength import frame_strength
from actiondubber.kinematics import iter_kinematics, make_flow_backend
from actiondubber.video import iter_frames
from actiondubber.video.writer import write_video

OUT = RESULTS / "speed"


def make_clip(path: Path, w: int, h: int, seconds: float, fps: int = 30) -> Path:
    """A textured scene with a ball bouncing on the floor and a panning background, H.264 CRF 23 (the
    detector finds its bounces, so the small-mover fallback does not run; a clip with nothing to find
    would add the tracker's second read)."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h + 64, w + 256, 3), dtype=np.uint8), (0, 0), 3)
    n = int(seconds * fps)

    def frames():
        for i in range(n):
            t = i / fps
            off = int(100 + 90 * np.sin(0.3 * t))
            img = bg[32 : 32 + h, off : off + w].copy()
            ph = (t % 2.0) - 1
            y = int(h * 0.85 - (h * 0.35) * (1 - ph * ph))  # bounces on the floor every 2 s
            x = int(w * (0.2 + 0.6 * ((t / seconds) % 1.0)))
            cv2.circle(img, (x, y), max(8, h // 20), (240, 230, 60), -1)  # bright: the detector reads luminance
            yield img

    return write_video(path, frames(), fps, crf=23, preset="veryfast")


def fps_of(n: int, dt: float) -> float:
    return n / dt if dt > 0 else float("nan")


def stage_decode(path: Path) -> tuple[int, float]:
    t = time.perf_counter()
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            n += 1
    return n, time.perf_counter() - t


def stage_decode_resize(path: Path) -> tuple[int, float, list]:
    t = time.perf_counter()
    frames = list(iter_frames(path))
    return len(frames), time.perf_counter() - t, frames


def stage_flow(frames) -> tuple[int, float, list]:
    be, be2 = make_flow_backend("dis"), make_flow_backend("dis")
    t = time.perf_counter()
    kins = list(iter_kinematics(iter(frames), be, backend_bwd=be2))
    return len(kins), time.perf_counter() - t, kins


def stage_score(kins) -> tuple[int, float]:
    t = time.perf_counter()
    for k in kins:
        frame_strength(k)
    return len(kins), time.perf_counter() - t


def stage_end_to_end(path: Path, preset: str = "fast", params: DetectorParams | None = None,
                     **kw) -> tuple[int, float]:
    p = params or DetectorParams(flow_preset=preset, **kw)
    t = time.perf_counter()
    ev = run_detector(path, p)
    return ev.video.n_frames, time.perf_counter() - t


_CHILD = """
import sys
from actiondubber.cli import main
sys.argv = ["actiondubber", "-q", "detect", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
for line in open("/proc/self/status"):
    if line.startswith("VmHWM"):
        print("VMHWM", line.split()[1], file=sys.stderr)
"""


def peak_rss_cli(path: Path, extra: list[str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of the ``detect`` CLI in a fresh child process.

    The child reports its own high-water mark (VmHWM, per address space), so
    the benchmark's own memory, which a forked child briefly shares, is not
    counted (``getrusage(RUSAGE_CHILDREN)`` would count it).
    """
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _CHILD, str(path), *(extra or [])], check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    kb = [int(x.split()[1]) for x in res.stderr.splitlines() if x.startswith("VMHWM")]
    return dt, kb[-1] / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--long", action="store_true", help="also a 10-minute 720p clip (memory)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(cv2.getNumberOfCPUs())
    print(f"cores: {cv2.getNumberOfCPUs()}")
    hdr = f"{'clip':>10} {'decode':>8} {'dec+resize':>10} {'flow f+b':>9} {'score':>8} {'end-to-end':>10} " \
          f"{'e2e/decode':>10} {'x realtime':>10} {'e2e ultrafast':>13} {'e2e objects':>11} {'e2e default':>12} " \
          f"{'x realtime':>10} {'e2e fastest':>11} {'÷ decode':>8} {'x realtime':>10} {'e2e --fast':>10} " \
          f"{'÷ decode':>8} {'x realtime':>10}"
    rows = []
    for w, h in ((640, 360), (1280, 720)):
        clip = make_clip(OUT / f"bench_{h}p_{int(args.seconds)}s.mp4", w, h, args.seconds)
        n, dt_dec = stage_decode(clip)
        _, dt_res, frames = stage_decode_resize(clip)
        nk, dt_flow, kins = stage_flow(frames)
        _, dt_score = stage_score(kins)
        del frames, kins
        _, dt_e2e = stage_end_to_end(clip)
        _, dt_uf = stage_end_to_end(clip, "ultrafast")
        _, dt_obj = stage_end_to_end(clip, events="objects")
        _, dt_ms = stage_end_to_end(clip, multiscale=192, abrupt=2.0)  # DEFAULT_DETECTOR
        _, dt_fst = stage_end_to_end(clip, params=FASTEST_DETECTOR)  # --fastest
        _, dt_fp = stage_end_to_end(clip, params=FAST_DETECTOR)  # --fast
        rows.append(f"{h:>9}p {fps_of(n, dt_dec):8.0f} {fps_of(n, dt_res):10.0f} {fps_of(nk, dt_flow):9.0f} "
                    f"{fps_of(nk, dt_score):8.0f} {fps_of(n, dt_e2e):10.0f} {dt_e2e / dt_dec:10.2f} "
                    f"{args.seconds / dt_e2e:10.1f} {fps_of(n, dt_uf):13.0f} {fps_of(n, dt_obj):11.0f} "
                    f"{fps_of(n, dt_ms):12.0f} {args.seconds / dt_ms:10.1f} {fps_of(n, dt_fst):11.0f} "
                    f"{dt_fst / dt_dec:8.2f} {args.seconds / dt_fst:10.1f} {fps_of(n, dt_fp):10.0f} "
                    f"{dt_fp / dt_dec:8.2f} {args.seconds / dt_fp:10.1f}")
    print("frames per second by stage (30 fps H.264 input, analysis short side 128, DIS 'fast' preset, finest "
          "scale 1; the stage and end-to-end columns are the single-scale detector (--multiscale 0 --abrupt 0); "
          "last columns: end-to-end with --flow-preset ultrafast, with --event-mode objects, and the default "
          "two-scale detector (--multiscale 192 --abrupt 2), then the fastest preset (--fastest: short side 96, "
          "no deblocking, ultrafast, one flow per pair), its time over the decode-only time and its speed over "
          "real time, and the same three for the fast preset (--fast: short side 128, no deblocking, ultrafast, "
          "one flow per pair))")
    print(hdr)
    print("\n".join(rows))
    clip720 = OUT / f"bench_720p_{int(args.seconds)}s.mp4"
    wall, rss = peak_rss_cli(clip720)
    print(f"\nCLI `actiondubber detect` on {args.seconds:.0f} s 720p: {wall:.1f} s wall, peak RSS {rss:.0f} MB")
    if args.long:
        long_clip = make_clip(OUT / "bench_720p_600s.mp4", 1280, 720, 600.0)
        for extra in ([], ["--fast"], ["--fastest"]):
            wall, rss = peak_rss_cli(long_clip, extra)
            print(f"CLI `actiondubber detect {' '.join(extra)}` on 10 min 720p (18000 frames): {wall:.1f} s wall "
                  f"({18000 / wall:.0f} frames/s), peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    run_main(main)
