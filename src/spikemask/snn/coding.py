"""Accumulate coding: the time code of exact conversion (signed neurons, :mod:`spikemask.convert.conversion`).

Under **rate coding** (MST, IF neurons) every step carries the whole input and every bias, and the
network's answer after t steps is the *mean* of its t outputs. Under **accumulate coding** every
tensor between layers is an *increment*: its sum over steps 1..t is the value the quantized ANN
computes at that point, for the input seen up to t. Linear layers map increments to increments if
their constant part (bias, BatchNorm shift, relative position bias, shift mask) enters once, at the
first step; signed neurons (:class:`~spikemask.snn.neurons.SignedIFNeuron`) emit the increments of
their QCFS level; the answer after t steps is the *sum* of the t outputs (the model's ``readout``
is ``'sum'``; :func:`~spikemask.convert.simulate.answer_by_step`).

- :class:`DeltaEncoder` turns the model input ``[T, B, ...]`` into increments ``x[t] − x[t−1]``: a
  static image shown at every step becomes the image at step 1 and zeros after.
- :func:`onset_only` makes an affine module add its constant part only at the first step and skip
  the steps after the last one with any event (:class:`OnsetBias`), so a settled network stops
  computing.

Both are :class:`~spikemask.snn.base.StatefulModule` s (they count the steps done), so chunked and
single-step runs match a run of all T steps at once.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikemask.snn.base import StatefulModule
from spikemask.snn.functional import time_major_view


class DeltaEncoder(StatefulModule):
    """``[T, B, ...]`` input → increments ``x[t] − x[t−1]`` (``x[0] = 0``), continuing across calls."""

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        self.register_state("last")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_t, restore = time_major_view(x, self.step_mode)
        last = torch.zeros_like(x_t[:1]) if self.last is None else self.last
        out = x_t - torch.cat([last, x_t[:-1]])
        self.last = x_t[-1:]
        return restore(out)


class OnsetBias(StatefulModule):
    """Mixin for an affine module ``f(x) = Wx + c``: its constant ``c`` enters at the first step only.

    The first step of a run gets ``f(x)``, every later step ``Wx``: the module's product without its
    constant where :func:`linear_part` knows it (convolutions, linears, modules with a
    ``linear_part`` method), else ``f(x) − f(0)`` with ``f(0)`` computed once per input shape from a
    zero step (so BatchNorm shifts and any extra arguments are exact). The steps after the last one
    with any nonzero increment are not computed (their output is 0).
    Built by :func:`onset_only`; the module keeps its class's parameters, names and ``isinstance``.
    """

    def forward(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        x_t, restore = time_major_view(x, self.step_mode)
        steps, first = x_t.shape[0], self.steps == 0
        active = max(1, last_active_step(x_t) + 1)      # at least one step, for the output's shape
        self.steps += steps
        out = self.increments(x_t[:active], *args)
        if first:
            out[0] = super().forward(x_t[0], *args)                                 # f(x) at step 1
        if active == steps:
            return restore(out)
        full = out.new_empty(steps, *out.shape[1:])
        full[:active] = out
        full[active:] = 0
        return restore(full)

    def increments(self, x_t: torch.Tensor, *args: Any) -> torch.Tensor:
        """``Wx`` for each step of ``x_t`` ``[n, B, ...]`` → a new tensor ``[n, B, ...]``."""
        rows = linear_part(self, x_t.flatten(0, 1), *args)
        if rows is None:                                                             # f(x) − f(0)
            if self.offset is None or self.offset.shape[0] != x_t.shape[1]:
                self.offset = super().forward(torch.zeros_like(x_t[0]), *args)      # f(0) of one step
            rows = super().forward(x_t.flatten(0, 1), *args)
            return rows.view(x_t.shape[0], *self.offset.shape).sub_(self.offset)
        return rows.view(x_t.shape[0], x_t.shape[1], *rows.shape[1:])


def linear_part(module: nn.Module, x: torch.Tensor, *args: Any) -> torch.Tensor | None:
    """The linear part ``Wx`` of an affine ``module`` on ``x`` ``[N, ...]`` as a new tensor, or None
    where the module has no known way to leave its constant out."""
    if isinstance(module, nn.Linear):
        return F.linear(x, module.weight)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return module._conv_forward(x, module.weight, None)
    own = getattr(type(module), "linear_part", None)
    return own(module, x, *args) if own is not None else None


def last_active_step(x: torch.Tensor) -> int:
    """Index of the last step of ``x`` ``[T, B, ...]`` with any nonzero value (−1: none).

    Scans from the last step back, so a network that settles early reads only its silent tail."""
    for t in range(x.shape[0] - 1, -1, -1):
        if bool(x[t].any()):
            return t
    return -1


_ONSET_CLASSES: dict[type, type] = {}


def onset_only(module: nn.Module) -> nn.Module:
    """Make ``module`` (a conv, linear, BatchNorm or :class:`~spikemask.models.layers.AddConstant`) add
    its constant part at the first step only, in place; returns it.

    Its class becomes a subclass of :class:`OnsetBias` and of its own class (the way
    ``torch.nn.utils.parametrize`` extends a module), so weights, names and the state dict are unchanged.
    """
    cls = type(module)
    if cls not in _ONSET_CLASSES:
        _ONSET_CLASSES[cls] = type(f"Onset{cls.__name__}", (OnsetBias, cls), {})
    module.__class__ = _ONSET_CLASSES[cls]
    module.step_mode = "m"
    module._state_defaults = {}
    module.register_state("steps", 0)
    module.register_state("offset")
    return module
