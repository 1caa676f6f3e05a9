"""Inference throughput (img/s) of Spikformer, masked SDMFormer and pruned SDMFormer (SDMFormer Table 5 style).

One "image" is one sample of ``T`` event frames ``[T, 2, H, W]`` (the paper: T = 16, 128 px). The
masked SDMFormer switches off a random ``--mask-ratio`` of the channels of every DMConv (the paper's
CIFAR10-DVS size ratio needs about 56.5 %, FAITHFULNESS A3); the pruned model is
:func:`spikemask.models.spikformer.pruning.prune` of it. Runs on the CPU and, if available, on CUDA; prints a table of
img/s and ratios and writes ``benchmarks/results/sdm_throughput.json``.

    python benchmarks/sdm_throughput.py                       # SDMFormer-2-256, 128 px, T = 16
    python benchmarks/sdm_throughput.py --size 2_64 --img-size 32 --time-steps 4   # quick
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from torch import nn

from spikemask.convert.simulate import simulate
from spikemask.io import write_json
from spikemask.models import create_model
from spikemask.models.spikformer.pruning import prune

RESULTS = Path(__file__).parent / "results" / "sdm_throughput.json"


def build_models(size: str, mask_ratio: float, img_size: int, time_steps: int, seed: int) -> dict[str, nn.Module]:
    """Spikformer, SDMFormer with ``mask_ratio`` of each DMConv's channels masked, and its pruned copy."""
    options = dict(num_classes=10, in_channels=2, img_size=img_size, time_steps=time_steps)
    torch.manual_seed(seed)
    spikformer = create_model(f"spikformer_{size}", **options)
    masked = create_model(f"sdmformer_{size}", **options)
    with torch.no_grad():
        for name, m in masked.named_parameters():
            if name.endswith("mask.m"):
                off = torch.randperm(m.numel())[:round(mask_ratio * m.numel())]
                m.fill_(1.0)
                m[off] = -1.0
    return {"spikformer": spikformer.eval(), "sdmformer_masked": masked.eval(),
            "sdmformer_pruned": prune(masked).eval()}


@torch.no_grad()
def throughput(model: nn.Module, frames: torch.Tensor, warmup: int, repeats: int) -> float:
    """Samples per second of ``model`` on time-major ``frames`` ``[T, B, 2, H, W]`` (median of ``repeats``)."""
    def sync() -> None:
        if frames.is_cuda:
            torch.cuda.synchronize()

    for _ in range(warmup):
        simulate(model, frames)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        simulate(model, frames)
        sync()
        times.append(time.perf_counter() - start)
    return frames.shape[1] / sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="2_256", help="L_D model size: 2_64, 2_256, 1_512 or 4_384 (default 2_256)")
    p.add_argument("--mask-ratio", type=float, default=0.565, help="fraction of DMConv channels masked (default 0.565)")
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--time-steps", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16, help="batch size on CUDA (the paper's 16)")
    p.add_argument("--cpu-batch-size", type=int, default=2, help="batch size on the CPU (default 2)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    models = build_models(args.size, args.mask_ratio, args.img_size, args.time_steps, args.seed)
    params = {name: sum(q.numel() for n, q in m.named_parameters() if not n.endswith("mask.m"))
              for name, m in models.items()}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {}
    for device in devices:
        batch = args.batch_size if device == "cuda" else args.cpu_batch_size
        frames = (torch.rand(args.time_steps, batch, 2, args.img_size, args.img_size) < 0.2).float().to(device)
        speed = {name: throughput(m.to(device), frames, args.warmup, args.repeats) for name, m in models.items()}
        results[device] = {
            "batch_size": batch,
            "img_per_s": speed,
            "ratios": {"pruned / masked": speed["sdmformer_pruned"] / speed["sdmformer_masked"],
                       "masked / spikformer": speed["sdmformer_masked"] / speed["spikformer"],
                       "pruned / spikformer": speed["sdmformer_pruned"] / speed["spikformer"]},
            "name": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        }
        print(f"{device} ({results[device]['name']}, batch {batch}, T = {args.time_steps}, {args.img_size} px, "
              f"{torch.get_num_threads()} CPU threads)")
        for name, value in speed.items():
            print(f"  {name:18s} {value:10.2f} img/s   {params[name]:>10,} parameters")
        for name, value in results[device]["ratios"].items():
            print(f"  {name:22s} {value:6.3f}")
    report = {"config": vars(args), "torch": torch.__version__, "params": params, "devices": results}
    write_json(RESULTS, report)
    print(f"wrote {RESULTS}")
    return report


if __name__ == "__main__":
    main()
