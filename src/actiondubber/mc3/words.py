"""What an event's picture shows, in words, to match library sounds by their file names.

Foley libraries name their files by what they hold ("metal bar hit", "gravel step"), and the
frozen image network of MC3's video side (EfficientNet-Lite0) carries its ImageNet classifier:
the most probable classes of the event's frame ("washbasin", "head cabbage", "drum") describe
the picture with no training here. The frame is classified the way the network was trained: the
picture scaled to a 256-px short side and a 224-px square cut from it, centred on the event's
location when the detector gave one (the point of strongest deceleration) so that the thing that
hit is in view. The class names' all-MiniLM-L6-v2 embeddings, weighted by their probabilities,
are compared with the embedding of each file's name (``_`` and ``-`` read as spaces);
:func:`actiondubber.mc3.retrieve.event_similarities` adds this to the MC3 video-audio similarity
with ``name_weight``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actiondubber.mc3 import encoders
from actiondubber.types import VideoInfo

#: How many of the most probable ImageNet classes describe a picture.
TOP_K = 5
#: The classifier's training geometry: short side scaled to 256, a 224 x 224 cut.
SCALE_SIDE, CROP = 256, 224


def name_text(path: str | os.PathLike) -> str:
    """A sound file's name as words: the stem with ``_`` and ``-`` as spaces."""
    return Path(path).stem.replace("_", " ").replace("-", " ").strip()


def _crop(img: np.ndarray, cx: float | None, cy: float | None) -> np.ndarray:
    h, w = img.shape[:2]
    x = w / 2 if cx is None or not np.isfinite(cx) else cx
    y = h / 2 if cy is None or not np.isfinite(cy) else cy
    x0 = int(round(min(max(x - CROP / 2, 0), max(w - CROP, 0))))
    y0 = int(round(min(max(y - CROP / 2, 0), max(h - CROP, 0))))
    out = np.zeros((CROP, CROP, 3), np.uint8)
    part = img[y0 : y0 + CROP, x0 : x0 + CROP]
    out[: part.shape[0], : part.shape[1]] = part
    return out


def class_probabilities(video: str | os.PathLike, frames: Sequence[int], *,
                        xy: Sequence[tuple[float | None, float | None]] | None = None,
                        info: VideoInfo | None = None, cache_dir: Path | None = None) -> np.ndarray:
    """ImageNet class probabilities ``(len(frames), 1000)`` of 224-px cuts at *frames* of *video*.

    *xy* gives each event's location in the video's own pixels (``None`` entries: the centre).
    """
    from actiondubber.mc3.features import cache_key, cached_array, pictures_at
    from actiondubber.video.reader import probe

    src = Path(video)
    info = info or probe(src)
    frames = [min(max(int(f), 0), max(info.n_frames - 1, 0)) for f in frames]
    if not frames:
        return np.zeros((0, 1000), np.float32)
    xy = list(xy) if xy is not None else [(None, None)] * len(frames)
    if len(xy) != len(frames):
        raise ValueError(f"xy has {len(xy)} entries for {len(frames)} frames")
    scale = SCALE_SIDE / max(min(info.width, info.height), 1)
    size = (max(CROP, int(round(info.width * scale / 2)) * 2), max(CROP, int(round(info.height * scale / 2)) * 2))
    sx, sy = size[0] / max(info.width, 1), size[1] / max(info.height, 1)

    def make() -> np.ndarray:
        got = pictures_at(src, frames, size)
        cuts = [_crop(got[f], None if x is None else x * sx, None if y is None else y * sy)
                for f, (x, y) in zip(frames, xy, strict=True)]
        return encoders.image_class_probs(encoders.image_features(np.stack(cuts)))

    extra = ["imagenet-cut", SCALE_SIDE, CROP, [[None if v is None else round(float(v), 1) for v in p] for p in xy]]
    return cached_array(cache_dir, cache_key(src, "classes", [info.time_of(f) for f in frames], extra), make)


def top_words(probs: np.ndarray, *, top_k: int = TOP_K) -> list[list[tuple[str, float]]]:
    """The *top_k* class names and probabilities of each row of :func:`class_probabilities`."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    names = encoders.imagenet_class_names()
    out = []
    for p in np.asarray(probs, np.float32):
        idx = np.argsort(-p, kind="stable")[:top_k]
        out.append([(names[i], float(p[i])) for i in idx])
    return out


def words_embedding(words: Sequence[Sequence[tuple[str, float]]]) -> np.ndarray:
    """Unit-length text embeddings ``(n, 384)``: each row the probability-weighted mean of its class names'."""
    rows = []
    for ws in words:
        if not ws:
            rows.append(np.zeros(encoders.TEXT_DIM, np.float32))
            continue
        e = encoders.text_features([w for w, _ in ws])
        p = np.asarray([max(q, 0.0) for _, q in ws], np.float32)
        v = (p[:, None] * e).sum(0) / max(float(p.sum()), 1e-9)
        rows.append(v / max(float(np.linalg.norm(v)), 1e-9))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, encoders.TEXT_DIM), np.float32)


def name_similarities(words: Sequence[Sequence[tuple[str, float]]], paths: Sequence[str | os.PathLike]
                      ) -> np.ndarray:
    """Cosine ``(n_events, n_files)`` between what each event's picture shows (*words*) and each file's name."""
    if not len(words) or not paths:
        return np.zeros((len(words), len(paths)), np.float32)
    names = encoders.text_features([name_text(p) for p in paths])
    return (words_embedding(words) @ names.T).astype(np.float32)
