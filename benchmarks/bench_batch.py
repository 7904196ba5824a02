"""Throughput, memory and kill-and-resume of ``actiondubber batch`` on generated clips.

    python benchmarks/bench_batch.py                          # 100 clips, local and Ray, 1 and 2 workers
    python benchmarks/bench_batch.py --clips 200 --rss-clips 500 --kill-check
    python benchmarks/bench_batch.py --engines local --workers 2

1. Throughput: N synthetic clips (``actiondubber.synth``, 2 s, 160x120, 30 fps, one bouncing object)
   processed by each engine with each worker count into a fresh output folder: videos/s and frames/s
   over the processing time, Ray's start-up (``ray.init`` of a local instance) separately, and Ray's
   overhead per video (its processing time minus the local pool's, divided by N).
2. Memory: the resident memory (RSS) of the worker that finished each video (reported by the worker
   itself) and of the driver (sampled every 0.5 s), as first / median / last / max, and the slope
   over the second half of the run (MB per 100 videos). ``--rss-clips M`` also runs M videos (symbolic
   links to 20 small clips, 96x64, 1 s) on the local pool with recycling after 50 videos and without.
3. ``--kill-check``: ``actiondubber batch`` in a subprocess is killed with SIGKILL after a third of the
   videos, then rerun; checks that every video is done exactly once and the index equals a clean run.

Timings on the shared 2-core machine are inflated by whatever else runs there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import REAL, RESULTS, ROOT, run_main  # noqa: F401

from actiondubber.batch import TaskOptions, run_batch
from actiondubber.batch.tasks import current_rss_mb
from actiondubber.synth import render_clip


def make_clips(folder: Path, n: int, size=(160, 120), seconds=2.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = folder / f"clip{i:04d}.mp4"
        if not p.is_file():
            render_clip(p, scene="bounce", seconds=seconds, size=size, seed=i, n_objects=1 + i % 2)
    return folder


class DriverRSS:
    """Samples this process's RSS every *every* seconds in a thread."""

    def __init__(self, every: float = 0.5):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(current_rss_mb())
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def rss_stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    half = values[len(values) // 2:]
    slope = 0.0
    if len(half) >= 4:
        xs = range(len(half))
        mx, my = statistics.fmean(xs), statistics.fmean(half)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, half, strict=True)) / sum((x - mx) ** 2 for x in xs) * 100
    return (f"first {values[0]:.0f} / median {statistics.median(values):.0f} / last {values[-1]:.0f} / "
            f"max {max(values):.0f} MB, 2nd-half slope {slope:+.1f} MB per 100 videos")


def run_one(src: Path, out: Path, engine: str, workers: int, **kw) -> dict:
    records: list[dict] = []
    if out.exists():
        shutil.rmtree(out)
    with DriverRSS() as drv:
        t0 = time.perf_counter()
        s = run_batch(src, out, TaskOptions(), engine=engine, workers=workers, on_record=records.append, **kw)
        total = time.perf_counter() - t0
    worker_rss = [r["rss_mb"] for r in records if r.get("status") == "done"]
    return dict(summary=s, total=total, worker_rss=worker_rss, driver_rss=drv.samples,
                pids=len({r["worker_pid"] for r in records if "worker_pid" in r}))


def bench_throughput(clips: Path, work: Path, engines: list[str], workers: list[int]) -> None:
    print(f"\n== throughput: {len(list(clips.glob('*.mp4')))} clips (160x120, 2 s, 30 fps) ==")
    print(f"{'engine':6} {'workers':>7} {'start-up s':>10} {'process s':>9} {'videos/s':>8} {'frames/s':>8} "
          f"{'failed':>6}  worker processes")
    base: dict[int, float] = {}
    for engine in engines:
        for w in workers:
            try:
                r = run_one(clips, work / f"out_{engine}_{w}", engine, w)
            except Exception as exc:  # Ray missing or not starting: say so and go on
                print(f"{engine:6} {w:>7}  not run: {exc}")
                continue
            s = r["summary"]
            print(f"{engine:6} {w:>7} {s.startup_s:>10.2f} {s.seconds:>9.2f} {s.done / s.seconds:>8.2f} "
                  f"{s.frames / s.seconds:>8.0f} {s.failed:>6}  {r['pids']}")
            if engine == "local":
                base[w] = s.seconds
            elif w in base:
                print(f"{'':6} {'':>7}  Ray overhead per video vs local: "
                      f"{1000 * (s.seconds - base[w]) / max(1, s.done):+.0f} ms")
            print(f"{'':16}worker RSS: {rss_stats(r['worker_rss'])}")
            print(f"{'':16}driver RSS: {rss_stats(r['driver_rss'])}")


