"""Energy and size of Spikformer vs SDMFormer (SDMFormer Table 2, eqs. 7–8; FAITHFULNESS E2, A4, A8–A10).

Synaptic layers are the convs that feed a LIF: the four SPS convs, Spikformer's RPE conv, and per
block Q, K, V, proj, MLP1, MLP2. Per layer and per sample (energies in pJ):

    F_Conv = K² · H_out · W_out · C_in · C_out            eq. 7, operations of one time step
    F_M    = F_Conv · R_mask                              eq. 8, R_mask = retained output channels (A8)
    E      = E_MAC · F_Conv · T                           first conv (analog pixel / frame input)
    E      = E_AC  · F_M · T · S_Conv                     every other conv (R_mask = 1 if unmasked)

with E_MAC = 4.6 pJ and E_AC = 0.9 pJ (45 nm) by default. Table 2 writes Q, K, V as one term
``3 · E_AC · F · T · S``; with a different mask per layer the three terms are summed instead (equal
when the masks agree).

``S_Conv`` (A9) is measured with forward hooks over a test set:

- ``rate="input"`` (default): spikes arriving per input element of the conv (mean over channels,
  tokens, T and samples), so ``F_M · T · S`` counts one accumulate per input spike per kept output
  synapse. Q, K, V and MLP1 read the residual stream, a sum of spike tensors; SDMFormer's LPE is a
  constant term of it whose product with the weights can be precomputed once
  (``W(s + P) = Ws + WP``), so it is subtracted (:func:`~spikemask.models.spikformer.sdmformer.residual_offset`).
  This estimate is the same for a masked model and its pruned copy.
- ``rate="output"``: the firing rate of the layer's own neuron, averaged over its kept channels
  (as plotted in Fig. 6).

Not counted (A10): attention matmuls, BN, residual and LPE adds, the head; :func:`measure_activity`
reports their operation counts under ``"excluded"``.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError, check
from spikemask.masks.dynamic import DynamicMask
from spikemask.models.spikformer.pruning import prune
from spikemask.models.spikformer.sdmformer import SDMFormer, residual_offset
from spikemask.models.spikformer.spikformer import ConvStage, Spikformer, TokenConv

E_MAC_PJ = 4.6  # energy of one multiply-accumulate, 45 nm CMOS (pJ)
E_AC_PJ = 0.9   # energy of one accumulate (pJ)
BLOCK_ROWS = {"attn.q": "q", "attn.k": "k", "attn.v": "v", "attn.proj": "proj", "mlp.fc1": "mlp1", "mlp.fc2": "mlp2"}
RESIDUAL_READERS = ("q", "k", "v", "mlp1")  # rows whose input is the residual stream


def synaptic_layers(model: Spikformer) -> list[tuple[str, str, ConvStage | TokenConv]]:
    """``(name, Table-2 row, layer)`` for every conv → BN → (mask) → LIF layer, in forward order.

    Rows: ``"first conv"``, ``"conv"`` (other SPS convs and RPE), ``"q"``, ``"k"``, ``"v"``,
    ``"proj"`` (Table 2's SSA "MLP"), ``"mlp1"``, ``"mlp2"``.
    """
    check(isinstance(model, Spikformer),
          f"energy accounting needs a Spikformer or SDMFormer, got {type(model).__name__}")
    layers = []
    for name, module in model.named_modules():
        if isinstance(module, ConvStage):
            layers.append((name, "first conv" if not layers else "conv", module))
        elif isinstance(module, TokenConv):
            layers.append((name, BLOCK_ROWS[name.split(".", 2)[2]], module))
    return layers


def _kept(layer: ConvStage | TokenConv) -> torch.Tensor | None:
    """Boolean mask of kept output channels, or None for an unmasked layer."""
    mask = getattr(layer, "mask", None)
    return mask.kept() if isinstance(mask, DynamicMask) else None


class _Tally:
    """Running sums for one layer: its FLOPs per step (eq. 7) and the input/output spike totals."""

    def __init__(self, layer: ConvStage | TokenConv, offset: torch.Tensor | float) -> None:
        self.layer, self.offset = layer, offset
        self.flops = 0
        self.in_sum = self.in_count = self.out_sum = self.out_count = 0.0

    def on_conv(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        x = args[0] - self.offset                                   # folded [T*B, C_in, ...]
        self.in_sum += float(x.sum())
        self.in_count += x.numel()
        self.flops = module.weight.numel() * out[0, 0].numel()      # K²·C_in·C_out · H_out·W_out

    def on_lif(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        kept = _kept(self.layer)
        spikes = out if kept is None else out[:, :, kept]           # [T, B, C_kept, ...]
        self.out_sum += float(spikes.sum())
        self.out_count += spikes.numel()


@torch.no_grad()
def measure_activity(model: Spikformer, batches: Iterable[torch.Tensor], max_batches: int | None = None
                     ) -> dict[str, Any]:
    """Run ``model`` (eval mode) on ``batches`` and record what Table 2 needs for every synaptic layer.

    Args:
        batches: images ``[B, C, H, W]`` (shown for the model's ``default_time_steps``) or time-major
            frames ``[T, B, C, H, W]``.
        max_batches: stop after this many batches.
    Returns:
        ``{"samples", "time_steps", "layers": [{"name", "row", "flops", "retained", "input_rate",
        "output_rate"}, ...], "excluded": {"attention_ops", "head_macs"}}``; ``flops`` is F_Conv per
        sample and time step, ``retained`` R_mask, the rates are spikes per element.
    """
    layers = synaptic_layers(model)
    offset = residual_offset(model)
    tallies = [_Tally(layer, offset[0] if row in RESIDUAL_READERS and torch.is_tensor(offset) else 0.0)
               for _, row, layer in layers]
    hooks = [h for (_, _, layer), t in zip(layers, tallies)
             for h in (layer.conv.register_forward_hook(t.on_conv), layer.lif.register_forward_hook(t.on_lif))]
    samples, time_steps = 0, None
    model.eval()
    try:
        for i, x in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            steps = x.shape[0] if x.dim() == 5 else model.default_time_steps
            check(time_steps in (None, steps), "all batches must have the same number of time steps")
            time_steps, samples = steps, samples + x.shape[-4]
            simulate(model, x, steps)
    finally:
        for h in hooks:
            h.remove()
    check(samples > 0, "no input batches were given; pass a non-empty test loader or list of batches")
    dim, tokens = model.config["dim"], model.grid ** 2
    return {
        "samples": samples,
        "time_steps": time_steps,
        "layers": [{"name": name, "row": row, "flops": t.flops,
                    "retained": 1.0 if _kept(layer) is None else float(_kept(layer).float().mean()),
                    "input_rate": t.in_sum / t.in_count, "output_rate": t.out_sum / max(t.out_count, 1.0)}
                   for (name, row, layer), t in zip(layers, tallies)],
        "excluded": {"attention_ops": 2 * tokens * tokens * dim * time_steps * len(model.blocks),
                     "head_macs": dim * model.num_classes},
    }


def synaptic_energy(activity: dict[str, Any], e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ,
                    rate: str = "input") -> dict[str, Any]:
    """Table 2 energy per sample from :func:`measure_activity` output.

    Args:
        e_mac, e_ac: energy of one MAC / AC in pJ.
        rate: ``"input"`` or ``"output"`` firing rate as ``S_Conv`` (A9, module docstring).
    Returns:
        ``{"total_pj", "by_row": {row: pJ}, "layers": [{"name", "row", "energy_pj"}], "rate", "e_mac", "e_ac"}``.
    """
    check(rate in ("input", "output"), f"rate must be 'input' or 'output' (A9), got {rate!r}")
    check(e_mac >= 0 and e_ac >= 0, f"energies per operation must be >= 0 pJ, got e_mac={e_mac}, e_ac={e_ac}")
    T = activity["time_steps"]
    rows: dict[str, float] = {}
    layers = []
    for layer in activity["layers"]:
        if layer["row"] == "first conv":
            energy = e_mac * layer["flops"] * T
        else:
            energy = e_ac * layer["flops"] * layer["retained"] * T * layer[f"{rate}_rate"]
        layers.append({"name": layer["name"], "row": layer["row"], "energy_pj": energy})
        rows[layer["row"]] = rows.get(layer["row"], 0.0) + energy
    return {"total_pj": sum(rows.values()), "by_row": rows, "layers": layers, "rate": rate,
            "e_mac": e_mac, "e_ac": e_ac}


def block_firing_rates(activity: dict[str, Any]) -> dict[str, float]:
    """Fig. 6: channel-averaged output firing rate of every Q, K, V, proj, MLP1 and MLP2 layer."""
    return {layer["name"]: layer["output_rate"] for layer in activity["layers"] if layer["row"] in BLOCK_ROWS.values()}


def _count(model: nn.Module) -> int:
    """Parameters without the mask vectors ``m`` (training-only gates that pruning folds away)."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.endswith("mask.m"))


def parameter_counts(model: Spikformer) -> dict[str, int]:
    """Parameter counts (A4), all without the mask vectors ``m`` (reported as ``"mask"``).

    Returns:
        ``"dense"``: every weight as built; ``"pruned"``: A4 — minus the conv weights, conv bias and
        BN affine parameters of masked output channels; ``"physical"``: what
        :func:`~spikemask.models.spikformer.pruning.prune` keeps, which also drops the input columns of proj and MLP2
        that only ever see masked (zero) channels; ``"mask"``: number of mask entries.
    """
    dense = _count(model)
    removed = 0
    for _, _, layer in synaptic_layers(model):
        kept = _kept(layer)
        if kept is not None:
            per_channel = layer.conv.weight[0].numel() + (layer.conv.bias is not None) + 2  # + BN weight, bias
            removed += int((~kept).sum()) * per_channel
    masks = sum(p.numel() for name, p in model.named_parameters() if name.endswith("mask.m"))
    physical = _count(prune(model)) if isinstance(model, SDMFormer) else dense
    return {"dense": dense, "pruned": dense - removed, "physical": physical, "mask": masks}


def compare_models(spikformer: Spikformer, sdmformer: Spikformer, batches: Iterable[torch.Tensor],
                   max_batches: int | None = None, e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ,
                   rate: str = "input") -> dict[str, Any]:
    """Table 1 and Table 3 style ratios of an SDMFormer against a Spikformer on the same batches.

    Args:
        batches: a re-iterable collection of input batches (a list, or a DataLoader mapped to the
            model convention); both models see the same ones.
    Returns:
        ``{"params": {"spikformer", "sdmformer", "ratio"}, "energy": {"spikformer", "sdmformer", "ratio"},
        "activity": {...}}``; ``params.ratio`` = SDMFormer pruned (A4) / Spikformer dense (Table 1),
        ``energy.ratio`` = SDMFormer / Spikformer total pJ (Table 3).
    """
    if iter(batches) is batches:
        raise SpikemaskError("compare_models needs re-iterable batches (a list or DataLoader), not an iterator")
    params = {"spikformer": parameter_counts(spikformer), "sdmformer": parameter_counts(sdmformer)}
    activity = {"spikformer": measure_activity(spikformer, batches, max_batches),
                "sdmformer": measure_activity(sdmformer, batches, max_batches)}
    energy = {k: synaptic_energy(v, e_mac, e_ac, rate) for k, v in activity.items()}
    return {
        "params": {**params, "ratio": params["sdmformer"]["pruned"] / params["spikformer"]["dense"]},
        "energy": {**energy, "ratio": energy["sdmformer"]["total_pj"] / energy["spikformer"]["total_pj"]},
        "activity": activity,
    }
