"""Training TA²Net: the Audible623-format dataset, the training loop, DDP.

Modules: :mod:`.dataset` (labels CSV + videos folder → clips and targets),
:mod:`.loop` (:class:`~actiondubber.train.loop.TrainRecipe` and the training
loop with exact resume and DDP), :mod:`.ddp`. The network inputs and the
checkpoint format live with the model (:mod:`actiondubber.model.inputs`,
:mod:`actiondubber.model.checkpoint`). Importing this package does not
import torch; :mod:`.loop` does.
"""
