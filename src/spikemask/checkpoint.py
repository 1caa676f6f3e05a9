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

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.io import load_torch, save_torch
from spikemask.masks.placement import apply_mask_setting
from spikemask.models import create_model
from spikemask.pretrained import HUB_PREFIX, is_pretrained_folder, read_pretrained, resolve

REQUIRED = ("model_name", "model_options", "num_classes", "in_channels", "img_size", "state_dict")


def model_record(model: nn.Module) -> dict[str, Any]:
    """The part of a checkpoint that rebuilds ``model``: its :class:`~spikemask.models.base.ModelConfig`
    record (registry name, sizes, options, mask setting, converted flag) and its weights."""
    cfg = getattr(model, "model_config", None)
    if cfg is None:
        raise SpikemaskError(f"a {type(model).__name__} built without the registry cannot be saved as a checkpoint; "
                             "build it with spikemask.create_model")
    return {"model_name": cfg.name, "model_options": dict(cfg.options), "num_classes": cfg.num_classes,
            "in_channels": cfg.in_channels, "img_size": cfg.img_size,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "mask": cfg.mask, "converted": cfg.converted, "neuron": cfg.neuron}


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


def build_model(ckpt: dict[str, Any], options: dict[str, Any] | None = None) -> nn.Module:
    """Rebuild the ANN of a checkpoint dict and load its weights (the masks as saved).

    ``options`` override the saved model options (e.g. ``levels=64``); they must keep every weight's shape.
    """
    weights = ckpt["state_dict"]
    bad = [k for k, v in weights.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise SpikemaskError(f"checkpoint weights contain NaN or infinite values (in {len(bad)} of {len(weights)} "
                             f"tensors, first {bad[0]}); the run that wrote it diverged: use an earlier checkpoint "
                             "or retrain")
    model = create_model(ckpt["model_name"], num_classes=ckpt["num_classes"], in_channels=ckpt["in_channels"],
                         img_size=ckpt["img_size"], **{**ckpt["model_options"], **(options or {})})
    try:
        model.load_state_dict(model.filter_state_dict(weights))
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise SpikemaskError(f"checkpoint weights do not fit model {ckpt['model_name']}: {first}") from None
    apply_mask_setting(model, ckpt.get("mask"))
    return model
