"""What the studies share: data and simulation settings, the checked test loader, loading for evaluation.

Settings are dataclasses whose field ``metadata`` holds help text and limits; the ``spikemask``
commands make their flags from them (:mod:`spikemask.cli.options`). Every study config extends
:class:`DataSettings` (the test split) or :class:`EvalSettings` (the test split simulated as an SNN).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from torch import nn
from torch.utils.data import DataLoader, Subset

from spikemask.checkpoint import load_checkpoint
from spikemask.data import get_dataset
from spikemask.errors import check, check_limits, check_option, number_in
from spikemask.masks.placement import apply_mask_setting
from spikemask.models.record import build_model

Log = Callable[[str], None] | None   # gets one line of text per finished step (e.g. print); None: quiet


def say(log: Log, line: str) -> None:
    """Pass ``line`` to ``log`` unless it is None."""
    if log is not None:
        log(line)


MAX_TIME_STEPS = 65536   # the longest simulation accepted: the papers' T is at most a few hundred steps


@dataclass(kw_only=True)
class DataSettings:
    """The test split a study runs on, and the device."""

    dataset: str = field(default="mnist", metadata={"help": "dataset name (`spikemask models` lists them)"})
    root: str | None = field(default=None, metadata={
        "help": "folder holding the dataset files (not needed for the bundled mnist)"})
    data_options: dict[str, Any] = field(default_factory=dict, metadata={
        "flags": ("--data-opt",), "help": "dataset option (e.g. frames=16, layout=channels for event data)"})
    batch_size: int = field(default=200, metadata={"help": "evaluation batch size", "min": 1})
    device: str = field(default="auto", metadata={"help": "cpu, cuda or auto (auto: cuda if available)"})

    def validate(self) -> None:
        """Raise :class:`~spikemask.errors.OptionError` for a field outside its limits (:func:`check_limits`)."""
        check_limits(self)


@dataclass(kw_only=True)
class EvalSettings(DataSettings):
    """The test split simulated as an SNN: T, memory, images, masks and the power model."""

    time_steps: int = field(default=64, metadata={"flags": ("--time-steps", "-T"), "min": 1,
                                                  "check": number_in(1, MAX_TIME_STEPS),
                                                  "help": "simulation length T"})
    time_chunk: int | None = field(default=None, metadata={
        "help": "steps per forward call, to bound memory (default: all)", "min": 1})
    limit: int | None = field(default=None, metadata={"help": "use only the first N test images (quick runs)",
                                                      "min": 1})
    hold_masks: bool = field(default=False, metadata={
        "help": "SNN masks: one draw per image held for all T steps (ours) instead of a fresh mask every "
                "step (the code, M12)"})
    alpha: float = field(default=1.0, metadata={"help": "energy per spike in J, P = spikes/1 ms × α",
                                                "check": number_in(0, low_open=True)})
    spikes: str = field(default="delivered", metadata={
        "help": "spikes in MST's power P = spikes/1 ms × α: 'delivered' (after the masks) or 'fired' (before)",
        "choices": ("fired", "delivered")})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})


def test_loader(model: nn.Module, settings: DataSettings, limit: int | None = None) -> DataLoader:
    """The test split of ``settings.dataset`` (its first ``limit`` images), checked against ``model``.

    The dataset must give images of the model's ``in_channels × img_size × img_size`` and have its
    ``num_classes``; batches are ``settings.batch_size`` images, unshuffled, without augmentation.
    """
    spec = get_dataset(settings.dataset, root=settings.root, train=False,
                       **{**settings.data_options, "augment": False})
    check(spec.in_channels == model.in_channels and spec.img_size == model.img_size,
          f"{settings.dataset} gives {spec.in_channels}x{spec.img_size}x{spec.img_size} images but the "
          f"checkpoint's model expects {model.in_channels}x{model.img_size}x{model.img_size}; evaluate on the "
          "dataset it was trained on")
    check(spec.num_classes == model.num_classes,
          f"{settings.dataset} has {spec.num_classes} classes but the model has {model.num_classes} outputs")
    dataset = spec.dataset if not limit else Subset(spec.dataset, range(min(limit, len(spec.dataset))))
    return DataLoader(dataset, settings.batch_size)


def load_ann(path: str, options: dict[str, Any] | None = None,
             mask: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A checkpoint's ANN in eval mode, rebuilt with ``options``, and the checkpoint dict.

    ``mask`` (``{"ratio", "where", "seed"}``) replaces the checkpoint's masks: every other mask is
    set to 0 (:func:`~spikemask.masks.placement.apply_mask_setting`); None keeps them as saved.
    """
    ckpt = load_checkpoint(path)
    model = build_model(ckpt, options)
    if mask is not None:
        apply_mask_setting(model, mask)
    return model.eval(), ckpt


def option_strings(options: dict[str, Any]) -> list[str] | None:
    """``{"product": "rate"}`` → ``["product=rate"]`` (how results record options); None when empty."""
    return [f"{k}={v}" for k, v in options.items()] or None


def pair_checkpoints(checkpoints: Iterable[str], ratios: list[float],
                     param: str = "checkpoints") -> list[tuple[float, str]]:
    """``(ratio, checkpoint)`` pairs: one checkpoint for all ratios, or one per ratio (in order)."""
    checkpoints = list(checkpoints)
    check_option(len(checkpoints) in (1, len(ratios)), param,
                 f"must be one checkpoint for all ratios or one per ratio ({len(ratios)}), not {len(checkpoints)}")
    return list(zip(ratios, checkpoints * len(ratios) if len(checkpoints) == 1 else checkpoints))
