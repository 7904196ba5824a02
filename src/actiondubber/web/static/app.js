// The review page: player, timeline, event list and the actions that call the server.
// The event list is a sorted array of frame numbers; the server turns it into events (time, strength,
// location from the detector's curve) whenever it saves, exports or dubs.

import { ApiError, follow, get, post, upload } from "./api.js";
import { History } from "./history.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const player = $("player"), overlay = $("overlay");

const S = {
  video: null,        // /api/info of the open video
  curve: null,        // /api/analysis: scores, xs, ys, times
  frames: [],         // current event frames (sorted)
  selected: null,     // selected event frame
  sensitivity: 0.6,
  history: new History(),
  audition: null,     // {url, frames} while the dubbed audition plays
  pickSeq: 0,
  lastPickMs: null,
  sliderBefore: null, // event list when a slider gesture started
};

const timeline = new Timeline($("timeline"), {
  onSeek: (f, opts) => { seekFrame(f); if (!opts?.keepSelection) select(S.frames.includes(f) ? f : null); },
  onSelect: (f) => select(f),
  onMove: (from, to) => { if (from !== to) moveEvent(from, to); else syncTimeline(); },
});

// ---- status --------------------------------------------------------------------------------------------------
function status(msg, isError = false) {
  const el = $("status"); el.textContent = msg; el.title = msg; el.classList.toggle("error", isError);
}
function fail(err) { status(err instanceof ApiError || err instanceof Error ? err.message : String(err), true); }

// ---- frames and time -----------------------------------------------------------------------------------------
function times() { return S.video?.times || []; }
function fps() { return S.video?.fps || 25; }
function currentFrame() { return timeline.frameAt(player.currentTime); }
function seekFrame(f) {
  if (!S.video) return;
  const ts = times(); f = Math.max(0, Math.min(ts.length - 1, f));
  const t0 = ts[f], t1 = f + 1 < ts.length ? ts[f + 1] : S.video.duration;
  // aim at the middle of the frame's interval so rounding never shows the neighbour
  player.currentTime = t0 + 0.5 * Math.max(0, Math.min(t1 - t0, 1 / fps()));
  timeline.playhead = f; timeline.ensureVisible(f); updateClock(f); timeline.draw(); drawOverlay(f);
}
function updateClock(f) {
  const r = Math.round(fps()), t = times()[f] ?? 0;
  const hh = Math.floor(t / 3600), mm = Math.floor(t / 60) % 60, ss = Math.floor(t) % 60;
  const ff = Math.floor((t - Math.floor(t)) * r + 1e-6);
  const p2 = (n) => String(n).padStart(2, "0");
  $("timecode").textContent = `${p2(hh)}:${p2(mm)}:${p2(ss)}:${p2(ff)}`;
  $("frame-no").textContent = `frame ${f} / ${Math.max(0, times().length - 1)} · ${t.toFixed(3)} s`;
}

