"""Benchmark of issue 12: audio-visual localisation (MRAV-FF) and ``detect --use-audio``.

Part A — segment mAP on held-out synthetic clips (flight segments of 3 classes, exact labels):
the CPU-sized localiser trained with ``--fusion none`` / ``concat`` / ``add`` / ``mravff`` on clips whose
soundtracks were corrupted at random (clean, shifted, noise, music, off-screen impacts, another
clip's sound, none), tested with each sound condition; mAP at tIoU 0.1:0.5 and 0.3:0.7 and the mean
gate per level.

Part B — event timing on the 12 real clips (``../shared/data/real``; key: onsets of the clean
soundtrack, ``labels_audio_onsets.csv``): the training-free picture-only detector against
``detect --use-audio`` with the shipped weights (trained on synthetic clips only), with the
soundtrack clean, shifted by ±100–300 ms, under noise, under music, replaced by another clip's,
or absent; strict F1@±2 (mean over clips) and the mean gate per level.

    python benchmarks/bench_tal.py [--part a|b|both] [--work benchmarks/results/tal] [--epochs 40]

Figures measured on a shared, heavily loaded 2-core CPU: times are inflated.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from actiondubber.audio.reader import read_audio_clip
from actiondubber.detection.detector import DetectorParams, StrengthCurve, events_from_curve
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import prf_frames
from actiondubber.tal.annotations import load_annotations
from actiondubber.tal.audible import detect_av, load_audible
from actiondubber.tal.features import FeatureParams, visual_features
from actiondubber.tal.metrics import TIOU_EPIC, TIOU_THUMOS, mean_ap
from actiondubber.tal.model import TALConfig
from actiondubber.tal.synthdata import corrupt_audio, default_specs, make_tal_dataset
from actiondubber.tal.train import load_items, predict_items, train_tal

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
CONDITIONS = ("clean", "shift", "noise", "music", "offscreen", "swap", "none")


def part_a(work: Path, epochs: int, fusions: list[str], n: tuple[int, int, int]) -> dict:
    n_tr, n_va, n_te = n
    specs = default_specs(64, seed=7)[: n_tr + n_va + n_te]
    subs = ["training"] * n_tr + ["validation"] * n_va + ["testing"] * n_te
    ds = work / "ds"
    t0 = time.time()
    make_tal_dataset(ds, specs, subs, conditions=CONDITIONS,
                     condition_mix=("clean", "clean", "shift", "noise", "music", "offscreen", "swap", "none"),
                     params=FeatureParams(short_side=64))
    print(f"[A] dataset ready ({n_tr} train / {n_va} val / {n_te} test clips) in {time.time() - t0:.0f} s")
    db = load_annotations(ds / "anno.json")
    test_ids = [v for v, a in db.items() if a.subset == "testing"]
    out = {}
    for name in fusions:  # "mravff:both" = MRAV-FF with the gate seeing picture and attended sound
        fusion, _, gate_input = name.partition(":")
        cfg = TALConfig.preset("cpu", fusion=fusion, gate_input=gate_input or "visual")
        res = train_tal(ds / "anno.json", ds / "features", work / f"run_{name.replace(':', '_')}",
                        audio_features=ds / "audio_mix", cfg=cfg, epochs=epochs, batch=4, lr=1e-3, threads=1,
                        force=True, eval_every=2)
        from actiondubber.tal.infer import load_tal_checkpoint

        lm = load_tal_checkpoint(res.best)
        rows = {}
        for cond in CONDITIONS if fusion != "none" else ("clean",):
            items = load_items({v: db[v] for v in test_ids}, ds / "features",
                               ds / f"audio_{cond}" if fusion != "none" else None, lm.classes)
            pred, gates = predict_items(lm.model, items, lm.classes)
            m1 = mean_ap(db, pred, TIOU_EPIC, videos=test_ids).average
            m2 = mean_ap(db, pred, TIOU_THUMOS, videos=test_ids).average
            g = [v for v in gates.values() if v]
            gm = np.mean(np.asarray(g), 0).round(3).tolist() if g else []
            rows[cond] = {"mAP_0.1:0.5": round(m1 * 100, 2), "mAP_0.3:0.7": round(m2 * 100, 2), "gate": gm}
            print(f"[A] {name:11s} {cond:9s} mAP@0.1:0.5 {m1 * 100:5.1f}  mAP@0.3:0.7 {m2 * 100:5.1f}  gate {gm}")
        out[name] = {"train_seconds": round(res.seconds, 1), "best_val_mAP": res.best_map, "test": rows}
        print(f"[A] {name}: trained {epochs} epochs in {res.seconds:.0f} s")
    return out


def _picture_only(info, raw_decel, xy, shape) -> list[int]:
    """The training-free detector's events from the same flow pass (its deceleration curve is column 0)."""
    p = DetectorParams()
    curve = StrengthCurve(info, raw_decel.astype(np.float32), xy[:, 0], xy[:, 1], shape)
    return events_from_curve(curve, p).frames


