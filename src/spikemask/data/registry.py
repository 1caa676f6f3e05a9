"""The dataset registry: each entry builds a :class:`DataSpec` from ``root`` and ``train``."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import Dataset

from spikemask.errors import OptionError, SpikemaskError


@dataclass
class DataSpec:
    """A dataset and what a model needs to know about it.

    Attributes:
        dataset: yields ``(x, label)``; x is ``[C, H, W]`` (static) or ``[T, C, H, W]`` (frames).
        num_classes, in_channels, img_size: model input/output sizes (``img_size`` = H = W).
        time_steps: number of frames per sample for event data, ``None`` for static images.
    """

    dataset: Dataset
    num_classes: int
    in_channels: int
    img_size: int
    time_steps: int | None = None


_DATASETS: dict[str, Callable[..., DataSpec]] = {}


def register_dataset(name: str) -> Callable[[Callable[..., DataSpec]], Callable[..., DataSpec]]:
    """Decorator: register ``fn(root, train, **options) -> DataSpec`` under ``name``."""
    def deco(fn: Callable[..., DataSpec]) -> Callable[..., DataSpec]:
        _DATASETS[name] = fn
        return fn
    return deco


def list_datasets() -> list[str]:
    """Names of all registered datasets."""
    return sorted(_DATASETS)


def get_dataset(name: str, root: str | None = None, train: bool = True, **options: Any) -> DataSpec:
    """Build the named dataset's train or test split (``root``: local folder; never downloads)."""
    if name not in _DATASETS:
        raise SpikemaskError(f"unknown dataset {name!r}; choose one of: {', '.join(list_datasets())}")
    build = _DATASETS[name]
    accepted = [p for p in inspect.signature(build).parameters if p not in ("root", "train")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise OptionError("data_options", f"{', '.join(map(repr, unknown))} not known to dataset {name!r}; it "
                                          f"takes {', '.join(accepted) or 'no options'}")
    return build(root=root, train=train, **options)


def require_root(root: str | None, name: str, hint: str) -> Path:
    """The local folder ``root`` of dataset ``name`` (nothing is ever downloaded); ``hint`` says what goes in it.

    Raises:
        OptionError: naming ``root`` when it is missing or not a folder.
    """
    if not root:
        raise OptionError("root", f"must point at a local copy of {name} ({hint}); nothing is downloaded")
    path = Path(root).expanduser()
    if path.exists() and not path.is_dir():
        raise OptionError("root", f"{path} is a file, not a folder; {hint}")
    if not path.is_dir():
        raise OptionError("root", f"{path} does not exist; {hint}")
    return path
