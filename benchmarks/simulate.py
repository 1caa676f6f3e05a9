"""SNN simulation cost against the dense bound: one ANN forward over T·B images.

A converted SNN that runs T steps on B images does at least the work of the ANN on T·B images
(same layers, same tensor sizes) plus the neurons' scan over T. This benchmark times, for the demo
model (VGG-16, width 0.25, L = 4, MNIST size) at T = 32:

- ``ann_dense_bound``: the ANN forward on a batch of T·B images;
- ``snn_multi_step``: ``simulate`` with all T steps folded into one batch (the default);
- ``snn_chunked_8``: the same in chunks of 8 steps (bounded memory);
- ``snn_single_step``: one call per time step (the slow, SpikingJelly-'s'-mode way).

It prints a table of seconds and ratios to the dense bound, and writes JSON. Run::

    python benchmarks/simulate.py [--checkpoint runs/demo/ratio_0/checkpoint.pt] [--batch 64] [--repeats 3]
        [--allocator cache|system]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from common import add_allocator_options, use_allocator

import spikemask
from spikemask.convert.conversion import convert, load_model
from spikemask.convert.simulate import simulate


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="demo checkpoint (default: the demo architecture, untrained)")
    parser.add_argument("--time-steps", "-T", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "simulate.json"))
    add_allocator_options(parser)
    args = parser.parse_args()
    use_allocator(args)

    if args.checkpoint:
        ann = load_model(args.checkpoint)
    else:
        ann = spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.25, levels=4)
    ann = ann.to(args.device).eval()
    snn = convert(ann)
    T, B = args.time_steps, args.batch
    x = torch.randn(B, ann.in_channels, ann.img_size, ann.img_size, device=args.device)
    dense = x.repeat(T, 1, 1, 1)[None]                     # the ANN once on all T·B images: [1, T·B, ...]

    with torch.no_grad():
        timings = {
            "ann_dense_bound": best_time(lambda: ann(dense), args.repeats),
            "snn_multi_step": best_time(lambda: simulate(snn, x, T), args.repeats),
            "snn_chunked_8": best_time(lambda: simulate(snn, x, T, time_chunk=8), args.repeats),
            "snn_single_step": best_time(lambda: simulate(snn, x, T, time_chunk=1), args.repeats),
        }
    bound = timings["ann_dense_bound"]
    print(f"{ann.model_name} {ann.model_options}, T={T}, B={B}, device={args.device}, "
          f"threads={torch.get_num_threads()}, allocator {args.allocator}")
    print(f"{'variant':18s} {'seconds':>9s} {'÷ dense bound':>14s}")
    for name, sec in timings.items():
        print(f"{name:18s} {sec:9.3f} {sec / bound:14.2f}")
    record = {"model": ann.model_name, "options": ann.model_options, "time_steps": T, "batch": B,
              "device": args.device, "threads": torch.get_num_threads(), "allocator": args.allocator,
              "machine": platform.machine(),
              "torch": torch.__version__, "seconds": timings,
              "ratio_to_dense_bound": {k: v / bound for k, v in timings.items()}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