// ---- edits ---------------------------------------------------------------------------------------------------
function setFrames(frames, label, { record = true } = {}) {
  const next = [...new Set(frames)].sort((a, b) => a - b);
  if (record) S.history.push(S.frames, next, label);
  S.frames = next;
  if (S.selected !== null && !S.frames.includes(S.selected)) S.selected = null;
  render();
}
function addEvent(f = currentFrame()) {
  if (!S.curve) return status("run Detect first", true);
  if (S.frames.includes(f)) { select(f); return status(`frame ${f} already has an event`); }
  setFrames([...S.frames, f], `add ${f}`); select(f); status(`added an event at frame ${f}`);
}
function deleteEvent(f = S.selected ?? (S.frames.includes(currentFrame()) ? currentFrame() : null)) {
  if (f === null) return status("select an event to delete", true);
  setFrames(S.frames.filter((g) => g !== f), `delete ${f}`); status(`deleted the event at frame ${f}`);
}
function moveEvent(from, to) {
  const n = times().length;
  if (to < 0 || to >= n) return syncTimeline();
  if (S.frames.includes(to)) { status(`frame ${to} already has an event`, true); return syncTimeline(); }
  setFrames(S.frames.map((g) => (g === from ? to : g)), `move ${from}→${to}`);
  select(to); seekFrame(to); status(`moved the event from frame ${from} to ${to}`);
}
function nudge(delta) {
  if (S.selected === null) return status("select an event to nudge", true);
  moveEvent(S.selected, S.selected + delta);
}
function undo() {
  const e = S.history.undo(); if (!e) return status("nothing to undo");
  afterHistory(e.after, e.before, `undid: ${e.label}`, e.meta?.sensBefore);
}
function redo() {
  const e = S.history.redo(); if (!e) return status("nothing to redo");
  afterHistory(e.before, e.after, `redid: ${e.label}`, e.meta?.sensAfter);
}
function afterHistory(from, to, msg, sens) {
  S.frames = [...to];
  if (sens !== undefined) setSlider(sens);
  // select what came back (an added or moved event), so it can be nudged or deleted at once
  const back = to.filter((f) => !from.includes(f));
  if (back.length === 1) { S.selected = back[0]; seekFrame(back[0]); }
  else if (S.selected !== null && !S.frames.includes(S.selected)) S.selected = null;
  render(); status(msg);
}
function select(f) { S.selected = f; render(); }
function jumpEvent(dir) {
  if (!S.frames.length) return;
  const cur = currentFrame();
  const f = dir > 0 ? S.frames.find((g) => g > cur) : [...S.frames].reverse().find((g) => g < cur);
  if (f === undefined) return;
  select(f); seekFrame(f);
}

// ---- drawing -------------------------------------------------------------------------------------------------
function syncTimeline() {
  timeline.frames = [...S.frames]; timeline.selected = S.selected; timeline.draw();
}
function render() {
  syncTimeline();
  $("event-count").textContent = String(S.frames.length);
  const tb = $("event-list").querySelector("tbody"), sc = S.curve?.scores || [];
  tb.replaceChildren(...S.frames.map((f, i) => {
    const tr = document.createElement("tr");
    tr.dataset.frame = String(f);
    if (f === S.selected) tr.className = "sel";
    const t = times()[f] ?? 0;
    for (const v of [i + 1, f, t.toFixed(3), sc[f] == null ? "–" : Number(sc[f]).toFixed(2)]) {
      const td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td);
    }
    tr.addEventListener("click", () => { select(f); seekFrame(f); });
    return tr;
  }));
  const sel = tb.querySelector("tr.sel"); if (sel) sel.scrollIntoView({ block: "nearest" });
  $("undo").disabled = !S.history.canUndo; $("redo").disabled = !S.history.canRedo;
  const ready = !!S.curve;
  for (const id of ["save", "export", "audition", "render", "add", "delete", "nudge-back", "nudge-fwd"]) $(id).disabled = !ready;
  $("sensitivity").disabled = !ready;
  const badge = $("audition-badge");
  if (S.audition) {
    const stale = S.audition.frames.join() !== S.frames.join();
    badge.hidden = false; badge.classList.toggle("stale", stale);
    badge.textContent = `Auditioning ${S.audition.sound} at ${S.audition.frames.length} events${stale ? " (edited since — audition again)" : ""}`;
  } else badge.hidden = true;
  drawOverlay(currentFrame());
}

