"""``spikemask sdm compare|analyze``: SDMFormer vs Spikformer size and energy, and the paper's analyses.

``compare`` prints Table 1 (parameter ratio) and Table 3 (energy ratio, Table 2 model) for two
checkpoints on the test split; ``analyze`` reports one checkpoint's masking ratios (§4.2), block firing
rates (Fig. 6), inactive-channel ratios after an SSA (Fig. 1a), position-encoding heatmaps (Fig. 4)
and energy. Both write JSON into ``--out``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from spikemask.convert.conversion import load_model
from spikemask.masks.dynamic import mask_report
from spikemask.measure.synaptic import (E_AC_PJ, E_MAC_PJ, block_firing_rates, compare_models,
                                        measure_activity, parameter_counts, synaptic_energy)
from spikemask.errors import check
from spikemask.io import write_json
from spikemask.measure.activity import inactive_channel_ratios, position_heatmaps
from spikemask.models.spikformer.spikformer import Spikformer
from spikemask.train.trainer import pick_device
from spikemask.cli.common import add_data_args, positive_int
from spikemask.cli.evaluate import test_loader


class ModelBatches:
    """Re-iterable test batches on a device: images ``[B, C, H, W]`` or time-major frames ``[T, B, C, H, W]``."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device, max_batches: int | None) -> None:
        self.loader, self.device, self.max_batches = loader, device, max_batches

    def __iter__(self):
        for i, (x, _) in enumerate(self.loader):
            if self.max_batches is not None and i >= self.max_batches:
                return
            x = x.to(self.device)
            yield x.transpose(0, 1) if x.dim() == 5 else x        # frames [B, T, ...] → [T, B, ...]


def load_spiking_transformer(path: str, device: torch.device) -> Spikformer:
    model = load_model(path)
    check(isinstance(model, Spikformer), f"{path} holds a {type(model).__name__}; pass a spikformer_* or "
                                         "sdmformer_* checkpoint")
    return model.to(device)


def energy_table(result: dict[str, Any]) -> list[str]:
    """Per-row energy (pJ per sample) of both models and their ratio."""
    spk, sdm = result["energy"]["spikformer"]["by_row"], result["energy"]["sdmformer"]["by_row"]
    lines = [f"{'Table 2 row':12s} {'Spikformer pJ':>15s} {'SDMFormer pJ':>15s} {'ratio':>7s}"]
    for row in dict.fromkeys([*spk, *sdm]):
        a, b = spk.get(row, 0.0), sdm.get(row, 0.0)
        lines.append(f"{row:12s} {a:15.4g} {b:15.4g} {b / a if a else float('nan'):7.3f}")
    return lines


def run_compare(args: argparse.Namespace) -> int:
    device = pick_device(args.device)
    spk = load_spiking_transformer(args.spikformer, device)
    sdm = load_spiking_transformer(args.sdmformer, device)
    sizes = [(m.in_channels, m.img_size, m.num_classes) for m in (spk, sdm)]
    check(sizes[0] == sizes[1], f"the checkpoints were built for different data (channels, size, classes): "
                                f"{sizes[0]} vs {sizes[1]}; compare models trained on the same dataset")
    batches = ModelBatches(test_loader(sdm, args), device, args.max_batches)
    result = compare_models(spk, sdm, batches, e_mac=args.e_mac, e_ac=args.e_ac, rate=args.rate)
    print("\n".join(energy_table(result)))
    p = result["params"]
    print(f"parameters: Spikformer {p['spikformer']['dense']:,}, SDMFormer {p['sdmformer']['pruned']:,} after "
          f"masking (dense {p['sdmformer']['dense']:,}) -> ratio {100 * p['ratio']:.2f} % (Table 1)")
    print(f"energy: ratio {100 * result['energy']['ratio']:.2f} % (Table 3; S_Conv = {args.rate} firing rate)")
    out = write_json(Path(args.out) / "sdm_compare.json",
                     {"spikformer": args.spikformer, "sdmformer": args.sdmformer, **result})
    print(f"wrote {out}")
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    device = pick_device(args.device)
    model = load_spiking_transformer(args.checkpoint, device)
    check(0 <= args.block < len(model.blocks), f"--block must be in [0, {len(model.blocks) - 1}]")
    batches = ModelBatches(test_loader(model, args), device, args.max_batches)
    activity = measure_activity(model, batches)
    masks = mask_report(model)
    result = {
        "checkpoint": args.checkpoint,
        "params": parameter_counts(model),
        "mask_ratios": masks,
        "firing_rates": block_firing_rates(activity),
        "inactive_channels": inactive_channel_ratios(model, batches, args.block),
        "position_heatmaps": position_heatmaps(model, next(iter(batches))).tolist(),
        "energy": synaptic_energy(activity, args.e_mac, args.e_ac, args.rate),
        "activity": activity,
    }
    for name, rate in result["firing_rates"].items():
        masked = masks.get(name, {}).get("masked_ratio", 0.0)
        print(f"{name:22s} masked {100 * masked:5.1f} %   firing rate {rate:.4f}")
    inactive = result["inactive_channels"]
    print(f"inactive channels after SSA of block {args.block}: mean {inactive['mean']:.3f}, "
          f"median {inactive['median']:.3f}; energy {result['energy']['total_pj']:.4g} pJ/sample; "
          f"parameters {result['params']['pruned']:,} (dense {result['params']['dense']:,})")
    out = write_json(Path(args.out) / "sdm_analysis.json", result)
    print(f"wrote {out}")
    return 0


def add_energy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--e-mac", type=float, default=E_MAC_PJ, help=f"pJ per MAC (default {E_MAC_PJ}, 45 nm)")
    p.add_argument("--e-ac", type=float, default=E_AC_PJ, help=f"pJ per AC (default {E_AC_PJ}, 45 nm)")
    p.add_argument("--rate", choices=["input", "output"], default="input",
                   help="S_Conv: input spikes per element (default) or the layer's own firing rate (A9)")
    p.add_argument("--max-batches", type=positive_int, help="use only this many test batches")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sdm", help="SDMFormer vs Spikformer: size/energy ratios and the paper's analyses",
                       description=__doc__.splitlines()[0].split(": ", 1)[-1])
    actions = p.add_subparsers(dest="sdm_command", metavar="ACTION", required=True, parser_class=type(p))
    c = actions.add_parser("compare", help="Table 1 / Table 3 ratios of two checkpoints on the test split")
    c.add_argument("--spikformer", required=True, help="checkpoint of a spikformer_* model")
    c.add_argument("--sdmformer", required=True, help="checkpoint of an sdmformer_* model (masked or pruned)")
    c.add_argument("--out", default="runs/sdm", help="folder for sdm_compare.json")
    add_data_args(c)
    add_energy_args(c)
    c.set_defaults(func=run_compare)
    a = actions.add_parser("analyze", help="masking ratios, firing rates, inactive channels, heatmaps, energy")
    a.add_argument("--checkpoint", required=True, help="checkpoint of a spikformer_* or sdmformer_* model")
    a.add_argument("--block", type=int, default=0, help="encoder block for the inactive-channel ratio (default 0)")
    a.add_argument("--out", default="runs/sdm", help="folder for sdm_analysis.json")
    add_data_args(a)
    add_energy_args(a)
    a.set_defaults(func=run_analyze)
