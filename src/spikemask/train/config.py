"""The configuration of a training run (saved as ``config.json``).

Each field's ``metadata`` holds its help text and limits; ``spikemask train`` makes its flags
from them (:mod:`spikemask.cli.options`), so every default is written only here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from spikemask.errors import check_limits, check_option, check_seed, number_in
from spikemask.masks.rsm import MASK_MODES, check_ratio
from spikemask.snn.qcfs import check_level_range

OPTIMIZERS = ("sgd", "adamw")


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as ``config.json``."""

    model: str = field(default="vgg16", metadata={"help": "registry name (see `spikemask models`)"})
    dataset: str = field(default="mnist", metadata={"help": "dataset name"})
    out: str = field(default="runs/train", metadata={"help": "run folder"})
    root: str | None = field(default=None, metadata={
        "help": "dataset folder (for datasets other than the bundled mnist)"})
    model_options: dict[str, Any] = field(default_factory=dict, metadata={
        "flags": ("--opt",), "help": "model option (e.g. width=0.25)"})
    data_options: dict[str, Any] = field(default_factory=dict, metadata={
        "flags": ("--data-opt",), "help": "dataset option (e.g. frames=16, layout=channels for event data)"})
    epochs: int = field(default=10, metadata={"help": "training epochs", "min": 1})
    batch_size: int = field(default=128, metadata={"help": "training batch size (over all processes)", "min": 1})
    optimizer: str = field(default="sgd", metadata={"help": "optimizer", "choices": OPTIMIZERS})
    lr: float = field(default=0.05, metadata={"help": "peak learning rate (cosine schedule)"})
    weight_decay: float = field(default=5e-4, metadata={"help": "weight decay of the weights (not of 1-D parameters)",
                                                        "check": number_in(0)})
    warmup_epochs: int = field(default=0, metadata={"help": "epochs of linear learning-rate warm-up"})
    label_smoothing: float = field(default=0.0, metadata={"help": "label smoothing of the cross-entropy",
                                                          "check": number_in(0, 1, high_open=True)})
    mask_ratio: float = field(default=0.0, metadata={"help": "Random Spike Masking ratio while training",
                                                     "check": check_ratio})
    mask_where: str = field(default="*", metadata={
        "help": "glob of mask names to apply the ratio to, or a placement the model names (ResNet/VGG: conv, block)"})
    mask_seed: int | None = field(default=None, metadata={"help": "seed for reproducible masks",
                                                                 "check": check_seed})
    mask_mode: str = field(default="random", metadata={
        "help": "RSM in the ANN: random masks (paper) or scale by 1 - ratio (ours; the SNN always masks at random)",
        "choices": MASK_MODES})
    qcfs_jitter: tuple[int, int] | None = field(default=None, metadata={
        "help": "train every QCFS at a level count L drawn log-uniformly from [LO, HI] per call (ours; makes "
                "the ANN robust to the SNN's finer resolution; eval uses --opt levels)",
        "min": 1, "metavar": ("LO", "HI")})
    precise_bn: int = field(default=0, metadata={"min": 0,
        "help": "before each test, re-estimate BatchNorm statistics as the average over N training batches "
                "(0 = keep the moving averages; helps MST, whose BNs sit in the residual stream)",
        "metavar": "N"})
    init: str | None = field(default=None, metadata={
        "help": "start from this checkpoint's weights (e.g. masked fine-tuning)"})
    teacher: str | None = field(default=None, metadata={"help": "distil from this checkpoint (KL·τ² + CE, MST §4.3)"})
    kd_alpha: float = field(default=0.5, metadata={"help": "weight of the distillation term", "check": number_in(0, 1)})
    kd_temperature: float = field(default=4.0, metadata={"help": "distillation temperature τ",
                                                         "check": number_in(0, low_open=True)})
    seed: int = field(default=0, metadata={"help": "seed of weights, data order and masks",
                                                 "check": check_seed})
    workers: int = field(default=0, metadata={"help": "data-loader worker processes", "min": 0})
    device: str = field(default="auto", metadata={"help": "cpu, cuda or auto"})
    amp: bool = field(default=False, metadata={"help": "bfloat16 autocast (GPU)"})
    channels_last: bool = field(default=False, metadata={
        "help": "keep convolution activations channels-last (faster convolutions; the neuron kernels walk "
                "that layout as it is; results equal up to float rounding)"})
    checkpoint_steps: int | None = field(default=None, metadata={
        "help": "gradient checkpointing over time (ours): run each batch in chunks of S steps, state carried, "
                "each chunk recomputed in the backward, so memory stays that of S steps at any T; BatchNorm "
                "then uses per-chunk batch statistics", "min": 1, "metavar": "S"})
    resume: bool = field(default=False, metadata={"help": "continue from OUT/checkpoint.pt"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace the run in OUT (without it, or --resume, a folder holding a checkpoint is refused)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    max_batches: int | None = field(default=None, metadata={"help": "batches per epoch cap (quick checks)",
                                                            "min": 1})

    def validate(self) -> None:
        """Raise :class:`~spikemask.errors.OptionError` (naming the field) for an impossible setting."""
        check_limits(self)   # min, choices and check of the fields' metadata
        check_option(self.lr > 0 and math.isfinite(self.lr), "lr", f"must be a positive number, got {self.lr}")
        check_option(0 <= self.warmup_epochs < self.epochs, "warmup_epochs",
                     f"must be in [0, epochs), got {self.warmup_epochs} with epochs = {self.epochs}")
        if self.qcfs_jitter is not None:
            check_level_range(self.qcfs_jitter)
