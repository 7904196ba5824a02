"""What the held-out accuracy benchmarks share: the labelled sets, the cached strength curves, the summary.

``bench_loo.py`` and ``bench_verifier.py`` read the same per-clip curves from one cache (``cached``), so a
curve computed by one is reused by the other.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from common import VIDEO_EXT

from actiondubber.detection.detector import DetectorParams, StrengthCurve, events_from_curve
from actiondubber.evaluate.labels import read_labels
from actiondubber.evaluate.metrics import evaluate

#: Bump when the cached objects' meaning changes.
CACHE_VERSION = 4
TOL = (1, 2, 3)

#: The grid over the peak picker's knobs (re-picked from cached curves: cheap).
PICK_GRID = {
    "sensitivity": (0.3, 0.4, 0.5, 0.6, 0.7),
    "min_gap": (0.067, 0.1, 0.15, 0.2),
    "floor": (0.3, 0.45, 0.6, 0.8, 1.0),
    "frame_offset": (0, 1),
}
#: The grid over the knobs that need the flow again (cached per clip).
CURVE_GRID = {"short_side": (128, 192)}


def shift_curve(curve: StrengthCurve, offset: int) -> StrengthCurve:
    """The curve as ``frame_offset=offset`` would index it (computed with offset 0)."""
    if offset == 0:
        return curve
    n = curve.scores.size
    sc = np.zeros_like(curve.scores)
    sx = np.full(n, np.nan)
    sy = np.full(n, np.nan)
    sc[offset:] = curve.scores[: n - offset]
    sx[offset:] = curve.xs[: n - offset]
    sy[offset:] = curve.ys[: n - offset]
    return replace(curve, scores=sc, xs=sx, ys=sy)


class CurveMethod:
    """The shipped detector: one frame-level strength curve, peaks picked on it.

    Both methods cache the same object (region candidates plus the frame-level curve, which is
    exactly :func:`strength_curve`'s), so one pass of flow serves both.
    """

    name = "default"
    cache_name = "objects"
    curve_grid = CURVE_GRID
    pick_grid = PICK_GRID

    def compute(self, path: Path, ccfg: dict):
        from actiondubber.detection.objects import object_candidates

        return object_candidates(path, DetectorParams(**ccfg, frame_offset=0))

    def events(self, obj, ccfg: dict, pcfg: dict):
        p = DetectorParams(**ccfg, **pcfg)
        curve = obj if isinstance(obj, StrengthCurve) else obj.curve
        return events_from_curve(shift_curve(curve, p.frame_offset), p)

    def pick(self, obj, ccfg: dict, pcfg: dict) -> list[int]:
        return [e.frame for e in self.events(obj, ccfg, pcfg).events]


def load_set(videos: Path, labels: Path) -> list[tuple[str, Path, tuple[int, ...], str]]:
    lab = read_labels(labels).videos
    out = []
    for p in sorted(videos.iterdir()):
        if p.suffix.lower() in VIDEO_EXT and p.stem in lab:
            out.append((p.stem, p, lab[p.stem].frames, lab[p.stem].label_class))
    return out


def cached(method, path: Path, ccfg: dict, cache: Path):
    st = path.stat()
    # The detector's defaults are part of the key: a knob left at its default is not in *ccfg*, and a
    # changed default must not reuse curves measured under the old one.
    key = json.dumps([CACHE_VERSION, method.cache_name, str(path.resolve()), st.st_size, int(st.st_mtime), ccfg,
                      asdict(DetectorParams())], sort_keys=True, default=str)
    f = cache / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".pkl")
    if f.is_file():
        with f.open("rb") as fh:
            return pickle.load(fh)
    obj = method.compute(path, ccfg)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(obj, fh)
    tmp.replace(f)
    return obj


def f1_of(vs, k: int = 2) -> float:
    return vs.strict[f"{k}f"].f1


def summary(rows: list, label: str) -> tuple[str, dict]:
    """One line per tolerance: mean, min, max, std over folds; plus paper R/P/F1 (mean over clips)."""
    agg = evaluate(rows)
    out = {"label": label, "n": len(rows)}
    parts = []
    for k in TOL:
        v = np.array([f1_of(r, k) for r in rows])
        out[f"f1_{k}"] = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()),
                          "std": float(v.std())}
        parts.append(f"F1@±{k} {v.mean():.3f} [min {v.min():.3f} max {v.max():.3f} sd {v.std():.3f}]")
    pooled = agg.strict_pooled["2f"].f1
    out["pooled_f1_2"] = pooled
    out["paper"] = {"recall": agg.paper.recall, "precision": agg.paper.precision, "f1": agg.paper.f1,
                    "nme": agg.nme, "pme": agg.pme, "mae": agg.mae, "obo": agg.obo}
    line = (f"{label:44s} " + "  ".join(parts) + f"  pooled2 {pooled:.3f}  paper R/P/F1 "
            f"{agg.paper.recall:.3f}/{agg.paper.precision:.3f}/{agg.paper.f1:.3f}  MAE {agg.mae:.3f} OBO {agg.obo:.3f}")
    return line, out
