"""One checkpoint evaluated, measured or converted, as library functions (``spikemask evaluate|energy|convert``).

Each function takes a config dataclass and returns a result whose ``to_dict()`` is its JSON record
and whose ``save(out)`` writes the files the command writes into folder ``out``::

    from spikemask.studies.evaluate import EvaluateConfig, evaluate
    result = evaluate(EvaluateConfig(checkpoint="runs/train/checkpoint.pt", time_steps=32, max_batches=2))
    print(result.snn["accuracy_by_step"]); result.save("runs/evaluate")

- :func:`evaluate`: ANN accuracy and converted-SNN accuracy after t = 1, 2, 4, ..., T steps, with
  the spike energy (``metrics.json``, ``accuracy_vs_T.png``).
- :func:`predict`: the ANN's and the SNN's classes for images from a tensor file.
- :func:`energy`: per-layer spike counts, firing rates, synaptic operations and power (``energy.json``).
- :func:`convert_checkpoint`: a QCFS checkpoint as an SNN checkpoint of IF neurons with θ = λ
  (``checkpoint.pt``, ``conversion.json``).

The checkpoint is rebuilt with the ``options`` overrides; ``mask_ratio`` (when given) replaces its
masks: the masks matching ``mask_where`` get that ratio, every other mask 0
(:func:`~spikemask.masks.placement.apply_mask_setting`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from spikemask.checkpoint import save_checkpoint
from spikemask.convert.conversion import check_input, convert, is_spiking, saved_neuron
from spikemask.convert.simulate import answer_by_step, simulate
from spikemask.errors import SpikemaskError, check, check_limits, check_seed, number_in
from spikemask.io import load_torch, write_json
from spikemask.masks.rsm import check_ratio
from spikemask.measure.energy import ENERGY_MODELS, check_model
from spikemask.measure.evaluation import evaluate_snn
from spikemask.report.plots import plot_accuracy_vs_steps, plot_energy_by_layer
from spikemask.snn.neurons import NEURON_HELP, BaseNeuron, parse_neuron
from spikemask.studies.common import EvalSettings, load_ann, test_loader
from spikemask.train.trainer import evaluate_accuracy, pick_device


# ----------------------------------------------------------------------------- configs
@dataclass(kw_only=True)
class CheckpointSettings:
    """A checkpoint, the model options it is rebuilt with, and an optional replacement of its masks."""

    checkpoint: str = field(metadata={"help": "checkpoint.pt from `spikemask train` or `convert`"})
    options: dict[str, Any] = field(default_factory=dict, metadata={
        "flags": ("--opt",), "help": "override a saved model option (e.g. product=rate); the weights must keep "
                                     "their shapes"})
    mask_ratio: float | None = field(default=None, metadata={
        "help": "override the RSM ratio of the checkpoint's masks", "check": check_ratio})
    mask_where: str = field(default="*", metadata={"help": "glob of mask names the ratio applies to"})
    mask_seed: int | None = field(default=None, metadata={"help": "seed for reproducible masks",
                                                                 "check": check_seed})

    def validate(self) -> None:
        """Raise :class:`~spikemask.errors.OptionError` for a field outside its limits."""
        check_limits(self)

    def load(self) -> tuple[nn.Module, dict[str, Any]]:
        """The checkpoint's ANN in eval mode with the overrides applied, and the checkpoint dict."""
        mask = None if self.mask_ratio is None else {"ratio": self.mask_ratio, "where": self.mask_where,
                                                     "seed": self.mask_seed}
        return load_ann(self.checkpoint, self.options, mask)


