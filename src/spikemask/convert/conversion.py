"""ANN-to-SNN conversion and simulation (MST §3.2, FAITHFULNESS M9–M10).

:func:`convert` swaps every :class:`~spikemask.snn.qcfs.QCFS` for an
:class:`~spikemask.snn.neurons.IFNeuron` with θ = λ and membrane start ``v_init·θ``; everything else
(conv, linear, BN, pooling, masks) is kept; masks trained in ``"expected"`` mode are switched to
``"random"``; ``hold_masks=True`` makes every mask hold one draw per input over all T steps
(:class:`~spikemask.masks.rsm.HeldSpikeMask`, our addition). The converted network is still an
ordinary module over folded ``[T*B, ...]`` batches: stateless layers see one big batch and each
neuron unfolds it to ``[T, B, ...]`` and scans over T (see :func:`spikemask.snn.neurons.set_time_steps`).

:func:`simulate` runs it for T steps on static input (the same image every step) and returns the
logits of every step; the network's answer after t steps is the mean of the first t step logits,
so one pass gives the accuracy at every t (:func:`accuracy_by_step`).
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from spikemask.errors import SpikemaskError, check
from spikemask.masks.rsm import HeldSpikeMask, SpikeMask, masks
from spikemask.snn.neurons import IFNeuron, reset_net, set_step_mode, set_time_steps
from spikemask.snn.qcfs import QCFS


def convert(ann: nn.Module, v_init: float = 0.5, hold_masks: bool = False) -> nn.Module:
    """Return a spiking copy of ``ann``: each QCFS becomes an IF neuron with θ = λ.

    Args:
        ann: a model built with QCFS activations (any registry model for conversion).
        v_init: initial membrane potential as a fraction of θ (0.5 in MST/QCFS).
        hold_masks: replace every Random Spike Mask by a :class:`~spikemask.masks.rsm.HeldSpikeMask`
            (one mask per input for all T steps; our addition). False: a fresh mask every step (M12).
    Raises:
        SpikemaskError: if ``ann`` has no QCFS activation to convert.
    """
    snn = copy.deepcopy(ann).eval()
    for _, mask in masks(snn):
        mask.mode = "random"          # an SNN drops spikes for real, whatever the ANN trained with
    if hold_masks:
        _replace(snn, SpikeMask, lambda m: HeldSpikeMask(m.ratio, m.seed))
    count = _replace(snn, QCFS, lambda q: IFNeuron(q.threshold.detach().clone(), v_init))
    check(count > 0, "this model has no QCFS activations to convert; train it with a conversion model "
                     "(e.g. vgg16, resnet18, mst_swin_*) or pass a checkpoint of one")
    snn.converted = True
    return snn


def _replace(module: nn.Module, kind: type, make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every submodule of type ``kind`` by ``make(old)``; returns how many were replaced."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, kind):
            setattr(module, name, make(child))
            count += 1
        else:
            count += _replace(child, kind, make)
    return count


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """Check a ``[B, C, H, W]`` batch against the model's ``in_channels``/``img_size`` and for NaN/inf."""
    check(x.dim() == 4, f"expected images of shape [B, C, H, W], got a tensor of shape {list(x.shape)}")
    c, size = getattr(model, "in_channels", None), getattr(model, "img_size", None)
    check(c is None or x.shape[1] == c,
          f"input has {x.shape[1]} channels but the model expects {c}; use data with {c} channels or retrain")
    check(size is None or tuple(x.shape[2:]) == (size, size),
          f"input is {x.shape[2]}x{x.shape[3]} px but the model expects {size}x{size}; resize the input "
          f"or build the model with img_size={x.shape[2]}")
    check(bool(torch.isfinite(x).all()), "input contains NaN or infinite values; clean the data first")


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
