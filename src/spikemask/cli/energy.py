"""``spikemask energy``: per-layer spike counts, firing rates, synaptic operations and MST power.

Its flags are the fields of :class:`~spikemask.studies.evaluate.EnergyConfig` (without ``limit``:
``--max-batches`` shortens a run), plus ``--out``; the work is done by :mod:`spikemask.studies.evaluate`.
"""
from __future__ import annotations

import argparse

from spikemask.cli.common import add_out_arg
from spikemask.cli.options import add_options, config_from_args
from spikemask.studies.evaluate import EnergyConfig, energy


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
    result = energy(config_from_args(args, EnergyConfig))
    e = result.snn["energy"]
    print("\n".join(format_layers(e["layers"])))
    print(f"total: {e['spikes_per_image']:.4g} spikes/image over T={e['time_steps']} "
          f"({e['spikes_per_step']:.4g} per step), {e['sops_per_image']:.4g} SOPs, {e['macs_per_image']:.4g} MACs; "
          f"P = {e['power_alpha_watts']:.4g} α W (α = {e['alpha']} J/spike); "
          f"accuracy {100 * result.snn['accuracy']:.2f} %")
    result.save(args.out)
    print(f"wrote {args.out}/energy.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("energy", help="per-layer spikes, SOPs and power P = spikes/1 ms × α of the converted SNN",
                       description="Simulate the converted checkpoint and account its spikes and operations.")
    add_options(p, EnergyConfig, exclude=("limit",))
    add_out_arg(p, "runs/energy", "folder for energy.json")
    p.set_defaults(func=run)
