"""Simulation of a spiking network over T steps, and its answer after every step.

:func:`simulate` serves converted CNNs and MST alike and directly trained Spikformer/SDMFormer: it
resets the network, feeds time-major input (a static image repeated at every step, or event frames
``[T, B, ...]``) in chunks of steps with the state carried between chunks, resets again, and returns
the logits of every step. The network's answer after t steps is the mean of the first t step logits
(:func:`cumulative_mean`; rate coding) or, for an exactly converted network, their sum (accumulate
coding, :mod:`spikemask.snn.coding`): :func:`answer_by_step` picks by the model's ``readout``. Both
have the same argmax, so one pass gives the accuracy at every t (:func:`correct_by_step`).
"""
from __future__ import annotations

import torch
from torch import nn

from spikemask.convert.conversion import check_input
from spikemask.errors import SpikemaskError, check
from spikemask.snn.functional import repeat_static, reset_net


@torch.no_grad()
def simulate(model: nn.Module, x: torch.Tensor, time_steps: int | None = None,
             time_chunk: int | None = None) -> torch.Tensor:
    """Run a spiking network for T steps and return its logits at every step.

    Args:
        model: a converted network (:func:`~spikemask.convert.conversion.convert`) or a directly
            trained one (Spikformer, SDMFormer).
        x: static images ``[B, C, H, W]``, fed unchanged at every step (analog input), or time-major
            frames ``[T, B, C, H, W]``, which bring their own T.
        time_steps: T ≥ 1 for static images (default: the model's ``default_time_steps``); for
            frames it may be omitted or must equal their T.
        time_chunk: steps per forward call (default: all T at once); the state carries over between
            chunks, so any chunking gives the same spikes with less memory (``1``: single steps).
    Returns:
        Per-step logits ``[T, B, num_classes]``.
    """
    check_input(model, x)
    if x.dim() == 5:
        check(time_steps in (None, x.shape[0]), f"the frames bring T={x.shape[0]} steps; drop time_steps={time_steps}")
        time_steps = x.shape[0]
    elif time_steps is None:
        time_steps = getattr(model, "default_time_steps", None)
    check(isinstance(time_steps, int) and time_steps >= 1, f"time steps T must be an integer >= 1, got {time_steps}")
    check(time_chunk is None or (isinstance(time_chunk, int) and time_chunk >= 1),
          f"time_chunk must be an integer >= 1, got {time_chunk}")
    chunk = time_steps if time_chunk is None else min(time_chunk, time_steps)
    reset_net(model)
    try:
        outputs = []
        for start in range(0, time_steps, chunk):
            n = min(chunk, time_steps - start)
            outputs.append(model(x[start:start + n] if x.dim() == 5 else repeat_static(x, n)))
        return torch.cat(outputs)
    finally:
        reset_net(model)


def cumulative_mean(step_logits: torch.Tensor) -> torch.Tensor:
    """``[T, B, K]`` per-step logits → ``[T, B, K]`` running mean (the SNN's answer after t steps)."""
    steps = torch.arange(1, step_logits.shape[0] + 1, device=step_logits.device, dtype=step_logits.dtype)
    return step_logits.cumsum(0) / steps.view(-1, 1, 1)


def answer_by_step(step_logits: torch.Tensor, readout: str = "mean") -> torch.Tensor:
    """``[T, B, K]`` per-step logits → ``[T, B, K]`` answer after each step: running mean (``'mean'``)
    or running sum (``'sum'``, accumulate coding: equals the quantized ANN's logits once settled)."""
    check(readout in ("mean", "sum"), f"readout must be 'mean' or 'sum', got {readout!r}")
    return cumulative_mean(step_logits) if readout == "mean" else step_logits.cumsum(0)


def correct_by_step(step_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Number of correct answers after each step t = 1..T: ``[T]`` integer counts (either readout)."""
    return (cumulative_mean(step_logits).argmax(-1) == labels.unsqueeze(0)).sum(1)


def report_steps(time_steps: int) -> list[int]:
    """The steps to report: 1, 2, 4, ... up to T, and T itself."""
    if time_steps < 1:
        raise SpikemaskError(f"time steps T must be >= 1, got {time_steps}")
    steps, t = [], 1
    while t < time_steps:
        steps.append(t)
        t *= 2
    return steps + [time_steps]
