"""Options shared by several commands, generated once so every command spells them the same way.

:func:`detector_options` adds one option per :class:`DetectorParams` field (``detect``, ``dub``,
``preview`` and any command that runs the training-free detector expose the same knobs, with the
same defaults); :func:`pop_detector_params` turns the parsed values back into the dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import click
from click.core import ParameterSource

from actiondubber.detection.detector import DEFAULT_DETECTOR, PRESETS, DetectorParams, detector_params
from actiondubber.detection.strength import KINDS
from actiondubber.kinematics.flow import BACKENDS
from actiondubber.kinematics.globalmotion import MODELS

_D = DEFAULT_DETECTOR

#: field -> (click type, help). Every DetectorParams field must be here (checked at import).
DETECTOR_OPTIONS: dict[str, tuple[object, str]] = {
    "sensitivity": (click.FloatRange(0, 1), "Higher finds more (and weaker) events."),
    "short_side": (click.IntRange(16, 4096), "Analysis size: short side of the scaled frames, pixels."),
    "backend": (click.Choice(BACKENDS), "Optical flow."),
    "flow_preset": (click.Choice(["ultrafast", "fast", "medium"]),
                    "DIS flow preset: ultrafast is ~1.6x faster, slightly less accurate."),
    "compensate": (click.Choice(MODELS), "Camera-motion model removed from the flow."),
    "kind": (click.Choice(KINDS), "Strength measure (flow and impact are baselines)."),
    "gravity": (click.FloatRange(0, 1), "Weight of the prior that sounding impacts arrive moving down (0 = off)."),
    "change_gate": (click.FloatRange(0, None), "Brightness change (grey levels) below which flow is ignored."),
    "min_gap": (click.FloatRange(0, None), "Minimum time between two events, seconds (at least 3 frames)."),
    "window": (click.IntRange(1, None), "Running-median window of the peak picker, frames."),
    "floor": (click.FloatRange(0, None), "Absolute strength floor, px/frame at a 128-px short side."),
    "blur": (click.IntRange(0, None), "Blur of the strength map before the top fraction is taken, pixels."),
    "top_fraction": (click.FloatRange(0, 1, min_open=True), "Fraction of strongest pixels averaged per frame."),
    "frame_offset": (click.IntRange(0, 1), "0: the frame at the change of motion; 1: the frame after it."),
    "persistence": (bool, "Require the loss of speed to persist over neighbouring frame pairs."),
    "skip_repeats": (bool, "Leave isolated repeated frames (frame-rate conversion, pulldown) out of the analysis."),
    "cuts": (bool, "Find shot cuts and fades through black or white and ignore the motion across them (the flow "
                   "is meaningless there)."),
    "vfr_time": (bool, "Under a variable frame rate, measure motion per nominal frame interval (from the "
                       "container times)."),
    "end_repeats": (bool, "Leave a duplicated first or last frame out of the analysis (trimmed clips often end "
                          "on one, which reads as a sudden stop)."),
    "events": (click.Choice(["frame", "objects"]),
               "frame: at most one event per --min-gap; objects: events per moving region (several may share a "
               "frame)."),
    "object_radius": (click.FloatRange(0, 2, min_open=True),
                      "With --event-mode objects: distance apart of two objects, × short side."),
    "object_share": (click.FloatRange(0, None), "With --event-mode objects: share of the strongest concurrent "
                                                "candidate an object event must reach."),
    "abrupt": (click.FloatRange(0, None), "Down-weight decelerations that arrive already slowing down "
                                          "(0 = off; the default 2 squares the speed ratio)."),
    "verifier": (str, "Learned candidate verifier: 'default' (shipped weights) or a file from train-verifier; "
                      "empty = off."),
    "multiscale": (click.IntRange(0, 4096), "Also analyse at this short side and average the two curves "
                                             "(0 = off: one analysis size, about three times faster)."),
    "edge_gate": (bool, "Ignore pixels whose motion enters or leaves the picture (shake, pans, objects "
                        "crossing the edge)."),
    "camera_margin": (click.FloatRange(0, None), "Ignore a border band this many times as wide as the camera's "
                                                 "largest per-frame motion (0 = off; a still camera keeps all)."),
    "backward_flow": (bool, "Compute a backward flow per frame pair; --no-backward-flow negates the previous "
                            "pair's forward flow instead (half the flow work, less accurate)."),
    "fast_decode": (bool, "Decode without the codec's deblocking filter (about a quarter less decode work; "
                          "block edges stay in the analysed frames)."),
    "small_objects": (click.IntRange(0, 4096), "Also track small compact movers (a ball in a wide shot) at this "
                                               "short side and add their bounces (0 = off; 540 suits a wide shot; "
                                               "decodes the video a second time)."),
    "inside_window": (bool, "Count a stop only where the point stays in the picture over the five frames the "
                            "persistence check reads (not just come in, not on its way out)."),
    "small_objects_fallback": (click.IntRange(0, 4096), "When no change of motion passes the floor, track small "
                                                        "movers at this short side instead (0 = off)."),
}
_FIELDS = [f.name for f in dataclasses.fields(DetectorParams)]
if set(_FIELDS) != set(DETECTOR_OPTIONS):  # pragma: no cover - caught by the test suite at import
    raise RuntimeError("cli.options.DETECTOR_OPTIONS is out of step with DetectorParams")


#: Flags that differ from the field name, where the plain name would be ambiguous next to other options.
_FLAG_NAMES = {"window": "--peak-window", "events": "--event-mode"}


def _flag(name: str) -> str:
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def _dest(name: str) -> str:
    """The command's keyword for a field (the flag's name, so it cannot clash with the command's own)."""
    return _flag(name)[2:].replace("-", "_")


