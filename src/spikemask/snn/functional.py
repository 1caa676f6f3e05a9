"""Multi-step wrappers for stateless layers: fold ``[T, B, ...]`` into ``[T*B, ...]`` and back."""
from __future__ import annotations

import torch
from torch import nn


def seq_forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a stateless ``module`` to time-major ``x`` ``[T, B, ...]`` by folding T into the batch."""
    T, B = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.reshape(T, B, *y.shape[1:])


class SeqToANN(nn.Sequential):
    """``nn.Sequential`` of stateless layers applied to ``[T, B, ...]`` input as one ``[T*B, ...]`` batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return seq_forward(super().forward, x)
