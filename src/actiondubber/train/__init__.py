"""Training TA²Net: cached network inputs, the Audible623-format dataset, the training loop, DDP.

Modules: :mod:`.features` (RGB + motion + inflectional flow per frame, cached
on disk), :mod:`.dataset` (labels CSV + videos folder → clips and targets),
:mod:`.loop` (the training loop with exact resume and DDP). Importing this
package does not import torch; :mod:`.loop` does.
"""
