"""Building blocks shared by the conversion models (ResNet, VGG, MST Swin)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from spikemask.errors import SpikemaskError, number_in
from spikemask.masks.rsm import SpikeMask
from spikemask.snn.qcfs import QCFS


class SpikeSite(nn.Module):
    """Where a layer emits spikes: an activation followed by its Random Spike Mask.

    In the ANN ``act`` is :class:`~spikemask.snn.qcfs.QCFS`; conversion swaps it for an
    :class:`~spikemask.snn.neurons.IFNeuron` with θ = λ. The mask then drops spikes (or, in the ANN,
    quantised activations) with probability ``mask.ratio``. Energy accounting counts the nonzero
    outputs of every site: those are the spikes that are transmitted.
    ``mask_ratio=None`` builds a site without a mask, for spikes that RSM does not touch.
    Shape: any; elementwise.
    """

    def __init__(self, act: nn.Module, mask_ratio: float | None = 0.0) -> None:
        super().__init__()
        self.act = act
        self.mask = None if mask_ratio is None else SpikeMask(mask_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(x)
        return y if self.mask is None else self.mask(y)


def identity(x: torch.Tensor) -> torch.Tensor:
    """The default ``f`` of :class:`MatMul`."""
    return x


class MatMul(nn.Module):
    """``f(a) @ b`` as a module, so that :mod:`spikemask.measure` sees (and counts) the product.

    Shapes: ``a`` ``[..., M, K]``, ``b`` ``[..., K, N]`` → ``[..., M, N]``; ``f`` (default identity)
    is applied to ``a`` first (MST's softmax).
    """

    def forward(self, a: torch.Tensor, b: torch.Tensor,
                f: Callable[[torch.Tensor], torch.Tensor] = identity) -> torch.Tensor:  # noqa: D102
        return f(a) @ b


class AddConstant(nn.Module):
    """``add(x)`` for a function ``add`` that adds a constant current (MST's relative position bias).

    A module so that accumulate coding (:func:`spikemask.snn.coding.onset_only`) can make the constant
    enter at the first step only. Shape: that of ``x``.
    """

    def forward(self, x: torch.Tensor, add: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:  # noqa: D102
        return add(x)

    def linear_part(self, x: torch.Tensor, out: torch.Tensor, add: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Write the part of ``add(x)`` linear in ``x``, ``x`` itself, into ``out``
        (:func:`spikemask.snn.coding.write_linear_part`)."""
        out.copy_(x)


def qcfs_site(levels: int, threshold: float, mask_ratio: float | None = 0.0) -> SpikeSite:
    """A QCFS activation with its RSM mask (``mask_ratio=None``: no mask)."""
    return SpikeSite(QCFS(levels, threshold), mask_ratio)


def scaled(channels: int, width: float) -> int:
    """Channel count scaled by a width multiplier (at least 1); ``width`` must be a finite number > 0."""
    try:
        number_in(0, low_open=True)(width)
    except SpikemaskError as e:
        raise SpikemaskError(f"model option width {e}") from None
    return max(1, int(round(channels * width)))


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs and linears, unit BN, zero biases.

    Linears get Kaiming init too (not the usual N(0, 0.01)): QCFS outputs 0 for inputs below
    λ/(2L), so tiny initial pre-activations would leave the classifier silent and untrainable.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
