"""What every registry model is: a classifier over time-major input, with one config record.

Every model built by :func:`~spikemask.models.create_model` is a :class:`SpikingClassifier`:

- ``forward(x)`` takes time-major input ``[T, B, C, H, W]`` and returns per-step logits
  ``[T, B, num_classes]``; the answer after T steps is their mean over T. A static image is
  presented at every step (:func:`~spikemask.snn.functional.repeat_static`); a QCFS ANN is the
  case T = 1. A batch of images ``[B, C, H, W]`` is refused with one clear error, so a converted
  SNN can never mistake the batch for the time axis.
- ``forward(x) = forward_head(forward_features(x))``: features ``[T, B, D]``, then the classifier.
  An exactly converted SNN first turns the input into increments (``input_coding``) and answers with
  the *sum* of its step outputs (``readout = 'sum'``; :mod:`spikemask.snn.coding`).
- ``default_time_steps``: how many steps a static image is shown for when no T is given
  (1 for conversion models trained as ANNs, the ``time_steps`` option for Spikformer/SDMFormer).
- ``no_weight_decay()``: names of the parameters the optimizer must not decay;
  ``filter_state_dict()``: maps older saved layouts onto the model's keys.
- ``model_config``: the one record that rebuilds the model (:class:`ModelConfig`), written by the
  registry, the conversion and the mask placement — and saved in checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from spikemask.errors import check


@dataclass(frozen=True)
class ModelConfig:
    """The record that rebuilds a model: registry name, input/output sizes, options and state flags.

    Attributes:
        name: registry name (``"vgg16"``); options: the builder options it was created with.
        num_classes, in_channels, img_size: output classes, input channels, input side (pixels).
        mask: the Random Spike Masking setting applied on top (``{"ratio", "where", "seed", "mode"}``
            or None; :func:`spikemask.masks.placement.apply_mask_setting`).
        converted: True for an SNN made by :func:`spikemask.convert.conversion.convert`.
        neuron: the neuron it was converted with (``'if'``, ``'signed'``, ``'burst:k'``).
    """

    name: str
    num_classes: int
    in_channels: int
    img_size: int
    options: dict[str, Any] = field(default_factory=dict)
    mask: dict[str, Any] | None = None
    converted: bool = False
    neuron: str = "if"


class SpikingClassifier(nn.Module):
    """Base of every registry model (module docstring). Subclasses define the two forward halves.

    Args:
        num_classes, in_channels, img_size: output classes, input channels, input side in pixels.
    """

    default_time_steps: int = 1
    readout: str = "mean"                   # the answer after t steps: the mean ('mean') or sum ('sum') of outputs

    def __init__(self, num_classes: int, in_channels: int, img_size: int) -> None:
        super().__init__()
        for key, value in (("num_classes", num_classes), ("in_channels", in_channels), ("img_size", img_size)):
            check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                  f"{key} must be a positive integer, got {value!r}")
        self.num_classes, self.in_channels, self.img_size = num_classes, in_channels, img_size
        self.model_config: ModelConfig | None = None   # set by create_model
        self.input_coding: nn.Module | None = None     # exact conversion: a DeltaEncoder (spikemask.snn.coding)

    # --------------------------------------------------------------------- the record
    @property
    def model_name(self) -> str | None:
        """Registry name (None for a model built without the registry)."""
        return self.model_config.name if self.model_config else None

    @property
    def model_options(self) -> dict[str, Any]:
        """Builder options of the registry record."""
        return dict(self.model_config.options) if self.model_config else {}

    @property
    def mask_setting(self) -> dict[str, Any] | None:
        """The Random Spike Masking setting of the record (None: the masks as built)."""
        return self.model_config.mask if self.model_config else None

    # --------------------------------------------------------------------- forward
    def check_time_major(self, x: torch.Tensor) -> None:
        """Refuse anything but ``[T, B, in_channels, img_size, img_size]`` (one line saying what to do)."""
        c, s = self.in_channels, self.img_size
        check(x.dim() == 5, f"expected time-major input [T, B, {c}, {s}, {s}], got {list(x.shape)}; show static "
                            "images for T steps with spikemask.snn.functional.repeat_static(x, T) (an ANN: T = 1)")
        check(tuple(x.shape[2:]) == (c, s, s),
              f"expected input [T, B, {c}, {s}, {s}], got {list(x.shape)}; use data with {c} channels of "
              f"{s}x{s} px or build the model with in_channels={x.shape[2]}, img_size={x.shape[3]}")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` → features ``[T, B, D]``."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Features ``[T, B, D]`` → logits ``[T, B, num_classes]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Time-major input ``[T, B, C, H, W]`` → per-step logits ``[T, B, num_classes]``."""
        self.check_time_major(x)
        if self.input_coding is not None:
            x = self.input_coding(x)
        return self.forward_head(self.forward_features(x))

    def constant_inputs(self) -> dict[str, torch.Tensor]:
        """``{op name: constant part of its input}`` that :mod:`spikemask.measure` subtracts before counting.

        A constant term ``P`` of an input contributes ``W·P`` once, not per step, so only the rest
        (the spikes) drives operations. Default: none.
        """
        return {}

    def filter_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a saved state dict onto this model's keys before loading (timm's ``checkpoint_filter_fn``).

        The default is the identity; a family overrides it to read older or foreign layouts.
        """
        return state

    def no_weight_decay(self) -> set[str]:
        """Parameters without weight decay: every 1-D parameter (biases, norms, QCFS λ, masks; M16, A2)."""
        return {name for name, p in self.named_parameters() if p.dim() <= 1}
