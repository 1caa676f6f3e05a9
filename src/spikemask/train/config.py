"""The configuration of a training run (saved as ``config.json``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from spikemask.errors import check
from spikemask.masks.rsm import check_mode, check_ratio
from spikemask.snn.qcfs import check_level_range


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as ``config.json``."""

    model: str = "vgg16"
    dataset: str = "mnist"
    out: str = "runs/train"
    root: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)   # e.g. frames=16, layout="channels"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"          # "sgd" or "adamw"
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    mask_ratio: float = 0.0
    mask_where: str = "*"
    mask_seed: int | None = None
    mask_mode: str = "random"       # "random" (paper RSM) or "expected" (scale by 1 - ratio; ours)
    qcfs_jitter: tuple[int, int] | None = None  # train QCFS at L drawn from [lo, hi] (ours; qcfs.py)
    precise_bn: int = 0             # re-estimate BN statistics on this many batches before each test
    init: str | None = None         # start from this checkpoint's weights
    teacher: str | None = None      # distil from this checkpoint
    kd_alpha: float = 0.5
    kd_temperature: float = 4.0
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    amp: bool = False
    resume: bool = False
    progress: bool = True
    max_batches: int | None = None  # cap batches per epoch (quick checks)

    def validate(self) -> None:
        check(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        check(self.optimizer in ("sgd", "adamw"), f"--optimizer must be sgd or adamw, got {self.optimizer!r}")
        check(0 <= self.warmup_epochs < self.epochs, "--warmup-epochs must be in [0, epochs)")
        check_ratio(self.mask_ratio)
        check_mode(self.mask_mode)
        if self.qcfs_jitter is not None:
            check_level_range(self.qcfs_jitter)
        check(self.precise_bn >= 0, f"--precise-bn must be >= 0, got {self.precise_bn}")
