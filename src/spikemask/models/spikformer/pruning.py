"""Physical pruning of a trained SDMFormer: drop the masked channels, keep the outputs bit-for-bit.

A channel whose mask is 0 (``Heaviside(tanh m_c) = 0``, :mod:`spikemask.masks.dynamic`) is exactly zero
after its BN, so its LIF never fires. :func:`prune` builds a new, smaller
:class:`~spikemask.models.spikformer.sdmformer.SDMFormer` (``kept_channels`` option) in which, for each of the
six token convs of every block (Q, K, V, proj, MLP1, MLP2):

- the masked *output* channels are removed from the conv weight and bias, the BN (affine and running
  statistics) and the mask vector ``m`` (its kept entries are all ≥ 0, so the new masks are all 1);
- the *consumers'* input channels are sliced to match: the proj conv reads only the kept V channels
  (the attention output is zero on masked V channels, so the attention neuron never fires there),
  and MLP2 reads only the kept MLP1 channels.

The residual stream stays D wide: the outputs of proj and MLP2 are written back at their original
channel positions (:func:`~spikemask.models.spikformer.spikformer.widen`).

**Attention heads.** Pruned Q/K/V widths are generally not multiples of the head count, and a
channel's head is fixed by its position. The pruned model therefore keeps the full-width attention:
Q, K and V spikes are scattered back into ``[T, B, D, N]`` tensors with zeros at masked channels,
so ``Q·Kᵀ·V`` is computed by exactly the same operations as in the masked model (spike products
are small integers, exact in floating point). The savings are in the convs, BN and neurons, which
is where Table 2 counts energy.

Equality: all kept values are copied, masked ones contribute exact zeros, so spikes and logits of
the pruned model equal the masked model's; the only possible difference is the floating-point
summation order of a conv over fewer input channels, which could flip a spike only if a membrane
potential landed within rounding error of the threshold (tests check ``torch.equal``).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from spikemask.errors import check
from spikemask.models.spikformer.sdmformer import SDMFormer
from spikemask.models.spikformer.spikformer import TokenConv

# Which layer feeds each consumer's input channels inside a block.
INPUT_FROM = {"attn.proj": "attn.v", "mlp.fc2": "mlp.fc1"}


def kept_local(unit: TokenConv) -> torch.Tensor:
    """Indices (within ``unit``'s own channels) whose mask is 1; ``[0]`` if all are masked.

    A conv needs at least one output channel, so a fully masked layer keeps its first channel —
    still masked, hence still silent.
    """
    keep = unit.mask.kept().nonzero().flatten()
    return keep if keep.numel() else torch.zeros(1, dtype=torch.long, device=keep.device)


def _slice_unit(state: dict[str, torch.Tensor], name: str, rows: torch.Tensor, cols: torch.Tensor | None) -> None:
    """Keep output channels ``rows`` (and input channels ``cols``) of the token conv ``name`` in ``state``."""
    for key in list(state):
        if not key.startswith(name + ".") or state[key].dim() == 0:   # BN counter, LIF threshold: not per channel
            continue
        value = state[key].index_select(0, rows.to(state[key].device))
        if key == f"{name}.conv.weight" and cols is not None:
            value = value.index_select(1, cols.to(value.device))
        state[key] = value


@torch.no_grad()
def prune(model: SDMFormer) -> SDMFormer:
    """A new SDMFormer without the masked channels of ``model``; same spikes and logits (module docstring).

    The new model keeps ``model``'s device, dtype and train/eval mode, and its registry record
    (:class:`~spikemask.models._registry.ModelConfig`, options with ``kept_channels``) so that a checkpoint rebuilds it.
    Pruning a pruned model changes nothing.
    """
    check(isinstance(model, SDMFormer), f"only SDMFormer models can be pruned (they have channel masks); "
                                        f"got {type(model).__name__}")
    units = {name: m for name, m in model.named_modules() if isinstance(m, TokenConv)}
    rows = {name: kept_local(unit) for name, unit in units.items()}
    kept_channels = {}
    for name, unit in units.items():
        positions = rows[name] if unit.index is None else unit.index[rows[name]]
        kept_channels[name] = positions.tolist()

    param = next(model.parameters())
    pruned = SDMFormer(**{**model.config, "kept_channels": kept_channels}).to(device=param.device, dtype=param.dtype)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name in units:
        block, layer = name.rsplit(".", 2)[0], name.split(".", 2)[2]
        source = INPUT_FROM.get(layer)
        _slice_unit(state, name, rows[name], rows[f"{block}.{source}"] if source else None)
    pruned.load_state_dict(state)

    if model.model_config is not None:
        pruned.model_config = replace(model.model_config,
                                      options={**model.model_config.options, "kept_channels": kept_channels})
    return pruned.train(model.training)

