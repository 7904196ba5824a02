"""``actiondubber dub``: put a sound at every audible action and write the dubbed video."""

from __future__ import annotations

from pathlib import Path

import click

from actiondubber.cli.common import show_progress
from actiondubber.cli.options import detector_options, detector_options_given, pop_detector_params
from actiondubber.dubbing.library import ORDERS, describe
from actiondubber.dubbing.pipeline import dub
from actiondubber.dubbing.place import MIXES, DubParams
from actiondubber.dubbing.sounds import BUILTIN_SOUNDS
from actiondubber.progress import progress_bar
from actiondubber.video.reader import probe

_D = DubParams()

#: ``dub --auto --name-weight`` default: how much file names count against the picture's words
#: (``python benchmarks/bench_mc3.py --retrieval-only``; README, MC3 section).
AUTO_NAME_WEIGHT = 1.0


@click.command("dub")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="Dubbed video to write (.mp4/.mov/.m4v get AAC audio, .mkv/.webm Opus).")
@click.option("--events", "events_path", type=click.Path(path_type=Path),
              help="Events JSON (from 'actiondubber detect --json'); skips detection.")
@click.option("--sound", help=f"Built-in sound ({', '.join(BUILTIN_SOUNDS)}) or a sound file.  [default: knock]")
@click.option("--sound-dir", type=click.Path(path_type=Path),
              help="Folder of sound files (WAV/FLAC/OGG/MP3...), drawn in turn or at random (--order).")
@click.option("--order", type=click.Choice(ORDERS), default=_D.order, show_default=True,
              help="How events draw from several sounds.")
@click.option("--mix", type=click.Choice(MIXES), default=_D.mix, show_default=True,
              help="Original soundtrack: keep it under the sounds, replace it, or duck it around each event.")
@click.option("--original-db", type=float, default=_D.original_db, show_default=True,
              help="Level of the original soundtrack under --mix keep, dB.")
@click.option("--duck-db", type=click.FloatRange(None, 0), default=_D.duck_db, show_default=True,
              help="Attenuation of the original around each event under --mix duck, dB.")
@click.option("--level-db", type=float, default=_D.level_db, show_default=True,
              help="Peak level of a full-score sound, dBFS (the limiter keeps the mix at or below -1 dBFS).")
@click.option("--no-score-gain", is_flag=True, help="Play every event at the same level (not by score).")
@click.option("--jitter-db", type=click.FloatRange(0, 12), default=_D.gain_jitter_db, show_default=True,
              help="Random gain variation between repeats, ± dB.")
@click.option("--pitch-jitter", type=click.FloatRange(0, 12), default=_D.pitch_jitter, show_default=True,
              help="Random pitch variation between repeats, ± semitones.")
@click.option("--pan", is_flag=True, help="Stereo: pan each sound by the event's horizontal position.")
@click.option("--seed", type=int, default=_D.seed, show_default=True, help="Seed of the random variations.")
@detector_options
@click.option("--save-events", type=click.Path(path_type=Path), help="Also write the events used as JSON.")
@click.option("--sound-library", type=click.Path(path_type=Path),
              help="Folder of sound files that MC3 chooses from (with --auto or --prompt).")
@click.option("--auto", is_flag=True, help="With --sound-library: per event, the sound that fits its picture best.")
@click.option("--prompt", help="With --sound-library: the sound that fits this description best, at every event.")
@click.option("--mc3-weights", type=click.Path(path_type=Path), help="MC3 weight file (default: shipped).")
@click.option("--name-weight", type=click.FloatRange(0, 100), default=AUTO_NAME_WEIGHT, show_default=True,
              help="With --auto: how much the library's file names count, matched against what the event's picture "
                   "shows (its ImageNet classes, in words); 0 = the MC3 picture-sound match alone.")
