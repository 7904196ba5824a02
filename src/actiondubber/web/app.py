"""The web editor's server: a JSON API over the library, the folder's media, and the static page.

Every route names files by their path relative to the served folder
(:class:`~.paths.Folder` refuses anything else). Detection and dubbing run as
:mod:`.jobs` on worker threads; the page follows them through a server-sent
event stream (``/api/jobs/{id}/stream``). Events go in and out as lists of
frame numbers; the server turns them into :class:`~actiondubber.types.Events`
(:meth:`.state.VideoState.events_at`) and hands them to the same functions the
CLI calls: :func:`actiondubber.events.save_events`,
:func:`actiondubber.exporters.markers.export_events`,
:func:`actiondubber.dubbing.dub`.

Safety: the server binds 127.0.0.1 unless told otherwise; requests whose
``Host`` is not one of the allowed names are refused (DNS rebinding), and so
are writes whose ``Origin`` is another site; uploads are size-limited and
must be readable videos; outputs never replace an existing file unless the
request says ``overwrite`` (the page asks first), and are written atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from actiondubber import __version__
from actiondubber.detection import PRESETS, detector_params
from actiondubber.dubbing import BUILTIN_SOUNDS, DubParams, dub
from actiondubber.dubbing.library import AUDIO_EXTENSIONS
from actiondubber.errors import ActionDubberError, BackendUnavailableError, InputError, OutputError
from actiondubber.events import check_events_fit, load_events, save_events
from actiondubber.exporters.markers import FORMATS, export_events
from actiondubber.fileio import check_output_path
from actiondubber.video.reader import probe
from actiondubber.web.jobs import JobRunner
from actiondubber.web.paths import VIDEO_EXTENSIONS, Folder, PathNotFound, PathRefused, safe_filename
from actiondubber.web.state import VideoState

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
#: Host names a loopback server answers to (anything else is refused: DNS rebinding).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Default upload limit (bytes).
DEFAULT_MAX_UPLOAD = 4 * 1024**3
#: File name ending of each export format.
EXPORT_SUFFIX = {"otio": ".otio", "edl": ".edl", "fcpxml": ".xml", "audacity": "_labels.txt", "srt": ".srt",
                 "vtt": ".vtt", "csv": ".csv"}
#: Containers a dubbed file keeps from its source (others get .mp4).
_DUB_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm")
_AUDITION_NAME = re.compile(r"^audition-\d+(\.[a-z0-9]{2,4})$")


class OutputExists(OutputError):
    """An output would replace an existing file and the request did not confirm it."""

    def __init__(self, paths: list[str], suggest: list[str], suggest_name: str | None = None):
        super().__init__(f"{', '.join(paths)} already exist(s); confirm to overwrite, or use a new name")
        self.paths, self.suggest = paths, suggest
        self.suggest_name = suggest_name if suggest_name is not None else (suggest[0] if suggest else None)


# ---- request bodies ------------------------------------------------------------------------------------------
class DetectRequest(BaseModel):
    path: str
    #: None: the preset's own (the default detector's is 0.6).
    sensitivity: float | None = Field(None, ge=0.0, le=1.0)
    #: The detector settings (``actiondubber.detect(preset=...)``): a name of ``detection.PRESETS``.
    preset: str = "default"

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; choose from {', '.join(PRESETS)}")
        return v


class OpenRequest(BaseModel):
    path: str


class PickRequest(BaseModel):
    path: str
    sensitivity: float = Field(ge=0.0, le=1.0)


class EventsRequest(BaseModel):
    path: str
    frames: list[int]
    sensitivity: float | None = Field(None, ge=0.0, le=1.0)
    name: str | None = None
    overwrite: bool = False


class ExportRequest(EventsRequest):
    formats: list[str] = ["otio", "edl", "fcpxml", "srt"]


class DubRequest(EventsRequest):
    sound: str = "knock"
    mix: str = "keep"


class Workspace:
    """Everything one server holds: the folder, the per-video states, the jobs, the audition files."""

    def __init__(self, folder: str | os.PathLike, *, workers: int = 2, max_upload: int = DEFAULT_MAX_UPLOAD):
        self.folder = Folder(folder)
        self.jobs = JobRunner(workers)
        self.max_upload = int(max_upload)
        self.videos: dict[str, VideoState] = {}
        self._lock = threading.Lock()
        self.scratch = Path(tempfile.mkdtemp(prefix="actiondubber-web-"))
        self._n = 0

    def video(self, rel: str) -> VideoState:
        """The state of video *rel* (probed on first use)."""
        path = self.folder.resolve(rel)
        if not path.is_file():
            raise PathRefused(f"{rel}: not a file")
        key = self.folder.relative(path)
        with self._lock:
            st = self.videos.get(key)
        if st is None:
            st = VideoState(key, path)
            with self._lock:
                st = self.videos.setdefault(key, st)
        return st

    def sound(self, name: str) -> str | Path:
        """A built-in sound name, or a sound file of the folder."""
        if name in BUILTIN_SOUNDS:
            return name
        p = self.folder.resolve(name)
        if p.suffix.lower() not in AUDIO_EXTENSIONS:
            raise InputError(f"{name}: not a sound file ({', '.join(AUDIO_EXTENSIONS)})")
        return p

    def output(self, st: VideoState, name: str | None, default_suffix: str, overwrite: bool) -> Path:
        """Where to write an output: *name* (relative to the folder) or the video's stem + *default_suffix*."""
        rel = name or _sibling(st.rel, default_suffix)
        out = self.folder.resolve(rel, must_exist=False)
        check_output_path(out, inputs=[st.path], force=True)  # existing files: the rule just below
        if out.exists() and not overwrite:
            raise OutputExists([self.folder.relative(out)], [self.folder.relative(self.folder.fresh_name(out))])
        return out

    def scratch_file(self, suffix: str) -> Path:
        with self._lock:
            self._n += 1
            return self.scratch / f"audition-{self._n}{suffix}"

    def close(self) -> None:
        self.jobs.shutdown()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _sibling(rel: str, suffix: str) -> str:
    p = Path(rel)
    return (p.parent / f"{p.stem}{suffix}").as_posix()


