"""The training-free audible-action detector: video → strength curve → events.

Pipeline (all streaming; only the per-frame curve is kept): decode at the
analysis size → forward and backward flow per frame pair → camera motion
removed → per-frame strength and location (:mod:`.strength`) → peaks
(:mod:`.peaks`) → :class:`~actiondubber.types.Events`.

Frame convention: the strength centred on frame i measures the change of
velocity between the intervals (i−1, i) and (i, i+1). An event is reported at
that frame i, at its container time ``t_i`` (on the real clips this matches
the soundtrack's onsets better than i+1 once the flow resolves small objects).
``frame_offset=1`` reports frame i+1 (the first frame after the change) with
the time estimated as the midpoint of ``t_i`` and ``t_{i+1}``. The score curve
uses the same indexing as the events.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from actiondubber.detection.footage import (
    centred_diff,
    drop_end_repeats,
    find_cuts,
    find_dim,
    per_nominal_interval,
    picture_stats,
    skip_repeated_frames,
)
from actiondubber.detection.peaks import pick_peaks, sensitivity_to_delta
from actiondubber.detection.strength import CHANNELS, KINDS, frame_channels, frame_strength
from actiondubber.errors import InputError, ParameterError
from actiondubber.kinematics.flow import CPU_BACKENDS, FlowParams
from actiondubber.kinematics.inflection import iter_kinematics
from actiondubber.types import Event, Events, VideoInfo
from actiondubber.video import DEFAULT_SHORT_SIDE, MIN_FRAMES, Frame, decoded_info, iter_frame_sets, iter_frames, probe
from actiondubber.video.prefetch import BranchClosed, FanOut, prefetch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorParams:
    """Every knob of the training-free detector, recorded in the events file.

    Defaults were chosen on the benchmarks (``benchmarks/bench_accuracy.py``);
    ``floor`` is in pixels per frame at a 128-px short side and is scaled
    with the analysis size. ``persistence`` (default on) makes the
    ``deceleration`` strength of frame i also check the flows of the pairs
    (i−2, i−1) and (i+1, i+2), so that a one-pair flow glitch is not taken for
    an impact (:mod:`.strength`); it delays each frame's result by one frame.
    ``skip_repeats`` leaves isolated repeated frames (pulldown, frame-rate
    conversion by duplication, a dropped frame shown twice) out of the motion
    analysis (:func:`.footage.skip_repeated_frames`); such a frame takes its lower
    neighbour's strength. Off by default: it removed the false events that
    inserted duplicates cause (the drum clip with a repeat every 5th frame: 33
    events → 27, as without repeats) but lowered strict F1@±2 on the real clip
    that repeats every 6th frame (0.79 → 0.71); ``benchmarks/bench_repeats.py``.
    """

    short_side: int = DEFAULT_SHORT_SIDE
    backend: str = "dis"
    flow_preset: str = "fast"
    compensate: str = "affine"
    kind: str = "deceleration"
    gravity: float = 1.0
    change_gate: float = 6.0
    sensitivity: float = 0.5
    min_gap: float = 0.1
    window: int = 7
    floor: float = 0.6
    blur: int = 5
    top_fraction: float = 0.01
    frame_offset: int = 0
    persistence: bool = True
    skip_repeats: bool = False
    #: Leave out a first or last frame that repeats its neighbour while the pair next to it moves
    #: (:func:`.footage.drop_end_repeats`): a trimmed or frame-rate-converted clip often ends on a duplicate,
    #: which reads as everything stopping dead on the second-to-last frame.
    end_repeats: bool = True
    #: Find shot cuts (:func:`.footage.find_cuts`) and pictures with almost no contrast (fades through black or
    #: white, :func:`.footage.find_dim`), and give the frames whose motion spans one no strength: there the
    #: optical flow is meaningless and the strength curve spikes.
    cuts: bool = True
    #: Under a variable frame rate, read each frame pair's motion per nominal frame interval (from the
    #: container times; :attr:`~actiondubber.kinematics.inflection.Kinematics.scale_in`): a longer gap
    #: between two frames (a dropped frame, a phone's irregular timing) is more displacement, not a
    #: faster object, and a normal gap after it is no loss of speed.
    vfr_time: bool = True
    #: ``"frame"``: one strength curve, at most one event per ``min_gap``; ``"objects"``: events per moving
    #: region (:mod:`.objects`), several may share a frame; ``object_radius`` × short side apart;
    #: ``object_share``: the fraction of the strongest concurrent candidate an object event must reach.
    events: str = "frame"
    object_radius: float = 0.15
    object_share: float = 0.0
    #: > 0: down-weight decelerations that arrive already slowing down (:func:`.strength.strength_map`).
    abrupt: float = 0.0
    #: The learned candidate verifier (:mod:`.verifier`): ``""`` off (default: it did not beat the plain
    #: peak picker under leave-one-clip-out), ``"default"`` the shipped weights, or a verifier JSON file
    #: (``actiondubber train-verifier``). It replaces the peak picker's sensitivity and floor.
    verifier: str = ""
    #: A second analysis short side (px; 0 = off): the video is also analysed there and the frame
    #: curve is the mean of the two (the second rescaled to ``short_side`` pixels), so a change of
    #: speed must show at both scales. Off in this base class; on (192) in :data:`DEFAULT_DETECTOR`, what
    #: users get by default: it costs about three times the flow work.
    #: ``multiscale=192`` over the default 128: held out on the 12 real clips strict F1@±2 0.676 vs
    #: 0.678, synthetic family 1 0.823 vs 0.788, family 2 (never tuned on) 0.606 vs 0.572
    #: (``benchmarks/bench_loo.py --method multiscale``).
    multiscale: int = 0
    #: Leave out of the strength the pixels whose flow to the next or the previous frame leaves the
    #: picture (:attr:`~actiondubber.kinematics.inflection.Kinematics.inside`): under shake or a pan,
    #: content entering at the edges has no match and reads as sudden stops.
    edge_gate: bool = False
    #: Leave out of the strength a border band ``camera_margin`` times as wide as the camera's largest
    #: per-frame displacement (:func:`~actiondubber.kinematics.inflection.border_band`; 0 = off). A static
    #: camera leaves everything in. Held out (``benchmarks/bench_loo.py --method multiscale --set
    #: abrupt=2.0 --set camera_margin=0`` against the default 2): real clips and family 1 unchanged
    #: (0.713, 0.856), family 2's shake scenes 0.550 -> 0.606 and 0.533 -> 0.597 on two generations.
    camera_margin: float = 2.0
    #: False: the backward flow of each pair is the negated forward flow of the pair before it (one flow
    #: per frame instead of two; not trajectory-aligned, see
    #: :func:`~actiondubber.kinematics.inflection.iter_kinematics`). Part of the fastest preset
    #: (:data:`FASTEST_DETECTOR`).
    backward_flow: bool = True
    #: Decode without the in-loop deblocking filter (:func:`~actiondubber.video.reader.iter_frames`'s
    #: ``skip_deblock``): about 14 % faster end to end in the fastest preset, where decoding is the
    #: largest cost. With ``--fastest``'s other settings its fixed-setting strict F1@±2 went 0.660 ->
    #: 0.663 on the 12 real clips, 0.651 -> 0.648 on the human key, 0.777 -> 0.767 on synthetic
    #: family 1 and 0.566 -> 0.575 on family 2.
    fast_decode: bool = False
    #: Also track small compact movers (a ball in a wide shot) at this short side (px; 0 = off) and add
    #: their bounces to the events (:mod:`.tracks`): dense flow at the analysis size does not see a ball a
    #: few pixels across. Off by default: on scenes of large movers (drumming arms, a walker) it adds
    #: false events, and it decodes the video a second time at the larger size
    #: (``benchmarks/bench_small_objects.py``).
    small_objects: int = 0
    #: When the flow detector finds nothing because nothing it sees moves enough to pass ``floor``, track
    #: small movers at this short side instead (px; 0 = off). A clip where the flow sees no change at all is
    #: scored 0 whatever the tracker adds, so this can only turn "no events" into events there: a ball a few
    #: pixels across in a wide shot is the usual reason (:func:`strongest_change`). Clips with any event
    #: are left exactly as they were.
    small_objects_fallback: int = 540
    #: The persistence check reads the flows of the pairs two frames before and after a stop; where the
    #: point lies outside the picture there (it has just come in, or it is on its way out), those reads
    #: are of the clamped border, not of the point, and the pixel gets no strength (stop 29; 12 real clips
    #: held out 0.713 -> 0.726, human key 0.733 -> 0.764, both synthetic families unchanged within 0.003:
    #: ``bench_loo.py --method multiscale --set abrupt=2.0 --set inside_window=false`` gives the old one).
    inside_window: bool = True

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ParameterError(msg)

        if self.kind not in KINDS:
            bad(f"unknown strength kind {self.kind!r}; choose from {', '.join(KINDS)}")
        if not 0.0 <= self.sensitivity <= 1.0:
            bad(f"sensitivity must be between 0 and 1, got {self.sensitivity}")
        if not 0.0 <= self.gravity <= 1.0:
            bad(f"gravity prior must be between 0 and 1, got {self.gravity}")
        if self.short_side is not None and not 16 <= self.short_side <= 4096:
            bad(f"analysis short side must be between 16 and 4096 px, got {self.short_side}")
        if self.small_objects and not 32 <= self.small_objects <= 4096:
            bad(f"small-object tracking short side must be 0 (off) or between 32 and 4096 px, got {self.small_objects}")
        if self.small_objects_fallback and not 32 <= self.small_objects_fallback <= 4096:
            bad("small-object fallback short side must be 0 (off) or between 32 and 4096 px, got "
                f"{self.small_objects_fallback}")
        if self.frame_offset not in (0, 1):
            bad(f"frame offset must be 0 or 1, got {self.frame_offset}")
        for name in ("change_gate", "min_gap", "floor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                bad(f"{name.replace('_', ' ')} must be a finite number ≥ 0, got {v}")
        if self.window < 1 or self.blur < 0:
            bad(f"window must be ≥ 1 and blur ≥ 0, got {self.window} and {self.blur}")
        if not 0.0 < self.top_fraction <= 1.0:
            bad(f"top fraction must be in (0, 1], got {self.top_fraction}")
        if self.events not in ("frame", "objects"):
            bad(f"events must be 'frame' or 'objects', got {self.events!r}")
        if not 0.0 < self.object_radius <= 2.0:
            bad(f"object radius must be in (0, 2], got {self.object_radius}")
        for name in ("object_share", "abrupt"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                bad(f"{name.replace('_', ' ')} must be a finite number ≥ 0, got {v}")
        if self.multiscale and not 16 <= self.multiscale <= 4096:
            bad(f"multiscale short side must be 0 (off) or between 16 and 4096 px, got {self.multiscale}")
        if self.multiscale and (self.events != "frame" or self.verifier or self.short_side is None
                                or self.multiscale == self.short_side):
            bad("--multiscale needs frame events, no verifier, and a --short-side other than its own")
        if self.verifier and self.events != "frame":
            bad("the learned verifier works on frame events; leave out --event-mode objects or --verifier")
        if self.edge_gate and not self.backward_flow:
            bad("--edge-gate needs the backward flow: add --backward-flow (--fastest leaves it out)")
        if self.verifier and (self.kind != "deceleration" or self.abrupt):
            bad("the learned verifier reads the deceleration strength: leave --kind and --abrupt at their defaults")
        self.flow  # noqa: B018  (FlowParams validates the backend, DIS preset and camera model)

    @property
    def flow(self) -> FlowParams:
        """The flow settings (backend, DIS preset, camera-motion model), as TA²Net's inputs use them too."""
        return FlowParams(backend=self.backend, preset=self.flow_preset, compensate=self.compensate)