@click.pass_context
def dub_cmd(ctx, video: Path, out: Path, events_path, sound, sound_dir, order, mix, original_db, duck_db, level_db,
            no_score_gain, jitter_db, pitch_jitter, pan, seed, save_events, sound_library=None, auto=False,
            prompt=None, mc3_weights=None, name_weight=AUTO_NAME_WEIGHT, **detector_kw):
    """Put a sound at every audible action in VIDEO and write the dubbed video to OUTPUT.

    Events come from the training-free detector, or from --events. The video
    stream is copied without re-encoding; the new soundtrack starts with the
    first frame, each sound at its event's exact time. With no events the
    video is still written (the original soundtrack under keep/duck, silence
    under replace) and a warning says so.
    """
    if sound is not None and sound_dir is not None:
        raise click.UsageError("give --sound or --sound-dir, not both")
    if ctx.get_parameter_source("name_weight") == click.core.ParameterSource.COMMANDLINE and not auto:
        raise click.UsageError("--name-weight needs --auto")
    mc3_kw, note = _mc3_choice(video, sound_library, auto, prompt, mc3_weights, sound, sound_dir, name_weight)
    if prompt is not None:
        sound = str(mc3_kw.pop("sound"))
    if events_path is not None and detector_options_given(ctx):
        raise click.UsageError(f"{detector_options_given(ctx)[0]} tunes detection; it has no effect with --events")
    params = DubParams(mix=mix, original_db=original_db, duck_db=duck_db, level_db=level_db,
                       score_gain=not no_score_gain, gain_jitter_db=jitter_db, pitch_jitter=pitch_jitter, pan=pan,
                       seed=seed, order=order)
    detector = pop_detector_params(detector_kw)
    kw = dict(sound=sound or "knock", sound_dir=sound_dir, params=params, detector=detector,
              save_events_to=save_events)
    kw.update(mc3_kw)
    if events_path is None and show_progress(ctx):
        info = probe(video)
        with progress_bar(total=info.n_frames, desc=video.name) as bar:
            res = dub(video, out, None, info=info, progress=bar.update, **kw)
    else:
        res = dub(video, out, events_path, **kw)
    how = "copied" if res.video_copied else f"re-encoded ({res.video_codec})"
    chans = "stereo" if res.channels == 2 else "mono"
    click.echo(
        f"{res.path}: {len(res.placements)} sound(s) placed ({describe(res.sound_names)}), mix {res.mix}; "
        f"video {how}, audio {res.audio_codec} {res.sr} Hz {chans}, peak {res.peak_db:.1f} dBFS"
    )
    if note:
        click.echo(note(res))


def _mc3_choice(video, library, auto, prompt, weights, sound, sound_dir, name_weight=0.0):
    """dub keyword arguments and a summary function for --sound-library with --auto / --prompt (MC3)."""
    if library is None:
        if auto or prompt is not None or weights is not None:
            raise click.UsageError("--auto, --prompt and --mc3-weights need --sound-library")
        return {}, None
    if not auto and prompt is None:
        raise click.UsageError("--sound-library needs --auto or --prompt")
    if auto and prompt is not None:
        raise click.UsageError("give --auto or --prompt, not both")
    if sound is not None or sound_dir is not None:
        raise click.UsageError("--sound-library chooses the sounds; it cannot be combined with --sound or --sound-dir")
    from actiondubber.dubbing.library import sound_files
    from actiondubber.mc3.heads import load_model
    from actiondubber.mc3.retrieve import auto_sounds, prompt_sound

    sound_files(library)  # an empty or missing library fails first
    model = load_model(weights)
    if prompt is not None:
        best = prompt_sound(prompt, library, model)
        return {"sound": best}, lambda res: f"prompt {prompt!r}: {best.name}"
    chosen: list = []
    pick = auto_sounds(video, library, model, chosen=chosen, name_weight=name_weight)

    def note(res):
        names = sorted({p.name for p in chosen})
        return f"auto: {len(chosen)} event(s) from {len(names)} library sound(s): {', '.join(names[:6])}" + (
            " ..." if len(names) > 6 else "")

    return {"event_sounds": pick, "sound_dir": library}, note


COMMANDS = [dub_cmd]
