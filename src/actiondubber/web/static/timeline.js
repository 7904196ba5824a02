// The timeline under the player: time ruler, soundtrack waveform, strength curve, event markers, playhead.
// Drawing and hit-testing only; what a click or a drag means is decided by the callbacks in app.js.

const COLORS = {
  bg: "#101216", lane: "#171a20", grid: "#262a33", text: "#8a909c", wave: "#5a7bd8",
  curve: "#5fb36a", curveFill: "rgba(95,179,106,0.28)", marker: "#f2b233", select: "#3fd0ff", play: "#ff4d4d",
};
const RULER = 32;      // px: time ruler (labels on top, marker flags below)
const HIT = 6;         // px: how close a click must be to grab a marker

export class Timeline {
  constructor(canvas, { onSeek, onSelect, onMove, onDragStart }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.cb = { onSeek, onSelect, onMove, onDragStart };
    this.times = [];       // container time of each frame (s)
    this.duration = 0;
    this.scores = null;    // strength per frame
    this.wave = null;      // peak |amplitude| per slice of the duration
    this.frames = [];      // event frames (sorted)
    this.selected = null;  // selected event frame
    this.playhead = 0;     // current frame
    this.view = [0, 1];    // visible time range (s)
    this.drag = null;
    this._scheduled = false;
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener("mousedown", (e) => this._down(e));
    window.addEventListener("mousemove", (e) => this._move(e));
    window.addEventListener("mouseup", (e) => this._up(e));
    canvas.addEventListener("wheel", (e) => this._wheel(e), { passive: false });
  }

  setVideo(times, duration) {
    this.times = times; this.duration = duration || (times.length ? times[times.length - 1] : 1);
    this.view = [0, this.duration]; this.scores = null; this.wave = null; this.frames = []; this.selected = null;
    this.playhead = 0; this.draw();
  }