#: What a user gets by default (``detect``, ``dub``, ``preview``, ``batch``, ``count``, the web app,
#: :func:`detect` and :func:`actiondubber.api.detect`): the two-scale detector with the "arrives at
#: full speed" gain, at sensitivity 0.6 (the value all 12 leave-one-clip-out folds on the real clips
#: chose for it: the mean of two curves has flatter peaks). Against the single-scale ``DetectorParams()``
#: (strict F1@±2, knobs chosen leave-one-clip-out, ``benchmarks/bench_loo.py --method multiscale --set
#: abrupt=2.0``): 12 real clips 0.695 vs 0.678, human Greatest Hits key 0.687 vs 0.613, synthetic
#: family 1 0.811 vs 0.788, family 2 (never tuned on) 0.594 vs 0.572; with these fixed settings 0.703 vs
#: 0.688, 0.754 vs 0.609, 0.789 vs 0.792 and 0.581 vs 0.570. It costs about three times the flow work.
DEFAULT_DETECTOR = DetectorParams(multiscale=192, abrupt=2.0, sensitivity=0.6)
#: The single-scale base, ``DetectorParams()``: what the learned parts (audio-visual model, MC3, the
#: verifier) and ``sync`` were built and measured on. Until stop 30 it was also the ``--fast`` preset.
SINGLE_SCALE_DETECTOR = DetectorParams()
#: The ``--fast`` preset (stop 30): one 128-px analysis size, DIS ``ultrafast``, one flow per frame pair
#: (``backward_flow=False``), decoding without the deblocking filter and the event one frame later
#: (``frame_offset=1``, the value every leave-one-clip-out fold chose with the negated backward flow, on the
#: real clips and on family 1). 1.9-2.4x the speed of the single-scale base (two runs) and more accurate held out
#: (``benchmarks/bench_loo.py --short-sides 128 --set flow_preset=ultrafast --set fast_decode=true --set
#: backward_flow=false`` against ``--short-sides 128``): 12 real clips 0.695 vs 0.665, human key 0.712 vs
#: 0.611, family 1 0.810 vs 0.813; family 2 with knobs from family 1 a tie over three generations (0.595 vs
#: 0.556, 0.560 vs 0.563, 0.506 vs 0.535; README, issue 11 section). It meets the issue's 300 frames/s at 720p on two
#: cores (``benchmarks/bench_speed.py``), which the default does not.
FAST_DETECTOR = DetectorParams(flow_preset="ultrafast", backward_flow=False, fast_decode=True, frame_offset=1)
#: The fastest preset (``--fastest``, about 10x real time at 720p on two cores): one analysis size of
#: 96 px, DIS ``ultrafast``, one flow per frame pair (``backward_flow=False``) and the event one frame
#: later (``frame_offset=1``, the value every leave-one-clip-out fold chose with the negated backward
#: flow), decoding without the deblocking filter (``fast_decode``). Figures: ``benchmarks/bench_speed.py``
#: and ``benchmarks/bench_loo.py --short-sides 96 --set flow_preset=ultrafast --set backward_flow=false
#: --set fast_decode=true`` (README, issue 11 section). It never runs the small-mover fallback
#: (``small_objects_fallback=0``): the preset is for speed, and the tracker would read the video again.
FASTEST_DETECTOR = DetectorParams(short_side=96, flow_preset="ultrafast", backward_flow=False, frame_offset=1,
                                  fast_decode=True, small_objects_fallback=0)
