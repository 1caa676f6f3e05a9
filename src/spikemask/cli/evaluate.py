"""``spikemask evaluate``: ANN and converted-SNN accuracy (at t = 1, 2, 4, ..., T) and energy of a checkpoint.

Its flags are the fields of :class:`~spikemask.studies.evaluate.EvaluateConfig` (without ``limit``:
``--max-batches`` shortens a run), plus ``--out``; the work is done by :mod:`spikemask.studies.evaluate`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from spikemask.cli.common import add_out_arg
from spikemask.cli.options import add_options, config_from_args
from spikemask.studies.evaluate import EvaluateConfig, evaluate, predict


def equivalence_line(eq: dict) -> str:
    """One line: how many images reach the ANN's class and logits, and from which step."""
    def part(d: dict, what: str) -> str:
        when = f" (median step {d['median']:g}, 90 % by {d['p90']:g}, last {d['max']})" if d["reached"] else ""
        return f"{d['reached']}/{d['reached'] + d['never']} reach the ANN's {what}{when}"
    return (f"equivalence to the quantized ANN: {part(eq['same_class'], 'class')}; "
            f"{part(eq['same_logits'], 'logits')}; {eq['settled']} settled, {eq['mismatched_settled']} of them differ")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, EvaluateConfig)
    if cfg.input:
        prediction = predict(cfg)
        for i, (a, s) in enumerate(zip(prediction.ann, prediction.snn)):
            print(f"image {i}: ANN class {a}, SNN class {s} (T={cfg.time_steps})")
        return 0
    result = evaluate(cfg)
    snn, energy = result.snn, result.snn["energy"]
    if result.ann_accuracy is not None:
        print(f"ANN accuracy: {100 * result.ann_accuracy:.2f} %")
    print("SNN accuracy: " + ", ".join(f"T={t}: {100 * a:.2f} %" for t, a in snn["accuracy_by_step"].items()))
    print(f"spikes per image: {energy['spikes_per_image']:.4g} over T={cfg.time_steps}; "
          f"power {energy['power_alpha_watts']:.4g} α W ({energy['spikes']} spikes); result: {energy['verdict']}"
          + (f" ({100 * energy['analog_share']:.1f} % of operations analog)" if energy["verdict"] == "hybrid" else ""))
    eq = snn.get("equivalence")
    if eq is not None:
        print(equivalence_line(eq))
    result.save(args.out)
    print(f"wrote {Path(args.out)}/metrics.json and accuracy_vs_T.png")
    if cfg.check_equivalence:
        if eq["mismatched_settled"]:
            print(f"equivalence check FAILED (float64): {eq['mismatched_settled']} settled images differ from "
                  "the ANN")
            return 1
        print(f"equivalence check passed (float64): all {eq['settled']} settled images have the ANN's logits")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ANN and SNN accuracy for t = 1, 2, 4, ..., T and spike energy",
                       description="Convert a checkpoint and evaluate it as an SNN on a test set, or classify "
                                   "images from --input.")
    add_options(p, EvaluateConfig, exclude=("limit",))
    add_out_arg(p, "runs/evaluate", "folder for metrics.json and plots")
    p.set_defaults(func=run)