@dataclass(kw_only=True)
class SimulationSettings(EvalSettings):
    """:class:`~spikemask.studies.common.EvalSettings` with T = 32 by default, a cap on the batches and
    the conversion neuron.

    ``limit`` (the first N test images) applies too; the commands do not offer it (``--max-batches``).
    """

    time_steps: int = field(default=32, metadata=EvalSettings.__dataclass_fields__["time_steps"].metadata)
    max_batches: int | None = field(default=None, metadata={
        "help": "evaluate only this many batches (quick checks)", "min": 1})
    neuron: str | None = field(default=None, metadata={
        "help": f"conversion neuron: {NEURON_HELP}; exact conversion needs --opt product=exact for MST "
                "(default: the checkpoint's, else 'if')", "check": parse_neuron})
    channels_last: bool = field(default=False, metadata={
        "help": "simulate with channels-last convolution weights and activations (as `train "
                "--channels-last`; spikes equal up to float rounding)"})


@dataclass(kw_only=True)
class EvaluateConfig(SimulationSettings, CheckpointSettings):
    """:func:`evaluate` (the test split) and :func:`predict` (the images of ``input``)."""

    input: str | None = field(default=None, metadata={
        "help": "classify images from a .pt/.npy tensor [B, C, H, W] instead of a dataset"})
    check_equivalence: bool = field(default=False, metadata={
        "help": "exact conversion only: simulate in float64 and fail unless every settled image (no change at "
                "the last step) has the quantized ANN's logits"})


@dataclass(kw_only=True)
class EnergyConfig(SimulationSettings, CheckpointSettings):
    """:func:`energy`: the checkpoint simulated on the test split."""

    energy_models: list[str] = field(default_factory=lambda: list(ENERGY_MODELS), metadata={
        "help": f"energy models to report, any of {', '.join(ENERGY_MODELS)} (SDMFormer's table2 is added "
                "for Spikformer/SDMFormer)", "check": check_model})


@dataclass(kw_only=True)
class ConvertConfig(CheckpointSettings):
    """:func:`convert_checkpoint`: a QCFS ANN checkpoint, the neuron and its starting potential."""

    checkpoint: str = field(metadata={"help": "ANN checkpoint.pt from `spikemask train`"})
    v_init: float = field(default=0.5, metadata={
        "help": "initial membrane potential as a fraction of θ (of one spike λ/L for signed neurons)",
        "check": number_in(0, 1)})
    neuron: str = field(default="if", metadata={"help": f"conversion neuron: {NEURON_HELP}",
                                                "check": parse_neuron})


# ----------------------------------------------------------------------------- shared steps
def in_layout(snn: nn.Module, cfg: SimulationSettings) -> nn.Module:
    """``snn`` with channels-last convolution weights when ``cfg.channels_last`` (its activations follow)."""
    return snn.to(memory_format=torch.channels_last) if cfg.channels_last else snn


def simulate_split(model: nn.Module, loader: DataLoader, cfg: SimulationSettings,
                   device: torch.device, neuron: str = "if") -> dict[str, Any]:
    """Convert ``model`` with ``neuron`` and run :func:`~spikemask.measure.evaluation.evaluate_snn` with the
    settings of ``cfg``, against ``model`` (the quantized ANN) for the equivalence report.

    A directly trained spiking model (Spikformer, SDMFormer) is simulated as it is.
    Returns ``{"accuracy_by_step": {t: fraction}, "accuracy": at T, "energy": energy report, "images",
    "neuron", "equivalence"}`` (no equivalence for a directly trained model).
    """
    spiking = is_spiking(model)
    check(not spiking or neuron == "if", f"{model.model_name or type(model).__name__} is a directly trained SNN: "
                                         f"it is not converted, so neuron={neuron!r} does not apply; drop --neuron "
                                         "(and --check-equivalence)")
    snn = in_layout(model if spiking else convert(model, hold_masks=cfg.hold_masks, neuron=neuron), cfg)
    result = evaluate_snn(snn, loader, cfg.time_steps, device, cfg.time_chunk, cfg.alpha, cfg.mask_seed,
                          cfg.max_batches, progress=cfg.progress, spikes=cfg.spikes,
                          energy_models=getattr(cfg, "energy_models", None), reference=None if spiking else model)
    return {**result, "neuron": None if spiking else neuron}