#: The presets by name (``actiondubber.detect(preset=...)``; the CLI's ``--fast`` / ``--fastest``).
PRESETS = {"default": DEFAULT_DETECTOR, "fast": FAST_DETECTOR, "fastest": FASTEST_DETECTOR}


def detector_params(base: DetectorParams | None = None, **overrides) -> DetectorParams:
    """*base* (default :data:`DEFAULT_DETECTOR`) with *overrides*, the second scale and ``abrupt`` fitted.

    Settings the second analysis size cannot go with (per-object events, the verifier, a short side
    equal to it, no scaling) switch it off unless ``multiscale`` is among *overrides* (then the
    conflict is an error, as always); the verifier reads the plain deceleration strength, so it also
    switches off a default ``abrupt``.
    """
    base = DEFAULT_DETECTOR if base is None else base
    unknown = set(overrides) - set(DetectorParams.__dataclass_fields__)
    if unknown:
        raise ParameterError(f"unknown detector option(s): {', '.join(sorted(unknown))}")
    merged = {**dataclasses.asdict(base), **overrides}
    if "multiscale" not in overrides and merged["multiscale"] and (
            merged["events"] != "frame" or merged["verifier"] or merged["short_side"] is None
            or merged["multiscale"] == merged["short_side"]):
        merged["multiscale"] = 0
    if "abrupt" not in overrides and merged["verifier"]:
        merged["abrupt"] = 0.0
    return DetectorParams(**merged)


