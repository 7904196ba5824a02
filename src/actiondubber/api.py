"""The public entry points, importable from the top: ``actiondubber.detect``, ``.dub``, ``.export`` ...

Each is a thin, keyword-only front over one package (:mod:`actiondubber.detection`,
:mod:`actiondubber.dubbing`, :mod:`actiondubber.exporters`), so a script and the command line
run the same code. Heavy parts (torch for ``model=``) are imported only when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from actiondubber.detection.detector import PRESETS, DetectorParams, detector_params, run_detector
from actiondubber.errors import ParameterError
from actiondubber.events import load_events
from actiondubber.exporters.markers import FORMATS, export_events, render
from actiondubber.progress import progress_bar
from actiondubber.types import Events

#: File endings and the export format each means (``actiondubber.export(ev, "cues.srt")``).
EXTENSIONS = {
    ".otio": "otio", ".edl": "edl", ".xml": "fcpxml", ".fcpxml": "fcpxml", ".srt": "srt", ".vtt": "vtt",
    ".txt": "audacity", ".csv": "csv",
}

Progress = bool | Callable[[int], None]


@contextmanager
def _ticker(progress: Progress, video: str | os.PathLike, *, decodes: bool = True) -> Iterator:
    """A per-frame callback for the length of the job: the user's callable, a tqdm bar for ``True`` (the
    video is probed for its length only then, and only when the job decodes it), or ``None``."""
    if callable(progress):
        yield progress
    elif progress and decodes:
        from actiondubber.video.reader import probe

        with progress_bar(total=probe(video).n_frames or None, desc=Path(video).name) as bar:
            yield bar.update
    else:
        yield None


def detect(video: str | os.PathLike, *, model: str | os.PathLike | None = None, progress: Progress = False,
           preset: str = "default", **params) -> Events:
    """Find the audible actions in *video*.

    Parameters
    ----------
    video
        A video file (anything FFmpeg decodes).
    model
        ``None`` (default) runs the training-free inflectional-flow detector; a path to a TA²Net
        checkpoint (``actiondubber train``) runs the learned model instead (needs the ``torch`` extra).
    progress
        ``True`` shows a progress bar on stderr; a callable is called with 1 per decoded frame.
    preset
        Training-free: the settings *params* apply over: ``"default"`` (the two-scale detector,
        ``DEFAULT_DETECTOR``), ``"fast"`` (``FAST_DETECTOR``: one 128-px size, DIS ultrafast, one flow
        per frame pair; over 300 frames/s at 720p) or ``"fastest"``
        (``FASTEST_DETECTOR``: about 10x real time at 720p, less accurate).
    **params
        Training-free: any :class:`DetectorParams` field (``sensitivity=0.7``, ``short_side=256`` ...),
        over the *preset*.
        With *model*: the options of :func:`actiondubber.model.infer.detect_with_model`
        (``sensitivity``, ``threshold``, ``device`` ...).

    Returns
    -------
    Events
        The events (frame, time, score, x, y), the per-frame score curve and the parameters used.

    Raises
    ------
    ParameterError
        An unknown or out-of-range option.
    InputError
        The video is missing, unreadable or too short.
    BackendUnavailableError
        *model* was given but torch is not installed.

    Examples
    --------
    >>> import actiondubber
    >>> ev = actiondubber.detect(clip, sensitivity=0.5)
    >>> len(ev) > 0, ev.events[0].frame >= 0
    (True, True)
    """
    if preset not in PRESETS:
        raise ParameterError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if model is not None:
        if preset != "default":
            raise ParameterError("preset= chooses training-free settings; it has no effect with model=")
        import inspect

        from actiondubber.model import infer

        allowed = set(inspect.signature(infer.detect_with_model).parameters) - {"video", "checkpoint", "progress",
                                                                              "return_maps"}
        unknown = set(params) - allowed
        if unknown:
            raise ParameterError(f"unknown option(s) for detect(model=...): {', '.join(sorted(unknown))} "
                                 f"(it takes {', '.join(sorted(allowed))})")
        with _ticker(progress, video) as tick:
            return infer.detect_with_model(video, model, progress=tick, **params)
    p = detector_params(PRESETS[preset], **params)
    with _ticker(progress, video) as tick:
        return run_detector(video, p, progress=tick)


def dub(video: str | os.PathLike, output: str | os.PathLike, *, events: Events | str | os.PathLike | None = None,
        sound: str | os.PathLike | None = "knock", sound_dir: str | os.PathLike | None = None,
        progress: Progress = False, detector: DetectorParams | None = None, **options):
    """Put a sound at every audible action of *video* and write the dubbed video to *output*.

    Parameters
    ----------
    video
        The source video; its picture is copied packet for packet.
    output
        The dubbed file (``.mp4/.mov`` get AAC, ``.mkv/.webm`` Opus). Never an input; written atomically.
    events
        An :class:`Events`, an events JSON path, or ``None`` to run the training-free detector.
    sound, sound_dir
        A built-in sound name (``knock clap thud click metal footstep``) or a sound file; or a folder of them.
    progress
        As for :func:`detect` (used while detecting).
    detector
        :class:`DetectorParams` for the detection run, when *events* is ``None``.
    **options
        :class:`actiondubber.dubbing.DubParams` fields (``mix="duck"``, ``pan=True`` ...).

    Returns
    -------
    actiondubber.dubbing.DubResult
        The output path, the events used and the sounds placed.

    Raises
    ------
    ParameterError
        An unknown or out-of-range option.
    InputError, OutputError
        A bad input, or an output that cannot be written (or would overwrite an input).

    Examples
    --------
    >>> import actiondubber
    >>> res = actiondubber.dub(clip, tmp / "dubbed.mp4", sound="clap")
    >>> res.path.name
    'dubbed.mp4'
    """
    from actiondubber.dubbing import DubParams
    from actiondubber.dubbing.pipeline import dub as _dub

    unknown = set(options) - set(DubParams.__dataclass_fields__)
    if unknown:
        raise ParameterError(f"unknown dub option(s): {', '.join(sorted(unknown))}")
    with _ticker(progress, video, decodes=events is None) as tick:
        return _dub(video, output, events, sound=sound, sound_dir=sound_dir, params=DubParams(**options),
                    detector=detector, progress=tick)


def export(events: Events | str | os.PathLike, path_or_format: str | os.PathLike, *,
           video: str | os.PathLike | None = None, name: str | None = None,
           cue_length: float | None = None) -> Path | str:
    """Write *events* as markers for an editor, or return them as text.

    Parameters
    ----------
    events
        An :class:`Events` or an events JSON path.
    path_or_format
        A format name (``otio edl fcpxml audacity srt vtt csv``): the text is returned. Or an output
        path whose ending picks the format (``.otio .edl .xml .srt .vtt .txt .csv``): the file is
        written atomically and its path returned.
    video
        The media the markers point at (default: the events' own video).
    name
        Marker-name template: ``{n}`` (1-based number), ``{frame}``, ``{time}``, ``{score}``.
    cue_length
        Length of SRT/WebVTT cues, seconds.

    Returns
    -------
    pathlib.Path or str
        The path written, or the text when a format name was given.

    Raises
    ------
    ParameterError
        An unknown format or ending, or a bad template.
    OutputError
        The output cannot be written or is an input.

    Examples
    --------
    >>> import actiondubber
    >>> ev = actiondubber.load_events(events_json)
    >>> print(actiondubber.export(ev, "srt").splitlines()[0])
    1
    """
    ev = events if isinstance(events, Events) else load_events(events)
    kw = {k: v for k, v in (("name", name), ("cue_length", cue_length)) if v is not None}
    target = str(path_or_format)
    if target in FORMATS:
        from actiondubber.exporters.markers import check_events

        check_events(ev)
        return render(ev, target, video=video, **kw)
    fmt = EXTENSIONS.get(Path(target).suffix.lower())
    if fmt is None:
        raise ParameterError(f"{target}: unknown export format; give one of {', '.join(FORMATS)} or a file ending "
                             f"in {', '.join(EXTENSIONS)}")
    inputs = [] if isinstance(events, Events) else [events]
    return export_events(ev, {fmt: target}, video=video, inputs=inputs, **kw)[fmt]
