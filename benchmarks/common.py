"""What the timing benchmarks share: their flags, their input batches, their JSON record.

Each benchmark times the same batches of random 28-px MNIST-shaped images, ``--repeat`` times,
alternating the variants it compares (the machine is noisy: ratios of medians within one run are
the numbers), and writes one JSON record under ``benchmarks/results/``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from spikemask.allocator import keep_freed_memory
from spikemask.io import write_json


def timing_parser(doc: str, result_name: str) -> argparse.ArgumentParser:
    """A parser with ``-T``, ``--batch``, ``--batches``, ``--repeat``, ``--out`` (``results/<result_name>``)
    and ``--allocator``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("-T", "--time-steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / result_name))
    add_allocator_options(parser)
    return parser


def image_batches(args: argparse.Namespace) -> list[torch.Tensor]:
    """``args.batches`` seeded batches of ``args.batch`` random images ``[B, 1, 28, 28]``."""
    torch.manual_seed(0)
    return [torch.rand(args.batch, 1, 28, 28) for _ in range(args.batches)]


def write_record(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Write the run's settings, the machine and ``rows`` to ``args.out`` and say where."""
    record = {"time_steps": args.time_steps, "images": args.batch * args.batches, "repeat": args.repeat,
              "threads": torch.get_num_threads(), "allocator": args.allocator, "machine": platform.platform(),
              "rows": rows}
    print(f"wrote {write_json(args.out, record)}")


# glibc settings that make malloc keep freed memory (no mmap per large block, no trimming): what an
# unmodified library such as SpikingJelly can get without spikemask's caching allocator
KEEP_FREED_GLIBC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(16 << 30)}


def add_allocator_options(parser: argparse.ArgumentParser, peer: bool = False) -> None:
    """``--allocator`` (our process's CPU allocator) and, with ``peer``, ``--peer-malloc`` (the peer's
    glibc setting)."""
    parser.add_argument("--allocator", choices=["cache", "system"], default="cache",
                        help="spikemask's CPU allocator: the caching one the spikemask command installs "
                             "(default) or torch's own (SPIKEMASK_KEEP_FREED_MEMORY=0)")
    if peer:
        parser.add_argument("--peer-malloc", choices=["default", "keep"], default="default",
                            help="SpikingJelly's process: glibc malloc as installed (default), or told to keep "
                                 f"freed memory too ({' '.join(f'{k}={v}' for k, v in KEEP_FREED_GLIBC.items())})")


def use_allocator(args: argparse.Namespace) -> None:
    """Install the caching allocator in this process when ``--allocator cache``."""
    if args.allocator == "cache" and not keep_freed_memory():
        raise SystemExit("the caching CPU allocator needs the fused CPU kernels, which cannot be built here; "
                         "pass --allocator system")


WORKER = Path(__file__).with_name("peers") / "spikingjelly_worker.py"


class Peer:
    """SpikingJelly 2.0 in its own venv, behind ``peers/spikingjelly_worker.py``: :meth:`run` times one
    call of a case there. :meth:`start` gives ``None`` (and says so) when that venv is not there."""

    def __init__(self, python: str, threads: int, keep_freed: bool = False) -> None:
        env = {**os.environ, **(KEEP_FREED_GLIBC if keep_freed else {})}
        self.proc = subprocess.Popen([python, str(WORKER), str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    @classmethod
    def start(cls, python: str | None, threads: int, keep_freed: bool = False) -> "Peer | None":
        """The worker in ``python``'s venv with ``threads`` threads (glibc told to keep freed memory when
        ``keep_freed``), or ``None`` when there is no such python."""
        if not python or not Path(python).exists():
            print(f"SpikingJelly venv not found ({python or 'no --peer-python'}): timing spikemask alone. "
                  "Install it as README says and pass --peer-python.", file=sys.stderr)
            return None
        return cls(python, threads, keep_freed)

    def run(self, case: str, shape: tuple[int, ...]) -> dict:
        self.proc.stdin.write(json.dumps({"case": case, "shape": list(shape)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the SpikingJelly worker stopped; run it by hand to see why: "
                             f"echo '{{\"case\": \"{case}\", \"shape\": {list(shape)}}}' | python {WORKER}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.write('{"quit": true}\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