// The sound-source mark: a ring and crosshair at the event's location on its frame (fading over ±2 frames).
function drawOverlay(f) {
  const dpr = window.devicePixelRatio || 1, W = overlay.clientWidth, H = overlay.clientHeight;
  if (overlay.width !== Math.round(W * dpr) || overlay.height !== Math.round(H * dpr)) {
    overlay.width = Math.round(W * dpr); overlay.height = Math.round(H * dpr);
  }
  const ctx = overlay.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.clearRect(0, 0, W, H);
  if (!S.video || !S.curve || !S.frames.length) return;
  let near = null;
  for (const g of S.frames) if (Math.abs(g - f) <= 2 && (near === null || Math.abs(g - f) < Math.abs(near - f))) near = g;
  if (near === null) return;
  const alpha = [1, 0.45, 0.2][Math.abs(near - f)];
  const vw = player.videoWidth || S.video.width, vh = player.videoHeight || S.video.height;
  const scale = Math.min(W / vw, H / vh), ox = (W - vw * scale) / 2, oy = (H - vh * scale) / 2;
  const sel = near === S.selected, col = sel ? "63,208,255" : "242,178,51";
  if (near === f) { ctx.strokeStyle = `rgba(${col},0.9)`; ctx.lineWidth = 4; ctx.strokeRect(ox + 2, oy + 2, vw * scale - 4, vh * scale - 4); }
  const x = S.curve.xs[near], y = S.curve.ys[near];
  if (x == null || y == null) return;
  const cx = ox + (x + 0.5) * scale, cy = oy + (y + 0.5) * scale, r = Math.max(12, 0.05 * Math.min(vw, vh) * scale);
  ctx.strokeStyle = `rgba(${col},${alpha})`; ctx.lineWidth = 2.5;
  ctx.beginPath(); ctx.arc(cx, cy, r, 0, 2 * Math.PI); ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(cx - 1.8 * r, cy); ctx.lineTo(cx - 0.5 * r, cy); ctx.moveTo(cx + 0.5 * r, cy); ctx.lineTo(cx + 1.8 * r, cy);
  ctx.moveTo(cx, cy - 1.8 * r); ctx.lineTo(cx, cy - 0.5 * r); ctx.moveTo(cx, cy + 0.5 * r); ctx.lineTo(cx, cy + 1.8 * r);
  ctx.stroke();
  ctx.fillStyle = `rgba(${col},${alpha})`; ctx.font = "bold 13px system-ui, sans-serif";
  ctx.fillText(`#${S.frames.indexOf(near) + 1}`, cx + r + 4, cy - r);
}

function tick() {
  if (S.video) {
    const f = currentFrame();
    if (f !== timeline.playhead) {
      timeline.playhead = f; updateClock(f); drawOverlay(f);
      if (!player.paused) timeline.ensureVisible(f);
      timeline.draw();
    }
  }
  requestAnimationFrame(tick);
}

// ---- loading -------------------------------------------------------------------------------------------------
// Before a video is analysed the slider shows the chosen preset's own sensitivity (what Detect sends).
function presetSensitivity() {
  const s = S.presets?.[$("preset").value];
  if (S.curve || s == null) return;
  $("sensitivity").value = String(s); $("sens-value").textContent = Number(s).toFixed(2);
}

async function loadList(selectPath) {
  const d = await get("/api/videos");
  $("folder").textContent = d.folder;
  S.presets = d.presets;
  const pre = $("preset"), chosen = pre.value;  // the selector lists the library's presets (detection.PRESETS)
  pre.replaceChildren(...Object.keys(d.presets).map((n) => new Option(n, n)));
  if (chosen in d.presets) pre.value = chosen;
  presetSensitivity();
  const sel = $("video-select");
  sel.replaceChildren(new Option("— pick a video —", ""), ...d.videos.map((v) => new Option(v.path, v.path)));
  const snd = $("sound");
  snd.replaceChildren(...d.builtin_sounds.map((s) => new Option(s, s)),
    ...d.sound_files.map((s) => new Option(`file: ${s}`, s)));
  const evs = $("events-select");
  evs.replaceChildren(new Option("— detect, or open a file —", ""), ...d.events_files.map((p) => new Option(p, p)));
  if (selectPath) { sel.value = selectPath; await openVideo(selectPath); }
}

