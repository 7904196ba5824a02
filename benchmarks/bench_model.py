"""Inference speed and peak memory of TA²Net on this machine (CPU, or a GPU with --device cuda).

    python benchmarks/bench_model.py                 # paper + small_cpu presets, every speed switch
    python benchmarks/bench_model.py --candidates    # also the other small variants that were compared
    python benchmarks/bench_model.py --save          # also write benchmarks/results/model/bench_model.json

Model only (no decoding, no optical flow): random weights, eval mode, ``torch.inference_mode``, one clip
of ``--frames`` frames (B = 1). The paper configuration makes five encoder passes per frame (RGB, motion
±, inflection ±) through ResNet50 stem..layer3 at 112x112.

Speed: one process per configuration builds the model once per variant (fp32, channels_last, bf16
autocast, BatchNorm folded by ``TA2Net.fuse_for_inference``, and their combinations) and times them
round-robin for ``--rounds`` rounds after a warm-up pass each, so a burst of load from other programs hits
every variant alike. frames/s = frames / the fastest pass ("best", the machine's capability) and / the
median pass. Peak memory: VmHWM (peak resident set) of a separate process per row that builds that one
variant and runs one warm-up plus one timed pass.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import REAL, ROOT, run_main  # noqa: F401

OUT = ROOT / "benchmarks" / "results" / "model"

#: name -> (config changes, fold BatchNorm into the convolutions with TA2Net.fuse_for_inference())
VARIANTS = {
    "fp32": ({"channels_last": False, "bf16": False}, False),
    "channels_last": ({"channels_last": True, "bf16": False}, False),
    "bf16": ({"channels_last": False, "bf16": True}, False),
    "channels_last+bf16": ({"channels_last": True, "bf16": True}, False),
    "fused+channels_last": ({"channels_last": True, "bf16": False}, True),
    "fused+cl+bf16": ({"channels_last": True, "bf16": True}, True),
}

CANDIDATES = ["tiny-112-concat", "r18-layer2-112", "r18-layer2-64", "r50-headF", "paper-nochunk"]


def preset(name: str):
    from actiondubber.model import TA2NetConfig

    small = TA2NetConfig.small_cpu()
    table = {
        "paper": TA2NetConfig.paper(),
        "small_cpu": small,
        # variants compared when choosing small_cpu (--candidates)
        "tiny-112-concat": small.replace(head_input="concat"),
        "r18-layer2-112": small.replace(backbone="resnet18", cut="layer2", encoder_chunk=16),
        "r18-layer2-64": small.replace(backbone="resnet18", cut="layer2", size=64, encoder_chunk=16),
        "r50-headF": TA2NetConfig.paper().replace(head_input="F"),
        "paper-nochunk": TA2NetConfig.paper().replace(encoder_chunk=0),
    }
    return table[name]


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _build(name: str, variant: str, frames: int, device: str):
    import torch

    from actiondubber.model import TA2Net

    torch.manual_seed(0)
    changes, fused = VARIANTS[variant]
    cfg = preset(name).replace(**changes)
    model = TA2Net(cfg).eval().to(device)
    if fused:
        model.fuse_for_inference()
    s = cfg.size
    x = (torch.randn(1, frames, 3, s, s, device=device),
         torch.randn(1, frames, 4, s, s, device=device) if cfg.use_motion else None,
         torch.randn(1, frames, 4, s, s, device=device) if cfg.use_inflection else None)
    return cfg, model, x


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _timed(model, x, device: str) -> float:
    t0 = time.perf_counter()
    model(*x)
    _sync(device)
    return time.perf_counter() - t0


def time_config(name: str, variants: list[str], frames: int, rounds: int, device: str) -> list[dict]:
    """Round-robin timing of every variant of one configuration in this process."""
    import torch

    built = {v: _build(name, v, frames, device) for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    with torch.inference_mode():
        for v in variants:
            _timed(built[v][1], built[v][2], device)  # warm-up (oneDNN primitives, allocator)
        for _ in range(rounds):
            for v in variants:
                times[v].append(_timed(built[v][1], built[v][2], device))
    rows = []
    for v in variants:
        cfg, model, _ = built[v]
        best, med = min(times[v]), statistics.median(times[v])
        rows.append({
            "config": name, "variant": v, "backbone": f"{cfg.backbone}/{cfg.cut}", "size": cfg.size,
            "dim": cfg.dim, "head_input": cfg.head_input, "frames": frames, "passes": len(times[v]),
            "best_s": best, "median_s": med, "fps_best": frames / best, "fps_median": frames / med,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "threads": torch.get_num_threads(),
            "device": device,
        })
    return rows


def memory_row(name: str, variant: str, frames: int, device: str) -> dict:
    """Peak resident memory (and CUDA peak) of one variant: build, warm-up, one pass."""
    import torch

    _, model, x = _build(name, variant, frames, device)
    with torch.inference_mode():
        _timed(model, x, device)
        _timed(model, x, device)
    row = {"vmhwm_mb": _vmhwm_mb()}
    if device.startswith("cuda"):
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def _child(args: list[str]) -> dict | list:
    cmd = [sys.executable, __file__, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {(res.stderr.strip().splitlines() or ['failed'])[-1]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="*", default=["paper", "small_cpu"])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--candidates", action="store_true", help="also time the small variants that were compared")
    ap.add_argument("--frames", type=int, default=64, help="clip length (the paper's 64)")
    ap.add_argument("--rounds", type=int, default=5, help="timed passes per variant (round-robin)")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-row peak-memory processes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--time-config", help=argparse.SUPPRESS)
    ap.add_argument("--memory", nargs=2, metavar=("CONFIG", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.time_config:
        print(json.dumps(time_config(args.time_config, args.variants, args.frames, args.rounds, args.device)))
        return
    if args.memory:
        print(json.dumps(memory_row(args.memory[0], args.memory[1], args.frames, args.device)))
        return
    common = ["--frames", str(args.frames), "--device", args.device]
    configs = list(args.configs) + (CANDIDATES if args.candidates else [])
    rows = []
    for name in configs:
        try:
            got = _child(["--time-config", name, "--rounds", str(args.rounds), "--variants", *args.variants, *common])
        except RuntimeError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            continue
        for r in got:
            if not args.no_memory:
                try:
                    r.update(_child(["--memory", name, r["variant"], *common]))
                except RuntimeError as exc:
                    print(f"{name} {r['variant']} memory: {exc}", file=sys.stderr)
            print(f"  {name:16s} {r['variant']:20s} best {r['fps_best']:7.1f}  median {r['fps_median']:7.1f} frames/s",
                  file=sys.stderr, flush=True)
            rows.append(r)
    hdr = (f"{'config':16s} {'backbone':16s} {'size':>4s} {'dim':>4s} {'head':>6s} {'variant':20s} {'Mparams':>7s} "
           f"{'best s/clip':>11s} {'frames/s best':>13s} {'median':>7s} {'VmHWM MB':>8s}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['config']:16s} {r['backbone']:16s} {r['size']:4d} {r['dim']:4d} {r['head_input']:>6s} "
              f"{r['variant']:20s} {r['params_m']:7.1f} {r['best_s']:11.3f} {r['fps_best']:13.1f} "
              f"{r['fps_median']:7.1f} {r.get('vmhwm_mb', float('nan')):8.0f}")
    if rows:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\n{rows[0]['frames']}-frame clip, B=1, {rows[0]['threads']} threads, device {rows[0]['device']}, "
              f"{os.cpu_count()} CPUs, {args.rounds} round-robin passes per variant, load average now {load:.1f}")
    if args.save and rows:
        from actiondubber.fileio import write_text_atomic

        OUT.mkdir(parents=True, exist_ok=True)
        write_text_atomic(OUT / "bench_model.json", json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    run_main(main)
