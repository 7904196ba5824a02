"""Do labels aligned by ``label-from-audio --align-av`` train a better model than unaligned ones?

The learned part trained here is the detector's verifier (``actiondubber.detection.verifier``: a
logistic model over the candidates of the training-free strength curve; trains in a second on CPU).
Same recipe for every arm; only the training labels differ:

* ``unaligned``: ``label-from-audio`` labels of clips whose soundtracks trail the picture (plain onsets),
* ``aligned``:   the same clips labelled with ``--align-av`` (offset measured and removed),
* ``exact``:     the synthetic generator's exact frames (an upper bound), and the plain detector (no training).

A second learned part, even cheaper, shows the timing directly: the detector's knobs tuned on the
training labels (sensitivity 0.3–0.7 and a frame offset −1…+3 added to every event, the best
pooled F1@±1 on the train half), then applied to the held-out half.

Synthetic part: N clips (scenes bounce/walls/juggle/mixed, 6 s, 30 fps, made once and cached). For
each data seed the soundtracks are shifted by random offsets, uniform in 0–120 ms (audio trails;
``sync.fix.shift_audio``, AAC re-encoded), labelled from audio with and without alignment, written
as label CSVs (with don't-care frames for weak onsets) and read back with the project's label
loader; the clips are split at random into train and held-out halves, the verifier is trained on
the train half (candidates within ±2 frames of a label are positives; a candidate near only a
don't-care frame gets weight 0), its threshold chosen on the train half's own labels, and it is
scored on the held-out half against the exact synthetic labels (strict one-to-one F1 at ±1/±2
frames, pooled; mean signed error of the ±3-frame matches, + = late).

Real part (``--real``): the 12 clips of ../shared/data/real labelled from their own soundtracks with
and without alignment; leave-one-clip-out over the 5 Greatest Hits clips with a human key: trained
on the other 11 clips' audio labels, scored against ``labels_human_greatesthits.csv``.

    python benchmarks/bench_align_train.py [--clips 24] [--seeds 0 1 2] [--real]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import time
from pathlib import Path

import numpy as np
from common import HUMAN_KEY, REAL, RESULTS, run_main, scores

from actiondubber.detection.detector import DetectorParams, events_from_curve, strength_curve
from actiondubber.detection.verifier import Verifier, fit, verify
from actiondubber.evaluate.labels import read_labels, write_labels
from actiondubber.evaluate.metrics import PRF, evaluate_video
from actiondubber.sync.fix import shift_audio
from actiondubber.sync.labels import aligned_labels_from_audio
from actiondubber.synth import render_clip
from actiondubber.train.verifier import clip_table

SCENES = ("bounce", "walls", "juggle", "mixed")
THRESHOLDS = tuple(np.round(np.arange(0.2, 0.81, 0.05), 2))
DONT_CARE = 0.1


def curve_of(path: Path, cache: Path):
    """The training-free detector's strength curve of *path* (cached by name and size)."""
    f = cache / f"{path.stem}.{path.stat().st_size}.curve.pkl"
    if f.is_file():
        return pickle.loads(f.read_bytes())
    c = strength_curve(path, DetectorParams())
    cache.mkdir(parents=True, exist_ok=True)
    f.write_bytes(pickle.dumps(c))
    return c


def train(clips, short: int) -> Verifier:
    """clips: (curve, frames, dont_care). L2 logistic fit, threshold by best mean F1@±2 on the same clips.

    Candidates, their features, 0/1 labels and weights (0 near only a don't-care frame) come from
    :func:`actiondubber.train.verifier.clip_table`, as ``train-verifier`` makes them."""
    tables = [clip_table("", curve, frames, channels=False, short_side=short, dont_care=dc)
              for curve, frames, dc in clips]
    feats = [t.features for t in tables]
    ys = [t.labels for t in tables]
    ws = [t.weights for t in tables]
    model = fit(np.concatenate(feats), np.concatenate(ys), sample_weight=np.concatenate(ws), l2=1.0)
    best, best_t = -1.0, 0.5
    for t in THRESHOLDS:
        m = Verifier(model.weights, model.mean, model.std, float(t))
        f = np.mean([evaluate_video(fr, verify(c, m), dont_care_frames=dc, tolerances=(2,)).strict["2f"].f1
                     for c, fr, dc in clips])
        if f > best + 1e-9:
            best, best_t = f, float(t)
    return Verifier(model.weights, model.mean, model.std, best_t)


KNOBS = [(sens, k) for sens in (0.3, 0.4, 0.5, 0.6, 0.7) for k in (-1, 0, 1, 2, 3)]


