"""Learnable channel masks of SDMFormer (paper §3.2; FAITHFULNESS D3, A1, A2).

A mask layer sits after a conv (+ BN) with ``C`` output channels and owns one trainable vector
``m ∈ R^C``. In training *and* inference the conv output is gated channel-wise by

    M = Heaviside(tanh(m)) ∈ {0, 1}^C,   Heaviside(x) = 1 if x >= 0 else 0   (so m = 0 keeps the channel),

so a channel with ``M_c = 0`` is exactly zero downstream and can be pruned away
(:mod:`spikemask.models.spikformer.pruning`). Backward, the Heaviside is replaced by the derivative of the paper's
piecewise-quadratic ``SurrogateHeaviside`` (:class:`spikemask.snn.surrogate.SurrogateHeaviside`):

    SH(x)  = 0 (x < -1),  (x + 1)²/2 (-1 <= x < 0),  (2x - x² + 1)/2 (0 <= x < 1),  1 (x >= 1)
    SH'(x) = x + 1 on [-1, 0),  1 - x on [0, 1),  0 elsewhere   ( = max(0, 1 - |x|) )

and the chain rule through tanh gives ``dM/dm = SH'(tanh m)·(1 - tanh² m)``, which never vanishes
because ``tanh m ∈ (-1, 1)``.

Initialisation ``m = 0`` (every channel on, surrogate slope at its peak) is the default (A1). ``m`` is a
1-D parameter, so :func:`spikemask.train.trainer.param_groups` already exempts it from weight decay (A2).

``penalty`` (default 0 = off) is **our addition, not in the paper**: ``λ > 0`` adds ``λ · Σ_c SH(tanh m_c)``
(a smooth count of the kept channels) to the training loss. It is folded into the backward of
:class:`~spikemask.snn.surrogate.SurrogateHeaviside`, which returns ``grad · SH'(x) + λ · SH'(x)`` for
``x = tanh m``, so the trainer's loss is untouched and the chain rule through tanh gives the penalty's gradient
``∂/∂m_c = λ · SH'(tanh m_c) · (1 - tanh² m_c)``, i.e. ``λ`` near ``m = 0``.

The penalty is added once per back-propagated call of :meth:`DynamicMask.gate`. ``gate()`` is called once
per :meth:`DynamicMask.forward` (``kept()`` and ``extra_repr`` detach it), so the penalty enters each
backward exactly once as long as the mask's forward runs once per backward, as in training. A mask run
twice before one backward (e.g. two forwards whose losses are summed) receives ``2λ``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.snn.surrogate import SurrogateHeaviside


class DynamicMask(nn.Module):
    """Channel gate ``y = Heaviside(tanh m) ⊙ x`` for ``x`` of shape ``[N, C, ...]`` (channels on dim 1).

    Args:
        channels: ``C``, the number of output channels of the preceding conv.
        init: initial value of every ``m_c`` (A1: 0, i.e. all channels on). A negative value starts
            the channel off.
        penalty: ``λ >= 0`` of the optional kept-channel penalty (module docstring; our addition,
            0 = off, as in the paper).
    """

    def __init__(self, channels: int, init: float = 0.0, penalty: float = 0.0) -> None:
        super().__init__()
        if channels < 1:
            raise SpikemaskError(f"a mask needs at least one channel, got {channels}")
        if not isinstance(init, (int, float)) or not math.isfinite(init):
            raise SpikemaskError(f"mask_init must be a finite number, got {init!r}")
        self.m = nn.Parameter(torch.full((channels,), float(init)))
        self.penalty = 0.0
        self.set_penalty(penalty)

    def set_penalty(self, penalty: float) -> None:
        """Set ``λ`` of the kept-channel penalty (0 turns it off); see the module docstring."""
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty) \
                or penalty < 0:
            raise SpikemaskError(f"mask_penalty must be a finite number >= 0, got {penalty!r}")
        self.penalty = float(penalty)

    def gate(self) -> torch.Tensor:
        """``M = Heaviside(tanh m)``, shape ``[C]``, values in {0, 1}, differentiable w.r.t. ``m`` via SH'.

        Its backward also carries the penalty's gradient (once per call; see the module docstring).
        """
        return SurrogateHeaviside.apply(torch.tanh(self.m), self.penalty)

    def kept(self) -> torch.Tensor:
        """Boolean ``[C]``: the channels that pass (``M_c = 1``); the same test the forward pass uses."""
        return self.gate().detach() > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x * self.gate().view(1, -1, *([1] * (x.dim() - 2))).to(x.dtype)

    def extra_repr(self) -> str:
        kept = int(self.kept().sum())
        return f"channels={self.m.numel()}, kept={kept}" + (f", penalty={self.penalty:g}" if self.penalty else "")


def dynamic_masks(model: nn.Module) -> list[tuple[str, DynamicMask]]:
    """``(name, mask)`` for every :class:`DynamicMask` in ``model``, in definition order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, DynamicMask)]


def mask_report(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per-layer masking ratios (paper §4.2, Fig. 5) of a trained, unpruned model.

    Returns:
        ``{layer: {"channels": C, "masked": n, "masked_ratio": n / C}}`` keyed by the name of the layer
        that owns the mask (e.g. ``"blocks.0.attn.q"``), plus ``"total"`` over all masks.
    """
    report: dict[str, dict[str, float]] = {}
    channels = masked = 0
    for name, mask in dynamic_masks(model):
        c, n = mask.m.numel(), int((~mask.kept()).sum())
        report[name.removesuffix(".mask")] = {"channels": c, "masked": n, "masked_ratio": n / c}
        channels, masked = channels + c, masked + n
    if channels:
        report["total"] = {"channels": channels, "masked": masked, "masked_ratio": masked / channels}
    return report
