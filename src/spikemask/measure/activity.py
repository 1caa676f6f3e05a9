"""Activity analyses of SDMFormer's figures that work on Spikformer and SDMFormer alike.

- :func:`inactive_channel_ratios`: Fig. 1a, channels that carry spikes into an SSA but none out of it.
- :func:`position_heatmaps`: Fig. 4, the output of the position encoding.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from spikemask.convert.simulate import simulate
from spikemask.measure.recorder import Recorder
from spikemask.models.spikformer.sdmformer import residual_offset
from spikemask.models.spikformer.spikformer import Spikformer


@torch.no_grad()
def inactive_channel_ratios(model: Spikformer, inputs: Iterable[torch.Tensor], block: int = 0) -> dict[str, Any]:
    """Fig. 1a: per sample, the fraction of channels that carry spikes into an SSA but none out of it.

    A channel is *active at the input* if the spike part of the block's input (see
    :func:`residual_offset`) is nonzero anywhere in ``[T, N]``, and *silent at the output* if the SSA
    output spikes are all zero. Ratio = (active-in and silent-out channels) / D.

    Args:
        inputs: batches in the model's input convention (``[B, C, H, W]`` or ``[T, B, C, H, W]``).
        block: which encoder block's SSA to inspect.
    Returns:
        ``{"ratios": [one float per sample], "mean": ..., "median": ...}``.
    """
    attn = model.blocks[block].attn
    seen: dict[str, torch.Tensor] = {}
    recorder = Recorder(model, count=False)
    recorder.tap(attn, lambda m, args: seen.__setitem__("in", args[0]), pre=True)
    recorder.tap(attn, lambda m, args, out: seen.__setitem__("out", out))
    ratios: list[float] = []
    model.eval()
    with recorder:
        for x in inputs:
            simulate(model, x)
            spikes_in = seen["in"] - residual_offset(model)                  # [T, B, D, N]
            active_in = spikes_in.abs().sum(dim=(0, 3)) > 0                  # [B, D]
            silent_out = seen["out"].abs().sum(dim=(0, 3)) == 0              # [B, D]
            ratios += (active_in & silent_out).float().mean(dim=1).tolist()
    values = np.asarray(ratios, dtype=np.float64)
    return {"ratios": ratios, "mean": float(values.mean()) if ratios else float("nan"),
            "median": float(np.median(values)) if ratios else float("nan")}


@torch.no_grad()
def position_heatmaps(model: Spikformer, x: torch.Tensor) -> np.ndarray:
    """Fig. 4: the output of the position encoding (LPE or RPE), averaged over channels.

    Args:
        x: one batch in the model's input convention.
    Returns:
        ``[T, B, h, w]`` array (the token grid per time step and sample).
    """
    seen: dict[str, torch.Tensor] = {}
    model.eval()
    with Recorder(model, count=False).tap(model.pos, lambda m, args, out: seen.__setitem__("out", out)):
        simulate(model, x)
    return seen["out"].mean(dim=2).cpu().numpy()
