"""What the timing benchmarks share: their flags, their input batches, their JSON record.

Each benchmark times the same batches of random 28-px MNIST-shaped images, ``--repeat`` times,
alternating the variants it compares (the machine is noisy: ratios of medians within one run are
the numbers), and writes one JSON record under ``benchmarks/results/``.
"""
from __future__ import annotations

import argparse
import platform
from pathlib import Path
from typing import Any

import torch

from spikemask.io import write_json


def timing_parser(doc: str, result_name: str) -> argparse.ArgumentParser:
    """A parser with ``-T``, ``--batch``, ``--batches``, ``--repeat`` and ``--out`` (``results/<result_name>``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("-T", "--time-steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / result_name))
    return parser


def image_batches(args: argparse.Namespace) -> list[torch.Tensor]:
    """``args.batches`` seeded batches of ``args.batch`` random images ``[B, 1, 28, 28]``."""
    torch.manual_seed(0)
    return [torch.rand(args.batch, 1, 28, 28) for _ in range(args.batches)]


def write_record(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Write the run's settings, the machine and ``rows`` to ``args.out`` and say where."""
    record = {"time_steps": args.time_steps, "images": args.batch * args.batches, "repeat": args.repeat,
              "threads": torch.get_num_threads(), "machine": platform.platform(), "rows": rows}
    print(f"wrote {write_json(args.out, record)}")
