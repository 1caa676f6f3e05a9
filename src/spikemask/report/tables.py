"""Summaries and text tables of results: MST Table 3, SDMFormer energies per Table 2 row."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std"}`` of repeated runs (seeds); the std is the sample std, 0 for one value."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def si(value: float) -> str:
    """``3.9e9`` → ``'3.90G'`` (engineering prefixes)."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.2f}{unit}"
    return f"{value:.2f}"


@dataclass
class Table3Row:
    """One line of MST Table 3: a model at one masking ratio.

    Fractions, not percent; power in α W (P = spikes per step / 1 ms × α, MST eq. 10).
    """

    model: str
    ratio: float                    # masking ratio
    power_alpha_watts: float
    power_ratio: float              # power / the model's reference (unmasked) power
    accuracy: float                 # SNN accuracy at T
    accuracy_delta: float | None    # accuracy − the reference accuracy; None: no reference row
    ann_accuracy: float | None = None


def table3(rows: Sequence[Table3Row], time_steps: int, markdown: bool = False) -> str:
    """MST Table 3: ratio, power (α W) and ×ratio, [ANN accuracy,] SNN accuracy at T and its change.

    The ANN column is shown when every row has ``ann_accuracy``. ``markdown=False`` gives
    fixed-width text for the terminal, ``True`` a Markdown table.
    """
    ann = all(r.ann_accuracy is not None for r in rows)
    cells = [{"model": r.model, "ratio": f"{100 * r.ratio:g}%",
              "power": f"{si(r.power_alpha_watts)} (×{r.power_ratio:.2f})",
              "ann": f"{100 * r.ann_accuracy:.2f}" if ann else "", "snn": f"{100 * r.accuracy:.2f}",
              "delta": "" if r.accuracy_delta is None else f"({100 * r.accuracy_delta:+.2f})"} for r in rows]
    if markdown:
        lines = ["| Model | Random ratio | P (α W) |" + (" ANN accuracy (%) |" if ann else "") + " Accuracy (%) |",
                 "|---|---|---|" + ("---|" if ann else "") + "---|"]
        lines += [f"| {c['model']} | {c['ratio']} | {c['power']} |" + (f" {c['ann']} |" if ann else "")
                  + f" {(c['snn'] + ' ' + c['delta']).strip()} |" for c in cells]
        return "\n".join(lines)
    lines = [f"{'model':14s} {'ratio':>6s} {'P (α W)':>16s}" + (f" {'ANN acc':>8s}" if ann else "")
             + f" {f'SNN acc T={time_steps}':>22s}"]
    lines += [f"{c['model']:14s} {c['ratio']:>6s} {c['power']:>16s}" + (f" {c['ann'] + '%':>8s}" if ann else "")
              + f" {c['snn'] + '%':>13s} {c['delta']:>9s}" for c in cells]
    return "\n".join(lines)


def sdm_energy_table(energy: dict[str, Any]) -> str:
    """Per Table 2 row, the energy (pJ per sample) of both models and SDMFormer / Spikformer.

    ``energy`` is the ``"energy"`` entry of :func:`~spikemask.measure.synaptic.compare_models`.
    """
    spk, sdm = energy["spikformer"]["by_row"], energy["sdmformer"]["by_row"]
    lines = [f"{'Table 2 row':12s} {'Spikformer pJ':>15s} {'SDMFormer pJ':>15s} {'ratio':>7s}"]
    for row in dict.fromkeys([*spk, *sdm]):
        a, b = spk.get(row, 0.0), sdm.get(row, 0.0)
        lines.append(f"{row:12s} {a:15.4g} {b:15.4g} {b / a if a else float('nan'):7.3f}")
    return "\n".join(lines)
