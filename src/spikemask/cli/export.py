"""``spikemask export``: a checkpoint as a shared model (safetensors, config.json, model card README.md).

Its flags are the fields of :class:`~spikemask.studies.export.ExportConfig` (the evaluation the card
reports, as for ``spikemask evaluate``) plus ``--out``. The card records the command that trained the
checkpoint (from its saved training config) and this export command.
"""
from __future__ import annotations

import argparse
import shlex

from spikemask.cli.common import add_out_arg
from spikemask.cli.options import add_options, command_line, config_from_args
from spikemask.studies.export import ExportConfig, export
from spikemask.train.config import TrainConfig


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, ExportConfig)

    def commands(ckpt: dict) -> list[str]:        # the training run (from its saved config), then this export
        saved = ckpt.get("config")
        trained = [command_line("spikemask train", TrainConfig, saved)] if isinstance(saved, dict) else []
        return [*trained, " ".join(["spikemask", *map(shlex.quote, args.argv)])]

    result = export(cfg, args.out, commands)
    card = result.card
    if card.snn_accuracy:
        ann = f"ANN {100 * card.ann_accuracy:.2f} %, " if card.ann_accuracy is not None else ""
        print(f"{ann}SNN T={card.time_steps}: {100 * card.snn_accuracy[card.time_steps]:.2f} % "
              f"on {card.images} {card.dataset} test images; result: {card.energy['verdict']}")
    print(f"wrote {result.folder}/model.safetensors, config.json and README.md (model card)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a checkpoint as safetensors + config.json + a model card",
                       description="Export a checkpoint as a shared-model folder that spikemask.from_pretrained "
                                   "(and every --checkpoint) reads, with a model card of its accuracy, spikes "
                                   "and energy measured on the test split.")
    add_options(p, ExportConfig, exclude=("limit",))
    add_out_arg(p, "runs/export", "folder for model.safetensors, config.json and README.md")
    p.set_defaults(func=run)
