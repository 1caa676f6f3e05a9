"""Summaries and text tables of results: MST Table 3, SDMFormer energies per Table 2 row."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from spikemask.measure.recorder import ANALOG_OPS


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std"}`` of repeated runs (seeds); the std is the sample std, 0 for one value."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def si(value: float) -> str:
    """``3.9e9`` → ``'3.90G'`` (engineering prefixes)."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.2f}{unit}"
    return f"{value:.2f}"


def joules(pj: float) -> str:
    """An energy in pJ with an SI prefix: ``4.079e7`` → ``'40.79 µJ'``."""
    value = pj * 1e-12
    for div, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")):
        if abs(value) >= div:
            return f"{value / div:.2f} {unit}"
    return f"{pj:.2f} pJ"


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


def energy_card(report: dict[str, Any]) -> str:
    """``spikemask energy``'s report: per-op and per-source counts, totals, the verdict and every energy model.

    ``report`` is :func:`spikemask.measure.energy.energy_report`'s output; counts are per image over T steps.
    """
    m = report["measurement"]
    lines = [f"{'op':40s} {'kind':12s} {'role':8s} {'input':7s} {'ACs/img':>11s} {'MACs/img':>11s}"]
    for o in m["ops"]:
        note = " (folded)" if o["folded"] else " (analog)" if o["analog"] else ""
        lines.append(f"{o['name']:40s} {o['op']:12s} {o['role']:8s} {o['input']:7s} {o['acs']:11.4g} "
                     f"{o['macs']:11.4g}{note}")
    lines += ["", f"{'spike source':40s} {'neurons':>9s} {'fired/img':>11s} {'deliv./img':>11s} {'rate':>7s}"]
    for s in m["sites"]:
        lines.append(f"{s['name']:40s} {s['neurons']:9d} {s['fired']:11.4g} {s['delivered']:11.4g} "
                     f"{s['firing_rate']:7.4f}")
    verdict = report["verdict"]
    if verdict == "hybrid":
        kinds = sorted({o["op"] if o["op"] in ANALOG_OPS else f"{o['op']} on analog input"
                        for o in m["ops"] if o["analog"]})
        verdict += f": {100 * report['analog_share']:.1f} % of operations are analog ({', '.join(kinds)})"
    lines += ["", f"T = {report['time_steps']}, {report['images']} images: {m['neurons']} neurons, "
                  f"{report['fired_per_image']:.4g} spikes fired and {report['delivered_per_image']:.4g} delivered "
                  f"per image, {report['acs_per_image']:.4g} ACs, {report['macs_per_image']:.4g} MACs",
              f"result: {verdict}", "energy per image:"]
    models = report["models"]
    if "alpha" in models:
        a = models["alpha"]
        lines.append(f"  alpha   MST eq. 10 on {a['spikes']} spikes: P = {a['watts']:.4g} α W "
                     f"({a['spikes_per_step']:.4g} spikes per 1 ms step, α = {a['alpha']} J)")
    if "ops" in models:
        o = models["ops"]
        lines.append(f"  ops     E_AC·ACs + E_MAC·MACs over every op: {joules(o['total_pj'])} "
                     f"(ACs {joules(o['ac_pj'])}, MACs {joules(o['mac_pj'])}, analog {joules(o['analog_pj'])})")
    if "memory" in models:
        o = models["memory"]
        lines.append(f"  memory  ops + SRAM traffic: {joules(o['total_pj'])} (compute {joules(o['compute_pj'])}, "
                     f"memory {joules(o['memory_pj'])})")
    if "qann" in models:
        q, q8 = models["qann"], models["qann_int8"]
        lines.append(f"  qann    the quantized ANN run once: {joules(q['compute_pj'])} compute at fp32 MACs, "
                     f"{joules(q8['compute_pj'])} at int8; {joules(q['total_pj'])} with memory")
        for key, label in (("ops", "ops vs fp32 QANN"), ("ops_int8", "ops vs int8 QANN"),
                           ("memory", "memory vs fp32 QANN with memory")):
            if key in report.get("snn_vs_qann", {}):
                r = report["snn_vs_qann"][key]
                lines.append(f"          SNN / QANN ({label}): ×{r:.3g} — the SNN spends "
                             f"{'less' if r < 1 else 'more'}")
    if "table2" in models:
        t = models["table2"]
        lines.append(f"  table2  SDMFormer Table 2 (S_Conv = {t['rate']} rate): {joules(t['total_pj'])}")
    return "\n".join(lines)
