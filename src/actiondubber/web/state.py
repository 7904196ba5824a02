"""What the server keeps per video: its facts, the detector's strength curve, the soundtrack's waveform.

The curve is computed once (the slow part: optical flow); re-picking events
at another sensitivity is the detector's own peak picking on the stored curve
(:func:`actiondubber.detection.events_from_curve`), so the slider never
recomputes flow. An edited event list is a list of frames; each becomes an
:class:`~actiondubber.types.Event` with that frame's container time and the
curve's strength and sound-source location there, exactly as a detected one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from actiondubber.audio.reader import NoAudioStreamError, read_audio_clip
from actiondubber.detection import DEFAULT_DETECTOR, DetectorParams, StrengthCurve, events_from_curve
from actiondubber.detection.detector import frame_curve
from actiondubber.errors import InputError
from actiondubber.types import Event, Events, VideoInfo
from actiondubber.video.reader import probe

#: Sample rate the waveform is drawn from (enough for a peak envelope of a few thousand bins).
WAVEFORM_SR = 8000
#: Most frames an edited event list may hold.
MAX_EVENTS = 100_000


class VideoState:
    """One video of the served folder as the editor sees it."""

    def __init__(self, rel: str, path: Path):
        self.rel = rel
        self.path = path
        self.info: VideoInfo = probe(path)
        self.curve: StrengthCurve | None = None
        self.params = DEFAULT_DETECTOR
        self._waveform: dict[int, list[float]] = {}
        self.lock = threading.Lock()

    # -- detection ---------------------------------------------------------------------------------------------
    def analyse(self, params: DetectorParams, progress=None) -> StrengthCurve:
        """Compute and keep the strength curve (the slow step; runs on a worker thread)."""
        curve = frame_curve(self.path, params, info=self.info, progress=progress)
        with self.lock:
            self.curve, self.params, self.info = curve, params, curve.info
        return curve

    def need_curve(self) -> StrengthCurve:
        if self.curve is None:
            raise InputError(f"{self.rel}: run detection first")
        return self.curve

    def pick(self, sensitivity: float | None = None) -> Events:
        """Events at *sensitivity* from the stored curve (the detector's peak picker; no flow is recomputed)."""
        curve = self.need_curve()
        params = self.params if sensitivity is None else replace(self.params, sensitivity=float(sensitivity))
        return events_from_curve(curve, params)

    def events_at(self, frames, *, sensitivity: float | None = None, edited: bool = True) -> Events:
        """Events at the given frames (an edited list), each with its time, strength and location."""
        curve = self.need_curve()
        info = curve.info
        try:
            fs = sorted({int(f) for f in frames})
        except (TypeError, ValueError):
            raise InputError("events must be a list of frame numbers") from None
        if len(fs) > MAX_EVENTS:
            raise InputError(f"too many events ({len(fs)})")
        bad = [f for f in fs if not 0 <= f < info.n_frames]
        if bad:
            raise InputError(f"frame {bad[0]} is outside the video (0 … {info.n_frames - 1})")
        base = self.pick(sensitivity)
        events = []
        for f in fs:
            x, y = float(curve.xs[f]), float(curve.ys[f])
            events.append(Event(frame=f, time=info.time_of(f), score=float(curve.scores[f]),
                                x=None if math.isnan(x) else x, y=None if math.isnan(y) else y))
        params = dict(base.params)
        if edited:
            detected = set(base.frames)
            params["edited"] = {"by": "actiondubber serve", "kept": len(detected & set(fs)),
                                "added": len(set(fs) - detected), "removed": len(detected - set(fs))}
        return Events(info, tuple(events), curve.scores, params)

    def curve_dict(self) -> dict:
        """The per-frame curve for the page: strength and location (JSON-ready)."""
        curve = self.need_curve()

        def arr(a, nd):
            return [None if not math.isfinite(v) else round(v, nd) for v in np.asarray(a, float).tolist()]

        return {"scores": arr(curve.scores, 5), "xs": arr(curve.xs, 1), "ys": arr(curve.ys, 1),
                "times": [round(t, 6) for t in curve.info.timestamps], "params": _plain(self.params)}

    # -- sound ------------------------------------------------------------------------------------------------
    def waveform(self, bins: int) -> list[float]:
        """Peak |amplitude| of the soundtrack in *bins* equal slices of the video's duration (video clock)."""
        bins = int(min(max(bins, 16), 8000))
        with self.lock:
            if bins in self._waveform:
                return self._waveform[bins]
        if not self.info.has_audio:
            return []
        try:
            clip = read_audio_clip(self.path, sr=WAVEFORM_SR, mono=True)
        except NoAudioStreamError:
            return []
        y = np.abs(np.asarray(clip.samples, np.float32).reshape(-1))
        dur = self.info.duration or (y.size / WAVEFORM_SR)
        # sample i plays at video time clip.start + i / sr
        edges = np.round((np.linspace(0.0, dur, bins + 1) - clip.start) * WAVEFORM_SR).astype(np.int64)
        edges = np.clip(edges, 0, y.size)
        peaks = [float(y[a:b].max()) if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        top = max(peaks) if peaks and max(peaks) > 0 else 1.0
        out = [round(p / top, 4) for p in peaks]
        with self.lock:
            self._waveform[bins] = out
        return out

    def info_dict(self) -> dict:
        v = self.info
        return {"path": self.rel, "name": self.path.name, "fps": v.fps, "n_frames": v.n_frames,
                "duration": v.duration, "width": v.width, "height": v.height, "has_audio": v.has_audio,
                "rotation": v.rotation, "times": [round(t, 6) for t in v.timestamps],
                "analysed": self.curve is not None}


def _plain(params: DetectorParams) -> dict:
    from dataclasses import asdict

    return asdict(params)

