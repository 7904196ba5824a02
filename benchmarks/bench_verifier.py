"""The learned verifier (detect/verifier.py) under leave-one-clip-out, next to the plain detector.

For every held-out real clip the verifier is trained on synthetic family 1 (exact labels) plus the
*other* real clips (labels from their soundtracks) and its threshold is chosen on those other real
clips; the held-out clip is then scored. Also: trained on synthetic clips only, on real clips only,
and the transfer to synthetic family 2 (trained on family 1 + all real clips, nothing from family 2).
Strength curves come from bench_loo's cache (same folder), so run bench_loo first to fill it.

    python benchmarks/bench_verifier.py [--synth benchmarks/results/synth] [--synth2 benchmarks/results/synth2]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from bench_loo import TOL, CurveMethod, cached, f1_of, load_set, summary
from common import REAL, RESULTS, ROOT  # noqa: F401

from actiondubber.detection.detector import DetectorParams, events_from_curve
from actiondubber.detection.verifier import Verifier, candidate_features, fit, propose, verify
from actiondubber.evaluate.metrics import evaluate_video, match_events

THRESHOLDS = tuple(np.round(np.arange(0.2, 0.81, 0.05), 2))


def clip_data(clips, cache: Path):
    """Per clip: (id, curve, candidate frames, features, 0/1 labels, true frames)."""
    m = CurveMethod()
    out = []
    for vid, path, ref, cls in clips:
        obj = cached(m, path, {"short_side": 128}, cache)
        curve = obj.curve if hasattr(obj, "curve") else obj
        cand = propose(curve, 128)
        feats = candidate_features(curve.scores, cand, 128)
        lab = np.zeros(len(cand))
        for _r, e in match_events(list(ref), list(cand), 2):
            lab[e] = 1
        out.append((vid, curve, cand, feats, lab, ref, cls))
    return out


def train(parts, real_tune) -> Verifier:
    """Fit on *parts* (lists of clip data; each part weighted equally) and pick the threshold on *real_tune*."""
    feats, labs, wts = [], [], []
    for part in parts:
        n = sum(len(c[4]) for c in part)
        for c in part:
            feats.append(c[3])
            labs.append(c[4])
            wts.append(np.full(len(c[4]), 1.0 / max(n, 1)))
    x = np.concatenate(feats)
    y = np.concatenate(labs)
    w = np.concatenate(wts)
    model = fit(x, y, sample_weight=w * len(w), l2=1.0)
    best, best_t = -1.0, 0.5
    for t in THRESHOLDS:
        mt = Verifier(model.weights, model.mean, model.std, float(t))
        f = np.mean([f1_of(evaluate_video(c[5], verify(c[1], mt), tolerances=TOL)) for c in real_tune])
        if f > best + 1e-9 or (abs(f - best) <= 1e-9 and abs(t - 0.5) < abs(best_t - 0.5)):
            best, best_t = f, float(t)
    return Verifier(model.weights, model.mean, model.std, best_t)


def score(model: Verifier, clip) -> object:
    return evaluate_video(clip[5], verify(clip[1], model), video_id=clip[0], tolerances=TOL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, default=ROOT / "benchmarks" / "results" / "synth")
    ap.add_argument("--synth2", type=Path, default=ROOT / "benchmarks" / "results" / "synth2")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "loo")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    cache = args.out / "cache"
    real = clip_data(load_set(REAL, REAL / "labels_audio_onsets.csv"), cache)
    syn = clip_data(load_set(args.synth, args.synth / "labels.csv"), cache) if args.synth.is_dir() else []
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    say(f"{len(real)} real clips, {len(syn)} synthetic family-1 clips; "
        f"{sum(len(c[2]) for c in real)} / {sum(len(c[2]) for c in syn)} candidates")
    d = DetectorParams()
    plain = [evaluate_video(c[5], [e.frame for e in events_from_curve(c[1], d).events], video_id=c[0],
                            tolerances=TOL) for c in real]
    rows = {"synth+real": [], "real only": [], "synth only": []}
    say("\nleave-one-clip-out on the real clips: held-out strict F1@±1/2/3 (threshold chosen on the other real clips)")
    for k, c in enumerate(real):
        others = [r for j, r in enumerate(real) if j != k]
        m_both = train([syn, others], others)
        m_real = train([others], others)
        m_syn = train([syn], others) if syn else m_real
        for name, m in (("synth+real", m_both), ("real only", m_real), ("synth only", m_syn)):
            rows[name].append(score(m, c))
        v = rows["synth+real"][-1]
        say(f"  {c[0]:36s} {f1_of(v, 1):.3f} {f1_of(v, 2):.3f} {f1_of(v, 3):.3f}  (plain detector "
            f"{f1_of(plain[k], 2):.3f}; real-only {f1_of(rows['real only'][-1], 2):.3f}; synth-only "
            f"{f1_of(rows['synth only'][-1], 2):.3f}; threshold {m_both.threshold})")
    say()
    say(summary(plain, "plain detector, current defaults")[0])
    for name, r in rows.items():
        say(summary(r, f"verifier ({name}), leave-one-clip-out")[0])
    if (args.synth2 / "labels.csv").is_file():
        s2 = clip_data(load_set(args.synth2, args.synth2 / "labels.csv"), cache)
        m = train([syn, real], real)
        v2 = [score(m, c) for c in s2]
        p2 = [evaluate_video(c[5], [e.frame for e in events_from_curve(c[1], d).events], video_id=c[0],
                             tolerances=TOL) for c in s2]
        say(f"\nsynthetic family 2 ({len(s2)} clips), never seen in training:")
        say(summary(p2, "plain detector, current defaults")[0])
        say(summary(v2, "verifier (family 1 + real)")[0])
        for cls in sorted({c[6] for c in s2}):
            idx = [i for i, c in enumerate(s2) if c[6] == cls]
            say(summary([p2[i] for i in idx], f"  {cls}: plain")[0])
            say(summary([v2[i] for i in idx], f"  {cls}: verifier")[0])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "verifier.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