def detector_options(f: Callable | None = None, *, defaults: DetectorParams = DEFAULT_DETECTOR) -> Callable:
    """Decorate a click command with one option per :class:`DetectorParams` field.

    *defaults*: the command's defaults (:data:`DEFAULT_DETECTOR`, the two-scale detector users get;
    ``sync`` passes the single-scale ``DetectorParams()``). ``@detector_options`` or
    ``@detector_options(defaults=...)``.
    """
    if f is None:
        return lambda g: detector_options(g, defaults=defaults)
    f.__detector_defaults__ = defaults
    if defaults == DEFAULT_DETECTOR:
        f = click.option("--fast", "fast_detector", is_flag=True,
                         help=f"The fast preset ({preset_flags(PRESETS['fast'])}): one 128-px size, over 300 "
                              "frames/s at 720p, a little less accurate; options given with it still apply.")(f)
        f = click.option("--fastest", "fastest_detector", is_flag=True,
                         help=f"The fastest preset ({preset_flags(PRESETS['fastest'])}): about 10x real time at "
                              "720p, less accurate; options given with it still apply.")(f)
        f = click.option("--preset", "preset_detector", type=click.Choice(list(PRESETS)), default=None,
                         help="The detector preset by name (as actiondubber.detect(preset=...) and the review "
                              "page): default, or the same as --fast / --fastest.")(f)
    for name in reversed(_FIELDS):
        typ, help_ = DETECTOR_OPTIONS[name]
        default = getattr(defaults, name)
        if typ is bool:
            decls = [f"{_flag(name)}/--no-{_flag(name)[2:]}"]
            f = click.option(*decls, _dest(name), default=default, show_default=True, help=help_)(f)
        else:
            decls = ["-s", _flag(name)] if name == "sensitivity" else [_flag(name)]
            f = click.option(*decls, _dest(name), type=typ, default=default, show_default=True, help=help_)(f)
    return f


def preset_flags(preset: DetectorParams, base: DetectorParams = DEFAULT_DETECTOR) -> str:
    """The command-line options that turn *base* into *preset* (``--multiscale 0 --abrupt 0 -s 0.5``), for help
    texts written from the presets themselves."""
    out = []
    for name in _FIELDS:
        value = getattr(preset, name)
        if value == getattr(base, name):
            continue
        if DETECTOR_OPTIONS[name][0] is bool:
            out.append(_flag(name) if value else f"--no-{_flag(name)[2:]}")
        else:
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            out.append(f"{'-s' if name == 'sensitivity' else _flag(name)} {shown if shown != '' else repr('')}")
    return " ".join(out)


def preset_from_flags(fast: bool, fastest: bool, name: str | None = None) -> DetectorParams | None:
    """The preset that ``--fast`` / ``--fastest`` / ``--preset NAME`` chose (None: none); two at once is a usage
    error."""
    chosen = [n for n, on in (("fast", fast), ("fastest", fastest), (name, name is not None)) if on]
    if len(chosen) > 1:
        raise click.UsageError("--fast, --fastest and --preset each choose a preset; give one")
    return PRESETS[chosen[0]] if chosen else None


def pop_detector_params(kwargs: dict, defaults: DetectorParams | None = None) -> DetectorParams:
    """Remove the detector options from a command's *kwargs* and build the :class:`DetectorParams`.

    Options the user set are applied over the command's defaults with :func:`detector_params`, so
    that e.g. ``--event-mode objects`` alone switches the default second scale off.
    """
    values = {name: kwargs.pop(_dest(name)) for name in _FIELDS}
    preset = preset_from_flags(bool(kwargs.pop("fast_detector", False)), bool(kwargs.pop("fastest_detector", False)),
                               kwargs.pop("preset_detector", None))
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return DetectorParams(**values)
    if defaults is None:
        defaults = getattr(ctx.command.callback, "__detector_defaults__", DEFAULT_DETECTOR)
    if preset is not None:
        defaults = preset
    given = {n: v for n, v in values.items() if ctx.get_parameter_source(_dest(n)) is not ParameterSource.DEFAULT}
    return detector_params(defaults, **given)


def detector_options_given(ctx: click.Context) -> list[str]:
    """The detector options the user set on the command line (to refuse them where no detector runs)."""
    given = [_flag(n) for n in _FIELDS if ctx.get_parameter_source(_dest(n)) is ParameterSource.COMMANDLINE]
    if "fast_detector" in ctx.params and ctx.get_parameter_source("fast_detector") is ParameterSource.COMMANDLINE:
        given.append("--fast")
    if "fastest_detector" in ctx.params and \
            ctx.get_parameter_source("fastest_detector") is ParameterSource.COMMANDLINE:
        given.append("--fastest")
    if "preset_detector" in ctx.params and \
            ctx.get_parameter_source("preset_detector") is ParameterSource.COMMANDLINE:
        given.append("--preset")
    return given
