"""Speed of exact conversion: converted evaluation at T steps against the dense bound T × (one ANN pass).

For each model (the demo's VGG-16 at quarter width, L = 4, and ``mst_swin_micro`` with L = 8 and
``product='exact'`` for the signed neurons; 28-px MNIST-shaped input, random weights unless a
checkpoint is given) and each neuron (``if``: MST's IF neurons with ``product='step'``; ``signed``;
``burst:k``), times ``simulate`` over the same batches and one ANN forward pass of them, alternating
``--repeat`` times (the machine is noisy: the ratio of medians within one run is the number).
``ratio`` = SNN time / (T × ANN time). The inputs are the first bundled MNIST test images
(``--inputs mnist``, default: what converted evaluation runs on) or seeded uniform noise
(``--inputs random``). Prints a table and writes ``benchmarks/results/exact_speed.json``.

    python benchmarks/exact_speed.py [-T 32] [--batch 100] [--batches 2] [--repeat 5] [--inputs mnist|random]
"""
from __future__ import annotations

import statistics
import time

import torch
from common import image_batches, timing_parser, use_allocator, write_record

import spikemask
from spikemask.checkpoint import load_checkpoint
from spikemask.convert.conversion import convert
from spikemask.convert.simulate import simulate
from spikemask.data.registry import get_dataset
from spikemask.models.record import build_model

OPTIONS = {"vgg16": dict(width=0.25, levels=4), "mst_swin_micro": dict(levels=8, softmax="none")}


def build_ann(name: str, product: str, checkpoint: str | None) -> torch.nn.Module:
    """The ANN of ``name`` with the attention product ``product`` (MST only), from ``checkpoint`` if given."""
    extra = {"product": product} if name.startswith("mst") else {}
    if checkpoint:
        return build_model(load_checkpoint(checkpoint), extra).eval()
    return spikemask.create_model(name, in_channels=1, img_size=28, **OPTIONS[name], **extra).eval()


def mnist_batches(batch: int, batches: int) -> list[torch.Tensor]:
    """The first ``batch × batches`` bundled MNIST test images, in batches ``[batch, 1, 28, 28]``."""
    test = get_dataset("mnist", train=False).dataset
    images = torch.stack([test[i][0] for i in range(batch * batches)])
    return list(images.split(batch))


@torch.no_grad()
def timed(fn, batches: list[torch.Tensor]) -> float:
    start = time.perf_counter()
    for x in batches:
        fn(x)
    return time.perf_counter() - start


def main() -> None:
    parser = timing_parser(__doc__, "exact_speed.json")
    parser.add_argument("--neurons", nargs="+", default=["if", "signed", "burst:4"])
    parser.add_argument("--vgg-checkpoint", help="a trained VGG-16 checkpoint (e.g. the demo's ratio_0)")
    parser.add_argument("--mst-checkpoint", help="a trained mst_swin_micro checkpoint")
    parser.add_argument("--inputs", choices=("mnist", "random"), default="mnist",
                        help="MNIST test images (default) or uniform noise")
    args = parser.parse_args()
    use_allocator(args)
    batches = mnist_batches(args.batch, args.batches) if args.inputs == "mnist" else image_batches(args)
    steps = args.time_steps
    rows = []
    for name, checkpoint in (("vgg16", args.vgg_checkpoint), ("mst_swin_micro", args.mst_checkpoint)):
        for neuron in args.neurons:
            ann = build_ann(name, "step" if neuron == "if" else "exact", checkpoint)
            snn = convert(ann, neuron=neuron)
            ann_pass = lambda x: ann(x[None])                     # noqa: E731  (T = 1)
            snn_run = lambda x: simulate(snn, x, steps)          # noqa: E731
            timed(snn_run, batches[:1])                          # warm-up
            ann_s, snn_s = [], []
            for _ in range(args.repeat):
                timed(ann_pass, batches)                         # warm: the SNN's memory is handed back
                ann_s.append(timed(ann_pass, batches))           # between runs, so a cold ANN pass
                snn_s.append(timed(snn_run, batches))            # would pay page faults (a looser bound)
            row = {"model": name, "neuron": neuron, "inputs": args.inputs, "ann_s": statistics.median(ann_s),
                   "snn_s": statistics.median(snn_s)}
            row["ratio"] = row["snn_s"] / (steps * row["ann_s"])
            rows.append(row)
            print(f"{name:15s} {neuron:8s} ANN {row['ann_s']:7.3f} s   SNN T={steps} {row['snn_s']:7.3f} s   "
                  f"SNN / (T × ANN) = {row['ratio']:.2f}", flush=True)
    write_record(args, rows)


if __name__ == "__main__":
    main()
