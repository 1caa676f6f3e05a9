"""``spikemask energy``: per-layer spike counts, firing rates, synaptic operations and MST power."""
from __future__ import annotations

import argparse
from pathlib import Path

from spikemask.cli.common import add_data_args, add_snn_args, load_for_eval
from spikemask.cli.options import config_from_args
from spikemask.convert.conversion import convert
from spikemask.io import write_json
from spikemask.measure.evaluation import evaluate_snn
from spikemask.studies.common import DataSettings, test_loader
from spikemask.train.trainer import pick_device


def format_layers(layers: dict) -> list[str]:
    """Table lines: spiking sites with spikes/image and firing rate, synapses with SOPs/MACs."""
    lines = [f"{'layer':34s} {'kind':8s} {'spikes/img':>12s} {'rate':>7s} {'SOPs/img':>12s} {'MACs/img':>12s}"]
    for name, row in layers.items():
        if row["kind"] == "site":
            lines.append(f"{name:34s} {'spikes':8s} {row['spikes_per_image']:12.4g} {row['firing_rate']:7.3f}")
        else:
            lines.append(f"{name:34s} {'synapse':8s} {'':>12s} {'':>7s} {row['sops_per_image']:12.4g} "
                         f"{row['macs_per_image']:12.4g}")
    return lines


def run(args: argparse.Namespace) -> int:
    model, _ = load_for_eval(args)
    loader = test_loader(model, config_from_args(args, DataSettings))
    snn = convert(model, hold_masks=args.hold_masks)
    result = evaluate_snn(snn, loader, args.time_steps, pick_device(args.device), args.time_chunk,
                          args.alpha, args.mask_seed, args.max_batches, progress=not args.no_progress)
    e = result["energy"]
    print("\n".join(format_layers(e["layers"])))
    print(f"total: {e['spikes_per_image']:.4g} spikes/image over T={e['time_steps']} "
          f"({e['spikes_per_step']:.4g} per step), {e['sops_per_image']:.4g} SOPs, {e['macs_per_image']:.4g} MACs; "
          f"P = {e['power_alpha_watts']:.4g} α W (α = {e['alpha']} J/spike); accuracy {100 * result['accuracy']:.2f} %")
    write_json(Path(args.out) / "energy.json", {"checkpoint": str(args.checkpoint), "mask": model.mask_setting,
                                                **result})
    print(f"wrote {args.out}/energy.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("energy", help="per-layer spikes, SOPs and power P = spikes/1 ms × α of the converted SNN",
                       description="Simulate the converted checkpoint and account its spikes and operations.")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt from `spikemask train` or `convert`")
    p.add_argument("--out", default="runs/energy", help="folder for energy.json")
    add_data_args(p)
    add_snn_args(p)
    p.set_defaults(func=run)
