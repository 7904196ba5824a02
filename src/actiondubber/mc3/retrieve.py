"""Which library sound fits: per event (video → audio) or for a prompt (text → audio).

Library sounds are read with :func:`actiondubber.dubbing.library.load_sound_file` (so the same files
and errors as ``dub --sound-dir``), framed like an event window and embedded by the audio head.
An event gets the sound whose audio embedding is nearest its video embedding; a prompt gets the
sounds nearest its text embedding in the MC3 space, optionally blended with how well the prompt
matches the file's name (``name_weight``: MiniLM similarity of prompt and name; foley libraries
name their files by what they hold).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actiondubber.errors import InputError
from actiondubber.types import Events


@dataclass(frozen=True)
class Library:
    """Sound files, their decoded sounds (at the mix rate) and their audio embeddings ``(n, d)``."""

    paths: tuple[Path, ...]
    sounds: tuple
    embeddings: np.ndarray

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.paths]


def load_library(folder: str | os.PathLike, model, *, sr: int = 48000) -> Library:
    """Decode and embed every sound file in *folder* (InputError: no audio files, or an unreadable one)."""
    from actiondubber.dubbing.library import load_sound_file, sound_files
    from actiondubber.mc3.features import audio_features_from_waves, sound_window

    files = sound_files(folder)
    sounds = tuple(load_sound_file(f, sr) for f in files)
    waves = [sound_window(s.samples, s.sr, seed=i) for i, s in enumerate(sounds)]
    emb = model.embed("audio", audio_features_from_waves(waves, sr))
    return Library(tuple(files), sounds, emb)


def event_similarities(video: str | os.PathLike, events: Events, library: Library, model,
                       cache_dir: Path | None = None, *, name_weight: float = 0.0) -> np.ndarray:
    """Score ``(n_events, n_sounds)`` of each library sound for each event.

    The cosine of the event's MC3 video embedding with each sound's audio embedding, plus
    *name_weight* x the cosine of what the picture shows in words with the file's name
    (:func:`actiondubber.mc3.words.name_similarities`).
    """
    from actiondubber.mc3 import features as feats
    from actiondubber.mc3.score import event_curve
    from actiondubber.video.reader import probe

    if not events.events:
        return np.zeros((0, len(library.paths)), np.float32)
    cache_dir = feats.default_cache_dir() if cache_dir is None else cache_dir
    info = probe(video)
    frames = [min(max(e.frame, 0), info.n_frames - 1) for e in events.events]
    x = feats.video_features(video, frames, event_curve(video, events, cache_dir), info=info, cache_dir=cache_dir)
    words = None
    if name_weight:
        from actiondubber.mc3.words import class_probabilities, top_words

        xy = [(e.x, e.y) for e in events.events]
        words = top_words(class_probabilities(video, frames, xy=xy, info=info, cache_dir=cache_dir))
    return video_audio_scores(model, x, library, words=words, name_weight=name_weight)


def video_audio_scores(model, video_x: np.ndarray, library: Library, *, words=None,
                       name_weight: float = 0.0) -> np.ndarray:
    """:func:`event_similarities` from MC3 video inputs (and picture words) already computed."""
    sims = model.embed("video", video_x) @ library.embeddings.T
    if name_weight:
        from actiondubber.mc3.words import name_similarities

        if words is None:
            raise ValueError("name_weight needs the events' picture words")
        sims = sims + float(name_weight) * name_similarities(words, library.paths)
    return sims.astype(np.float32)


def match_events(video, events: Events, library: Library, model, cache_dir: Path | None = None, *,
                 name_weight: float = 0.0) -> list[int]:
    """Index into *library* of the best-fitting sound for each event."""
    sims = event_similarities(video, events, library, model, cache_dir, name_weight=name_weight)
    return [int(i) for i in np.argmax(sims, axis=1)] if sims.size else []


def prompt_similarities(prompt: str, library: Library, model, *, name_weight: float = 1.0) -> np.ndarray:
    """Score of each library sound for *prompt*: MC3 text-audio cosine + *name_weight* x prompt-name cosine."""
    from actiondubber.mc3 import encoders
    from actiondubber.mc3.words import name_text

    if not prompt or not prompt.strip():
        raise InputError("the prompt is empty")
    if "text" not in model.heads:
        raise InputError("this MC3 model has no text head")
    t = encoders.text_features([prompt.strip()])
    score = (model.embed("text", t) @ library.embeddings.T)[0]
    if name_weight:
        names = encoders.text_features([name_text(p) for p in library.paths])
        score = score + float(name_weight) * (names @ t[0])
    return score.astype(np.float32)


def match_prompt(prompt: str, library: Library, model, *, name_weight: float = 1.0) -> list[int]:
    """Library indices ranked best first for *prompt*."""
    return [int(i) for i in np.argsort(-prompt_similarities(prompt, library, model, name_weight=name_weight),
                                       kind="stable")]


def auto_sounds(video: str | os.PathLike, folder: str | os.PathLike, model=None, *, cache_dir: Path | None = None,
                chosen: list | None = None, name_weight: float = 0.0):
    """A function ``(events, sr) -> one library sound per event`` for :func:`actiondubber.dubbing.pipeline.dub`.

    The library in *folder* is read and checked at once (so a bad library fails before detection);
    *chosen*, when given, receives the chosen file paths; *name_weight* as in :func:`event_similarities`.
    """
    from actiondubber.mc3.heads import load_model

    model = model or load_model()
    first = load_library(folder, model)

    def pick(events: Events, sr: int) -> list:
        lib = first if sr == 48000 else load_library(folder, model, sr=sr)
        idx = match_events(video, events, lib, model, cache_dir, name_weight=name_weight)
        if chosen is not None:
            chosen.extend(lib.paths[i] for i in idx)
        return [lib.sounds[i] for i in idx]

    return pick


def prompt_sound(prompt: str, folder: str | os.PathLike, model=None, *, name_weight: float = 1.0) -> Path:
    """The file in *folder* that best fits *prompt*."""
    from actiondubber.mc3.heads import load_model

    model = model or load_model()
    lib = load_library(folder, model)
    return lib.paths[match_prompt(prompt, lib, model, name_weight=name_weight)[0]]
