"""What the benchmark scripts share: where the data is, which files are videos, the labelled clips.

Benchmarks import actiondubber as installed (``make install`` puts it in ``.venv`` in editable mode)
and this module from their own folder; none edits ``sys.path`` or imports another script's names.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from actiondubber.evaluate.metrics import PRF, evaluate_video, match_events

ROOT = Path(__file__).resolve().parents[1]
#: The real clips with sound (never copied into the repository).
REAL = ROOT.parent / "shared" / "data" / "real"
#: The human-annotated key of 5 of the real clips (Greatest Hits), the check on the soundtrack key's lag.
HUMAN_KEY = REAL / "labels_human_greatesthits.csv"
RESULTS = ROOT / "benchmarks" / "results"
VIDEO_EXT = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


def labelled_videos(folder: Path, ids: set[str]) -> dict[str, Path]:
    """``{video id: path}`` for the videos in *folder* whose file stem is one of *ids*."""
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_EXT and p.stem in ids}


#: ``--fast`` in the scripts that offer it: the single-scale detector over the default (as the CLI's ``--fast``).
FAST_OVERRIDES = {"multiscale": 0, "abrupt": 0.0, "sensitivity": 0.5}


def strict_f1(true: list[int], pred: list[int], tol: int = 2) -> float:
    """Strict F1@±*tol* of one clip: one-to-one matches within *tol* frames (1.0 when both are empty)."""
    m = len(match_events(true, pred, tol))
    return 2 * m / (len(true) + len(pred)) if true or pred else 1.0


def labelled_set(videos: Path, labels: Path | None, minimum: int = 1):
    """``(label file, [(video id, path), ...] sorted)`` of the labelled videos in *videos* (*labels*
    default ``VIDEOS/labels_audio_onsets.csv``), or exit with one line when fewer than *minimum*."""
    from actiondubber.evaluate.labels import read_labels

    lf = read_labels(labels or videos / "labels_audio_onsets.csv")
    clips = sorted(labelled_videos(videos, set(lf.videos)).items())
    if len(clips) < minimum:
        print(f"fewer than {minimum} labelled video(s) in {videos}", file=sys.stderr)
        raise SystemExit(1)
    return lf, clips


def run_main(main) -> None:
    """Run a benchmark's *main* and exit with its status. The library's errors on bad input (a missing
    labels file, a video that cannot be read, a bad option) give one line on stderr and exit 2, as the
    ``actiondubber`` CLI does, not a traceback."""
    from actiondubber.errors import ActionDubberError

    try:
        code = main()
    except ActionDubberError as exc:
        print(f"{Path(sys.argv[0]).name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{Path(sys.argv[0]).name}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)


def require(path: Path, what: str) -> Path:
    """*path*, or exit with one line when it is missing (e.g. ``../shared`` is not beside the checkout)."""
    if not path.exists():
        print(f"{what} not found: {path} (is ../shared present?)", file=sys.stderr)
        raise SystemExit(2)
    return path


def fmt(x) -> str:
    """A figure for a table: three decimals, or a dash for None/NaN."""
    return "  -  " if x is None or x != x else f"{x:.3f}"


def run_logged(cmd: list[str], log: Path, what: str) -> None:
    """Run *cmd* with its output in *log*; stop the benchmark naming *what* and the log if it fails."""
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise SystemExit(f"{what} failed (exit {proc.returncode}); see {log}")


def make_synth_set(folder: Path, seed: int, n: int) -> Path:
    """The labels CSV of a synthetic set made by ``make_synth_set.py`` (made once, then reused)."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        cmd = [sys.executable, str(ROOT / "benchmarks" / "make_synth_set.py"), str(folder), "--seed", str(seed),
               "--n", str(n)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return labels


def run_methods(set_name: str, videos: Path, labels: Path, lm, out: Path, cache: Path,
                methods: tuple[str, ...] = ("ta2net", "training-free"), tag: str = "") -> list[tuple]:
    """Run TA²Net (*lm*, a loaded checkpoint) and/or the training-free detector on every labelled video;
    one row per method: (name, strict F1@±2 mean, pooled, paper R, P, F1, NME, PME, frames/s).
    Events are scored in memory; their JSON files are kept under *out* for inspection."""
    from actiondubber.detection.detector import DetectorParams, events_from_curve, strength_curve
    from actiondubber.evaluate import read_labels, score
    from actiondubber.events import save_events
    from actiondubber.model.infer import detect_with_model

    lab = read_labels(labels)
    files = labelled_videos(videos, set(lab.videos))
    rows = []
    for method in methods:
        d = out / "pred" / set_name / (method + tag)
        d.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        frames = 0
        found = {}
        for vid, path in sorted(files.items()):
            if method == "ta2net":
                ev = detect_with_model(path, lm, cache_dir=cache)
            else:
                params = DetectorParams()
                ev = events_from_curve(strength_curve(path, params), params)
            frames += ev.video.n_frames
            found[vid] = ev
            save_events(ev, d / f"{vid}.json")
        dt = time.perf_counter() - t0
        agg = score(found, lab).aggregate
        pooled = agg.strict_pooled.get("2f")
        rows.append((f"{set_name}: {method}", agg.strict_mean["2f"][2], pooled.f1 if pooled else None,
                     agg.paper.recall, agg.paper.precision, agg.paper.f1, agg.nme, agg.pme, frames / dt))
    return rows


def scores(pred: list[list[int]], truth: list[tuple[int, ...]], tolerances=(1, 2, 3)) -> dict:
    """Pooled strict F1 at each of *tolerances* (frames; ``F1@k``) and the mean signed error (frames, + = late) of
    the matches at the largest one (``bias``), over clips given as parallel lists of predicted and true frames."""
    out = {}
    for k in tolerances:
        tot = PRF(0, 0, 0)
        for p, t in zip(pred, truth, strict=True):
            tot = tot + evaluate_video(t, p, tolerances=(k,)).strict[f"{k}f"]
        out[f"F1@{k}"] = tot.f1
    k = max(tolerances)
    d = [p[j] - t[i] for p, t in zip(pred, truth, strict=True) for i, j in match_events(list(t), list(p), k)]
    out["bias"] = float(np.mean(d)) if d else float("nan")
    return out
