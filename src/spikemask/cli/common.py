"""Argument helpers shared by the subcommands."""
from __future__ import annotations

import argparse

from spikemask.masks.rsm import check_ratio
from spikemask.cli.options import parse_options, value_parser  # noqa: F401  (parse_options: for the commands)


positive_int = value_parser(int, minimum=1)        # argparse type: an integer >= 1
mask_ratio = value_parser(float, check=check_ratio)  # argparse type: a masking ratio in [0, 1)


def add_data_args(p: argparse.ArgumentParser, default: str = "mnist") -> None:
    p.add_argument("--dataset", default=default, help=f"dataset name (default {default}; `spikemask models` lists them)")
    p.add_argument("--root", help="folder holding the dataset files (not needed for the bundled mnist)")
    p.add_argument("--data-opt", action="append", metavar="KEY=VALUE",
                   help="dataset option, repeatable (e.g. frames=16, layout=channels for event data)")
    p.add_argument("--batch-size", type=positive_int, default=200, help="evaluation batch size (default 200)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if available)")


def add_mask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mask-ratio", type=mask_ratio, help="override the RSM ratio of the checkpoint's masks")
    p.add_argument("--mask-where", default="*", help="glob of mask names the ratio applies to (default: all)")
    p.add_argument("--mask-seed", type=int, help="seed for reproducible masks")


def add_hold_masks_arg(p: argparse.ArgumentParser) -> None:
    """``--hold-masks``: convert with :class:`~spikemask.masks.rsm.HeldSpikeMask` (ours)."""
    p.add_argument("--hold-masks", action="store_true", help="SNN masks: one draw per image held for all T steps "
                   "(ours) instead of a fresh mask every step (the code, M12)")


def add_override_arg(p: argparse.ArgumentParser) -> None:
    """``--opt KEY=VALUE``: rebuild a checkpoint's model with other options (same weight shapes)."""
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="override a saved model option, "
                   "repeatable (e.g. product=rate); the weights must keep their shapes")


def add_snn_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-steps", "-T", type=positive_int, default=32, help="simulation length T (default 32)")
    p.add_argument("--time-chunk", type=positive_int, help="steps per forward call, to bound memory (default: all)")
    add_override_arg(p)
    add_mask_args(p)
    add_hold_masks_arg(p)
    p.add_argument("--alpha", type=float, default=1.0, help="energy per spike in J for P = spikes/1 ms × α (default 1)")
    p.add_argument("--max-batches", type=positive_int, help="evaluate only this many batches (quick checks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
