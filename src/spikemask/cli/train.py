"""``spikemask train``: train a model (QCFS ANN for conversion, or a directly trained SNN)."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from spikemask.io import write_json
from spikemask.masks.rsm import MASK_MODES
from spikemask.train.config import TrainConfig
from spikemask.train.trainer import summarize_seeds, train
from spikemask.cli.common import mask_ratio, parse_options, positive_int


def run_seeds(cfg: TrainConfig, seeds: list[int]) -> int:
    """One run per seed in ``OUT/seed_K``, then ``OUT/summary.json`` with mean ± std (Table 4 style)."""
    runs = [train(dataclasses.replace(cfg, seed=s, out=str(Path(cfg.out) / f"seed_{s}"))) for s in seeds]
    summary = summarize_seeds(seeds, runs)
    write_json(Path(cfg.out) / "summary.json", summary)
    print(f"{len(seeds)} seeds: test accuracy {100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} % "
          f"(mean ± std); wrote {cfg.out}/summary.json")
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = TrainConfig(model=args.model, dataset=args.dataset, out=args.out, root=args.root,
                      model_options=parse_options(args.opt), data_options=parse_options(args.data_opt), epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
                      warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
                      mask_ratio=args.mask_ratio, mask_where=args.mask_where, mask_seed=args.mask_seed,
                      mask_mode=args.mask_mode, qcfs_jitter=tuple(args.qcfs_jitter) if args.qcfs_jitter else None,
                      precise_bn=args.precise_bn,
                      init=args.init, teacher=args.teacher, kd_alpha=args.kd_alpha,
                      kd_temperature=args.kd_temperature, seed=args.seed, workers=args.workers,
                      device=args.device, amp=args.amp, resume=args.resume, progress=not args.no_progress,
                      max_batches=args.max_batches)
    if args.seeds:
        return run_seeds(cfg, args.seeds)
    metrics = train(cfg)
    print(f"done: test accuracy {metrics['test_accuracy']:.4f}; wrote {args.out}/checkpoint.pt, metrics.json, "
          "config.json, training.png")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model; writes config.json, checkpoint.pt, metrics.json, training.png",
                       description="Train a registry model on a dataset. Works under `torchrun --nproc_per_node=N`.")
    p.add_argument("--model", default="vgg16", help="registry name (see `spikemask models`)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="model option, repeatable (e.g. width=0.25)")
    p.add_argument("--dataset", default="mnist", help="dataset name (default: bundled mnist)")
    p.add_argument("--root", help="dataset folder (for datasets other than the bundled mnist)")
    p.add_argument("--data-opt", action="append", metavar="KEY=VALUE",
                   help="dataset option, repeatable (e.g. frames=16, layout=channels for event data)")
    p.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=int, default=0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--mask-ratio", type=mask_ratio, default=0.0, help="Random Spike Masking ratio while training")
    p.add_argument("--mask-where", default="*", help="glob of mask names to apply the ratio to (default all)")
    p.add_argument("--mask-seed", type=int, help="seed for reproducible masks")
    p.add_argument("--mask-mode", choices=MASK_MODES, default="random",
                   help="RSM in the ANN: random masks (paper) or scale by 1 - ratio (ours; the SNN always "
                        "masks at random)")
    p.add_argument("--qcfs-jitter", type=positive_int, nargs=2, metavar=("LO", "HI"),
                   help="train every QCFS at a level count L drawn log-uniformly from [LO, HI] per call "
                        "(ours; makes the ANN robust to the SNN's finer resolution; eval uses --opt levels)")
    p.add_argument("--precise-bn", type=int, default=0, metavar="N",
                   help="before each test, re-estimate BatchNorm statistics as the average over N training "
                        "batches (default 0 = keep the moving averages; helps MST, whose BNs sit in the residual stream)")
    p.add_argument("--init", help="start from this checkpoint's weights (e.g. masked fine-tuning)")
    p.add_argument("--teacher", help="distil from this checkpoint (KL·τ² + CE, MST §4.3)")
    p.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the distillation term (default 0.5)")
    p.add_argument("--kd-temperature", type=float, default=4.0, help="distillation temperature τ (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", help="train once per seed into OUT/seed_K and summarise "
                   "accuracy as mean ± std in OUT/summary.json")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (GPU)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--max-batches", type=positive_int, help="batches per epoch cap (quick checks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
