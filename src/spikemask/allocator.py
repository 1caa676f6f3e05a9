"""A caching CPU allocator: freed tensors' memory is reused by the next tensor of its size.

torch's CPU tensors come from the C library's ``malloc``. glibc serves a request above its mmap
threshold (at most 32 MiB) with a fresh ``mmap`` and unmaps it on ``free``, so every large tensor a
training step or a long simulation allocates is new memory: the kernel faults its pages in and
zeroes them on first touch, about 4 GB/s on this project's 2-core machines, far below the copy
bandwidth (docs/benchmarks.md). A spiking network's tensors are ``T`` times larger than its ANN's,
so this cost dominates the fused neuron kernels and the SPS stem of a Spikformer.

:func:`keep_freed_memory` installs the caching allocator of ``snn/kernels/allocator_cpu.cpp`` (part
of the fused CPU kernels' extension) as torch's CPU allocator, as torch's CUDA caching allocator does
on the GPU. Blocks from 1 MiB up are rounded up to a size class (at most 1/8 more) and, when freed,
kept while the cache holds at most a quarter of the machine's memory; a request takes the smallest
kept block from its own size class up to twice its size. When the system has no memory left the
cache is emptied first. Memory the cache holds is not returned to the system until the process
exits, and torch's profiler does not see these blocks.

The ``spikemask`` command installs it at start (``SPIKEMASK_KEEP_FREED_MEMORY=0`` leaves torch's
allocator in place); a library user may call :func:`keep_freed_memory` once at the start of a script.
Where the C++ extension cannot be built it does nothing.
"""
from __future__ import annotations

import os

from spikemask.errors import SpikemaskError

ENV = "SPIKEMASK_KEEP_FREED_MEMORY"


def cache_limit_bytes() -> int:
    """The most freed memory the cache keeps: a quarter of the physical memory, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def keep_freed_memory() -> bool:
    """Install the caching CPU allocator (once per process). Returns whether it is torch's CPU allocator
    now; False where the fused CPU kernels cannot be built here."""
    from spikemask.snn.kernels import cpu

    module = cpu.load()
    return module is not None and module.install_caching_allocator(cache_limit_bytes())


def cached_bytes() -> int:
    """Bytes of freed memory the caching allocator holds for reuse (0 when it is not installed)."""
    from spikemask.snn.kernels import cpu

    module = cpu.load()
    return 0 if module is None else module.cached_bytes()


def keep_freed_memory_unless_disabled() -> bool:
    """:func:`keep_freed_memory` unless ``SPIKEMASK_KEEP_FREED_MEMORY=0`` (what the command line does)."""
    value = os.environ.get(ENV, "1")
    if value not in ("0", "1"):
        raise SpikemaskError(f"{ENV} must be 0 (leave torch's allocator in place) or 1 (the default); "
                             f"got {value!r}")
    return value == "1" and keep_freed_memory()
