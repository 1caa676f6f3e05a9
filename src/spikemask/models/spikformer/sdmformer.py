"""SDMFormer: Spikformer with learnable channel masks and a lightweight position embedding (paper §3).

Differences from :class:`~.spikformer.Spikformer` (everything else is the baseline, D1, D2):

- **DMEB** (D4, D5): every token conv of an encoder block (Q, K, V, proj, MLP1, MLP2: six per
  block) is a DMConv = 1×1 conv → BN → :class:`~spikemask.masks.dynamic.DynamicMask` → LIF. The SSA
  math is unchanged (A6: no softmax, scale 0.25, attention neuron threshold 0.5, A7) and the MLP keeps
  ratio 4 (A3). The patch splitting (SPS) and the head are not masked.
- **LPE** (D6, A5): the RPE conv is replaced by a learnable tensor ``P ∈ R^{1×1×D×N}``
  (truncated normal, std 0.02) added to the SPS output, broadcast over T and batch, with no BN/LIF.

Parameters: SDMFormer-2-256 on 128 px, 2 channels, 10 classes has 1,992,714 parameters before
masking (A3) plus 4,608 mask entries ``m``; training then switches channels off, and
:func:`spikemask.models.spikformer.pruning.prune` removes them.

"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikemask.masks.dynamic import DynamicMask
from spikemask.models._registry import register_model
from spikemask.models.spikformer.spikformer import Spikformer


class LearnablePositionEmbedding(nn.Module):
    """LPE (D6, A5): ``x + P`` with ``P`` of shape ``[1, 1, D, N]`` (N = grid² tokens), std-0.02 init.

    Shapes: ``[T, B, D, h, w]`` → same (``P`` is viewed as ``[1, 1, D, h, w]``).
    """

    def __init__(self, dim: int, grid: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(1, 1, dim, grid * grid))
        nn.init.trunc_normal_(self.embedding, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.embedding.view(1, 1, *x.shape[2:])


class SDMFormer(Spikformer):
    """SDMFormer (see the module docstring); same input/output as :class:`~.spikformer.Spikformer`.

    Args:
        mask_init: initial value of every mask entry ``m`` (A1: 0, all channels on).
        mask_penalty: ``λ`` of the optional kept-channel penalty ``λ·Σ SH(tanh m)`` on every mask
            (:class:`~spikemask.masks.dynamic.DynamicMask`; our addition, not in the paper; 0 = off).
        **kwargs: the :class:`~.spikformer.Spikformer` arguments (``depth``, ``dim``, ...,
            ``kept_channels`` for a pruned model).
    """

    def __init__(self, *, mask_init: float = 0.0, mask_penalty: float = 0.0, **kwargs: Any) -> None:
        super().__init__(mask_init=mask_init, **kwargs)
        for module in self.modules():
            if isinstance(module, DynamicMask):
                module.set_penalty(mask_penalty)

    def build_position_encoding(self, dim: int, grid: int) -> nn.Module:
        """SDMFormer's LPE (D6) in place of Spikformer's RPE."""
        return LearnablePositionEmbedding(dim, grid)

    def constant_inputs(self) -> dict[str, torch.Tensor]:
        """The LPE ``P`` ``[1, D, N]`` in the input of every conv that reads the residual stream (Q, K, V, MLP1)."""
        offset = residual_offset(self)[0]
        return {f"blocks.{i}.{unit}.conv": offset for i in range(len(self.blocks))
                for unit in ("attn.q", "attn.k", "attn.v", "mlp.fc1")}


def build_sdmformer(*, depth: int, dim: int, num_classes: int = 10, in_channels: int = 2, img_size: int = 128,
                    time_steps: int = 16, patch: int = 16, heads: int = 16, mlp_ratio: float = 4.0,
                    mask_init: float = 0.0, mask_penalty: float = 0.0,
                    kept_channels: dict[str, list[int]] | None = None) -> SDMFormer:
    """The one SDMFormer builder (``depth``, ``dim`` fixed by the entry point); ``kept_channels``: pruned."""
    return SDMFormer(depth=depth, dim=dim, heads=heads, mlp_ratio=mlp_ratio, num_classes=num_classes,
                     in_channels=in_channels, img_size=img_size, time_steps=time_steps, patch=patch,
                     mask_init=mask_init, mask_penalty=mask_penalty, kept_channels=kept_channels)


@register_model(options_from=build_sdmformer)
def sdmformer(**kwargs: Any) -> SDMFormer:
    """SDMFormer-2-256: DMEB masks + LPE (D1–D6); kept_channels builds a pruned model."""
    return build_sdmformer(depth=2, dim=256, **kwargs)


@register_model(options_from=build_sdmformer)
def sdmformer_2_64(**kwargs: Any) -> SDMFormer:
    """SDMFormer-2-64: DMEB masks + LPE (D1–D6); kept_channels builds a pruned model."""
    return build_sdmformer(depth=2, dim=64, **kwargs)


@register_model(options_from=build_sdmformer)
def sdmformer_2_256(**kwargs: Any) -> SDMFormer:
    """SDMFormer-2-256: DMEB masks + LPE (D1–D6); kept_channels builds a pruned model."""
    return build_sdmformer(depth=2, dim=256, **kwargs)


@register_model(options_from=build_sdmformer)
def sdmformer_1_512(**kwargs: Any) -> SDMFormer:
    """SDMFormer-1-512: DMEB masks + LPE (D1–D6); kept_channels builds a pruned model."""
    return build_sdmformer(depth=1, dim=512, **kwargs)


@register_model(options_from=build_sdmformer)
def sdmformer_4_384(**kwargs: Any) -> SDMFormer:
    """SDMFormer-4-384: DMEB masks + LPE (D1–D6); kept_channels builds a pruned model."""
    return build_sdmformer(depth=4, dim=384, **kwargs)


# ----------------------------------------------------------------------------- figure analyses
def residual_offset(model: Spikformer) -> torch.Tensor | float:
    """The non-spike part of the residual stream: SDMFormer's LPE ``P`` ``[1, 1, D, N]``, else 0.

    Every other term of the stream (SPS, RPE and block outputs) is a sum of spikes, so
    ``stream - residual_offset(model)`` counts the spikes that arrive at each element.
    """
    pos = model.pos
    return pos.embedding.detach() if isinstance(pos, LearnablePositionEmbedding) else 0.0
