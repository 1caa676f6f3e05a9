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

``S_Conv`` (A9) is measured by the :class:`~spikemask.measure.recorder.Recorder` over a test set:

- ``rate="input"`` (default): spikes arriving per input element of the conv (mean over channels,
  tokens, T and samples), so ``F_M · T · S`` counts one accumulate per input spike per kept output
  synapse. Q, K, V and MLP1 read the residual stream, a sum of spike tensors; SDMFormer's LPE is a
  constant term of it whose product with the weights can be precomputed once
  (``W(s + P) = Ws + WP``), so it is subtracted (:func:`~spikemask.models.spikformer.sdmformer.residual_offset`).
  This estimate is the same for a masked model and its pruned copy.
- ``rate="output"``: the firing rate of the layer's own neuron, averaged over its kept channels
  (as plotted in Fig. 6).

Not counted (A10): attention matmuls, BN, residual and LPE adds, the head; :func:`measure_activity`
reports the recorder's counts of the attention products and the head under ``"excluded"``; the
``ops`` model of :mod:`spikemask.measure.energy` counts them all.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError, check
from spikemask.masks.dynamic import DynamicMask
from spikemask.measure.energy import E_AC_PJ, E_MAC_PJ
from spikemask.measure.recorder import Measurement, Recorder
from spikemask.models.spikformer.pruning import prune
from spikemask.models.spikformer.sdmformer import SDMFormer
from spikemask.models.spikformer.spikformer import ConvStage, Spikformer, TokenConv

BLOCK_ROWS = {"attn.q": "q", "attn.k": "k", "attn.v": "v", "attn.proj": "proj", "mlp.fc1": "mlp1", "mlp.fc2": "mlp2"}


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


def table2_activity(model: Spikformer, m: Measurement) -> dict[str, Any]:
    """What Table 2 needs for every synaptic layer, read from a :class:`~spikemask.measure.recorder.Measurement`.

    Returns ``{"samples", "time_steps", "layers": [{"name", "row", "flops", "retained", "input_rate",
    "output_rate"}, ...], "verdict", "analog_share", "excluded": {"attention_acs", "head_macs"}}``: ``flops``
    is F_Conv per sample and time step (the conv's dense MACs), ``retained`` R_mask, ``input_rate`` the events
    per input element (LPE subtracted,
    :meth:`~spikemask.models.spikformer.sdmformer.SDMFormer.constant_inputs`), ``output_rate`` the LIF's
    spikes per element of its kept channels. ``excluded`` are the recorder's counts of what Table 2 leaves out
    (A10): the attention products and the head.
    """
    ops = {o.name: o for o in m.ops}
    sites = {s.name: s for s in m.sites}
    steps = m.images * m.time_steps
    layers = []
    for name, row, layer in synaptic_layers(model):
        conv, lif = ops[f"{name}.conv"], sites[f"{name}.lif"]
        kept = _kept(layer)
        retained = 1.0 if kept is None else float(kept.float().mean())
        layers.append({"name": name, "row": row, "flops": conv.dense_macs / steps, "retained": retained,
                       "input_rate": conv.events / conv.elements if conv.elements else 0.0,
                       "output_rate": lif.delivered / (lif.neurons * steps * retained) if retained else 0.0})
    return {"samples": m.images, "time_steps": m.time_steps, "layers": layers, "verdict": m.verdict,
            "analog_share": m.analog_share(),
            "excluded": {"attention_acs": sum(o.acs + o.macs for o in m.ops if o.op == "matmul") / m.images,
                         "head_macs": sum(o.macs for o in m.ops if o.role == "readout") / m.images}}


@torch.no_grad()
def measure_activity(model: Spikformer, batches: Iterable[torch.Tensor], max_batches: int | None = None
                     ) -> dict[str, Any]:
    """Run ``model`` (eval mode) on ``batches`` in a :class:`~spikemask.measure.recorder.Recorder`;
    :func:`table2_activity` of what it counted.

    Args:
        batches: images ``[B, C, H, W]`` (shown for the model's ``default_time_steps``) or time-major
            frames ``[T, B, C, H, W]``.
        max_batches: stop after this many batches.
    """
    synaptic_layers(model)                                  # refuse other families first
    time_steps = None
    model.eval()
    with Recorder(model) as rec:
        for i, x in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            steps = x.shape[0] if x.dim() == 5 else model.default_time_steps
            check(time_steps in (None, steps), "all batches must have the same number of time steps")
            time_steps = steps
            simulate(model, x, steps)
    check(time_steps is not None, "no input batches were given; pass a non-empty test loader or list of batches")
    return table2_activity(model, rec.measurement(time_steps))


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
