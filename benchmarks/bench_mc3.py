"""MC3 figures: sounding-action discovery (ROC-AUC / PR-AUC), the detector's sounding filter, and retrieval.

Data (see ``mc3_sets.py``): 28 synthetic training clips (seeds 0-27), 14 held-out synthetic clips
(seeds 1000-1013), the 12 real clips of ../shared/data/real keyed by their soundtracks' onsets.

1. Discovery on held-out synthetic windows, models trained on the synthetic training clips + the
   real clips: random; CMC-style (pairwise contrastive only); MC3 one-stage (contrastive +
   consensus from the start); MC3 two-stage (align, then refine) — scored by the AV, AL and VL
   similarities (the seed's protocol) and by the video-only probe (what ``sounding`` uses).
   Then the open choices (tau, anchor, calibration, detached consensus) on the two-stage AV score.
2. Discovery on real windows, leave-one-clip-out: each clip is scored by models trained on the
   synthetic training clips and the other 11 real clips; scores pooled over clips.
3. ``detect --sounding-filter 0.5``: strict P/R/F1@±2 of the training-free detector with and
   without it (held-out synthetic: the model of 1.; real: the leave-one-clip-out models).
4. Retrieval: per sounding window, rank a library of 21 sounds (3 synthetic knock kinds, the 6
   built-ins, one hit cut from each real clip's soundtrack); top-1 / top-5 of the right kind
   (synthetic: the knock of the colliding body's kind; real: the clip's own hit). Text -> audio:
   the window's narration as the prompt, MC3 only and blended with the file names.

    python benchmarks/bench_mc3.py [--quick] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import mc3_sets
import numpy as np
from common import run_main
from mc3_sets import detector_clips, filter_prf, train


def fmt(x: float) -> str:
    return "  -  " if not np.isfinite(x) else f"{x:.3f}"


def discovery(model, fs, pairs=("av", "al", "vl", "video")):
    from actiondubber.mc3.train import pr_auc, roc_auc, similarity_scores

    lab = np.isfinite(fs.labels) & fs.has_audio
    sub = fs.subset(np.flatnonzero(lab))
    out = {}
    for p in pairs:
        s = similarity_scores(model, sub, p)
        out[p] = (roc_auc(sub.labels, s), pr_auc(sub.labels, s))
    return out


def variants(base):
    return {
        "CMC (contrastive only)": replace(base, align_epochs=base.align_epochs + base.refine_epochs, refine_epochs=0),
        "MC3 one-stage": replace(base, align_epochs=0, refine_epochs=base.align_epochs + base.refine_epochs),
        "MC3 two-stage": base,
    }


def build_library(real_windows, out_dir: Path):
    """Write the 21-sound library; return its folder."""
    import av

    from actiondubber.audio.reader import read_audio_clip
    from actiondubber.dubbing.sounds import BUILTIN_SOUNDS, synthesize
    from actiondubber.synth.audio import Knock, knock_wave

    out_dir.mkdir(parents=True, exist_ok=True)

    def wav(name, y, sr=48000):
        y = np.asarray(y, np.float32)
        y = y / max(float(np.abs(y).max()), 1e-9) * 0.8
        with av.open(str(out_dir / f"{name}.wav"), "w") as f:
            st = f.add_stream("pcm_s16le", rate=sr, layout="mono")
            fr = av.AudioFrame.from_ndarray((y[None] * 32767).astype(np.int16), format="s16", layout="mono")
            fr.sample_rate = sr
            for p in (*st.encode(fr), *st.encode(None)):
                f.mux(p)

    for kind, f0 in (("ball", 350.0), ("disc", 560.0), ("box", 280.0)):
        wav(f"synth-{kind}", knock_wave(Knock(0, 0.8, f0, kind, 0.5, 7), 48000))
    for name in BUILTIN_SOUNDS:
        wav(name, synthesize(name, 48000, seed=3).samples[0])
    firsts = {}
    for w in real_windows:
        if w.sounding == 1.0 and w.group not in firsts:
            firsts[w.group] = w
    for stem, w in sorted(firsts.items()):
        clip = read_audio_clip(w.video, sr=48000)
        t = w.time - clip.start
        a = max(0, int((t - 0.01) * 48000))
        wav(f"real-{stem}", clip.samples[a : a + int(0.45 * 48000)])
    return out_dir


#: ``dub --auto --name-weight`` values measured (0 = the MC3 video-audio similarity alone).
PICTURE_WORD_WEIGHTS = (0.5, 1.0, 2.0)


def retrieval_rows(model, fs, lib, kinds_of, prompts=False, name_weights=(0.0, 1.0)):
    """(top-1, top-5, n) of video->audio and, with *prompts*, text->audio per name weight."""
    from actiondubber.mc3.retrieve import prompt_similarities

    idx = [i for i in range(len(fs)) if fs.labels[i] == 1 and fs.kinds[i] in kinds_of]
    if not idx:
        return {}
    from actiondubber.mc3.retrieve import video_audio_scores
    from actiondubber.mc3.words import class_probabilities, top_words
    from actiondubber.video.reader import probe

    names = lib.names
    right = np.array([names.index(fs.kinds[i]) for i in idx])
    words = []  # what each window's picture shows (224-px centre cut of its frame), as dub --auto reads it
    for i in idx:
        w = fs.windows[i]
        info = probe(w.video)
        words += top_words(class_probabilities(w.video, [info.frame_at(w.time)], info=info, cache_dir=mc3_sets.CACHE))
    out = {}
    for nw in (0.0, *PICTURE_WORD_WEIGHTS):
        rank = np.argsort(-video_audio_scores(model, fs.video[idx], lib, words=words, name_weight=nw), axis=1)
        key = "video -> audio" + (f" + picture words (name weight {nw:g})" if nw else "")
        out[key] = ((rank[:, 0] == right).mean(), (rank[:, :5] == right[:, None]).any(1).mean(), len(idx))
    if prompts:
        for nw in name_weights:
            hits1 = hits5 = 0
            cache = {}
            for i, r in zip(idx, right, strict=True):
                text = fs.windows[i].narration
                if text not in cache:
                    cache[text] = np.argsort(-prompt_similarities(text, lib, model, name_weight=nw))
                hits1 += cache[text][0] == r
                hits5 += r in cache[text][:5]
            out[f"text -> audio (name weight {nw:g})"] = (hits1 / len(idx), hits5 / len(idx), len(idx))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the choice ablation and one-stage LOCO")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--ablation-only", action="store_true", help="only section 1 (with the open-choice rows)")
    ap.add_argument("--retrieval-only", action="store_true",
                    help="only section 4 (trains the two-stage model and its leave-one-clip-out models)")
    args = ap.parse_args()

    from actiondubber.mc3.config import MC3Config
    from actiondubber.mc3.train import FeatureSet

    t0 = time.time()
    syn_tr = mc3_sets.features(mc3_sets.synthetic(mc3_sets.TRAIN_SEEDS), "synthetic train")
    test_w = mc3_sets.synthetic(mc3_sets.TEST_SEEDS, "synthetic test clips")
    syn_te = mc3_sets.features(test_w, "synthetic test")
    real_w = mc3_sets.real()
    real = mc3_sets.features(real_w, "real") if real_w else None
    print(f"windows: synthetic train {len(syn_tr)} ({int(np.nansum(syn_tr.labels))} sounding), synthetic test "
          f"{len(syn_te)} ({int(np.nansum(syn_te.labels))}), real {len(real) if real else 0} "
          f"({int(np.nansum(real.labels)) if real else 0}); features {time.time() - t0:.0f} s")
    train_all = FeatureSet.concat([syn_tr] + ([real] if real else []))
    base = MC3Config()

    if args.retrieval_only:
        _retrieval(real_w, real, syn_te, syn_tr, train_all, base, args.seeds[0])
        print(f"\ntotal {time.time() - t0:.0f} s")
        return

    print("\n1. Sounding-action discovery, 14 held-out synthetic clips (ROC-AUC / PR-AUC; mean over seeds "
          f"{args.seeds})")
    lab = syn_te.labels[np.isfinite(syn_te.labels) & syn_te.has_audio]
    print(f"   {'method':<28} {'AV':>13} {'AL':>13} {'VL':>13} {'video probe':>13}")
    print(f"   {'random':<28} {'0.500 ' + fmt(lab.mean()):>13} {'0.500 ' + fmt(lab.mean()):>13} "
          f"{'0.500 ' + fmt(lab.mean()):>13} {'0.500 ' + fmt(lab.mean()):>13}")
    models = {}
    for name, cfg in variants(base).items():
        res = [discovery(m := train(train_all, cfg, s), syn_te) for s in args.seeds]
        models[name] = m
        cells = [f"{np.mean([r[p][0] for r in res]):.3f} {np.mean([r[p][1] for r in res]):.3f}"
                 for p in ("av", "al", "vl", "video")]
        print(f"   {name:<28} " + " ".join(f"{c:>13}" for c in cells))
    if not args.quick:
        print("\n   open choices, MC3 two-stage, AV score (ROC / PR) and video probe ROC:")
        for label, cfg in (("tau 0.05", replace(base, tau=0.05)), ("tau 0.2", replace(base, tau=0.2)),
                           ("anchor audio", replace(base, anchor="audio")),
                           ("anchor text", replace(base, anchor="text")),
                           ("calibration identity", replace(base, calibration="identity")),
                           ("consensus not detached", replace(base, detach_consensus=False)),
                           ("consensus weight 0.3", replace(base, consensus_weight=0.3))):
            res = [discovery(train(train_all, cfg, s), syn_te, ("av", "video")) for s in args.seeds]
            print(f"   {label:<28} AV {np.mean([r['av'][0] for r in res]):.3f} {np.mean([r['av'][1] for r in res]):.3f}"
                  f"   video {np.mean([r['video'][0] for r in res]):.3f}")
    if args.ablation_only:
        return

    loco_models = {}
    if real is not None:
        print("\n2. Sounding-action discovery, 12 real clips, leave-one-clip-out (pooled ROC-AUC / PR-AUC)")
        names = ["CMC (contrastive only)", "MC3 two-stage"] + ([] if args.quick else ["MC3 one-stage"])
        groups = sorted(set(real.groups))
        rl = real.labels[np.isfinite(real.labels)]
        print(f"   {'method':<28} {'AV':>13} {'AL':>13} {'VL':>13} {'video probe':>13}")
        print(f"   {'random':<28} " + " ".join(f"{'0.500 ' + fmt(rl.mean()):>13}" for _ in range(4)))
        from actiondubber.mc3.train import pr_auc, roc_auc, similarity_scores

        for name in names:
            cfg = variants(base)[name]
            scores = {p: [] for p in ("av", "al", "vl", "video")}
            labels = []
            for g in groups:
                te = real.subset([i for i, x in enumerate(real.groups) if x == g])
                tr = FeatureSet.concat([syn_tr, real.subset([i for i, x in enumerate(real.groups) if x != g])])
                m = train(tr, cfg, args.seeds[0])
                if name == "MC3 two-stage":
                    loco_models[g] = m
                keep = np.flatnonzero(np.isfinite(te.labels) & te.has_audio)
                te = te.subset(keep)
                labels.append(te.labels)
                for p in scores:
                    scores[p].append(similarity_scores(m, te, p))
            y = np.concatenate(labels)
            cells = [f"{roc_auc(y, np.concatenate(scores[p])):.3f} {pr_auc(y, np.concatenate(scores[p])):.3f}"
                     for p in scores]
            print(f"   {name:<28} " + " ".join(f"{c:>13}" for c in cells))

    print("\n3. detect --sounding-filter 0.5 (strict, one-to-one, ±2 frames, pooled over clips)")
    syn_clips = detector_clips(test_w, mc3_sets.events_file)
    for k, r in filter_prf(models["MC3 two-stage"], syn_clips).items():
        print(f"   synthetic  {k:<28} P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f}  ({r.n_est} events)")
    if loco_models:
        real_clips = detector_clips(real_w, mc3_sets.events_file)
        tot = {}
        for video, ev, gt in real_clips:
            for k, r in filter_prf(loco_models[Path(video).stem], [(video, ev, gt)]).items():
                tot[k] = r if k not in tot else tot[k] + r
        for k, r in tot.items():
            print(f"   real (LOCO) {k:<27} P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f}  ({r.n_est} events)")

    _retrieval(real_w, real, syn_te, syn_tr, train_all, base, args.seeds[0], models["MC3 two-stage"], loco_models)
    print(f"\ntotal {time.time() - t0:.0f} s")


def _retrieval(real_w, real, syn_te, syn_tr, train_all, base, seed, m=None, loco_models=None) -> None:
    """Section 4; trains the models it needs when not given."""
    from actiondubber.mc3.retrieve import load_library
    from actiondubber.mc3.train import FeatureSet

    m = m or train(train_all, base, seed)
    if loco_models is None and real is not None:
        loco_models = {}
        for g in sorted(set(real.groups)):
            tr = FeatureSet.concat([syn_tr, real.subset([i for i, x in enumerate(real.groups) if x != g])])
            loco_models[g] = train(tr, base, seed)
    print("\n4. Retrieval from a 21-sound library (top-1 / top-5 of the right kind)")
    lib_dir = build_library(real_w, mc3_sets.RESULTS / "library")
    lib = load_library(lib_dir, m)
    for k, (t1, t5, n) in retrieval_rows(m, syn_te, lib, {"synth-ball", "synth-disc", "synth-box"}, True).items():
        print(f"   synthetic   {k:<36} top-1 {t1:.3f} top-5 {t5:.3f}  ({n} collisions; chance 1/21, 5/21)")
    if loco_models:
        hits = {}
        for g, mg in loco_models.items():
            te = real.subset([i for i, x in enumerate(real.groups) if x == g])
            libg = load_library(lib_dir, mg)
            for k, (t1, t5, n) in retrieval_rows(mg, te, libg, {f"real-{g}"}).items():
                a = hits.setdefault(k, [0.0, 0.0, 0])
                a[0] += t1 * n
                a[1] += t5 * n
                a[2] += n
        for k, (h1, h5, n) in hits.items():
            print(f"   real (LOCO) {k:<36} top-1 {h1 / n:.3f} top-5 {h5 / n:.3f}  ({n} hits)")
        listening_proxy(real, loco_models, lib_dir)


def listening_proxy(real, loco_models, lib_dir: Path, seed: int = 0) -> None:
    """How much the chosen sound sounds like the real one: a machine stand-in for a listening check.

    For every sounding moment of a real clip, the clip's own hit is taken out of the library (no
    library holds the exact sound), a sound is chosen by each rule, and the chosen sound's aisfx
    embedding (the sound-effects network, before any head trained here) is compared with that of
    the clip's own soundtrack at that moment: mean cosine over moments, pooled over clips; the
    "best possible" row picks, per moment, the library sound nearest the real one (an upper bound).
    Not a human listening check.
    """
    from actiondubber.dubbing.library import load_sound_file, sound_files
    from actiondubber.mc3.features import audio_features_from_waves, sound_window
    from actiondubber.mc3.retrieve import load_library, video_audio_scores
    from actiondubber.mc3.words import class_probabilities, top_words
    from actiondubber.video.reader import probe

    files = sound_files(lib_dir)
    raw = audio_features_from_waves([sound_window(load_sound_file(f, 48000).samples, 48000, seed=i)
                                     for i, f in enumerate(files)], 48000)[:, :512]
    raw = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)
    names = [f.stem for f in files]
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {}
    for g, mg in loco_models.items():
        idx = [i for i, x in enumerate(real.groups) if x == g and real.labels[i] == 1 and real.has_audio[i]]
        if not idx:
            continue
        keep = [j for j, n in enumerate(names) if n != f"real-{g}"]
        te = real.subset(idx)
        lib = load_library(lib_dir, mg)
        words = []
        for w in te.windows:
            info = probe(w.video)
            words += top_words(class_probabilities(w.video, [info.frame_at(w.time)], info=info,
                                                   cache_dir=mc3_sets.CACHE))
        orig = te.audio[:, :512] / np.maximum(np.linalg.norm(te.audio[:, :512], axis=1, keepdims=True), 1e-9)
        sim = orig @ raw.T  # (moments, library sounds): how alike each library sound is to the real one
        choices = {"dub --auto (name weight 1)": video_audio_scores(mg, te.video, lib, words=words, name_weight=1.0),
                   "dub --auto --name-weight 0": video_audio_scores(mg, te.video, lib, words=words, name_weight=0.0)}
        for label, sc in choices.items():
            pick = [keep[int(np.argmax(r[keep]))] for r in sc]
            rows.setdefault(label, []).extend(sim[np.arange(len(pick)), pick])
        rows.setdefault("--sound knock (the default sound)", []).extend(sim[:, names.index("knock")])
        rows.setdefault("a random library sound", []).extend(sim[np.arange(len(idx)), rng.choice(keep, len(idx))])
        rows.setdefault("best possible (nearest library sound)", []).extend(sim[:, keep].max(axis=1))
    print("\n5. Listening proxy, real clips (the clip's own hit left out of the library): mean aisfx cosine of "
          "the chosen sound to the real one")
    for label, v in rows.items():
        print(f"   {label:<40} {np.mean(v):.3f}  ({len(v)} moments)")


if __name__ == "__main__":
    run_main(main)