def load_input(path: str | Path) -> torch.Tensor:
    """A user tensor file (``.pt`` or ``.npy``) of images ``[B, C, H, W]`` (or one ``[C, H, W]``), as float."""
    p = Path(path)
    check(p.is_file(), f"input file not found: {p}")
    if p.suffix != ".npy":
        x = load_torch(p, "input file")                      # never unpickles code
    else:
        try:
            x = torch.as_tensor(np.load(p, allow_pickle=False))
        except Exception as e:
            raise SpikemaskError(f"cannot read {p} as a .npy array of numbers ({type(e).__name__})") from None
    check(isinstance(x, torch.Tensor), f"{p} does not hold a tensor")
    check(not (x.is_complex() or x.dtype == torch.bool), f"{p} holds a {str(x.dtype).removeprefix('torch.')} tensor; "
                                                          "images must be real numbers (float or integer pixels)")
    return (x.unsqueeze(0) if x.dim() == 3 else x).float()


# ----------------------------------------------------------------------------- evaluate, predict
@dataclass
class EvaluateResult:
    """The checkpoint's ANN accuracy (None for a converted checkpoint) and the SNN's results ``snn``
    (``{"accuracy_by_step": {t: fraction}, "accuracy", "energy", "images"}`` of ``evaluate_snn``)."""

    checkpoint: str
    model: str
    model_options: dict[str, Any]
    mask: dict[str, Any] | None
    ann_accuracy: float | None
    snn: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "model": self.model, "model_options": self.model_options,
                "mask": self.mask, "ann_accuracy": self.ann_accuracy, **self.snn}

    def save(self, out: str | Path) -> list[Path]:
        """Write ``metrics.json`` and ``accuracy_vs_T.png`` (SNN accuracy vs t, the ANN dashed) into ``out``."""
        out = Path(out)
        ann = None if self.ann_accuracy is None else {self.model: self.ann_accuracy}
        return [write_json(out / "metrics.json", self.to_dict()),
                plot_accuracy_vs_steps({self.model: self.snn["accuracy_by_step"]}, out / "accuracy_vs_T.png", ann)]


def evaluate(cfg: EvaluateConfig) -> EvaluateResult:
    """The ANN's accuracy and the converted SNN's accuracy, energy and equivalence to the ANN on the same
    test images (``check_equivalence``: the SNN in float64).

    A checkpoint written by ``spikemask convert`` is already spiking and has no ANN accuracy.
    """
    cfg.validate()
    return evaluate_model(cfg, *cfg.load())


def evaluate_model(cfg: EvaluateConfig, model: nn.Module, ckpt: dict[str, Any]) -> EvaluateResult:
    """:func:`evaluate` of a checkpoint already loaded (``cfg.load()``): ``model`` and its dict ``ckpt``."""
    device = pick_device(cfg.device)
    loader = test_loader(model, cfg, cfg.limit)
    neuron = saved_neuron(ckpt, cfg.neuron)
    ann_accuracy = None if ckpt.get("converted") else \
        evaluate_accuracy(model.to(device), loader, device, cfg.max_batches)
    if cfg.check_equivalence:               # float64: no QCFS level boundary within rounding (evaluation.py)
        check(neuron != "if", "--check-equivalence needs an exactly converted SNN: pass --neuron signed (or burst:k)")
        model = model.double()
    snn = simulate_split(model, loader, cfg, device, neuron)
    return EvaluateResult(str(cfg.checkpoint), model.model_name, model.model_options, model.mask_setting,
                          ann_accuracy, snn)


