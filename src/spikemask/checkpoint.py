"""Checkpoints: a dict that can rebuild its model from the registry.

Keys: ``model_name``, ``model_options``, ``num_classes``, ``in_channels``, ``img_size``,
``state_dict``, ``mask`` (RSM ratio/where/seed applied on top of the options), ``converted``
(True for a converted SNN), ``neuron`` (the neuron it was converted with),
and for training checkpoints ``epoch``, ``optimizer``, ``scheduler``,
``config``, ``history`` and ``streams``, the random streams an exact resume needs, one entry per process
(torch's, numpy's and Python's global streams, and each seeded mask's own generator). Written atomically, read without
unpickling code (:mod:`spikemask.io`).
"""
from __future__ import annotations

import os
from typing import Any

from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.io import load_torch, save_torch
from spikemask.models.record import model_record
from spikemask.pretrained import HUB_PREFIX, is_pretrained_folder, read_pretrained, resolve

REQUIRED = ("model_name", "model_options", "num_classes", "in_channels", "img_size", "state_dict")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> None:
    """Write ``model`` (plus ``extra`` entries) to ``path`` atomically."""
    save_torch(path, {**model_record(model), **extra})


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint dict and check that it has what a model needs.

    ``path`` is a ``.pt`` file, a shared-model folder (``spikemask export``, ``save_pretrained``) or a
    Hugging Face Hub repository ``hf://owner/name`` (:mod:`spikemask.pretrained`).
    """
    if str(path).startswith(HUB_PREFIX) or is_pretrained_folder(path):
        return read_pretrained(resolve(path))
    ckpt = load_torch(path)
    missing = [k for k in REQUIRED if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise SpikemaskError(f"{path} is not a spikemask checkpoint (missing {', '.join(missing)}); "
                             "pass a checkpoint.pt written by `spikemask train` or `spikemask convert`")
    return ckpt
