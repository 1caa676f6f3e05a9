"""Times SpikingJelly 2.0's neurons on request; run by ``benchmarks/neurons.py`` in SpikingJelly's own venv.

Protocol, one JSON object per line: the driver writes ``{"case": name, "shape": [T, B, N]}``, the worker
answers ``{"seconds": s, "check": [...]}`` -- the time of one call on the seeded input, and sums of the
spikes (and gradients) so the driver can confirm both sides computed the same thing. ``{"quit": true}``
ends it. This file imports SpikingJelly, so it never runs in spikemask's environment.
"""
from __future__ import annotations

import json
import sys
import time

import torch
from spikingjelly.activation_based import functional, neuron


def seeded(shape: list[int], requires_grad: bool = False) -> torch.Tensor:
    """The shared input: uniform in [-0.3, 1.2), seed 0 (the driver builds the same tensor)."""
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 1.5 - 0.3
    return x.requires_grad_(requires_grad)


def run(case: str, shape: list[int]) -> dict:
    backward = case.endswith("+bwd")
    x = seeded(shape, backward)
    node = (neuron.IFNode(v_reset=None, step_mode="m") if case.startswith("if")
            else neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True))
    start = time.perf_counter()
    spikes = node(x)
    if backward:
        spikes.sum().backward()
    seconds = time.perf_counter() - start
    check = [float(spikes.detach().double().sum())] + ([float(x.grad.double().abs().sum())] if backward else [])
    functional.reset_net(node)
    return {"seconds": seconds, "check": check}


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        print(json.dumps(run(request["case"], request["shape"])), flush=True)


if __name__ == "__main__":
    main()