// Open an events file: its video, analysed if it is not yet (the curve gives strength and location), then its
// frames as one undoable step.
async function openEvents(path) {
  if (!path) return;
  try {
    const r = await post("/api/open", { path });
    if (S.video?.path !== r.video) { $("video-select").value = r.video; await openVideo(r.video); }
    if (!S.curve) await detect();
    if (!S.curve) return;
    setFrames(r.frames, `open ${path}`); status(`opened ${r.n_events} events from ${path}`);
  } catch (e) { fail(e); } finally { $("events-select").value = ""; }
}

async function openVideo(path) {
  if (!path) return;
  try {
    status(`opening ${path} …`);
    const info = await get("/api/info", { path });
    S.video = info; S.curve = null; S.frames = []; S.selected = null; S.history.clear(); S.audition = null;
    presetSensitivity();
    $("empty").hidden = true;
    player.src = `/media/${path.split("/").map(encodeURIComponent).join("/")}`;
    timeline.setVideo(info.times, info.duration);
    $("detect").disabled = false;
    render(); updateClock(0);
    if (info.has_audio) get("/api/waveform", { path, bins: 3000 }).then((w) => { timeline.wave = w.peaks; timeline.draw(); }, fail);
    if (info.analysed) await showAnalysis(); else status(`${info.name}: ${info.n_frames} frames at ${info.fps.toFixed(3)} fps — press Detect`);
  } catch (e) { fail(e); }
}

