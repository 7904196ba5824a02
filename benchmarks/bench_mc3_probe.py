"""Which windows the ``sounding`` video probe is fitted on, judged by ``detect --sounding-filter 0.5``.

The shipped recipe fits the probe on every labelled window: sounding moments, the detector's events
away from every sound, and random moments. The filter only ever meets detector events, so this
script also fits it without the random moments, on the same trained heads, and prints the pooled
strict P/R/F1@±2 of the detector without and with the filter, for the held-out synthetic clips (the
model of ``bench_mc3.py`` section 1) and for the real clips (each scored by the leave-one-clip-out
model that never saw it). Reads the encoder outputs ``bench_mc3.py`` caches (about 5 min once cached).

    python benchmarks/bench_mc3_probe.py
"""

from __future__ import annotations

import time
from pathlib import Path

import mc3_sets
import numpy as np
from common import run_main
from mc3_sets import detector_clips, filter_prf, train


def random_moments(fs) -> np.ndarray:
    """True for the silent windows that are not at one of the detector's events."""
    from actiondubber.events import load_events

    out = np.zeros(len(fs), bool)
    seen: dict = {}
    for i, w in enumerate(fs.windows):
        if w.sounding != 0.0:
            continue
        if w.video not in seen:
            ev = load_events(mc3_sets.events_file(w.video))
            seen[w.video] = (ev.video, {e.frame for e in ev.events})
        info, frames = seen[w.video]
        out[i] = info.frame_at(w.time) not in frames
    return out


def refit_probe(model, fs, *, without_random: bool) -> None:
    """The read-outs fitted again (as training does), on all windows or without the random moments."""
    from actiondubber.mc3.train import fit_readouts

    fit_readouts(model, fs.subset(np.flatnonzero(~random_moments(fs))) if without_random else fs)


def fmt(r) -> str:
    return f"P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f} ({r.n_est} events)"


def main() -> None:
    from actiondubber.mc3.config import MC3Config
    from actiondubber.mc3.train import FeatureSet

    t0 = time.time()
    syn_tr = mc3_sets.features(mc3_sets.synthetic(mc3_sets.TRAIN_SEEDS), "synthetic train")
    test_w = mc3_sets.synthetic(mc3_sets.TEST_SEEDS, "synthetic test clips")
    real_w = mc3_sets.real()
    real = mc3_sets.features(real_w, "real")
    train_all = FeatureSet.concat([syn_tr, real])
    cfg = MC3Config()
    model = train(train_all, cfg, 0)
    loco = {}
    for g in sorted(set(real.groups)):
        tr = FeatureSet.concat([syn_tr, real.subset([i for i, x in enumerate(real.groups) if x != g])])
        loco[g] = (train(tr, cfg, 0), tr)
    syn_clips = detector_clips(test_w, mc3_sets.events_file)
    real_clips = detector_clips(real_w, mc3_sets.events_file)
    for label, without in (("probe on all labelled windows (shipped recipe)", False),
                           ("probe without the random moments", True)):
        print(label)
        refit_probe(model, train_all, without_random=without)
        for k, r in filter_prf(model, syn_clips).items():
            print(f"   synthetic    {k:<28} {fmt(r)}")
        tot: dict = {}
        for video, ev, gt in real_clips:
            m, tr = loco[Path(video).stem]
            refit_probe(m, tr, without_random=without)
            for k, r in filter_prf(m, [(video, ev, gt)]).items():
                tot[k] = r if k not in tot else tot[k] + r
        for k, r in tot.items():
            print(f"   real (LOCO)  {k:<28} {fmt(r)}")
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    run_main(main)
