"""Repeated training runs: one per seed, summarised as mean ± std (MST Table 4 style)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from spikemask.io import write_json
from spikemask.train.config import TrainConfig
from spikemask.train.trainer import check_run_folder, summarize_seeds, train


def train_seeds(cfg: TrainConfig, seeds: Sequence[int]) -> dict[str, Any]:
    """Train ``cfg`` once per seed into ``OUT/seed_K``; write and return ``OUT/summary.json``.

    Returns:
        ``{"seeds", "test_accuracy": [fraction per seed], "mean", "std"}`` (sample std).
    """
    check_run_folder(cfg.out, cfg.resume, cfg.overwrite, "seed_*/checkpoint.pt")
    runs = [train(dataclasses.replace(cfg, seed=s, out=str(Path(cfg.out) / f"seed_{s}"))) for s in seeds]
    summary = summarize_seeds(list(seeds), runs)
    write_json(Path(cfg.out) / "summary.json", summary)
    return summary