def bench_rss(work: Path, n: int) -> None:
    small = make_clips(work / "small20", 20, size=(96, 64), seconds=1.0)
    many = work / f"many{n}"
    if not many.is_dir() or len(list(many.iterdir())) != n:
        shutil.rmtree(many, ignore_errors=True)
        many.mkdir(parents=True)
        src = sorted(small.glob("*.mp4"))
        for i in range(n):
            os.symlink(src[i % len(src)], many / f"v{i:05d}.mp4")
    print(f"\n== memory over {n} videos (links to 20 clips of 96x64, 1 s; local pool, 2 workers) ==")
    for max_tasks in (50, 0):
        r = run_one(many, work / f"out_rss_{max_tasks}", "local", 2, max_tasks=max_tasks)
        s = r["summary"]
        label = f"recycled every {max_tasks}" if max_tasks else "never recycled"
        print(f"{label:20} {s.done} done, {s.failed} failed, {s.done / s.seconds:.2f} videos/s, "
              f"{r['pids']} worker processes")
        print(f"{'':4}worker RSS: {rss_stats(r['worker_rss'])}")
        print(f"{'':4}driver RSS: {rss_stats(r['driver_rss'])}")


def kill_check(clips: Path, work: Path) -> None:
    print("\n== kill -9 of the driver, then rerun ==")
    out, ref = work / "out_kill", work / "out_kill_ref"
    for d in (out, ref):
        shutil.rmtree(d, ignore_errors=True)
    n = len(list(clips.glob("*.mp4")))
    log = work / "kill.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "actiondubber", "-q", "batch", str(clips), "-o", str(out), "-j", "2"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd + ["--json-log", str(log)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= n // 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = len(log.read_text().splitlines())
    t1 = time.perf_counter()
    res = subprocess.run(cmd + ["--json-log", str(work / "kill2.jsonl")], env=env, capture_output=True, text=True)
    t2 = time.perf_counter()
    recs = [json.loads(x) for x in (work / "kill2.jsonl").read_text().splitlines()]
    skipped = sum(r["status"] == "skipped" for r in recs)
    redone = sum(r["status"] == "done" for r in recs)
    run_batch(clips, ref, TaskOptions(), workers=2)
    same = (out / "index.csv").read_text() == (ref / "index.csv").read_text()
    rows = (out / "videos.csv").read_text().splitlines()[1:]
    temp = [p for p in out.rglob("*") if ".part" in p.name]
    print(f"killed after {killed_after} of {n} videos recorded ({t1 - t0:.1f} s); rerun exit {res.returncode}, "
          f"{skipped} skipped + {redone} done = {skipped + redone} ({t2 - t1:.1f} s); {len(rows)} rows in "
          f"videos.csv; index equal to a clean run: {same}; temporary files left: {len(temp)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--engines", nargs="+", default=["local", "ray"])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rss-clips", type=int, default=0, help="also run this many videos for the memory check")
    ap.add_argument("--kill-check", action="store_true")
    ap.add_argument("--work", type=Path, help="work folder (kept; default: a temporary one)")
    args = ap.parse_args()
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_batch_")
        args.work = Path(tmp.name)
    t0 = time.perf_counter()
    clips = make_clips(args.work / f"clips{args.clips}", args.clips)
    print(f"{args.clips} clips ready in {time.perf_counter() - t0:.1f} s under {clips}; {os.cpu_count()} CPUs")
    bench_throughput(clips, args.work, args.engines, args.workers)
    if args.rss_clips:
        bench_rss(args.work, args.rss_clips)
    if args.kill_check:
        kill_check(clips, args.work)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    run_main(main)
