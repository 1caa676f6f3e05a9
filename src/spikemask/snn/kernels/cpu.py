"""The ``cpp`` backend: the fused CPU scans of ``neurons_cpu.cpp`` (and the caching CPU allocator of
``allocator_cpu.cpp``, see :mod:`spikemask.allocator`), built once with the system's C++ compiler.

The first use in a fresh environment compiles the kernels (about a minute on 2 cores; a line on
stderr says so) and caches them in torch's extension folder (``TORCH_EXTENSIONS_DIR``, default
``~/.cache/torch_extensions``); later processes load the cached build in milliseconds. Where no
compiler (or ``ninja``) is found, :func:`load` returns ``None`` and the caller falls back to the
``torch`` backend.
"""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

NAME = "spikemask_cpu"
SOURCES = [Path(__file__).with_name(name) for name in ("neurons_cpu.cpp", "allocator_cpu.cpp")]
# -fopenmp: at::parallel_for spreads the neuron blocks over the cores (and `omp simd` vectorizes them);
# -ffp-contract=off: no fused multiply-adds, so every operation rounds as in the reference loop;
# -fno-trapping-math / -fno-math-errno: compares and exp may be vectorized (results unchanged: they
# only drop floating-point exception and errno side effects).
FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno"]
LDFLAGS = ["-fopenmp"]
if sys.platform == "linux" and platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc":
    FLAGS.append("-DSPIKEMASK_LIBMVEC")  # glibc's SIMD expf: the sigmoid surrogate's backward vectorizes
    LDFLAGS.append("-lmvec")

_module: ModuleType | None = None
_failure: str | None = None


def load() -> ModuleType | None:
    """The compiled kernels, building them on first use; ``None`` (and :func:`failure` says why) if
    they cannot be built here."""
    global _module, _failure
    if _module is None and _failure is None:
        try:
            # torch logs a warning on import when it finds CUDA_HOME but no CUDA runtime: not ours to show
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
            from torch.utils import cpp_extension

            folder = Path(cpp_extension._get_build_directory(NAME, verbose=False))
            if not (folder / f"{NAME}.so").exists():
                print("spikemask: building the fused CPU kernels (once per environment, about a minute)...",
                      file=sys.stderr, flush=True)
            with _standard_streams():
                _module = cpp_extension.load(NAME, [str(s) for s in SOURCES], extra_cflags=FLAGS, extra_ldflags=LDFLAGS,
                                             verbose=False)
        except Exception as err:  # no compiler, no ninja, no Python headers: the torch backend takes over
            _failure = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
            print(f"spikemask: fused CPU kernels unavailable ({_failure}); using the torch backend",
                  file=sys.stderr, flush=True)
    return _module


@contextlib.contextmanager
def _standard_streams() -> Iterator[None]:
    """stdout/stderr as torch's extension loader needs them: a caller that silenced output by setting
    ``sys.stdout = None`` (NeuroBench's ``Benchmark.run(quiet=True)`` does) gets a sink meanwhile."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = sys.stdout or open(os.devnull, "w"), sys.stderr or open(os.devnull, "w")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def failure() -> str | None:
    """Why the kernels could not be built, or None."""
    return _failure
