"""Accuracy on the same clips made the way footage in the wild is: re-encoded, compressed, scaled,
mirrored, noisy, dark, cropped, letterboxed, HEVC 10-bit, VP9.

Each labelled clip is decoded once and written again with one change (frame count and frame times
kept, so the key's frame indices still hold), and a preset's events on it are scored against the
key (strict F1@±2, mean over clips) and against the events the same preset finds on the untouched
file (strict F1@±1: how much of what it finds survives the change). Nothing is tuned here: the
shipped settings of the preset are used throughout, so this measures how far the figures of the
Results table carry to footage that looks different.

    python benchmarks/bench_robustness.py                          # the 12 real clips, the default
    python benchmarks/bench_robustness.py --preset fast --variants mirror,crf38
    python benchmarks/bench_robustness.py --videos benchmarks/results/synth2 \\
        --labels benchmarks/results/synth2/labels.csv

The changed files are kept under ``--out``/videos/SET/VARIANT (made once, then reused; delete them to
remake).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from common import HUMAN_KEY, REAL, RESULTS, labelled_set, run_main, strict_f1

from actiondubber.detection.detector import PRESETS, run_detector
from actiondubber.evaluate.labels import read_labels
from actiondubber.fileio import write_text_atomic
from actiondubber.video.reader import iter_frames, probe
from actiondubber.video.writer import write_video


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _scale(k: float) -> Callable[[np.ndarray, int], np.ndarray]:
    def f(img: np.ndarray, i: int) -> np.ndarray:
        h, w = img.shape[:2]
        size = (_even(w * k), _even(h * k))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    return f


def _noise(sigma: float) -> Callable[[np.ndarray, int], np.ndarray]:
    def f(img: np.ndarray, i: int) -> np.ndarray:
        rng = np.random.default_rng(i)  # a fresh sensor-noise field per frame, the same on every run
        return np.clip(img + rng.normal(0.0, sigma, img.shape), 0, 255).astype(np.uint8)
    return f


def _dark(img: np.ndarray, i: int) -> np.ndarray:
    """Under-exposed by about 1.5 stops: linear light × 0.35, back through a 2.2 gamma."""
    lin = (img.astype(np.float32) / 255.0) ** 2.2 * 0.35
    return np.clip(255.0 * lin ** (1 / 2.2) + 0.5, 0, 255).astype(np.uint8)


def _crop(img: np.ndarray, i: int) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = _even(h * 0.75), _even(w * 0.75)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[y : y + ch, x : x + cw])


def _pad(img: np.ndarray, i: int) -> np.ndarray:
    """Pillarboxed into a frame a third wider (black bars left and right), as a 4:3 clip in a 16:9 edit."""
    h, w = img.shape[:2]
    bar = _even(w / 6)
    return cv2.copyMakeBorder(img, 0, 0, bar, bar, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def _same(img: np.ndarray, i: int) -> np.ndarray:
    return img


#: name: (picture change, codec, container, pixel format, CRF, what it is)
VARIANTS: dict[str, tuple[Callable[[np.ndarray, int], np.ndarray], str, str, str, int | None, str]] = {
    "reencode": (_same, "libx264", "mp4", "yuv420p", 18, "H.264 CRF 18, nothing else changed"),
    "crf38": (_same, "libx264", "mp4", "yuv420p", 38, "H.264 CRF 38: heavy compression, blocking"),
    "half": (_scale(0.5), "libx264", "mp4", "yuv420p", 18, "half the width and height"),
    "double": (_scale(2.0), "libx264", "mp4", "yuv420p", 18, "twice the width and height (the 1080p clip becomes 4K)"),
    "mirror": (lambda img, i: np.ascontiguousarray(img[:, ::-1]), "libx264", "mp4", "yuv420p", 18,
               "mirrored left to right"),
    "noise": (_noise(8.0), "libx264", "mp4", "yuv420p", 18, "sensor noise, sigma 8 grey levels"),
    "lowlight": (lambda img, i: _noise(12.0)(_dark(img, i), i), "libx264", "mp4", "yuv420p", 18,
                 "low light: under-exposed and sensor noise, sigma 12"),
    "dark": (_dark, "libx264", "mp4", "yuv420p", 18, "under-exposed by about 1.5 stops"),
    "crop": (_crop, "libx264", "mp4", "yuv420p", 18, "the centre 75 % of the picture"),
    "pillarbox": (_pad, "libx264", "mp4", "yuv420p", 18, "black bars left and right"),
    "hevc10": (_same, "libx265", "mkv", "yuv420p10le", 20, "HEVC, 10-bit 4:2:0"),
    "vp9": (_same, "libvpx-vp9", "webm", "yuv420p", 32, "VP9"),
}


def make_variant(src: Path, name: str, folder: Path) -> Path:
    """*src* written again with variant *name*'s change (once; an existing file is reused)."""
    change, codec, ext, pix_fmt, crf, _ = VARIANTS[name]
    out = folder / name / f"{src.stem}.{ext}"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    info = probe(src)
    fps = Fraction(info.fps).limit_denominator(1001)

    def frames() -> Iterator[np.ndarray]:
        for fr in iter_frames(src, short_side=None, pix_fmt="rgb24"):
            yield change(fr.image, fr.index)

    times = [t - info.timestamps[0] for t in info.timestamps] if info.timestamps else None
    opts = {"deadline": "good", "cpu-used": "5", "row-mt": "1"} if codec == "libvpx-vp9" else None
    preset = "veryfast" if codec in ("libx264", "libx265") else None
    return write_video(out, frames(), fps, codec=codec, crf=crf, pix_fmt=pix_fmt, preset=preset, times=times,
                       options=opts)  # atomic: an interrupted run leaves no half-written file to be reused


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--human", type=Path, default=HUMAN_KEY, help="a second key, scored on the clips it has")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated; default: all")
    ap.add_argument("--out", type=Path, default=RESULTS / "robustness")
    args = ap.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    lf, clips = labelled_set(args.videos, args.labels)
    human = read_labels(args.human) if args.human and args.human.is_file() else None
    params = PRESETS[args.preset]
    folder = args.out / "videos" / args.videos.resolve().name  # sets may share clip names (synth2, synth2b ...)
    key = {vid: list(lf.videos[vid].frames) for vid, _ in clips}
    hkey = {vid: list(human.videos[vid].frames) for vid, _ in clips if human and vid in human.videos}

    base: dict[str, list[int]] = {}
    table: dict[str, dict] = {}
    for name in ["original", *names]:
        t0 = time.perf_counter()
        per = {}
        for vid, path in clips:
            src = path if name == "original" else make_variant(path, name, folder)
            ev = run_detector(src, params)
            frames = list(ev.frames)
            if name == "original":
                base[vid] = frames
            per[vid] = {"key": strict_f1(key[vid], frames), "same": strict_f1(base[vid], frames, tol=1),
                        "human": strict_f1(hkey[vid], frames) if vid in hkey else None, "n": len(frames)}
        row = {
            "key": float(np.mean([p["key"] for p in per.values()])),
            "same": float(np.mean([p["same"] for p in per.values()])),
            "human": float(np.mean([p["human"] for p in per.values() if p["human"] is not None])) if hkey else None,
            "clips": per,
        }
        table[name] = row
        hum = f"  human key {row['human']:.3f}" if row["human"] is not None else ""
        print(f"{name:10s} strict F1@±2 {row['key']:.3f} (Δ {row['key'] - table['original']['key']:+.3f}){hum}  "
              f"same events as the original {row['same']:.3f}  ({time.perf_counter() - t0:.0f} s)", flush=True)

    print(f"\n{len(clips)} clips from {args.videos}, preset {args.preset!r}; strict F1@±2 against the key (mean over "
          "clips), its change from the untouched files, and the strict F1@±1 between the events found on the "
          "changed and on the untouched file")
    worst = {n: sorted(r["clips"].items(), key=lambda kv: kv[1]["key"] - table["original"]["clips"][kv[0]]["key"])[0]
             for n, r in table.items() if n != "original"}
    for n, r in table.items():
        desc = "the files as they are" if n == "original" else VARIANTS[n][5]
        w = ""
        if n in worst:
            vid, p = worst[n]
            d = p["key"] - table["original"]["clips"][vid]["key"]
            w = f"  largest drop: {vid} {d:+.3f}" if d < 0 else ""
        print(f"  {n:10s} {r['key']:.3f}  {r['key'] - table['original']['key']:+.3f}  {r['same']:.3f}  {desc}{w}")
    args.out.mkdir(parents=True, exist_ok=True)
    subset = "" if names == list(VARIANTS) else "_" + "-".join(names)  # a partial run keeps the full run's file
    res = args.out / f"{args.videos.resolve().name}_{args.preset}{subset}.json"
    write_text_atomic(res, json.dumps({"videos": str(args.videos), "preset": args.preset, "variants": table}, indent=1))
    print(f"results: {res}")
    return 0


if __name__ == "__main__":
    run_main(main)
