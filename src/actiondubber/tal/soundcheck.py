"""Check a soundtrack against the picture before ``detect --use-audio`` lets the model hear it.

The learned gate (:mod:`.fusion`) judges agreement within ±``agree_lags`` frames of lag 0 and a
window around each step; a whole-clip offset of 300 ms lies beyond what it sees, and a foreign
soundtrack can agree with a few candidates by chance. The offset estimator of
:mod:`actiondubber.sync` looks at the whole clip at once (±0.5 s of lag, halves, chance share), so it
runs first, and its verdict decides (policy ``align``, the default):

* an offset measured with *high* confidence (``min_confidence``, 0.6: the estimator's own "high"
  label) and larger than ``min_shift`` is *taken out*: the soundtrack is realigned to the picture, so
  a badly synced soundtrack becomes a clean one;
* a soundtrack the estimator calls music or speech, or whose onsets match too few of the visible
  impacts at any lag (``unmatched``: another clip's sound, unrelated sound), is refused for the clip:
  the events are exactly the picture-only ones;
* so is one whose offset comes out with *low* confidence (under ``low_confidence``, 0.35: the
  estimator's "low" label): the sound does not fit the picture well enough to be trusted, and one
  whose offset is larger than ``min_shift`` but not certain enough to take out;
* anything else (too few impacts or onsets to measure, an ambiguous lag, a small offset) is left to
  the learned gate.

Offsets under ``min_shift`` (80 ms, between two and three frames at 30 fps) are left alone on
purpose: soundtracks of real footage trail the picture by 1–3 frames by nature, and the model was
trained with such sound. The rules and thresholds were chosen by looking at ``bench_tal.py --part
b`` on its own clips (README); the thresholds are the estimator's own confidence labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actiondubber.audio.reader import AudioClip
from actiondubber.errors import ParameterError
from actiondubber.sync.offset import SyncParams, SyncRefused, estimate_offset, onset_envelope
from actiondubber.sync.soundtype import classify_soundtrack

#: ``sound_check`` policies of :func:`actiondubber.tal.audible.detect_av`: ``align`` (default: realign a
#: confidently measured offset, refuse music, speech, unmatched sound and low-confidence offsets),
#: ``realign`` (only realign), ``off`` (the learned gate alone).
SOUND_CHECKS = ("align", "realign", "off")
#: Refusals of the offset estimator that refuse the soundtrack (``few_impacts`` and ``ambiguous`` are
#: left to the gate).
REFUSING_KINDS = ("music", "speech", "unmatched")


@dataclass(frozen=True)
class SoundCheck:
    """What the check found and did: ``action`` is ``keep``, ``realign`` or ``refuse``."""

    action: str
    offset: float | None = None
    confidence: float | None = None
    reason: str = ""

    def to_params(self) -> dict:
        """JSON-ready fields for the events file's ``params``."""
        return {"sound_check": self.action,
                "sound_offset_ms": None if self.offset is None else round(self.offset * 1000.0, 1),
                "sound_offset_confidence": None if self.confidence is None else round(self.confidence, 3),
                "sound_check_reason": self.reason}


def check_soundtrack(times: np.ndarray, scores: np.ndarray, frames: np.ndarray, samples: np.ndarray, sr: int,
                     start: float, fps: float, *, policy: str = "align", min_shift: float = 0.08,
                     min_confidence: float = 0.6, low_confidence: float = 0.35,
                     refuse: tuple[str, ...] = REFUSING_KINDS, speech_detector: str = "auto") -> SoundCheck:
    """Decide what to do with a soundtrack before the audio-visual model hears it.

    Parameters
    ----------
    times, scores, frames
        The picture-only detector's per-frame times (video clock), curve and event frames.
    samples, sr, start
        The mono soundtrack, its rate and sample 0's time on the video clock.
    fps
        The video's frame rate.
    policy
        One of :data:`SOUND_CHECKS`.
    min_shift, min_confidence
        Realign only offsets larger than *min_shift* seconds measured with at least this confidence.
    low_confidence
        Policy ``align``: refuse the sound when its offset's confidence is under this.
    refuse
        Policy ``align``: the estimator's refusals (:class:`~actiondubber.sync.SyncRefused` ``kind``)
        that refuse the sound.
    speech_detector
        How the music/speech classifier finds speech (see :mod:`actiondubber.sync.soundtype`).

    Returns
    -------
    SoundCheck
        ``realign`` with the offset to subtract from the soundtrack's start (``offset > 0``: the sound
        trails the picture), ``refuse``, or ``keep``.
    """
    if policy not in SOUND_CHECKS:
        raise ParameterError(f"sound check must be one of {', '.join(SOUND_CHECKS)}, got {policy!r}")
    if policy == "off":
        return SoundCheck("keep", reason="sound check off")
    params = SyncParams(speech_detector=speech_detector)
    clip = AudioClip("", np.asarray(samples, np.float32), int(sr), float(start))
    kind = classify_soundtrack(clip, speech_detector) if policy == "align" else None
    try:
        res = estimate_offset(np.asarray(times, np.float64), np.asarray(scores, np.float64),
                              np.asarray(frames, np.int64), onset_envelope(clip, params), fps=fps,
                              params=params, soundtype=kind)
    except SyncRefused as exc:
        if policy == "align" and exc.kind in refuse:
            return SoundCheck("refuse", reason=f"{exc.kind}: {exc}")
        return SoundCheck("keep", reason=f"offset not measured ({exc.kind})")
    if policy == "align" and res.confidence < low_confidence:
        return SoundCheck("refuse", res.offset, res.confidence,
                          f"low confidence: the offset ({res.offset * 1000:+.0f} ms) is uncertain "
                          f"(confidence {res.confidence:.2f} < {low_confidence})")
    if res.confidence >= min_confidence and abs(res.offset) > min_shift:
        return SoundCheck("realign", res.offset, res.confidence,
                          f"offset {res.offset * 1000:+.0f} ms taken out")
    if abs(res.offset) <= min_shift:
        return SoundCheck("keep", res.offset, res.confidence, "offset small")
    if policy == "align":  # badly synced, but not certainly enough to fix: not trusted
        return SoundCheck("refuse", res.offset, res.confidence,
                          f"offset {res.offset * 1000:+.0f} ms not certain enough to take out "
                          f"(confidence {res.confidence:.2f} < {min_confidence})")
    return SoundCheck("keep", res.offset, res.confidence, "offset not certain enough to realign")
