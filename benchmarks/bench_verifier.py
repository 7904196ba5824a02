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
from pathlib import Path

from common import REAL, RESULTS, ROOT, run_main  # noqa: F401
from heldout import TOL, CurveMethod, cached, f1_of, load_set, summary

from actiondubber.detection.detector import DetectorParams, events_from_curve, strength_curve
from actiondubber.detection.verifier import Verifier, verify
from actiondubber.evaluate.metrics import evaluate_video
from actiondubber.train.verifier import VerifierClip, clip_table, fit_verifier


class ChannelMethod(CurveMethod):
    """The shipped strength curve measured with the kinematic channels (detection/strength.py)."""

    cache_name = "channels"

    def compute(self, path: Path, ccfg: dict):
        return strength_curve(path, DetectorParams(**ccfg, frame_offset=0), channels=True)


def clip_data(clips, cache: Path, features: str = "curve") -> list[VerifierClip]:
    """Per clip: the strength curve (from the cache), its candidates, their features and 0/1 labels."""
    m = ChannelMethod() if features == "channels" else CurveMethod()
    out = []
    for vid, path, ref, cls in clips:
        obj = cached(m, path, {"short_side": 128}, cache)
        curve = obj.curve if hasattr(obj, "curve") else obj
        out.append((clip_table(vid, curve, ref, channels=features == "channels"), cls))
    return out


def train(parts, real_tune, l2: float = 1.0) -> Verifier:
    """Fit on *parts* (lists of clip data; each part weighted equally) and pick the threshold on *real_tune*."""
    return fit_verifier([[c for c, _ in part] for part in parts], [c for c, _ in real_tune], l2=l2)


def score(model: Verifier, clip) -> object:
    c = clip[0]
    return evaluate_video(c.truth, verify(c.curve, model), video_id=c.video, tolerances=TOL)


def plain_score(clip) -> object:
    c = clip[0]
    return evaluate_video(c.truth, [e.frame for e in events_from_curve(c.curve, DetectorParams()).events],
                          video_id=c.video, tolerances=TOL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, default=ROOT / "benchmarks" / "results" / "synth")
    ap.add_argument("--synth2", type=Path, default=ROOT / "benchmarks" / "results" / "synth2")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "loo")
    ap.add_argument("--features", choices=("curve", "channels"), default="curve",
                    help="what the verifier reads: the strength curve alone, or the kinematic channels")
    ap.add_argument("--l2", type=float, default=10.0, help="L2 penalty of the logistic fit")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    cache = args.out / "cache"
    real = clip_data(load_set(REAL, REAL / "labels_audio_onsets.csv"), cache, args.features)
    syn = []
    if args.synth.is_dir():
        syn = clip_data(load_set(args.synth, args.synth / "labels.csv"), cache, args.features)
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    say(f"{len(real)} real clips, {len(syn)} synthetic family-1 clips; "
        f"{sum(len(c.candidates) for c, _ in real)} / {sum(len(c.candidates) for c, _ in syn)} candidates")
    plain = [plain_score(c) for c in real]
    rows = {"synth+real": [], "real only": [], "synth only": []}
    say("\nleave-one-clip-out on the real clips: held-out strict F1@±1/2/3 (threshold chosen on the other real clips)")
    for k, c in enumerate(real):
        others = [r for j, r in enumerate(real) if j != k]
        m_both = train([syn, others], others, args.l2)
        m_real = train([others], others, args.l2)
        m_syn = train([syn], others, args.l2) if syn else m_real
        for name, m in (("synth+real", m_both), ("real only", m_real), ("synth only", m_syn)):
            rows[name].append(score(m, c))
        v = rows["synth+real"][-1]
        say(f"  {c[0].video:36s} {f1_of(v, 1):.3f} {f1_of(v, 2):.3f} {f1_of(v, 3):.3f}  (plain detector "
            f"{f1_of(plain[k], 2):.3f}; real-only {f1_of(rows['real only'][-1], 2):.3f}; synth-only "
            f"{f1_of(rows['synth only'][-1], 2):.3f}; threshold {m_both.threshold})")
    say()
    say(summary(plain, "plain detector, current defaults")[0])
    for name, r in rows.items():
        say(summary(r, f"verifier ({name}), leave-one-clip-out")[0])
    if (args.synth2 / "labels.csv").is_file():
        s2 = clip_data(load_set(args.synth2, args.synth2 / "labels.csv"), cache, args.features)
        m = train([syn, real], real, args.l2)
        v2 = [score(m, c) for c in s2]
        p2 = [plain_score(c) for c in s2]
        say(f"\nsynthetic family 2 ({len(s2)} clips), never seen in training:")
        say(summary(p2, "plain detector, current defaults")[0])
        say(summary(v2, "verifier (family 1 + real)")[0])
        for cls in sorted({c[1] for c in s2}):
            idx = [i for i, c in enumerate(s2) if c[1] == cls]
            say(summary([p2[i] for i in idx], f"  {cls}: plain")[0])
            say(summary([v2[i] for i in idx], f"  {cls}: verifier")[0])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"verifier_{args.features}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_main(main)
