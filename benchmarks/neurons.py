"""Neuron scans, spikemask vs SpikingJelly 2.0: time per call, M element-steps/s, and the memory bound.

Cases (shape ``[T, B, N]``): IF forward (soft reset, v0 = 0, vs ``IFNode(v_reset=None)``), LIF forward
and LIF forward + backward (tau = 2, hard reset to 0, detach_reset, sigmoid(4) surrogate, vs
``LIFNode(tau=2, detach_reset=True)``). SpikingJelly runs in its own venv (``--peer-python``) behind a
small worker process (``peers/spikingjelly_worker.py``); the two sides are timed in alternation, one
call each per pair, and the number reported is the median over pairs of the time ratio (peer / ours),
so a noisy machine slows both sides of a pair alike. Both sides get the same seeded input and their
spike counts (and gradient sums) are compared.

Two ceilings are printed beside the rates. The bandwidth bound is what the machine's measured copy
bandwidth allows a fused scan that keeps the membrane in cache: bytes per element-step are 8 for a
forward (read x, write the spike), 24 for forward + backward (and the saved pre-spike membrane, the
spike gradient read, the input gradient written). The fresh-output floor is the time to allocate and
write the scan's outputs alone (1 tensor of ``[T, B, N]`` for a forward, 3 for forward + backward):
a new tensor's pages are faulted in and zeroed by the kernel on first touch, which on a small VM
costs more than the scan's arithmetic, unless the allocator hands back memory already mapped.

Our process runs with spikemask's caching CPU allocator, as the ``spikemask`` command does
(``--allocator system``: torch's own). SpikingJelly's runs with glibc's malloc as installed, or with
``--peer-malloc keep`` told by environment variables to keep freed memory, the nearest an unmodified
library gets to the cache (docs/benchmarks.md reports both).

Run:  python benchmarks/neurons.py [--peer-python /path/to/sj-venv/bin/python] [--repeat 15]
      [--allocator cache|system] [--peer-malloc default|keep]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from common import Peer, add_allocator_options, use_allocator

from spikemask.io import write_json
from spikemask.snn import kernels

CASES = [  # name, shape [T, B, N], bytes moved per element-step by a fused scan, fresh [T, B, N] outputs
    ("if_fwd", (32, 64, 4096), 8, 1),
    ("if_fwd", (64, 32, 18816), 8, 1),
    ("lif_fwd", (16, 16, 16384), 8, 1),
    ("lif_fwd+bwd", (16, 16, 16384), 24, 3),   # spikes, saved h, grad_x
]


def seeded(shape: tuple[int, ...], requires_grad: bool = False) -> torch.Tensor:
    """The input both sides use: uniform in [-0.3, 1.2), seed 0 (as the worker builds it)."""
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 1.5 - 0.3
    return x.requires_grad_(requires_grad)


def run_ours(case: str, shape: tuple[int, ...], backend: str) -> dict:
    """Time one call of our scan on the seeded input; return seconds and the check sums."""
    backward = case.endswith("+bwd")
    x = seeded(shape, backward)
    v0 = torch.zeros(shape[1:])
    start = time.perf_counter()
    if case.startswith("if"):
        spikes, _ = kernels.if_scan(x, v0, 1.0, backend)
    else:
        spikes, _ = kernels.lif_scan(x, v0, 2.0, 1.0, 0.0, "sigmoid", 4.0, True, True, backend)
    if backward:
        spikes.sum().backward()
    seconds = time.perf_counter() - start
    check = [float(spikes.detach().double().sum())] + ([float(x.grad.double().abs().sum())] if backward else [])
    return {"seconds": seconds, "check": check}


def copy_bandwidth(repeat: int = 5) -> float:
    """The machine's copy bandwidth in bytes/s (read + write of a 256 MiB buffer, best of ``repeat``)."""
    src = torch.rand(64 << 20)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = min(_timed(lambda: dst.copy_(src)) for _ in range(repeat))
    return 2 * src.numel() * 4 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fresh_output_seconds(shape: tuple[int, ...], outputs: int, repeat: int) -> float:
    """Median time to allocate and fill ``outputs`` new float32 tensors of ``shape``."""
    return statistics.median(_timed(lambda: [torch.empty(shape).fill_(1.0) for _ in range(outputs)])
                             for _ in range(repeat))


