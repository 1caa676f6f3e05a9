"""``spikemask mst``: MST studies (Figs. 5–7, Table 3), spike activation maps and pretrained Swin weights.

Subcommands (each writes JSON and PNG files into ``--out``)::

    mst studies time      accuracy vs T for several masking ratios
    mst studies ratio     accuracy and power vs masking ratio, SA and MLP separately, mean ± std over seeds (Fig. 5a-b)
    mst studies blocks    accuracy vs number of masked blocks (Fig. 6)
    mst studies variants  the same checkpoint with other options (softmax='none', product='rate', ...)
    mst studies table3    power (α W) and accuracy at 0/50/75 % for MST, ResNet-18 and VGG-16 (Table 3)
    mst sam               spike activation maps for several masking ratios and time steps (Fig. 7)
    mst load-pretrained   start a checkpoint from timm/Microsoft Swin weights

``--checkpoint`` takes one checkpoint, used for every ratio, or one per ratio (in ``--ratios``
order; MST §4.3 fine-tunes a masked student per ratio). Masks: before each evaluation every mask is
set to 0, then the studied placement gets its ratio — for MST the ``--parts`` globs
(:data:`~spikemask.models.mst.swin.MASK_PARTS`), for other models every mask (Table 3 masks
"each block" of ResNet/VGG).
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from spikemask.checkpoint import build_model, load_checkpoint, save_checkpoint
from spikemask.convert.conversion import load_model
from spikemask.convert.conversion import convert
from spikemask.errors import check
from spikemask.measure.evaluation import evaluate_snn
from spikemask.io import write_json
from spikemask.masks.placement import set_mask_ratio
from spikemask.models import create_model
from spikemask.models.mst.swin import MSTSwin
from spikemask.masks.placement import MASK_PARTS, mask_blocks, part_globs
from spikemask.report.plots import plot_accuracy_vs_steps, plt, save_figure
from spikemask.models.mst.pretrained import load_swin_weights
from spikemask.report.tables import mean_std
from spikemask.measure.sam import plot_sam_grid, record_spikes, sam, spatial, to_image
from spikemask.train.trainer import evaluate_accuracy, pick_device
from spikemask.cli.common import (add_data_args, add_hold_masks_arg, add_override_arg, mask_ratio, parse_options,
                                  positive_int)
from spikemask.cli.evaluate import test_loader


# ----------------------------------------------------------------------------- shared helpers
def pair_checkpoints(checkpoints: Sequence[str], ratios: Sequence[float]) -> list[tuple[float, str]]:
    """``(ratio, checkpoint)`` pairs: one checkpoint for all ratios, or one per ratio."""
    check(len(checkpoints) in (1, len(ratios)),
          f"give one --checkpoint for all ratios or one per ratio ({len(ratios)}), not {len(checkpoints)}")
    return list(zip(ratios, list(checkpoints) * len(ratios) if len(checkpoints) == 1 else checkpoints))


def load_snn(path: str, hold_masks: bool = False, options: list[str] | None = None) -> nn.Module:
    """A checkpoint's model rebuilt with ``options`` (``KEY=VALUE``), converted, with every mask at 0."""
    snn = load_model(path, spiking=True, hold_masks=hold_masks, options=parse_options(options))
    set_mask_ratio(snn, 0.0, "*")
    return snn


def placement(model: nn.Module, parts: Sequence[str]) -> list[str]:
    """Mask globs the study masks: MST ``parts``, every mask of other models."""
    return part_globs(parts) if isinstance(model, MSTSwin) else ["*"]


def loader_for(model: nn.Module, args: argparse.Namespace) -> DataLoader:
    """The test split (first ``--limit`` images if given)."""
    loader = test_loader(model, args)
    if args.limit:
        loader = DataLoader(Subset(loader.dataset, range(min(args.limit, len(loader.dataset)))), args.batch_size)
    return loader


def run_snn(snn: nn.Module, loader: DataLoader, args: argparse.Namespace, seed: int | None) -> dict[str, Any]:
    """:func:`~spikemask.measure.evaluation.evaluate_snn` with the study's T, device and α."""
    return evaluate_snn(snn, loader, args.time_steps, pick_device(args.device), args.time_chunk, args.alpha,
                        mask_seed=seed, progress=not args.no_progress)


