"""``actiondubber serve``'s API through FastAPI's test client, on a real generated clip.

Covers every route: listing, media with byte ranges, detection as a job with a
server-sent progress stream, re-picking from the stored curve, save / export /
dub through the library, uploads, and the security rules (paths confined to
the folder, Host and Origin checks, size and content checks, no overwrite
without confirmation).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from actiondubber.detection import DEFAULT_DETECTOR, detect, events_from_curve  # noqa: E402
from actiondubber.detection.detector import frame_curve  # noqa: E402
from actiondubber.events import SCHEMA, load_events  # noqa: E402
from actiondubber.exporters.cues import read_srt  # noqa: E402
from actiondubber.synth import render_clip  # noqa: E402
from actiondubber.video.reader import probe  # noqa: E402
from actiondubber.web.app import create_app  # noqa: E402

SECRET = "top secret, outside the served folder"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("webapi")
    served = root / "served"
    served.mkdir()
    render_clip(served / "clip.mp4", seconds=2.0, size=(160, 120), seed=1)
    (served / "notes.txt").write_text("not a video\n")
    (served / "fake.mp4").write_bytes(b"this is not a video at all" * 10)
    (root / "secret.txt").write_text(SECRET)
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text(SECRET)
    os.symlink(root / "outside", served / "link_out")
    os.symlink(root / "secret.txt", served / "link_file.mp4")
    return served


@pytest.fixture(scope="module")
def client(folder):
    app = create_app(folder, allowed_hosts=["testserver", "127.0.0.1"], max_upload=5_000_000)
    with TestClient(app) as c:
        yield c


def wait_job(client, job_id, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        j = client.get(f"/api/jobs/{job_id}").json()
        if j["state"] in ("done", "error"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def reference(folder):
    """The library's own strength curve of the clip (what ``detect`` computes before picking peaks)."""
    return frame_curve(folder / "clip.mp4", DEFAULT_DETECTOR)


def library_frames(curve, sensitivity: float) -> list[int]:
    """The events ``actiondubber.detection.detect(clip, sensitivity=...)`` returns, from the curve."""
    return events_from_curve(curve, dataclasses.replace(DEFAULT_DETECTOR, sensitivity=sensitivity)).frames


@pytest.fixture(scope="module")
def analysed(client):
    """Detection run once through the job + event stream; returns the stream's messages."""
    job = client.post("/api/detect", json={"path": "clip.mp4", "sensitivity": 0.5}).json()
    msgs = []
    with client.stream("GET", f"/api/jobs/{job['id']}/stream") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                msgs.append(json.loads(line[6:]))
    return msgs


def test_videos_lists_only_videos_inside(client):
    d = client.get("/api/videos").json()
    paths = [v["path"] for v in d["videos"]]
    assert "clip.mp4" in paths and "fake.mp4" in paths
    assert "notes.txt" not in paths
    assert not any("link" in p for p in paths)  # symlinks leaving the folder are not listed
    assert "knock" in d["builtin_sounds"] and "otio" in d["formats"]
    assert d["presets"] == {"default": 0.6, "fast": 0.5, "fastest": 0.5}  # each preset's own sensitivity


def test_info_and_media_with_ranges(client, folder):
    info = client.get("/api/info", params={"path": "clip.mp4"}).json()
    ref = probe(folder / "clip.mp4")
    assert info["n_frames"] == ref.n_frames and len(info["times"]) == ref.n_frames and info["has_audio"]
    r = client.get("/media/clip.mp4", headers={"Range": "bytes=10-109"})
    assert r.status_code == 206 and len(r.content) == 100
    assert r.content == (folder / "clip.mp4").read_bytes()[10:110]


