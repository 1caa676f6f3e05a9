"""The ``spikemask`` command line: energy-efficient spiking transformers (MST, SDMFormer) and CNNs.

One subcommand per module in :mod:`spikemask.cli`.

Each command module has ``register(subparsers)`` which adds its parser and sets ``func(args) -> int``.
User errors (:class:`~spikemask.errors.SpikemaskError`) print one line and exit with status 2; an
:class:`~spikemask.errors.OptionError` names the command's flag (``--epochs``) where the library
names the parameter (``epochs``). Ctrl-C (SIGINT) and SIGTERM print one line and exit with 130 and
143; the last complete checkpoint and results are kept. The commands of :data:`TENSOR_COMMANDS` start by
installing the caching CPU allocator (:mod:`spikemask.allocator`; ``SPIKEMASK_KEEP_FREED_MEMORY=0``
leaves torch's allocator in place).
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from spikemask.allocator import keep_freed_memory_unless_disabled
from spikemask.errors import OptionError, SpikemaskError
from spikemask.io import prepare_folder, remove_empty

COMMANDS = ["demo", "train", "convert", "evaluate", "energy", "export", "load", "models"]
OPTIONAL_COMMANDS = ["data", "mst", "sdm", "prune"]  # registered when their module exists
# commands whose work is large tensors: they run with the caching CPU allocator (spikemask.allocator)
TENSOR_COMMANDS = {"demo", "train", "convert", "evaluate", "energy", "export", "mst", "sdm"}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit status 2) instead of usage + error."""

    def error(self, message: str) -> None:  # noqa: D102
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="spikemask", description="spikemask: train, convert, mask, measure and compare "
                          "spiking neural networks (MST, SDMFormer); `spikemask COMMAND --help` for each command")
    from spikemask import __version__
    parser.add_argument("--version", action="version", version=f"spikemask {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS + OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as e:
            if name in OPTIONAL_COMMANDS and e.name == f"{__package__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (a BaseException, like Ctrl-C's)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _out_of_memory(e: BaseException) -> bool:
    """Python's MemoryError, or torch's allocator failure (a RuntimeError on CPU, OutOfMemoryError on GPU)."""
    return isinstance(e, MemoryError) or "can't allocate memory" in str(e) or type(e).__name__ == "OutOfMemoryError"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)              # the command as given, for records
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    in_main_thread = threading.current_thread() is threading.main_thread()   # only there can signals be caught
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    created: list = []
    try:
        if args.command in TENSOR_COMMANDS:
            keep_freed_memory_unless_disabled()                            # large tensors reuse freed memory
        if getattr(args, "out", None):
            created = prepare_folder(args.out)                             # checked before any work
        return int(args.func(args) or 0)
    except SpikemaskError as e:
        message = e.named(getattr(args, "option_flags", {})) if isinstance(e, OptionError) else str(e)
        sys.stderr.write(f"spikemask {args.command}: error: {message}\n")
        return 2
    except (MemoryError, RuntimeError) as e:
        if not _out_of_memory(e):
            raise
        sys.stderr.write(f"spikemask {args.command}: error: out of memory; lower --batch-size or -T (or "
                         "--time-chunk)\n")
        return 2
    except BrokenPipeError:                                                # e.g. `spikemask models | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())       # no second error at exit
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("spikemask: interrupted; the last complete checkpoint and results are kept\n")
        return 130
    except Terminated:
        sys.stderr.write("spikemask: terminated (SIGTERM); the last complete checkpoint and results are kept\n")
        return 143
    finally:
        remove_empty(created)                        # a folder the command made and left empty (refused, or
        if in_main_thread:                           # nothing to write, as evaluate --input) goes again
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
