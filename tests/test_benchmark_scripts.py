"""The benchmark scripts' own behaviour: one line and a non-zero exit on bad input, and the second
synthetic family's extra scenes (``make_synth2_set.py --scenes``)."""

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


@pytest.mark.parametrize("script", ["bench_cuts.py", "bench_end_repeats.py", "bench_vfr.py", "bench_loo.py"])
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
