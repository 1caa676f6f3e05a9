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
- ``model_config``: the one record that rebuilds the model
  (:class:`~spikemask.models._registry.ModelConfig`), written by the registry, the conversion and the
  mask placement — and saved in checkpoints (:mod:`spikemask.models.record`).
- ``save_pretrained(folder)`` / ``from_pretrained(folder_or_repo_id)``: safetensors weights, a JSON
  config and a model card (:mod:`spikemask.pretrained`), through ``huggingface_hub.ModelHubMixin``, so
  ``push_to_hub`` works too where a network exists.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
from huggingface_hub import ModelHubMixin
from torch import nn

from spikemask.errors import check
from spikemask.models.record import build_model, model_record
from spikemask.pretrained import read_pretrained, resolve, write_pretrained

if TYPE_CHECKING:
    from spikemask.models._registry import ModelConfig


class SpikingClassifier(nn.Module, ModelHubMixin, library_name="spikemask", tags=["spiking-neural-network"],
                        repo_url="https://github.com/spikemask/spikemask"):
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

    # --------------------------------------------------------------------- sharing (huggingface_hub's mixin)
    def save_pretrained(self, save_directory: str | os.PathLike, *, card: Any = None, **hub_options: Any) -> None:
        """Write ``save_directory``: ``model.safetensors``, ``config.json`` and the model card ``README.md``
        (a :class:`spikemask.pretrained.Card` of facts; the model's record alone without one), atomically.

        ``hub_options`` are the mixin's (``config``, ``model_card_kwargs``, ...); the folder is spikemask's
        own, so they are not used, except ``push_to_hub=True`` with ``repo_id``, which uploads it.
        """
        write_pretrained(model_record(self), save_directory, card)
        if hub_options.get("push_to_hub"):
            self.push_to_hub(hub_options.get("repo_id") or os.path.basename(os.fspath(save_directory)))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_options: Any):
        """The model of a shared-model folder or Hub repository (``owner/name``), with one-line errors
        (:class:`~spikemask.errors.SpikemaskError`) for a missing, mixed or foreign folder, or no network."""
        folder = resolve(pretrained_model_name_or_path, hub_options.get("revision"), hub_options.get("cache_dir"),
                         hub_options.get("local_files_only", False), hub_options.get("token"))
        return cls._from_pretrained(model_id=str(folder))      # config.json is read and checked there

    @classmethod
    def _from_pretrained(cls, *, model_id: str, **ignored: Any):
        """The mixin's hook: ``model_id`` is a local folder here (:meth:`from_pretrained` resolved it, and
        :func:`spikemask.pretrained.read_pretrained` checks its files before the model is built)."""
        model = build_model(read_pretrained(model_id))
        check(isinstance(model, cls), f"{model_id} holds a {type(model).__name__} ({model.model_name}), not a "
                                      f"{cls.__name__}; load it with spikemask.from_pretrained")
        return model

    def no_weight_decay(self) -> set[str]:
        """Parameters without weight decay: every 1-D parameter (biases, norms, QCFS λ, masks; M16, A2)."""
        return {name for name, p in self.named_parameters() if p.dim() <= 1}
