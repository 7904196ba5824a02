"""How the default two-scale detector's curve is computed: its two passes one after the other (two decodes)
against at once from one decode (``multiscale_curve``), in alternating pairs on the same clips.

Single runs on this 2-core machine vary by ±10 % or more, so each clip is timed in ``--pairs`` alternating
pairs and every pair is printed with its ratio; the two curves must be identical (checked on every run).

    python benchmarks/bench_two_scales.py                    # the 20 s 720p clip of bench_speed + a real 1080p clip
    python benchmarks/bench_two_scales.py --clips a.mp4 b.mkv --pairs 5
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import REAL, RESULTS, run_main

from actiondubber.detection.detector import DEFAULT_DETECTOR, combine_scales, multiscale_curve, strength_curve


def one_after_the_other(video: Path):
    p = DEFAULT_DETECTOR
    a = strength_curve(video, p)
    b = strength_curve(video, dataclasses.replace(p, short_side=p.multiscale, multiscale=0))
    return combine_scales(a, b, p.short_side, p.multiscale)


def at_once(video: Path):
    return multiscale_curve(video, DEFAULT_DETECTOR)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", type=Path,
                    default=[RESULTS / "speed" / "bench_720p_20s.mp4", REAL / "ball_bounce_floor_phone.avi"])
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    clips = [c for c in args.clips if c.exists()]
    for c in set(args.clips) - set(clips):
        print(f"skipped (not found; bench_speed.py makes the speed clips, ../shared has the real ones): {c}",
              file=sys.stderr)
    if not clips:
        return 2
    for clip in clips:
        ratios = []
        for k in range(args.pairs):
            rates = {}
            curves = {}
            for name, fn in (("one after the other", one_after_the_other), ("at once, one decode", at_once)):
                t = time.perf_counter()
                curves[name] = fn(clip)
                rates[name] = curves[name].info.n_frames / (time.perf_counter() - t)
            a, b = curves.values()
            if not (np.array_equal(a.scores, b.scores) and np.array_equal(a.xs, b.xs, equal_nan=True)):
                print(f"{clip.name}: the two ways gave different curves", file=sys.stderr)
                return 1
            r = rates["at once, one decode"] / rates["one after the other"]
            ratios.append(r)
            print(f"{clip.name} ({a.info.width}x{a.info.height}) pair {k + 1}: "
                  + ", ".join(f"{n} {v:.1f} fps" for n, v in rates.items()) + f"  ratio {r:.2f}", flush=True)
        print(f"{clip.name}: median ratio {statistics.median(ratios):.2f} over {len(ratios)} pairs "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}); curves identical")
    return 0


if __name__ == "__main__":
    run_main(main)
