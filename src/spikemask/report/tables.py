"""Summaries and text tables for results (MST Table 3 style)."""
from __future__ import annotations

import statistics
from typing import Sequence


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std"}`` of repeated runs (seeds); the std is the sample std, 0 for one value."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def si(value: float) -> str:
    """``3.9e9`` → ``'3.90G'`` (engineering prefixes)."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.2f}{unit}"
    return f"{value:.2f}"


def table3(rows: Sequence[dict], time_steps: int) -> str:
    """MST Table 3: ratio, power (α W) and ×ratio, ANN accuracy, SNN accuracy at T and its change.

    Each row needs ``model``, ``mask_ratio``, ``power_alpha_watts``, ``power_ratio``, ``ann_accuracy``
    and ``snn_accuracy`` (``{str(t): fraction}``); the change is against the same model's 0 % row.
    """
    base = {r["model"]: r["snn_accuracy"][str(time_steps)] for r in rows if r["mask_ratio"] == 0}
    lines = [f"{'model':14s} {'ratio':>6s} {'P (α W)':>16s} {'ANN acc':>8s} {f'SNN acc T={time_steps}':>22s}"]
    for r in rows:
        acc = r["snn_accuracy"][str(time_steps)]
        delta = f"({100 * (acc - base[r['model']]):+.2f})" if r["model"] in base else ""
        power = f"{si(r['power_alpha_watts'])} (×{r['power_ratio']:.2f})"
        lines.append(f"{r['model']:14s} {100 * r['mask_ratio']:5.0f}% {power:>16s} {100 * r['ann_accuracy']:7.2f}% "
                     f"{100 * acc:12.2f}% {delta:>9s}")
    return "\n".join(lines)