@dataclass
class StrengthCurve:
    """The detector's intermediate result: per-frame strength and location."""

    info: VideoInfo
    scores: np.ndarray  # indexed like events (after frame_offset)
    xs: np.ndarray  # original-video pixels, same indexing
    ys: np.ndarray
    analysis_size: tuple[int, int]
    #: (n_frames, len(CHANNELS)) kinematic channels per frame (:func:`.strength.frame_channels`), same
    #: indexing; only when asked for (the learned verifier reads them).
    channels: np.ndarray | None = None


def strength_curve(
    video: str | os.PathLike,
    params: DetectorParams = DetectorParams(),
    *,
    info: VideoInfo | None = None,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
    map_sink: Callable[[int, np.ndarray], None] | None = None,
    channels: bool = False,
    frames: Iterable[Frame] | None = None,
) -> StrengthCurve:
    """Compute the per-frame strength curve of *video* (streaming, flat memory).

    *map_sink* is called with (frame index, blurred strength map) for every measured frame.
    *frames*: *video*'s frames, already decoded at ``params.short_side`` by the caller (as
    :func:`~actiondubber.video.iter_frames` gives them), instead of decoding here; :func:`multiscale_curve`
    decodes once for both sizes this way.
    *channels*: also measure the kinematic channels of :data:`.strength.CHANNELS` per frame (for the
    learned verifier; needs the default ``deceleration`` kind without ``abrupt``, and no *map_sink*).
    """
    if channels and (params.kind != "deceleration" or params.abrupt or map_sink is not None):
        raise ParameterError("kinematic channels need the deceleration strength, abrupt=0 and no map sink")
    info = info or probe(video)
    if info.n_frames < MIN_FRAMES:
        raise InputError(
            f"{video}: video has {info.n_frames} frame(s); at least {MIN_FRAMES} are needed to see a change of motion"
        )
    backend, backend_bwd = params.flow.backends(flow_kwargs)
    n = info.n_frames
    raw = np.zeros(n + 2, np.float64)
    xs = np.full(n + 2, np.nan)
    ys = np.full(n + 2, np.nan)
    chans = np.zeros((n + 2, len(CHANNELS)), np.float32) if channels else None
    times: list[float] = []
    size = None

    decoded = frames if frames is not None else iter_frames(video, short_side=params.short_side,
                                                             skip_deblock=params.fast_decode)

    def frames_in():
        nonlocal size
        for fr in decoded:
            times.append(fr.time)
            if size is None:
                size = (fr.image.shape[1], fr.image.shape[0])
            if progress is not None:
                progress(1)
            yield fr

    blur = max(3, int(round(params.blur * (params.short_side or 128) / 128)) | 1)
    repeats: dict = {}
    stream = frames_in()
    if params.end_repeats:
        stream = drop_end_repeats(stream, repeats)
    if params.skip_repeats:
        stream = skip_repeated_frames(stream, repeats)
    kept: list[int] = []  # the frames the motion analysis sees, in order, with their times ...
    kept_time: dict[int, float] = {}
    pair_diffs: list[float] = []  # ... and, for the cut checks, their pairs' differences and contrast
    contrast: list[float] = []

    def watch(frames: Iterable[Frame]) -> Iterator[Frame]:
        last = None
        for fr in frames:
            if params.cuts:
                centred, c = picture_stats(fr.image)
                if last is not None:
                    pair_diffs.append(centred_diff(last, centred))
                contrast.append(c)
                last = centred
            kept.append(fr.index)
            kept_time[fr.index] = fr.time
            yield fr

    kins = iter_kinematics(prefetch(watch(stream)), backend, compensate_model=params.compensate,
                           backend_bwd=backend_bwd, with_inside=params.edge_gate, bidirectional=params.backward_flow,
                           camera_margin=params.camera_margin)
    if params.vfr_time and info.fps and info.fps > 0:
        kins = per_nominal_interval(kins, kept_time, 1.0 / info.fps)
    link = params.persistence

    def measure(kin, prev, nxt):
        nonlocal raw, xs, ys, chans
        if kin.index >= raw.size:
            raw = np.resize(raw, kin.index + 2)
            xs = np.resize(xs, kin.index + 2)
            ys = np.resize(ys, kin.index + 2)
            if chans is not None:
                chans = np.resize(chans, (kin.index + 2, len(CHANNELS)))
        if chans is not None:
            v, x, y, chans[kin.index] = frame_channels(
                kin, gravity=params.gravity, change_gate=params.change_gate, blur=blur,
                top_fraction=params.top_fraction, prev=prev if link else None, nxt=nxt if link else None,
            )
            raw[kin.index], xs[kin.index], ys[kin.index] = v, x, y
            return
        v, x, y = frame_strength(
            kin,
            params.kind,
            gravity=params.gravity,
            change_gate=params.change_gate,
            blur=blur,
            top_fraction=params.top_fraction,
            prev=prev if link else None,
            nxt=nxt if link else None,
            map_sink=map_sink,
            abrupt=params.abrupt,
            inside_window=params.inside_window,
        )
        raw[kin.index], xs[kin.index], ys[kin.index] = v, x, y

    # Frame i is measured once frame i+1's item is there (the persistence check needs both neighbours),
    # in a worker thread while the next pair's flows are computed (one frame in flight, so the writes
    # happen in order): the strength maps are otherwise on the same thread as the forward flow.
    prev_kin = cur_kin = None
    pending = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="actiondubber-strength") as pool:
        for kin in kins:
            if cur_kin is not None:
                if pending is not None:
                    pending.result()
                pending = pool.submit(measure, cur_kin, prev_kin, kin)
            prev_kin, cur_kin = cur_kin, kin
        if pending is not None:
            pending.result()
    if cur_kin is not None:
        measure(cur_kin, prev_kin, None)
    if repeats.get("ends"):
        log.info("%s: repeated end frame(s) %s left out of the motion analysis", video,
                 ", ".join(map(str, repeats["ends"])))
    if repeats.get("skipped"):
        log.info("%s: %d repeated frame(s) left out of the motion analysis", video, len(repeats["skipped"]))
        for k in repeats["skipped"]:  # a left-out frame takes the lower neighbour's strength: no new peak
            if 0 < k < raw.size - 1:
                raw[k] = min(raw[k - 1], raw[k + 1])
                if chans is not None:
                    chans[k] = np.minimum(chans[k - 1], chans[k + 1])
    cuts = find_cuts(pair_diffs) if params.cuts else []
    dim = find_dim(contrast) if params.cuts else []
    if cuts:
        log.info("%s: shot cut(s) before frame(s) %s: no strength there", video,
                 ", ".join(str(kept[p + 1]) for p in cuts))
    if dim:
        log.info("%s: %d frame(s) with almost no contrast (a fade or a blank picture): no strength around them",
                 video, len(dim))
    # Frame q reads the pairs (q-2, q-1) .. (q+1, q+2): a cut pair (p, p+1) touches frames p-1 .. p+2,
    # a dim picture p the frames p-2 .. p+2 (positions among the analysed frames).
    blind = {q for p in cuts for q in range(p - 1, p + 3)} | {q for p in dim for q in range(p - 2, p + 3)}
    for q in sorted(blind):
        if 0 <= q < len(kept) and kept[q] < raw.size:
            raw[kept[q]] = 0.0
            if chans is not None:
                chans[kept[q]] = 0.0
    info = decoded_info(info, times, min_frames=MIN_FRAMES)
    n_dec = info.n_frames
    off = params.frame_offset
    scores = np.zeros(n_dec, np.float32)
    sx = np.full(n_dec, np.nan)
    sy = np.full(n_dec, np.nan)
    src = slice(1, n_dec - 1)
    dst = slice(1 + off, n_dec - 1 + off)
    scores[dst] = raw[src]
    aw, ah = size
    sx[dst] = (xs[src] + 0.5) * info.width / aw - 0.5
    sy[dst] = (ys[src] + 0.5) * info.height / ah - 0.5
    ch = None
    if chans is not None:
        ch = np.zeros((n_dec, len(CHANNELS)), np.float32)
        ch[dst] = chans[src]
    return StrengthCurve(info, scores, sx, sy, (aw, ah), ch)


