"""Datasets by name: bundled MNIST, torchvision image sets from a local ``--root``, event sets.

``get_dataset(name, root=..., train=...)`` returns a :class:`DataSpec` whose ``dataset`` yields
``(x, label)``; ``x`` is ``[C, H, W]`` for static images and ``[T, 2, H, W]`` for event frames.
"""
from spikemask.data import static  # noqa: F401  (registers mnist, cifar10, cifar100, imagefolder)
from spikemask.data.events import datasets as _events  # noqa: F401  (event sets; their optional readers load lazily)
from spikemask.data.registry import DataSpec, get_dataset, list_datasets, register_dataset

__all__ = ["DataSpec", "get_dataset", "list_datasets", "register_dataset"]
