"""Event-camera data: raw-file readers, frame integration, caching, augmentation and datasets.

Modules: :mod:`.formats` (raw files → events), :mod:`.frames` (events → ``[n, 2, H, W]`` frames),
:mod:`.cache` (frames on disk, parallel preparation), :mod:`.augment` (NDA), :mod:`.dataset`
(PyTorch datasets in the ``time`` and ``channels`` layouts), :mod:`.saccade` (the simulated N-MNIST)
and :mod:`.datasets` (the registered datasets).
"""
