"""Whole models: a Spikformer training step vs SpikingJelly 2.0, SDMFormer inference, and training memory in T.

1. ``spikformer_train``: one SGD step (forward, cross-entropy of the step-averaged logits, backward,
   update) of Spikformer-2-256 on seeded event frames ``[T, B, 2, 128, 128]`` (T = 16), ours
   (plain, and ``channels_last``) against SpikingJelly 2.0's ``Spikformer(embed_dims=256, depths=2,
   num_heads=16)`` in its own venv, timed in alternation; the median over pairs of the time ratio.
   The two are the same configuration but not the same network: our SPS fires its LIF before each
   max-pool (the authors' code, FAITHFULNESS S1), SpikingJelly's after, so our stem's neurons see 4×
   more elements. Parameter counts are printed.
2. ``sdmformer_infer``: SDMFormer-2-256 inference, images (samples of T frames) per second, plain and
   channels-last (``evaluate --channels-last``), alternated.
3. ``memory``: the peak memory a training step of SDMFormer-2-64 adds, each measured in a fresh
   process (Linux: the peak resident size ``VmHWM``, reset just before the step, minus the resident
   size then): T = 16, T = 64, and T = 64 with gradient checkpointing over chunks of 16 and of 8
   steps (``spikemask train --checkpoint-steps S``).

Cases 1 and 2 run with spikemask's caching CPU allocator, as the ``spikemask`` command does
(``--allocator system``: torch's own); SpikingJelly's glibc malloc is as installed, or with
``--peer-malloc keep`` told to keep freed memory. The memory children keep torch's allocator.

Run:  python benchmarks/models.py [--peer-python /path/to/sj-venv/bin/python] [--batch 2] [--repeat 5]
      [--allocator cache|system] [--peer-malloc default|keep]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import Peer, add_allocator_options, use_allocator

from spikemask.io import write_json
from spikemask.models import create_model
from spikemask.snn.functional import reset_net
from spikemask.train.recompute import forward_in_chunks


def frames(shape: tuple[int, ...]) -> torch.Tensor:
    """The seeded event frames both sides use: 10 % ones, seed 0 (as the worker builds them)."""
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(0)) < 0.1).float()


class TrainStep:
    """One SGD step of a registry model on seeded frames ``shape = [T, B, C, H, W]``."""

    def __init__(self, name: str, shape: tuple[int, ...], channels_last: bool = False,
                 checkpoint_steps: int | None = None) -> None:
        torch.manual_seed(0)
        self.model = create_model(name, num_classes=10, in_channels=shape[2], img_size=shape[3],
                                  time_steps=shape[0]).train()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3)
        self.x, self.y = frames(shape), torch.arange(shape[1]) % 10
        self.checkpoint_steps = checkpoint_steps

    def __call__(self) -> dict:
        start = time.perf_counter()
        out = (forward_in_chunks(self.model, self.x, self.checkpoint_steps) if self.checkpoint_steps
               else self.model(self.x))
        loss = torch.nn.functional.cross_entropy(out.mean(0), self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        reset_net(self.model)
        return {"seconds": time.perf_counter() - start, "check": [loss.item()]}

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def bench_train_step(shape: tuple[int, ...], peer: Peer | None, repeat: int) -> dict:
    """Alternate SpikingJelly's step and ours (plain, channels-last) ``repeat`` times after one warm-up round."""
    ours = {"ours": TrainStep("spikformer_2_256", shape), "ours_channels_last":
            TrainStep("spikformer_2_256", shape, channels_last=True)}
    names = list(ours) + (["spikingjelly"] if peer else [])
    times: dict[str, list[float]] = {n: [] for n in names}
    first_loss: dict[str, float] = {}
    parameters = {n: step.parameters for n, step in ours.items()}
    for i in range(repeat + 1):
        for name in names:
            result = peer.run("spikformer_train", shape) if name == "spikingjelly" else ours[name]()
            if name == "spikingjelly":
                parameters[name] = result["parameters"]
            first_loss.setdefault(name, result["check"][0])
            if i:
                times[name].append(result["seconds"])
    row = {"case": "spikformer_train", "model": "Spikformer-2-256", "shape": list(shape), "parameters": parameters,
           "first_loss": first_loss, "seconds_median": {n: statistics.median(t) for n, t in times.items()},
           "img_per_s": {n: shape[1] / statistics.median(t) for n, t in times.items()}}
    if peer:
        row["speedup_vs_spikingjelly"] = {n: statistics.median(p / o for p, o in zip(times["spikingjelly"], times[n]))
                                          for n in ours}
    return row