def _dub_suffix(path: Path) -> str:
    return path.suffix.lower() if path.suffix.lower() in _DUB_SUFFIXES else ".mp4"


def _events_json(ev) -> list[dict]:
    return [{"frame": e.frame, "time": round(e.time, 6), "score": round(e.score, 5),
             "x": None if e.x is None else round(e.x, 1), "y": None if e.y is None else round(e.y, 1)}
            for e in ev.events]


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _host_of(origin: str) -> str:
    try:
        return (urlsplit(origin).hostname or "").lower()
    except ValueError:
        return ""


def create_app(folder: str | os.PathLike, *, allowed_hosts: tuple[str, ...] | list[str] = LOOPBACK_HOSTS,
               max_upload: int = DEFAULT_MAX_UPLOAD, workers: int = 2) -> FastAPI:
    """The FastAPI application serving *folder*.

    Parameters
    ----------
    folder
        The served folder: the only place read from or written to.
    allowed_hosts
        Host names (without port) the server answers to; requests with any other
        ``Host`` header get 400, and writes from a page of another origin 403.
    max_upload
        Largest accepted upload in bytes.
    workers
        Worker threads for detection and dubbing jobs.
    """
    ws = Workspace(folder, workers=workers, max_upload=max_upload)
    hosts = [h.lower() for h in allowed_hosts]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        ws.close()

    app = FastAPI(title="actiondubber", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.workspace = ws

    @app.middleware("http")
    async def same_origin_writes(request: Request, call_next):
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin is not None and _host_of(origin) not in hosts:
                return _error(403, "cross-origin request refused")
            if request.headers.get("sec-fetch-site") == "cross-site":
                return _error(403, "cross-site request refused")
        response = await call_next(request)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)

    @app.exception_handler(ActionDubberError)
    async def library_error(request: Request, exc: ActionDubberError):
        if isinstance(exc, OutputExists):
            return _error(409, str(exc), exists=exc.paths, suggest=exc.suggest, suggest_name=exc.suggest_name)
        if isinstance(exc, PathNotFound):
            return _error(404, str(exc))
        if isinstance(exc, PathRefused):
            return _error(403, str(exc))
        if isinstance(exc, BackendUnavailableError):
            return _error(501, str(exc))
        if isinstance(exc, OutputError):
            return _error(409, str(exc))
        return _error(400, str(exc))

    # ---- page and media ------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/media/{rel:path}")
    def media(rel: str):
        """A file of the served folder (byte ranges supported, so the player can seek)."""
        p = ws.folder.resolve(rel)
        if not p.is_file():
            raise PathRefused(f"{rel}: not a file")
        return FileResponse(p)

    @app.get("/api/audition/{name}")
    def audition_file(name: str):
        if not _AUDITION_NAME.match(name) or not (ws.scratch / name).is_file():
            return _error(404, f"{name}: no such audition")
        return FileResponse(ws.scratch / name)

    # ---- folder ----------------------------------------------------------------------------------------------
    @app.get("/api/videos")
    def videos():
        """The folder's videos and the sounds a dub can use."""
        vids = [{"path": ws.folder.relative(p), "size": p.stat().st_size} for p in ws.folder.files(VIDEO_EXTENSIONS)]
        sounds = [ws.folder.relative(p) for p in ws.folder.files(AUDIO_EXTENSIONS)]
        events = [ws.folder.relative(p) for p in ws.folder.files((".json",))]
        return {"folder": ws.folder.root.name, "videos": vids, "builtin_sounds": list(BUILTIN_SOUNDS),
                "sound_files": sounds, "events_files": events, "formats": FORMATS, "max_upload": ws.max_upload,
                "presets": {name: p.sensitivity for name, p in PRESETS.items()}}

    @app.post("/api/open")
    def open_events(req: OpenRequest):
        """An events JSON file of the folder (from ``detect --json`` or a save): its video and its frames."""
        p = ws.folder.resolve(req.path)
        ev = load_events(p)
        named = Path(ev.video.path) if ev.video.path else None
        # a relative name is taken beside the events file (as saved here), else from the folder's top
        cands = [] if named is None else [named] if named.is_absolute() else [p.parent / named, ws.folder.root / named]
        video = next((c for c in cands if c.is_file() and ws.folder.contains(c)), None)
        if video is None:
            raise InputError(f"{req.path}: its video {ev.video.path or '(none named)'} is not in the served folder")
        st = ws.video(ws.folder.relative(video))
        check_events_fit(ev, st.info, source=req.path)
        return {"video": st.rel, "frames": ev.frames, "sensitivity": ev.params.get("sensitivity"),
                "n_events": len(ev)}

    @app.get("/api/info")
    def info(path: str = Query(...)):
        return ws.video(path).info_dict()

    @app.post("/api/upload")
    async def upload(request: Request, name: str = Query(...)):
        """Store the request body (a video file) in the folder under a new name."""
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > ws.max_upload:
            return _error(413, f"{name}: upload is larger than the limit of {ws.max_upload} bytes")
        base = safe_filename(name)
        if not base.lower().endswith(VIDEO_EXTENSIONS):
            return _error(415, f"{base}: not a video file name ({', '.join(VIDEO_EXTENSIONS)})")
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=".upload.", suffix=f".part{Path(base).suffix}", dir=ws.folder.root)
        except OSError as exc:
            return _error(409, f"cannot write in the served folder ({exc.strerror or exc})")
        tmp = Path(tmp_name)
        try:
            n = 0
            with os.fdopen(fd, "wb") as fh:
                async for chunk in request.stream():
                    n += len(chunk)
                    if n > ws.max_upload:
                        return _error(413, f"{base}: upload is larger than the limit of {ws.max_upload} bytes")
                    fh.write(chunk)
            if n == 0:
                return _error(400, f"{base}: the upload is empty")
            try:
                vinfo = await run_in_threadpool(probe, tmp)
            except InputError as exc:
                why = str(exc).split(": ", 1)[-1]
                return _error(415, f"{base}: not a video this app can read ({why})")
            out = ws.folder.fresh_name(ws.folder.root / base)
            os.chmod(tmp, 0o666 & ~_umask())
            os.rename(tmp, out)
            return {"path": ws.folder.relative(out), "n_frames": vinfo.n_frames, "size": n}
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    # ---- detection -----------------------------------------------------------------------------------------
    @app.post("/api/detect")
    def detect(req: DetectRequest):
        """Start detection (a job); when it is done, ``/api/analysis`` has the curve and events."""
        st = ws.video(req.path)
        params = detector_params(PRESETS[req.preset],
                                 **({} if req.sensitivity is None else {"sensitivity": req.sensitivity}))

        def work(job):
            t0 = time.perf_counter()
            st.analyse(params, progress=job.advance)
            ev = st.pick()
            return {"path": st.rel, "n_events": len(ev), "detect_seconds": round(time.perf_counter() - t0, 3)}

        job = ws.jobs.submit("detect", work, total=st.info.n_frames)
        return job.as_dict()

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        job = ws.jobs.get(job_id)
        if job is None:
            return _error(404, f"{job_id}: no such job")
        return job.as_dict()

    @app.get("/api/jobs/{job_id}/stream")
    async def job_stream(job_id: str):
        """Server-sent events: the job's state each time it changes (and every few seconds), until it ends."""
        job = ws.jobs.get(job_id)
        if job is None:
            return _error(404, f"{job_id}: no such job")

        async def events():
            last, quiet = None, 0.0
            while True:
                d = job.as_dict()
                key = (d["state"], d["done"])
                if key != last or quiet > 5.0:
                    yield f"data: {json.dumps(d)}\n\n"
                    last, quiet = key, 0.0
                if job.finished:
                    return
                await asyncio.sleep(0.1)
                quiet += 0.1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/analysis")
    def analysis(path: str = Query(...), sensitivity: float | None = Query(None, ge=0.0, le=1.0)):
        """The stored strength curve (per frame: strength, sound-source x/y, time) and the events at *sensitivity*."""
        st = ws.video(path)
        ev = st.pick(sensitivity)
        return {**st.curve_dict(), "events": _events_json(ev), "sensitivity": ev.params["sensitivity"]}

    @app.post("/api/pick")
    def pick(req: PickRequest):
        """Events re-picked from the stored curve at another sensitivity (no flow is recomputed)."""
        t0 = time.perf_counter()
        ev = ws.video(req.path).pick(req.sensitivity)
        return {"events": _events_json(ev), "sensitivity": req.sensitivity,
                "ms": round(1000 * (time.perf_counter() - t0), 3)}

    @app.get("/api/waveform")
    def waveform(path: str = Query(...), bins: int = Query(2000, ge=16, le=8000)):
        st = ws.video(path)
        return {"peaks": st.waveform(bins), "duration": st.info.duration}

    # ---- results -------------------------------------------------------------------------------------------
    @app.post("/api/events")
    def resolve_events(req: EventsRequest):
        """The full events (time, strength, location) at the given frames, as they would be saved."""
        return {"events": _events_json(ws.video(req.path).events_at(req.frames, sensitivity=req.sensitivity))}

    @app.post("/api/save")
    def save(req: EventsRequest):
        """Write the edited events as an events JSON file (the CLI's schema), atomically."""
        st = ws.video(req.path)
        ev = st.events_at(req.frames, sensitivity=req.sensitivity)
        out = ws.output(st, req.name, ".events.json", req.overwrite)
        if not out.name.endswith(".json"):
            raise InputError(f"{out.name}: an events file name must end in .json")
        ev = replace(ev, video=replace(ev.video, path=str(st.path)))  # saved absolute: exports from anywhere find it
        save_events(ev, out)
        return {"saved": ws.folder.relative(out), "n_events": len(ev)}

    @app.post("/api/export")
    def export(req: ExportRequest):
        """Write the edited events as markers for editors (OTIO, EDL, FCP XML) and cues (SRT ...)."""
        st = ws.video(req.path)
        bad = [f for f in req.formats if f not in FORMATS]
        if bad or not req.formats:
            raise InputError(f"unknown export format {bad[0] if bad else '(none)'} (use {', '.join(FORMATS)})")
        ev = st.events_at(req.frames, sensitivity=req.sensitivity)
        base = req.name or _sibling(st.rel, "")
        outs = {fmt: ws.folder.resolve(base + EXPORT_SUFFIX[fmt], must_exist=False) for fmt in req.formats}
        taken = [p for p in outs.values() if p.exists()]
        if taken and not req.overwrite:
            k = 2
            while any(ws.folder.resolve(f"{base}_{k}{EXPORT_SUFFIX[f]}", must_exist=False).exists() for f in outs):
                k += 1
            raise OutputExists([ws.folder.relative(p) for p in taken],
                               [f"{base}_{k}{EXPORT_SUFFIX[f]}" for f in outs], suggest_name=f"{base}_{k}")
        ev = replace(ev, video=replace(ev.video, path=str(st.path)))
        written = export_events(ev, outs, video=st.path)
        return {"written": {fmt: ws.folder.relative(p) for fmt, p in written.items()}, "n_events": len(ev)}

    def _dub_job(kind: str, st: VideoState, req: DubRequest, out: Path, publish) -> dict:
        ev = st.events_at(req.frames, sensitivity=req.sensitivity)
        sound = ws.sound(req.sound)
        params = DubParams(mix=req.mix)

        def work(job):
            res = dub(st.path, out, ev, sound=sound, params=params, info=st.info)
            return {"n_events": len(res.placements), **publish(res.path)}

        return ws.jobs.submit(kind, work, total=0).as_dict()

    @app.post("/api/audition")
    def audition(req: DubRequest):
        """Dub the video with the chosen sound at the current events into a scratch file the player can load."""
        st = ws.video(req.path)
        out = ws.scratch_file(_dub_suffix(st.path))
        return _dub_job("audition", st, req, out, lambda p: {"url": f"/api/audition/{p.name}"})

    @app.post("/api/render")
    def render(req: DubRequest):
        """Render the dubbed video into the folder (a job)."""
        st = ws.video(req.path)
        out = ws.output(st, req.name, "_dubbed" + _dub_suffix(st.path), req.overwrite)
        return _dub_job("render", st, req, out,
                        lambda p: {"output": ws.folder.relative(p), "url": f"/media/{ws.folder.relative(p)}"})

    return app


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _machine_names() -> list[str]:
    """This machine's host names and addresses (for the Host check when serving beyond loopback)."""
    import socket

    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    try:
        names |= {ai[4][0].lower() for ai in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    return sorted(n for n in names if n)


def run_server(folder: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
               max_upload: int = DEFAULT_MAX_UPLOAD, log_level: str = "warning") -> None:
    """Serve *folder* at ``http://host:port`` until interrupted (optionally opening a browser tab).

    A *host* other than a loopback address exposes the folder to the network;
    the caller is expected to have warned the user.
    """
    import uvicorn

    hosts = list(LOOPBACK_HOSTS)
    if host.lower() not in LOOPBACK_HOSTS:  # reachable from the network: answer to this machine's names too
        hosts += [host.lower(), *_machine_names()]
    app = create_app(folder, allowed_hosts=hosts, max_upload=max_upload)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    if open_browser:
        import webbrowser

        def opener():
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                webbrowser.open(url)

        threading.Thread(target=opener, daemon=True).start()
    server.run()
