"""Temporal action localisation with the soundtrack: an FPN localiser and MRAV-FF audio-visual fusion.

Layers (data flows one way):

* :mod:`.features` — per-frame visual (kinematic) and audio (log-mel) feature vectors of a video,
  on the video's own frame clock; one ``.npy`` file per video (numpy only).
* :mod:`.annotations` — ActivityNet-style segment JSON and EPIC-Kitchens-100 CSV (numpy only).
* :mod:`.nms`, :mod:`.metrics` — Soft-NMS and mAP at tIoU thresholds (numpy only).
* :mod:`.fusion` — the gated cross-attention of MRAV-FF (seed 003) and the ``none``/``concat``/``add``
  baselines; :mod:`.fpn` — the ActionFormer-style backbone; :mod:`.heads` — shared heads, label
  assignment and losses; :mod:`.model` — the localiser and its config (torch, imported lazily).
* :mod:`.train`, :mod:`.infer` — ``train-tal`` and ``localize``.
* :mod:`.audible` — ``detect --use-audio``: the training-free detector's events corrected by the
  soundtrack through the same fusion block (a residual: a closed gate gives the picture-only events),
  with shipped default weights (:mod:`.synthdata` makes their synthetic data).

The numpy-only modules import without torch; the others need the ``torch`` extra.
"""
