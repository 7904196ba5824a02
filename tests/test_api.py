"""The public API exactly as the README shows it, the doctests of its entry points, and the layer rules."""

from __future__ import annotations

import ast
import doctest
import shutil
from pathlib import Path

import numpy as np
import pytest

import actiondubber
from actiondubber import api
from actiondubber.evaluate import report

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "actiondubber"
EXAMPLE = ROOT / "examples" / "bouncing_balls.mp4"


@pytest.fixture(scope="module")
def example_events():
    return actiondubber.detect(EXAMPLE)


def test_top_level_names():
    for name in ("detect", "DetectorParams", "load_events", "save_events", "dub", "export", "render_preview",
                 "Events", "Event", "VideoInfo", "ParameterError", "BackendUnavailableError"):
        assert hasattr(actiondubber, name), name
    assert callable(actiondubber.detect) and callable(actiondubber.dub) and callable(actiondubber.export)
    # the sub-packages no longer hide the functions, whatever was imported before
    import importlib

    for sub in ("detection", "detection.detector", "dubbing", "dubbing.pipeline", "exporters", "exporters.markers"):
        importlib.import_module(f"actiondubber.{sub}")
    assert actiondubber.detect is api.detect and actiondubber.dub is api.dub and actiondubber.export is api.export
    assert callable(actiondubber.evaluate.score)


def test_detect_and_round_trip(example_events, tmp_path):
    ev = example_events
    assert isinstance(ev, actiondubber.Events) and len(ev) > 0
    assert ev.scores.shape == (ev.video.n_frames,)
    path = tmp_path / "ev.json"
    actiondubber.save_events(ev, path)
    back = actiondubber.load_events(path)
    assert [e.frame for e in back.events] == ev.frames
    # by value: an Events equals a rebuilt copy and differs when the curve differs
    import dataclasses

    assert back == actiondubber.load_events(path)
    assert back != dataclasses.replace(back, scores=back.scores + 1)
    assert ev == dataclasses.replace(ev, scores=ev.scores.copy())


def test_events_repr_is_short(example_events):
    text = repr(example_events)
    assert len(text.splitlines()) == 1 and len(text) < 200
    assert "bouncing_balls.mp4" in text and f"events={len(example_events)}" in text
    assert len(repr(example_events.video)) < 300  # timestamps left out


def test_detector_params_and_errors():
    p = actiondubber.DetectorParams(sensitivity=0.7)
    assert p.sensitivity == 0.7
    with pytest.raises(actiondubber.ParameterError, match="sensitivity"):
        actiondubber.DetectorParams(sensitivity=2)
    with pytest.raises(ValueError):  # a ParameterError is a ValueError too
        actiondubber.DetectorParams(kind="nonsense")
    with pytest.raises(actiondubber.ParameterError, match="unknown detector option"):
        actiondubber.detect(EXAMPLE, sensitivty=0.5)
    assert issubclass(actiondubber.ParameterError, actiondubber.ActionDubberError)
    assert actiondubber.BackendUnavailableError.exit_code == 4


def test_export_text_and_file(example_events, tmp_path):
    srt = actiondubber.export(example_events, "srt")
    assert srt.startswith("1\n")
    out = actiondubber.export(example_events, tmp_path / "m.edl")
    assert out.is_file() and "LOC:" in out.read_text()
    with pytest.raises(actiondubber.ParameterError):
        actiondubber.export(example_events, tmp_path / "m.unknown")


def test_score_in_memory(example_events):
    from actiondubber.evaluate import score

    rep = score({"clip": example_events}, {"clip": example_events.frames})
    assert rep.aggregate.strict_pooled["2f"].f1 == 1.0
    rep = score([example_events], {"bouncing_balls": [example_events.frames[0]]})
    assert rep.aggregate.strict_pooled["2f"].recall == 1.0
    with pytest.raises(actiondubber.ParameterError):
        score({"a": example_events}, {"b": [1]})


def test_dub_and_preview(example_events, tmp_path):
    res = actiondubber.dub(EXAMPLE, tmp_path / "d.mp4", events=example_events, sound="clap")
    assert res.path.is_file() and len(res.placements) == len(example_events)
    prev = actiondubber.render_preview(EXAMPLE, example_events, None, png=tmp_path / "still.png")
    assert prev.png.is_file()