def events_from_curve(
    curve: StrengthCurve, params: DetectorParams = DetectorParams(), *, extra: dict | None = None
) -> Events:
    """Pick peaks on *curve* and package them as :class:`Events`."""
    fps = curve.info.frame_rate
    gap = max(3, math.ceil(params.min_gap * fps - 1e-9))
    floor = params.floor * (params.short_side or min(curve.analysis_size)) / 128.0
    peaks = pick_peaks(
        curve.scores, delta=sensitivity_to_delta(params.sensitivity), min_gap=gap, window=params.window, floor=floor
    )
    return events_at(curve, peaks, params, extra=extra)


def events_at(
    curve: StrengthCurve,
    frames: Iterable[int],
    params: DetectorParams,
    *,
    detector: str = "inflection-training-free",
    extra: dict | None = None,
) -> Events:
    """*frames* of *curve* packaged as :class:`Events`: container time (the midpoint of the two frames
    with ``frame_offset=1``), strength and location of each, the settings in ``params``."""
    info = curve.info
    events = []
    for f in frames:
        f = int(f)
        if params.frame_offset == 1 and f >= 1:
            t = 0.5 * (info.time_of(f - 1) + info.time_of(f))
        else:
            t = info.time_of(f)
        x = None if math.isnan(curve.xs[f]) else float(curve.xs[f])
        y = None if math.isnan(curve.ys[f]) else float(curve.ys[f])
        events.append(Event(frame=f, time=t, score=float(curve.scores[f]), x=x, y=y))
    p = {"detector": detector, **asdict(params), "analysis_size": list(curve.analysis_size)}
    p.update(extra or {})
    return Events(info, tuple(events), curve.scores, p)


