"""Benchmark of issue 12: audio-visual localisation (MRAV-FF) and ``detect --use-audio``.

Part A — segment mAP on held-out synthetic clips (flight segments of 3 classes, exact labels):
the CPU-sized localiser trained with ``--fusion none`` / ``concat`` / ``add`` / ``mravff`` on clips whose
soundtracks were corrupted at random (clean, shifted, noise, music, off-screen impacts, another
clip's sound, none), tested with each sound condition; mAP at tIoU 0.1:0.5 and 0.3:0.7 and the mean
gate per level.

Part B — event timing (``detect --use-audio``), strict F1@±2 (mean over clips) under every sound
condition (clean, none, shifted +100/+300/−100/−300 ms, noise, music, another clip's sound) on
(1) 12 held-out synthetic clips (seed 103; exact collision labels) and (2) the 12 real clips
(``../shared/data/real``; key: ``labels_audio_onsets.csv``, onsets of the clean soundtrack). Rows:
the training-free picture-only detector (vision only), the soundtrack's own strong onsets (audio
onsets only), and the residual audio-visual model with ``--av-fusions`` (``mravff``, ``concat``,
``add``), each trained on 24 synthetic clips plus the real clips *not* in the fold (``--folds``, real
clip ``k`` in fold ``k % folds``): a real clip is only ever scored by models that never saw it; the
synthetic figure is the mean over the fold models. Also the mean gate per level, training time and
inference time. The shipped weights (which saw all 12 real clips) are scored on the synthetic clips
only as a check.

    python benchmarks/bench_tal.py [--part a|b|both] [--work benchmarks/results/tal] [--epochs 40]

Figures measured on a shared, heavily loaded 2-core CPU: times are inflated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import run_main

from actiondubber.audio.labels import times_to_frames
from actiondubber.audio.onsets import impact_onsets
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import prf_frames
from actiondubber.tal.annotations import load_annotations
from actiondubber.tal.audible import (
    DEFAULT_WEIGHTS,
    AudibleConfig,
    CachedClip,
    LoadedAudible,
    detect_av,
    event_gap,
    footage_clip,
    load_audible,
    picture_outside_span,
    predict_logits,
    residual_events,
    save_audible,
    sound_span,
    synthetic_clips,
    train_audible,
)
from actiondubber.tal.features import DECEL_COLUMN, FeatureParams, audio_features_from_samples, visual_features
from actiondubber.tal.metrics import TIOU_EPIC, TIOU_THUMOS, mean_ap
from actiondubber.tal.model import TALConfig
from actiondubber.tal.soundcheck import SOUND_CHECKS, check_soundtrack
from actiondubber.tal.synthdata import REPORT_CONDITIONS, corrupt_audio, default_specs, make_tal_dataset
from actiondubber.tal.train import load_items, predict_items, train_tal
from actiondubber.types import VideoInfo

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


def _audio_only(info, y, sr: int, start: float) -> list[int]:
    """Audio onsets only: the strong onsets of the (corrupted) soundtrack, as the key was made from the clean one."""
    if y is None:
        return []
    return times_to_frames(info, impact_onsets(y, sr) + start)


def _grid_info(c: CachedClip) -> VideoInfo:
    t = tuple(float(x) for x in c.times)
    return VideoInfo(path=c.vid, width=160, height=120, fps=c.fps, n_frames=len(t), duration=t[-1] + 1 / c.fps,
                     has_audio=True, timestamps=t)


AUDIO_SECONDS = {"s": 0.0, "frames": 0}


def _eval_items(clips: list[CachedClip], keys: list[list[int]], infos: list[VideoInfo], seed: int) -> list[dict]:
    """Each clip with its key and its soundtrack's features under every reported condition (computed once)."""
    items = []
    for k, (c, key, info) in enumerate(zip(clips, keys, infos, strict=True)):
        other = clips[(k + 1) % len(clips)]
        auds, onsets = {}, {}
        checked = {pol: {} for pol in SOUND_CHECKS if pol != "off"}
        checks = {pol: {} for pol in checked}
        spans = {pol: {} for pol in SOUND_CHECKS}
        cands = [int(f) for f in c.candidates()]
        curve = np.expm1(c.visual[:, DECEL_COLUMN].astype(np.float64))  # the picture-only detector's curve
        for j, cond in enumerate(REPORT_CONDITIONS):
            y = corrupt_audio(c.samples, c.sr, cond, np.random.default_rng([seed, k, j]),
                              other.samples if cond == "swap" else None)
            t0 = time.time()
            auds[cond] = None if y is None else audio_features_from_samples(y, c.sr, c.start, c.times)
            if cond == "clean":
                AUDIO_SECONDS["s"] += time.time() - t0
                AUDIO_SECONDS["frames"] += len(c.times)
            onsets[cond] = _audio_only(info, y, c.sr, c.start)
            spans["off"][cond] = None if y is None else sound_span(y, c.sr, c.start)
            for pol in checked:  # what detect --use-audio's sound check (tal.soundcheck) does with this sound
                if y is None:
                    checked[pol][cond], checks[pol][cond], spans[pol][cond] = None, None, None
                    continue
                ck = check_soundtrack(c.times, curve, np.asarray(cands), y, c.sr, c.start, c.fps, policy=pol)
                checks[pol][cond] = ck
                spans[pol][cond] = sound_span(y, c.sr, c.start - (ck.offset if ck.action == "realign" else 0.0))
                checked[pol][cond] = (None if ck.action == "refuse" else auds[cond] if ck.action == "keep"
                                      else audio_features_from_samples(y, c.sr, c.start - ck.offset, c.times))
        items.append({"clip": c, "key": key, "info": info, "audio": auds, "onsets": onsets, "cands": cands,
                      "checked": checked, "checks": checks, "spans": spans})
    return items


