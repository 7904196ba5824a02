"""Soak: ``detect`` on hundreds of generated clips in one process; memory, file descriptors and threads stay flat.

    python benchmarks/bench_soak.py                 # 300 runs over 10 distinct generated clips
    python benchmarks/bench_soak.py --runs 1000 --distinct 20

Prints RSS (MB), open file descriptors and OS threads after every 50 runs, and the slope of RSS over
the second half (MB per 100 runs); a leak shows as a steady climb.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import RESULTS, run_main

import actiondubber
from actiondubber.synth import render_clip


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--distinct", type=int, default=10)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="soak-", dir=RESULTS if RESULTS.is_dir() else None))
    work.mkdir(parents=True, exist_ok=True)
    clips = []
    for k in range(args.distinct):
        p = work / f"clip{k:02d}.mp4"
        if not p.exists():
            render_clip(p, seconds=2.0, fps=30, size=(160, 120), seed=k, preset="ultrafast",
                        scene=("bounce", "walls", "juggle", "mixed")[k % 4])
        clips.append(p)
    rows = []
    t0 = time.perf_counter()
    for i in range(1, args.runs + 1):
        actiondubber.detect(clips[i % len(clips)])
        if i % 50 == 0 or i == 1:
            rss = _status("VmRSS") / 1024
            fds = len(os.listdir("/proc/self/fd"))
            threads = _status("Threads")
            rows.append((i, rss, fds, threads))
            print(f"run {i:5d}: RSS {rss:7.1f} MB, open fds {fds:3d}, threads {threads:3d}, "
                  f"{i / (time.perf_counter() - t0):.1f} runs/s", flush=True)
    half = [r for r in rows if r[0] >= args.runs // 2]
    if len(half) >= 2:
        slope = (half[-1][1] - half[0][1]) / max(1, half[-1][0] - half[0][0]) * 100
        print(f"second-half RSS slope: {slope:+.2f} MB per 100 runs; fds {rows[0][2]} -> {rows[-1][2]}, "
              f"threads {rows[0][3]} -> {rows[-1][3]}")
    return 0


if __name__ == "__main__":
    run_main(main)