def bench_inference(shape: tuple[int, ...], repeat: int) -> dict:
    """SDMFormer-2-256 inference img/s on seeded frames, plain and channels-last (``evaluate
    --channels-last``), alternated: the median of ``repeat`` calls each after a warm-up round."""
    torch.manual_seed(0)
    plain = create_model("sdmformer_2_256", num_classes=10, in_channels=shape[2], img_size=shape[3],
                         time_steps=shape[0]).eval()
    models = {"ours": plain, "ours_channels_last": copy.deepcopy(plain).to(memory_format=torch.channels_last)}
    x = frames(shape)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    logits = {}
    with torch.inference_mode():
        for i in range(repeat + 1):
            for name, model in models.items():
                start = time.perf_counter()
                logits[name] = model(x)
                reset_net(model)
                if i:
                    seconds[name].append(time.perf_counter() - start)
    return {"case": "sdmformer_infer", "model": "SDMFormer-2-256", "shape": list(shape),
            "img_per_s": {name: shape[1] / statistics.median(t) for name, t in seconds.items()},
            "max_abs_logit_diff": float((logits["ours"] - logits["ours_channels_last"]).abs().max())}


def memory_status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, MiB (Linux)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def step_memory(time_steps: int, batch: int, checkpoint_steps: int | None) -> dict:
    """Run in a fresh process: the memory one SDMFormer-2-64 training step adds (MiB)."""
    step = TrainStep("sdmformer_2_64", (time_steps, batch, 2, 128, 128), checkpoint_steps=checkpoint_steps)
    with open("/proc/self/clear_refs", "w") as f:   # "5": reset the peak (VmHWM) to the resident size now
        f.write("5")
    before = memory_status_mib("VmRSS")
    result = step()
    peak = memory_status_mib("VmHWM")
    return {"time_steps": time_steps, "batch": batch, "checkpoint_steps": checkpoint_steps,
            "resident_before_mib": before, "peak_mib": peak, "step_adds_mib": peak - before,
            "seconds": result["seconds"]}


MEMORY_RUNS = ((16, None), (64, None), (64, 16), (64, 8))   # (T, checkpoint steps)


def bench_memory(batch: int) -> dict:
    """:func:`step_memory` for each of :data:`MEMORY_RUNS`, each in its own process. glibc's malloc runs
    there with a fixed 1 MiB mmap threshold, so a freed tensor's memory goes back to the system and the
    peak counts live tensors rather than what the allocator happened to keep."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
    rows = []
    for time_steps, steps in MEMORY_RUNS:
        args = [sys.executable, __file__, "--memory-child", f"{time_steps},{batch},{steps or 0}"]
        out = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]["step_adds_mib"]
    for row in rows:
        row["over_t16"] = row["step_adds_mib"] / base
    return {"case": "memory", "model": "SDMFormer-2-64", "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default=os.environ.get("SPIKINGJELLY_PYTHON"),
                        help="python of the venv that has SpikingJelly 2.0 (default $SPIKINGJELLY_PYTHON)")
    parser.add_argument("--batch", type=int, default=2, help="samples per step (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per case (default 5)")
    parser.add_argument("--memory-batch", type=int, default=2, help="samples per step of the memory case")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "models.json"))
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    add_allocator_options(parser, peer=True)
    args = parser.parse_args()
    if args.memory_child:
        time_steps, batch, steps = map(int, args.memory_child.split(","))
        print(json.dumps(step_memory(time_steps, batch, steps or None)))
        return
    use_allocator(args)   # the memory children keep torch's allocator: they count live tensors
    shape = (16, args.batch, 2, 128, 128)
    peer = Peer.start(args.peer_python, torch.get_num_threads(), args.peer_malloc == "keep")
    try:
        train = bench_train_step(shape, peer, args.repeat)
    finally:
        if peer:
            peer.close()
    infer = bench_inference(shape, args.repeat)
    memory = bench_memory(args.memory_batch)

    print(f"threads {torch.get_num_threads()}, T = 16, B = {args.batch}, 128 px, 2 channels, {args.repeat} rounds, "
          f"allocator {args.allocator}, SpikingJelly's malloc {args.peer_malloc}")
    print(f"Spikformer-2-256 training step (parameters: {train['parameters']})")
    for name, seconds in train["seconds_median"].items():
        ratio = train.get("speedup_vs_spikingjelly", {}).get(name)
        print(f"  {name:20} {seconds:7.3f} s  {train['img_per_s'][name]:6.2f} img/s"
              + (f"  {ratio:.2f}× SpikingJelly" if ratio else ""))
    print("SDMFormer-2-256 inference: " + ", ".join(f"{n} {v:.2f} img/s" for n, v in infer["img_per_s"].items())
          + f" (logits differ by at most {infer['max_abs_logit_diff']:.1e})")
    print(f"SDMFormer-2-64 training step, memory it adds (B = {args.memory_batch}):")
    for row in memory["rows"]:
        label = f"T = {row['time_steps']}" + (f", checkpointed every {row['checkpoint_steps']}"
                                               if row["checkpoint_steps"] else "")
        print(f"  {label:34} {row['step_adds_mib']:8.0f} MiB = {row['over_t16']:.2f}× T = 16 "
              f"(peak RSS {row['peak_mib']:.0f} MiB), {row['seconds']:.2f} s")
    record = {"threads": torch.get_num_threads(), "machine": platform.platform(), "torch": torch.__version__,
              "allocator": args.allocator, "peer_malloc": args.peer_malloc, "rows": [train, infer, memory]}
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
