"""``actiondubber serve`` in a real browser: headless Chromium driven by Playwright for Python.

Starts the real command on a free port, opens the page on a real clip (from
``../shared/data/real/`` when present, else a generated one), runs
detection, checks the markers drawn on the timeline, moves the sensitivity
slider (and undoes it), adds an event with M, undoes and redoes it, nudges
it, drags another, saves (and saves again, declining to overwrite), exports,
auditions the dub, and reads every file back with the library's own readers.
Uses Debian's ``chromium`` (no browser download); skipped with the reason
when Chromium or Playwright is missing. Set ``ACTIONDUBBER_WEB_SCREENSHOT=path.png``
to keep the page's screenshot (``docs/web_review.png`` was made so, with
``ACTIONDUBBER_WEB_CLIP=chopping_cabbage_knife.mp4``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")

from actiondubber.events import load_events  # noqa: E402
from actiondubber.video.reader import probe  # noqa: E402

CHROMIUM = next((p for p in (os.environ.get("ACTIONDUBBER_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), "/usr/bin/chromium") if p and Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium)")

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
#: A short real clip (4 s, 640x360, hammer on an anvil) keeps the test quick; ACTIONDUBBER_WEB_CLIP picks another.
REAL = REAL_DIR / os.environ.get("ACTIONDUBBER_WEB_CLIP", "avsync15_hammer_anvil_forge.mp4")
SRC = Path(__file__).resolve().parents[1] / "src"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
MARKER_RGB = ((242, 178, 51), (63, 208, 255))  # marker and selected-marker colours (timeline.js)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webui")
    if REAL.is_file():
        shutil.copy(REAL, folder / REAL.name)
        name = REAL.name
    else:
        from actiondubber.synth import render_clip

        render_clip(folder / "bounce.mp4", seconds=3.0, size=(320, 240), seed=2)
        name = "bounce.mp4"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "actiondubber", "serve", str(folder), "--port", str(port),
                             "--no-browser"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    t0 = time.monotonic()
    while True:
        try:
            if httpx.get(url + "api/videos", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() - t0 > 60:
            proc.kill()
            raise AssertionError("server did not start: " + proc.stdout.read().decode(errors="replace"))
        time.sleep(0.2)
    yield url, folder, name
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def state(page) -> dict:
    return page.evaluate("window.actiondubber.state()")


def wait_state(page, cond: str, timeout: float = 10000):
    page.wait_for_function(f"(() => {{ const s = window.actiondubber.state(); return {cond}; }})()", timeout=timeout)


def canvas_pixel(page, x: float, y: float) -> tuple[int, int, int]:
    return tuple(page.evaluate(
        """([x, y]) => { const c = document.getElementById('timeline'), d = window.devicePixelRatio || 1;
             return Array.from(c.getContext('2d').getImageData(Math.round(x * d), Math.round(y * d), 1, 1).data)
                    .slice(0, 3); }""", [x, y]))


def test_review_in_the_browser(server, tmp_path):
    url, folder, name = server
    info = probe(folder / name)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.set_default_timeout(120000)  # generous: CI machines may be slow
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(url)
            page.select_option("#video-select", name)
            # the video loads and plays
            page.wait_for_function("document.getElementById('player').readyState >= 2", timeout=20000)
            assert page.evaluate("document.getElementById('player').duration") == pytest.approx(info.duration,
                                                                                                 abs=0.2)
            page.evaluate("document.getElementById('player').play()")
            page.wait_for_function("document.getElementById('player').currentTime > 0.2", timeout=10000)
            page.evaluate("document.getElementById('player').pause()")

            # the preset selector lists the library's presets; before detection the slider shows the chosen
            # preset's own sensitivity, which Detect sends
            from actiondubber.detection import PRESETS

            assert page.eval_on_selector_all("#preset option", "os => os.map(o => o.value)") == list(PRESETS)
            assert page.input_value("#sensitivity") == "0.6"
            page.select_option("#preset", "fastest")
            assert page.input_value("#sensitivity") == "0.5"
            page.select_option("#preset", "default")
            assert page.input_value("#sensitivity") == "0.6"

            # detection with progress; events on the timeline and in the list
            page.click("#detect")
            wait_state(page, "s.analysed", timeout=300000)  # detection: seconds when idle, minutes on a busy box
            detected = state(page)["frames"]
            api = page.evaluate(f"fetch('/api/analysis?path={name}').then(r => r.json())")
            assert detected == [e["frame"] for e in api["events"]] and len(detected) >= 3
            assert api["sensitivity"] == 0.6
            assert page.locator("#event-list tbody tr").count() == len(detected)
            assert page.inner_text("#event-count") == str(len(detected))
            markers = page.evaluate("window.actiondubber.markers()")
            assert [m["frame"] for m in markers] == detected
            box = page.locator("#timeline").bounding_box()
            for m in markers:  # each marker is drawn: its line in the strength lane has the marker colour
                rgb = canvas_pixel(page, m["x"], box["height"] - 8)
                assert any(sum(abs(a - b) for a, b in zip(rgb, c, strict=True)) < 60 for c in MARKER_RGB), (m, rgb)

            # the slider re-picks from the stored curve at once; one undo step brings the detected events back
            page.evaluate("""() => { const r = document.getElementById('sensitivity'); r.value = '1';
                               r.dispatchEvent(new Event('input')); r.dispatchEvent(new Event('change')); }""")
            wait_state(page, f"s.lastPickMs !== null && s.canUndo && s.frames.length > {len(detected)}")
            page.locator("#timeline").focus()
            page.keyboard.press("Control+z")
            wait_state(page, f"s.frames.join() === '{','.join(map(str, detected))}' && s.sensitivity === 0.6")
            assert page.input_value("#sensitivity") == "0.6"  # the default detector's own (DEFAULT_DETECTOR)

            # add an event with M at a frame without one, undo, redo, nudge
            gap = next(f for f in range(5, info.n_frames) if all(abs(f - g) > 3 for g in detected))
            # click-to-seek on the timeline, then one frame forward and back with the arrow keys
            page.mouse.click(box["x"] + page.evaluate(f"window.actiondubber.frameX({gap})"), box["y"] + 60)
            wait_state(page, f"s.current === {gap} && s.selected === null")
            page.keyboard.press("ArrowRight")
            wait_state(page, f"s.current === {gap + 1}")
            page.keyboard.press("ArrowLeft")
            wait_state(page, f"s.current === {gap}")
            page.keyboard.press("m")
            wait_state(page, f"s.frames.includes({gap}) && s.selected === {gap}")
            assert len(state(page)["frames"]) == len(detected) + 1
            page.keyboard.press("Control+z")
            wait_state(page, f"!s.frames.includes({gap})")
            assert state(page)["frames"] == detected
            page.keyboard.press("Control+Shift+z")
            wait_state(page, f"s.frames.includes({gap})")
            page.keyboard.press(".")
            wait_state(page, f"s.frames.includes({gap + 1}) && !s.frames.includes({gap})")

            # drag the second detected event two frames later
            src = detected[1]
            dst = src + 2 if src + 2 not in detected and src + 1 not in detected else src - 2
            x0 = page.evaluate(f"window.actiondubber.frameX({src})")
            x1 = page.evaluate(f"window.actiondubber.frameX({dst})")
            y = box["y"] + box["height"] - 30
            page.mouse.move(box["x"] + x0, y)
            page.mouse.down()
            page.mouse.move(box["x"] + (x0 + x1) / 2, y, steps=3)
            page.mouse.move(box["x"] + x1, y, steps=3)
            page.mouse.up()
            wait_state(page, f"s.frames.includes({dst}) && !s.frames.includes({src})")
            edited = state(page)["frames"]
            assert edited == sorted(set(detected) - {src} | {dst, gap + 1})

            # save; the saved file holds the edited events in the events schema
            page.click("#save")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
            saved = folder / (Path(name).stem + ".events.json")
            ev = load_events(saved)
            assert ev.frames == edited
            assert [e.time for e in ev.events] == pytest.approx([info.time_of(f) for f in edited], abs=1e-6)
            # saving again asks first; declining saves under a new name and leaves the first file alone
            before = saved.read_bytes()
            page.once("dialog", lambda d: d.dismiss())
            page.keyboard.press("Delete")  # the dragged event is selected: delete it
            wait_state(page, f"!s.frames.includes({dst})")
            page.click("#save")
            page.wait_for_function("document.getElementById('status').textContent.includes('_2.events.json')")
            assert saved.read_bytes() == before
            assert load_events(folder / (Path(name).stem + "_2.events.json")).frames == [f for f in edited if f != dst]

            # export the markers for editors
            page.click("#export")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('exported')",
                                   timeout=20000)
            try:
                from actiondubber.exporters.editors import read_markers

                cues = read_markers(folder / (Path(name).stem + ".otio"))
                want = [info.time_of(f) for f in edited if f != dst]
                assert [c.start for c in cues] == pytest.approx(want, abs=0.5 / info.fps)
            except ImportError:
                pass

            # audition: the player switches to the dub of the current events, then back to the original
            page.click("#audition")
            wait_state(page, "s.audition !== null", timeout=30000)
            page.wait_for_function("document.getElementById('player').currentSrc.includes('/api/audition/')")
            page.wait_for_function("document.getElementById('player').readyState >= 2", timeout=20000)
            page.evaluate("document.getElementById('player').pause()")
            page.click("#original")
            wait_state(page, "s.audition === null")

            # the sound-source mark is drawn on the frame of an event
            page.keyboard.press("ArrowUp")
            wait_state(page, "s.selected !== null && s.current === s.selected")
            page.wait_for_function("(() => { const p = document.getElementById('player');"
                                   " return !p.seeking && p.readyState >= 2; })()")
            page.wait_for_timeout(300)
            shot = tmp_path / "web_review.png"
            page.screenshot(path=str(shot))
            keep = os.environ.get("ACTIONDUBBER_WEB_SCREENSHOT")
            if keep:
                shutil.copy(shot, keep)
            assert not errors, errors
        finally:
            browser.close()
