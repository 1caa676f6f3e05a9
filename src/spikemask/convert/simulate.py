"""Simulation of a converted network on static input, and its answer after every step.

:func:`simulate` runs a converted network for T steps on static input (the same image every step)
and returns the logits of every step; the network's answer after t steps is the mean of the first t
step logits (:func:`cumulative_mean`), so one pass gives the accuracy at every t (:func:`correct_by_step`).
"""
from __future__ import annotations

import torch
from torch import nn

from spikemask.convert.conversion import check_input
from spikemask.errors import SpikemaskError, check
from spikemask.snn.neurons import reset_net, set_step_mode, set_time_steps


@torch.no_grad()
def simulate(snn: nn.Module, x: torch.Tensor, time_steps: int, time_chunk: int | None = None,
             step_mode: str = "m") -> torch.Tensor:
    """Run a converted network for ``time_steps`` steps on static input.

    Args:
        snn: output of :func:`convert`.
        x: images ``[B, C, H, W]``, fed unchanged at every step (analog input).
        time_steps: T ≥ 1.
        time_chunk: steps per forward call in multi-step mode (default: all T at once); neurons keep
            their state between chunks, so any chunking gives identical results with less memory.
        step_mode: ``'m'`` (folded multi-step) or ``'s'`` (one step per call); identical outputs.
    Returns:
        Per-step logits ``[T, B, num_classes]``.
    """
    check(isinstance(time_steps, int) and time_steps >= 1, f"time steps T must be an integer >= 1, got {time_steps}")
    check_input(snn, x)
    chunk = time_steps if time_chunk is None else max(1, min(time_chunk, time_steps))
    reset_net(snn)
    set_step_mode(snn, step_mode)
    outputs = []
    try:
        if step_mode == "s":
            set_time_steps(snn, None)
            outputs = [snn(x) for _ in range(time_steps)]
            return torch.stack(outputs)
        done = 0
        while done < time_steps:
            n = min(chunk, time_steps - done)
            set_time_steps(snn, n)
            folded = x.unsqueeze(0).expand(n, *x.shape).reshape(n * x.shape[0], *x.shape[1:])
            outputs.append(snn(folded).reshape(n, x.shape[0], -1))
            done += n
        return torch.cat(outputs)
    finally:
        set_time_steps(snn, None)
        set_step_mode(snn, "m")
        reset_net(snn)


def cumulative_mean(step_logits: torch.Tensor) -> torch.Tensor:
    """``[T, B, K]`` per-step logits → ``[T, B, K]`` running mean (the SNN's answer after t steps)."""
    steps = torch.arange(1, step_logits.shape[0] + 1, device=step_logits.device, dtype=step_logits.dtype)
    return step_logits.cumsum(0) / steps.view(-1, 1, 1)


def correct_by_step(step_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Number of correct answers after each step t = 1..T: ``[T]`` integer counts."""
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
