"""The ``torch`` backend: the neuron scans as in-place eager loops over T, with closed-form backward.

Used where neither fused kernel is available (no C++ compiler; a GPU without Triton) and for
tensors of other devices. Same contract as the ``cpp`` and ``triton`` backends: inputs are
contiguous ``[T, N]`` (N = neurons per step), the membrane ``v`` ``[N]`` (and ``count``) is updated in
place, and each operation rounds exactly as the reference loops of :mod:`spikemask.snn.neurons`.
"""
from __future__ import annotations

import torch

from spikemask.snn.surrogate import SURROGATES


def if_forward(x: torch.Tensor, v: torch.Tensor, theta: float) -> torch.Tensor:
    """IF with reset by subtraction: ``[T, N]`` input → outputs ``θ·s`` ``[T, N]``; ``v`` ends at the final membrane."""
    out = torch.empty_like(x)
    fired = torch.empty(v.shape, dtype=torch.bool, device=v.device)
    for t in range(x.shape[0]):
        v.add_(x[t])
        torch.ge(v, theta, out=fired)
        out[t] = fired
        v.sub_(out[t].mul_(theta))
    return out


def lif_forward(x: torch.Tensor, v: torch.Tensor, tau: float, theta: float, rest: float, hard: bool,
                decay_input: bool, keep_h: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """LIF: ``[T, N]`` input → ``(spikes [T, N], pre-spike membrane h [T, N] or empty)``; ``v`` updated in place."""
    out = torch.empty_like(x)
    hs = torch.empty_like(x) if keep_h else x.new_empty(0)
    h = torch.empty_like(v)
    fired = torch.empty(v.shape, dtype=torch.bool, device=v.device)
    for t in range(x.shape[0]):
        if decay_input:                                   # h = v + (x - (v - rest)) / tau
            torch.sub(x[t], v - rest, out=h)
            h.div_(tau).add_(v)
        else:                                             # h = v - (v - rest) / tau + x
            torch.sub(v, (v - rest).div_(tau), out=h)
            h.add_(x[t])
        torch.ge(h - theta, 0, out=fired)
        if keep_h:
            hs[t] = h
        out[t] = fired
        if hard:
            v.copy_(h).masked_fill_(fired, rest)
        else:
            torch.sub(h, out[t], alpha=theta, out=v)
    return out, hs


def lif_backward(grad_s: torch.Tensor, grad_v: torch.Tensor, h: torch.Tensor, tau: float, theta: float, rest: float,
                 hard: bool, decay_input: bool, detach_reset: bool, surrogate: str, alpha: float) -> torch.Tensor:
    """The reverse scan of the LIF gradient, from the saved pre-spike membrane ``h`` ``[T, N]``.

    With ``u = h − θ``, ``sg = surrogate'(u)``, and the reset's partials ``∂v/∂h`` (1 − s hard, 1 soft)
    and ``∂v/∂s`` (``rest − h`` hard, ``−θ`` soft, 0 with ``detach_reset``), from ``t = T−1`` down:
    ``gh = (grad_s[t] + gv·∂v/∂s)·sg + gv·∂v/∂h``, ``grad_x[t] = gh·∂h/∂x``, ``gv = gh·(1 − 1/τ)``.
    ``grad_v`` ``[N]`` enters as the gradient of the final membrane and leaves as that of the initial one.
    Returns ``grad_x`` ``[T, N]``.
    """
    u = h - theta
    sg = SURROGATES[surrogate](u, alpha)
    fired = u >= 0
    dvdh = (~fired).to(h.dtype) if hard else torch.ones_like(h)
    direct = grad_s * sg
    if not detach_reset:
        dvds = (rest - h) if hard else torch.full_like(h, -theta)
        dvdh = dvdh + dvds * sg                           # gv·(∂v/∂h + ∂v/∂s·sg)
    grad_h = torch.empty_like(h)
    keep = 1.0 - 1.0 / tau
    gv = grad_v
    for t in range(h.shape[0] - 1, -1, -1):
        torch.addcmul(direct[t], gv, dvdh[t], out=grad_h[t])
        gv = grad_h[t] * keep
    grad_v.copy_(gv)
    return grad_h.mul_(1.0 / tau) if decay_input else grad_h


def signed_if_forward(x: torch.Tensor, v: torch.Tensor, count: torch.Tensor, step: float, levels: int,
                      max_spikes: int, last_input: int) -> torch.Tensor:
    """Signed IF (ST-BIF⁺): ``[T, N]`` input → outputs ``step·n`` ``[T, N]``; ``v`` and ``count`` updated in place.
    Input after ``last_input`` is not added (it is zero there), as in the reference."""
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        if t <= last_input:
            v.add_(x[t])
        if max_spikes == 1:
            n = ((v >= step) & (count < levels)).to(x.dtype) - ((v < 0) & (count > 0)).to(x.dtype)
        else:
            up = torch.floor(v / step).clamp_(min=0)
            down = torch.ceil(-v / step).clamp_(min=0)
            n = torch.minimum(up, levels - count).sub_(torch.minimum(down, count)).clamp_(-max_spikes, max_spikes)
        if t >= last_input and not bool(n.any()):
            break                                         # settled with no more input: silent from here
        torch.mul(n, step, out=out[t])
        v.sub_(out[t])
        count.add_(n)
    return out