def part_b(work: Path, weights: Path | None) -> dict:
    labels = read_labels(REAL / "labels_audio_onsets.csv")
    vids = sorted(p for p in REAL.iterdir() if p.suffix in (".mp4", ".avi") and p.stem in labels.videos)
    lm = load_audible(weights)
    rng = np.random.default_rng(12)
    sounds = {v.stem: read_audio_clip(v, sr=16000) for v in vids}
    res: dict[str, dict] = {c: {"f1": [], "gate": []} for c in ("picture",) + CONDITIONS}
    t_feat = t_total = n_frames = 0.0
    for k, v in enumerate(vids):
        ref = list(labels.videos[v.stem].frames)
        t0 = time.time()
        info, vis, raw, xy = _cached_visual(v, lm.feature_params, work / "real_features")
        t_feat += time.time() - t0
        n_frames += info.n_frames
        short = min(info.width, info.height)
        scale = lm.feature_params.short_side / short
        shape = (int(round(info.width * scale)), int(round(info.height * scale)))
        res["picture"]["f1"].append(prf_frames(ref, _picture_only(info, raw, xy, shape), k=2).f1)
        a = sounds[v.stem]
        other = sounds[vids[(k + 1) % len(vids)].stem]
        for cond in CONDITIONS:
            y = corrupt_audio(a.samples, a.sr, cond, rng, other.samples if cond == "swap" else None)
            from actiondubber.tal.audible import events_from_av, predict_probs
            from actiondubber.tal.features import audio_features_from_samples

            t1 = time.time()
            aud = None if y is None else audio_features_from_samples(y, a.sr, a.start, np.asarray(info.timestamps))
            probs, gates = predict_probs(lm.model, vis, aud)
            ev = events_from_av(info, probs, xy, lm.cfg, sensitivity=0.5, params={})
            if cond == "clean":
                t_total += time.time() - t1
            res[cond]["f1"].append(prf_frames(ref, ev.frames, k=2).f1)
            res[cond]["gate"].append(gates)
        print(f"[B] {v.stem:34s} picture {res['picture']['f1'][-1]:.3f}  "
              + "  ".join(f"{c} {res[c]['f1'][-1]:.3f}" for c in CONDITIONS))
    # the shortcut above must be what `detect --use-audio` does: check one clip end to end
    ev = detect_av(vids[0], lm)
    assert ev.frames == events_from_av(*_clean_again(vids[0], lm), lm.cfg, sensitivity=0.5, params={}).frames
    out = {}
    for c, r in res.items():
        g = [x for x in r["gate"] if x]
        out[c] = {"strict_F1@2": round(float(np.mean(r["f1"])), 3),
                  "gate": np.mean(np.asarray(g), 0).round(3).tolist() if g else []}
    out["_speed"] = {"feature_fps": round(n_frames / t_feat, 1), "model_seconds_all_clips": round(t_total, 2),
                     "frames": int(n_frames)}
    return out


def _cached_visual(v: Path, fp: FeatureParams, cache: Path):
    """visual_features of a real clip, cached (the flow pass is the slow part; the sound conditions reuse it)."""
    import dataclasses

    from actiondubber.video.reader import probe

    cache.mkdir(parents=True, exist_ok=True)
    z = cache / f"{v.stem}_{fp.short_side}.npz"
    if z.is_file():
        d = np.load(z)
        times = tuple(float(t) for t in d["times"])
        info = dataclasses.replace(probe(v), timestamps=times, n_frames=len(times))
        return info, d["vis"], d["raw"], d["xy"]
    info, vis, raw, xy = visual_features(v, fp)
    np.savez(z, vis=vis, raw=raw, xy=xy, times=np.asarray(info.timestamps))
    return info, vis, raw, xy


def _clean_again(v: Path, lm):
    from actiondubber.tal.audible import predict_probs
    from actiondubber.tal.features import audio_features_from_samples

    info, vis, _, xy = visual_features(v, lm.feature_params)
    a = read_audio_clip(v, sr=lm.feature_params.audio_sr)
    probs, _ = predict_probs(lm.model, vis, audio_features_from_samples(a.samples, a.sr, a.start,
                                                                        np.asarray(info.timestamps)))
    return info, probs, xy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["a", "b", "both"], default="both")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/tal"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--fusions", nargs="+", default=["none", "concat", "add", "mravff"])
    ap.add_argument("--n", type=int, nargs=3, default=(24, 6, 12), metavar=("TRAIN", "VAL", "TEST"))
    ap.add_argument("--weights", type=Path, help="audio-visual checkpoint for part B (default: shipped weights)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    summary = {}
    if args.part in ("a", "both"):
        summary["A"] = part_a(args.work, args.epochs, args.fusions, tuple(args.n))
    if args.part in ("b", "both"):
        if not REAL.is_dir():
            print(f"[B] skipped: {REAL} not found")
        else:
            summary["B"] = part_b(args.work, args.weights)
            for c, r in summary["B"].items():
                print(f"[B] {c:9s} {r}")
    tag = "_".join(f.replace(":", "-") for f in args.fusions) if args.part == "a" else args.part
    p = args.work / f"summary_{tag}.json"
    p.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {p}")


if __name__ == "__main__":
    main()
