"""A PNG plot of the per-frame score curve with the picked events (and ground truth)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actiondubber.fileio import atomic_output
from actiondubber.types import Events


def plot_curve(
    ev: Events,
    out: str | os.PathLike,
    *,
    truth: Sequence[int] | None = None,
    title: str | None = None,
    tolerance: int = 2,
) -> Path:
    """Draw ``ev.scores`` over time, mark events (and *truth* frames) and save a PNG atomically.

    With *truth*, events within ±*tolerance* frames of a true frame are drawn
    green, the others red, so misses and false alarms are visible at a glance.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    v = ev.video
    n = len(ev.scores)
    t = np.array([v.time_of(i) for i in range(n)]) if n else np.zeros(0)
    fig, ax = plt.subplots(figsize=(12, 3.2), dpi=100)
    try:
        ax.plot(t, ev.scores, color="#3465a4", lw=1.2, label=ev.params.get("kind", "score"))
        tset = sorted(set(int(f) for f in truth)) if truth is not None else None
        if tset is not None:
            for k, f in enumerate(tset):
                ax.axvline(v.time_of(f), color="#888888", ls="--", lw=1, label="ground truth" if k == 0 else None)
        hit_lab = miss_lab = False
        for e in ev.events:
            good = tset is None or any(abs(e.frame - f) <= tolerance for f in tset)
            color = "#2e7d32" if good else "#c62828"
            label = None
            if good and not hit_lab:
                label, hit_lab = ("event" if tset is None else f"event (within ±{tolerance} of truth)"), True
            elif not good and not miss_lab:
                label, miss_lab = "event (no truth nearby)", True
            ax.plot([v.time_of(e.frame)], [ev.scores[e.frame] if e.frame < n else e.score], "v", color=color, ms=8,
                    label=label)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("strength")
        ax.set_xlim(0, max(v.duration, t[-1] if n else 1.0))
        ax.set_title(title or f"{Path(v.path).name}: {len(ev)} events")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: ("no truth" in labels[i], i))  # hits before misses
        # Outside the axes, right of the plot: inside, it hid the events of the last seconds.
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left",
                  bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0, fontsize=8)
        fig.tight_layout()
        with atomic_output(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(out)
