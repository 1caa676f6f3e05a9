"""Masked Spiking Transformer: Swin with BN, QCFS spike sites and Random Spike Masks (MST §3.3–3.4).

Layout (module names as in timm/Swin so pretrained weights map one-to-one, :mod:`spikemask.models.mst.pretrained`)::

    in_reduce             1×1 conv in_channels → 3 for stacked event frames (M18), else Identity
    patch_embed           pad → conv p×p/p → BN → site                      [N, L, C]
    layers.i.blocks.j     norm1 → norm1_site → (shifted) window attention (+ residual)
                          → norm2 → mlp: fc1 → bn1 → fc1_site → fc2 → bn2 → fc2_site (+ residual)
    layers.i.downsample   patch merging: 2×2 concat → BN(4C) → reduction → site
    norm, head            final BN (or LN) → mean over tokens → linear classifier

Faithfulness (ids from FAITHFULNESS.md §1):

- M1 Swin-T sizes (``mst_swin_t``): embed 96, depths 2-2-6-2, heads 3-6-12-24, window 7, patch 4,
  mlp_ratio 4, qkv bias, no absolute position embedding, drop_path 0.2.
- M3 every LayerNorm is a BatchNorm1d over channels (:class:`TokenBatchNorm`). The MST code keeps
  the *final* norm a LayerNorm; ``final_norm='bn'`` (default) converts exactly, ``'ln'`` is the code.
- M4 ``mlp_bn=True``: BN after each MLP linear (Linear → BN → site, as the code and the text "a BN
  layer after each linear layer"). Eq. 9 writes BN first; that would feed the linear analog values
  instead of spikes, so it is not offered. The code enables it only for ImageNet; the paper's
  CIFAR parameter count (27.6 M) matches it enabled (27.57 M; 27.53 M without), so it is the default.
- M5 sites (124 in Swin-T): patch_embed.site; per block norm1_site, attn.{q,k,v,a,av,proj}_site,
  norm2_site, mlp.fc1_site, mlp.fc2_site; downsample.site. No site after the final norm or head.
- MST code detail (not in the checklist): the MLP residual adds to the *normalised* stream,
  ``x = norm2(x); x = x + mlp(norm2_site(x))``; we follow the code.
- M6 QCFS ``levels`` L = 16 and ``threshold`` λ₀ = 2.0.
- M7 ``softmax='code'`` keeps softmax + bias at every SNN step; ``'none'`` is eq. 7 (see
  :mod:`spikemask.models.mst.attention`). ``product`` chooses per-step or conversion-exact spike products.
- ``init='swin'`` (code: truncated-normal 0.02 linears, for fine-tuning pretrained weights) or
  ``'torch'`` (PyTorch defaults; the small variants, whose attention would start silent otherwise).
- M12–M14 RSM: ``mask_ratio`` sets the q/k/A masks of every block (the code's only placements);
  :mod:`spikemask.masks.placement` places masks per part and per block.

Sizes: the image is zero-padded (evenly on both sides of each axis) to the next multiple of
``patch_size · 2^(stages−1)`` so every patch merging sees an even grid (28-px MNIST → 32 for
``mst_swin_t``; 224 and 32 need no padding). Each stage then uses the largest window that divides
its token grid and is not larger than ``window_size`` (Swin's rule "window = grid when the grid is
smaller", extended): ``mst_swin_t`` at 224 uses 7-7-7-7, at 32 uses 4-4-2-1. A stage whose grid
equals its window has one window and no shift.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikemask.errors import check
from spikemask.masks.rsm import check_ratio
from spikemask.models._registry import register_model
from spikemask.models.base import SpikingClassifier
from spikemask.models.layers import qcfs_site
from spikemask.models.mst.attention import NEG_INF, WindowAttention
from spikemask.snn.coding import batchnorm_scale
from spikemask.snn.functional import seq_forward


# ----------------------------------------------------------------------------- geometry helpers
def padded_size(img_size: int, patch_size: int, stages: int) -> int:
    """Smallest size ≥ ``img_size`` that is a multiple of ``patch_size · 2^(stages−1)`` (pixels)."""
    unit = patch_size * 2 ** (stages - 1)
    return -(-img_size // unit) * unit


def fit_window(grid: int, window: int) -> int:
    """The largest window side ≤ ``window`` that divides a ``grid × grid`` token map."""
    return max(w for w in range(1, min(grid, window) + 1) if grid % w == 0)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[N, H, W, C]`` → ``[N·nW, w², C]``: non-overlapping w×w windows, row-major, image-major."""
    n, h, w, c = x.shape
    x = x.view(n, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``[N·nW, w², C]`` → ``[N, H, W, C]``."""
    c = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)


def shift_mask(grid: int, window: int, shift: int) -> torch.Tensor:
    """Attention mask for shifted windows: ``[nW, w², w²]``, 0 where allowed, −100 elsewhere.

    After rolling the map by ``−shift``, the last window row/column holds tokens from opposite image
    edges. Tokens are labelled by region (3 bands per axis: ``[0, g−w)``, ``[g−w, g−s)``,
    ``[g−s, g)``); two tokens of a window may attend to each other only with the same label.
    """
    bands = torch.zeros(grid, dtype=torch.long)
    bands[grid - window:] = 1
    bands[grid - shift:] = 2
    labels = (bands[:, None] * 3 + bands[None, :]).view(1, grid, grid, 1).float()
    labels = window_partition(labels, window).squeeze(-1)                # [nW, w²]
    same = labels[:, :, None] == labels[:, None, :]
    return torch.where(same, 0.0, NEG_INF)


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a residual branch per sample with probability ``p`` (scaled by 1/(1−p))."""
    if p == 0.0 or not training:
        return x
    keep = torch.rand(x.shape[0], *[1] * (x.dim() - 1), device=x.device) >= p
    return x * keep.to(x.dtype) / (1 - p)


# ----------------------------------------------------------------------------- layers
class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the channels of tokens ``[N, L, C]`` (statistics over N·L), MST's LN→BN (M3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)

    def linear_part(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """Write ``x · γ/√(σ² + ε)`` (eval mode, channels last) into ``out``
        (:func:`spikemask.snn.coding.write_linear_part`)."""
        torch.mul(x, batchnorm_scale(self), out=out)


class PatchEmbed(nn.Module):
    """Pad, cut p×p patches with a strided conv, BN and a spike site: ``[N, C_in, H, W]`` → ``[N, L, C]``."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, pad: tuple[int, int], levels: int,
                 threshold: float) -> None:
        super().__init__()
        self.pad = pad  # (before, after) pixels, same on both axes
        self.proj = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.norm = TokenBatchNorm(dim)
        self.site = qcfs_site(levels, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, [*self.pad, *self.pad]) if any(self.pad) else x
        return self.site(self.norm(self.proj(x).flatten(2).transpose(1, 2)))


class Mlp(nn.Module):
    """fc1 → (BN) → site → fc2 → (BN) → site on tokens ``[N, L, C]`` (M4, M5)."""

    def __init__(self, dim: int, hidden: int, mlp_bn: bool, levels: int, threshold: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.bn1 = TokenBatchNorm(hidden) if mlp_bn else nn.Identity()
        self.fc1_site = qcfs_site(levels, threshold)
        self.fc2 = nn.Linear(hidden, dim)
        self.bn2 = TokenBatchNorm(dim) if mlp_bn else nn.Identity()
        self.fc2_site = qcfs_site(levels, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2_site(self.bn2(self.fc2(self.fc1_site(self.bn1(self.fc1(x))))))


@dataclass(frozen=True)
class SpikeOptions:
    """Options every spiking layer of the model shares."""

    levels: int
    threshold: float
    mask_ratio: float
    softmax: str
    product: str


class SwinBlock(nn.Module):
    """One MST block on a ``grid × grid`` token map: (shifted) window attention and MLP, both residual.

    Shape: ``[N, grid², C]`` → same. ``shift`` = 0 for W-MSA, ``window // 2`` for SW-MSA.
    """

    def __init__(self, dim: int, heads: int, grid: int, window: int, shift: int, mlp_ratio: float,
                 mlp_bn: bool, drop_path: float, spk: SpikeOptions) -> None:
        super().__init__()
        self.grid, self.window, self.shift, self.drop_path = grid, window, shift, drop_path
        self.norm1 = TokenBatchNorm(dim)
        self.norm1_site = qcfs_site(spk.levels, spk.threshold)
        self.attn = WindowAttention(dim, heads, window, spk.softmax, spk.product, spk.levels, spk.threshold,
                                    spk.mask_ratio)
        self.norm2 = TokenBatchNorm(dim)
        self.norm2_site = qcfs_site(spk.levels, spk.threshold)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), mlp_bn, spk.levels, spk.threshold)
        self.register_buffer("shift_mask", shift_mask(grid, window, shift) if shift else None, persistent=False)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """Window attention over a token map ``[N, grid², C]`` (cyclic shift, partition, merge back)."""
        n, _, c = x.shape
        x = x.view(n, self.grid, self.grid, c)
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        out = self.attn(window_partition(x, self.window), self.shift_mask)
        out = window_reverse(out, self.window, self.grid, self.grid)
        if self.shift:
            out = torch.roll(out, (self.shift, self.shift), dims=(1, 2))
        return out.reshape(n, self.grid * self.grid, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attend(self.norm1_site(self.norm1(x))), self.drop_path, self.training)
        x = self.norm2(x)
        return x + drop_path(self.mlp(self.norm2_site(x)), self.drop_path, self.training)

    def extra_repr(self) -> str:
        return f"grid={self.grid}, window={self.window}, shift={self.shift}"


class PatchMerging(nn.Module):
    """Concatenate 2×2 neighbours, BN(4C), Linear 4C→2C (no bias), site: ``[N, g², C]`` → ``[N, (g/2)², 2C]``."""

    def __init__(self, dim: int, grid: int, levels: int, threshold: float) -> None:
        super().__init__()
        self.grid = grid
        self.norm = TokenBatchNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.site = qcfs_site(levels, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, c = x.shape
        x = x.view(n, self.grid, self.grid, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.site(self.reduction(self.norm(x.reshape(n, -1, 4 * c))))


class Stage(nn.Module):
    """``depth`` blocks (alternating W-MSA / SW-MSA) then an optional patch merging."""

    def __init__(self, blocks: list[SwinBlock], downsample: PatchMerging | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class MSTSwin(SpikingClassifier):
    """Masked Spiking Transformer on a Swin backbone; see the module docstring.

    Input ``[T, B, in_channels, img_size, img_size]``, output ``[T, B, num_classes]`` logits (T folded
    into the batch inside; every layer below sees ``[T·B, ...]``).
    Attributes: ``input_pad`` (pixels added before/after, per axis), ``stage_grids`` and ``stage_windows``.
    """

    def __init__(self, num_classes: int, in_channels: int, img_size: int, patch_size: int, embed_dim: int,
                 depths: tuple[int, ...], heads: tuple[int, ...], window_size: int, mlp_ratio: float,
                 mlp_bn: bool, final_norm: str, drop_path: float, in_reduce: bool, init: str,
                 spk: SpikeOptions) -> None:
        super().__init__(num_classes, in_channels, img_size)
        stages = len(depths)
        padded = padded_size(img_size, patch_size, stages)
        self.input_pad = ((padded - img_size) // 2, (padded - img_size + 1) // 2)
        self.in_reduce = nn.Conv2d(in_channels, 3, 1) if in_reduce else nn.Identity()
        self.patch_embed = PatchEmbed(3 if in_reduce else in_channels, embed_dim, patch_size, self.input_pad,
                                      spk.levels, spk.threshold)
        n_blocks = sum(depths)
        rates = [drop_path * i / max(1, n_blocks - 1) for i in range(n_blocks)]   # grows linearly with depth
        self.stage_grids = [padded // patch_size // 2 ** i for i in range(stages)]
        self.stage_windows = [fit_window(g, window_size) for g in self.stage_grids]
        self.layers = nn.ModuleList()
        for i, (depth, n_heads, grid, window) in enumerate(zip(depths, heads, self.stage_grids, self.stage_windows)):
            dim = embed_dim * 2 ** i
            shift = window // 2 if grid > window else 0
            blocks = [SwinBlock(dim, n_heads, grid, window, shift if j % 2 else 0, mlp_ratio, mlp_bn,
                                rates[sum(depths[:i]) + j], spk) for j in range(depth)]
            merge = PatchMerging(dim, grid, spk.levels, spk.threshold) if i < stages - 1 else None
            self.layers.append(Stage(blocks, merge))
        features = embed_dim * 2 ** (stages - 1)
        self.norm = TokenBatchNorm(features) if final_norm == "bn" else nn.LayerNorm(features)
        self.head = nn.Linear(features, num_classes)
        if init == "swin":
            self._swin_init()

    def _swin_init(self) -> None:
        """Swin's (and the MST code's) initialisation: truncated-normal(0.02) linears, zero biases.

        Meant for fine-tuning pretrained weights. From scratch, such small weights leave the QCFS
        sites of attention silent (q·k below the first level λ/2L), so the small variants keep
        PyTorch's default initialisation (``init='torch'``)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def blocks(self) -> list[SwinBlock]:
        """All blocks in forward order (index 0 is the first block of the first stage)."""
        return [b for stage in self.layers for b in stage.blocks]

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Folded images ``[N, C, H, W]`` → token-averaged features ``[N, D]``."""
        x = self.patch_embed(self.in_reduce(x))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x).mean(1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` → features ``[T, B, D]`` (final norm, mean over tokens)."""
        return seq_forward(self._features, x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``[T, B, D]`` → logits ``[T, B, num_classes]``."""
        return self.head(features)

    def no_weight_decay(self) -> set[str]:
        """1-D parameters and the relative position bias tables (as the MST code and timm's Swin)."""
        return super().no_weight_decay() | {name for name, _ in self.named_parameters()
                                             if name.endswith("relative_position_bias_table")}


# ----------------------------------------------------------------------------- registry
def build_mst_swin(*, num_classes: int = 10, in_channels: int = 3, img_size: int = 32, embed_dim: int = 32,
                   depths: tuple[int, ...] = (2, 2), heads: tuple[int, ...] = (2, 4), patch_size: int = 2,
                   window_size: int = 7, mlp_ratio: float = 4.0, mlp_bn: bool = True, final_norm: str = "bn",
                   softmax: str = "code", product: str = "step", levels: int = 16, threshold: float = 2.0,
                   mask_ratio: float = 0.0, drop_path: float = 0.0, in_reduce: bool = False,
                   init: str = "torch") -> MSTSwin:
    """The one MST builder: check the options and build :class:`MSTSwin` (module docstring, M1–M14)."""
    depths, heads = tuple(depths), tuple(heads)
    check(len(depths) == len(heads) and len(depths) >= 1,
          f"depths {depths} and heads {heads} must list one entry per stage")
    check(all(embed_dim * 2 ** i % h == 0 for i, h in enumerate(heads)),
          f"embed_dim·2^i must be divisible by heads[i]; got embed_dim={embed_dim}, heads={heads}")
    check(patch_size >= 1 and window_size >= 1 and mlp_ratio > 0,
          "patch_size and window_size must be >= 1 and mlp_ratio > 0")
    check(final_norm in ("bn", "ln"), f"final_norm must be 'bn' or 'ln', got {final_norm!r}")
    check(0.0 <= drop_path < 1.0, f"drop_path must be in [0, 1), got {drop_path}")
    check(init in ("swin", "torch"), f"init must be 'swin' or 'torch', got {init!r}")
    spk = SpikeOptions(levels, threshold, check_ratio(mask_ratio), softmax, product)
    return MSTSwin(num_classes, in_channels, img_size, patch_size, embed_dim, depths, heads, window_size,
                   mlp_ratio, mlp_bn, final_norm, drop_path, in_reduce, init, spk)


@register_model(options_from=build_mst_swin)
def mst_swin_t(*, embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2), heads: tuple[int, ...] = (3, 6, 12, 24),
               patch_size: int = 4, window_size: int = 7, drop_path: float = 0.2, init: str = "swin",
               **kwargs: Any) -> MSTSwin:
    """MST Swin-T (M1): 27.57 M parameters for 10 classes at 224 px, 28.33 M for 1000."""
    return build_mst_swin(embed_dim=embed_dim, depths=depths, heads=heads, patch_size=patch_size,
                          window_size=window_size, drop_path=drop_path, init=init, **kwargs)


@register_model(options_from=build_mst_swin)
def mst_swin_tiny_cifar(*, embed_dim: int = 48, depths: tuple[int, ...] = (2, 2, 2),
                        heads: tuple[int, ...] = (3, 6, 12), patch_size: int = 2, window_size: int = 4,
                        drop_path: float = 0.1, **kwargs: Any) -> MSTSwin:
    """Small MST for 32-px images: patch 2, embed 48, depths 2-2-2, window 4."""
    return build_mst_swin(embed_dim=embed_dim, depths=depths, heads=heads, patch_size=patch_size,
                          window_size=window_size, drop_path=drop_path, **kwargs)


@register_model(options_from=build_mst_swin)
def mst_swin_micro(**kwargs: Any) -> MSTSwin:
    """CPU-sized MST for 28-px MNIST: patch 2, embed 32, depths 2-2, window 7 (token grids 14×14 then 7×7)."""
    return build_mst_swin(**kwargs)
