"""Overhead of the recorder on SNN evaluation: ``evaluate_snn`` with counting vs the bare simulation.

For each model (the demo's VGG-16 at quarter width, ``mst_swin_micro``, ``spikformer_2_64``; all on
28-px MNIST-shaped input, random weights unless ``--vgg-checkpoint`` gives trained ones), times the
same batches simulated for ``T`` steps with and without a :class:`~spikemask.measure.Recorder`,
alternating the two ``--repeat`` times (the machine is noisy: the ratio of medians within one run is
the number). Prints a table and writes ``benchmarks/results/recorder_overhead.json``.

    python benchmarks/recorder_overhead.py [-T 32] [--batch 100] [--batches 2] [--repeat 5]
"""
from __future__ import annotations

import statistics
import time

import torch
from common import image_batches, timing_parser, use_allocator, write_record

import spikemask
from spikemask.convert.conversion import convert, load_model
from spikemask.convert.simulate import simulate
from spikemask.measure import Recorder, energy_report


def build(name: str, vgg_checkpoint: str | None) -> torch.nn.Module:
    if name == "vgg16" and vgg_checkpoint:
        return convert(load_model(vgg_checkpoint)).eval()
    options = {"vgg16": dict(width=0.25, levels=4), "mst_swin_micro": {}, "spikformer_2_64": dict(time_steps=4)}
    model = spikemask.create_model(name, in_channels=1, img_size=28, **options[name]).eval()
    return model if name.startswith("spikformer") else convert(model)


@torch.no_grad()
def timed(model: torch.nn.Module, batches: list[torch.Tensor], steps: int, record: bool) -> float:
    start = time.perf_counter()
    if record:
        with Recorder(model) as rec:
            for x in batches:
                simulate(model, x, steps)
        energy_report(rec.measurement(steps))
    else:
        for x in batches:
            simulate(model, x, steps)
    return time.perf_counter() - start


def main() -> None:
    parser = timing_parser(__doc__, "recorder_overhead.json")
    parser.add_argument("--models", nargs="+", default=["vgg16", "mst_swin_micro", "spikformer_2_64"])
    parser.add_argument("--vgg-checkpoint", help="a trained VGG-16 checkpoint (e.g. the demo's ratio_0)")
    args = parser.parse_args()
    use_allocator(args)
    batches = image_batches(args)
    rows = []
    for name in args.models:
        model = build(name, args.vgg_checkpoint)
        timed(model, batches[:1], 2, True)                      # warm-up
        bare, counted = [], []
        for _ in range(args.repeat):
            bare.append(timed(model, batches, args.time_steps, False))
            counted.append(timed(model, batches, args.time_steps, True))
        row = {"model": name, "bare_s": statistics.median(bare), "recorded_s": statistics.median(counted)}
        row["overhead"] = row["recorded_s"] / row["bare_s"] - 1
        rows.append(row)
        print(f"{name:18s} bare {row['bare_s']:7.3f} s   recorded {row['recorded_s']:7.3f} s   "
              f"overhead {100 * row['overhead']:+6.1f} %", flush=True)
    write_record(args, rows)


if __name__ == "__main__":
    main()