def run_detector(
    video: str | os.PathLike,
    params: DetectorParams,
    *,
    info: VideoInfo | None = None,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
) -> Events:
    """The training-free detector with *params*: per-frame peaks, or per-object events (``events="objects"``);
    with ``small_objects``, the small movers' bounces added (:func:`.tracks.with_small_movers`)."""
    if params.events == "objects":
        from actiondubber.detection.objects import object_candidates, object_events  # objects builds on this module

        events = object_events(object_candidates(video, params, progress=progress, flow_kwargs=flow_kwargs), params)
    elif params.verifier:
        from actiondubber.detection.verifier import load_verifier, verified_events  # verifier builds on this module

        model = load_verifier(params.verifier)
        curve = strength_curve(video, params, info=info, progress=progress, flow_kwargs=flow_kwargs,
                               channels=model.needs_channels)
        events = verified_events(curve, model, params)
    else:
        events = events_from_curve(frame_curve(video, params, info=info, progress=progress, flow_kwargs=flow_kwargs),
                                   params)
    side = params.small_objects
    if not side and params.small_objects_fallback and nothing_resolved(events, params):
        side = params.small_objects_fallback
        log.info("%s: no change of motion passes the floor (strongest %.2f px/frame at a 128-px short side); "
                 "tracking small movers at a %d-px short side (--small-objects-fallback 0 turns this off)",
                 video, strongest_change(events), side)
    elif side:
        log.info("%s: tracking small movers at a %d-px short side", video, side)
    if side:
        from actiondubber.detection.tracks import TrackParams, with_small_movers

        events = with_small_movers(events, video, TrackParams(short_side=side))
    return events


