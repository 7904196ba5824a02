"""``actiondubber batch``: a folder of small generated clips plus broken inputs, on both engines.

The library holds synthetic clips (``actiondubber.synth``) in a small tree, a file of garbage bytes
named ``.mp4``, a clip too short to have a change of motion, a dangling symbolic link, and (when the
tests do not run as root, who can read anything) a file without read permission. The Ray test starts
one local Ray instance with 2 CPUs and skips when Ray is not installed or cannot start.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from actiondubber.batch import (
    EXIT_SOME_FAILED,
    STATE_NAME,
    LocalEngine,
    Task,
    TaskOptions,
    discover,
    read_list_file,
    run_batch,
)
from actiondubber.cli import cli
from actiondubber.detection.detector import DetectorParams, detect
from actiondubber.errors import InputError
from actiondubber.events import events_to_dict
from actiondubber.synth import render_clip

ROOT = Path(__file__).resolve().parents[1]
GOOD = ["a.mp4", "sub/b.mp4", "sub/deeper/c.mkv", "d.mp4"]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
#: Inputs that must fail: garbage bytes, too short, a dangling link, and unreadable (only testable when not root).
BAD = ["broken.mp4", "short.mp4", "gone.mp4"] + ([] if AS_ROOT else ["locked.mp4"])
N = len(GOOD) + len(BAD)


def _clip(path: Path, seed: int, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = {"seconds": 2.0, "size": (96, 64), "n_objects": 1, **kw}
    render_clip(path, scene="bounce", seed=seed, **kw)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """The input tree (read-only for the tests: copy it before changing it)."""
    lib = tmp_path_factory.mktemp("batch") / "lib"
    for i, rel in enumerate(GOOD):
        _clip(lib / rel, seed=i + 1, with_audio=rel != "d.mp4")
    (lib / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 50)
    _clip(lib / "short.mp4", seed=9, seconds=2 / 30)  # 2 frames: no second derivative
    os.symlink(lib / "nowhere.mp4", lib / "gone.mp4")
    if not AS_ROOT:
        shutil.copy(lib / "a.mp4", lib / "locked.mp4")
        (lib / "locked.mp4").chmod(0)
    (lib / "notes.txt").write_text("not a video\n")
    (lib / ".hidden").mkdir()
    _clip(lib / ".hidden" / "x.mp4", seed=7)
    return lib


def _copy(library: Path, dest: Path) -> Path:
    shutil.copytree(library, dest, symlinks=True, ignore=lambda _d, names: [n for n in names if n == "locked.mp4"])
    return dest


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _by_rel(out: Path) -> dict[str, dict]:
    return {r["rel"]: r for r in _rows(out / "videos.csv")}


def _stable(rows: dict[str, dict]) -> dict[str, dict]:
    """videos.csv rows without the columns that differ between runs (time taken)."""
    return {k: {c: v for c, v in r.items() if c != "seconds"} for k, r in rows.items()}


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".part" in p.name]


@pytest.fixture(scope="module")
def local_run(library, tmp_path_factory):
    """One local-engine run (2 workers) over the library, with exports and audio labels."""
    out = tmp_path_factory.mktemp("local") / "results"
    opts = TaskOptions(export=("srt", "csv"), audio_labels=True, audio_label_params=(("dont_care", 0.05),))
    summary = run_batch(library, out, opts, engine="local", workers=2)
    return out, summary, opts


def test_discover_folder_and_list_file(library, tmp_path):
    found = discover(library)
    assert [i.rel for i in found] == sorted(GOOD + BAD)
    assert all(Path(i.path).is_absolute() for i in found)
    # an output folder inside the input folder is not scanned; the input folder itself is refused
    inside = _copy(library, tmp_path / "lib")
    _clip(inside / "results" / "a.mp4.dubbed.mp4", seed=1)
    assert "results/a.mp4.dubbed.mp4" not in [i.rel for i in discover(inside, out_dir=inside / "results")]
    with pytest.raises(InputError, match="must not be the input folder"):
        discover(inside, out_dir=inside)
    lst = tmp_path / "list.txt"
    lst.write_text(f"# my clips\n{inside / 'sub/b.mp4'}\n\n../lib/sub/deeper/c.mkv\n{inside / 'sub/b.mp4'}\n")
    (tmp_path / "lists").mkdir()
    moved = lst.rename(tmp_path / "lists" / "list.txt")
    items = read_list_file(moved)
    assert [i.rel for i in items] == ["b.mp4", "deeper/c.mkv"]
    assert items[1].path == str(tmp_path / "lib" / "sub" / "deeper" / "c.mkv")
    with pytest.raises(InputError, match="no such folder"):
        discover(tmp_path / "missing")


def test_local_run_mirrors_the_tree_and_records_failures(library, local_run):
    out, summary, _ = local_run
    assert (summary.total, summary.done, summary.failed, summary.skipped) == (N, len(GOOD), len(BAD), 0)
    for rel in GOOD:
        for suffix in (".events.json", ".srt", ".events.csv", ".labels.csv"):
            assert (out / (rel + suffix)).is_file(), rel + suffix
    rows = _by_rel(out)
    assert {k for k, r in rows.items() if r["status"] == "done"} == set(GOOD)
    assert rows["broken.mp4"]["error"].startswith(str(library / "broken.mp4") + ": ")
    assert "cut off" in rows["broken.mp4"]["error"] or "not a video" in rows["broken.mp4"]["error"]
    assert "at least 3 are needed" in rows["short.mp4"]["error"]
    assert "file not found" in rows["gone.mp4"]["error"]
    if not AS_ROOT:
        assert "permission denied" in rows["locked.mp4"]["error"]
    assert not (out / "broken.mp4.events.json").exists() and not (out / "short.mp4.srt").exists()
    assert _no_temp_files(out)
    # the events file is exactly what the library's detect() gives for the same video
    for rel in ("a.mp4", "sub/deeper/c.mkv"):
        want = events_to_dict(detect(str(library / rel)))
        assert json.loads((out / (rel + ".events.json")).read_text()) == want
    # audio labels: d.mp4 has no soundtrack; the others are in labels.csv
    labels = _rows(out / "labels.csv")
    assert {r["video_id"] for r in labels} == {"a", "b", "c"}
    assert rows["d.mp4"]["audio_events"] == ""
    # the same labels and don't-care frames as label-from-audio gives for these videos
    from actiondubber.audio.labels import labels_and_dont_care_from_audio
    from actiondubber.evaluate.labels import read_labels

    want, weak = labels_and_dont_care_from_audio([library / r for r in GOOD if r != "d.mp4"], dont_care=0.05)
    got = read_labels(out / "labels.csv").videos
    assert {k: list(v.frames) for k, v in got.items()} == want
    assert {k: list(v.dont_care) for k, v in got.items()} == weak


def test_index_reads_back_with_pandas_and_pyarrow(library, local_run):
    pd = pytest.importorskip("pandas")
    pq = pytest.importorskip("pyarrow.parquet")
    out, summary, _ = local_run
    idx = pd.read_csv(out / "index.csv")
    assert list(idx.columns) == ["video", "rel", "frame", "time", "score", "x", "y"]
    assert len(idx) == summary.events > 0
    pidx = pq.read_table(out / "index.parquet").to_pandas()
    assert pidx[["rel", "frame"]].values.tolist() == idx[["rel", "frame"]].values.tolist()
    assert pidx["time"].tolist() == pytest.approx(idx["time"].tolist(), abs=1e-9)
    for rel, grp in idx.groupby("rel"):
        ev = json.loads((out / (rel + ".events.json")).read_text())["events"]
        assert grp["frame"].tolist() == [e["frame"] for e in ev]
        assert grp["score"].tolist() == pytest.approx([e["score"] for e in ev], abs=1e-9)
    videos = pq.read_table(out / "videos.parquet").to_pandas()
    assert sorted(videos["status"]) == ["done"] * len(GOOD) + ["failed"] * len(BAD)
    assert videos.loc[videos["rel"] == "a.mp4", "duration"].item() == pytest.approx(2.0, abs=0.05)


def test_resume_skips_done_redoes_changed_and_retries_failed(library, tmp_path):
    lib = _copy(library, tmp_path / "lib")
    out = tmp_path / "res"
    first = run_batch(lib, out, workers=1)
    assert (first.done, first.failed) == (4, 3)
    before = _by_rel(out)
    second = run_batch(lib, out, workers=1)
    assert (second.done, second.skipped, second.failed) == (0, 4, 3)  # failed ones were retried (and failed)
    after = _by_rel(out)
    assert all(after[r]["seconds"] == before[r]["seconds"] for r in GOOD)
    assert after["broken.mp4"]["attempts"] == "2" and after["a.mp4"]["attempts"] == "1"
    # touched (same bytes): still done; changed bytes, a repaired file, a deleted output: redone
    os.utime(lib / "a.mp4", (1, 1))
    _clip(lib / "sub" / "b.mp4", seed=11)
    (lib / "broken.mp4").unlink()
    _clip(lib / "broken.mp4", seed=12)
    (out / "d.mp4.events.json").unlink()
    third = run_batch(lib, out, workers=1)
    assert (third.done, third.skipped, third.failed) == (3, 2, 2)
    rows = _by_rel(out)
    assert rows["broken.mp4"]["status"] == "done" and rows["sub/b.mp4"]["attempts"] == "2"
    assert rows["a.mp4"]["attempts"] == "1" and rows["d.mp4"]["attempts"] == "2"
    assert json.loads((out / "sub/b.mp4.events.json").read_text()) == events_to_dict(detect(str(lib / "sub/b.mp4")))
    # other options: every video redone; --no-retry-failed keeps the failures without running them
    fourth = run_batch(lib, out, TaskOptions(detector=DetectorParams(sensitivity=0.9)), workers=1,
                       retry_failed=False)
    assert (fourth.done, fourth.failed) == (5, 2)
    assert all(r["status"] == "done" for r in _rows(out / "videos.csv") if r["rel"] in GOOD)


def test_cli_exit_codes_summary_and_json_log(library, tmp_path):
    good = tmp_path / "good"
    for rel in ("a.mp4", "sub/b.mp4"):
        (good / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library / rel, good / rel)
    runner = CliRunner()
    res = runner.invoke(cli, ["batch", str(good), "-o", str(tmp_path / "r1"), "-j", "1", "--export", "edl,srt"]
                        if _has_otio() else ["batch", str(good), "-o", str(tmp_path / "r1"), "-j", "1"])
    assert res.exit_code == 0, res.output
    assert "2 done" in res.output and "0 failed" in res.output
    log = tmp_path / "log.jsonl"
    res = runner.invoke(cli, ["batch", str(library), "-o", str(tmp_path / "r2"), "-j", "2", "--json-log", str(log)])
    assert res.exit_code == EXIT_SOME_FAILED, res.output
    assert f"{len(BAD)} failed" in res.output and "failed: broken.mp4:" in res.output
    assert f"actiondubber: error: {len(BAD)} of {N} video(s) failed" in res.output and "Traceback" not in res.output
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert recs[-1]["status"] == "summary" and recs[-1]["failed"] == len(BAD)
    assert sorted(r["rel"] for r in recs[:-1] if r["status"] == "done") == sorted(GOOD)
    res = runner.invoke(cli, ["batch", str(tmp_path / "nothing"), "-o", str(tmp_path / "r3")])
    assert res.exit_code == 2 and "no such folder" in res.output
    res = runner.invoke(cli, ["batch", str(good), "-o", str(tmp_path / "r4"), "--export", "png"])
    assert res.exit_code == 2 and "unknown format 'png'" in res.output
    # an output that is not this batch's is never replaced without --force
    r5 = tmp_path / "r5"
    r5.mkdir()
    (r5 / "a.mp4.events.json").write_text("mine")
    res = runner.invoke(cli, ["batch", str(good), "-o", str(r5), "-j", "1"])
    assert res.exit_code == EXIT_SOME_FAILED and "use --force" in res.output
    assert (r5 / "a.mp4.events.json").read_text() == "mine"
    res = runner.invoke(cli, ["batch", str(good), "-o", str(r5), "-j", "1", "--force"])
    assert res.exit_code == 0, res.output
    assert json.loads((r5 / "a.mp4.events.json").read_text())["schema"] == "actiondubber.events/1"


def _has_otio() -> bool:
    try:
        from actiondubber.exporters.editors import check_adapter

        check_adapter("edl")
        return True
    except Exception:
        return False


def test_dub_in_batch(library, tmp_path):
    from actiondubber.video.reader import probe

    src = tmp_path / "one"
    src.mkdir()
    shutil.copy(library / "a.mp4", src / "a.mp4")
    shutil.copy(library / "sub/deeper/c.mkv", src / "c.mkv")
    s = run_batch(src, tmp_path / "out", TaskOptions(dub=True, sound="clap"), workers=1)
    assert (s.done, s.failed) == (2, 0)
    for name in ("a.mp4.dubbed.mp4", "c.mkv.dubbed.mkv"):
        info = probe(tmp_path / "out" / name)
        assert info.has_audio and info.n_frames == probe(src / name.split(".dubbed")[0]).n_frames


def test_worker_limits_turn_into_failed_videos(library, tmp_path):
    """A worker killed by the memory limit or the timeout fails its own video only; the run goes on."""
    tasks = [Task(str(library / rel), rel, str(tmp_path), TaskOptions()) for rel in ("a.mp4", "d.mp4")]
    res = list(LocalEngine(1, max_memory_mb=20).run(tasks))
    assert sorted(r.rel for r in res) == ["a.mp4", "d.mp4"]
    assert all(not r.ok and "memory limit" in r.error for r in res)
    res = list(LocalEngine(2, timeout=0.05).run(tasks))
    assert all(not r.ok and "timeout" in r.error for r in res)
    # recycling: with one task per worker every video gets a fresh process
    eng = LocalEngine(1, max_tasks=1)
    res = list(eng.run(tasks + [Task(str(library / "sub/b.mp4"), "sub/b.mp4", str(tmp_path / "x"), TaskOptions())]))
    assert all(r.ok for r in res) and len({r.pid for r in res}) == 3 and eng.started_processes == 3


def _cli_cmd(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "actiondubber", "-q", "batch", str(src), "-o", str(out), "-j", "1", *extra]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def _wait_for_lines(log: Path, n: int, proc: subprocess.Popen, limit: float = 60) -> list[dict]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file():
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.endswith("}")]
            if len(lines) >= n:
                return lines
        time.sleep(0.01)
    return []


@pytest.fixture(scope="module")
def longer_clips(tmp_path_factory) -> Path:
    """Five clips that each take a noticeable time, so a kill lands while a video is being processed."""
    d = tmp_path_factory.mktemp("long") / "clips"
    for i in range(5):
        _clip(d / f"v{i}.mp4", seed=20 + i, seconds=2.0, size=(128, 96))
    return d


@pytest.mark.slow
def test_kill_worker_and_driver_then_resume_every_video_exactly_once(longer_clips, tmp_path):
    """SIGKILL the worker mid-video (that video fails, the run goes on), then SIGKILL the driver mid-run;
    the rerun retries the failed video, redoes the unfinished ones, skips the rest: each done exactly once."""
    names = {f"v{i}.mp4" for i in range(5)}
    out = tmp_path / "res"
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen(_cli_cmd(longer_clips, out, "--json-log", str(log)), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = _wait_for_lines(log, 1, proc)
        assert first and first[0]["status"] == "done", "the batch produced no result"
        os.kill(first[0]["worker_pid"], signal.SIGKILL)  # it already holds the next video
        got = _wait_for_lines(log, 3, proc)
    finally:
        proc.kill()  # SIGKILL: no clean-up in the driver
        _, err = proc.communicate()
    assert len(got) >= 3 and proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert got[1]["status"] == "failed" and "worker process died (signal SIGKILL)" in got[1]["error"]
    assert not (out / (got[1]["rel"] + ".events.json")).exists()
    assert not (out / "index.csv").exists()  # the killed run never got to its index
    time.sleep(0.5)  # let the orphaned worker finish its video (it then finds the driver gone)
    res = subprocess.run(_cli_cmd(longer_clips, out, "--json-log", str(tmp_path / "log2.jsonl")), env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    recs = [json.loads(x) for x in (tmp_path / "log2.jsonl").read_text().splitlines()]
    done_before = {r["rel"] for r in got if r["status"] == "done"}
    assert {r["rel"] for r in recs if r["status"] == "skipped"} == done_before
    assert {r["rel"] for r in recs if r["status"] == "done"} == names - done_before
    rows = _rows(out / "videos.csv")
    assert sorted(r["rel"] for r in rows) == sorted(names) and all(r["status"] == "done" for r in rows)
    assert {r["rel"]: r["attempts"] for r in rows if r["attempts"] != "1"} == {got[1]["rel"]: "2"}
    assert _no_temp_files(out)
    # every events file is whole, and the index holds each video's events once
    index = _rows(out / "index.csv")
    for r in rows:
        ev = json.loads((out / r["events_file"]).read_text())["events"]
        assert [int(x["frame"]) for x in index if x["rel"] == r["rel"]] == [e["frame"] for e in ev]
        assert int(r["events"]) == len(ev)


def test_second_run_on_the_same_folder_is_refused(library, tmp_path):
    from actiondubber.batch import BatchState
    from actiondubber.errors import OutputError

    out = tmp_path / "res"
    out.mkdir()
    with BatchState.open(out):
        with pytest.raises(OutputError, match="another batch run"):
            run_batch(library, out, workers=1)
    assert (out / STATE_NAME).is_file()


@pytest.mark.slow
def test_ray_engine_gives_the_local_results(library, local_run, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'actiondubber[ray]')")
    from actiondubber.errors import BackendUnavailableError

    out_local, _, opts = local_run
    out = tmp_path / "ray"
    try:
        summary = run_batch(library, out, opts, engine="ray", workers=2)
    except BackendUnavailableError as exc:
        pytest.skip(f"Ray cannot start here: {exc}")
    assert (summary.done, summary.failed) == (len(GOOD), len(BAD))
    for name in ("index.csv", "labels.csv"):
        assert (out / name).read_text() == (out_local / name).read_text(), name
    assert _stable(_by_rel(out)) == _stable(_by_rel(out_local))
    for rel in GOOD:
        for suffix in (".events.json", ".srt", ".events.csv", ".labels.csv"):
            assert (out / (rel + suffix)).read_bytes() == (out_local / (rel + suffix)).read_bytes(), rel + suffix
