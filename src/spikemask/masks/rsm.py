"""Random Spike Masking (RSM, MST §3.4, FAITHFULNESS M12).

Each spike is dropped (set to 0) independently with probability ``ratio``, in training (on QCFS
outputs) and in inference (on IF spikes). Unlike dropout there is no ``1/(1-p)`` rescaling: the
point is to transmit fewer spikes. A fresh mask is drawn at every call (every iteration, every
SNN time step). ``ratio = 0`` is the exact identity and draws no random numbers.

Masks live in the model as :class:`SpikeMask` modules placed after each spiking site, so their
ratios can be set per layer by name with :func:`set_mask_ratio`.

Training modes (``SpikeMask.mode``): ``"random"`` is the paper's RSM — Bernoulli masks in the ANN
as well. ``"expected"`` (our addition, not in the paper) multiplies ANN activations by ``1 − ratio``,
the mean of a random mask: the rate a masked SNN transmits as T grows. It trains a masked student
without the mask noise that deep, narrow networks cannot average out in one forward pass. After
conversion every mask drops spikes at random whatever the mode (:func:`spikemask.convert.conversion.convert`
switches them), so SNN spike counts and accuracies always include real masking.

Held masks (our addition, not in the paper): ``convert(ann, hold_masks=True)`` replaces every mask by a
:class:`HeldSpikeMask`, which draws one Bernoulli mask per input at its first time step and keeps it
for all T steps. Each spike is still dropped with probability ``ratio``, so the expected spike count
is the same, but as T grows the SNN approaches the ANN under that one random mask. With a fresh mask
per step (the code, M12) every neuron instead receives ``1 − ratio`` of its input rate, and a
threshold neuron does not map that mean to the mean of its masked ANN outputs. Measured on the MNIST
MST students this made no accuracy difference (docs/mst.md); the option is for users who want it.
"""
from __future__ import annotations

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.snn.base import StatefulModule
from spikemask.snn.functional import time_major_view

MASK_MODES = ("random", "expected")


def check_ratio(ratio: float) -> float:
    """Validate a masking ratio: it must lie in [0, 1)."""
    ratio = float(ratio)
    if not 0.0 <= ratio < 1.0:
        raise SpikemaskError(f"masking ratio must be in [0, 1), got {ratio}")
    return ratio


def check_mode(mode: str) -> str:
    """Validate a mask training mode."""
    if mode not in MASK_MODES:
        raise SpikemaskError(f"mask mode must be one of {MASK_MODES}, got {mode!r}")
    return mode


def random_spike_mask(x: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero each element of ``x`` with probability ``ratio`` (no rescaling). Shape is kept."""
    if ratio == 0.0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= ratio
    return x * keep.to(x.dtype)


class SeededStream:
    """A reproducible random stream for a mask: ``seed`` (None = the global torch RNG) and ``reseed``."""

    seed: int | None
    _generator: torch.Generator | None

    def reseed(self, seed: int | None = None) -> None:
        """Restart this mask's random stream (from ``seed`` if given, else from its own seed)."""
        if seed is not None:
            self.seed = seed
        self._generator = None

    def rng_state(self) -> torch.Tensor | None:
        """The state of this mask's own generator (None: no seed, or nothing drawn since the last reseed)."""
        return None if self._generator is None else self._generator.get_state()

    def set_rng_state(self, state: torch.Tensor, device: torch.device | str = "cpu") -> None:
        """Continue this mask's stream from ``state`` (from :meth:`rng_state`; the mask needs its seed)."""
        generator = self._gen(torch.device(device))
        if generator is not None:
            generator.set_state(state)

    def _gen(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed)
        return self._generator


class SpikeMask(SeededStream, nn.Module):
    """RSM as a module: ``ratio`` drop probability, optional ``seed`` for reproducible masks.

    With a seed, the module owns a generator that is re-seeded by :meth:`reseed`, so two runs with
    the same seed draw identical masks. Without one, the global torch RNG is used. ``mode`` is
    ``"random"`` (drop spikes) or ``"expected"`` (scale by ``1 − ratio``; see the module docstring).
    """

    def __init__(self, ratio: float = 0.0, seed: int | None = None, mode: str = "random") -> None:
        super().__init__()
        self.ratio = check_ratio(ratio)
        self.seed = seed
        self.mode = check_mode(mode)
        self._generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ratio == 0.0:
            return x
        if self.mode == "expected":
            return x * (1.0 - self.ratio)
        return random_spike_mask(x, self.ratio, self._gen(x.device))

    def extra_repr(self) -> str:
        return (f"ratio={self.ratio}, mode={self.mode!r}"
                + (f", seed={self.seed}" if self.seed is not None else ""))


class HeldSpikeMask(SeededStream, StatefulModule):
    """RSM for a converted SNN with one mask per input held over all T steps (module docstring).

    The mask is the module's state ``keep``: drawn (keep with probability ``1 − ratio``) at the first
    step after a reset, so multi-step ``[T, B, ...]``, folded ``[T·B, ...]``, chunked and single-step
    runs apply the same mask. ``reset_net`` starts a new input. ``mode`` is always ``"random"``.
    """

    mode = "random"

    def __init__(self, ratio: float = 0.0, seed: int | None = None, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        self.ratio = check_ratio(ratio)
        self.seed = seed
        self._generator = None
        self.register_state("keep")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.ratio == 0.0:
            return x
        x, restore = time_major_view(x, self.step_mode)
        if self.keep is None or self.keep.shape != x.shape[1:]:
            self.keep = (torch.rand(x.shape[1:], generator=self._gen(x.device), device=x.device)
                         >= self.ratio).to(x.dtype)
        return restore(x * self.keep)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, held" + (f", seed={self.seed}" if self.seed is not None else "")
