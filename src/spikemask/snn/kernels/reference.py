"""The ``reference`` backend: the neuron scans as plain autograd loops over T, one op per step.

The oracle the fused kernels are tested against (same spikes bit for bit, same gradients), and the
path for what the kernels do not take: a threshold that is a tensor, or a dtype they do not dispatch.
Autograd records every step, so this is the slowest backend and the simplest to read.
"""
from __future__ import annotations

import torch

from spikemask.snn.surrogate import spike_fn


def last_active_step(x: torch.Tensor) -> int:
    """Index of the last step of ``x`` ``[T, B, ...]`` with any nonzero value (−1: none), scanning
    from the last step back (a network that settles early has only its silent tail to read)."""
    for t in range(x.shape[0] - 1, -1, -1):
        if bool(x[t].any()):
            return t
    return -1


def if_scan(x: torch.Tensor, v: torch.Tensor, threshold: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate-and-fire with reset by subtraction.

    Args:
        x: input current ``[T, B, ...]``.
        v: membrane potential before the first step, broadcastable to ``[B, ...]``.
        threshold: firing threshold θ (scalar or broadcastable tensor).
    Returns:
        ``(spikes, v)``: spikes ``[T, B, ...]`` in {0, 1} and the final membrane potential.
    """
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        v = v + x[t]
        s = (v >= threshold).to(x.dtype)
        v = v - s * threshold
        out[t] = s
    return out, v


def lif_scan(x: torch.Tensor, v: torch.Tensor, tau: float, threshold: torch.Tensor | float, v_reset: float | None,
             surrogate: str, alpha: float, detach_reset: bool, decay_input: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky integrate-and-fire with a surrogate gradient.

    Charge: ``v += (x - (v - v_reset)) / tau`` if ``decay_input`` else ``v = v - (v - v_reset)/tau + x``
    (``v_reset`` is 0 for soft reset). Fire: ``s = H(v - threshold)``. Reset: ``v = v_reset`` where
    ``s = 1`` (hard, ``v_reset`` given) or ``v -= threshold·s`` (soft, ``v_reset=None``).

    Args:
        x: input ``[T, B, ...]``; v: initial membrane potential, broadcastable to ``[B, ...]``.
    Returns:
        ``(spikes [T, B, ...], final v)``.
    """
    fire = spike_fn(surrogate)
    rest = 0.0 if v_reset is None else v_reset
    spikes = []
    for t in range(x.shape[0]):
        if decay_input:
            v = v + (x[t] - (v - rest)) / tau
        else:
            v = v - (v - rest) / tau + x[t]
        s = fire(v - threshold, alpha)
        s_r = s.detach() if detach_reset else s
        v = v * (1 - s_r) + rest * s_r if v_reset is not None else v - s_r * threshold
        spikes.append(s)
    return torch.stack(spikes), v


def signed_if_scan(x: torch.Tensor, v: torch.Tensor, count: torch.Tensor, step: torch.Tensor | float,
                   levels: int, max_spikes: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Signed, bounded integrate-and-fire (ST-BIF⁺) with reset by subtraction.

    At each step ``v += x``; then up to ``max_spikes`` spikes of one sign: ``+1`` each while
    ``v ≥ step`` and ``count < levels``, ``−1`` each while ``v < 0`` and ``count > 0``; every spike
    moves ``v`` by ``∓step`` and ``count`` by ``±1``. With ``v`` starting at ``step/2`` and a total
    input Z, the neuron settles at ``count = clip(floor(Z/step + 1/2), 0, levels)``: the QCFS level.

    Args:
        x: input current ``[T, B, ...]``; v, count: membrane potential and spike count before the
            first step, broadcastable to ``[B, ...]``.
        step: the value of one spike (λ/L for a converted QCFS site); levels: the most spikes held (L).
        max_spikes: spikes per step (1: ``'signed'``; k: ``'burst:k'``).
    Returns:
        ``(spikes, v, count)``: signed spike counts ``[T, B, ...]`` in ``{−k, ..., k}``, the final
        membrane potential and count. Once the input has stopped and a step fires nothing, every later
        step is silent too (its state no longer changes), so the scan stops there.
    """
    out = torch.empty_like(x)
    last_input = last_active_step(x)                                   # no input after this step
    for t in range(x.shape[0]):
        if t <= last_input:
            v = v + x[t]
        if max_spikes == 1:                                            # one spike: two comparisons suffice
            n = ((v >= step) & (count < levels)).to(x.dtype) - ((v < 0) & (count > 0)).to(x.dtype)
        else:
            up = torch.clamp(torch.floor(v / step), min=0)
            down = torch.clamp(torch.ceil(-v / step), min=0)            # spikes that bring v back to ≥ 0
            n = torch.minimum(up, levels - count) - torch.minimum(down, count)
            n = torch.clamp(n, -max_spikes, max_spikes)
        if t >= last_input and not bool(n.any()):
            out[t:] = 0
            break                                                      # settled, no more input: silent from here
        v = v - n * step
        count = count + n
        out[t] = n
    return out, v, count
