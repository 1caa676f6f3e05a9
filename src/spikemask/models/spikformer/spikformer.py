"""Spikformer for event frames: the official ZK-Zhou/spikformer ``cifar10dvs`` model (FAITHFULNESS S1–S8).

Data flow (time-major; D = ``dim``, N = h·w tokens)::

    [T, B, C, H, W] frames (a static image repeated T times, or event frames)
    → SPS: 4 × [conv3×3 (no bias) → BN → LIF → MaxPool(3, 2, 1)], channels C → D/8 → D/4 → D/2 → D  (S1)
    → position encoding, RPE: x + LIF(BN(conv3×3(x))), no neuron after the sum          [T, B, D, h, w]
    → flatten the token grid                                                            [T, B, D, N]
    → ``depth`` blocks: x = x + SSA(x); x = x + MLP(x)                                  (S2, S3)
    → mean over tokens → Linear, per step                                              [T, B, num_classes]
      (the answer is the mean over T, as the official code's head of the T-mean: the head is linear, S5)

Every neuron is Spikformer's LIF (S4): τ = 2, threshold 1 (0.5 for the attention output), hard reset
to 0, sigmoid surrogate α = 4, detached reset. Parameter count: Spikformer-2-256 with 2 input
channels, 128 px and 10 classes has 2,566,666 parameters; the official 2,585,610 (S6) also counts
an unused ``pos_embed`` (16,384) and unused LayerNorms (2,560), which are not built here.

**Pooling rule** (the official code hard-codes 128 px and pools in all four stages): ``patch`` is the
total down-sampling factor, so ``log2(patch)`` stages pool; each pool maps a side ``s`` to
``ceil(s / 2)``. For small images the number of pools is reduced until the token grid is at least
2×2 (e.g. 16 px with patch 16 pools three times: 16 → 8 → 4 → 2). Pooling stages are the *last*
ones, as in Spikformer's static-image (CIFAR) model. 128 px, patch 16 → 8×8 = 64 tokens (official);
28 px MNIST → 2×2; with ``patch=4`` MNIST gets 7×7 tokens.

SDMFormer (:mod:`.sdmformer`) reuses these classes with channel masks (``mask_init``) and its own
position encoding; ``kept_channels`` builds a physically pruned SDMFormer (:mod:`.pruning`).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from spikemask.errors import check
from spikemask.masks.dynamic import DynamicMask
from spikemask.models._registry import register_model
from spikemask.models.base import SpikingClassifier
from spikemask.models.layers import MatMul
from spikemask.snn.functional import seq_forward
from spikemask.snn.neurons import LIFNeuron

ATTENTION_SCALE = 0.25        # SSA scale of the official DVS code (S2, A7)
ATTENTION_THRESHOLD = 0.5     # threshold of the neuron after Q·Kᵀ·V (S2, A7)
BLOCK_LAYERS = ("attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2")  # token convs of a block


def lif(threshold: float = 1.0) -> LIFNeuron:
    """Spikformer's multi-step LIF neuron (S4); input and output ``[T, B, ...]``."""
    return LIFNeuron(tau=2.0, threshold=threshold, v_reset=0.0, surrogate="sigmoid", alpha=4.0, detach_reset=True)


def pooled_side(img_size: int, pools: int) -> int:
    """Side of the token grid after ``pools`` MaxPool(3, 2, 1) layers (each maps s → ceil(s/2))."""
    for _ in range(pools):
        img_size = (img_size + 1) // 2
    return img_size


def pooling_stages(img_size: int, patch: int) -> int:
    """Number of pooling SPS stages: ``log2(patch)``, fewer if the token grid would drop below 2×2."""
    check(patch in (1, 2, 4, 8, 16), f"patch must be 1, 2, 4, 8 or 16 (the SPS down-sampling factor), got {patch!r}")
    pools = int(math.log2(patch))
    while pools > 0 and pooled_side(img_size, pools) < 2:
        pools -= 1
    return pools


def widen(x: torch.Tensor, index: torch.Tensor | None, width: int) -> torch.Tensor:
    """Put the channels of ``x`` ``[T, B, c, N]`` at positions ``index`` of a zero ``[T, B, width, N]``.

    Identity when ``index`` is None (unpruned layer). Pruned layers use it to rebuild the full-width
    tensor that the unpruned model would have had (masked channels are exactly zero there).
    """
    if index is None:
        return x
    out = x.new_zeros(*x.shape[:2], width, *x.shape[3:])
    out[:, :, index] = x
    return out