def tune(clips) -> tuple[float, int]:
    """(sensitivity, frame offset) with the best pooled F1@±1 on clips (curve, frames, dont_care)."""
    best, arg = -1.0, (0.5, 0)
    for sens, k in KNOBS:
        d = DetectorParams(sensitivity=sens)
        tot = PRF(0, 0, 0)
        for c, fr, dc in clips:
            tot = tot + evaluate_video(fr, [e.frame + k for e in events_from_curve(c, d).events],
                                       dont_care_frames=dc, tolerances=(1,)).strict["1f"]
        if tot.f1 > best + 1e-9:
            best, arg = tot.f1, (sens, k)
    return arg


def tuned_events(curve, knobs) -> list[int]:
    sens, k = knobs
    n = curve.scores.size
    frames = [e.frame + k for e in events_from_curve(curve, DetectorParams(sensitivity=sens)).events]
    return [f for f in frames if 0 <= f < n]


def label_quality(rows: dict, truth: dict) -> dict:
    ids = sorted(truth)
    return scores([list(rows.get(v, ())) for v in ids], [truth[v] for v in ids])


def fmt_row(name: str, s: dict) -> str:
    return f"  {name:34s} F1@±1 {s['F1@1']:.3f}  F1@±2 {s['F1@2']:.3f}  F1@±3 {s['F1@3']:.3f}  bias {s['bias']:+.2f} fr"


def label_set(videos, events, out_csv: Path, align: bool):
    """Label *videos* from audio (with/without alignment), write the CSV, read it back (as training would)."""
    res = aligned_labels_from_audio(videos, align=align, dont_care=DONT_CARE, events=events)
    write_labels(out_csv, res.rows, "", res.dont_care)
    lab = read_labels(out_csv).videos
    return {k: (v.frames, v.dont_care) for k, v in lab.items()}, res


