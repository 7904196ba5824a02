"""The web editor's responsiveness, measured in a real browser (headless Chromium + Playwright).

    python benchmarks/bench_web.py [--seconds 60] [--size 1280x720] [--picks 20]

1. Open → events: a rendered synthetic clip (default 60 s, 1280x720, 30 fps,
   with sound) is picked in the page, Detect is pressed, and the clock stops
   when every event is drawn on the timeline (``window.actiondubber.markers()``
   matches the server's event list). Reported with the server's own detection
   time for comparison.
2. Re-pick latency of the sensitivity slider: the slider is set to *picks*
   values between 0 and 1; each time from the input event to the page holding
   the new event list (server round trip + peak picking on the stored curve +
   redraw), as the page measures it and as this script sees it; median and max.
3. Memory: resident size of the server process (``/proc/PID/status`` VmRSS,
   and VmHWM = peak) after start, and with three clips open and detected
   (three copies of the clip, each analysed separately).

Needs the ``web`` extra, the playwright package and Debian's chromium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REAL, RESULTS, ROOT, run_main  # noqa: F401

from actiondubber.synth import render_clip

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio"]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of *pid* in MB."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            vals[k] = int(v.split()[0]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "actiondubber", "serve", str(folder), "--port", str(port),
                             "--no-browser"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        try:
            if httpx.get(url + "api/videos", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def open_and_detect(page, name: str) -> tuple[float, dict]:
    """Seconds from picking *name* to seeing all its events on the timeline."""
    t0 = time.perf_counter()
    page.select_option("#video-select", name)
    page.wait_for_function(f"window.actiondubber.state().path === {name!r}")
    page.wait_for_function("!document.getElementById('detect').disabled")
    page.click("#detect")
    page.wait_for_function("(() => { const s = window.actiondubber.state(); return s.analysed &&"
                           " window.actiondubber.markers().length === s.frames.length; })()", timeout=600_000)
    dt = time.perf_counter() - t0
    return dt, page.evaluate("window.actiondubber.state()")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--picks", type=int, default=20)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    w, h = (int(v) for v in args.size.split("x"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        render_clip(folder / "clip_a.mp4", seconds=args.seconds, size=(w, h), seed=3, preset="ultrafast")
        print(f"rendered a {args.seconds:g} s {w}x{h} clip in {time.perf_counter() - t:.1f} s")
        for n in ("clip_b.mp4", "clip_c.mp4"):
            shutil.copy(folder / "clip_a.mp4", folder / n)
        proc, url = start_server(folder)
        try:
            idle = rss_mb(proc.pid)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=FLAGS, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                page.goto(url)
                page.wait_for_function("document.getElementById('video-select').options.length > 3")
                dt, st = open_and_detect(page, "clip_a.mp4")
                import httpx

                jobs = [httpx.get(url + f"api/jobs/detect-{k}").json() for k in (1,)]
                print(f"open -> {len(st['frames'])} events on the timeline: {dt:.2f} s "
                      f"(server detection {jobs[0]['result'].get('detect_seconds')} s)")
                lat, page_ms, server_ms = [], [], []
                for i in range(args.picks):
                    s = round((i + 1) / (args.picks + 1), 3)
                    t0 = time.perf_counter()
                    page.evaluate("""(s) => { const r = document.getElementById('sensitivity'); r.value = String(s);
                                      r.dispatchEvent(new Event('input')); }""", s)
                    page.wait_for_function(
                        f"(() => document.getElementById('pick-info').textContent.includes('at {s:.2f} '))()")
                    lat.append(1000 * (time.perf_counter() - t0))
                    page_ms.append(page.evaluate("window.actiondubber.state().lastPickMs"))
                    server_ms.append(httpx.post(url + "api/pick", json={"path": "clip_a.mp4", "sensitivity": s})
                                     .json()["ms"])
                print(f"slider re-pick over {len(lat)} moves, median (max): as the page measures it (request sent "
                      f"-> new events drawn) {statistics.median(page_ms):.1f} ({max(page_ms):.1f}) ms; as this "
                      f"script sees it through Playwright {statistics.median(lat):.1f} ({max(lat):.1f}) ms; "
                      f"server peak picking alone {statistics.median(server_ms):.2f} ({max(server_ms):.2f}) ms")
                for n in ("clip_b.mp4", "clip_c.mp4"):
                    open_and_detect(page, n)
                three = rss_mb(proc.pid)
                browser.close()
            print(f"server memory: {idle[0]:.0f} MB after start; with 3 clips open and detected "
                  f"{three[0]:.0f} MB (peak {three[1]:.0f} MB)")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    run_main(main)
