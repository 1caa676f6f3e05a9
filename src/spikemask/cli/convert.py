"""``spikemask convert``: turn a QCFS checkpoint into an SNN checkpoint (IF neurons, θ = λ, or signed neurons).

Its flags are the fields of :class:`~spikemask.studies.evaluate.ConvertConfig`, plus ``--out``; the
work is done by :func:`spikemask.studies.evaluate.convert_checkpoint`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from spikemask.cli.common import add_out_arg
from spikemask.cli.options import add_options, config_from_args
from spikemask.studies.evaluate import ConvertConfig, convert_checkpoint


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, ConvertConfig)
    result = convert_checkpoint(cfg)
    result.save(args.out)
    thresholds = [n["threshold"] for n in result.neurons.values()]
    kind, unit = ("IF neurons (θ", "θ") if cfg.neuron == "if" else (f"{cfg.neuron} neurons (spike λ/L, λ", "λ/L")
    print(f"converted {len(result.neurons)} QCFS activations to {kind} from {min(thresholds):.3g} to "
          f"{max(thresholds):.3g}, v0 = {cfg.v_init}·{unit}); wrote {Path(args.out)}/checkpoint.pt and "
          "conversion.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a QCFS ANN checkpoint to a spiking checkpoint",
                       description="Replace every QCFS activation by an IF neuron with θ = λ and membrane start "
                                   "v0·θ (or, with --neuron signed|burst:k, by a signed neuron for exact "
                                   "conversion); write the SNN checkpoint and a per-neuron report.")
    add_options(p, ConvertConfig)
    add_out_arg(p, "runs/convert")
    p.set_defaults(func=run)
