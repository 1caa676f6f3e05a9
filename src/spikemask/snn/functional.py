"""Time-major helpers: the one place that folds ``[T, B, ...]`` into ``[T·B, ...]`` and back.

Spiking tensors are time-major, ``[T, B, ...]``. Stateless layers (conv, linear, BN, pooling,
attention reshapes) see one big ``[T·B, ...]`` batch; stateful modules (neurons, held masks, spike
products; :class:`~spikemask.snn.base.StatefulModule`) scan over T. :func:`seq_forward` applies a
stateless function to a time-major tensor by folding T into the batch *inside a time context*
(:func:`folded_time`), so that a stateful module reached through it knows how to unfold its input:
:func:`time_major_view` gives it the ``[T, B, ...]`` view and a function that restores the caller's
layout.

Models take time-major input; static images are repeated over T by :func:`repeat_static`, and a
loader batch is made time-major by :func:`batch_to_time_major`. :func:`reset_net` and
:func:`set_step_mode` act on every stateful module of a network.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

import torch
from torch import nn

from spikemask.errors import SpikemaskError, check
from spikemask.snn.base import StatefulModule, check_step_mode

_FOLDED_STEPS: ContextVar[int | None] = ContextVar("spikemask_folded_steps", default=None)


@contextmanager
def folded_time(time_steps: int) -> Iterator[None]:
    """Within this context, multi-step stateful modules read their input as folded ``[T·B, ...]``."""
    token = _FOLDED_STEPS.set(time_steps)
    try:
        yield
    finally:
        _FOLDED_STEPS.reset(token)


def folded_steps() -> int | None:
    """T of the enclosing :func:`folded_time` context, or None outside one."""
    return _FOLDED_STEPS.get()


def seq_forward(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply ``fn`` to time-major ``x`` ``[T, B, ...]`` as one ``[T·B, ...]`` batch; returns ``[T, B, ...]``.

    ``fn`` runs inside :func:`folded_time`, so stateful modules inside it unfold the batch themselves.
    """
    T, B = x.shape[:2]
    with folded_time(T):
        y = fn(x.flatten(0, 1))
    return y.reshape(T, B, *y.shape[1:])


def time_major_view(x: torch.Tensor, step_mode: str) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """The ``[T, B, ...]`` view of a stateful module's input and the function that restores its layout.

    ``step_mode='s'``: ``x`` is one step ``[B, ...]``. Inside :func:`folded_time`: ``x`` is the
    folded ``[T·B, ...]`` batch. Otherwise ``x`` is already time-major ``[T, B, ...]``.
    """
    if step_mode == "s":
        return x.unsqueeze(0), lambda y: y[0]
    steps = folded_steps()
    if steps is None:
        return x, lambda y: y
    if x.shape[0] % steps:
        raise SpikemaskError(f"folded input of {x.shape[0]} rows is not a multiple of T={steps}")
    return x.reshape(steps, x.shape[0] // steps, *x.shape[1:]), lambda y: y.flatten(0, 1)


def repeat_static(x: torch.Tensor, time_steps: int) -> torch.Tensor:
    """A static batch ``[B, ...]`` presented at every step: ``[T, B, ...]`` (a view, no copy)."""
    check(isinstance(time_steps, int) and time_steps >= 1, f"time_steps must be an integer >= 1, got {time_steps!r}")
    return x.unsqueeze(0).expand(time_steps, *x.shape)


def batch_to_time_major(x: torch.Tensor, time_steps: int) -> torch.Tensor:
    """A loader batch as model input: images ``[B, C, H, W]`` repeated over ``time_steps``, frames
    ``[B, T, C, H, W]`` transposed to ``[T, B, C, H, W]`` (they bring their own T)."""
    if x.dim() == 5:
        return x.transpose(0, 1).contiguous()
    check(x.dim() == 4, f"expected a batch of images [B, C, H, W] or frames [B, T, C, H, W], got {list(x.shape)}")
    return repeat_static(x, time_steps)


def stateful_modules(model: nn.Module) -> Iterator[StatefulModule]:
    """Every :class:`~spikemask.snn.base.StatefulModule` of ``model``."""
    return (m for m in model.modules() if isinstance(m, StatefulModule))


def reset_net(model: nn.Module) -> None:
    """Reset the state of every stateful module of ``model`` (call between independent inputs)."""
    for m in stateful_modules(model):
        m.reset()


def set_step_mode(model: nn.Module, step_mode: str) -> None:
    """Switch every stateful module of ``model`` to ``'m'`` (multi-step) or ``'s'`` (single-step)."""
    step_mode = check_step_mode(step_mode)
    for m in stateful_modules(model):
        m.step_mode = step_mode
