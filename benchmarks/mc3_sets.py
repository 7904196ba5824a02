"""The data sets of the MC3 scripts and what they share (``train_mc3_default.py``, ``bench_mc3.py``,
``bench_mc3_probe.py``): training, the filter's P/R/F1, the detector clips.

Synthetic clips are rendered once into ``benchmarks/results/mc3/synth`` and encoder outputs cached
in ``benchmarks/results/mc3/cache``, so reruns only train.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "mc3"
CACHE = RESULTS / "cache"
SYNTH = RESULTS / "synth"
REAL = (HERE.parent / ".." / "shared" / "data" / "real").resolve()
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real")
TRAIN_SEEDS = tuple(range(0, 28))  # 4 clips of each of the 7 scenes
TEST_SEEDS = tuple(range(1000, 1014))  # 2 of each, never trained on


def _bar(n: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=n, desc=desc, leave=False, disable=not sys.stderr.isatty())


def synthetic(seeds, desc: str = "synthetic clips"):
    from actiondubber.mc3.data import synthetic_set

    with _bar(len(seeds), desc) as bar:
        return synthetic_set(SYNTH, seeds, progress=bar.update)


def real():
    from actiondubber.mc3.data import real_set

    if not (REAL / "MANIFEST.csv").is_file():
        return []
    with _bar(12, "real clips") as bar:
        return real_set(REAL, progress=bar.update, events_dir=RESULTS / "real_events")


def events_file(video) -> Path:
    """Where the scripts keep a clip's detector events (beside a synthetic clip; real_events/ for real ones)."""
    v = Path(video)
    return v.with_suffix(".events.json") if v.parent == SYNTH else RESULTS / "real_events" / f"{v.stem}.events.json"


def features(windows, desc: str = "encoders"):
    import numpy as np

    from actiondubber.events import load_events
    from actiondubber.mc3.train import extract

    videos = {w.video for w in windows}
    curves = {}
    for v in videos:  # synthetic clips: the detector's curve from their events file (real ones: cached curves)
        if Path(v).parent == SYNTH and events_file(v).is_file():
            curves[v] = np.nan_to_num(load_events(events_file(v)).scores, nan=0.0)
    with _bar(len(videos), desc) as bar:
        return extract(windows, cache_dir=CACHE, progress=bar.update, curves=curves)


def train(fs, cfg, seed):
    """An MC3 model trained on *fs* with *cfg* (two stages, then the read-outs)."""
    from actiondubber.mc3.train import fit_readouts, train_mc3

    model, _ = train_mc3(fs, cfg, seed=seed)
    fit_readouts(model, fs)
    return model


def filter_prf(model, clips, threshold=0.5):
    """Pooled strict P/R/F1@±2 of detector events, without and with the sounding filter."""
    from actiondubber.evaluate.metrics import prf_frames
    from actiondubber.mc3.score import filter_events, sounding_probabilities

    tot = {"detector": None, "detector + sounding filter": None}
    for video, ev, gt in clips:
        probs, _ = sounding_probabilities(video, ev, model=model, mode="video", cache_dir=CACHE)
        kept, _ = filter_events(ev, probs, threshold)
        for k, e in (("detector", ev), ("detector + sounding filter", kept)):
            r = prf_frames(gt, [x.frame for x in e.events], k=2)
            tot[k] = r if tot[k] is None else tot[k] + r
    return tot


def detector_clips(windows, events_path_of):
    """(video, detector events, sounding frames) per clip of *windows*."""
    from actiondubber.events import load_events

    by = {}
    for w in windows:
        by.setdefault(w.video, []).append(w)
    out = []
    for video, ws in by.items():
        ev = load_events(events_path_of(video))
        gt = sorted({ev.video.frame_at(w.time) for w in ws if w.sounding == 1.0})
        out.append((video, ev, gt))
    return out
