"""TA²Net's per-frame network inputs (RGB, motion flow, inflectional flow) and their on-disk cache.

Used alike by inference (:mod:`actiondubber.model.infer`) and training
(:mod:`actiondubber.train`); this module needs no torch except in
:func:`arrays_to_tensors` / :func:`to_tensors`.

For frames ``I_0 .. I_{n-1}`` every frame ``i`` with a previous and a next
frame (``1 <= i <= n-2``; the ends are trimmed, the paper's Eq. 4) gets:

* ``rgb[j]``: the frame itself, uint8 ``(S, S, 3)``;
* ``motion[j]``: ``(v⁻, v⁺)`` = (``B_{i-1}``, ``F_i``) from
  :func:`actiondubber.kinematics.iter_kinematics`, 4 channels (dx, dy, dx, dy);
* ``inflection[j]``: ``(a⁻, a⁺)`` per Eq. 3 (``with_eq3=True``), 4 channels;

where row ``j`` holds frame ``i = j + 1`` (:data:`FRAME_OFFSET`). Frames are
decoded straight to a square ``S x S`` picture (the paper resizes to
112 x 112; the aspect ratio is not kept, so nothing is cropped away) and the
flows are computed on those square frames, so they are displacements in
input pixels. Camera motion is removed as in the training-free detector.

Flow is expensive, so :func:`video_features` caches the result per video and
parameter set: the key is a SHA-256 of the file's bytes plus the parameters,
the file an ``np.savez_compressed`` archive of float16 flows rounded to
:data:`FLOW_QUANTUM` pixels (never 8-bit images), cut into chunks of
:data:`CHUNK` frames so that a training clip decompresses only the chunks it
covers. Writes are atomic; a damaged cache file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from actiondubber.errors import InputError, ParameterError
from actiondubber.fileio import atomic_output, check_input_file
from actiondubber.kinematics.flow import FlowParams
from actiondubber.kinematics.inflection import ALIGN, iter_kinematics
from actiondubber.model.config import FLOW_SCALE, IMAGENET_MEAN, IMAGENET_STD
from actiondubber.types import VideoInfo
from actiondubber.video import MIN_FRAMES
from actiondubber.video.prefetch import prefetch
from actiondubber.video.reader import Frame, decoded_info, iter_frames, probe

log = logging.getLogger(__name__)

#: Row j of the feature arrays is frame j + FRAME_OFFSET of the video.
FRAME_OFFSET = 1
#: Frames per compressed chunk in the cache (a 64-frame clip touches 4-5 chunks).
CHUNK = 16
#: Bumped whenever the cached content changes meaning; part of the cache key.
CACHE_VERSION = 1

#: Flows are stored as float16 rounded to this many pixels: 1/256 px is ~100x finer than what
#: DIS resolves, and zeroing the noise bits makes the compressed cache ~5x smaller (measured on a
#: 112 px synthetic clip: 16.2 MB -> 3.2 MB of flow for 88 frames). Not an 8-bit image.
FLOW_QUANTUM = 1.0 / 256.0

_ARRAYS = ("rgb", "motion", "inflection")


@dataclass(frozen=True)
class FeatureParams:
    """Everything that changes the features, hence part of the cache key (and of a checkpoint).

    ``size``: side of the square input frames (the paper: 112).
    ``backend`` / ``flow_preset`` / ``compensate``: the optical flow and the camera-motion model
    removed from every flow, as :class:`~actiondubber.kinematics.flow.FlowParams` (:attr:`flow`);
    ``align``: Eq. 3's differencing (``warp`` follows scene points, ``none`` is the literal
    pixelwise difference).

    Raises
    ------
    ParameterError
        For a value out of range or not in its list.
    """

    size: int = 112
    backend: str = "dis"
    flow_preset: str = "fast"
    compensate: str = "affine"
    align: str = "warp"

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 16 <= self.size <= 1024:
            raise ParameterError(f"feature size must be an integer between 16 and 1024 pixels, got {self.size!r}")
        if self.align not in ALIGN:
            raise ParameterError(f"unknown inflection alignment {self.align!r}; choose from {', '.join(ALIGN)}")
        self.flow  # noqa: B018 - validates backend, preset and camera-motion model

    @property
    def flow(self) -> FlowParams:
        """The flow settings, shared with the training-free detector."""
        return FlowParams(backend=self.backend, preset=self.flow_preset, compensate=self.compensate)

    def key(self) -> str:
        """Short hash of the parameters (and the cache format version)."""
        text = json.dumps({"v": CACHE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict | None) -> FeatureParams:
        """Rebuild from :func:`dataclasses.asdict` output; an unknown key raises :class:`ParameterError`."""
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"unknown feature parameter(s): {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class VideoFeatures:
    """A video's network inputs for frames 1 .. n-2 (row j = frame j + 1).

    Arrays are either held in memory or read chunk by chunk from the cache
    file (``source``) on demand: :meth:`rows` loads only what a clip needs;
    the ``rgb`` / ``motion`` / ``inflection`` properties load everything.
    ``cached`` says whether this object came from the cache (no flow computed).
    """

    info: VideoInfo
    params: FeatureParams
    n_rows: int
    cached: bool = False
    source: str | None = None
    _data: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def rgb(self) -> np.ndarray:
        return self.rows(0, self.n_rows)[0]

    @property
    def motion(self) -> np.ndarray:
        return self.rows(0, self.n_rows)[1]

    @property
    def inflection(self) -> np.ndarray:
        return self.rows(0, self.n_rows)[2]

    def frame_of_row(self, j: int) -> int:
        return j + FRAME_OFFSET

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rgb, motion, inflection)`` for rows ``start .. stop-1`` (clipped to the video)."""
        start, stop = max(0, int(start)), min(self.n_rows, int(stop))
        if self._data is not None:
            return tuple(self._data[k][start:stop] for k in _ARRAYS)  # type: ignore[return-value]
        if stop <= start:
            s = self.params.size
            return (np.zeros((0, s, s, 3), np.uint8), np.zeros((0, s, s, 4), np.float16),
                    np.zeros((0, s, s, 4), np.float16))
        return _read_rows(Path(self.source or ""), start, stop)

    def load(self) -> VideoFeatures:
        """A copy with all arrays in memory (for repeated access to one video)."""
        if self._data is not None:
            return self
        rgb, mot, inf = self.rows(0, self.n_rows)
        return VideoFeatures(self.info, self.params, self.n_rows, self.cached, self.source,
                             {"rgb": rgb, "motion": mot, "inflection": inf})