def _score(model, items: list[dict], rows: dict, name: str, set_name: str, sound_check: str = "off") -> float:
    """Strict F1@±2 and gates of *model* on *items* under every condition, appended to ``rows``; returns seconds.

    *sound_check*: the policy of :mod:`actiondubber.tal.soundcheck` applied to the sound first.
    """
    secs = 0.0
    for it in items:
        c = it["clip"]
        for cond in REPORT_CONDITIONS:
            t0 = time.time()
            aud = it["audio"][cond] if sound_check == "off" else it["checked"][sound_check][cond]
            logit, gates, _ = predict_logits(model, c.visual, aud, it["cands"])
            if aud is not None:  # as detect --use-audio: the picture alone where the sound has no samples
                logit = picture_outside_span(model, c.visual, logit, it["cands"], c.times,
                                             it["spans"][sound_check][cond])
            ev = residual_events(1 / (1 + np.exp(-logit)), model.cfg.threshold, event_gap(it["info"].frame_rate))
            secs += time.time() - t0
            r = rows.setdefault(name, {}).setdefault(set_name, {}).setdefault(cond, {"f1": [], "gate": []})
            r["f1"].append(prf_frames(it["key"], [int(f) for f in ev], k=2).f1)
            if gates:
                r["gate"].append(gates)
    return secs


