"""Surrogate gradients for the spike function.

Forward: Heaviside step ``H(x) = 1 if x >= 0 else 0`` (``x`` = membrane potential minus threshold).
Backward: the derivative of a smooth stand-in, with sharpness ``alpha``:

- ``sigmoid``: ``d/dx sigmoid(alpha x) = alpha * s * (1 - s)``, ``s = sigmoid(alpha x)`` (Spikformer, alpha = 4).
- ``atan``: ``d/dx (1/pi) atan(pi/2 alpha x) = alpha / 2 / (1 + (pi/2 alpha x)^2)`` (SpikingJelly's ATan, alpha = 2).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .errors import SpikemaskError


class _SigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.alpha * x)
        return grad * ctx.alpha * s * (1 - s), None


class _ATanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * (ctx.alpha / 2) / (1 + (math.pi / 2 * ctx.alpha * x) ** 2), None


SURROGATES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "sigmoid": _SigmoidSpike.apply,
    "atan": _ATanSpike.apply,
}
DEFAULT_ALPHA = {"sigmoid": 4.0, "atan": 2.0}


def spike_fn(name: str) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """The spike function ``f(x, alpha)`` with the named surrogate gradient."""
    if name not in SURROGATES:
        raise SpikemaskError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}")
    return SURROGATES[name]
