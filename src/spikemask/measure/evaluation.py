"""Evaluation of converted SNNs: accuracy after every time step, energy, and equivalence to the ANN.

**Equivalence** (:func:`equivalence_report`): against a reference network (the quantized ANN the SNN
was converted from), per image, the first step from which the SNN's answer (mean or sum of its
outputs, by its ``readout``) predicts the ANN's class at every later step, and the first step from
which its logits equal the ANN's within :data:`LOGIT_TOLERANCE` at every later step. An exactly
converted SNN reaches both; a rate-coded one reaches the class but not, in general, the logits. An
image is *settled* when the last step changed nothing (its neurons have stopped): for an exactly
converted SNN its logits must then equal the ANN's (``mismatched_settled`` counts the exceptions). In
float32 a few images can differ: a neuron whose input lies within rounding of a QCFS level boundary
may round the other way, because the SNN sums its input in a different order than the ANN. In float64
(``model.double()``; the images are cast to the model's dtype) the boundary cases vanish.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from spikemask.convert.simulate import answer_by_step, correct_by_step, report_steps, simulate
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
                 energy_models: list[str] | None = None, reference: nn.Module | None = None) -> dict[str, Any]:
    """Simulate ``snn`` for ``time_steps`` on every batch of ``loader`` and count its ops and spikes.

    Args:
        snn: a converted network (:func:`spikemask.convert.conversion.convert`).
        loader: yields ``([B, C, H, W] images, [B] labels)``.
        time_chunk: steps per forward call (memory bound); results do not depend on it.
        alpha: energy per spike in J for the power estimate (1 → "α W").
        mask_seed: reseed the RSM masks for reproducible masking (None: global RNG).
        spikes: ``"fired"`` or ``"delivered"`` spikes for MST's power (:func:`~spikemask.measure.energy.alpha_power`).
        energy_models: names from :data:`~spikemask.measure.energy.ENERGY_MODELS` (default: all).
        reference: the ANN ``snn`` was converted from (T = 1), for the ``"equivalence"`` report.
    Returns:
        ``{"accuracy_by_step": {t: fraction for t in 1, 2, 4, ..., T}, "accuracy": at T,
        "energy": energy_report(...), "images": N}``, plus ``"equivalence"`` (:func:`equivalence_report`)
        with a reference.
    """
    snn = snn.to(device).eval()
    if mask_seed is not None:
        reseed_masks(snn, mask_seed)
    correct = torch.zeros(time_steps, dtype=torch.long)
    images = 0
    readout = getattr(snn, "readout", "mean")
    dtype = next((p.dtype for p in snn.parameters() if p.is_floating_point()), torch.float32)   # images cast to it
    settle: list[dict[str, torch.Tensor]] = []
    if reference is not None:
        reference = reference.to(device).eval()
    n_batches = min(len(loader), max_batches or len(loader))
    with Recorder(snn) as recorder:
        for i, (x, y) in enumerate(tqdm(loader, total=n_batches, desc=f"SNN T={time_steps}", leave=False,
                                        disable=not progress, dynamic_ncols=True)):
            if i >= n_batches:
                break
            x = x.to(device, dtype)
            logits = simulate(snn, x, time_steps, time_chunk)
            correct += correct_by_step(logits, y.to(device)).cpu()
            images += len(y)
            if reference is not None:
                settle.append(settling(logits, reference(x[None])[0], readout))
    check(images > 0, "the test loader gave no images; check --limit, --max-batches and the dataset")
    measurement = recorder.measurement(time_steps)
    report = energy_report(measurement, energy_models, alpha, spikes)
    if isinstance(snn, Spikformer):                 # SDMFormer's own accounting (Table 2), from the same counts
        report["models"]["table2"] = synaptic_energy(table2_activity(snn, measurement))
    by_step = {t: correct[t - 1].item() / images for t in report_steps(time_steps)}
    result = {"accuracy_by_step": by_step, "accuracy": by_step[time_steps], "energy": report, "images": images}
    if settle:
        result["equivalence"] = equivalence_report({k: torch.cat([s[k] for s in settle]) for k in settle[0]},
                                                   time_steps, readout)
    return result


LOGIT_TOLERANCE = (1e-4, 1e-4)   # (absolute, relative to the largest ANN logit of the image)


def settling(step_logits: torch.Tensor, ann_logits: torch.Tensor, readout: str) -> dict[str, torch.Tensor]:
    """Per image of one batch: the step (1-based; T + 1 = never) from which the answer predicts the ANN's
    class, and from which it equals the ANN's logits, at every later step; whether the image is settled
    (the last step changed nothing) and then whether its logits match.

    Args:
        step_logits: ``[T, B, K]`` SNN outputs per step; ann_logits: ``[B, K]``; readout: ``'mean'`` or ``'sum'``.
    Returns:
        ``{"class_step": [B], "logit_step": [B], "settled": [B] bool, "settled_match": [B] bool}``.
    """
    answers = answer_by_step(step_logits.float(), readout)
    ann_logits = ann_logits.float()
    atol, rtol = LOGIT_TOLERANCE
    tol = atol + rtol * ann_logits.abs().amax(-1, keepdim=True)
    same_class = answers.argmax(-1) == ann_logits.argmax(-1)                       # [T, B]
    same_logits = ((answers - ann_logits).abs() <= tol).all(-1)                    # [T, B]
    settled = (step_logits[-1] == 0).all(-1) if readout == "sum" and step_logits.shape[0] > 1 else \
        torch.zeros(step_logits.shape[1], dtype=torch.bool, device=step_logits.device)
    return {"class_step": first_of_last_run(same_class).cpu(), "logit_step": first_of_last_run(same_logits).cpu(),
            "settled": settled.cpu(), "settled_match": (settled & same_logits[-1]).cpu()}


def first_of_last_run(ok: torch.Tensor) -> torch.Tensor:
    """``[T, B]`` booleans → ``[B]``: the 1-based step from which ``ok`` holds at every later step (T + 1: never)."""
    steps = ok.shape[0]
    tail_ok = ok.flip(0).cumprod(0).flip(0)                                       # holds from t to T
    return steps + 1 - tail_ok.sum(0)


def equivalence_report(settle: dict[str, torch.Tensor], time_steps: int, readout: str) -> dict[str, Any]:
    """The distributions of :func:`settling` over all images (JSON-ready; steps 1-based)."""
    def distribution(steps: torch.Tensor) -> dict[str, Any]:
        reached = steps[steps <= time_steps].float()
        return {"reached": int(reached.numel()), "never": int((steps > time_steps).sum()),
                **({"median": float(reached.median()), "p90": float(reached.quantile(0.9)),
                    "max": int(reached.max())} if reached.numel() else {}),
                "by_step": {t: float((steps <= t).float().mean()) for t in report_steps(time_steps)}}
    settled = int(settle["settled"].sum())
    return {"reference": "the quantized ANN (T = 1)", "readout": readout, "tolerance": list(LOGIT_TOLERANCE),
            "same_class": distribution(settle["class_step"]), "same_logits": distribution(settle["logit_step"]),
            "settled": settled, "mismatched_settled": settled - int(settle["settled_match"].sum())}
