"""An image-patch verifier over the default detector's candidates, under leave-one-clip-out (issue 11).

Tried and not shipped. The kinematic detector proposes candidates at high recall (the default
two-scale detector at sensitivity 0.8 and floor 0.3). Each candidate's crop, centred on its sound
source and half the short side wide, is cut from frames i−2, i and i+2 and read by EfficientNet-Lite0
with ImageNet weights. The features are the frame-i features and the change from i−2 to i+2, reduced
by PCA fitted on the training clips, plus the candidate's strength, its ratio to the clip's 99th
percentile, and whether the default detector picks it. An L2 logistic model then keeps or drops the
candidate. For each held-out real clip, the model is fitted on the other clips, and the threshold is
chosen by an inner leave-one-out over those other clips, so the held-out clip is never seen.
``--with-synth DIR`` adds a synthetic family (exact labels) to every training set.

    python benchmarks/bench_image_verifier.py [--with-synth benchmarks/results/synth] [--pca 32] [--l2 10]

Printed: per fold the held-out strict F1@±2 of the verifier and of the default detector, then
the mean over folds at ±1/±2/±3 and the Greatest Hits human key. Curves and features are cached
under ``--out`` (default benchmarks/results/image_verifier).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from common import REAL, RESULTS, labelled_videos, require, run_main

from actiondubber.detection.detector import DEFAULT_DETECTOR, events_from_curve, frame_curve
from actiondubber.detection.verifier import fit
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import evaluate_video
from actiondubber.mc3.encoders import image_features
from actiondubber.peaks import keep_apart
from actiondubber.video import iter_frames

#: High-recall candidates: the default detector, more sensitive and with a lower floor.
CANDIDATES = replace(DEFAULT_DETECTOR, sensitivity=0.8, floor=0.3, frame_offset=0)
OFFSETS = (-2, 0, 2)  # frames read around each candidate
CROP = 0.5  # crop side, fraction of the short side
TAUS = np.round(np.linspace(0.1, 0.9, 17), 3)
TOL = (1, 2, 3)


def clip_data(vid: str, path: Path, cache: Path) -> dict:
    """Candidates of one clip with their image and kinematic features (cached)."""
    st = path.stat()
    key = json.dumps([str(path.resolve()), st.st_size, int(st.st_mtime), repr(CANDIDATES), OFFSETS, CROP])
    f = cache / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".pkl")
    if f.is_file():
        with f.open("rb") as fh:
            return pickle.load(fh)
    curve = frame_curve(path, replace(DEFAULT_DETECTOR, frame_offset=0))
    cands = list(events_from_curve(curve, CANDIDATES).events)
    picked = {e.frame for e in events_from_curve(curve, DEFAULT_DETECTOR).events}
    want = {e.frame + d for e in cands for d in OFFSETS}
    images = {fr.index: fr.image for fr in iter_frames(path, short_side=None, pix_fmt="rgb24") if fr.index in want}
    crops = []
    for e in cands:
        for d in OFFSETS:
            im = images.get(e.frame + d, images[e.frame])
            h, w = im.shape[:2]
            s = int(CROP * min(h, w))
            x = int(np.clip((w / 2 if e.x is None else e.x) - s / 2, 0, w - s))
            y = int(np.clip((h / 2 if e.y is None else e.y) - s / 2, 0, h - s))
            crops.append(cv2.resize(im[y:y + s, x:x + s], (112, 112), interpolation=cv2.INTER_AREA))
    img = image_features(np.array(crops)).reshape(len(cands), len(OFFSETS), -1) if cands else np.zeros((0, 3, 1280))
    q99 = float(np.percentile(curve.scores, 99)) + 1e-6
    kin = np.array([[math.log1p(e.score), e.score / q99, float(e.frame in picked)] for e in cands]).reshape(-1, 3)
    out = {"vid": vid, "frames": np.array([e.frame for e in cands], int), "fps": curve.info.frame_rate,
           "image": np.concatenate([img[:, 1], img[:, 2] - img[:, 0]], axis=1), "kin": kin,
           "default": sorted(picked)}
    cache.mkdir(parents=True, exist_ok=True)
    with f.open("wb") as fh:
        pickle.dump(out, fh)
    return out


def labelled(sets, cache: Path) -> list[dict]:
    clips = []
    for videos, labels in sets:
        rows = read_labels(labels).videos
        for vid, path in labelled_videos(videos, set(rows)).items():
            c = clip_data(vid, path, cache)
            c["truth"] = rows[vid].frames
            c["y"] = np.array([min((abs(int(f) - r) for r in c["truth"]), default=99) <= 2 for f in c["frames"]], float)
            clips.append(c)
            print(f"  {vid}: {len(c['frames'])} candidates", flush=True)
    return clips


class Model:
    """PCA of the image features (fitted on the training rows) + kinematic features → L2 logistic."""

    def __init__(self, train: list[dict], k: int, l2: float) -> None:
        x = np.concatenate([c["image"] for c in train])
        self.mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.basis = vt[:k].T
        feats = np.concatenate([self._feats(c) for c in train])
        y = np.concatenate([c["y"] for c in train])
        self.lr = fit(feats, y, l2=l2)

    def _feats(self, c: dict) -> np.ndarray:
        return np.concatenate([(c["image"] - self.mean) @ self.basis, c["kin"]], axis=1)

    def proba(self, c: dict) -> np.ndarray:
        return self.lr.proba(self._feats(c)) if len(c["frames"]) else np.zeros(0)


def select(c: dict, p: np.ndarray, tau: float) -> list[int]:
    keep = p >= tau
    if not keep.any():
        return []
    frames = c["frames"][keep]
    strength = np.zeros(int(frames.max()) + 1)
    strength[frames] = p[keep]
    gap = max(3, math.ceil(DEFAULT_DETECTOR.min_gap * c["fps"] - 1e-9))
    return [int(f) for f in keep_apart(np.sort(frames), gap, strength=strength)]


def f1(truth, est, k: int = 2) -> float:
    return evaluate_video(truth, est, tolerances=(k,)).strict[f"{k}f"].f1


def line(label: str, rows: list[tuple]) -> str:
    parts = []
    for k in TOL:
        v = np.array([f1(t, e, k) for t, e in rows])
        parts.append(f"F1@±{k} {v.mean():.3f} [min {v.min():.3f} max {v.max():.3f} sd {v.std():.3f}]")
    return f"{label:40s} " + "  ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=REAL)
    ap.add_argument("--labels", type=Path, default=None, help="default: VIDEOS/labels_audio_onsets.csv")
    ap.add_argument("--human", type=Path, default=None, help="default: VIDEOS/labels_human_greatesthits.csv")
    ap.add_argument("--with-synth", type=Path, default=None, help="a synthetic family added to every training set")
    ap.add_argument("--pca", type=int, default=32)
    ap.add_argument("--l2", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=RESULTS / "image_verifier")
    args = ap.parse_args()
    labels = require(args.labels or args.videos / "labels_audio_onsets.csv", "labels")
    cache = args.out / "cache"
    real = labelled([(args.videos, labels)], cache)
    extra = labelled([(args.with_synth, args.with_synth / "labels.csv")], cache) if args.with_synth else []
    human = args.human or args.videos / "labels_human_greatesthits.csv"
    hkey = read_labels(human).videos if human.is_file() else {}

    def model(train: list[dict]) -> Model:
        return Model(train + extra, args.pca, args.l2)

    rows, base, hrows, hbase, out = [], [], [], [], []
    print(f"\nleave-one-clip-out over {len(real)} clips (PCA {args.pca}, L2 {args.l2}"
          f"{', + ' + str(args.with_synth) if extra else ''}): held-out strict F1@±2, verifier / default detector")
    for j, c in enumerate(real):
        train = [real[i] for i in range(len(real)) if i != j]
        inner = np.zeros(len(TAUS))
        for ci in train:  # the threshold, by leave-one-out over the training clips
            p = model([t for t in train if t is not ci]).proba(ci)
            inner += [f1(ci["truth"], select(ci, p, t)) for t in TAUS]
        tau = float(TAUS[int(np.argmax(inner))])
        est = select(c, model(train).proba(c), tau)
        rows.append((c["truth"], est))
        base.append((c["truth"], c["default"]))
        msg = f"  {c['vid']:36s} tau {tau:.2f}  {f1(c['truth'], est):.3f} / {f1(c['truth'], c['default']):.3f}"
        if c["vid"] in hkey:
            hrows.append((hkey[c["vid"]].frames, est))
            hbase.append((hkey[c["vid"]].frames, c["default"]))
            msg += f"  human key {f1(hrows[-1][0], est):.3f} / {f1(hbase[-1][0], c['default']):.3f}"
        print(msg, flush=True)
        out.append({"clip": c["vid"], "tau": tau, "f1_2": f1(c["truth"], est),
                    "default_f1_2": f1(c["truth"], c["default"])})
    print()
    print(line("image verifier, leave-one-clip-out", rows))
    print(line("default detector (fixed settings)", base))
    if hrows:
        print(line("image verifier, human key", hrows))
        print(line("default detector, human key", hbase))
    args.out.mkdir(parents=True, exist_ok=True)
    name = "real" + ("_with_" + args.with_synth.name if extra else "")
    (args.out / f"{name}.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_main(main)
