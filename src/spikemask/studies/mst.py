"""MST studies of converted SNNs (Figs. 5–7, Table 3) and pretrained Swin weights, as library functions.

Each study takes a config dataclass and returns a result whose ``to_dict()`` is its JSON record
and whose ``save(out)`` writes the JSON and the figures into folder ``out`` (what ``spikemask mst``
writes)::

    from spikemask.studies.mst import table3, Table3Config
    result = table3(Table3Config(mst=["runs/mst/checkpoint.pt"], time_steps=64, limit=400))
    print(result.markdown()); result.save("runs/mst")

- :func:`time`: accuracy after t = 1, 2, 4, ..., T steps for several masking ratios.
- :func:`ratio`: accuracy and power vs masking ratio, each MST part masked alone, mean ± std over
  seeds (Fig. 5a–b).
- :func:`blocks`: accuracy vs the number of masked blocks, from the first (Fig. 6).
- :func:`variants`: one checkpoint rebuilt with other model options (``softmax="none"``, ...).
- :func:`table3`: power (α W) and accuracy per model family and masking ratio (Table 3).
- :func:`sam`: spike activation maps of one test image per layer (Fig. 7).
- :func:`load_pretrained`: an MST model started from timm/Microsoft Swin weights.

Checkpoints: the per-ratio studies take one checkpoint for every ratio or one per ratio (MST
§4.3 fine-tunes a masked student per ratio). Masks: before each evaluation every mask is set to 0,
then the studied placement gets its ratio — for MST the ``parts``
(:data:`~spikemask.masks.placement.MASK_PARTS`), for other models every mask (Table 3 masks "each
block" of ResNet/VGG). Ratio 0 draws no random numbers, so it runs once whatever the seeds.
``log`` (e.g. ``print``), where a study takes it, receives one line per finished evaluation;
None keeps quiet.
"""
from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from spikemask.checkpoint import load_checkpoint, save_checkpoint
from spikemask.convert.conversion import convert, load_model
from spikemask.errors import check, check_limits, check_option, check_seed, number_in
from spikemask.io import atomic_write, write_json
from spikemask.masks.placement import (
    CNN_PLACEMENT,
    CNN_PLACEMENTS,
    MASK_PARTS,
    mask_blocks,
    part_globs,
    resolve_where,
    set_mask_ratio,
)
from spikemask.masks.rsm import check_ratio
from spikemask.measure.evaluation import evaluate_snn
from spikemask.measure.sam import record_spikes, spatial, to_image
from spikemask.measure.sam import sam as activation_maps
from spikemask.models import create_model
from spikemask.models.mst.pretrained import LoadReport, load_swin_weights
from spikemask.models.mst.swin import MSTSwin
from spikemask.models.record import build_model
from spikemask.report.plots import errorbar_plot, plot_accuracy_vs_steps, plot_sam_grid
from spikemask.report.tables import Table3Row, mean_std
from spikemask.report.tables import table3 as render_table3
from spikemask.studies.common import EvalSettings, Log, option_strings, pair_checkpoints, say, test_loader
from spikemask.train.trainer import evaluate_accuracy, pick_device


# ----------------------------------------------------------------------------- config fields
def _checkpoints() -> Any:
    """A required list of checkpoint paths: one for every ratio, or one per ratio."""
    return field(metadata={"flags": ("--checkpoint",),
                           "help": "checkpoint.pt (one, or one per ratio, in the order of --ratios)"})


def _checkpoint() -> Any:
    """A required checkpoint path."""
    return field(metadata={"help": "checkpoint.pt"})


def _ratios(*default: float) -> Any:
    """Masking ratios in [0, 1), ``default`` unless given."""
    return field(default_factory=lambda: list(default), metadata={"help": "masking ratios", "check": check_ratio})


def _parts(*default: str) -> Any:
    """MST mask placements (keys of ``MASK_PARTS``), ``default`` unless given."""
    return field(default_factory=lambda: list(default), metadata={
        "choices": list(MASK_PARTS), "help": "MST mask placements: sa = Q, K and attention-score spikes; mlp = "
                                             "output of the first MLP linear; other models mask every site"})


