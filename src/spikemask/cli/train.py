"""``spikemask train``: train a model (QCFS ANN for conversion, or a directly trained SNN).

Its flags are the fields of :class:`~spikemask.train.config.TrainConfig`, plus ``--seeds``.
"""
from __future__ import annotations

import argparse

from spikemask.cli.options import add_options, config_from_args, value_parser
from spikemask.errors import check_seed
from spikemask.studies.seeds import train_seeds
from spikemask.train.config import TrainConfig
from spikemask.train.trainer import train


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, TrainConfig)
    if args.seeds:
        summary = train_seeds(cfg, args.seeds)
        print(f"{len(args.seeds)} seeds: test accuracy {100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} % "
              f"(mean ± std); wrote {cfg.out}/summary.json")
        return 0
    metrics = train(cfg)
    print(f"done: test accuracy {metrics['test_accuracy']:.4f}; wrote {cfg.out}/checkpoint.pt, metrics.json, "
          "config.json, training.png")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model; writes config.json, checkpoint.pt, metrics.json, training.png",
                       description="Train a registry model on a dataset. Works under `torchrun --nproc_per_node=N`.")
    add_options(p, TrainConfig)
    p.add_argument("--seeds", type=value_parser(int, check=check_seed), nargs="+",
                   help="train once per seed into OUT/seed_K and summarise accuracy as mean ± std in OUT/summary.json")
    p.set_defaults(func=run)