def part_b(work: Path, fusions: list[str], iters: int, folds: int, weights: Path | None, reuse: bool = False,
           gate_floor: float | None = None, test_seed: int = 103) -> dict:
    """Event timing under every sound condition, on held-out synthetic clips and (by folds) on the real clips."""
    fp = FeatureParams()
    wdir = work.parent / "av_weights"
    t0 = time.time()
    train = synthetic_clips(wdir, 24, 101, "train", fp)
    test = synthetic_clips(wdir, 12, test_seed, "test" if test_seed == 103 else f"test{test_seed}", fp)
    sets = {"synthetic": _eval_items(test, [list(c.frames) for c in test], [_grid_info(c) for c in test], 31)}
    real: list[CachedClip] = []
    vids: list[Path] = []
    if REAL.is_dir():
        labels = read_labels(REAL / "labels_audio_onsets.csv")
        vids = sorted(p for p in REAL.iterdir() if p.suffix in (".mp4", ".avi") and p.stem in labels.videos)
        infos = []
        for v in vids:
            feats = _cached_visual(v, fp, work / "real_features")
            infos.append(feats[0])
            real.append(footage_clip(v, fp, features=feats))
        sets["real"] = _eval_items(real, [list(labels.videos[v.stem].frames) for v in vids], infos, 32)
    else:
        print(f"[B] real clips skipped: {REAL} not found")
    print(f"[B] data ready in {time.time() - t0:.0f} s", flush=True)
    rows: dict = {}
    for set_name, items in sets.items():
        for it in items:
            for cond in REPORT_CONDITIONS:
                for name, fr in (("vision only", it["cands"]), ("audio onsets only", it["onsets"][cond])):
                    r = rows.setdefault(name, {}).setdefault(set_name, {}).setdefault(cond, {"f1": [], "gate": []})
                    r["f1"].append(prf_frames(it["key"], fr, k=2).f1)
    timing = {}
    for fusion in fusions:
        n_f = folds if real else 1
        for fold in range(n_f):
            held = [k for k in range(len(real)) if k % n_f == fold]
            t1 = time.time()
            fit = train + [c for k, c in enumerate(real) if k not in held]
            ck = work / "av_models" / f"{fusion}_fold{fold}_of{n_f}_{iters}.pt"
            reused = reuse and ck.is_file()
            if reused:
                model = load_audible(ck).model
            else:
                model = train_audible(fit, AudibleConfig(fusion=fusion), iters=iters, seed=fold)
                ck.parent.mkdir(parents=True, exist_ok=True)
                save_audible(ck, model, extra={"held_out_real": [real[k].vid for k in held]})
            if gate_floor is not None:
                model.cfg = dataclasses.replace(model.cfg, gate_floor=gate_floor)
            tt = time.time() - t1
            secs = 0.0
            for pol in SOUND_CHECKS:
                name = fusion if pol == "align" else f"{fusion}, sound check {pol}"
                secs += _score(model, sets["synthetic"], rows, name, f"synthetic_fold{fold}", pol)
                if real:
                    secs += _score(model, [sets["real"][k] for k in held], rows, name, "real", pol)
            if real and fold == 0:  # the shortcut above must be what `detect --use-audio` does: one clip end to end
                it = sets["real"][held[0]]
                ev = detect_av(vids[held[0]], LoadedAudible(model, fp, "fold model", {}))
                logit, _, _ = predict_logits(model, it["clip"].visual, it["checked"]["align"]["clean"], it["cands"])
                if it["checked"]["align"]["clean"] is not None:
                    logit = picture_outside_span(model, it["clip"].visual, logit, it["cands"], it["clip"].times,
                                                 it["spans"]["align"]["clean"])
                ref = residual_events(1 / (1 + np.exp(-logit)), model.cfg.threshold, event_gap(it["info"].frame_rate))
                assert ev.frames == [int(f) for f in ref], (ev.frames, ref)
            timing.setdefault(fusion, []).append({"train_s": None if reused else round(tt, 1),
                                                  "infer_s": round(secs, 2), "reused": str(ck) if reused else None})
            how = f"reused {ck}" if reused else f"trained {iters} iterations in {tt:.0f} s"
            print(f"[B] {fusion} fold {fold}: {how} (held-out real clips {held})", flush=True)
        for pol in SOUND_CHECKS:
            name = fusion if pol == "align" else f"{fusion}, sound check {pol}"
            for cond in REPORT_CONDITIONS:  # the synthetic figure: mean over the fold models
                f = [np.mean(rows[name][f"synthetic_fold{k}"][cond]["f1"]) for k in range(n_f)]
                g = [x for k in range(n_f) for x in rows[name][f"synthetic_fold{k}"][cond]["gate"]]
                rows[name].setdefault("synthetic", {})[cond] = {"f1": [float(np.mean(f))], "gate": g}
            for k in range(n_f):
                rows[name].pop(f"synthetic_fold{k}")
    if weights is not None or DEFAULT_WEIGHTS.is_file():
        lm = load_audible(weights)
        if lm.cfg.residual:  # in-sample on the real clips, so scored on the synthetic ones only
            _score(lm.model, sets["synthetic"], rows, "shipped weights", "synthetic", "align")
            _score(lm.model, sets["synthetic"], rows, "shipped weights, sound check off", "synthetic", "off")
    out = {"timing": timing, "audio_features": {"seconds": round(AUDIO_SECONDS["s"], 2),
                                                "frames": AUDIO_SECONDS["frames"]},
           "frames": {k: int(sum(len(it["clip"].times) for it in v)) for k, v in sets.items()}}
    for name, by_set in rows.items():
        for set_name, by_cond in by_set.items():
            for cond, r in by_cond.items():
                g = np.mean(np.asarray(r["gate"]), 0).round(2).tolist() if r["gate"] else []
                out.setdefault(set_name, {}).setdefault(name, {})[cond] = {"F1": round(float(np.mean(r["f1"])), 3),
                                                                           "gate": g}
    for set_name in sets:
        print(f"[B] {set_name}: strict F1@±2 (mean over clips) per sound condition")
        print("    " + f"{'':38s}" + "".join(f"{c:>10s}" for c in REPORT_CONDITIONS))
        for name, by_cond in out[set_name].items():
            print(f"    {name:38s}" + "".join(f"{by_cond[c]['F1']:10.3f}" for c in REPORT_CONDITIONS))
        for name, by_cond in out[set_name].items():
            if any(by_cond[c]["gate"] for c in REPORT_CONDITIONS):
                print(f"    gate {name:33s}" + "".join(
                    f"{' '.join(f'{x:.2f}' for x in by_cond[c]['gate']) or '-':>15s}" for c in REPORT_CONDITIONS))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["a", "b", "both"], default="both")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/tal"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--fusions", nargs="+", default=["none", "concat", "add", "mravff"])
    ap.add_argument("--n", type=int, nargs=3, default=(24, 6, 12), metavar=("TRAIN", "VAL", "TEST"))
    ap.add_argument("--weights", type=Path, help="audio-visual checkpoint for part B (default: shipped weights)")
    ap.add_argument("--av-fusions", nargs="+", default=["mravff", "concat", "add"], help="part B models")
    ap.add_argument("--iters", type=int, default=500, help="part B training iterations per model")
    ap.add_argument("--folds", type=int, default=3, help="part B: real clips held out by folds (k %% folds)")
    ap.add_argument("--reuse", action="store_true", help="part B: reuse the fold models saved by an earlier run")
    ap.add_argument("--gate-floor", type=float, help="part B: override the models' gate_floor")
    ap.add_argument("--test-seed", type=int, default=103,
                    help="part B: seed of the 12 held-out synthetic clips (103; another seed = a fresh check)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    summary = {}
    if args.part in ("a", "both"):
        summary["A"] = part_a(args.work, args.epochs, args.fusions, tuple(args.n))
    if args.part in ("b", "both"):
        summary["B"] = part_b(args.work, args.av_fusions, args.iters, args.folds, args.weights, args.reuse,
                              args.gate_floor, args.test_seed)
    tag = ("_".join(f.replace(":", "-") for f in args.fusions) if args.part == "a"
           else "b_" + "_".join(args.av_fusions) if args.part == "b" else args.part)
    if args.test_seed != 103:
        tag += f"_test{args.test_seed}"
    p = args.work / f"summary_{tag}.json"
    p.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {p}")


if __name__ == "__main__":
    run_main(main)