def test_detect_streams_progress_and_matches_the_library(client, folder, analysed, reference):
    final = analysed[-1]
    assert final["state"] == "done" and final["total"] == probe(folder / "clip.mp4").n_frames
    done = [m["done"] for m in analysed]
    assert done == sorted(done) and len(analysed) >= 2  # progress streamed as it went
    a = client.get("/api/analysis", params={"path": "clip.mp4"}).json()
    ref = detect(folder / "clip.mp4", sensitivity=0.5)
    assert [e["frame"] for e in a["events"]] == ref.frames == library_frames(reference, 0.5)
    assert len(a["scores"]) == len(ref.scores) and len(a["xs"]) == len(ref.scores)
    assert ref.frames, "the synthetic clip has collisions"


def test_pick_repicks_from_stored_curve_without_recomputing_flow(client, analysed, reference, monkeypatch):
    import actiondubber.web.state as state

    def no_flow(*a, **k):
        raise AssertionError("the slider must not recompute flow")

    monkeypatch.setattr(state, "frame_curve", no_flow)
    for s in (0.1, 0.95):
        r = client.post("/api/pick", json={"path": "clip.mp4", "sensitivity": s})
        assert r.status_code == 200
        assert [e["frame"] for e in r.json()["events"]] == library_frames(reference, s)
    lo = client.post("/api/pick", json={"path": "clip.mp4", "sensitivity": 0.0}).json()["events"]
    hi = client.post("/api/pick", json={"path": "clip.mp4", "sensitivity": 1.0}).json()["events"]
    assert len(hi) >= len(lo)
    assert client.post("/api/pick", json={"path": "clip.mp4", "sensitivity": 1.5}).status_code == 422


def test_waveform_peaks_at_the_knocks(client, analysed):
    w = client.get("/api/waveform", params={"path": "clip.mp4", "bins": 200}).json()
    assert len(w["peaks"]) == 200 and max(w["peaks"]) == 1.0


def test_save_schema_and_no_overwrite_without_confirm(client, folder, analysed):
    a = client.get("/api/analysis", params={"path": "clip.mp4"}).json()
    frames = [e["frame"] for e in a["events"]][1:] + [3]  # one deleted, one added
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": frames})
    assert r.status_code == 200, r.text
    out = folder / r.json()["saved"]
    assert out.name == "clip.events.json"
    raw = json.loads(out.read_text())
    assert raw["schema"] == SCHEMA and Path(raw["video"]).name == "clip.mp4" and Path(raw["video"]).is_absolute()
    ev = load_events(out)
    info = probe(folder / "clip.mp4")
    assert ev.frames == sorted(frames)
    assert [e.time for e in ev.events] == pytest.approx([info.time_of(f) for f in sorted(frames)], abs=1e-6)
    assert raw["params"]["edited"]["added"] == 1 and raw["params"]["edited"]["removed"] == 1
    before = out.read_bytes()
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": [5]})
    assert r.status_code == 409 and r.json()["suggest"] == ["clip_2.events.json"]
    assert out.read_bytes() == before  # untouched
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": [5], "name": "clip_2.events.json"})
    assert r.status_code == 200 and load_events(folder / "clip_2.events.json").frames == [5]
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": [6], "overwrite": True})
    assert r.status_code == 200 and load_events(out).frames == [6]
    assert not list(folder.glob(".*part*"))  # no temporary files left


def test_open_events_file_from_the_cli(client, folder, analysed, reference):
    from actiondubber.events import save_events

    ev = events_from_curve(reference, dataclasses.replace(DEFAULT_DETECTOR, sensitivity=0.8))
    sub = folder / "sub"
    sub.mkdir(exist_ok=True)
    save_events(ev, sub / "from_cli.json")  # names the video by its absolute path, as 'detect --json' may
    r = client.post("/api/open", json={"path": "sub/from_cli.json"})
    assert r.status_code == 200, r.text
    assert r.json()["video"] == "clip.mp4" and r.json()["frames"] == ev.frames
    assert "sub/from_cli.json" in client.get("/api/videos").json()["events_files"]
    (sub / "broken.json").write_text("{not json")
    assert client.post("/api/open", json={"path": "sub/broken.json"}).status_code == 400
    assert client.post("/api/open", json={"path": "../secret.txt"}).status_code == 403