def _doctests(obj) -> list[doctest.DocTest]:
    return doctest.DocTestFinder(recurse=False).find(obj)


@pytest.mark.parametrize("obj", [actiondubber, api.detect, api.dub, api.export, report.score],
                         ids=lambda o: getattr(o, "__qualname__", getattr(o, "__name__", "?")))
def test_docstring_examples_run(obj, tmp_path, example_events):
    clip = tmp_path / "clip.mp4"
    shutil.copy(EXAMPLE, clip)
    events_json = tmp_path / "events.json"
    actiondubber.save_events(example_events, events_json)
    globs = {"clip": clip, "tmp": tmp_path, "events_json": events_json, "ev": example_events, "np": np}
    tests = _doctests(obj)
    assert tests and any(t.examples for t in tests), "public entry point without an example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        t.globs.update(globs)
        runner.run(t)
    assert runner.failures == 0


def test_public_entry_points_have_numpydoc_sections():
    for fn in (api.detect, api.dub, api.export, report.score):
        doc = fn.__doc__ or ""
        for section in ("Parameters", "Returns", "Raises", "Examples"):
            assert f"\n    {section}\n    ---" in doc, f"{fn.__name__}: no {section} section"


# --------------------------------------------------------------------------- layer rules


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement in *path*, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1]) if path.is_relative_to(SRC) else ""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([mod] if mod else []))
            out.append((mod, [a.name for a in node.names]))
    return out


def test_model_never_imports_train():
    for f in (SRC / "model").rglob("*.py"):
        for mod, _ in _imports(f):
            assert not mod.startswith("actiondubber.train"), f"{f.relative_to(ROOT)} imports {mod}"


def test_no_private_names_across_packages():
    for f in SRC.rglob("*.py"):
        here = f.relative_to(SRC).parts
        here_pkg = here[0] if len(here) > 1 else ""
        for mod, names in _imports(f):
            if not mod.startswith("actiondubber."):
                continue
            parts = mod.split(".")
            other_pkg = parts[1] if len(parts) > 2 or (SRC / parts[1]).is_dir() else ""
            if other_pkg == here_pkg:
                continue
            for n in names:
                assert not (n.startswith("_") and not n.startswith("__")), \
                    f"{f.relative_to(ROOT)} imports private {mod}.{n}"
            assert not any(p.startswith("_") and not p.startswith("__") for p in parts[1:]), \
                f"{f.relative_to(ROOT)} imports private module {mod}"


#: Lower layers never import higher ones (the README's architecture section).
LAYERS = ["errors", "types", "fileio", "progress", "peaks", "torchutil", "events", "video", "audio", "kinematics",
          "detection", "evaluate", "exporters", "dubbing", "synth", "sync", "model", "train", "tal", "mc3", "batch",
          "web"]


def test_lower_layers_never_import_higher_ones():
    rank = {name: i for i, name in enumerate(LAYERS)}
    for f in SRC.rglob("*.py"):
        rel = f.relative_to(SRC).parts
        pkg = rel[0].removesuffix(".py")
        if pkg not in rank:
            continue
        for mod, _ in _imports(f):
            parts = mod.split(".")
            if parts[0] != "actiondubber" or len(parts) < 2 or parts[1] not in rank:
                continue
            assert rank[parts[1]] <= rank[pkg], f"{f.relative_to(ROOT)} ({pkg}) imports higher layer {mod}"


def test_benchmark_scripts_import_only_the_shared_modules():
    """A benchmark script imports the package and the benchmarks' shared modules, never another script, so that
    each one runs (and can change) by itself."""
    bench = ROOT / "benchmarks"
    scripts = {f.stem for f in bench.glob("*.py")}
    shared = {"common", "heldout", "mc3_sets"}
    assert shared <= scripts
    for f in bench.glob("*.py"):
        for mod, _ in _imports(f):
            top = mod.split(".")[0]
            assert top not in scripts - shared, f"{f.relative_to(ROOT)} imports the script {top}"