async function detect() {
  if (!S.video) return;
  const path = S.video.path, bar = $("progress");
  $("detect").disabled = true; bar.hidden = false; bar.value = 0;
  const t0 = performance.now();
  try {
    const job = await post("/api/detect", { path, preset: $("preset").value,
                                            sensitivity: Number($("sensitivity").value) });
    await follow(job.id, (j) => {
      bar.max = j.total || 1; bar.value = j.done;
      $("progress-text").textContent = `detecting ${j.done}/${j.total} frames`;
    });
    if (S.video?.path !== path) return;
    await showAnalysis();
    status(`detected ${S.frames.length} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) { fail(e); } finally {
    $("detect").disabled = false; bar.hidden = true; $("progress-text").textContent = "";
  }
}

async function showAnalysis() {
  const a = await get("/api/analysis", { path: S.video.path, sensitivity: $("sensitivity").value });
  S.curve = a; S.video.analysed = true; S.sensitivity = a.sensitivity;
  timeline.scores = a.scores; S.video.times = a.times; timeline.times = a.times;
  S.history.clear();
  setFrames(a.events.map((e) => e.frame), "detect", { record: false });
}

// Slider: the server re-picks from the stored curve (the detector's own peak picker); one undo step per gesture.
function setSlider(s) {
  $("sensitivity").value = String(s); $("sens-value").textContent = Number(s).toFixed(2);
  S.sensitivity = Number(s); $("pick-info").textContent = `${S.frames.length} events at ${Number(s).toFixed(2)}`;
}
async function repick() {
  if (!S.curve) return;
  const s = Number($("sensitivity").value); $("sens-value").textContent = s.toFixed(2);
  if (S.sliderBefore === null) S.sliderBefore = { frames: [...S.frames], sens: S.sensitivity };
  const seq = ++S.pickSeq, t0 = performance.now();
  try {
    const r = await post("/api/pick", { path: S.video.path, sensitivity: s });
    if (seq !== S.pickSeq) return;
    setFrames(r.events.map((e) => e.frame), "sensitivity", { record: false });
    S.lastPickMs = performance.now() - t0;  // request sent -> list, table and markers updated
    $("pick-info").textContent = `${r.events.length} events at ${s.toFixed(2)} · re-picked in ${S.lastPickMs.toFixed(0)} ms`;
  } catch (e) { fail(e); }
}
function endSlider() {
  const run = async () => {
    await repick();
    const b = S.sliderBefore, s = Number($("sensitivity").value);
    if (b !== null) {
      S.history.push(b.frames, S.frames, `sensitivity ${b.sens.toFixed(2)}→${s.toFixed(2)}`, { sensBefore: b.sens, sensAfter: s });
      S.sliderBefore = null; S.sensitivity = s; render();
    }
  };
  run(); $("sensitivity").blur();
}

// ---- results -------------------------------------------------------------------------------------------------
// POST with the page's "never overwrite without asking" rule: on 409 ask; OK overwrites, Cancel uses a new name.
async function postConfirmed(url, body) {
  try { return await post(url, body); } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409 || !e.body.exists) throw e;
    const names = e.body.exists.join(", ");
    if (window.confirm(`${names} already exists. Overwrite?\n\nOK: overwrite · Cancel: save under a new name (${e.body.suggest.join(", ")})`)) {
      return post(url, { ...body, overwrite: true });
    }
    return post(url, { ...body, name: e.body.suggest_name ?? e.body.suggest[0] });
  }
}
function eventsBody(extra = {}) { return { path: S.video.path, frames: S.frames, sensitivity: S.sensitivity, ...extra }; }

async function save() {
  try {
    const r = await postConfirmed("/api/save", eventsBody()); status(`saved ${r.n_events} events to ${r.saved}`);
    refreshEventFiles();
  } catch (e) { fail(e); }
}
async function refreshEventFiles() {
  const d = await get("/api/videos").catch(() => null);
  if (d) $("events-select").replaceChildren(new Option("— detect, or open a file —", ""), ...d.events_files.map((p) => new Option(p, p)));
}
async function exportMarkers() {
  const formats = [...document.querySelectorAll("input[name=fmt]:checked")].map((c) => c.value);
  if (!formats.length) return status("tick at least one format", true);
  try {
    const r = await postConfirmed("/api/export", eventsBody({ formats }));
    status(`exported ${r.n_events} markers: ${Object.values(r.written).join(", ")}`);
  } catch (e) { fail(e); }
}
async function audition() {
  const sound = $("sound").value, frames = [...S.frames];
  $("audition").disabled = true; status(`dubbing ${sound} at ${frames.length} events …`);
  try {
    const job = await post("/api/audition", eventsBody({ sound }));
    const done = await follow(job.id);
    const t = player.currentTime;
    S.audition = { url: done.result.url, frames, sound };
    player.src = done.result.url; player.currentTime = t;
    $("original").disabled = false; render();
    await player.play().catch(() => {});
    status(`auditioning ${sound} at ${frames.length} events`);
  } catch (e) { fail(e); } finally { $("audition").disabled = !S.curve; }
}
function original() {
  if (!S.audition) return;
  const t = player.currentTime; S.audition = null;
  player.src = `/media/${S.video.path.split("/").map(encodeURIComponent).join("/")}`; player.currentTime = t;
  $("original").disabled = true; render(); status("original soundtrack");
}
async function renderDub() {
  const sound = $("sound").value;
  $("render").disabled = true; status(`rendering the dubbed video (${sound}) …`);
  try {
    const job = await postConfirmed("/api/render", eventsBody({ sound }));
    const done = await follow(job.id);
    const a = $("render-link"); a.hidden = false; a.href = done.result.url; a.textContent = done.result.output; a.target = "_blank";
    status(`rendered ${done.result.output}`);
  } catch (e) { fail(e); } finally { $("render").disabled = !S.curve; }
}
async function uploadFile(file) {
  if (!file) return;
  const bar = $("progress"); bar.hidden = false; bar.value = 0;
  try {
    const r = await upload(file, (n, total) => { bar.max = total; bar.value = n; $("progress-text").textContent = `uploading ${Math.round(100 * n / total)} %`; });
    status(`uploaded as ${r.path}`);
    await loadList(r.path);
  } catch (e) { fail(e); } finally { bar.hidden = true; $("progress-text").textContent = ""; $("upload").value = ""; }
}

function togglePlay() { if (!S.video) return; if (player.paused) player.play().catch(fail); else player.pause(); }
function step(n) { if (!S.video) return; player.pause(); seekFrame(currentFrame() + n); }

// ---- wiring --------------------------------------------------------------------------------------------------
$("video-select").addEventListener("change", (e) => { openVideo(e.target.value); e.target.blur(); });
$("upload").addEventListener("change", (e) => uploadFile(e.target.files[0]));
$("events-select").addEventListener("change", (e) => { openEvents(e.target.value); e.target.blur(); });
$("detect").addEventListener("click", detect);
$("play").addEventListener("click", togglePlay);
$("step-back").addEventListener("click", () => step(-1));
$("step-fwd").addEventListener("click", () => step(1));
$("prev-event").addEventListener("click", () => jumpEvent(-1));
$("next-event").addEventListener("click", () => jumpEvent(1));
$("add").addEventListener("click", () => addEvent());
$("delete").addEventListener("click", () => deleteEvent());
$("nudge-back").addEventListener("click", () => nudge(-1));
$("nudge-fwd").addEventListener("click", () => nudge(1));
$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);
$("save").addEventListener("click", save);
$("export").addEventListener("click", exportMarkers);
$("audition").addEventListener("click", audition);
$("original").addEventListener("click", original);
$("render").addEventListener("click", renderDub);
$("sensitivity").addEventListener("input", repick);
$("preset").addEventListener("change", presetSensitivity);
$("sensitivity").addEventListener("change", endSlider);
player.addEventListener("play", () => { $("play").textContent = "▮▮"; });
player.addEventListener("pause", () => { $("play").textContent = "▶"; });
player.addEventListener("loadedmetadata", () => drawOverlay(currentFrame()));
player.addEventListener("error", () => {
  if (S.video) status(`this browser cannot play ${S.video.name} (its codec or container); detection, editing and exports still work`, true);
});
new ResizeObserver(() => drawOverlay(currentFrame())).observe(overlay);
for (const b of document.querySelectorAll("button")) b.addEventListener("mouseup", () => b.blur());

document.addEventListener("keydown", (e) => {
  const tag = e.target.tagName;
  if (tag === "SELECT" || (tag === "INPUT" && e.target.type !== "range" && e.target.type !== "checkbox")) return;
  const k = e.key, ctrl = e.ctrlKey || e.metaKey;
  let done = true;
  if (ctrl && (k === "z" || k === "Z")) { if (e.shiftKey) redo(); else undo(); }
  else if (ctrl && (k === "y" || k === "Y")) redo();
  else if (ctrl && (k === "s" || k === "S")) save();
  else if (ctrl) done = false;
  else if (k === " " || k === "k" || k === "K") togglePlay();
  else if (k === "ArrowLeft") step(e.shiftKey ? -10 : -1);
  else if (k === "ArrowRight") step(e.shiftKey ? 10 : 1);
  else if (k === "ArrowUp") jumpEvent(-1);
  else if (k === "ArrowDown") jumpEvent(1);
  else if (k === "m" || k === "M") addEvent();
  else if (k === "Delete" || k === "Backspace") deleteEvent();
  else if (k === ",") nudge(-1);
  else if (k === ".") nudge(1);
  else if (k === "Home") step(-1e9);
  else if (k === "End") step(1e9);
  else done = false;
  if (done) e.preventDefault();
});

// For tests and the curious: a read-only view of the editor's state.
window.actiondubber = {
  state: () => ({ path: S.video?.path ?? null, frames: [...S.frames], selected: S.selected, current: currentFrame(),
    analysed: !!S.curve, sensitivity: S.sensitivity, canUndo: S.history.canUndo, lastPickMs: S.lastPickMs, audition: S.audition?.url ?? null }),
  markers: () => timeline.markerPositions(),
  frameX: (f) => timeline.frameX(f),
};

$("sens-value").textContent = Number($("sensitivity").value).toFixed(2);
requestAnimationFrame(tick);
const initial = new URLSearchParams(location.search).get("video");
loadList(initial).catch(fail);
