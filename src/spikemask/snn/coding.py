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
from torch import nn

from spikemask.snn.base import StatefulModule
from spikemask.snn.functional import time_major_view
from spikemask.snn.kernels import last_active_step


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
    constant where :func:`write_linear_part` knows it (convolutions, linears, eval-mode BatchNorms,
    modules with a ``linear_part`` method), else ``f(x) − f(0)`` with ``f(0)`` computed once per input shape from a
    zero step (so BatchNorm shifts and any extra arguments are exact). The steps after the last one
    with any nonzero increment are not computed (their output is 0).
    Built by :func:`onset_only`; the module keeps its class's parameters, names and ``isinstance``.
    """

    def forward(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        x_t, restore = time_major_view(x, self.step_mode)
        steps, first = x_t.shape[0], self.steps == 0
        active = last_active_step(x_t) + 1
        self.steps += steps
        if first:
            head = super().forward(x_t[0], *args)                                   # f(x) at step 1
            self.out_shape = head.shape                                              # one step [B, ...]
        out = x_t.new_empty(steps, *self.out_shape)
        if first:
            out[0] = head
        start = int(first)
        if active > start:
            self.write_increments(x_t[start:active].flatten(0, 1), out[start:active].flatten(0, 1), *args)
        out[max(active, start):] = 0
        return restore(out)

    def write_increments(self, x: torch.Tensor, out: torch.Tensor, *args: Any) -> None:
        """``out = Wx`` for the steps ``x`` ``[n·B, ...]`` (``out`` ``[n·B, ...]``, a view to fill)."""
        if write_linear_part(self, x, out, *args):
            return
        batch = self.out_shape[0]
        if self.offset is None:
            self.offset = super().forward(torch.zeros_like(x[:batch]), *args)      # f(0) of one step
        out.copy_(super().forward(x, *args))                                         # f(x) − f(0)
        out.view(-1, *self.offset.shape).sub_(self.offset)


def write_linear_part(module: nn.Module, x: torch.Tensor, out: torch.Tensor, *args: Any) -> bool:
    """Write the linear part ``Wx`` of an affine ``module`` on ``x`` ``[N, ...]`` into ``out``; False
    where the module has no known way to leave its constant out.

    Known: a ``linear_part(x, out, *args)`` method of the module's class, linears, convolutions and
    eval-mode BatchNorms (``x · γ/√(σ² + ε)`` along dim 1)."""
    batchnorm = isinstance(module, nn.modules.batchnorm._BatchNorm)
    own = getattr(type(module), "linear_part", None)
    if batchnorm and (module.training or module.running_var is None):    # batch statistics: not affine
        return False
    if own is not None:
        own(module, x, out, *args)
    elif isinstance(module, nn.Linear):
        torch.matmul(x, module.weight.t(), out=out)
    elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
        out.copy_(module._conv_forward(x, module.weight, None))
    elif batchnorm:
        torch.mul(x, batchnorm_scale(module).view(-1, *[1] * (x.dim() - 2)), out=out)
    else:
        return False
    return True


def batchnorm_scale(bn: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    """The per-channel gain ``γ/√(σ² + ε)`` ``[C]`` of an eval-mode BatchNorm (its linear part)."""
    scale = (bn.running_var + bn.eps).rsqrt()
    return scale * bn.weight if bn.weight is not None else scale


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
    module.register_state("out_shape")
    module.register_state("offset")
    return module
