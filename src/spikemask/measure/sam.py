"""Spike Activation Maps (SAM; Kim & Panda 2021), as used for MST Fig. 7 (§4.3).

SAM needs only the forward spikes. For a neuron k at position (i, j), its *neuronal contribution
score* at step t sums an exponential kernel over its earlier spikes,
``N^k_ij(t) = Σ_{t' < t, s^k_ij(t') = 1} exp(−γ (t − t'))``, computed with the recurrence
``N(t) = e^{−γ} · (N(t−1) + s(t−1))``, ``N(1) = 0``. The map sums the scores of the neurons
that spike now over the channels: ``M_ij(t) = Σ_k N^k_ij(t) · s^k_ij(t)`` — neurons that fire
often and recently light up. ``γ`` defaults to 0.5.

What we record: the output of a :class:`~spikemask.models.layers.SpikeSite`, i.e. the spikes
*after* the Random Spike Mask (the transmitted ones; a masked spike counts as silence), binarised.
Token sites ``[T*B, L, C]`` are laid out on their √L × √L grid; conv sites ``[T*B, C, H, W]`` as is.
Maps are upsampled to the (padded) input and cropped to the image;
:func:`spikemask.report.plots.plot_sam_grid` draws them over it.
"""
from __future__ import annotations

import fnmatch
import math

import torch
import torch.nn.functional as F
from torch import nn

from spikemask.convert.simulate import simulate
from spikemask.errors import check
from spikemask.measure.recorder import Recorder
from spikemask.models.layers import SpikeSite


@torch.no_grad()
def record_spikes(snn: nn.Module, x: torch.Tensor, time_steps: int, sites: str) -> dict[str, torch.Tensor]:
    """Simulate ``snn`` on images ``x`` ``[B, C, H, W]`` and keep the spikes of the sites matching ``sites``.

    Returns ``{site name: [T, B, ...] binary spikes}`` (site output shape without the folded T).
    """
    names = [n for n, m in snn.named_modules() if isinstance(m, SpikeSite) and fnmatch.fnmatchcase(n, sites)]
    check(bool(names), f"no spike site matches {sites!r}; MST sites are named like 'layers.0.blocks.0.norm1_site'")
    chunks: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    modules = dict(snn.named_modules())
    recorder = Recorder(snn, count=False)
    for n in names:
        recorder.tap(modules[n], lambda m, i, out, n=n: chunks[n].append((out != 0).float()))
    with recorder:
        simulate(snn, x, time_steps)
    batch = x.shape[0]
    return {n: torch.cat([c.reshape(-1, batch, *c.shape[1:]) for c in cs]) for n, cs in chunks.items()}


def spatial(spikes: torch.Tensor) -> torch.Tensor:
    """``[T, B, L, C]`` token spikes or ``[T, B, C, H, W]`` conv spikes → ``[T, B, C, H, W]``."""
    if spikes.dim() == 5:
        return spikes
    t, b, tokens, c = spikes.shape
    side = math.isqrt(tokens)
    check(side * side == tokens, f"a site with {tokens} tokens is not a square grid; pick another site")
    return spikes.transpose(2, 3).reshape(t, b, c, side, side)


def sam(spikes: torch.Tensor, gamma: float = 0.5) -> torch.Tensor:
    """Spike activation maps ``[T, B, H, W]`` from binary spikes ``[T, B, C, H, W]`` (module docstring)."""
    decay = math.exp(-gamma)
    score = torch.zeros_like(spikes[0])
    maps = []
    for t in range(spikes.shape[0]):
        if t:
            score = decay * (score + spikes[t - 1])
        maps.append((score * spikes[t]).sum(1))
    return torch.stack(maps)


def to_image(maps: torch.Tensor, img_size: int, pad: tuple[int, int]) -> torch.Tensor:
    """Upsample ``[..., h, w]`` maps to the padded input and crop the padding: ``[..., img, img]``."""
    full = img_size + sum(pad)
    lead = maps.shape[:-2]
    up = F.interpolate(maps.reshape(-1, 1, *maps.shape[-2:]), size=(full, full), mode="bilinear",
                       align_corners=False)
    up = up[..., pad[0]:pad[0] + img_size, pad[0]:pad[0] + img_size]
    return up.reshape(*lead, img_size, img_size)
