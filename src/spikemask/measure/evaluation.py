"""Evaluation of converted SNNs: accuracy after every time step and energy, over a data loader."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from spikemask.convert.simulate import correct_by_step, report_steps, simulate
from spikemask.errors import check
from spikemask.masks.placement import reseed_masks
from spikemask.measure.energy import energy_report
from spikemask.measure.recorder import Recorder
from spikemask.measure.synaptic import synaptic_energy, table2_activity
from spikemask.models.spikformer.spikformer import Spikformer


@torch.no_grad()
def evaluate_snn(snn: nn.Module, loader: DataLoader, time_steps: int, device: torch.device | str = "cpu",
                 time_chunk: int | None = None, alpha: float = 1.0, mask_seed: int | None = None,
                 max_batches: int | None = None, progress: bool = True, spikes: str = "delivered",
                 energy_models: list[str] | None = None) -> dict[str, Any]:
    """Simulate ``snn`` for ``time_steps`` on every batch of ``loader`` and count its ops and spikes.

    Args:
        snn: a converted network (:func:`spikemask.convert.conversion.convert`).
        loader: yields ``([B, C, H, W] images, [B] labels)``.
        time_chunk: steps per forward call (memory bound); results do not depend on it.
        alpha: energy per spike in J for the power estimate (1 → "α W").
        mask_seed: reseed the RSM masks for reproducible masking (None: global RNG).
        spikes: ``"fired"`` or ``"delivered"`` spikes for MST's power (:func:`~spikemask.measure.energy.alpha_power`).
        energy_models: names from :data:`~spikemask.measure.energy.ENERGY_MODELS` (default: all).
    Returns:
        ``{"accuracy_by_step": {t: fraction for t in 1, 2, 4, ..., T}, "accuracy": at T,
        "energy": energy_report(...), "images": N}``.
    """
    snn = snn.to(device).eval()
    if mask_seed is not None:
        reseed_masks(snn, mask_seed)
    correct = torch.zeros(time_steps, dtype=torch.long)
    images = 0
    n_batches = min(len(loader), max_batches or len(loader))
    with Recorder(snn) as recorder:
        for i, (x, y) in enumerate(tqdm(loader, total=n_batches, desc=f"SNN T={time_steps}", leave=False,
                                        disable=not progress, dynamic_ncols=True)):
            if i >= n_batches:
                break
            logits = simulate(snn, x.to(device), time_steps, time_chunk)
            correct += correct_by_step(logits, y.to(device)).cpu()
            images += len(y)
    check(images > 0, "the test loader gave no images; check --limit, --max-batches and the dataset")
    measurement = recorder.measurement(time_steps)
    report = energy_report(measurement, energy_models, alpha, spikes)
    if isinstance(snn, Spikformer):                 # SDMFormer's own accounting (Table 2), from the same counts
        report["models"]["table2"] = synaptic_energy(table2_activity(snn, measurement))
    by_step = {t: correct[t - 1].item() / images for t in report_steps(time_steps)}
    return {"accuracy_by_step": by_step, "accuracy": by_step[time_steps], "energy": report, "images": images}
