"""Sounds to place: a built-in name, a user's sound file, or a folder of them.

Files are decoded with PyAV (:func:`actiondubber.audio.reader.read_audio_clip`:
WAV, FLAC, OGG, MP3, M4A ... anything FFmpeg reads), resampled to the mix
rate, kept mono or stereo, trimmed of leading silence (so the sound's attack,
not a gap before it, lands on the event) and trailing silence, and normalised
to peak 1.0.
:func:`choose` decides which sound each event gets (round-robin or seeded
random).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from actiondubber.audio.reader import read_audio_clip
from actiondubber.dubbing.sounds import BUILTIN_SOUNDS, Sound, canonical_name, synthesize
from actiondubber.errors import InputError, ParameterError

log = logging.getLogger(__name__)

#: Extensions picked up from a ``--sound-dir`` folder (other files there are ignored).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff")
#: A sound file's attack starts where it first reaches this fraction of its peak (-30 dB); what comes before,
#: silence or the faint pre-echo lossy codecs smear ahead of an attack (MP3: ~5 ms at -40 dB in the tests), is cut
#: but for :data:`ATTACK_LEAD`, so the attack lands on the event.
ATTACK_THRESHOLD = 10 ** (-30 / 20)
#: Seconds kept (faded in) before the attack.
ATTACK_LEAD = 0.001
#: Trailing samples below this fraction of the peak (-60 dB) are cut.
TAIL_THRESHOLD = 10 ** (-60 / 20)
#: How events choose among several sounds.
ORDERS = ("round-robin", "random")
#: Variants synthesised for a built-in sound (different seeds), used in turn.
BUILTIN_VARIANTS = 4
#: Sound files longer than this (s) are accepted with a warning: a placed sound is meant to be short.
LONG_SOUND = 10.0


def load_sound_file(path: str | os.PathLike, sr: int = 48000) -> Sound:
    """Decode the audio file *path* into a :class:`Sound` at *sr* Hz (mono or stereo, peak 1.0).

    Raises :class:`InputError` naming the file when it is missing, not audio,
    or holds only silence.
    """
    p = Path(path)
    try:
        clip = read_audio_clip(p, sr=sr, mono=False)
    except InputError as exc:
        raise InputError(f"{p}: not a usable sound file ({_reason(exc, p)})") from None
    y = np.atleast_2d(np.asarray(clip.samples, dtype=np.float32))
    if y.shape[0] > 2:  # surround: fold down to stereo-compatible mono
        y = y.mean(axis=0, keepdims=True)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak <= 1e-6:
        raise InputError(f"{p}: sound file holds only silence")
    env = np.abs(y).max(axis=0)
    attack = int(np.argmax(env >= ATTACK_THRESHOLD * peak))
    start = max(0, attack - int(round(ATTACK_LEAD * sr)))
    end = int(np.flatnonzero(env > TAIL_THRESHOLD * peak)[-1]) + 1
    y = y[:, start:end] / peak
    if attack > start:
        y[:, : attack - start] *= np.linspace(0.0, 1.0, attack - start, endpoint=False, dtype=np.float32)
    if y.shape[1] / sr > LONG_SOUND:
        log.warning("%s: sound is %.1f s long; each event plays all of it", p, y.shape[1] / sr)
    return Sound(p.stem, np.ascontiguousarray(y, dtype=np.float32), int(sr))


def _reason(exc: InputError, p: Path) -> str:
    msg = str(exc)
    prefix = f"{p}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def sound_files(folder: str | os.PathLike) -> list[Path]:
    """The audio files (by extension, :data:`AUDIO_EXTENSIONS`) directly inside *folder*, sorted by name."""
    d = Path(folder)
    if not d.exists():
        raise InputError(f"{d}: sound folder not found")
    if not d.is_dir():
        raise InputError(f"{d}: is not a folder (use --sound for a single sound file)")
    files = sorted(
        (f for f in d.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith(".")),
        key=lambda f: f.name.lower(),
    )
    if not files:
        raise InputError(f"{d}: no sound files in this folder (looked for {', '.join(AUDIO_EXTENSIONS)})")
    return files


def load_sound_dir(folder: str | os.PathLike, sr: int = 48000) -> list[Sound]:
    """Every sound file in *folder* (see :func:`sound_files`), decoded; one bad file is an :class:`InputError`."""
    return [load_sound_file(f, sr) for f in sound_files(folder)]


def builtin_variants(name: str, sr: int = 48000, *, seed: int = 0, n: int = BUILTIN_VARIANTS) -> list[Sound]:
    """*n* seeded variants of the built-in sound *name*, so repeats do not sound identical."""
    return [synthesize(name, sr, seed=int(seed) * 7919 + k) for k in range(n)]


def resolve_sounds(
    sound: str | os.PathLike | None = "knock",
    sound_dir: str | os.PathLike | None = None,
    *,
    sr: int = 48000,
    seed: int = 0,
) -> list[Sound]:
    """The sounds to place: from *sound_dir*, else *sound* (an existing file, else a built-in name).

    Raises :class:`InputError` when *sound* is neither a file nor a built-in
    name, or a file cannot be decoded.
    """
    if sound_dir is not None:
        return load_sound_dir(sound_dir, sr)
    if sound is None:
        sound = "knock"
    p = Path(sound)
    if p.exists():
        return [load_sound_file(p, sr)]
    name = canonical_name(str(sound))
    if name is None:
        if p.suffix:
            raise InputError(f"{p}: sound file not found")
        raise InputError(f"{sound}: not a built-in sound ({', '.join(BUILTIN_SOUNDS)}) nor an existing file")
    return builtin_variants(name, sr, seed=seed)


def sound_inputs(sound: str | os.PathLike | None, sound_dir: str | os.PathLike | None) -> list[Path]:
    """The files the sound options read (for output-path checks); empty for a built-in sound."""
    if sound_dir is not None:
        d = Path(sound_dir)
        return sound_files(d) if d.is_dir() else []
    if sound is not None and Path(sound).exists():
        return [Path(sound)]
    return []


def choose(n_events: int, n_sounds: int, *, order: str = "round-robin", seed: int = 0) -> list[int]:
    """Index of the sound each of *n_events* events plays.

    ``round-robin`` cycles through the sounds in order; ``random`` draws
    uniformly (seeded) but never the same sound twice in a row when there
    are several.
    """
    if order not in ORDERS:
        raise ParameterError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if n_sounds <= 0:
        raise ParameterError("no sounds to choose from")
    if order == "round-robin" or n_sounds == 1:
        return [i % n_sounds for i in range(n_events)]
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x0DE5])
    out: list[int] = []
    for _ in range(n_events):
        k = int(rng.integers(n_sounds - (1 if out else 0)))
        if out and k >= out[-1]:
            k += 1  # skip the previous sound
        out.append(k)
    return out


def describe(names: Iterable[str]) -> str:
    """Short human description of a set of sound names (for the CLI summary)."""
    names = sorted(set(names))
    if len(names) <= 3:
        return ", ".join(names)
    return f"{len(names)} sounds ({', '.join(names[:3])}, ...)"
