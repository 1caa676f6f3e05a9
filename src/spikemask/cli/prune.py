"""``spikemask prune``: physically remove an SDMFormer checkpoint's masked channels.

Writes ``OUT/checkpoint.pt`` (the smaller model; its ``model_options`` hold ``kept_channels`` so any
command can load it) and ``OUT/prune.json`` (parameter counts, and a check that the pruned and
masked models give identical per-step logits on random input).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from spikemask.checkpoint import save_checkpoint
from spikemask.cli.common import positive_int
from spikemask.cli.options import value_parser
from spikemask.convert.conversion import load_model
from spikemask.convert.simulate import simulate
from spikemask.errors import check_seed
from spikemask.io import write_json
from spikemask.measure.synaptic import parameter_counts
from spikemask.models.spikformer.pruning import prune


def run(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint)
    pruned = prune(model)
    torch.manual_seed(args.seed)
    x = torch.rand(args.check_batch, model.in_channels, model.img_size, model.img_size)
    with torch.no_grad():
        a, b = simulate(model, x), simulate(pruned, x)
    identical = bool(torch.equal(a, b))
    counts = {"masked": parameter_counts(model), "pruned": parameter_counts(pruned)}
    out = Path(args.out)
    save_checkpoint(out / "checkpoint.pt", pruned, pruned_from=str(args.checkpoint))
    write_json(out / "prune.json", {"checkpoint": str(args.checkpoint), "params": counts,
                                    "identical_logits": identical, "max_abs_diff": float((a - b).abs().max())})
    print(f"parameters {counts['masked']['dense']:,} -> {counts['pruned']['dense']:,} "
          f"({100 * counts['pruned']['dense'] / counts['masked']['dense']:.2f} %); logits identical on "
          f"{args.check_batch} random inputs: {identical}; wrote {out}/checkpoint.pt and prune.json")
    return 0 if identical else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", help="remove an SDMFormer checkpoint's masked channels (same outputs, fewer weights)",
                       description=__doc__.splitlines()[0].split(": ", 1)[-1])
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt of an sdmformer_* model")
    p.add_argument("--out", default="runs/pruned", help="folder for checkpoint.pt and prune.json")
    p.add_argument("--check-batch", type=positive_int, default=8, help="random inputs for the equality check")
    p.add_argument("--seed", type=value_parser(int, check=check_seed), default=0,
                   help="seed of the random check inputs")
    p.set_defaults(func=run)
