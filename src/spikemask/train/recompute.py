"""Gradient checkpointing over time: train at large T in the memory of a few steps.

A directly trained SNN's backward needs every layer's activations at every step, so its memory
grows with T. :func:`forward_in_chunks` runs the model over chunks of ``steps`` time steps with the
neurons' state carried from one chunk to the next (as a chunked simulation does) and wraps each chunk
in :func:`torch.utils.checkpoint.checkpoint`: the forward keeps only each chunk's input, output and
the state it hands on; the backward recomputes one chunk at a time, from the state that chunk
started from, and back-propagates through it (and on into the chunk before, through the carried state).

This is our addition, opt-in (``spikemask train --checkpoint-steps S``), and not the same training
as one call over all T: BatchNorm computes its batch statistics over each chunk's ``S·B`` samples
instead of all ``T·B``, and updates its running averages once per chunk. The recomputation itself
changes nothing: the same chunks without checkpointing give the same loss and gradients.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from spikemask.errors import check
from spikemask.snn.base import StatefulModule
from spikemask.snn.functional import stateful_modules

Snapshot = list[tuple[StatefulModule, dict[str, Any]]]


def state_snapshot(model: nn.Module) -> Snapshot:
    """The current state of every stateful module of ``model``."""
    return [(m, m.get_state()) for m in stateful_modules(model)]


def restore_state(snapshot: Snapshot) -> None:
    """Put back the states of a :func:`state_snapshot`."""
    for module, state in snapshot:
        module.set_state(state)


@contextmanager
def frozen_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """BatchNorms in training mode still normalise by the batch, but leave their running averages
    (and ``num_batches_tracked``) as they were: a recomputed chunk must not count twice."""
    norms = [m for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]
    saved = [(m, m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


class _Chunk:
    """One chunk's forward: the first call runs it; a later call (the backward's recomputation)
    restores the state the chunk started from and runs it again without touching BatchNorm averages."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.start, self.calls = model, state_snapshot(model), 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 1:
            return self.model(x)
        after = state_snapshot(self.model)
        restore_state(self.start)
        with frozen_batchnorm_statistics(self.model):
            out = self.model(x)
        restore_state(after)
        return out


def forward_in_chunks(model: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    """``model(x)`` for a time-major ``x`` ``[T, B, ...]``, computed over chunks of ``steps`` steps,
    each checkpointed (module docstring). Returns the per-step outputs ``[T, B, ...]``."""
    check(isinstance(steps, int) and steps >= 1, f"checkpoint steps must be a positive integer, got {steps!r}")
    outputs = [checkpoint(_Chunk(model), x[start:start + steps], use_reentrant=False)
               for start in range(0, x.shape[0], steps)]
    return torch.cat(outputs)