def synthetic(args, work: Path, cache: Path, say) -> None:
    clips = []
    t0 = time.perf_counter()
    for i in range(args.clips):
        p = work / f"syn{i:02d}.mp4"
        scene = SCENES[i % len(SCENES)]
        c = render_clip(p, scene=scene, seconds=6.0, fps=30.0, seed=100 + i) if not p.is_file() or not (
            work / f"syn{i:02d}.truth").is_file() else None
        if c is not None:
            (work / f"syn{i:02d}.truth").write_text(",".join(map(str, c.labelled_frames)))
        truth = tuple(int(x) for x in (work / f"syn{i:02d}.truth").read_text().split(",") if x)
        clips.append((p.stem, p, truth))
    curves = {vid: curve_of(p, cache) for vid, p, _ in clips}
    truth = {vid: t for vid, _, t in clips}
    short = min(next(iter(curves.values())).analysis_size)
    say(f"{len(clips)} synthetic clips, {sum(len(t) for t in truth.values())} exact events "
        f"(made and analysed in {time.perf_counter() - t0:.0f} s)")
    plain_d = DetectorParams()
    per_seed = {k: [] for k in ("plain detector", "verifier: exact labels", "verifier: unaligned labels",
                                "verifier: aligned labels", "knobs: exact labels", "knobs: unaligned labels",
                                "knobs: aligned labels")}
    lab_q = {"unaligned": [], "aligned": []}
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        offs = rng.uniform(0.0, 0.120, len(clips))
        d = work / f"seed{seed}"
        d.mkdir(exist_ok=True)
        vids = []
        for (vid, p, _), off in zip(clips, offs, strict=True):
            q = d / f"{vid}.mp4"
            if not q.is_file():
                shift_audio(p, q, float(off))
            vids.append(q)
        ev = {vid: events_from_curve(curves[vid], plain_d) for vid in curves}
        un, _ = label_set(vids, ev, d / "labels_unaligned.csv", align=False)
        al, res = label_set(vids, ev, d / "labels_aligned.csv", align=True)
        meas = {Path(r["video"]).stem: r for r in res.report}
        err = [abs(float(meas[vid]["offset_ms"]) - 1000 * o) for (vid, _, _), o in zip(clips, offs, strict=True)
               if meas[vid]["offset_ms"] is not None]
        n_shift = sum(1 for r in res.report if r["status"] == "kept")
        order = rng.permutation(len(clips))
        tr = [clips[i][0] for i in order[: len(clips) // 2]]
        te = [clips[i][0] for i in order[len(clips) // 2 :]]
        q_un = label_quality({v: un[v][0] for v in un}, truth)
        q_al = label_quality({v: al[v][0] for v in al}, truth)
        lab_q["unaligned"].append(q_un)
        lab_q["aligned"].append(q_al)
        say(f"\nseed {seed}: offsets {1000 * offs.min():.0f}–{1000 * offs.max():.0f} ms "
            f"(mean {1000 * offs.mean():.0f}); "
            f"--align-av shifted {n_shift}/{len(clips)} clips, |offset error| median {np.median(err):.1f} ms; "
            f"{len(tr)} train / {len(te)} held-out clips; don't-care frames: {sum(len(v[1]) for v in un.values())}")
        say(fmt_row("labels themselves: unaligned", q_un))
        say(fmt_row("labels themselves: aligned", q_al))
        arms = {
            "verifier: exact labels": [(curves[v], truth[v], ()) for v in tr],
            "verifier: unaligned labels": [(curves[v], *un[v]) for v in tr if v in un],
            "verifier: aligned labels": [(curves[v], *al[v]) for v in tr if v in al],
        }
        test_truth = [truth[v] for v in te]
        s = scores([[e.frame for e in events_from_curve(curves[v], plain_d).events] for v in te], test_truth)
        per_seed["plain detector"].append(s)
        say(fmt_row("plain detector (held-out)", s))
        for name, data in arms.items():
            m = train(data, short)
            s = scores([verify(curves[v], m) for v in te], test_truth)
            per_seed[name].append(s)
            say(fmt_row(f"{name} (held-out)", s) + f"  threshold {m.threshold}")
            knobs = tune(data)
            kname = name.replace("verifier", "knobs")
            s = scores([tuned_events(curves[v], knobs) for v in te], test_truth)
            per_seed[kname].append(s)
            say(fmt_row(f"{kname} (held-out)", s) + f"  sensitivity {knobs[0]}, offset {knobs[1]:+d} fr")
    say(f"\nmean over seeds {list(args.seeds)} (held-out clips scored against exact synthetic labels):")
    for name, rows in per_seed.items():
        say(fmt_row(name, {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}))
    say("label quality (all clips, against exact labels), mean over seeds:")
    for name, rows in lab_q.items():
        say(fmt_row(f"{name} labels", {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}))


def real(cache: Path, work: Path, say) -> None:
    vids = sorted([*REAL.glob("*.mp4"), *REAL.glob("*.avi")])
    human = read_labels(HUMAN_KEY).videos
    curves = {p.stem: curve_of(p, cache) for p in vids}
    ev = {k: events_from_curve(c, DetectorParams()) for k, c in curves.items()}
    un, _ = label_set(vids, ev, work / "real_unaligned.csv", align=False)
    al, res = label_set(vids, ev, work / "real_aligned.csv", align=True)
    say(f"\nreal clips: {len(vids)}; --align-av: " + ", ".join(
        f"{Path(r['video']).stem.replace('greatesthits_', 'gh_')} {r['status']}"
        + (f" {float(r['offset_ms']):+.0f} ms" if r["offset_ms"] is not None else "") for r in res.report))
    keyed = [v for v in human if v in curves]
    for name, lab in (("unaligned", un), ("aligned", al)):
        preds, kpreds, truths, chosen = [], [], [], []
        for v in keyed:
            data = [(curves[k], *lab[k]) for k in curves if k != v and k in lab]
            m = train(data, min(curves[v].analysis_size))
            preds.append(verify(curves[v], m))
            knobs = tune(data)
            chosen.append(knobs)
            kpreds.append(tuned_events(curves[v], knobs))
            truths.append(human[v].frames)
        say(fmt_row(f"verifier: {name} labels, LOO, human key", scores(preds, truths)))
        say(fmt_row(f"knobs: {name} labels, LOO, human key", scores(kpreds, truths))
            + "  chosen " + " ".join(f"{a}/{b:+d}" for a, b in chosen))
    plain = scores([[e.frame for e in ev[v].events] for v in keyed], [human[v].frames for v in keyed])
    say(fmt_row("plain detector, human key", plain))
    say(f"  ({len(keyed)} held-out Greatest Hits clips with a human key, each trained on the other "
        f"{len(curves) - 1} clips' audio labels)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--real", action="store_true", help="also the real clips, leave-one-clip-out vs the human key")
    ap.add_argument("--out", type=Path, default=RESULTS / "align_train")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    t0 = time.perf_counter()
    synthetic(args, work, cache, say)
    if args.real and REAL.is_dir():
        real(cache, work, say)
    say(f"\n(total {time.perf_counter() - t0:.0f} s, on a CPU shared with other work)")
    (work / "align_train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_main(main)
