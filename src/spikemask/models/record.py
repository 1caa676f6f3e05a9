"""The record that rebuilds a registry model, and the rebuilding.

:class:`~spikemask.models._registry.ModelConfig` is what :func:`~spikemask.models.create_model`
writes on every model (and the conversion and mask placement update). :func:`model_record` is a
model's record with its weights, the part of a checkpoint or shared-model folder that rebuilds it;
:func:`build_model` rebuilds the model from such a record and loads the weights.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.masks.placement import apply_mask_setting
from spikemask.models._registry import create_model


def model_record(model: nn.Module) -> dict[str, Any]:
    """The part of a checkpoint that rebuilds ``model``: its :class:`~spikemask.models._registry.ModelConfig`
    record (registry name, sizes, options, mask setting, converted flag) and its weights."""
    cfg = getattr(model, "model_config", None)
    if cfg is None:
        raise SpikemaskError(f"a {type(model).__name__} built without the registry cannot be saved as a checkpoint; "
                             "build it with spikemask.create_model")
    return {"model_name": cfg.name, "model_options": dict(cfg.options), "num_classes": cfg.num_classes,
            "in_channels": cfg.in_channels, "img_size": cfg.img_size,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "mask": cfg.mask, "converted": cfg.converted, "neuron": cfg.neuron}


def check_finite_weights(weights: Mapping[str, Any], subject: str, advice: str) -> None:
    """Refuse a state dict with NaN or ±inf in any floating tensor: one line, ``subject`` and ``advice`` in it."""
    bad = [k for k, v in weights.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise SpikemaskError(f"{subject} contain NaN or infinite values (in {len(bad)} of {len(weights)} tensors, "
                             f"first {bad[0]}); {advice}")


def build_model(ckpt: dict[str, Any], options: dict[str, Any] | None = None) -> nn.Module:
    """Rebuild the ANN of a checkpoint dict and load its weights (the masks as saved).

    ``options`` override the saved model options (e.g. ``levels=64``); they must keep every weight's shape.
    """
    weights = ckpt["state_dict"]
    check_finite_weights(weights, "checkpoint weights", "the run that wrote it diverged: use an earlier checkpoint "
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