def _options(flag: str = "--opt", what: str = "override a saved model option (e.g. product=rate); "
                                              "the weights must keep their shapes") -> Any:
    """Model options ``{name: value}`` (empty unless given), set on the command line as ``flag KEY=VALUE``."""
    return field(default_factory=dict, metadata={"flags": (flag,), "help": what})


@dataclass(kw_only=True)
class MaskedSettings(EvalSettings):
    """:class:`~spikemask.studies.common.EvalSettings` plus where masks go and their seeds."""

    parts: list[str] = _parts("sa")
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "mask seeds; mean ± std over them",
                                                                        "check": check_seed})

    def validate(self) -> None:  # noqa: D102
        super().validate()
        check_option(bool(self.parts), "parts", f"must hold at least one of {', '.join(MASK_PARTS)}")
        check_option(bool(self.seeds), "seeds", "must hold at least one seed")


@dataclass(kw_only=True)
class TimeConfig(MaskedSettings):
    """:func:`time`: accuracy vs T for each masking ratio."""

    checkpoints: list[str] = _checkpoints()
    ratios: list[float] = _ratios(0.0, 0.5, 0.75)
    options: dict[str, Any] = _options()


@dataclass(kw_only=True)
class RatioConfig(MaskedSettings):
    """:func:`ratio`: accuracy and power vs masking ratio, each part alone (Fig. 5a–b)."""

    checkpoints: list[str] = _checkpoints()
    ratios: list[float] = _ratios(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    parts: list[str] = _parts("sa", "mlp")
    options: dict[str, Any] = _options()


@dataclass(kw_only=True)
class BlocksConfig(MaskedSettings):
    """:func:`blocks`: the ``parts`` of the first k blocks masked at ``ratio``, k = 0..all (Fig. 6)."""

    checkpoint: str = _checkpoint()
    ratio: float = field(default=0.75, metadata={"help": "masking ratio of the masked blocks", "check": check_ratio})
    options: dict[str, Any] = _options()


@dataclass(kw_only=True)
class VariantsConfig(EvalSettings):
    """:func:`variants`: one checkpoint as trained and rebuilt with each option override (no masks)."""

    checkpoint: str = _checkpoint()
    variants: list[dict[str, Any]] = field(default_factory=list, metadata={
        "flags": ("--variant",), "help": "option overrides (e.g. --variant product=rate --variant softmax=none)"})


@dataclass(kw_only=True)
class Table3Config(MaskedSettings):
    """:func:`table3`: checkpoints per model family (one, or one per ratio)."""

    mst: list[str] = field(default_factory=list, metadata={"help": "mst_swin_* checkpoint(s): one, or one per ratio"})
    resnet18: list[str] = field(default_factory=list, metadata={
        "help": "resnet18 checkpoint(s): one, or one per ratio"})
    vgg16: list[str] = field(default_factory=list, metadata={"help": "vgg16 checkpoint(s): one, or one per ratio"})
    mst_options: dict[str, Any] = _options("--mst-opt", "override a saved option of the --mst checkpoints "
                                                        "(e.g. product=rate)")
    cnn_placement: str = field(default=CNN_PLACEMENT, metadata={
        "help": "RSM placement of the ResNet/VGG rows: 'conv' (every conv input) or 'block' (one mask per "
                "residual block / VGG stage input); see docs/mst.md, Table 3", "choices": CNN_PLACEMENTS})
    ratios: list[float] = _ratios(0.0, 0.5, 0.75)


@dataclass(kw_only=True)
class SamConfig(MaskedSettings):
    """:func:`sam`: maps of test image ``index`` at ``steps`` for each ratio (masks seeded by ``seeds[0]``)."""

    checkpoints: list[str] = _checkpoints()
    ratios: list[float] = _ratios(0.0, 0.5, 0.75)
    index: int = field(default=0, metadata={"help": "test image index"})
    steps: list[int] | None = field(default=None, metadata={"help": "time steps to show, 1-based (default: T)",
                                                            "min": 1})
    sites: str = field(default="*.norm1_site", metadata={"help": "glob of spike sites to map"})
    gamma: float = field(default=0.5, metadata={"help": "SAM kernel decay γ, in (0, 1]",
                                                "check": number_in(0, 1, low_open=True)})
    options: dict[str, Any] = _options()


@dataclass(kw_only=True)
class PretrainedConfig:
    """:func:`load_pretrained`: the registry model to build and the Swin state dict file to load."""

    weights: str = field(metadata={"help": "Swin state dict file (.pth/.pt)"})
    model: str = field(default="mst_swin_t", metadata={"help": "registry name"})
    options: dict[str, Any] = _options(what="model option")
    num_classes: int = field(default=1000, metadata={"help": "classes of the new head", "min": 1})
    in_channels: int = field(default=3, metadata={"help": "input channels", "min": 1})
    img_size: int = field(default=224, metadata={"help": "input side in pixels", "min": 1})


# ----------------------------------------------------------------------------- shared steps
def load_snn(path: str, hold_masks: bool = False, options: dict[str, Any] | None = None) -> nn.Module:
    """A checkpoint's model rebuilt with ``options``, converted to an SNN, with every mask at 0."""
    snn = load_model(path, spiking=True, hold_masks=hold_masks, options=options)
    set_mask_ratio(snn, 0.0, "*")
    return snn


def placement(model: nn.Module, parts: Sequence[str], cnn_placement: str = CNN_PLACEMENT) -> list[str]:
    """Mask globs the study masks: MST ``parts``; for ResNet/VGG their named placement ``cnn_placement``."""
    return part_globs(parts) if isinstance(model, MSTSwin) else list(resolve_where(model, cnn_placement))


def run_snn(snn: nn.Module, loader: DataLoader, cfg: EvalSettings, seed: int | None) -> dict[str, Any]:
    """:func:`~spikemask.measure.evaluation.evaluate_snn` with the study's T, device and α."""
    return evaluate_snn(snn, loader, cfg.time_steps, pick_device(cfg.device), cfg.time_chunk, cfg.alpha,
                        mask_seed=seed, progress=cfg.progress, spikes=cfg.spikes)


def seeds_for(ratio: float, seeds: Sequence[int]) -> list[int]:
    """Ratio 0 draws no random numbers, so one run is enough."""
    return list(seeds) if ratio > 0 else list(seeds[:1])


def masked_runs(snn: nn.Module, loader: DataLoader, cfg: MaskedSettings, where: list[str],
                ratio: float) -> list[dict[str, Any]]:
    """Evaluate ``snn`` with masks ``where`` at ``ratio`` once per seed; one row per seed.

    Row: ``{"ratio", "seed", "accuracy" (at T), "accuracy_by_step" ({t: fraction}),
    "power_alpha_watts", "spikes_per_image"}``.
    """
    set_mask_ratio(snn, 0.0, "*")
    if ratio > 0:
        set_mask_ratio(snn, ratio, where)
    rows = []
    for seed in seeds_for(ratio, cfg.seeds):
        result = run_snn(snn, loader, cfg, seed)
        rows.append({"ratio": ratio, "seed": seed, "accuracy": result["accuracy"],
                     "accuracy_by_step": result["accuracy_by_step"],
                     "power_alpha_watts": result["energy"]["power_alpha_watts"],
                     "spikes_per_image": result["energy"]["spikes_per_image"],
                     "fired_per_image": result["energy"]["fired_per_image"],
                     "delivered_per_image": result["energy"]["delivered_per_image"],
                     "verdict": result["energy"]["verdict"], "analog_share": result["energy"]["analog_share"]})
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of accuracy and power."""
    return {"accuracy": mean_std([r["accuracy"] for r in rows]),
            "power_alpha_watts": mean_std([r["power_alpha_watts"] for r in rows]),
            "fired_per_image": mean_std([r["fired_per_image"] for r in rows]),
            "delivered_per_image": mean_std([r["delivered_per_image"] for r in rows]),
            "verdict": rows[0]["verdict"], "analog_share": rows[0]["analog_share"], "runs": len(rows)}


def recorded_settings(cfg: EvalSettings) -> dict[str, Any]:
    """The settings written next to a study's results.

    ``checkpoint`` (always a list), data and simulation settings, the masking, and the option
    overrides as ``KEY=VALUE`` strings under ``opt`` / ``mst_opt`` (None when there are none).
    """
    values = dataclasses.asdict(cfg)
    settings: dict[str, Any] = {}
    if "checkpoints" in values:
        settings["checkpoint"] = values["checkpoints"]
    elif "checkpoint" in values:
        settings["checkpoint"] = [values["checkpoint"]]
    for key in ("dataset", "time_steps", "ratios", "ratio", "parts", "seeds", "limit", "alpha", "hold_masks"):
        if key in values:
            settings[key] = values[key]
    for key, name in (("opt", "options"), ("mst_opt", "mst_options")):
        if name in values:
            settings[key] = option_strings(values[name])
    return settings


def _save_json(out: str | Path, name: str, record: dict[str, Any]) -> Path:
    return write_json(Path(out) / f"{name}.json", record)


# ----------------------------------------------------------------------------- studies
@dataclass
class TimeResult:
    """Accuracy by step: ``runs`` (one row per ratio and seed) and ``mean_accuracy_by_step``
    (``{"mask 50 %": {t: fraction}}``, the mean over seeds)."""

    settings: dict[str, Any]
    runs: list[dict[str, Any]]
    mean_accuracy_by_step: dict[str, dict[int, float]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``time.json`` and ``time.png`` (accuracy vs T) into ``out``."""
        return [_save_json(out, "time", self.to_dict()),
                plot_accuracy_vs_steps(self.mean_accuracy_by_step, Path(out) / "time.png")]


def time(cfg: TimeConfig, log: Log = None) -> TimeResult:
    """Accuracy after t = 1, 2, 4, ..., T steps for each masking ratio (mean over seeds)."""
    cfg.validate()
    rows, curves = [], {}
    for ratio, path in pair_checkpoints(cfg.checkpoints, cfg.ratios):
        snn = load_snn(path, cfg.hold_masks, cfg.options)
        runs = masked_runs(snn, test_loader(snn, cfg, cfg.limit), cfg, placement(snn, cfg.parts), ratio)
        rows += runs
        label = f"mask {100 * ratio:g} %"
        steps = runs[0]["accuracy_by_step"]
        curves[label] = {t: statistics.fmean(r["accuracy_by_step"][t] for r in runs) for t in steps}
        say(log, f"{label}: " + ", ".join(f"T={t}: {100 * a:.2f}%" for t, a in curves[label].items()))
    return TimeResult(recorded_settings(cfg), rows, curves)


@dataclass
class RatioResult:
    """Per part, one summary per ratio: ``{"ratio", "accuracy": {"mean", "std"},
    "power_alpha_watts": {"mean", "std"}, "runs", "seeds": [rows]}``."""

    settings: dict[str, Any]
    results: dict[str, list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``ratio.json``, ``ratio_accuracy.png`` and ``ratio_power.png`` into ``out``."""
        curves = {part: [[100 * s["ratio"] for s in rows], rows] for part, rows in self.results.items()}
        return [_save_json(out, "ratio", self.to_dict()),
                errorbar_plot({p: (xs, [s["accuracy"] for s in rows]) for p, (xs, rows) in curves.items()},
                              "masking ratio (%)", "accuracy (%)", "accuracy vs masking ratio",
                              Path(out) / "ratio_accuracy.png"),
                errorbar_plot({p: (xs, [s["power_alpha_watts"] for s in rows]) for p, (xs, rows) in curves.items()},
                              "masking ratio (%)", "power (α W)", "power vs masking ratio",
                              Path(out) / "ratio_power.png", scale=1.0)]


def ratio(cfg: RatioConfig, log: Log = None) -> RatioResult:
    """Fig. 5(a-b): accuracy and power vs ratio, each MST part masked alone, mean ± std over seeds."""
    cfg.validate()
    results: dict[str, list[dict[str, Any]]] = {}
    for part in cfg.parts:
        results[part] = []
        for r, path in pair_checkpoints(cfg.checkpoints, cfg.ratios):
            snn = load_snn(path, cfg.hold_masks, cfg.options)
            runs = masked_runs(snn, test_loader(snn, cfg, cfg.limit), cfg, placement(snn, [part]), r)
            summary = {"ratio": r, **summarise(runs), "seeds": runs}
            results[part].append(summary)
            say(log, f"{part} ratio {r}: accuracy {100 * summary['accuracy']['mean']:.2f} ± "
                      f"{100 * summary['accuracy']['std']:.2f} %, power {summary['power_alpha_watts']['mean']:.4g} α W")
    return RatioResult(recorded_settings(cfg), results)


@dataclass
class BlocksResult:
    """One row per k = 0..blocks: ``{"masked_blocks": k, "accuracy": {"mean", "std"}, "seeds": [fraction]}``."""

    settings: dict[str, Any]
    results: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``blocks.json`` and ``blocks.png`` (accuracy vs masked blocks) into ``out``."""
        parts, masked = "+".join(self.settings["parts"]), self.settings["ratio"]
        return [_save_json(out, "blocks", self.to_dict()),
                errorbar_plot({parts: ([r["masked_blocks"] for r in self.results],
                                       [r["accuracy"] for r in self.results])},
                              "masked blocks (from the first)", "accuracy (%)", f"masking ratio {100 * masked:g} %",
                              Path(out) / "blocks.png")]


def blocks(cfg: BlocksConfig, log: Log = None) -> BlocksResult:
    """Fig. 6: mask the ``parts`` of the first k blocks at ``ratio``, k = 0..all blocks."""
    cfg.validate()
    snn = load_snn(cfg.checkpoint, cfg.hold_masks, cfg.options)
    check_option(isinstance(snn, MSTSwin), "checkpoint", "must be an mst_swin_* checkpoint for the blocks study")
    loader = test_loader(snn, cfg, cfg.limit)
    rows = []
    for k in range(len(snn.blocks()) + 1):
        mask_blocks(snn, cfg.ratio, k, cfg.parts)
        runs = [run_snn(snn, loader, cfg, seed)["accuracy"] for seed in seeds_for(cfg.ratio if k else 0.0, cfg.seeds)]
        rows.append({"masked_blocks": k, "accuracy": mean_std(runs), "seeds": runs})
        say(log, f"first {k} blocks masked: {100 * rows[-1]['accuracy']['mean']:.2f} %")
    return BlocksResult(recorded_settings(cfg), rows)


@dataclass
class VariantsResult:
    """One row per variant: ``{"variant", "options", "ann_accuracy", **evaluate_snn result}``."""

    settings: dict[str, Any]
    results: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``variants.json`` and ``variants.png`` (SNN accuracy vs T; dashed: ANN) into ``out``."""
        return [_save_json(out, "variants", self.to_dict()),
                plot_accuracy_vs_steps({r["variant"]: r["accuracy_by_step"] for r in self.results},
                                       Path(out) / "variants.png",
                                       {r["variant"]: r["ann_accuracy"] for r in self.results})]


AS_TRAINED = "(as trained)"


def variants(cfg: VariantsConfig, log: Log = None) -> VariantsResult:
    """ANN and SNN accuracy of one checkpoint as trained and rebuilt with each of ``variants`` (same weights).

    A variant is labelled by its options, ``"softmax=none,levels=8"``; the first row is ``"(as trained)"``.
    """
    cfg.validate()
    ckpt = load_checkpoint(cfg.checkpoint)
    device = pick_device(cfg.device)
    rows = []
    for override in [{}] + list(cfg.variants):
        label = ",".join(option_strings(override) or [AS_TRAINED])
        model = build_model(ckpt, override).eval().to(device)
        loader = test_loader(model, cfg, cfg.limit)
        ann = evaluate_accuracy(model, loader, device)
        snn = convert(model, hold_masks=cfg.hold_masks)
        set_mask_ratio(snn, 0.0, "*")
        result = run_snn(snn, loader, cfg, None)
        rows.append({"variant": label, "options": override, "ann_accuracy": ann, **result})
        say(log, f"{label}: ANN {100 * ann:.2f} %, SNN T={cfg.time_steps} {100 * result['accuracy']:.2f} %")
    return VariantsResult(recorded_settings(cfg), rows)


@dataclass
class Table3Result:
    """Per family (``"MST"``, ``"ResNet-18"``, ``"VGG-16"``), one row per ratio: ``{"ratio", "checkpoint",
    "accuracy": {"mean", "std"}, "power_alpha_watts": {"mean", "std"}, "fired_per_image", "delivered_per_image",
    "verdict", "analog_share", "runs", "power_ratio", "fired_ratio", "delivered_ratio", "accuracy_delta"}``;
    ratios and delta are against the family's first row."""

    settings: dict[str, Any]
    table: dict[str, list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def rows(self) -> list[Table3Row]:
        """The table's lines for :func:`~spikemask.report.tables.table3` (means over seeds)."""
        return [Table3Row(family, r["ratio"], r["power_alpha_watts"]["mean"], r["power_ratio"],
                          r["accuracy"]["mean"], r["accuracy_delta"])
                for family, rows in self.table.items() for r in rows]

    def markdown(self) -> str:
        """Table 3 as a Markdown table, then the power ratios under both spike conventions and the verdicts."""
        lines = [render_table3(self.rows(), self.settings["time_steps"], markdown=True), "",
                 "| Model | Random ratio | P ratio, fired spikes | P ratio, delivered spikes | result |",
                 "|---|---|---|---|---|"]
        for family, rows in self.table.items():
            for r in rows:
                verdict = r["verdict"] + (f" ({100 * r['analog_share']:.1f} % analog)" if r["verdict"] == "hybrid"
                                          else "")
                lines.append(f"| {family} | {100 * r['ratio']:.0f}% | ×{r['fired_ratio']:.3f} | "
                             f"×{r['delivered_ratio']:.3f} | {verdict} |")
        return "\n".join(lines)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``table3.json`` and ``table3.md`` into ``out``."""
        text = self.markdown() + "\n"
        return [_save_json(out, "table3", self.to_dict()),
                atomic_write(Path(out) / "table3.md", lambda f: f.write(text), "w")]


FAMILIES = {"MST": "mst", "ResNet-18": "resnet18", "VGG-16": "vgg16"}   # Table 3 row label → config field
FAMILY_MODELS = {"mst": "mst_swin_", "resnet18": "resnet18", "vgg16": "vgg16"}  # config field → model name prefix


def table3(cfg: Table3Config) -> Table3Result:
    """Table 3: power (α W, ×ratio to the first ratio) and accuracy (Δ to it) per model family and ratio."""
    cfg.validate()
    check_option(any(getattr(cfg, name) for name in FAMILIES.values()), tuple(FAMILIES.values()),
                 "must be given (checkpoint paths of at least one model family)")
    for name, prefix in FAMILY_MODELS.items():                  # every slot checked before any simulation
        for path in getattr(cfg, name):
            held = load_checkpoint(path)["model_name"]
            check_option(held.startswith(prefix), name, f"takes {prefix}* checkpoints, but {path} holds model "
                                                        f"{held}; pass it under its own family's flag")
    table: dict[str, list[dict[str, Any]]] = {}
    for family, name in FAMILIES.items():
        checkpoints = getattr(cfg, name)
        if not checkpoints:
            continue
        table[family] = []
        for r, path in pair_checkpoints(checkpoints, cfg.ratios, param=name):
            snn = load_snn(path, cfg.hold_masks, cfg.mst_options if family == "MST" else None)
            runs = masked_runs(snn, test_loader(snn, cfg, cfg.limit), cfg,
                               placement(snn, cfg.parts, cfg.cnn_placement), r)
            table[family].append({"ratio": r, "checkpoint": path, **summarise(runs)})
        base = table[family][0]
        for row in table[family]:
            row["power_ratio"] = row["power_alpha_watts"]["mean"] / base["power_alpha_watts"]["mean"]
            row["accuracy_delta"] = row["accuracy"]["mean"] - base["accuracy"]["mean"]
            for which in ("fired", "delivered"):     # both conventions of P (the paper does not say which)
                key = f"{which}_per_image"
                row[f"{which}_ratio"] = row[key]["mean"] / base[key]["mean"]
    return Table3Result(recorded_settings(cfg), table)


# ----------------------------------------------------------------------------- SAM and pretrained weights
@dataclass
class SamResult:
    """Spike activation maps of test image ``index`` (``[C, H, W]``): ``maps[site]["50 %"]`` is ``[T, H, W]``."""

    settings: dict[str, Any]
    index: int
    steps: list[int]
    gamma: float
    image: torch.Tensor
    maps: dict[str, dict[str, torch.Tensor]]

    def save(self, out: str | Path) -> list[Path]:
        """Write one PNG per site (rows: ratios, columns: ``steps``) and ``sam.json`` (the index of files)."""
        files = {site: plot_sam_grid(self.image, maps, self.steps, f"SAM {site} (γ={self.gamma})",
                                     Path(out) / f"sam_{site.replace('.', '_')}.png")
                 for site, maps in self.maps.items()}
        index = write_json(Path(out) / "sam.json", {
            "settings": self.settings, "index": self.index, "steps": self.steps, "gamma": self.gamma,
            "files": {site: str(path) for site, path in files.items()}})
        return [*files.values(), index]


def sam(cfg: SamConfig) -> SamResult:
    """Fig. 7: SAM of one test image for each site matching ``sites``, ratio and step."""
    cfg.validate()
    steps = cfg.steps or [cfg.time_steps]
    check_option(all(1 <= s <= cfg.time_steps for s in steps), "steps", f"must lie in 1..T={cfg.time_steps}")
    per_site: dict[str, dict[str, torch.Tensor]] = {}
    for r, path in pair_checkpoints(cfg.checkpoints, cfg.ratios):
        snn = load_snn(path, cfg.hold_masks, cfg.options)
        dataset = test_loader(snn, cfg, cfg.limit).dataset
        check_option(0 <= cfg.index < len(dataset), "index", f"must be in [0, {len(dataset) - 1}]")
        image = dataset[cfg.index][0]
        if r > 0:
            set_mask_ratio(snn, r, placement(snn, cfg.parts), seed=cfg.seeds[0])
        spikes = record_spikes(snn, image.unsqueeze(0), cfg.time_steps, cfg.sites)
        pad = getattr(snn, "input_pad", (0, 0))
        for site, s in spikes.items():
            per_site.setdefault(site, {})[f"{100 * r:g} %"] = to_image(activation_maps(spatial(s), cfg.gamma)[:, 0],
                                                                     snn.img_size, pad)
    return SamResult(recorded_settings(cfg), cfg.index, steps, cfg.gamma, image, per_site)


@dataclass
class PretrainedResult:
    """The model with the Swin weights loaded where names and shapes agree, and what was loaded."""

    model: nn.Module
    report: LoadReport
    weights: str

    def save(self, out: str | Path) -> list[Path]:
        """Write ``checkpoint.pt`` (to fine-tune with ``spikemask train --init``) and ``pretrained_report.json``."""
        save_checkpoint(Path(out) / "checkpoint.pt", self.model, pretrained_from=str(self.weights))
        return [Path(out) / "checkpoint.pt", write_json(Path(out) / "pretrained_report.json", self.report.to_dict())]


def load_pretrained(cfg: PretrainedConfig) -> PretrainedResult:
    """Build ``cfg.model`` and load the Swin state dict ``cfg.weights`` into it."""
    check_limits(cfg)
    model = create_model(cfg.model, num_classes=cfg.num_classes, in_channels=cfg.in_channels,
                         img_size=cfg.img_size, **cfg.options)
    report = load_swin_weights(model, cfg.weights)
    check(bool(report.loaded), f"no tensor of {cfg.weights} fits {cfg.model} by name and shape "
                               f"({len(report.unused)} of its tensors unused); pass a Swin state dict of this size "
                               "(nothing was written)")
    return PretrainedResult(model, report, cfg.weights)
