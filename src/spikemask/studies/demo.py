"""The main job of ``spikemask demo``, end to end on bundled MNIST on a CPU.

1. Train a small QCFS VGG-16 (quarter width, L = 4; the unmasked teacher).
2. For each masking ratio > 0, fine-tune a copy with Random Spike Masking, distilled from the
   teacher (MST §4.3).
3. Convert each to an IF-neuron SNN, simulate T steps on the test split, count spikes.
4. Print a Table-3-style table and write ``metrics.json``, ``accuracy_vs_T.png`` and
   ``power_vs_mask_ratio.png`` into the output folder.

:func:`demo` does steps 1–3 (one training run folder per ratio in ``cfg.out``); its result gives
the table (:meth:`DemoResult.table`) and writes the files of step 4 (:meth:`DemoResult.save`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from spikemask.convert.conversion import convert, load_model
from spikemask.data import get_dataset
from spikemask.errors import check_limits, check_seed, number_in
from spikemask.io import write_json
from spikemask.masks.placement import CNN_PLACEMENT, CNN_PLACEMENTS
from spikemask.masks.rsm import check_ratio
from spikemask.measure.evaluation import evaluate_snn
from spikemask.report.plots import plot_accuracy_vs_steps, plot_power_vs_ratio
from spikemask.report.tables import Table3Row, table3
from spikemask.studies.common import MAX_TIME_STEPS, Log, say
from spikemask.train.config import TrainConfig
from spikemask.train.trainer import check_run_folder, evaluate_accuracy, pick_device, train

ENERGY_MODEL = "P = {spikes} spikes per time step / 1 ms × α (MST eq. 10), α = 1"
EVAL_BATCH = 250


@dataclass(kw_only=True)
class DemoConfig:
    """What the demo trains and measures; the defaults are the main job."""

    out: str = field(default="runs/demo", metadata={"help": "output folder"})
    model: str = field(default="vgg16", metadata={"help": "conversion model"})
    model_options: dict[str, Any] = field(default_factory=lambda: {"width": 0.25, "levels": 4}, metadata={
        "flags": ("--opt",), "help": "model option (VGG-16 at a quarter width, QCFS with L = 4)"})
    dataset: str = field(default="mnist", metadata={"help": "dataset name"})
    root: str | None = field(default=None, metadata={"help": "dataset folder (not needed for mnist)"})
    epochs: int = field(default=8, metadata={"help": "teacher training epochs", "min": 1})
    finetune_epochs: int = field(default=3, metadata={"help": "masked fine-tune epochs", "min": 1})
    finetune_lr_scale: float = field(default=0.2, metadata={"help": "fine-tune lr = lr × this"})
    ratios: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.75], metadata={
        "help": "masking ratios (0 is always included: the teacher)", "check": check_ratio})
    time_steps: int = field(default=32, metadata={"flags": ("--time-steps", "-T"), "help": "SNN time steps",
                                                  "min": 1, "check": number_in(1, MAX_TIME_STEPS)})
    batch_size: int = field(default=64, metadata={"help": "training batch size", "min": 1})
    lr: float = field(default=0.1, metadata={"help": "teacher learning rate"})
    placement: str = field(default=CNN_PLACEMENT, metadata={
        "help": "where the masks go: 'block' (one per residual block / VGG stage input) or 'conv' (every conv "
                "input); see docs/mst.md, Table 3", "choices": CNN_PLACEMENTS})
    spikes: str = field(default="delivered", metadata={
        "help": "spikes in the power P: 'delivered' (after the masks) or 'fired' (before)",
        "choices": ("fired", "delivered")})
    seed: int = field(default=0, metadata={"help": "seed of training and masks", "check": check_seed})
    device: str = field(default="auto", metadata={"help": "cpu, cuda or auto"})
    max_batches: int | None = field(default=None, metadata={
        "help": "cap batches per epoch and per evaluation (quick checks)", "min": 1})
    resume: bool = field(default=False, metadata={"help": "continue an interrupted demo from the checkpoints in --out"})
    overwrite: bool = field(default=False, metadata={
        "help": "replace the demo in --out (without it, or --resume, a folder holding checkpoints is refused)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})


@dataclass
class DemoResult:
    """One record per masking ratio (ascending, 0 first) — see :func:`evaluate_models` for the keys."""

    dataset: str
    time_steps: int
    energy_model: str
    results: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "time_steps": self.time_steps, "energy_model": self.energy_model,
                "results": self.results}

    def table(self) -> str:
        """MST Table 3 as text, with the ANN accuracy; changes are against the same model's 0 % row."""
        t = str(self.time_steps)
        base = {r["model"]: r["snn_accuracy"][t] for r in self.results if r["mask_ratio"] == 0}
        return table3([Table3Row(r["model"], r["mask_ratio"], r["power_alpha_watts"], r["power_ratio"],
                                 r["snn_accuracy"][t],
                                 r["snn_accuracy"][t] - base[r["model"]] if r["model"] in base else None,
                                 r["ann_accuracy"]) for r in self.results], self.time_steps)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``metrics.json``, ``accuracy_vs_T.png`` and ``power_vs_mask_ratio.png`` into ``out``."""
        out, rows = Path(out), self.results
        labels = [f"{100 * r['mask_ratio']:.0f}% masked" for r in rows]
        return [
            write_json(out / "metrics.json", self.to_dict()),
            plot_accuracy_vs_steps({label: {int(t): a for t, a in r["snn_accuracy"].items()}
                                    for label, r in zip(labels, rows)}, out / "accuracy_vs_T.png",
                                   {label: r["ann_accuracy"] for label, r in zip(labels, rows)}),
            plot_power_vs_ratio([r["mask_ratio"] for r in rows], [r["power_alpha_watts"] for r in rows],
                                [r["snn_accuracy"][str(self.time_steps)] for r in rows],
                                out / "power_vs_mask_ratio.png",
                                f"{rows[0]['model']} on {self.dataset}, T={self.time_steps}"),
        ]


def train_models(cfg: DemoConfig, ratios: list[float], log: Log = None) -> dict[float, Path]:
    """Train the teacher (ratio 0) and one distilled, masked student per ratio > 0 into ``cfg.out/ratio_R``.

    Returns the checkpoint paths by ratio. With ``cfg.resume``, runs whose checkpoint exists continue.
    """
    out = Path(cfg.out)
    common = dict(model=cfg.model, dataset=cfg.dataset, root=cfg.root, model_options=dict(cfg.model_options),
                  batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=cfg.device,
                  progress=cfg.progress, max_batches=cfg.max_batches, overwrite=cfg.overwrite)
    paths = {0.0: out / "ratio_0" / "checkpoint.pt"}
    common["resume"] = cfg.resume and paths[0.0].exists()
    say(log, f"[1/3] training the unmasked {cfg.model} ({cfg.epochs} epochs)")
    train(TrainConfig(out=str(paths[0.0].parent), epochs=cfg.epochs, **common))
    for r in (r for r in ratios if r > 0):
        paths[r] = out / f"ratio_{round(100 * r)}" / "checkpoint.pt"
        common["resume"] = cfg.resume and paths[r].exists()
        say(log, f"[2/3] fine-tuning with {100 * r:.0f} % Random Spike Masking, distilled from the teacher "
                  f"({cfg.finetune_epochs} epochs)")
        train(TrainConfig(out=str(paths[r].parent), epochs=cfg.finetune_epochs, init=str(paths[0.0]),
                          teacher=str(paths[0.0]), mask_ratio=r, mask_where=cfg.placement, mask_seed=cfg.seed,
                          **{**common, "lr": cfg.lr * cfg.finetune_lr_scale}))
    return paths


def evaluate_models(cfg: DemoConfig, paths: dict[float, Path],
                    log: Log = None) -> list[dict[str, Any]]:
    """Convert and simulate each checkpoint on the test split (masks seeded by ``cfg.seed``).

    One record per ratio: ``model``, ``mask_ratio``, ``checkpoint``, ``ann_accuracy``, ``snn_accuracy``
    (``{str(t): fraction}`` for t = 1, 2, 4, ..., T), ``spikes_per_image``, ``spikes_per_step``,
    ``acs_per_image``, ``power_alpha_watts`` (α W) and ``power_ratio`` (to the 0 % record).
    """
    device = pick_device(cfg.device)
    loader = DataLoader(get_dataset(cfg.dataset, root=cfg.root, train=False, augment=False).dataset, EVAL_BATCH)
    rows = []
    for r, path in sorted(paths.items()):
        say(log, f"[3/3] simulating the SNN with {100 * r:.0f} % masking for T={cfg.time_steps}")
        ann = load_model(path).to(device)
        snn_result = evaluate_snn(convert(ann), loader, cfg.time_steps, device, mask_seed=cfg.seed,
                                  max_batches=cfg.max_batches, progress=cfg.progress, spikes=cfg.spikes)
        energy = snn_result["energy"]
        rows.append({"model": ann.model_name, "mask_ratio": r, "checkpoint": str(path),
                     "ann_accuracy": evaluate_accuracy(ann, loader, device, cfg.max_batches),
                     "snn_accuracy": {str(t): a for t, a in snn_result["accuracy_by_step"].items()},
                     "spikes_per_image": energy["spikes_per_image"], "spikes_per_step": energy["spikes_per_step"],
                     "fired_per_image": energy["fired_per_image"], "delivered_per_image": energy["delivered_per_image"],
                     "verdict": energy["verdict"],
                     "acs_per_image": energy["acs_per_image"], "power_alpha_watts": energy["power_alpha_watts"]})
    base = next(row for row in rows if row["mask_ratio"] == 0)["power_alpha_watts"]
    for row in rows:
        row["power_ratio"] = row["power_alpha_watts"] / base
    return rows


def demo(cfg: DemoConfig, log: Log = None) -> DemoResult:
    """Train, mask, convert and measure (steps 1–3); ``log`` (e.g. ``print``) gets one line per step."""
    check_limits(cfg)
    check_run_folder(cfg.out, cfg.resume, cfg.overwrite, "ratio_*/checkpoint.pt")
    ratios = sorted(set([0.0] + list(cfg.ratios)))
    rows = evaluate_models(cfg, train_models(cfg, ratios, log), log)
    return DemoResult(cfg.dataset, cfg.time_steps, ENERGY_MODEL.format(spikes=cfg.spikes), rows)