@dataclass
class Prediction:
    """The class of each image: ``ann`` (T = 1) and ``snn`` (the mean logits over ``time_steps``)."""

    ann: list[int]
    snn: list[int]
    time_steps: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def predict(cfg: EvaluateConfig) -> Prediction:
    """Classify the images of ``cfg.input`` (``[B, C, H, W]`` or ``[C, H, W]``) with the ANN and the SNN."""
    cfg.validate()
    check(cfg.input is not None, "predict needs an input file of images")
    model, ckpt = cfg.load()
    x = load_input(cfg.input)
    check_input(model, x)
    with torch.no_grad():
        ann = model(x[None])[0].argmax(-1)                                          # the ANN: T = 1
        snn = in_layout(convert(model, hold_masks=cfg.hold_masks, neuron=saved_neuron(ckpt, cfg.neuron)), cfg)
        snn_logits = answer_by_step(simulate(snn, x, cfg.time_steps, cfg.time_chunk), snn.readout)[-1]  # [B, K]
    return Prediction(ann.tolist(), snn_logits.argmax(-1).tolist(), cfg.time_steps)


# ----------------------------------------------------------------------------- energy
@dataclass
class EnergyResult:
    """The SNN's results ``snn`` on the test split; ``snn["energy"]`` holds totals and ``layers``."""

    checkpoint: str
    mask: dict[str, Any] | None
    snn: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "mask": self.mask, **self.snn}

    def save(self, out: str | Path) -> list[Path]:
        """Write ``energy.json`` and ``energy_by_layer.png`` (per-layer energy of the ``ops`` model) into ``out``."""
        paths = [write_json(Path(out) / "energy.json", self.to_dict())]
        e = self.snn["energy"]
        if "ops" in e["models"]:
            paths.append(plot_energy_by_layer(e["measurement"]["ops"], e["models"]["ops"]["by_op"],
                                              Path(out) / "energy_by_layer.png",
                                              f"E_AC·ACs + E_MAC·MACs per layer ({e['verdict']})"))
        return paths


def energy(cfg: EnergyConfig) -> EnergyResult:
    """Simulate the converted checkpoint on the test split and account its spikes and operations."""
    cfg.validate()
    model, ckpt = cfg.load()
    loader = test_loader(model, cfg, cfg.limit)
    return EnergyResult(str(cfg.checkpoint), model.mask_setting,
                        simulate_split(model, loader, cfg, pick_device(cfg.device), saved_neuron(ckpt, cfg.neuron)))


# ----------------------------------------------------------------------------- convert
@dataclass
class ConversionResult:
    """The SNN of checkpoint ``source`` and its neurons ``{name: {"threshold": θ (λ for signed neurons),
    "v_init": v0 / θ, ...}}``."""

    source: str
    snn: nn.Module
    neurons: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "model": self.snn.model_name, "neuron": self.snn.model_config.neuron,
                "neuron_count": len(self.neurons), "neurons": self.neurons, "mask": self.snn.mask_setting}

    def save(self, out: str | Path) -> list[Path]:
        """Write the SNN checkpoint ``checkpoint.pt`` and ``conversion.json`` into ``out``."""
        out = Path(out)
        save_checkpoint(out / "checkpoint.pt", self.snn)
        return [out / "checkpoint.pt", write_json(out / "conversion.json", self.to_dict())]


def convert_checkpoint(cfg: ConvertConfig) -> ConversionResult:
    """Replace every QCFS activation of the checkpoint's model by a neuron of kind ``cfg.neuron``: an IF
    neuron with θ = λ, v0 = ``v_init``·θ, or a signed one (spike λ/L, at most L spikes)."""
    cfg.validate()
    model, _ = cfg.load()
    snn = convert(model, v_init=cfg.v_init, neuron=cfg.neuron)
    neurons = {name: {"threshold": m.threshold.item(), "v_init": m.v_init,
                      **({"levels": m.levels, "max_spikes": m.max_spikes} if hasattr(m, "levels") else {})}
               for name, m in snn.named_modules() if isinstance(m, BaseNeuron)}
    return ConversionResult(str(cfg.checkpoint), snn, neurons)
