"""Write a benchmark set of synthetic clips with exact collision labels.

    python benchmarks/make_synth_set.py OUT_DIR [--n 24] [--seconds 6] [--seed 0] [--vfr-every 6]

Clips cycle through every scene, frame rates 25/30/60, sizes 320x240 to
640x360, noise levels and backgrounds, each with its own seed; every
``--vfr-every``-th clip has a variable frame rate. Writes ``OUT_DIR/labels.csv``
(Audible623 format, class = scene) and prints one line per clip plus totals
and the rendering speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import run_main

from actiondubber.errors import ActionDubberError
from actiondubber.synth import BACKGROUNDS, SCENES, render_clip, write_labels_csv

FPS = (25.0, 30.0, 60.0)
SIZES = ((320, 240), (480, 270), (400, 300), (640, 360))
NOISE = (0.0, 2.0, 4.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n", type=int, default=24, help="number of clips (default 24)")
    ap.add_argument("--seconds", type=float, default=6.0, help="clip length (default 6 s)")
    ap.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    ap.add_argument("--vfr-every", type=int, default=6, help="every k-th clip is variable-rate (0: none)")
    args = ap.parse_args(argv)
    out = args.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"make_synth_set: cannot create {out}: {exc}", file=sys.stderr)
        return 3
    clips = []
    frames = 0
    t0 = time.perf_counter()
    try:
        for i in range(args.n):
            scene = SCENES[i % len(SCENES)]
            fps = FPS[i % len(FPS)]
            w, h = SIZES[i % len(SIZES)]
            vfr = args.vfr_every > 0 and i % args.vfr_every == args.vfr_every - 1
            seed = args.seed * 1000 + i
            clip = render_clip(out / f"synth_{i:03d}_{scene}.mp4", scene=scene, seconds=args.seconds, fps=fps,
                               size=(w, h), seed=seed, noise=NOISE[(i // len(FPS)) % len(NOISE)], vfr=vfr,
                               background=BACKGROUNDS[(i // 2) % len(BACKGROUNDS)])
            clips.append(clip)
            frames += clip.n_frames
            print(f"{clip.video_id}: {w}x{h} {clip.fps:6.2f} fps{' vfr' if vfr else '    '} "
                  f"{clip.n_frames:4d} frames, {len(clip.labelled_frames):2d} labelled frames "
                  f"{list(clip.labelled_frames)}")
        labels = write_labels_csv(out / "labels.csv", clips)
    except ActionDubberError as exc:
        print(f"make_synth_set: error: {exc}", file=sys.stderr)
        return exc.exit_code
    el = time.perf_counter() - t0
    n_col = sum(len(c.labelled_frames) for c in clips)
    by_scene = {s: sum(len(c.labelled_frames) for c in clips if c.scene == s) for s in SCENES}
    print(f"\n{len(clips)} clips, {frames} frames, {n_col} labelled frames "
          f"({', '.join(f'{k} {v}' for k, v in by_scene.items())})")
    print(f"labels: {labels}")
    print(f"rendered in {el:.1f} s ({frames / el:.0f} frames/s incl. encoding and audio)")
    return 0


if __name__ == "__main__":
    run_main(main)