def strongest_change(events: Events) -> float:
    """The largest value of *events*' frame strength curve, in ``floor``'s units (px/frame at a 128-px
    short side), whatever analysis size the curve was measured at."""
    scores = np.nan_to_num(np.asarray(events.scores, np.float64))
    size = events.params.get("analysis_size") if events.params else None
    side = min(size) if size else 128
    return (float(scores.max()) if scores.size else 0.0) * 128.0 / side


def nothing_resolved(events: Events, params: DetectorParams) -> bool:
    """True when the frame-level detector found no event because no change of motion reached ``floor``
    (not merely because none stood out): the movers, if any, are too small or far for the analysis size."""
    if events.events or params.events != "frame" or params.verifier:
        return False
    return strongest_change(events) < params.floor


def frame_curve(
    video: str | os.PathLike,
    params: DetectorParams,
    *,
    info: VideoInfo | None = None,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
) -> StrengthCurve:
    """The frame-level strength curve *params* ask for: two analysis sizes when ``params.multiscale``, else one."""
    if params.multiscale:
        return multiscale_curve(video, params, info=info, progress=progress, flow_kwargs=flow_kwargs)
    return strength_curve(video, params, info=info, progress=progress, flow_kwargs=flow_kwargs)


def combine_scales(base: StrengthCurve, other: StrengthCurve, base_side: int, other_side: int) -> StrengthCurve:
    """The mean of two strength curves of one video measured at short sides *base_side* and *other_side*
    (in *base_side* pixels per frame); each frame's location is the one of the stronger of the two."""
    n = base.scores.size
    b = base.scores.astype(np.float64)
    o = np.zeros(n)
    m = min(n, other.scores.size)
    o[:m] = other.scores[:m].astype(np.float64) * base_side / other_side
    xs, ys = base.xs.copy(), base.ys.copy()
    take = np.zeros(n, bool)
    take[:m] = (o[:m] > b[:m]) & np.isfinite(other.xs[:m])
    xs[take], ys[take] = other.xs[:m][take[:m]], other.ys[:m][take[:m]]
    return StrengthCurve(base.info, (0.5 * (b + o)).astype(np.float32), xs, ys, base.analysis_size)


