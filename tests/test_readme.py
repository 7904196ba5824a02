"""Every example command line in the README runs as written (the cheap ones, on generated media).

The README's code blocks are read, each ``actiondubber ...`` line is taken as written (optional
``[...]`` parts included, ``clips/*.mp4`` expanded), and run in a fresh copy of a folder holding the
files the examples name (``clip.mp4`` with sound, ``labels.csv``, ``events.json``, ``my_foley/`` ...).
Outputs a line writes are removed from its copy first, so each line starts as a user would. Lines that
need hours or other hardware (training, a trained checkpoint, a server, a Ray cluster) or that hold a
placeholder (``...``, ``DIR``) are listed as skipped, by rule, never silently.
"""

from __future__ import annotations

import glob
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from actiondubber.cli import cli
from actiondubber.detection.detector import detect
from actiondubber.evaluate.labels import write_labels
from actiondubber.events import save_events
from actiondubber.synth import render_clip

ROOT = Path(__file__).resolve().parents[1]

#: Why a README line is not run here (checked in order; the first that matches is the reason).
SKIP_RULES = (
    ("...", "placeholder"),
    (" DIR", "placeholder"),
    ("train", "training takes hours (tested in test_train.py)"),
    ("--model", "needs a trained checkpoint (tested in test_infer.py)"),
    ("serve", "starts a server (tested in test_web_*.py)"),
    ("--engine ray", "starts Ray (tested in test_batch.py)"),
    ("torchrun", "several processes (tested in test_train.py)"),
)
#: Options whose value is a file or folder the command writes.
OUTPUT_FLAGS = {"-o", "--output", "--json", "--csv", "--plot", "--otio", "--edl", "--fcpxml", "--audacity", "--srt",
                "--vtt", "--png", "--labels-out", "--report", "--out-dir", "--save-events", "--maps"}


def readme_commands() -> list[str]:
    lines, inside = [], False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if inside and (line.startswith("actiondubber ") or line.startswith("torchrun ")):
            lines.append(line.split("  #")[0].strip())
    return lines


COMMANDS = readme_commands()


def _skip_reason(line: str) -> str | None:
    for needle, why in SKIP_RULES:
        if needle in line:
            return why
    return None


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    render_clip(d / "clip.mp4", seconds=8.0, fps=25, size=(128, 96), seed=5, preset="ultrafast")
    ev = detect(d / "clip.mp4")
    save_events(ev, d / "events.json")
    from actiondubber.dubbing import dub

    dub(d / "clip.mp4", d / "clip_dubbed.mp4", ev)  # what the README's dub line made before the preview line
    write_labels(d / "labels.csv", {"clip": list(ev.frames)})
    (d / "clips").mkdir()
    shutil.copy(d / "clip.mp4", d / "clips" / "clip.mp4")
    (d / "footage").mkdir()
    shutil.copy(d / "clip.mp4", d / "footage" / "clip.mp4")
    (d / "list.txt").write_text(str(d / "clip.mp4") + "\n")
    (d / "paths.txt").write_text(str(d / "clip.mp4") + "\n")
    (d / "my_foley").mkdir()
    from scipy.io import wavfile

    from actiondubber.dubbing.sounds import synthesize

    snd = synthesize("knock", 48000)
    wavfile.write(d / "my_foley" / "knock.wav", 48000, snd.samples.T.astype("float32"))
    shutil.copytree(d / "my_foley", d / "foley")
    (d / "foley" / "footsteps_on_gravel.wav").write_bytes((d / "foley" / "knock.wav").read_bytes())
    # the ActivityNet-format segment files the localisation examples read
    import json

    (d / "anno.json").write_text(json.dumps({"database": {"clip": {"duration": 8.0, "subset": "validation",
                                 "annotations": [{"segment": [1.0, 2.0], "label": "bounce"}]}}}))
    (d / "segs.json").write_text(json.dumps({"results": {"clip": [{"segment": [1.1, 2.0], "label": "bounce",
                                                                  "score": 0.9}]}}))
    return d


def test_readme_has_examples():
    assert len(COMMANDS) >= 20
    runnable = [c for c in COMMANDS if _skip_reason(c) is None]
    assert len(runnable) >= 15, runnable


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_example_runs(line, base, tmp_path, monkeypatch):
    why = _skip_reason(line)
    if why:
        pytest.skip(why)
    work = tmp_path / "w"
    shutil.copytree(base, work)
    monkeypatch.chdir(work)
    argv = shlex.split(line.replace("[", "").replace("]", "").replace("~/", ""))[1:]  # ~/x: the user's x, here
    expanded: list[str] = []
    for a in argv:
        hits = sorted(glob.glob(a)) if "*" in a else []
        expanded += [str(Path(h)) for h in hits] or [a]
    for flag, value in zip(expanded, expanded[1:], strict=False):  # the user has not made these yet
        if flag in OUTPUT_FLAGS:
            p = work / value
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    if expanded and expanded[0] == "synth" and len(expanded) > 1:
        expanded += ["--seconds", "1", "--size", "96x64"]  # the same command, a shorter clip
    res = CliRunner().invoke(cli, expanded)
    assert res.exit_code == 0, f"{line}\n{res.output}"
