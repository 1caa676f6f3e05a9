"""Argument helpers shared by the subcommands: the output folder flag, a positive-integer type, the "wrote" line."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from spikemask.cli.options import value_parser

positive_int = value_parser(int, minimum=1)        # argparse type: an integer >= 1


def add_out_arg(p: argparse.ArgumentParser, default: str, what: str = "output folder") -> None:
    p.add_argument("--out", default=default, help=f"{what} (default {default})")


def wrote(paths: Sequence[Path]) -> str:
    """``wrote runs/x/a.json, b.png and c.png`` for files in one folder."""
    names = [str(paths[0])] + [p.name for p in paths[1:]]
    return "wrote " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
