"""The caching CPU allocator of :mod:`spikemask.allocator`, checked in fresh processes (it is process-wide)."""
import subprocess
import sys

import pytest

from spikemask.cli import main
from spikemask.snn.kernels import cpu

needs_cpp = pytest.mark.skipif(cpu.load() is None, reason="the fused CPU kernels cannot be built here")

# Allocate and fill a 64 MiB tensor twice, then a 96 MiB one after a 128 MiB one is freed; print whether
# the allocator was installed, the page faults of the second and the 96 MiB allocations, the bytes
# cached at the end, and a check of values through the cache.
PROBE = """
import os, resource, sys, torch
from spikemask.allocator import cached_bytes, keep_freed_memory
installed = keep_freed_memory() if sys.argv[1] == "cache" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.empty(2**24).fill_(1.0)
before = faults()
a = torch.empty(2**24).fill_(2.0)
faulted = faults() - before
small, empty = torch.arange(1000.0), torch.empty(0)   # under 1 MiB: not cached; 0 bytes: no block
ok = bool((a == 2.0).all()) and float(small.sum()) == 499500.0 and empty.numel() == 0
a.resize_(2**25).fill_(3.0)                            # a storage grows through the allocator
ok = ok and bool((a == 3.0).all())
del a
before = faults()
b = torch.empty(3 * 2**23).fill_(4.0)                  # 96 MiB: fits the freed 128 MiB block
reused = faults() - before
ok = ok and bool((b == 4.0).all())
del b
if os.fork() == 0:          # a child allocates after fork (one thread, as DataLoader workers: OpenMP can't fork)
    torch.set_num_threads(1)
    os._exit(0 if bool((torch.ones(2**22) == 1).all()) else 1)
ok = ok and os.wait()[1] == 0
print(installed, faulted, reused, cached_bytes(), ok)
"""


def probe(mode: str) -> tuple[bool, int, int, int, bool]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    installed, faulted, reused, cached, ok = out.split()
    return installed == "True", int(faulted), int(reused), int(cached), ok == "True"


@needs_cpp
def test_freed_memory_is_reused_without_page_faults():
    installed, faulted, reused, cached, ok = probe("cache")
    _, faulted_system, reused_system, cached_system, ok_system = probe("system")
    assert installed and ok and ok_system
    assert faulted_system > 10_000 and reused_system > 10_000   # torch's allocator: fresh 4 KiB pages
    assert faulted < 1_000           # the caching allocator: the freed block of the same size is reused
    assert reused < 1_000            # and a freed block up to twice the request
    assert cached >= 2 * 2**26 and cached_system == 0   # the 64 and 128 MiB blocks are kept


def test_a_bad_setting_is_one_error_line(monkeypatch, capsys):
    monkeypatch.setenv("SPIKEMASK_KEEP_FREED_MEMORY", "yes")
    assert main(["energy", "--checkpoint", "missing.pt"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "spikemask energy: error: SPIKEMASK_KEEP_FREED_MEMORY must be 0 (leave torch's allocator in place) or 1 "
        "(the default); got 'yes'"]
