"""Inference speed and peak memory of TA²Net on this machine (CPU, or a GPU with --device cuda).

    python benchmarks/bench_model.py                 # paper + small_cpu presets, fp32 / channels_last / bf16
    python benchmarks/bench_model.py --candidates    # also the other small variants that were compared
    python benchmarks/bench_model.py --save          # also write benchmarks/results/model/bench_model.json

Each row runs in its own process (so VmHWM, the peak resident memory, is that row's alone): build the
model with random weights, eval mode, one warm-up pass, then repeated forward passes over one clip of
``--frames`` frames (B = 1) until ``--seconds`` have passed; frames/s = frames / median pass time. The
paper configuration makes five encoder passes per frame (RGB, motion ±, inflection ±) through ResNet50
stem..layer3 at 112x112. Flow computation and decoding are not included (model only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

OUT = ROOT / "benchmarks" / "results" / "model"

VARIANTS = {
    "fp32": {},
    "channels_last": {"channels_last": True},
    "bf16": {"bf16": True},
    "channels_last+bf16": {"channels_last": True, "bf16": True},
}


def preset(name: str):
    from actiondubber.model import TA2NetConfig

    small = TA2NetConfig.small_cpu()
    table = {
        "paper": TA2NetConfig.paper(),
        "small_cpu": small,
        # variants compared when choosing small_cpu (--candidates)
        "r18-layer2-112-concat": small.replace(head_input="concat"),
        "r18-layer2-96": small.replace(size=96),
        "r18-layer3-112": small.replace(cut="layer3"),
        "tiny-layer3-112": small.replace(backbone="tiny", cut="layer3"),
        "r50-layer3-112-headF": TA2NetConfig.paper().replace(head_input="F"),
    }
    return table[name]


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_one(name: str, variant: str, frames: int, seconds: float, device: str) -> dict:
    """Time one (config, variant) in this process; returns a result row."""
    import torch

    from actiondubber.model import TA2Net

    torch.manual_seed(0)
    cfg = preset(name).replace(**VARIANTS[variant])
    model = TA2Net(cfg).eval().to(device)
    s = cfg.size
    rgb = torch.randn(1, frames, 3, s, s, device=device)
    mo = torch.randn(1, frames, 4, s, s, device=device) if cfg.use_motion else None
    inf = torch.randn(1, frames, 4, s, s, device=device) if cfg.use_inflection else None

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = []
    with torch.inference_mode():
        model(rgb, mo, inf)  # warm-up (oneDNN primitive creation, allocator)
        sync()
        start = time.perf_counter()
        while not times or (time.perf_counter() - start < seconds and len(times) < 50):
            t0 = time.perf_counter()
            model(rgb, mo, inf)
            sync()
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    row = {
        "config": name, "variant": variant, "backbone": f"{cfg.backbone}/{cfg.cut}", "size": s, "dim": cfg.dim,
        "frames": frames, "passes": len(times), "median_s": med, "fps": frames / med,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "vmhwm_mb": _vmhwm_mb(),
        "threads": torch.get_num_threads(), "device": device,
    }
    if device.startswith("cuda"):
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="*", default=["paper", "small_cpu"])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--candidates", action="store_true", help="also time the small variants that were compared")
    ap.add_argument("--frames", type=int, default=64, help="clip length (the paper's 64)")
    ap.add_argument("--seconds", type=float, default=15.0, help="timing budget per row after warm-up")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--one", nargs=2, metavar=("CONFIG", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.frames, args.seconds, args.device)))
        return
    configs = list(args.configs)
    if args.candidates:
        configs += ["r18-layer2-112-concat", "r18-layer2-96", "r18-layer3-112", "tiny-layer3-112",
                    "r50-layer3-112-headF"]
    rows = []
    for name in configs:
        for variant in args.variants:
            cmd = [sys.executable, __file__, "--one", name, variant, "--frames", str(args.frames),
                   "--seconds", str(args.seconds), "--device", args.device]
            res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if res.returncode != 0:
                print(f"{name} {variant}: failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"  {name:24s} {variant:19s} {r['fps']:8.1f} frames/s", file=sys.stderr, flush=True)
    hdr = f"{'config':24s} {'backbone':16s} {'size':>4s} {'dim':>4s} {'variant':19s} {'Mparams':>7s} " \
          f"{'s/clip':>7s} {'frames/s':>8s} {'VmHWM MB':>8s}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['config']:24s} {r['backbone']:16s} {r['size']:4d} {r['dim']:4d} {r['variant']:19s} "
              f"{r['params_m']:7.1f} {r['median_s']:7.3f} {r['fps']:8.1f} {r['vmhwm_mb']:8.0f}")
    if rows:
        print(f"\n{rows[0]['frames']}-frame clip, B=1, {rows[0]['threads']} threads, device {rows[0]['device']}, "
              f"{os.cpu_count()} CPUs")
    if args.save and rows:
        from actiondubber.fileio import write_text_atomic

        OUT.mkdir(parents=True, exist_ok=True)
        write_text_atomic(OUT / "bench_model.json", json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