# ----------------------------------------------------------------------------- patch embedding
class ConvStage(nn.Module):
    """conv3×3 (stride 1, no bias) → BN → LIF → MaxPool(3, 2, 1) if ``pool`` (S1).

    Shapes: ``[T, B, C_in, H, W]`` → spikes ``[T, B, C_out, H', W']`` (H' = ceil(H/2) when pooling).
    """

    def __init__(self, cin: int, cout: int, pool: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.lif = lif()
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else nn.Identity()

    def _conv_bn(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return seq_forward(self.pool, self.lif(seq_forward(self._conv_bn, x)))


class SpikingPatchSplitting(nn.Module):
    """SPS (S1): four :class:`ConvStage` s, channels ``C → D/8 → D/4 → D/2 → D``; the last ``pools`` pool.

    Shapes: ``[T, B, C, H, W]`` → ``[T, B, D, h, w]`` with ``h = w = pooled_side(H, pools)``.
    """

    def __init__(self, in_channels: int, dim: int, pools: int) -> None:
        super().__init__()
        widths = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        self.stages = nn.ModuleList(ConvStage(widths[i], widths[i + 1], pool=i >= 4 - pools) for i in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        for stage in self.stages:
            x = stage(x)
        return x


class RelativePositionEncoding(nn.Module):
    """RPE (S1): ``x + LIF(BN(conv3×3(x)))`` with no neuron after the sum (values in {0, 1, 2}).

    Shapes: ``[T, B, D, h, w]`` → same.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.stage = ConvStage(dim, dim, pool=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.stage(x)


# ----------------------------------------------------------------------------- encoder blocks
class TokenConv(nn.Module):
    """1×1 Conv1d → BN1d → [channel mask] → LIF on token sequences (S2, S3; SDMFormer's DMConv, D4).

    Shapes: ``[T, B, C_in, N]`` → spikes ``[T, B, C_out, N]``.

    Args:
        cin, cout: channels; bias: conv bias (Spikformer: none for Q/K/V, yes for proj and MLP).
        mask_init: ``None`` for Spikformer (no mask); a float adds a
            :class:`~spikemask.masks.dynamic.DynamicMask` after BN with that initial ``m`` (SDMFormer).
        index: for a pruned layer, the positions of its ``cout`` channels in the unpruned layer
            (used by :func:`widen`); ``None`` when unpruned.
    """

    def __init__(self, cin: int, cout: int, bias: bool, mask_init: float | None = None,
                 index: list[int] | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 1, bias=bias)
        self.bn = nn.BatchNorm1d(cout)
        self.mask = nn.Identity() if mask_init is None else DynamicMask(cout, mask_init)
        self.lif = lif()
        self.register_buffer("index", None if index is None else torch.tensor(index, dtype=torch.long),
                             persistent=False)

    def _conv_bn_mask(self, x: torch.Tensor) -> torch.Tensor:
        return self.mask(self.bn(self.conv(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.lif(seq_forward(self._conv_bn_mask, x))


def token_conv(name: str, cin: int, width: int, bias: bool, mask_init: float | None,
               kept: dict[str, list[int]]) -> TokenConv:
    """A :class:`TokenConv` of nominal output ``width``, pruned to ``kept[name]`` channels if listed."""
    index = kept.get(name)
    return TokenConv(cin, width if index is None else len(index), bias, mask_init, index)


class SpikingSelfAttention(nn.Module):
    """SSA (S2): ``LIF_0.5((Q·Kᵀ)·V · 0.25)`` per head, no softmax, then a proj :class:`TokenConv`.

    Q, K, V are spikes from :class:`TokenConv` s (no bias); the proj conv has a bias. In a pruned
    model Q, K, V are widened back to ``dim`` channels (zeros where masked) so that each channel keeps
    its head; only the kept V channels can be nonzero after attention, so the neuron and the proj
    conv see just those. Shapes: ``[T, B, D, N]`` → spikes ``[T, B, D, N]``.
    """

    def __init__(self, dim: int, heads: int, mask_init: float | None, kept: dict[str, list[int]]) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.q = token_conv("attn.q", dim, dim, False, mask_init, kept)
        self.k = token_conv("attn.k", dim, dim, False, mask_init, kept)
        self.v = token_conv("attn.v", dim, dim, False, mask_init, kept)
        self.qk, self.av = MatMul(), MatMul()
        self.attn_lif = lif(ATTENTION_THRESHOLD)
        self.proj = token_conv("attn.proj", self.v.conv.out_channels, dim, True, mask_init, kept)

    def _split_heads(self, x: torch.Tensor, unit: TokenConv) -> torch.Tensor:
        """``[T, B, c, N]`` spikes of ``unit`` → ``[T, B, heads, N, D/heads]``."""
        T, B, _, N = x.shape
        x = widen(x, unit.index, self.dim)
        return x.transpose(-1, -2).reshape(T, B, N, self.heads, self.dim // self.heads).transpose(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        T, B, _, N = x.shape
        q, k, v = (self._split_heads(unit(x), unit) for unit in (self.q, self.k, self.v))
        out = self.av(self.qk(q, k.transpose(-2, -1)), v) * ATTENTION_SCALE        # [T, B, heads, N, D/heads]
        out = out.transpose(3, 4).reshape(T, B, self.dim, N)
        if self.v.index is not None:
            out = out[:, :, self.v.index]
        return widen(self.proj(self.attn_lif(out)), self.proj.index, self.dim)


class SpikingMLP(nn.Module):
    """MLP (S3): fc1 :class:`TokenConv` ``D → hidden`` then fc2 ``hidden → D`` (both with bias).

    Shapes: ``[T, B, D, N]`` → spikes ``[T, B, D, N]``.
    """

    def __init__(self, dim: int, hidden: int, mask_init: float | None, kept: dict[str, list[int]]) -> None:
        super().__init__()
        self.dim = dim
        self.fc1 = token_conv("mlp.fc1", dim, hidden, True, mask_init, kept)
        self.fc2 = token_conv("mlp.fc2", self.fc1.conv.out_channels, dim, True, mask_init, kept)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return widen(self.fc2(self.fc1(x)), self.fc2.index, self.dim)


class Block(nn.Module):
    """Encoder block (S3): ``x = x + SSA(x); x = x + MLP(x)``. Shapes: ``[T, B, D, N]`` → same."""

    def __init__(self, dim: int, heads: int, hidden: int, mask_init: float | None,
                 kept: dict[str, list[int]]) -> None:
        super().__init__()
        self.attn = SpikingSelfAttention(dim, heads, mask_init, kept)
        self.mlp = SpikingMLP(dim, hidden, mask_init, kept)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x + self.attn(x)
        return x + self.mlp(x)


# ----------------------------------------------------------------------------- the network
def split_kept_channels(kept: dict[str, list[int]] | None, depth: int, widths: dict[str, int]
                        ) -> list[dict[str, list[int]]]:
    """Check ``kept_channels`` (keys ``"blocks.<i>.<layer>"``) and split it into one dict per block."""
    per_block: list[dict[str, list[int]]] = [{} for _ in range(depth)]
    for key, index in (kept or {}).items():
        prefix, _, layer = key.partition(".")
        block, _, layer = layer.partition(".")
        ok_name = prefix == "blocks" and block.isdigit() and int(block) < depth and layer in BLOCK_LAYERS
        check(ok_name, f"kept_channels key {key!r} is not a token conv of this model; use names like "
                       f"'blocks.0.attn.q' (layers: {', '.join(BLOCK_LAYERS)}) as written by "
                       "spikemask.models.spikformer.pruning")
        index = [int(i) for i in index]
        width = widths[layer]
        check(len(index) > 0 and all(0 <= i < width for i in index) and index == sorted(set(index)),
              f"kept_channels[{key!r}] must be increasing channel numbers in [0, {width}); "
              "re-create it with spikemask.models.spikformer.pruning.prune")
        per_block[int(block)][layer] = index
    return per_block


class Spikformer(SpikingClassifier):
    """Spikformer (see the module docstring). Input ``[T, B, C, H, W]``; output per-step logits ``[T, B, classes]``.

    Args:
        depth: number of encoder blocks L; dim: embedding dimension D (a multiple of 8 and of ``heads``).
        heads: attention heads; mlp_ratio: MLP hidden width / D.
        num_classes, in_channels, img_size: output classes, input channels, input side in pixels.
        time_steps: ``default_time_steps``, the T a static image is shown for (frames bring their own T).
        patch: SPS down-sampling factor (see the pooling rule above).
        mask_init: ``None`` (Spikformer) or the initial mask value of every token conv (SDMFormer).
        kept_channels: for a pruned model, ``{"blocks.<i>.<layer>": kept channel numbers}``.
    """

    def __init__(self, *, depth: int, dim: int, heads: int = 16, mlp_ratio: float = 4.0, num_classes: int = 10,
                 in_channels: int = 2, img_size: int = 128, time_steps: int = 16, patch: int = 16,
                 mask_init: float | None = None, kept_channels: dict[str, list[int]] | None = None) -> None:
        super().__init__(num_classes, in_channels, img_size)
        self.config = dict(depth=depth, dim=dim, heads=heads, mlp_ratio=mlp_ratio, num_classes=num_classes,
                           in_channels=in_channels, img_size=img_size, time_steps=time_steps, patch=patch,
                           mask_init=mask_init, kept_channels=kept_channels)
        check(isinstance(dim, int) and dim >= 8 and dim % 8 == 0, f"dim must be a multiple of 8, got {dim!r}")
        check(isinstance(heads, int) and heads >= 1 and dim % heads == 0,
              f"heads must divide dim={dim}, got {heads!r}")
        check(isinstance(depth, int) and depth >= 1, f"depth must be a positive integer, got {depth!r}")
        check(isinstance(time_steps, int) and time_steps >= 1,
              f"time_steps must be a positive integer, got {time_steps!r}")
        check(isinstance(mlp_ratio, (int, float)) and int(dim * mlp_ratio) >= 1,
              f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
        hidden = int(dim * mlp_ratio)
        self.default_time_steps = time_steps
        pools = pooling_stages(img_size, patch)
        self.grid = pooled_side(img_size, pools)
        widths = {"attn.q": dim, "attn.k": dim, "attn.v": dim, "attn.proj": dim, "mlp.fc1": hidden, "mlp.fc2": dim}
        kept = split_kept_channels(kept_channels, depth, widths)

        self.patch_embed = SpikingPatchSplitting(in_channels, dim, pools)
        self.pos = self.build_position_encoding(dim, self.grid)
        self.blocks = nn.ModuleList(Block(dim, heads, hidden, mask_init, kept[i]) for i in range(depth))
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)  # S5: only the Linear is re-initialised
        nn.init.zeros_(self.head.bias)

    def filter_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Checkpoints written before LIF thresholds became buffers lack them: take the model's own
        (they are constants of the architecture, S4, not trained)."""
        own = self.state_dict()
        missing = {k: v for k, v in own.items() if k.endswith("lif.threshold") and k not in state}
        return {**state, **missing}

    def build_position_encoding(self, dim: int, grid: int) -> nn.Module:
        """Spikformer's RPE (S1); SDMFormer builds its LPE here instead."""
        return RelativePositionEncoding(dim)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Time-major input ``[T, B, C, H, W]`` → residual stream after the last block ``[T, B, D, N]``."""
        x = self.pos(self.patch_embed(x)).flatten(3)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` → token-averaged features ``[T, B, D]``."""
        return self.forward_tokens(x).mean(dim=3)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``[T, B, D]`` → logits ``[T, B, num_classes]``."""
        return self.head(features)


# ----------------------------------------------------------------------------- registry
def build_spikformer(*, depth: int, dim: int, num_classes: int = 10, in_channels: int = 2, img_size: int = 128,
                     time_steps: int = 16, patch: int = 16, heads: int = 16, mlp_ratio: float = 4.0) -> Spikformer:
    """The one Spikformer builder (``depth`` and ``dim`` are fixed by the entry point's name)."""
    return Spikformer(depth=depth, dim=dim, heads=heads, mlp_ratio=mlp_ratio, num_classes=num_classes,
                      in_channels=in_channels, img_size=img_size, time_steps=time_steps, patch=patch)


@register_model(options_from=build_spikformer)
def spikformer(**kwargs: Any) -> Spikformer:
    """Spikformer-2-256: the official DVS model (S1–S8)."""
    return build_spikformer(depth=2, dim=256, **kwargs)


@register_model(options_from=build_spikformer)
def spikformer_2_64(**kwargs: Any) -> Spikformer:
    """Spikformer-2-64: the official DVS model (S1–S8) at D = 64."""
    return build_spikformer(depth=2, dim=64, **kwargs)


@register_model(options_from=build_spikformer)
def spikformer_2_256(**kwargs: Any) -> Spikformer:
    """Spikformer-2-256: the official DVS model (S1–S8)."""
    return build_spikformer(depth=2, dim=256, **kwargs)


@register_model(options_from=build_spikformer)
def spikformer_1_512(**kwargs: Any) -> Spikformer:
    """Spikformer-1-512: the official DVS model (S1–S8), one block at D = 512."""
    return build_spikformer(depth=1, dim=512, **kwargs)


@register_model(options_from=build_spikformer)
def spikformer_4_384(**kwargs: Any) -> Spikformer:
    """Spikformer-4-384: the official DVS model (S1–S8), four blocks at D = 384."""
    return build_spikformer(depth=4, dim=384, **kwargs)
