"""NeuroBench 2.3.0 on a converted VGG-16 and on SDMFormer-2-64, its metrics next to our recorder's.

Runs ``neurobench.benchmarks.Benchmark`` (static: footprint, connection sparsity, parameters;
workload: accuracy, activation sparsity, synaptic operations, and the same count per layer) through
:func:`spikemask.measure.neurobench.run_benchmark` on the first ``--images`` bundled MNIST test
images, for

- ``vgg16`` (width ``--vgg-width``, L = 4) converted to IF neurons, T = ``--vgg-T``, as NeuroBench
  sees it (θ-valued spikes: its SynOps books them as MACs) and with ``binary_spikes=True``;
- ``sdmformer_2_64`` (28 px, 1 channel), T = ``--sdm-T``.

Random weights (seeded; BN γ = 3, β = 1 so that every layer fires, accuracy is chance) unless
``--vgg-checkpoint`` / ``--sdm-checkpoint`` give trained ones. Our counts come from the same forward
passes. Prints one table per model and the per-layer reconciliation (which difference explains how
much; at these sizes both counters sum float32 counts above 2²⁴ per call, so "the same ACs" agree
to ~1e-8, not to the op), and writes ``--out`` (default ``benchmarks/results/neurobench.json``). Needs NeuroBench:
``pip install --no-deps neurobench==2.3.0 snntorch==1.0.0``.

    python benchmarks/neurobench_models.py [--images 200] [--batch 50] [--out PATH]
"""
from __future__ import annotations

import argparse
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

import spikemask
from spikemask.convert.conversion import convert, load_model
from spikemask.data import get_dataset
from spikemask.io import write_json
from spikemask.measure.neurobench import compare_synops, neurobench_model, require_neurobench, run_benchmark


def firing(model: nn.Module) -> nn.Module:
    """BN γ = 3, β = 1: every layer of a random network fires."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.fill_(3.0)
                m.bias.fill_(1.0)
    return model


def build_vgg(args: argparse.Namespace) -> nn.Module:
    if args.vgg_checkpoint:
        return convert(load_model(args.vgg_checkpoint)).eval()
    torch.manual_seed(0)
    ann = spikemask.create_model("vgg16", num_classes=10, in_channels=1, img_size=28, width=args.vgg_width, levels=4)
    return convert(firing(ann).eval())


def build_sdm(args: argparse.Namespace) -> nn.Module:
    if args.sdm_checkpoint:
        return load_model(args.sdm_checkpoint).eval()
    torch.manual_seed(0)
    return firing(spikemask.create_model("sdmformer_2_64", num_classes=10, in_channels=1, img_size=28,
                                         time_steps=args.sdm_T)).eval()


def summary(nb: dict[str, Any], ours: Any) -> list[tuple[str, Any, Any]]:
    """``(metric, NeuroBench, spikemask)`` rows, per image over all T steps."""
    synops, n = nb["SynapticOperations"], ours.images
    dense = sum(o.dense_macs for o in ours.ops if not o.folded) / n
    silent = 1 - ours.spikes() / (ours.neurons * ours.time_steps)
    return [("classification accuracy", nb["ClassificationAccuracy"], None),     # of our answers
            ("activation sparsity", nb["ActivationSparsity"], silent),
            ("ACs per image", synops["Effective_ACs"], ours.acs),
            ("MACs per image", synops["Effective_MACs"], ours.macs),
            ("dense ops per image", synops["Dense"], dense),
            ("spikes per image (delivered)", None, ours.spikes()),
            ("neurons", None, ours.neurons),
            ("parameters", nb["ParameterCount"], None),
            ("footprint (bytes)", nb["Footprint"], None),
            ("connection sparsity", nb["ConnectionSparsity"], None),
            ("result", None, ours.verdict)]


def reconcile(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Our ops and NeuroBench's, per image, summed by the reason they differ (``compare_synops``' note)."""
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        g = groups[r["note"]]
        g["layers"] += 1
        g["acs"] += r["acs"]
        g["macs"] += r["macs"]
        g["nb_acs"] += r["nb_acs"] or 0.0
        g["nb_macs"] += r["nb_macs"] or 0.0
    return {note: dict(g) for note, g in groups.items()}


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    if isinstance(value, float) and abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:,.2f}"


def show(name: str, seconds: float, table: list[tuple[str, Any, Any]], groups: dict[str, dict[str, float]]) -> None:
    print(f"\n{name}  ({seconds:.1f} s)")
    print(f"  {'metric':<30}{'NeuroBench':>16}{'spikemask':>16}")
    for metric, nb, ours in table:
        print(f"  {metric:<30}{fmt(nb):>16}{fmt(ours):>16}")
    print(f"  {'per layer, by why the counts differ (layers)':<66}{'ours AC':>12}{'ours MAC':>12}{'NB AC':>12}"
          f"{'NB MAC':>12}")
    for note, g in groups.items():
        label = f"{note} ({g['layers']:.0f})"
        print(f"  {label:<66}{fmt(g['acs']):>12}{fmt(g['macs']):>12}{fmt(g['nb_acs']):>12}{fmt(g['nb_macs']):>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--vgg-width", type=float, default=0.25)
    parser.add_argument("--vgg-T", type=int, default=32)
    parser.add_argument("--sdm-T", type=int, default=4)
    parser.add_argument("--vgg-checkpoint")
    parser.add_argument("--sdm-checkpoint")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "neurobench.json"))
    args = parser.parse_args()
    nb_module = require_neurobench()
    data = get_dataset("mnist", train=False).dataset
    loader = DataLoader(Subset(data, range(min(args.images, len(data)))), batch_size=args.batch)
    example = next(iter(loader))[0]
    vgg = build_vgg(args)
    cases = [("vgg16, IF neurons (θ-valued spikes)", vgg, dict(time_steps=args.vgg_T)),
             ("vgg16, binary_spikes=True", vgg, dict(time_steps=args.vgg_T, binary_spikes=True, example=example)),
             ("sdmformer_2_64", build_sdm(args), {})]
    records = []
    for name, net, options in cases:
        start = time.perf_counter()
        model = neurobench_model(net, **options)
        out = run_benchmark(model, loader)
        seconds = time.perf_counter() - start
        nb, ours = out["neurobench"], out["spikemask"]
        rows = compare_synops(nb, ours, model.net)
        table, groups = summary(nb, ours), reconcile(rows)
        show(name, seconds, table, groups)
        records.append({"name": name, "seconds": seconds, "time_steps": ours.time_steps,
                        "summary": [{"metric": m, "neurobench": a, "spikemask": b} for m, a, b in table],
                        "reconciliation": groups, "layers": rows, "neurobench": nb, "spikemask": ours.to_dict()})
    record = {"images": len(loader.dataset), "batch": args.batch, "neurobench": nb_module.__version__,
              "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.platform(),
              "trained": {"vgg16": bool(args.vgg_checkpoint), "sdmformer_2_64": bool(args.sdm_checkpoint)},
              "models": records}
    print(f"\nwrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
