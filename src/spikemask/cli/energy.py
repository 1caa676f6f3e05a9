"""``spikemask energy``: the report card — every op and spike counted, the verdict and every energy model.

Its flags are the fields of :class:`~spikemask.studies.evaluate.EnergyConfig` (without ``limit``:
``--max-batches`` shortens a run), plus ``--out``; the work is done by :mod:`spikemask.studies.evaluate`.
"""
from __future__ import annotations

import argparse

from spikemask.cli.common import add_out_arg
from spikemask.cli.options import add_options, config_from_args
from spikemask.report.tables import energy_card
from spikemask.studies.evaluate import EnergyConfig, energy


def run(args: argparse.Namespace) -> int:
    result = energy(config_from_args(args, EnergyConfig))
    print(energy_card(result.snn["energy"]))
    print(f"accuracy {100 * result.snn['accuracy']:.2f} % on {result.snn['images']} test images")
    paths = result.save(args.out)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("energy", help="every op and spike of the SNN counted, spiking or hybrid, and its energy "
                                      "under each model",
                       description="Simulate the checkpoint's SNN (converted, or as trained for Spikformer/SDMFormer) "
                                   "on the test split, count every operation (ACs on spikes, MACs on analog input) "
                                   "and spike (fired and delivered), and report MST's α-power, E_AC/E_MAC energy, "
                                   "a memory-aware energy and the equivalent quantized ANN's.")
    add_options(p, EnergyConfig, exclude=("limit",))
    add_out_arg(p, "runs/energy", "folder for energy.json and energy_by_layer.png")
    p.set_defaults(func=run)
