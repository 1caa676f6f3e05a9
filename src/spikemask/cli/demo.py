"""``spikemask demo``: the main job, end to end on bundled MNIST on a CPU.

1. Train a small QCFS VGG-16 (quarter width, L = 4; the unmasked teacher).
2. For each masking ratio > 0, fine-tune a copy with Random Spike Masking, distilled from the
   teacher (MST §4.3).
3. Convert each to an IF-neuron SNN, simulate T steps on the test split, count spikes.
4. Print a Table-3-style table and write ``metrics.json``, ``accuracy_vs_T.png`` and
   ``power_vs_mask_ratio.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from torch.utils.data import DataLoader

from spikemask.convert.conversion import load_model
from spikemask.convert.conversion import convert
from spikemask.data import get_dataset
from spikemask.measure.evaluation import evaluate_snn
from spikemask.io import write_json
from spikemask.report.plots import plot_accuracy_vs_steps, plot_power_vs_ratio
from spikemask.report.tables import table3
from spikemask.train.config import TrainConfig
from spikemask.train.trainer import evaluate_accuracy, pick_device, train
from spikemask.cli.common import mask_ratio, parse_options, positive_int

DEFAULT_OPTIONS = ["width=0.25", "levels=4"]   # VGG-16 at a quarter width, QCFS with L = 4


def train_models(args: argparse.Namespace, out: Path) -> dict[float, Path]:
    """Train the teacher and the masked students; returns checkpoint paths by ratio."""
    common = dict(model=args.model, dataset=args.dataset, root=args.root,
                  model_options=parse_options(args.opt or DEFAULT_OPTIONS),
                  batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                  progress=not args.no_progress, max_batches=args.max_batches)
    paths = {0.0: out / "ratio_0" / "checkpoint.pt"}
    common["resume"] = args.resume and paths[0.0].exists()
    print(f"[1/3] training the unmasked {args.model} ({args.epochs} epochs)", flush=True)
    train(TrainConfig(out=str(paths[0.0].parent), epochs=args.epochs, **common))
    for r in (r for r in args.ratios if r > 0):
        paths[r] = out / f"ratio_{round(100 * r)}" / "checkpoint.pt"
        common["resume"] = args.resume and paths[r].exists()
        print(f"[2/3] fine-tuning with {100 * r:.0f} % Random Spike Masking, distilled from the teacher "
              f"({args.finetune_epochs} epochs)", flush=True)
        train(TrainConfig(out=str(paths[r].parent), epochs=args.finetune_epochs, init=str(paths[0.0]),
                          teacher=str(paths[0.0]), mask_ratio=r, mask_seed=args.seed,
                          **{**common, "lr": args.lr * args.finetune_lr_scale}))
    return paths


def evaluate_models(args: argparse.Namespace, paths: dict[float, Path]) -> list[dict]:
    device = pick_device(args.device)
    loader = DataLoader(get_dataset(args.dataset, root=args.root, train=False, augment=False).dataset, 250)
    rows = []
    for r, path in sorted(paths.items()):
        print(f"[3/3] simulating the SNN with {100 * r:.0f} % masking for T={args.time_steps}", flush=True)
        ann = load_model(path).to(device)
        snn_result = evaluate_snn(convert(ann), loader, args.time_steps, device, mask_seed=args.seed,
                                  max_batches=args.max_batches, progress=not args.no_progress)
        energy = snn_result["energy"]
        rows.append({"model": ann.model_name, "mask_ratio": r, "checkpoint": str(path),
                     "ann_accuracy": evaluate_accuracy(ann, loader, device, args.max_batches),
                     "snn_accuracy": {str(t): a for t, a in snn_result["accuracy_by_step"].items()},
                     "spikes_per_image": energy["spikes_per_image"], "spikes_per_step": energy["spikes_per_step"],
                     "sops_per_image": energy["sops_per_image"], "power_alpha_watts": energy["power_alpha_watts"]})
    base = next(row for row in rows if row["mask_ratio"] == 0)["power_alpha_watts"]
    for row in rows:
        row["power_ratio"] = row["power_alpha_watts"] / base
    return rows


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    args.ratios = sorted(set([0.0] + list(args.ratios)))
    rows = evaluate_models(args, train_models(args, out))
    print("\n" + table3(rows, args.time_steps))
    write_json(out / "metrics.json", {"dataset": args.dataset, "time_steps": args.time_steps,
                                      "energy_model": "P = spikes per time step / 1 ms × α (MST eq. 10), α = 1",
                                      "results": rows})
    plot_accuracy_vs_steps({f"{100 * r['mask_ratio']:.0f}% masked": {int(t): a for t, a in r["snn_accuracy"].items()}
                            for r in rows}, out / "accuracy_vs_T.png",
                           {f"{100 * r['mask_ratio']:.0f}% masked": r["ann_accuracy"] for r in rows})
    plot_power_vs_ratio([r["mask_ratio"] for r in rows], [r["power_alpha_watts"] for r in rows],
                        [r["snn_accuracy"][str(args.time_steps)] for r in rows], out / "power_vs_mask_ratio.png",
                        f"{rows[0]['model']} on {args.dataset}, T={args.time_steps}")
    print(f"\nwrote {out}/metrics.json, accuracy_vs_T.png, power_vs_mask_ratio.png and one run folder per ratio")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train, mask, convert and measure a small VGG on bundled MNIST (the main job)",
                       description=__doc__.split("\n\n")[0] + " Steps: " + " ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--model", default="vgg16", help="conversion model (default vgg16)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", default=None,
                   help="model option, repeatable (default: " + " ".join(DEFAULT_OPTIONS) + ")")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--root", help="dataset folder (not needed for mnist)")
    p.add_argument("--epochs", type=positive_int, default=8, help="teacher training epochs (default 8)")
    p.add_argument("--finetune-epochs", type=positive_int, default=2, help="masked fine-tune epochs (default 2)")
    p.add_argument("--finetune-lr-scale", type=float, default=0.2, help="fine-tune lr = lr × this (default 0.2)")
    p.add_argument("--ratios", type=mask_ratio, nargs="+", default=[0.0, 0.5, 0.75], help="masking ratios")
    p.add_argument("--time-steps", "-T", type=positive_int, default=32, help="SNN time steps (default 32)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-batches", type=positive_int, help="cap batches per epoch and per evaluation (quick checks)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo from the checkpoints in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
