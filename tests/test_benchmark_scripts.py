"""The benchmark scripts' own behaviour: one line and a non-zero exit on bad input, and the second
synthetic family's extra scenes (``make_synth2_set.py --scenes``), the variants of
``bench_robustness.py`` and the sweep of ``bench_sensitivity.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("script", ["bench_cuts.py", "bench_end_repeats.py", "bench_vfr.py", "bench_loo.py",
                                    "bench_robustness.py"])
def test_missing_labels_file_gives_one_line(tmp_path, script):
    r = _run(script, "--videos", str(tmp_path), "--labels", str(tmp_path / "nope.csv"))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "nope.csv" in lines[0]


def test_run_main_turns_library_errors_into_one_line(tmp_path):
    """``common.run_main`` itself: an InputError raised by a script's main is one line, exit 2."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(BENCH)!r})\n"
        "from common import run_main\n"
        "from actiondubber.errors import InputError\n"
        "def main():\n"
        "    raise InputError('clip.mp4: not a video')\n"
        "run_main(main)\n"
    )
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "probe.py: clip.mp4: not a video"


def test_synth2_extra_scenes(tmp_path):
    out = tmp_path / "x"
    r = _run("make_synth2_set.py", str(out), "--n", "3", "--seconds", "1.2", "--scenes", "far,dense,steps",
             timeout=300)
    assert r.returncode == 0, r.stderr
    from actiondubber.evaluate.labels import read_labels
    from actiondubber.video import probe

    lf = read_labels(out / "labels.csv")
    assert set(lf.videos) == {"s2_000_far", "s2_001_dense", "s2_002_steps"}
    assert [lf.videos[v].label_class for v in sorted(lf.videos)] == ["far", "dense", "steps"]
    assert probe(out / "s2_000_far.mp4").width == 960  # the wide shot is rendered large
    dense = lf.videos["s2_001_dense"].frames
    assert len(dense) >= 4  # two arms, a stroke every 0.22-0.4 s each, in 1.2 s
    for v in lf.videos.values():
        n = probe(out / f"{v.video_id}.mp4").n_frames
        assert all(0 <= f < n for f in v.frames)


def test_synth2_unknown_scene(tmp_path):
    r = _run("make_synth2_set.py", str(tmp_path / "x"), "--n", "1", "--scenes", "bounce")
    assert r.returncode == 2
    assert "unknown scene" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x" / "labels.csv").exists()


def _one_clip_set(folder: Path) -> Path:
    """*folder* holding one 3 s synthetic clip ``c.mp4`` (bounces) and its exact key ``labels.csv``."""
    from actiondubber.evaluate.labels import write_labels
    from actiondubber.synth import render_clip

    folder.mkdir()
    clip = render_clip(folder / "c.mp4", seconds=3.0, fps=25, size=(160, 120), seed=3, preset="ultrafast")
    write_labels(folder / "labels.csv", {"c": list(clip.collision_frames)})
    return folder


def test_robustness_unknown_variant(tmp_path):
    r = _run("bench_robustness.py", "--variants", "mirror,sepia", "--out", str(tmp_path / "r"))
    assert r.returncode != 0
    assert "unknown variant(s) sepia" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r").exists()


def test_robustness_variants_on_a_labelled_clip(tmp_path):
    """Two variants of one synthetic clip: each file keeps the frame count and rate, its picture is the
    change asked for, and the scores land in the results file; the mirrored clip's events stay near the
    original's (the detector has no left/right preference)."""
    import json

    import numpy as np

    from actiondubber.video import iter_frames, probe

    vids = _one_clip_set(tmp_path / "v")
    out = tmp_path / "r"
    r = _run("bench_robustness.py", "--videos", str(vids), "--labels", str(vids / "labels.csv"), "--human", "",
             "--preset", "fastest", "--variants", "mirror,half", "--out", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    src = [f.image for f in iter_frames(vids / "c.mp4", short_side=None)]
    for name, size in (("mirror", (160, 120)), ("half", (80, 60))):
        f = out / "videos" / "v" / name / "c.mp4"  # per set: two sets may share clip names
        info = probe(f)
        assert (info.width, info.height) == size and info.n_frames == len(src)
        assert abs(info.fps - 25) < 1e-6
    first = next(iter(iter_frames(out / "videos" / "v" / "mirror" / "c.mp4", short_side=None))).image
    assert np.abs(first.astype(int) - src[0][:, ::-1]).mean() < 4  # mirrored (up to the codec's loss)
    assert np.abs(first.astype(int) - src[0]).mean() > np.abs(first.astype(int) - src[0][:, ::-1]).mean() + 2
    res = json.loads((out / "v_fastest_mirror-half.json").read_text())
    rows = res["variants"]
    assert set(rows) == {"original", "mirror", "half"}
    assert rows["original"]["same"] == 1.0
    assert rows["mirror"]["same"] >= 0.6
    assert 0.0 <= rows["half"]["key"] <= 1.0


def test_sensitivity_sweep_on_a_labelled_clip(tmp_path):
    """The sweep prints one row per sensitivity for the set, marks the shipped value and writes the plot."""
    vids = _one_clip_set(tmp_path / "v")
    png = tmp_path / "s.png"
    r = _run("bench_sensitivity.py", "--no-real", "--set", f"tiny={vids}", "--preset", "fastest", "--png", str(png))
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("sensitivity ")]
    assert len(rows) == 21 and rows[0].split()[1] == "0.00" and rows[-1].split()[1] == "1.00"
    assert sum("<- shipped" in ln for ln in rows) == 1 and "0.50" in next(ln for ln in rows if "shipped" in ln)
    f1 = [float(ln.split("F1 ")[1].split()[0]) for ln in rows]
    assert all(0.0 <= x <= 1.0 for x in f1) and max(f1) > 0.5  # the clip's bounces are found at some setting
    assert png.is_file() and png.stat().st_size > 10_000


def test_sensitivity_bad_set(tmp_path):
    r = _run("bench_sensitivity.py", "--no-real", "--set", str(tmp_path))
    assert r.returncode != 0 and "--set wants NAME=DIR" in r.stderr and "Traceback" not in r.stderr
