"""SDMFormer vs Spikformer size and energy, and the paper's analyses of one model, as library functions.

- :func:`compare`: Table 1 (parameter ratio) and Table 3 (energy ratio, Table 2 energy model) of two
  checkpoints on the same test batches.
- :func:`analyze`: one checkpoint's masking ratios (§4.2), block firing rates (Fig. 6),
  inactive-channel ratios after an SSA (Fig. 1a), position-encoding heatmaps (Fig. 4) and energy.

Both return a result whose ``to_dict()`` is the JSON record and ``save(out)`` writes it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader

from spikemask.convert.conversion import load_model
from spikemask.errors import check, check_option
from spikemask.io import write_json
from spikemask.masks.dynamic import mask_report
from spikemask.measure.activity import inactive_channel_ratios, position_heatmaps
from spikemask.measure.synaptic import (
    E_AC_PJ,
    E_MAC_PJ,
    block_firing_rates,
    compare_models,
    measure_activity,
    parameter_counts,
    synaptic_energy,
)
from spikemask.models.spikformer.spikformer import Spikformer
from spikemask.studies.common import DataSettings, test_loader
from spikemask.train.trainer import pick_device


@dataclass(kw_only=True)
class EnergySettings(DataSettings):
    """The test split, the energy per operation (45 nm) and how many batches to measure."""

    e_mac: float = field(default=E_MAC_PJ, metadata={"help": "pJ per MAC (45 nm)"})
    e_ac: float = field(default=E_AC_PJ, metadata={"help": "pJ per AC (45 nm)"})
    rate: str = field(default="input", metadata={
        "choices": ("input", "output"),
        "help": "S_Conv: input spikes per element or the layer's own firing rate (A9)"})
    max_batches: int | None = field(default=None, metadata={"help": "use only this many test batches", "min": 1})


@dataclass(kw_only=True)
class CompareConfig(EnergySettings):
    """:func:`compare`: a Spikformer and an SDMFormer built for the same data."""

    spikformer: str = field(metadata={"help": "checkpoint of a spikformer_* model"})
    sdmformer: str = field(metadata={"help": "checkpoint of an sdmformer_* model (masked or pruned)"})


@dataclass(kw_only=True)
class AnalyzeConfig(EnergySettings):
    """:func:`analyze`: one checkpoint, and the encoder block for the inactive-channel ratio."""

    checkpoint: str = field(metadata={"help": "checkpoint of a spikformer_* or sdmformer_* model"})
    block: int = field(default=0, metadata={"help": "encoder block for the inactive-channel ratio"})


class ModelBatches:
    """Re-iterable test batches on a device: images ``[B, C, H, W]`` or time-major frames ``[T, B, C, H, W]``."""

    def __init__(self, loader: DataLoader, device: torch.device, max_batches: int | None) -> None:
        self.loader, self.device, self.max_batches = loader, device, max_batches

    def __iter__(self) -> Iterator[torch.Tensor]:
        for i, (x, _) in enumerate(self.loader):
            if self.max_batches is not None and i >= self.max_batches:
                return
            x = x.to(self.device)
            yield x.transpose(0, 1) if x.dim() == 5 else x        # loader frames [B, T, ...] → [T, B, ...]


def load_spiking_transformer(path: str, device: torch.device, param: str, family: str | None = None) -> Spikformer:
    """The Spikformer-family model of checkpoint ``path`` (given as parameter ``param``) on ``device``;
    with ``family`` (``"spikformer"`` or ``"sdmformer"``) its registry name must start with it."""
    model = load_model(path)
    check_option(isinstance(model, Spikformer), param, f"holds a {type(model).__name__} ({path}); pass a "
                                                        "spikformer_* or sdmformer_* checkpoint")
    check_option(family is None or (model.model_name or "").startswith(family), param,
                 f"takes a {family}_* checkpoint, but {path} holds model {model.model_name}; are the two swapped?")
    return model.to(device)


@dataclass
class CompareResult:
    """``measures`` is :func:`~spikemask.measure.synaptic.compare_models`' ``{"params", "energy", "activity"}``."""

    spikformer: str
    sdmformer: str
    measures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"spikformer": self.spikformer, "sdmformer": self.sdmformer, **self.measures}

    def save(self, out: str | Path) -> Path:
        """Write ``sdm_compare.json`` into ``out``."""
        return write_json(Path(out) / "sdm_compare.json", self.to_dict())


def compare(cfg: CompareConfig) -> CompareResult:
    """Parameters (Table 1) and energy (Table 3) of the SDMFormer relative to the Spikformer."""
    cfg.validate()
    device = pick_device(cfg.device)
    spk = load_spiking_transformer(cfg.spikformer, device, "spikformer", "spikformer")
    sdm = load_spiking_transformer(cfg.sdmformer, device, "sdmformer", "sdmformer")
    sizes = [(m.in_channels, m.img_size, m.num_classes) for m in (spk, sdm)]
    check(sizes[0] == sizes[1], f"the checkpoints were built for different data (channels, size, classes): "
                                f"{sizes[0]} vs {sizes[1]}; compare models trained on the same dataset")
    batches = ModelBatches(test_loader(sdm, cfg), device, cfg.max_batches)
    return CompareResult(cfg.spikformer, cfg.sdmformer,
                         compare_models(spk, sdm, batches, e_mac=cfg.e_mac, e_ac=cfg.e_ac, rate=cfg.rate))


@dataclass
class AnalyzeResult:
    """The analyses of one checkpoint (per-sample energies in pJ; ratios and rates as fractions)."""

    checkpoint: str
    params: dict[str, int]
    mask_ratios: dict[str, dict[str, float]]
    firing_rates: dict[str, float]
    inactive_channels: dict[str, Any]
    position_heatmaps: list
    energy: dict[str, Any]
    activity: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, out: str | Path) -> Path:
        """Write ``sdm_analysis.json`` into ``out``."""
        return write_json(Path(out) / "sdm_analysis.json", self.to_dict())


def analyze(cfg: AnalyzeConfig) -> AnalyzeResult:
    """Masking ratios, block firing rates, inactive channels, position heatmaps and energy of one model."""
    cfg.validate()
    device = pick_device(cfg.device)
    model = load_spiking_transformer(cfg.checkpoint, device, "checkpoint")
    check_option(0 <= cfg.block < len(model.blocks), "block", f"must be in [0, {len(model.blocks) - 1}]")
    batches = ModelBatches(test_loader(model, cfg), device, cfg.max_batches)
    activity = measure_activity(model, batches)
    masks = mask_report(model)
    return AnalyzeResult(
        checkpoint=cfg.checkpoint,
        params=parameter_counts(model),
        mask_ratios=masks,
        firing_rates=block_firing_rates(activity),
        inactive_channels=inactive_channel_ratios(model, batches, cfg.block),
        position_heatmaps=position_heatmaps(model, next(iter(batches))).tolist(),
        energy=synaptic_energy(activity, cfg.e_mac, cfg.e_ac, cfg.rate),
        activity=activity,
    )
