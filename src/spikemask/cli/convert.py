"""``spikemask convert``: turn a QCFS checkpoint into an SNN checkpoint (IF neurons, θ = λ)."""
from __future__ import annotations

import argparse
from pathlib import Path

from spikemask.checkpoint import save_checkpoint
from spikemask.cli.common import add_mask_args, add_override_arg, load_for_eval
from spikemask.convert.conversion import convert
from spikemask.io import write_json
from spikemask.snn.neurons import IFNeuron


def run(args: argparse.Namespace) -> int:
    model, _ = load_for_eval(args)
    snn = convert(model, v_init=args.v_init)
    neurons = {name: {"threshold": m.threshold.item(), "v_init": m.v_init}
               for name, m in snn.named_modules() if isinstance(m, IFNeuron)}
    out = Path(args.out)
    save_checkpoint(out / "checkpoint.pt", snn)
    write_json(out / "conversion.json", {"source": str(args.checkpoint), "model": snn.model_name,
                                         "if_neurons": len(neurons), "neurons": neurons,
                                         "mask": snn.mask_setting})
    thresholds = [n["threshold"] for n in neurons.values()]
    print(f"converted {len(neurons)} QCFS activations to IF neurons (θ from {min(thresholds):.3g} to "
          f"{max(thresholds):.3g}, v0 = {args.v_init}·θ); wrote {out}/checkpoint.pt and conversion.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a QCFS ANN checkpoint to a spiking (IF) checkpoint",
                       description="Replace every QCFS activation by an IF neuron with θ = λ and membrane start "
                                   "v0·θ; write the SNN checkpoint and a per-neuron report.")
    p.add_argument("--checkpoint", required=True, help="ANN checkpoint.pt from `spikemask train`")
    p.add_argument("--out", default="runs/convert", help="output folder")
    p.add_argument("--v-init", type=float, default=0.5, help="initial membrane potential as a fraction of θ")
    add_override_arg(p)
    add_mask_args(p)
    p.set_defaults(func=run)
