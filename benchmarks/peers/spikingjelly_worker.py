"""Times SpikingJelly 2.0's neurons on request; run by ``benchmarks/neurons.py`` in SpikingJelly's own venv.

Protocol, one JSON object per line: the driver writes ``{"case": name, "shape": [...]}`` (a neuron case
of ``benchmarks/neurons.py``, or ``spikformer_train`` of ``benchmarks/models.py``); the worker answers
``{"seconds": s, "check": [...]}``, the time of one call on the seeded input and sums of its results
(spikes, gradients, loss) so the driver can confirm both sides computed the same thing.
``{"quit": true}`` ends it. This file imports SpikingJelly, so it never runs in spikemask's environment.
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


_MODELS: dict = {}


def spikformer_train_step(shape: list[int]) -> dict:
    """One SGD step of SpikingJelly's Spikformer-2-256 (128 px, 2 channels, 10 classes) on seeded frames
    ``shape = [T, B, 2, 128, 128]``; the model is built once per shape (seed 0)."""
    from spikingjelly.activation_based.model.spikformer import Spikformer

    key = tuple(shape)
    if key not in _MODELS:
        torch.manual_seed(0)
        model = Spikformer(T=shape[0], in_channels=shape[2], img_size_h=shape[3], img_size_w=shape[4], patch_size=16,
                           num_classes=10, embed_dims=256, num_heads=16, mlp_ratio=4.0, depths=2)
        _MODELS[key] = (model, torch.optim.SGD(model.parameters(), lr=1e-3))
    model, optimizer = _MODELS[key]
    x = (torch.rand(*shape, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    y = torch.arange(shape[1]) % 10
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    functional.reset_net(model)
    return {"seconds": time.perf_counter() - start, "check": [loss.item()],
            "parameters": sum(p.numel() for p in model.parameters())}


def run(case: str, shape: list[int]) -> dict:
    if case == "spikformer_train":
        return spikformer_train_step(shape)
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
