"""QCFS: the quantization clip-floor-shift activation (Bu et al., ICLR 2022; MST §3.2, FAITHFULNESS M6).

``y = λ · clip(floor(x · L / λ + 1/2) / L, 0, 1)`` with a learnable threshold λ per layer and a
straight-through gradient for ``floor``. An IF neuron with threshold θ = λ and initial membrane
potential θ/2 reproduces it exactly over T = L steps of constant input; :mod:`spikemask.conversion`
makes that swap.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import SpikemaskError


class _FloorSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def qcfs(x: torch.Tensor, lam: torch.Tensor, levels: int) -> torch.Tensor:
    """Functional QCFS; gradients flow to ``x`` (inside the clip range) and to ``lam``."""
    y = _FloorSTE.apply(x * levels / lam + 0.5) / levels
    return torch.clamp(y, 0, 1) * lam


class QCFS(nn.Module):
    """Clip-floor-shift activation with ``levels`` = L quantisation steps and learnable λ.

    Args:
        levels: L (MST code uses 16; FAITHFULNESS M6).
        threshold: initial λ (2.0 in the MST code).
    Shape: any; elementwise.
    """

    def __init__(self, levels: int = 16, threshold: float = 2.0) -> None:
        super().__init__()
        if levels < 1:
            raise SpikemaskError(f"QCFS levels must be >= 1 (got {levels})")
        self.levels = levels
        self.init_threshold = threshold
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.threshold.fill_(self.init_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return qcfs(x, self.threshold, self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={self.threshold.item():.4g}"