def bench_case(case: str, shape: tuple[int, ...], backends: list[str], peer: Peer | None, repeat: int) -> dict:
    """Alternate the peer and each backend ``repeat`` times (after one warm-up pair); summarise."""
    elements = 1
    for n in shape:
        elements *= n
    times: dict[str, list[float]] = {name: [] for name in backends + (["spikingjelly"] if peer else [])}
    checks: dict[str, list[float]] = {}
    for i in range(repeat + 1):
        for name in times:
            result = peer.run(case, shape) if name == "spikingjelly" else run_ours(case, shape, name)
            checks[name] = result["check"]
            if i:  # the first round warms caches (and builds the C++ kernels once)
                times[name].append(result["seconds"])
    row = {"case": case, "shape": list(shape), "element_steps": elements, "checks": checks,
           "seconds_median": {name: statistics.median(t) for name, t in times.items()},
           "m_element_steps_per_s": {name: elements / statistics.median(t) / 1e6 for name, t in times.items()}}
    if peer:
        reference = checks["spikingjelly"]
        row["same_result"] = {name: all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(c, reference))
                              for name, c in checks.items()}
        row["speedup_vs_spikingjelly"] = {
            name: statistics.median(p / o for p, o in zip(times["spikingjelly"], times[name])) for name in backends}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default=os.environ.get("SPIKINGJELLY_PYTHON"),
                        help="python of the venv that has SpikingJelly 2.0 (default $SPIKINGJELLY_PYTHON)")
    parser.add_argument("--backends", default="auto,torch,reference",
                        help="our backends to time, comma-separated (default auto,torch,reference)")
    parser.add_argument("--repeat", type=int, default=15, help="timed pairs per case (default 15)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "neurons.json"))
    add_allocator_options(parser, peer=True)
    args = parser.parse_args()
    use_allocator(args)
    backends = [kernels.check_backend(b) for b in args.backends.split(",")]
    threads = torch.get_num_threads()
    bandwidth = copy_bandwidth()
    auto = kernels.resolve_backend("auto", torch.zeros(1))
    peer = Peer.start(args.peer_python, threads, args.peer_malloc == "keep")
    rows = []
    try:
        for case, shape, nbytes, outputs in CASES:
            row = bench_case(case, shape, backends, peer, args.repeat)
            row["memory_bound_m_element_steps_per_s"] = bandwidth / nbytes / 1e6
            row["fresh_output_floor_m_element_steps_per_s"] = (
                row["element_steps"] / fresh_output_seconds(shape, outputs, args.repeat) / 1e6)
            rows.append(row)
    finally:
        if peer:
            peer.close()
    print(f"threads {threads}, copy bandwidth {bandwidth / 1e9:.1f} GB/s, auto = {auto}, {args.repeat} pairs per case, "
          f"allocator {args.allocator}, SpikingJelly's malloc {args.peer_malloc}")
    names = backends + (["spikingjelly"] if peer else [])
    head = f"{'case':12} {'shape [T,B,N]':16} " + " ".join(f"{n + ' M/s':>16}" for n in names)
    head += f" {'bound M/s':>10} {'floor M/s':>10}" + ("".join(f" {n + ' / SJ':>14}" for n in backends) if peer else "")
    print(head)
    for row in rows:
        rates = row["m_element_steps_per_s"]
        line = f"{row['case']:12} {'x'.join(map(str, row['shape'])):16} " + " ".join(f"{rates[n]:16.0f}" for n in names)
        line += (f" {row['memory_bound_m_element_steps_per_s']:10.0f}"
                 f" {row['fresh_output_floor_m_element_steps_per_s']:10.0f}")
        if peer:
            line += "".join(f" {row['speedup_vs_spikingjelly'][n]:13.2f}×" for n in backends)
            if not all(row["same_result"].values()):
                line += "  RESULTS DIFFER: " + json.dumps(row["checks"])
        print(line)
    record = {"threads": threads, "machine": platform.platform(), "torch": torch.__version__, "auto": auto,
              "allocator": args.allocator, "peer_malloc": args.peer_malloc,
              "copy_bandwidth_bytes_per_s": bandwidth, "repeat": args.repeat, "rows": rows}
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
