"""Event-camera data: raw-file readers, frame integration, caching, augmentation and datasets.

Modules: :mod:`.formats` (raw files → events), :mod:`.frames` (events → ``[n, 2, H, W]`` frames),
:mod:`.cache` (frames on disk, parallel preparation), :mod:`.augment` (NDA), :mod:`.dataset`
(PyTorch datasets in the ``time`` and ``channels`` layouts), :mod:`.saccade` (the simulated N-MNIST)
and :mod:`.datasets` (the registered datasets).
"""
# spikemask.data registers these datasets by importing .datasets, which needs spikemask.data's
# registry: importing spikemask.data first keeps that order whichever module is imported first.
from .. import data as _data  # noqa: F401
