"""Surrogate and straight-through gradients: every non-differentiable step of the library.

Forward: Heaviside step ``H(x) = 1 if x >= 0 else 0`` (``x`` = membrane potential minus threshold).
Backward: the derivative of a smooth stand-in, with sharpness ``alpha``:

- ``sigmoid``: ``d/dx sigmoid(alpha x) = alpha * s * (1 - s)``, ``s = sigmoid(alpha x)`` (Spikformer, alpha = 4).
- ``atan``: ``d/dx (1/pi) atan(pi/2 alpha x) = alpha / 2 / (1 + (pi/2 alpha x)^2)`` (SpikingJelly's ATan, alpha = 2).

:class:`SurrogateHeaviside` is SDMFormer's mask gate: Heaviside forward, ``max(0, 1 − |x|)`` backward.
:func:`floor_ste` is QCFS's floor with a straight-through (identity) gradient.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from spikemask.errors import SpikemaskError


def sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``d/dx sigmoid(alpha x)``."""
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


def atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``d/dx (1/pi) atan(pi/2 alpha x)``."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


SURROGATES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {"sigmoid": sigmoid_grad, "atan": atan_grad}
DEFAULT_ALPHA = {"sigmoid": 4.0, "atan": 2.0}


class _Spike(torch.autograd.Function):
    """Heaviside forward, the named surrogate's derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float, name: str) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha, ctx.name = alpha, name
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * SURROGATES[ctx.name](x, ctx.alpha), None, None


def spike_fn(name: str) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """The spike function ``f(x, alpha)`` with the named surrogate gradient."""
    if name not in SURROGATES:
        raise SpikemaskError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}")
    return lambda x, alpha: _Spike.apply(x, alpha, name)


class _FloorSTE(torch.autograd.Function):
    """``floor`` forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x)`` with a straight-through gradient (QCFS, FAITHFULNESS M6)."""
    return _FloorSTE.apply(x)


class SurrogateHeaviside(torch.autograd.Function):
    """Heaviside step forward (H(0) = 1), ``SH'(x) = max(0, 1 - |x|)`` backward (SDMFormer §3.2,
    :mod:`spikemask.masks.dynamic`).

    ``apply(x, penalty)`` with ``penalty = λ > 0`` also adds ``λ · SH'(x)``, the gradient of
    ``λ · Σ SH(x)``, to the gradient of ``x`` (the kept-channel penalty of
    :class:`~spikemask.masks.dynamic.DynamicMask`).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, penalty: float = 0.0) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.penalty = penalty
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        slope = (1 - x.abs()).clamp(min=0)
        return grad * slope + ctx.penalty * slope, None