def seeds_for(ratio: float, seeds: Sequence[int]) -> list[int]:
    """Ratio 0 draws no random numbers, so one run is enough."""
    return list(seeds) if ratio > 0 else list(seeds[:1])


def masked_runs(snn: nn.Module, loader: DataLoader, args: argparse.Namespace, where: list[str],
                ratio: float) -> list[dict[str, Any]]:
    """Evaluate ``snn`` with masks ``where`` at ``ratio`` once per seed; one row per seed."""
    set_mask_ratio(snn, 0.0, "*")
    if ratio > 0:
        set_mask_ratio(snn, ratio, where)
    rows = []
    for seed in seeds_for(ratio, args.seeds):
        result = run_snn(snn, loader, args, seed)
        rows.append({"ratio": ratio, "seed": seed, "accuracy": result["accuracy"],
                     "accuracy_by_step": result["accuracy_by_step"],
                     "power_alpha_watts": result["energy"]["power_alpha_watts"],
                     "spikes_per_image": result["energy"]["spikes_per_image"]})
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of accuracy and power."""
    return {"accuracy": mean_std([r["accuracy"] for r in rows]),
            "power_alpha_watts": mean_std([r["power_alpha_watts"] for r in rows]), "runs": len(rows)}


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The command-line settings worth recording next to the results."""
    keep = ("checkpoint", "dataset", "time_steps", "ratios", "ratio", "parts", "seeds", "limit", "alpha",
            "hold_masks", "opt", "mst_opt")
    return {k: getattr(args, k) for k in keep if hasattr(args, k)}


def finish(args: argparse.Namespace, name: str, payload: dict[str, Any]) -> Path:
    """Write ``--out/<name>.json`` (settings + ``payload``) and return the output folder."""
    out = Path(args.out)
    write_json(out / f"{name}.json", {"settings": settings(args), **payload})
    return out


