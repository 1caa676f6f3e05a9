"""``spikemask evaluate``: ANN and converted-SNN accuracy (at t = 1, 2, 4, ..., T) and energy of a checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from spikemask.cli.common import add_data_args, add_snn_args, load_for_eval
from spikemask.cli.options import config_from_args
from spikemask.convert.conversion import check_input, convert
from spikemask.convert.simulate import cumulative_mean, simulate
from spikemask.errors import SpikemaskError, check
from spikemask.io import write_json
from spikemask.measure.evaluation import evaluate_snn
from spikemask.report.plots import plot_accuracy_vs_steps
from spikemask.studies.common import DataSettings, test_loader
from spikemask.train.trainer import evaluate_accuracy, pick_device


def load_input(path: str) -> torch.Tensor:
    """A user tensor file (``.pt`` or ``.npy``) of images ``[B, C, H, W]`` (or one ``[C, H, W]``)."""
    p = Path(path)
    check(p.is_file(), f"input file not found: {p}")
    try:
        x = torch.as_tensor(np.load(p)) if p.suffix == ".npy" else torch.load(p, map_location="cpu")
    except Exception as e:
        raise SpikemaskError(f"cannot read {p} as a .npy or torch tensor file ({type(e).__name__})") from None
    check(isinstance(x, torch.Tensor), f"{p} does not hold a tensor")
    return (x.unsqueeze(0) if x.dim() == 3 else x).float()


def predict(args: argparse.Namespace, model) -> int:
    x = load_input(args.input)
    check_input(model, x)
    ann = model(x[None])[0].argmax(-1)                                 # the ANN: T = 1
    snn = convert(model, hold_masks=args.hold_masks)
    snn_logits = cumulative_mean(simulate(snn, x, args.time_steps, args.time_chunk))[-1]
    for i, (a, s) in enumerate(zip(ann.tolist(), snn_logits.argmax(-1).tolist())):
        print(f"image {i}: ANN class {a}, SNN class {s} (T={args.time_steps})")
    return 0


def run(args: argparse.Namespace) -> int:
    model, ckpt = load_for_eval(args)
    if args.input:
        return predict(args, model)
    device = pick_device(args.device)
    loader = test_loader(model, config_from_args(args, DataSettings))
    ann_acc = None if ckpt.get("converted") else \
        evaluate_accuracy(model.to(device), loader, device, args.max_batches)   # the SNN's images only
    snn = convert(model, hold_masks=args.hold_masks)
    result = evaluate_snn(snn, loader, args.time_steps, device, args.time_chunk, args.alpha,
                          args.mask_seed, args.max_batches, progress=not args.no_progress)
    energy = result["energy"]
    if ann_acc is not None:
        print(f"ANN accuracy: {100 * ann_acc:.2f} %")
    print("SNN accuracy: " + ", ".join(f"T={t}: {100 * a:.2f} %" for t, a in result["accuracy_by_step"].items()))
    print(f"spikes per image: {energy['spikes_per_image']:.4g} over T={args.time_steps}; "
          f"power {energy['power_alpha_watts']:.4g} α W")
    out = Path(args.out)
    write_json(out / "metrics.json", {"checkpoint": str(args.checkpoint), "model": model.model_name,
                                      "model_options": model.model_options, "mask": model.mask_setting,
                                      "ann_accuracy": ann_acc, **result})
    plot_accuracy_vs_steps({model.model_name: result["accuracy_by_step"]}, out / "accuracy_vs_T.png",
                           {model.model_name: ann_acc} if ann_acc is not None else None)
    print(f"wrote {out}/metrics.json and accuracy_vs_T.png")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ANN and SNN accuracy for t = 1, 2, 4, ..., T and spike energy",
                       description="Convert a checkpoint and evaluate it as an SNN on a test set, or classify "
                                   "images from --input.")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt from `spikemask train` or `convert`")
    p.add_argument("--out", default="runs/evaluate", help="folder for metrics.json and plots")
    p.add_argument("--input", help="classify images from a .pt/.npy tensor [B, C, H, W] instead of a dataset")
    add_data_args(p)
    add_snn_args(p)
    p.set_defaults(func=run)
