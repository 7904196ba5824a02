"""A heat-map video of TA²Net's spatial maps D over the source video, to see where the model looks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from actiondubber.fileio import check_output_path
from actiondubber.types import Events
from actiondubber.video.reader import analysis_size, iter_frames
from actiondubber.video.writer import write_video


def write_maps_video(
    video: str | os.PathLike,
    events: Events,
    maps: np.ndarray,
    out: str | os.PathLike,
    *,
    alpha: float = 0.55,
    max_short_side: int = 480,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write *out*: the video with the map D of every frame upsampled and laid over it as a heat map.

    Hot (red) regions are where the model sees the discriminative motion. A bar
    at the bottom shows the frame's audible probability; event frames get a
    ring at the event's location. Frames are scaled to at most *max_short_side*
    (keeps the file small); frame times are the source's.
    """
    out_p = check_output_path(out, inputs=[video])
    info = events.video
    w, h = analysis_size(info.width, info.height, max_short_side)
    probs = np.asarray(events.scores, np.float32)
    by_frame = {e.frame: e for e in events.events}
    sx, sy = w / max(info.width, 1), h / max(info.height, 1)

    def frames() -> Iterator[np.ndarray]:
        for fr in iter_frames(video, size=(w, h), pix_fmt="rgb24"):
            i = fr.index
            img = fr.image.astype(np.float32)
            if i < maps.shape[0]:
                m = cv2.resize(maps[i].astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
                m = np.clip(m, 0.0, 1.0)
                heat = cv2.applyColorMap((m * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1].astype(np.float32)
                a = (alpha * m)[..., None]
                img = img * (1 - a) + heat * a
            img = np.clip(img, 0, 255).astype(np.uint8)
            p = float(probs[i]) if i < probs.size else 0.0
            bar_h = max(4, h // 40)
            img[h - bar_h :, :] = (img[h - bar_h :, :] * 0.4).astype(np.uint8)
            img[h - bar_h :, : int(round(p * w))] = (255, 64, 64) if i in by_frame else (255, 255, 255)
            ev = by_frame.get(i)
            if ev is not None and ev.x is not None and ev.y is not None:
                c = (int(round((ev.x + 0.5) * sx - 0.5)), int(round((ev.y + 0.5) * sy - 0.5)))
                cv2.circle(img, c, max(6, min(w, h) // 12), (255, 255, 255), 2, cv2.LINE_AA)
            if progress is not None:
                progress(1)
            yield img

    times = list(info.timestamps) if info.timestamps else None
    return write_video(out_p, frames(), info.frame_rate, times=times, inputs=[video])