def test_save_refuses_bad_frames_and_names(client, folder, analysed):
    n = probe(folder / "clip.mp4").n_frames
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": [n + 5], "name": "x.events.json"})
    assert r.status_code == 400 and "outside the video" in r.json()["error"]
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": [1], "name": "clip.mp4", "overwrite": True})
    assert r.status_code in (400, 409) and (folder / "clip.mp4").stat().st_size > 1000
    r = client.post("/api/save", json={"path": "clip.mp4", "frames": [1], "name": "../escape.events.json"})
    assert r.status_code == 403 and not (folder.parent / "escape.events.json").exists()


def test_export_markers_read_back(client, folder, analysed):
    pytest.importorskip("opentimelineio")
    from actiondubber.exporters.editors import read_markers

    a = client.get("/api/analysis", params={"path": "clip.mp4"}).json()
    frames = [e["frame"] for e in a["events"]] + [7]
    body = {"path": "clip.mp4", "frames": frames, "formats": ["otio", "edl", "fcpxml", "srt"], "name": "cut"}
    r = client.post("/api/export", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["written"] == {"otio": "cut.otio", "edl": "cut.edl", "fcpxml": "cut.xml", "srt": "cut.srt"}
    info = probe(folder / "clip.mp4")
    want = [info.time_of(f) for f in sorted(frames)]
    for name in ("cut.otio", "cut.edl", "cut.xml"):
        cues = read_markers(folder / name, fps=info.fps)
        assert [c.start for c in cues] == pytest.approx(want, abs=0.5 / info.fps), name
    assert [c.start for c in read_srt(folder / "cut.srt")] == pytest.approx(want, abs=1e-3)
    r = client.post("/api/export", json=body)
    assert r.status_code == 409 and r.json()["suggest_name"] == "cut_2"
    assert client.post("/api/export", json={**body, "formats": ["nope"]}).status_code == 400


def test_render_and_audition_dub_through_the_library(client, folder, analysed):
    from actiondubber.audio.onsets import impact_onsets
    from actiondubber.audio.reader import read_audio_clip

    frames = [10, 40]
    r = client.post("/api/render", json={"path": "clip.mp4", "frames": frames, "sound": "clap", "mix": "replace"})
    assert r.status_code == 200, r.text
    j = wait_job(client, r.json()["id"])
    assert j["state"] == "done", j
    out = folder / j["result"]["output"]
    assert out.name == "clip_dubbed.mp4" and probe(out).has_audio
    clip = read_audio_clip(out)
    onsets = impact_onsets(clip.samples, clip.sr) + clip.start
    info = probe(folder / "clip.mp4")
    for f in frames:  # a clap starts at each event (onset frames are 23 ms apart)
        assert min(abs(t - info.time_of(f)) for t in onsets) < 0.05
    # rendering again needs a confirmation
    assert client.post("/api/render", json={"path": "clip.mp4", "frames": frames}).status_code == 409
    r = client.post("/api/audition", json={"path": "clip.mp4", "frames": frames, "sound": "knock"})
    j = wait_job(client, r.json()["id"])
    assert j["state"] == "done", j
    m = client.get(j["result"]["url"])
    assert m.status_code == 200 and len(m.content) > 1000
    assert not (folder / Path(j["result"]["url"]).name).exists()  # auditions stay out of the user's folder
    assert client.get("/api/audition/..%2f..%2fetc%2fpasswd").status_code == 404
    r = client.post("/api/audition", json={"path": "clip.mp4", "frames": frames, "sound": "../secret.txt"})
    assert r.status_code == 403


def test_upload_new_name_content_check_and_limit(client, folder):
    data = (folder / "clip.mp4").read_bytes()
    r = client.post("/api/upload", params={"name": "../../clip.mp4"}, content=data)
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "clip_2.mp4"  # a new name, never over the existing clip
    assert (folder / "clip_2.mp4").read_bytes() == data and (folder / "clip.mp4").read_bytes() == data
    r = client.post("/api/upload", params={"name": "holiday.mp4"}, content=b"hello, I am text" * 100)
    assert r.status_code == 415 and "not a video" in r.json()["error"]
    assert not (folder / "holiday.mp4").exists()
    r = client.post("/api/upload", params={"name": "notes.txt"}, content=b"x" * 100)
    assert r.status_code == 415
    r = client.post("/api/upload", params={"name": "big.mp4"}, content=b"\0" * 5_000_001)
    assert r.status_code == 413 and not (folder / "big.mp4").exists()
    assert not list(folder.glob(".upload*"))


@pytest.mark.parametrize("rel", ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "link_out/secret.txt",
                                 "link_file.mp4", "..\\secret.txt", "C:/Windows/win.ini", "%2e%2e/secret.txt",
                                 "clip.mp4\x00.txt"])
