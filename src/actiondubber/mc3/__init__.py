"""MC3: audio–video–language coding for *which* actions sound and *which* sound fits them.

Seed 004 (Multimodal Contrastive-Consensus Coding) learns one embedding space for a clip's video,
its audio and its narration: pairwise InfoNCE over every modality pair (*align*), then the same plus
a consensus term that pulls every pair's similarity to an anchor towards their calibrated minimum
(*refine*). Here the encoders are pretrained and frozen (EfficientNet-Lite0 frames plus kinematic
features from the training-free detector, ``aisfx`` sound-effects embeddings, all-MiniLM-L6-v2
sentences) and only small projection heads are trained, which fits a CPU.

* :mod:`.config`: :class:`MC3Config`, every choice the poster leaves open, as fields.
* :mod:`.encoders`: the frozen encoders (the ``mc3`` extra), loaded lazily.
* :mod:`.features`: per-event video/audio inputs, cached on disk.
* :mod:`.heads`: projection heads, calibration maps, the sounding read-outs; weight files.
* :mod:`.losses`: the contrastive and consensus losses.
* :mod:`.data`: training windows from clips CSVs, synthetic clips, real clips, Ego4DSounds metadata.
* :mod:`.train`: the two-stage schedule.
* :mod:`.score`: sounding probabilities for events.
* :mod:`.retrieve`: library sounds for events (video → audio) and prompts (text → audio).

Importing this package needs only the core; torch and the encoders load when first used and raise
:class:`~actiondubber.errors.BackendUnavailableError` when missing.
"""

from actiondubber.mc3.config import MC3Config

__all__ = ["MC3Config"]
