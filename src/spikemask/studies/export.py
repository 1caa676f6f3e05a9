"""Export a checkpoint as a shared model: safetensors weights, JSON config and a model card with its numbers.

:func:`export` loads a checkpoint (a ``.pt`` file or a shared-model folder), measures it on the test
split as ``spikemask evaluate`` does (ANN accuracy, SNN accuracy after t = 1, 2, 4, ..., T steps, spikes
and energy under every energy model) unless ``evaluate`` is off, and writes the folder of
:mod:`spikemask.pretrained` with a :class:`~spikemask.pretrained.Card` of those numbers.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from spikemask.convert.conversion import convert, is_spiking, saved_neuron
from spikemask.pretrained import Card
from spikemask.snn.neurons import BaseNeuron
from spikemask.studies.evaluate import CheckpointSettings, EvaluateConfig, SimulationSettings, evaluate_model


@dataclass(kw_only=True)
class ExportConfig(SimulationSettings, CheckpointSettings):
    """:func:`export`: the checkpoint, and the test-split measurement the card reports."""

    checkpoint: str = field(metadata={"help": "checkpoint.pt (or a shared-model folder) to export"})
    evaluate: bool = field(default=True, metadata={
        "help": "measure accuracy, spikes and energy on the test split for the model card"})


@dataclass
class ExportResult:
    """The folder written and the card's facts."""

    folder: Path
    card: Card


def describe_neurons(model: nn.Module) -> tuple[str | None, dict[str, float] | None]:
    """``("15 × IFNeuron (v_init=0.5, reset=soft)", {"count", "min", "median", "max"})``: the neurons of
    ``model`` by type with their settings (soft reset: by subtraction), and their thresholds θ;
    ``(None, None)`` for a model without neurons."""
    neurons = [m for m in model.modules() if isinstance(m, BaseNeuron)]
    if not neurons:
        return None, None
    kinds: dict[str, int] = {}
    for n in neurons:
        settings = [s for s in n.extra_repr().split(", ") if not s.startswith(("threshold=", "step_mode="))]
        label = f"{type(n).__name__} ({', '.join(settings)})" if settings else type(n).__name__
        kinds[label] = kinds.get(label, 0) + 1
    thresholds = [float(t) for n in neurons for t in n.threshold.flatten()]
    return ("; ".join(f"{c} × {k}" for k, c in kinds.items()),
            {"count": len(neurons), "min": min(thresholds), "median": statistics.median(thresholds),
             "max": max(thresholds)})


def export(cfg: ExportConfig, out: str | Path,
           commands: Callable[[dict[str, Any]], list[str]] | None = None) -> ExportResult:
    """Write the shared-model folder ``out`` for ``cfg.checkpoint``; ``commands(checkpoint dict)`` gives the
    command lines the card records (e.g. the training command rebuilt from the checkpoint's config)."""
    cfg.validate()
    model, ckpt = cfg.load()
    neuron = saved_neuron(ckpt, cfg.neuron)
    snn = model if is_spiking(model) else convert(model, hold_masks=cfg.hold_masks, neuron=neuron)
    neurons, thresholds = describe_neurons(snn)
    card = Card(neurons=neurons, thresholds=thresholds, commands=commands(ckpt) if commands else [])
    if cfg.evaluate:
        shared = {k: getattr(cfg, k) for k in EvaluateConfig.__dataclass_fields__ if hasattr(cfg, k)}
        settings = EvaluateConfig(**shared)
        result = evaluate_model(settings, model, ckpt)
        energy: dict[str, Any] = {k: v for k, v in result.snn["energy"].items() if k != "measurement"}
        card.dataset, card.split, card.images = cfg.dataset, "test", result.snn["images"]
        card.time_steps, card.ann_accuracy, card.energy = cfg.time_steps, result.ann_accuracy, energy
        card.snn_accuracy = {int(t): a for t, a in result.snn["accuracy_by_step"].items()}
    model.save_pretrained(out, card=card)
    return ExportResult(Path(out), card)