def default_cache_dir() -> Path:
    """Where features are cached by default: ``$ACTIONDUBBER_CACHE/features``, else
    ``$XDG_CACHE_HOME/actiondubber/features``, else ``~/.cache/actiondubber/features``."""
    env = os.environ.get("ACTIONDUBBER_CACHE")
    if env:
        return Path(env) / "features"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actiondubber" / "features"


# --------------------------------------------------------------------------- hashing


_HASHES: dict[tuple, str] = {}


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the file's bytes, remembered per (path, size, mtime) within the process."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if len(_HASHES) > 4096:
            _HASHES.clear()
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def cache_path(video: str | os.PathLike, params: FeatureParams, cache_dir: str | os.PathLike) -> Path:
    """Where the features of *video* with *params* live in *cache_dir*."""
    return Path(cache_dir) / f"{content_hash(video)[:24]}-{params.key()}.npz"


# --------------------------------------------------------------------------- computing


def iter_features(
    video: str | os.PathLike,
    params: FeatureParams = FeatureParams(),
    *,
    progress: Callable[[int], None] | None = None,
    times: list[float] | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Stream ``(frame index, rgb, motion, inflection)`` for frames 1 .. n-2 of *video*.

    Holds three frames at a time. *times*, when given, receives every decoded
    frame's time (all n of them, including the trimmed ends).
    """
    backend, backend_bwd = params.flow.backends()
    s = int(params.size)
    rgbs: dict[int, np.ndarray] = {}

    def gray_frames() -> Iterator[Frame]:
        for fr in iter_frames(video, size=(s, s), pix_fmt="rgb24"):
            if times is not None:
                times.append(fr.time)
            rgbs[fr.index] = fr.image  # the consumer below drops frames it has used
            if progress is not None:
                progress(1)
            yield Frame(fr.index, fr.time, cv2.cvtColor(fr.image, cv2.COLOR_RGB2GRAY), fr.repeated)

    kins = iter_kinematics(prefetch(gray_frames()), backend, compensate_model=params.compensate, with_eq3=True,
                           align=params.align, backend_bwd=backend_bwd)
    lo = 0
    for k in kins:
        for i in range(lo, k.index):
            rgbs.pop(i, None)
        lo = k.index
        motion = _store(np.concatenate([k.v_minus, k.v_plus], axis=-1))
        inflection = _store(np.concatenate([k.a_minus, k.a_plus], axis=-1))
        yield k.index, rgbs[k.index], motion, inflection


def _store(flow: np.ndarray) -> np.ndarray:
    return (np.round(flow * (1.0 / FLOW_QUANTUM)) * FLOW_QUANTUM).astype(np.float16)


def compute_features(
    video: str | os.PathLike,
    params: FeatureParams = FeatureParams(),
    *,
    progress: Callable[[int], None] | None = None,
) -> VideoFeatures:
    """Compute the features of *video* in memory (no cache)."""
    p = check_input_file(video, "video file")
    info = probe(p)
    if info.n_frames < MIN_FRAMES:
        raise InputError(f"{p}: video has {info.n_frames} frame(s); at least {MIN_FRAMES} are needed")
    times: list[float] = []
    rgb, mot, inf = [], [], []
    for _, r, m, a in iter_features(p, params, progress=progress, times=times):
        rgb.append(r)
        mot.append(m)
        inf.append(a)
    info = decoded_info(info, times, min_frames=MIN_FRAMES)
    s = params.size
    data = {
        "rgb": np.stack(rgb) if rgb else np.zeros((0, s, s, 3), np.uint8),
        "motion": np.stack(mot) if mot else np.zeros((0, s, s, 4), np.float16),
        "inflection": np.stack(inf) if inf else np.zeros((0, s, s, 4), np.float16),
    }
    return VideoFeatures(info, params, len(rgb), cached=False, source=None, _data=data)


# --------------------------------------------------------------------------- cache file


def _write_cache(path: Path, feats: VideoFeatures) -> None:
    info = asdict(feats.info)
    info["timestamps"] = list(info["timestamps"])
    meta = {"version": CACHE_VERSION, "params": asdict(feats.params), "info": info, "n_rows": feats.n_rows,
            "chunk": CHUNK}
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    data = feats._data or {}
    for c in range(0, feats.n_rows, CHUNK):
        for k in _ARRAYS:
            arrays[f"{k}_{c // CHUNK:05d}"] = data[k][c : c + CHUNK]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def _read_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"][()]))
    if meta.get("version") != CACHE_VERSION:
        raise ValueError(f"cache format {meta.get('version')} (expected {CACHE_VERSION})")
    return meta


def _read_rows(path: Path, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {k: [] for k in _ARRAYS}
    try:
        with np.load(path, allow_pickle=False) as z:
            for c in range(start // CHUNK, (stop - 1) // CHUNK + 1):
                lo = max(start - c * CHUNK, 0)
                hi = min(stop - c * CHUNK, CHUNK)
                for k in _ARRAYS:
                    out[k].append(z[f"{k}_{c:05d}"][lo:hi])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: feature cache file is damaged ({exc}); delete it to recompute") from None
    return tuple(np.concatenate(out[k]) for k in _ARRAYS)  # type: ignore[return-value]


def _from_cache(path: Path, video: Path, params: FeatureParams) -> VideoFeatures | None:
    try:
        meta = _read_meta(path)
        info_d = meta["info"]
        info_d["timestamps"] = tuple(info_d["timestamps"])
        info_d["path"] = str(video)
        info = VideoInfo(**info_d)
        n_rows = int(meta["n_rows"])
        if FeatureParams(**meta["params"]) != params or int(meta.get("chunk", 0)) != CHUNK:
            raise ValueError("parameters differ")
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        log.warning("%s: unusable feature cache file (%s); recomputing", path, exc)
        return None
    return VideoFeatures(info, params, n_rows, cached=True, source=str(path))


def video_features(
    video: str | os.PathLike,
    *,
    size: int = 112,
    backend: str = "dis",
    cache_dir: str | os.PathLike | None = None,
    params: FeatureParams | None = None,
    progress: Callable[[int], None] | None = None,
) -> VideoFeatures:
    """The features of *video*, from *cache_dir* when computed before, else computed (and cached).

    *params* overrides *size* / *backend*. Without *cache_dir* the result is
    computed and kept in memory only. With it, the returned object reads its
    rows from the cache file lazily, so many videos can be open at once
    (``cached`` is False on the call that computed them, True on later calls).
    """
    params = params or FeatureParams(size=size, backend=backend)
    p = check_input_file(video, "video file")
    if cache_dir is None:
        return compute_features(p, params, progress=progress)
    cpath = cache_path(p, params, cache_dir)
    if cpath.is_file():
        got = _from_cache(cpath, p, params)
        if got is not None:
            return got
    feats = compute_features(p, params, progress=progress)
    try:
        _write_cache(cpath, feats)
    except OSError as exc:
        log.warning("%s: cannot write the feature cache (%s); features kept in memory", cpath, exc)
        return feats
    # read back lazily like a cache hit: a data set of many videos must not keep them all in memory
    return VideoFeatures(feats.info, params, feats.n_rows, cached=False, source=str(cpath))


# --------------------------------------------------------------------------- tensors


def pad_rows(
    rgb: np.ndarray, motion: np.ndarray, inflection: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Pad clips shorter than *length* as a frozen last frame: same picture, zero flow.

    A still picture has no motion and no change of motion, so padding looks
    like "nothing happens" to the network in training and inference alike.
    Returns the padded arrays and the number of real rows.
    """
    n = rgb.shape[0]
    if n >= length:
        return rgb[:length], motion[:length], inflection[:length], length
    extra = length - n
    last = rgb[-1:] if n else np.zeros((1,) + rgb.shape[1:], rgb.dtype)
    rgb = np.concatenate([rgb, np.repeat(last, extra, axis=0)])
    zeros = np.zeros((extra,) + motion.shape[1:], motion.dtype)
    return rgb, np.concatenate([motion, zeros]), np.concatenate([inflection, zeros]), n


def arrays_to_tensors(rgb: np.ndarray, motion: np.ndarray, inflection: np.ndarray):
    """numpy rows → float32 tensors ``(T,3,S,S)``, ``(T,4,S,S)``, ``(T,4,S,S)``.

    RGB is ImageNet-normalised; flows are divided by
    :data:`actiondubber.model.config.FLOW_SCALE`.
    """
    import torch

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float().div_(255.0)
    x = (x - mean) / std
    m = torch.from_numpy(np.ascontiguousarray(motion)).permute(0, 3, 1, 2).float().div_(FLOW_SCALE)
    a = torch.from_numpy(np.ascontiguousarray(inflection)).permute(0, 3, 1, 2).float().div_(FLOW_SCALE)
    return x.contiguous(), m.contiguous(), a.contiguous()


def to_tensors(feats: VideoFeatures, start: int, length: int):
    """Tensors for rows ``start .. start+length-1`` of *feats*, padded past the end (:func:`pad_rows`)."""
    rgb, mot, inf = feats.rows(start, start + length)
    rgb, mot, inf, _ = pad_rows(rgb, mot, inf, length)
    return arrays_to_tensors(rgb, mot, inf)


def hflip(rgb: np.ndarray, motion: np.ndarray, inflection: np.ndarray):
    """Mirror rows left-right; flow x components change sign (channels 0 and 2 are dx)."""
    rgb = rgb[:, :, ::-1]
    motion = motion[:, :, ::-1].copy()
    inflection = inflection[:, :, ::-1].copy()
    motion[..., 0::2] *= -1
    inflection[..., 0::2] *= -1
    return np.ascontiguousarray(rgb), motion, inflection