def errorbar_plot(curves: dict[str, tuple[list[float], list[dict[str, float]]]], xlabel: str, ylabel: str,
                  title: str, path: Path, scale: float = 100.0) -> Path:
    """One line per label: ``(x values, [{"mean", "std"}, ...])``, with error bars."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, (xs, ys) in curves.items():
        ax.errorbar(xs, [scale * y["mean"] for y in ys], yerr=[scale * y["std"] for y in ys], marker="o",
                    capsize=3, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- studies
def study_time(args: argparse.Namespace) -> int:
    """Accuracy after t = 1, 2, 4, ..., T steps for each masking ratio (mean over seeds)."""
    rows, curves = [], {}
    for ratio, path in pair_checkpoints(args.checkpoint, args.ratios):
        snn = load_snn(path, args.hold_masks, args.opt)
        runs = masked_runs(snn, loader_for(snn, args), args, placement(snn, args.parts), ratio)
        rows += runs
        label = f"mask {100 * ratio:g} %"
        steps = runs[0]["accuracy_by_step"]
        curves[label] = {t: statistics.fmean(r["accuracy_by_step"][t] for r in runs) for t in steps}
        print(f"{label}: " + ", ".join(f"T={t}: {100 * a:.2f}%" for t, a in curves[label].items()))
    out = finish(args, "time", {"runs": rows, "mean_accuracy_by_step": curves})
    plot_accuracy_vs_steps(curves, out / "time.png")
    print(f"wrote {out}/time.json and time.png")
    return 0


def study_ratio(args: argparse.Namespace) -> int:
    """Fig. 5(a-b): accuracy and power vs ratio, each MST part masked alone, mean ± std over seeds."""
    results: dict[str, list[dict[str, Any]]] = {}
    for part in args.parts:
        results[part] = []
        for ratio, path in pair_checkpoints(args.checkpoint, args.ratios):
            snn = load_snn(path, args.hold_masks, args.opt)
            runs = masked_runs(snn, loader_for(snn, args), args, placement(snn, [part]), ratio)
            summary = {"ratio": ratio, **summarise(runs), "seeds": runs}
            results[part].append(summary)
            print(f"{part} ratio {ratio}: accuracy {100 * summary['accuracy']['mean']:.2f} ± "
                  f"{100 * summary['accuracy']['std']:.2f} %, power {summary['power_alpha_watts']['mean']:.4g} α W")
    out = finish(args, "ratio", {"results": results})
    xs = [100 * r for r in args.ratios]
    errorbar_plot({p: (xs, [s["accuracy"] for s in rows]) for p, rows in results.items()},
                  "masking ratio (%)", "accuracy (%)", "accuracy vs masking ratio", out / "ratio_accuracy.png")
    errorbar_plot({p: (xs, [s["power_alpha_watts"] for s in rows]) for p, rows in results.items()},
                  "masking ratio (%)", "power (α W)", "power vs masking ratio", out / "ratio_power.png", scale=1.0)
    print(f"wrote {out}/ratio.json, ratio_accuracy.png and ratio_power.png")
    return 0


def study_blocks(args: argparse.Namespace) -> int:
    """Fig. 6: mask the ``--parts`` of the first k blocks at ``--ratio``, k = 0..all blocks."""
    snn = load_snn(args.checkpoint[0], args.hold_masks, args.opt)
    check(isinstance(snn, MSTSwin), "the blocks study needs an mst_swin_* checkpoint")
    loader = loader_for(snn, args)
    rows = []
    for k in range(len(snn.blocks()) + 1):
        mask_blocks(snn, args.ratio, k, args.parts)
        seeds = seeds_for(args.ratio if k else 0.0, args.seeds)
        runs = [run_snn(snn, loader, args, seed)["accuracy"] for seed in seeds]
        rows.append({"masked_blocks": k, "accuracy": mean_std(runs), "seeds": runs})
        print(f"first {k} blocks masked: {100 * rows[-1]['accuracy']['mean']:.2f} %")
    out = finish(args, "blocks", {"results": rows})
    errorbar_plot({"+".join(args.parts): ([r["masked_blocks"] for r in rows], [r["accuracy"] for r in rows])},
                  "masked blocks (from the first)", "accuracy (%)", f"masking ratio {100 * args.ratio:g} %",
                  out / "blocks.png")
    print(f"wrote {out}/blocks.json and blocks.png")
    return 0


def study_variants(args: argparse.Namespace) -> int:
    """ANN and SNN accuracy of one checkpoint rebuilt with other model options (same weights)."""
    ckpt = load_checkpoint(args.checkpoint[0])
    rows, curves, ann = [], {}, {}
    device = pick_device(args.device)
    for variant in ["(as trained)"] + args.variant:
        override = parse_options(variant.split(",")) if variant != "(as trained)" else {}
        model = build_model(ckpt, override).eval().to(device)
        loader = loader_for(model, args)
        ann[variant] = evaluate_accuracy(model, loader, device)
        snn = convert(model, hold_masks=args.hold_masks)
        set_mask_ratio(snn, 0.0, "*")
        result = run_snn(snn, loader, args, None)
        curves[variant] = result["accuracy_by_step"]
        rows.append({"variant": variant, "options": override, "ann_accuracy": ann[variant], **result})
        print(f"{variant}: ANN {100 * ann[variant]:.2f} %, SNN T={args.time_steps} {100 * result['accuracy']:.2f} %")
    out = finish(args, "variants", {"results": rows})
    plot_accuracy_vs_steps(curves, out / "variants.png", ann)
    print(f"wrote {out}/variants.json and variants.png")
    return 0


def study_table3(args: argparse.Namespace) -> int:
    """Table 3: power (α W, ×ratio to 0 %) and accuracy (Δ to 0 %) per model and masking ratio."""
    families = {"MST": args.mst, "ResNet-18": args.resnet18, "VGG-16": args.vgg16}
    check(any(families.values()), "give at least one of --mst, --resnet18, --vgg16 (checkpoint paths)")
    table: dict[str, list[dict[str, Any]]] = {}
    for family, checkpoints in families.items():
        if not checkpoints:
            continue
        table[family] = []
        for ratio, path in pair_checkpoints(checkpoints, args.ratios):
            snn = load_snn(path, args.hold_masks, args.mst_opt if family == "MST" else None)
            runs = masked_runs(snn, loader_for(snn, args), args, placement(snn, args.parts), ratio)
            table[family].append({"ratio": ratio, "checkpoint": path, **summarise(runs)})
        base = table[family][0]
        for row in table[family]:
            row["power_ratio"] = row["power_alpha_watts"]["mean"] / base["power_alpha_watts"]["mean"]
            row["accuracy_delta"] = row["accuracy"]["mean"] - base["accuracy"]["mean"]
    lines = ["| Model | Random ratio | P (α W) | Accuracy (%) |", "|---|---|---|---|"]
    for family, rows in table.items():
        for row in rows:
            lines.append(f"| {family} | {100 * row['ratio']:g}% | {row['power_alpha_watts']['mean']:.4g} "
                         f"(×{row['power_ratio']:.2f}) | {100 * row['accuracy']['mean']:.2f} "
                         f"({100 * row['accuracy_delta']:+.2f}) |")
    out = finish(args, "table3", {"table": table})
    (out / "table3.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}/table3.json and table3.md")
    return 0


# ----------------------------------------------------------------------------- SAM and pretrained weights
def run_sam(args: argparse.Namespace) -> int:
    """Fig. 7: SAM of one test image per layer, rows = masking ratios, columns = time steps."""
    steps = args.steps or [args.time_steps]
    check(all(1 <= s <= args.time_steps for s in steps), f"--steps must lie in 1..T={args.time_steps}")
    per_layer: dict[str, dict[str, torch.Tensor]] = {}
    for ratio, path in pair_checkpoints(args.checkpoint, args.ratios):
        snn = load_snn(path, args.hold_masks, args.opt)
        dataset = loader_for(snn, args).dataset
        check(0 <= args.index < len(dataset), f"--index must be in [0, {len(dataset) - 1}]")
        image = dataset[args.index][0]
        if ratio > 0:
            set_mask_ratio(snn, ratio, placement(snn, args.parts), seed=args.seeds[0])
        spikes = record_spikes(snn, image.unsqueeze(0), args.time_steps, args.sites)
        pad = getattr(snn, "input_pad", (0, 0))
        for layer, s in spikes.items():
            maps = to_image(sam(spatial(s), args.gamma)[:, 0], snn.img_size, pad)
            per_layer.setdefault(layer, {})[f"{100 * ratio:g} %"] = maps
    out = Path(args.out)
    files = {}
    for layer, maps in per_layer.items():
        files[layer] = str(plot_sam_grid(image, maps, steps, f"SAM {layer} (γ={args.gamma})",
                                         out / f"sam_{layer.replace('.', '_')}.png"))
    write_json(out / "sam.json", {"settings": settings(args), "index": args.index, "steps": steps,
                                  "gamma": args.gamma, "files": files})
    print(f"wrote {len(files)} SAM images and sam.json to {out}")
    return 0


def run_load_pretrained(args: argparse.Namespace) -> int:
    """Build an MST model, load Swin weights where shapes agree, save a checkpoint and the report."""
    model = create_model(args.model, num_classes=args.num_classes, in_channels=args.in_channels,
                         img_size=args.img_size, **parse_options(args.opt))
    report = load_swin_weights(model, args.weights)
    print(report.summary())
    out = Path(args.out)
    save_checkpoint(out / "checkpoint.pt", model, pretrained_from=str(args.weights))
    write_json(out / "pretrained_report.json", report.to_dict())
    print(f"wrote {out}/checkpoint.pt (use `spikemask train --init` to fine-tune) and pretrained_report.json")
    return 0


# ----------------------------------------------------------------------------- argument parsing
def add_checkpoint_arg(p: argparse.ArgumentParser, per_ratio: bool) -> None:
    p.add_argument("--checkpoint", nargs="+" if per_ratio else 1, required=True,
                   help="checkpoint.pt (one, or one per --ratios entry)" if per_ratio else "checkpoint.pt")


def add_mask_args(p: argparse.ArgumentParser, ratios: list[float] | None, parts: list[str]) -> None:
    """``--ratios`` (if ``ratios`` is given), ``--parts`` and ``--seeds``."""
    if ratios is not None:
        p.add_argument("--ratios", nargs="+", type=mask_ratio, default=ratios,
                       help=f"masking ratios (default {' '.join(map(str, ratios))})")
    p.add_argument("--parts", nargs="+", choices=list(MASK_PARTS), default=parts,
                   help=f"MST mask placements: sa = Q, K and attention-score spikes; mlp = output of the first "
                        f"MLP linear (default {' '.join(parts)}); other models mask every site")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="mask seeds; mean ± std over them (default 0)")


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Data, simulation and output options shared by every study."""
    add_data_args(p)
    p.add_argument("--time-steps", "-T", type=positive_int, default=64, help="simulation length T (default 64)")
    p.add_argument("--time-chunk", type=positive_int, help="steps per forward call, to bound memory")
    p.add_argument("--limit", type=positive_int, help="use only the first N test images (quick runs)")
    add_hold_masks_arg(p)
    p.add_argument("--alpha", type=float, default=1.0, help="energy per spike in J, P = spikes/1 ms × α (default 1)")
    p.add_argument("--out", default="runs/mst", help="output folder (default runs/mst)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    mst = sub.add_parser("mst", help="MST studies (Figs. 5-7, Table 3), spike activation maps, pretrained Swin",
                         description=__doc__.splitlines()[0].split(": ", 1)[-1])
    mst_sub = mst.add_subparsers(dest="mst_command", metavar="SUBCOMMAND", required=True)
    studies = mst_sub.add_parser("studies", help="masking studies of converted SNNs").add_subparsers(
        dest="study", metavar="STUDY", required=True)

    p = studies.add_parser("time", help="accuracy vs T for several masking ratios")
    add_checkpoint_arg(p, per_ratio=True)
    add_mask_args(p, [0.0, 0.5, 0.75], ["sa"])
    add_run_args(p)
    add_override_arg(p)
    p.set_defaults(func=study_time)

    p = studies.add_parser("ratio", help="accuracy and power vs masking ratio per part, mean ± std over seeds")
    add_checkpoint_arg(p, per_ratio=True)
    add_mask_args(p, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], ["sa", "mlp"])
    add_run_args(p)
    add_override_arg(p)
    p.set_defaults(func=study_ratio)

    p = studies.add_parser("blocks", help="accuracy vs number of masked blocks (the first k)")
    add_checkpoint_arg(p, per_ratio=False)
    p.add_argument("--ratio", type=mask_ratio, default=0.75, help="masking ratio of the masked blocks (default 0.75)")
    add_mask_args(p, None, ["sa"])
    add_run_args(p)
    add_override_arg(p)
    p.set_defaults(func=study_blocks)

    p = studies.add_parser("variants", help="one checkpoint rebuilt with other options, e.g. softmax=none")
    add_checkpoint_arg(p, per_ratio=False)
    p.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                   help="option overrides, repeatable (e.g. --variant product=rate --variant softmax=none)")
    add_run_args(p)
    p.set_defaults(func=study_variants)

    p = studies.add_parser("table3", help="Table 3: power and accuracy at 0/50/75 %% for MST, ResNet-18, VGG-16")
    p.add_argument("--mst", nargs="+", help="mst_swin_* checkpoint(s): one, or one per ratio")
    p.add_argument("--resnet18", nargs="+", help="resnet18 checkpoint(s): one, or one per ratio")
    p.add_argument("--vgg16", nargs="+", help="vgg16 checkpoint(s): one, or one per ratio")
    p.add_argument("--mst-opt", action="append", metavar="KEY=VALUE", help="override a saved option of the "
                   "--mst checkpoints, repeatable (e.g. product=rate)")
    add_mask_args(p, [0.0, 0.5, 0.75], ["sa"])
    add_run_args(p)
    p.set_defaults(func=study_table3)

    p = mst_sub.add_parser("sam", help="spike activation maps (Fig. 7) as PNGs over a test image")
    add_checkpoint_arg(p, per_ratio=True)
    add_mask_args(p, [0.0, 0.5, 0.75], ["sa"])
    add_run_args(p)
    p.add_argument("--index", type=int, default=0, help="test image index (default 0)")
    p.add_argument("--steps", nargs="+", type=positive_int, help="time steps to show, 1-based (default: T)")
    p.add_argument("--sites", default="*.norm1_site", help="glob of spike sites to map (default '*.norm1_site')")
    p.add_argument("--gamma", type=float, default=0.5, help="SAM kernel decay γ (default 0.5)")
    add_override_arg(p)
    p.set_defaults(func=run_sam)

    p = mst_sub.add_parser("load-pretrained", help="build an MST model from timm/Microsoft Swin weights")
    p.add_argument("--weights", required=True, help="Swin state dict file (.pth/.pt)")
    p.add_argument("--model", default="mst_swin_t", help="registry name (default mst_swin_t)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="model option, repeatable")
    p.add_argument("--num-classes", type=positive_int, default=1000)
    p.add_argument("--in-channels", type=positive_int, default=3)
    p.add_argument("--img-size", type=positive_int, default=224)
    p.add_argument("--out", default="runs/pretrained", help="folder for checkpoint.pt and pretrained_report.json")
    p.set_defaults(func=run_load_pretrained)