def test_paths_outside_the_folder_are_refused(client, rel):
    r = client.get("/api/info", params={"path": rel})
    assert r.status_code in (403, 404) and SECRET not in r.text
    r = client.post("/api/detect", json={"path": rel})
    assert r.status_code in (403, 404)


@pytest.mark.parametrize("url", ["/media/..%2fsecret.txt", "/media/%2e%2e/secret.txt", "/media/link_out/secret.txt",
                                 "/media/link_file.mp4", "/media/%2Fetc%2Fpasswd", "/media/..%5csecret.txt",
                                 "/media/%252e%252e/secret.txt"])
def test_media_refuses_encoded_tricks(client, url):
    r = client.get(url)
    assert r.status_code in (403, 404) and SECRET not in r.text


def test_host_header_and_cross_origin_writes(client):
    assert client.get("/api/videos", headers={"Host": "evil.example:8765"}).status_code == 400
    r = client.post("/api/pick", json={"path": "clip.mp4", "sensitivity": 0.5},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/upload", params={"name": "x.mp4"}, content=b"x", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = client.get("/api/videos", headers={"Origin": "http://127.0.0.1:8765"})
    assert r.status_code == 200


def test_errors_are_one_line_messages(client, folder):
    r = client.post("/api/detect", json={"path": "fake.mp4"})
    if r.status_code == 200:  # probing happens in the job
        j = wait_job(client, r.json()["id"])
        assert j["state"] == "error" and "\n" not in j["message"]
    else:
        assert r.status_code == 400 and "\n" not in r.json()["error"]
    r = client.post("/api/pick", json={"path": "clip_2.mp4", "sensitivity": 0.5})
    assert r.status_code in (400, 404)
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/").status_code == 200 and "actiondubber" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200


def test_serve_cli_checks_its_folder(tmp_path):
    from click.testing import CliRunner

    from actiondubber.cli import cli

    res = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing"), "--no-browser"])
    assert res.exit_code != 0 and "not a folder" in res.output
    res = CliRunner().invoke(cli, ["serve", "--help"])
    assert res.exit_code == 0 and "--no-browser" in res.output and "--port" in res.output


def test_only_loopback_hosts_are_quiet():
    from actiondubber.cli.cmd_serve import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))


def test_detect_with_a_preset_is_the_library_preset(client, folder):
    import shutil

    from actiondubber.detection.detector import FASTEST_DETECTOR, run_detector

    shutil.copy(folder / "clip.mp4", folder / "clip_fastest.mp4")
    bad = client.post("/api/detect", json={"path": "clip_fastest.mp4", "preset": "quickest"})
    assert bad.status_code == 422 and "choose from default, fast, fastest" in bad.text
    job = client.post("/api/detect", json={"path": "clip_fastest.mp4", "preset": "fastest"}).json()
    with client.stream("GET", f"/api/jobs/{job['id']}/stream") as r:
        for _ in r.iter_lines():
            pass
    d = client.get("/api/analysis", params={"path": "clip_fastest.mp4"}).json()
    want = run_detector(folder / "clip_fastest.mp4", FASTEST_DETECTOR)
    assert [e["frame"] for e in d["events"]] == want.frames and d["sensitivity"] == FASTEST_DETECTOR.sensitivity