def multiscale_curve(
    video: str | os.PathLike,
    params: DetectorParams,
    *,
    info: VideoInfo | None = None,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
) -> StrengthCurve:
    """The strength curve at ``params.short_side`` averaged with the one at ``params.multiscale``.

    With a CPU flow backend the two passes run at once from one decode (:func:`~actiondubber.video.
    iter_frame_sets`, :class:`~actiondubber.video.prefetch.FanOut`), the second scale in a worker thread:
    on two cores about a tenth faster than one pass after the other, more on large footage where decoding
    costs more. If either fails or is interrupted (Ctrl-C), the other stops at its next frame. Other backends
    (RAFT) run the passes one after the other. *progress* gets one tick per frame over both (half a frame
    per frame of each pass), so a bar sized to the frame count ends at 100 %.
    """
    info = info or probe(video)
    other_params = dataclasses.replace(params, short_side=params.multiscale, multiscale=0)
    lock = threading.Lock()
    count = [0]

    def half(k: int) -> None:
        if progress is None:
            return
        with lock:  # both passes tick (from their decode threads); the caller's callback is called by one at a time
            count[0] += k
            ticks, count[0] = divmod(count[0], 2)
            if ticks:
                progress(ticks)

    if params.backend not in CPU_BACKENDS:
        base = strength_curve(video, params, info=info, progress=half, flow_kwargs=flow_kwargs)
        other = strength_curve(video, other_params, info=info, progress=half, flow_kwargs=flow_kwargs)
        return combine_scales(base, other, params.short_side, params.multiscale)
    fan = FanOut(iter_frame_sets(video, short_sides=(params.short_side, params.multiscale),
                                 skip_deblock=params.fast_decode), 2)
    mine, theirs = fan.branches

    def other_pass() -> StrengthCurve:
        try:
            return strength_curve(video, other_params, info=info, progress=half, flow_kwargs=flow_kwargs,
                                  frames=theirs)
        except BaseException:
            fan.cancel()  # the calling thread's pass stops at its next frame
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="actiondubber-scale") as pool:
        job = pool.submit(other_pass)
        try:
            base = strength_curve(video, params, info=info, progress=half, flow_kwargs=flow_kwargs, frames=mine)
        except BranchClosed:
            exc = job.exception()  # waits for the worker; its error is the cause
            if exc is not None and not isinstance(exc, BranchClosed):
                raise exc from None
            raise
        except BaseException:
            fan.cancel()  # the worker's pass stops at its next frame; the pool waits for it
            raise
        other = job.result()
    return combine_scales(base, other, params.short_side, params.multiscale)


def detect(
    video: str | os.PathLike,
    *,
    progress: Callable[[int], None] | None = None,
    flow_kwargs: dict | None = None,
    **kwargs,
) -> Events:
    """Detect audible actions in *video*; keyword arguments are :class:`DetectorParams` fields
    over :data:`DEFAULT_DETECTOR` (see :func:`detector_params`).

    >>> ev = detect("clip.mp4", sensitivity=0.6)        # doctest: +SKIP
    >>> [(e.frame, round(e.time, 3)) for e in ev.events]  # doctest: +SKIP
    """
    return run_detector(video, detector_params(**kwargs), progress=progress, flow_kwargs=flow_kwargs)