  // --- geometry -----------------------------------------------------------------------------------------------
  frameTime(f) { return this.times[f] ?? (f / 25); }
  x(t) { const [a, b] = this.view; return ((t - a) / (b - a)) * this.canvas.clientWidth; }
  t(x) { const [a, b] = this.view; return a + (x / this.canvas.clientWidth) * (b - a); }
  frameAt(t) {            // the frame shown at time t (last frame starting at or before it)
    const ts = this.times; let lo = 0, hi = ts.length - 1;
    if (hi < 0) return 0;
    if (t <= ts[0]) return 0;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (ts[mid] <= t + 1e-6) lo = mid; else hi = mid - 1; }
    return lo;
  }
  frameX(f) {             // marker position: the middle of the frame's interval, so neighbours never overlap
    const t0 = this.frameTime(f), t1 = f + 1 < this.times.length ? this.times[f + 1] : this.duration;
    return this.x(0.5 * (t0 + Math.max(t0, t1)));
  }
  clickedFrame(x) {
    const f = this.frameAt(this.t(x));
    // round to the nearer frame middle
    if (f + 1 < this.times.length && Math.abs(this.frameX(f + 1) - x) < Math.abs(this.frameX(f) - x)) return f + 1;
    return f;
  }
  markerAt(x) {
    let best = null, bd = HIT + 1;
    for (const f of this.frames) { const d = Math.abs(this.frameX(f) - x); if (d < bd) { bd = d; best = f; } }
    return best;
  }
  markerPositions() { return this.frames.map((f) => ({ frame: f, x: this.frameX(f) })); }

  // --- view ---------------------------------------------------------------------------------------------------
  ensureVisible(f) {
    const t = this.frameTime(f); const [a, b] = this.view; const w = b - a;
    if (t < a || t > b) { const na = Math.min(Math.max(0, t - 0.1 * w), Math.max(0, this.duration - w)); this.view = [na, na + w]; }
  }
  zoom(factor, atX) {
    const [a, b] = this.view; const tc = this.t(atX); const minW = Math.min(this.duration, 20 * this.frameStep());
    let w = Math.min(this.duration, Math.max(minW, (b - a) * factor));
    let na = tc - ((tc - a) / (b - a)) * w; na = Math.min(Math.max(0, na), this.duration - w);
    this.view = [na, na + w]; this.draw();
  }
  pan(dx) {
    const [a, b] = this.view; const w = b - a; const dt = (dx / this.canvas.clientWidth) * w;
    const na = Math.min(Math.max(0, a + dt), Math.max(0, this.duration - w)); this.view = [na, na + w]; this.draw();
  }
  frameStep() { return this.times.length > 1 ? this.duration / this.times.length : 0.04; }

  // --- mouse --------------------------------------------------------------------------------------------------
  _pos(e) { const r = this.canvas.getBoundingClientRect(); return e.clientX - r.left; }
  _down(e) {
    if (e.button !== 0 || !this.times.length) return;
    const x = this._pos(e); const m = this.markerAt(x);
    e.preventDefault(); this.canvas.focus();
    if (m !== null) {
      this.drag = { kind: "marker", from: m, to: m };
      this.cb.onSelect(m); this.cb.onDragStart?.(m);
    } else {
      this.drag = { kind: "scrub" }; this.cb.onSeek(this.clickedFrame(x));
    }
  }
  _move(e) {
    if (!this.times.length) return;
    const x = this._pos(e);
    if (!this.drag) { this.canvas.style.cursor = this.markerAt(x) !== null ? "ew-resize" : "crosshair"; return; }
    const f = Math.min(Math.max(0, this.clickedFrame(x)), this.times.length - 1);
    if (this.drag.kind === "scrub") { this.cb.onSeek(f); return; }
    if (f !== this.drag.to && (f === this.drag.from || !this.frames.includes(f))) {
      // live preview: the marker follows the mouse (committed on mouse up)
      this.frames = this.frames.map((g) => (g === this.drag.to ? f : g)).sort((p, q) => p - q);
      this.drag.to = f; this.selected = f; this.draw();
      this.cb.onSeek(f, { keepSelection: true });
    }
  }
  _up() {
    if (!this.drag) return;
    const d = this.drag; this.drag = null;
    if (d.kind === "marker") this.cb.onMove(d.from, d.to);
  }
  _wheel(e) {
    if (!this.times.length) return;
    e.preventDefault();
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) this.pan(e.deltaX || e.deltaY);
    else this.zoom(Math.exp(e.deltaY * 0.0015), this._pos(e));
  }

  // --- drawing ------------------------------------------------------------------------------------------------
  draw() {
    if (this._scheduled) return;
    this._scheduled = true;
    requestAnimationFrame(() => { this._scheduled = false; this.paint(); });
  }
  paint() {
    const c = this.canvas, ctx = this.ctx, dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth, H = c.clientHeight;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = COLORS.bg; ctx.fillRect(0, 0, W, H);
    if (!this.times.length) return;
    const hasWave = this.wave && this.wave.length;
    const waveH = hasWave ? Math.round((H - RULER) * 0.36) : 0;
    const curveTop = RULER + waveH + (hasWave ? 2 : 0), curveH = H - curveTop;
    // lanes
    ctx.fillStyle = COLORS.lane;
    if (hasWave) ctx.fillRect(0, RULER, W, waveH);
    ctx.fillRect(0, curveTop, W, curveH);
    this._ruler(ctx, W, H);
    if (hasWave) this._wave(ctx, W, RULER, waveH);
    if (this.scores) this._curve(ctx, W, curveTop, curveH);
    ctx.fillStyle = COLORS.text; ctx.font = "10px system-ui, sans-serif"; ctx.textBaseline = "top";
    if (hasWave) ctx.fillText("sound", 4, RULER + 2);
    ctx.fillText(this.scores ? "strength" : "strength (run Detect)", 4, curveTop + 2);
    this._markers(ctx, W, H);
    // playhead
    const px = Math.round(this.frameX(this.playhead)) + 0.5;  // same place as a marker on this frame
    ctx.strokeStyle = COLORS.play; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, H); ctx.stroke();
    ctx.fillStyle = COLORS.play; ctx.beginPath(); ctx.moveTo(px - 5, 0); ctx.lineTo(px + 5, 0); ctx.lineTo(px, 7); ctx.fill();
  }
  _ruler(ctx, W) {
    const [a, b] = this.view; const span = b - a;
    const steps = [1 / 30, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800];
    let step = steps.find((s) => (s / span) * W >= 70) || 3600;
    ctx.strokeStyle = COLORS.grid; ctx.fillStyle = COLORS.text; ctx.lineWidth = 1;
    ctx.font = "10px ui-monospace, monospace"; ctx.textBaseline = "top";
    for (let t = Math.ceil(a / step) * step; t <= b + 1e-9; t += step) {
      const x = Math.round(this.x(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, RULER - 7); ctx.lineTo(x, this.canvas.clientHeight); ctx.stroke();
      ctx.fillText(fmtTime(t, step), x + 3, 3);
    }
    ctx.beginPath(); ctx.moveTo(0, RULER - 0.5); ctx.lineTo(W, RULER - 0.5); ctx.stroke();
    if ((this.frameStep() / span) * W >= 6) {  // zoomed in: a tick at every frame boundary
      ctx.strokeStyle = "#3a3f4a"; ctx.beginPath();
      for (let f = Math.max(0, this.frameAt(a)); f < this.times.length && this.times[f] <= b; f++) {
        const x = Math.round(this.x(this.times[f])) + 0.5; ctx.moveTo(x, RULER - 4); ctx.lineTo(x, RULER);
      }
      ctx.stroke();
    }
  }
  _wave(ctx, W, top, h) {
    const n = this.wave.length, mid = top + h / 2;
    ctx.fillStyle = COLORS.wave;
    for (let x = 0; x < W; x++) {
      const i0 = Math.floor((this.t(x) / this.duration) * n), i1 = Math.max(i0 + 1, Math.floor((this.t(x + 1) / this.duration) * n));
      let p = 0; for (let i = Math.max(0, i0); i < Math.min(n, i1); i++) p = Math.max(p, this.wave[i]);
      const a = Math.max(0.5, p * (h / 2 - 2)); ctx.fillRect(x, mid - a, 1, 2 * a);
    }
  }
  _curve(ctx, W, top, h) {
    const s = this.scores; let max = 0;
    for (const v of s) if (v > max) max = v;
    if (max <= 0) max = 1;
    const y = (v) => top + h - 3 - (Math.max(0, v || 0) / max) * (h - 16);
    const [a, b] = this.view;
    const f0 = Math.max(0, this.frameAt(a) - 1), f1 = Math.min(s.length - 1, this.frameAt(b) + 1);
    ctx.beginPath(); ctx.moveTo(this.frameX(f0), top + h);
    for (let f = f0; f <= f1; f++) ctx.lineTo(this.frameX(f), y(s[f]));
    ctx.lineTo(this.frameX(f1), top + h); ctx.closePath();
    ctx.fillStyle = COLORS.curveFill; ctx.fill();
    ctx.beginPath();
    for (let f = f0; f <= f1; f++) { const X = this.frameX(f); if (f === f0) ctx.moveTo(X, y(s[f])); else ctx.lineTo(X, y(s[f])); }
    ctx.strokeStyle = COLORS.curve; ctx.lineWidth = 1.2; ctx.stroke();
  }
  _markers(ctx, W, H) {
    ctx.font = "bold 10px system-ui, sans-serif"; ctx.textBaseline = "middle"; ctx.textAlign = "center";
    this.frames.forEach((f, i) => {
      const x = Math.round(this.frameX(f)) + 0.5;
      if (x < -20 || x > W + 20) return;
      const sel = f === this.selected, col = sel ? COLORS.select : COLORS.marker;
      ctx.strokeStyle = col; ctx.lineWidth = sel ? 2.5 : 1.5;
      ctx.beginPath(); ctx.moveTo(x, RULER); ctx.lineTo(x, H); ctx.stroke();
      // flag with the event's number
      const label = String(i + 1), w = Math.max(14, ctx.measureText(label).width + 6);
      ctx.fillStyle = col; ctx.beginPath();
      ctx.moveTo(x - w / 2, RULER - 14); ctx.lineTo(x + w / 2, RULER - 14); ctx.lineTo(x + w / 2, RULER - 4);
      ctx.lineTo(x, RULER + 1); ctx.lineTo(x - w / 2, RULER - 4); ctx.closePath(); ctx.fill();
      ctx.fillStyle = "#111"; ctx.fillText(label, x, RULER - 9);
    });
    ctx.textAlign = "start";
  }
}

function fmtTime(t, step) {
  const m = Math.floor(t / 60), s = t - 60 * m;
  const sec = step < 1 ? s.toFixed(step < 0.1 ? 2 : 1) : String(Math.round(s));
  return `${m}:${sec.padStart(step < 1 ? (step < 0.1 ? 5 : 4) : 2, "0")}`;
}
