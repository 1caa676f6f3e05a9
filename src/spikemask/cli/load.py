"""``spikemask load``: start a spikemask checkpoint from the authors' MST or Spikformer weights.

``--family mst`` reads a checkpoint of bic-L/Masked-Spiking-Transformer (its QCFS Swin, e.g. the
released ``Cifar10_checkpoint.pth``); ``--family spikformer`` one of ZK-Zhou/spikformer
(``cifar10dvs`` or ``cifar10``). The model is built to fit the file (sizes and options read from its
tensors; ``--opt`` / ``--num-classes`` / ``--in-channels`` / ``--img-size`` override them), the
family's filter maps the keys (:mod:`spikemask.models.mst.official`,
:mod:`spikemask.models.spikformer.official`), and ``--out`` receives ``checkpoint.pt`` (for
``convert``, ``evaluate``, ``train --init``) and ``load_report.json`` (every key: loaded, missing,
unexpected, with the reasons). A file of another family, one that fills nothing or has shape
mismatches — and, without ``--allow-partial``, one that leaves keys missing or unexplained — is
refused with one line and nothing is written.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikemask.checkpoint import save_checkpoint
from spikemask.cli.common import add_out_arg, wrote
from spikemask.cli.options import add_options, config_from_args
from spikemask.errors import check, check_limits
from spikemask.io import write_json
from spikemask.models.mst.official import load_official_mst
from spikemask.models.official import detect_family, read_official
from spikemask.models.spikformer.official import load_official_spikformer

LOADERS = {"mst": load_official_mst, "spikformer": load_official_spikformer}


@dataclass
class LoadConfig:
    """The official checkpoint to read and the model to load it into."""

    weights: str = field(metadata={"help": "the authors' checkpoint (.pth): a state dict, or one under "
                                           "'model' / 'state_dict'"})
    family: str | None = field(default=None, metadata={
        "help": "whose layout the weights file has: mst (bic-L/Masked-Spiking-Transformer) or spikformer "
                "(ZK-Zhou/spikformer) (default: told by its keys)", "choices": tuple(LOADERS)})
    model: str | None = field(default=None, metadata={
        "help": "registry name (default: mst_swin_t; for spikformer, spikformer_{depth}_{dim} of the file)"})
    options: dict[str, Any] = field(default_factory=dict, metadata={
        "flags": ("--opt",), "help": "model option on top of those read from the file (e.g. mask_ratio=0.75 "
                                     "for the 75 % MST checkpoints, heads=12)"})
    num_classes: int | None = field(default=None, metadata={"help": "classes (default: from the head)", "min": 1})
    in_channels: int | None = field(default=None, metadata={"help": "input channels (default: from the first conv)",
                                                            "min": 1})
    img_size: int | None = field(default=None, metadata={"help": "input side in pixels (default: the layout's)",
                                                         "min": 1})
    allow_partial: bool = field(default=False, metadata={
        "help": "keep what fits when keys are missing or unexplained (mismatches are always refused)"})


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, LoadConfig)
    check_limits(cfg)
    family = cfg.family or detect_family(read_official(cfg.weights)[0])
    check(family in LOADERS, f"{cfg.weights} is in neither the official MST nor the official Spikformer layout "
                             f"(its keys look like {family or 'neither'}); pass --family to say which it is")
    model = cfg.model or ("mst_swin_t" if family == "mst" else None)
    net, report = LOADERS[family](cfg.weights, model=model, options=cfg.options, num_classes=cfg.num_classes,
                                      in_channels=cfg.in_channels, img_size=cfg.img_size,
                                      allow_partial=cfg.allow_partial)
    print(report.summary())
    out = Path(args.out)
    save_checkpoint(out / "checkpoint.pt", net, official_from=str(cfg.weights), official_layout=report.source)
    print(wrote([out / "checkpoint.pt", write_json(out / "load_report.json", report.to_dict())]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="start a checkpoint from the authors' MST or Spikformer weights",
                       description="Build our model to fit an official MST (bic-L) or Spikformer (ZK-Zhou) "
                                   "checkpoint, map its keys, load it and report every key; write checkpoint.pt "
                                   "and load_report.json.")
    add_options(p, LoadConfig)
    add_out_arg(p, "runs/load", "folder for checkpoint.pt and load_report.json")
    p.set_defaults(func=run)
