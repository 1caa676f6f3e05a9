"""``spikemask mst``: MST studies (Figs. 5–7, Table 3), spike activation maps and pretrained Swin weights.

Subcommands (each writes JSON and PNG files into ``--out``)::

    mst studies time      accuracy vs T for several masking ratios
    mst studies ratio     accuracy and power vs masking ratio, SA and MLP separately, mean ± std over seeds (Fig. 5a-b)
    mst studies blocks    accuracy vs number of masked blocks (Fig. 6)
    mst studies variants  the same checkpoint with other options (softmax='none', product='rate', ...)
    mst studies table3    power (α W) and accuracy at 0/50/75 % for MST, ResNet-18 and VGG-16 (Table 3)
    mst sam               spike activation maps for several masking ratios and time steps (Fig. 7)
    mst load-pretrained   start a checkpoint from timm/Microsoft Swin weights

The work is done by :mod:`spikemask.studies.mst`; each subcommand's flags are the fields of its
config there (``--checkpoint`` takes one checkpoint for every ratio, or one per ratio).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from spikemask.cli.common import add_out_arg, wrote
from spikemask.cli.options import add_options, config_from_args
from spikemask.studies import mst

STUDIES = {   # subcommand: (study, config, help)
    "time": (mst.time, mst.TimeConfig, "accuracy vs T for several masking ratios"),
    "ratio": (mst.ratio, mst.RatioConfig, "accuracy and power vs masking ratio per part, mean ± std over seeds"),
    "blocks": (mst.blocks, mst.BlocksConfig, "accuracy vs number of masked blocks (the first k)"),
    "variants": (mst.variants, mst.VariantsConfig, "one checkpoint rebuilt with other options, e.g. softmax=none"),
}


def study_command(study: Callable[..., Any], config: type) -> Callable[[argparse.Namespace], int]:
    """A command: flags → ``config`` → ``study(config, log=print)`` → its files in ``--out``."""
    def run(args: argparse.Namespace) -> int:
        result = study(config_from_args(args, config), log=print)
        print(wrote(result.save(args.out)))
        return 0
    return run


def run_table3(args: argparse.Namespace) -> int:
    result = mst.table3(config_from_args(args, mst.Table3Config))
    print(result.markdown())
    print(wrote(result.save(args.out)))
    return 0


def run_sam(args: argparse.Namespace) -> int:
    result = mst.sam(config_from_args(args, mst.SamConfig))
    files = result.save(args.out)
    print(f"wrote {len(files) - 1} SAM images and sam.json to {Path(args.out)}")
    return 0


def run_load_pretrained(args: argparse.Namespace) -> int:
    result = mst.load_pretrained(config_from_args(args, mst.PretrainedConfig))
    print(result.report.summary())
    result.save(args.out)
    print(f"wrote {Path(args.out)}/checkpoint.pt (use `spikemask train --init` to fine-tune) and "
          "pretrained_report.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    top = sub.add_parser("mst", help="MST studies (Figs. 5-7, Table 3), spike activation maps, pretrained Swin",
                       description=__doc__.splitlines()[0].split(": ", 1)[-1])
    mst_sub = top.add_subparsers(dest="mst_command", metavar="SUBCOMMAND", required=True)
    studies = mst_sub.add_parser("studies", help="masking studies of converted SNNs").add_subparsers(
        dest="study", metavar="STUDY", required=True)
    for name, (study, config, help_text) in STUDIES.items():
        p = studies.add_parser(name, help=help_text)
        add_options(p, config)
        add_out_arg(p, "runs/mst")
        p.set_defaults(func=study_command(study, config))

    p = studies.add_parser("table3", help="Table 3: power and accuracy at 0/50/75 %% for MST, ResNet-18, VGG-16")
    add_options(p, mst.Table3Config)
    add_out_arg(p, "runs/mst")
    p.set_defaults(func=run_table3)

    p = mst_sub.add_parser("sam", help="spike activation maps (Fig. 7) as PNGs over a test image")
    add_options(p, mst.SamConfig)
    add_out_arg(p, "runs/mst")
    p.set_defaults(func=run_sam)

    p = mst_sub.add_parser("load-pretrained", help="build an MST model from timm/Microsoft Swin weights")
    add_options(p, mst.PretrainedConfig)
    add_out_arg(p, "runs/pretrained", "folder for checkpoint.pt and pretrained_report.json")
    p.set_defaults(func=run_load_pretrained)
