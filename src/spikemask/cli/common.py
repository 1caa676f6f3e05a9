"""Argument helpers shared by the subcommands (flags, and turning parsed flags into library calls)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from torch import nn

from spikemask.cli.options import add_options, parse_options, value_parser
from spikemask.masks.rsm import check_ratio
from spikemask.studies.common import DataSettings, load_ann

positive_int = value_parser(int, minimum=1)        # argparse type: an integer >= 1
mask_ratio = value_parser(float, check=check_ratio)  # argparse type: a masking ratio in [0, 1)


def add_data_args(p: argparse.ArgumentParser) -> None:
    """The test-split flags: the fields of :class:`~spikemask.studies.common.DataSettings`."""
    add_options(p, DataSettings)


def add_out_arg(p: argparse.ArgumentParser, default: str, what: str = "output folder") -> None:
    p.add_argument("--out", default=default, help=f"{what} (default {default})")


def add_mask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mask-ratio", type=mask_ratio, help="override the RSM ratio of the checkpoint's masks")
    p.add_argument("--mask-where", default="*", help="glob of mask names the ratio applies to (default: all)")
    p.add_argument("--mask-seed", type=int, help="seed for reproducible masks")


def add_override_arg(p: argparse.ArgumentParser) -> None:
    """``--opt KEY=VALUE``: rebuild a checkpoint's model with other options (same weight shapes)."""
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="override a saved model option, "
                   "repeatable (e.g. product=rate); the weights must keep their shapes")


def add_snn_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-steps", "-T", type=positive_int, default=32, help="simulation length T (default 32)")
    p.add_argument("--time-chunk", type=positive_int, help="steps per forward call, to bound memory (default: all)")
    add_override_arg(p)
    add_mask_args(p)
    p.add_argument("--hold-masks", action="store_true", help="SNN masks: one draw per image held for all T steps "
                   "(ours) instead of a fresh mask every step (the code, M12)")
    p.add_argument("--alpha", type=float, default=1.0, help="energy per spike in J for P = spikes/1 ms × α (default 1)")
    p.add_argument("--max-batches", type=positive_int, help="evaluate only this many batches (quick checks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_for_eval(args: argparse.Namespace) -> tuple[nn.Module, dict]:
    """The ANN of ``--checkpoint`` with the ``--opt`` and ``--mask-*`` overrides (model, checkpoint dict)."""
    mask = None if args.mask_ratio is None else {"ratio": args.mask_ratio, "where": args.mask_where,
                                                 "seed": args.mask_seed}
    return load_ann(args.checkpoint, parse_options(args.opt), mask)


def wrote(paths: Sequence[Path]) -> str:
    """``wrote runs/x/a.json, b.png and c.png`` for files in one folder."""
    names = [str(paths[0])] + [p.name for p in paths[1:]]
    return "wrote " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
