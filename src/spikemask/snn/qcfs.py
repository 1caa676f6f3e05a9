"""QCFS: the quantization clip-floor-shift activation (Bu et al., ICLR 2022; MST §3.2, FAITHFULNESS M6).

``y = λ · clip(floor(x · L / λ + 1/2) / L, 0, 1)`` with a learnable threshold λ per layer and a
straight-through gradient for ``floor``. An IF neuron with threshold θ = λ and initial membrane
potential θ/2 reproduces it exactly over T = L steps of constant input; :mod:`spikemask.convert.conversion`
makes that swap.

**Level jitter (our addition, not in MST or QCFS).** ``QCFS.train_levels = (lo, hi)`` makes every
training-mode forward call draw its own L log-uniformly from ``[lo, hi]`` (torch's RNG, so seeded
runs repeat); evaluation always uses ``levels``. A converted network at T steps behaves like the ANN
with its constant-input sites at L = T and its deeper sites at a much finer, input-dependent
resolution (docs/mst.md, "Why the SNN misses the ANN"). A network trained at one fixed L can depend
on that exact grid; training over a range of grids removes the dependence.
:func:`set_level_jitter` sets the range on every QCFS of a model.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.snn.surrogate import floor_ste


def qcfs(x: torch.Tensor, lam: torch.Tensor, levels: int) -> torch.Tensor:
    """Functional QCFS; gradients flow to ``x`` (inside the clip range) and to ``lam``."""
    y = floor_ste(x * levels / lam + 0.5) / levels
    return torch.clamp(y, 0, 1) * lam


class QCFS(nn.Module):
    """Clip-floor-shift activation with ``levels`` = L quantisation steps and learnable λ.

    Args:
        levels: L (MST code uses 16; FAITHFULNESS M6).
        threshold: initial λ (2.0 in the MST code).
    Shape: any; elementwise.
    """

    def __init__(self, levels: int = 16, threshold: float = 2.0) -> None:
        super().__init__()
        if levels < 1:
            raise SpikemaskError(f"QCFS levels must be >= 1 (got {levels})")
        self.levels = levels
        self.init_threshold = threshold
        self.threshold = nn.Parameter(torch.empty(()))
        self.train_levels: tuple[int, int] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """λ back to its initial value (PyTorch's convention: also what ``__init__`` calls)."""
        with torch.no_grad():
            self.threshold.fill_(self.init_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return qcfs(x, self.threshold, self.sample_levels() if self.training else self.levels)

    def sample_levels(self) -> int:
        """``levels``, or a log-uniform draw from ``train_levels`` when jitter is on (module docstring)."""
        if self.train_levels is None:
            return self.levels
        lo, hi = (math.log(v) for v in self.train_levels)
        return max(1, round(math.exp(torch.empty(()).uniform_(lo, hi).item())))

    def extra_repr(self) -> str:
        jitter = f", train_levels={self.train_levels}" if self.train_levels else ""
        return f"levels={self.levels}, threshold={self.threshold.item():.4g}{jitter}"


def check_level_range(levels_range: tuple[int, int]) -> tuple[int, int]:
    """Validate a level-jitter range: two integers ``1 <= lo <= hi``; returns it as a tuple."""
    lo, hi = levels_range
    if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
        raise SpikemaskError(f"QCFS level jitter needs two integers 1 <= LO <= HI, "
                             f"got {lo} {hi}")
    return lo, hi


def set_level_jitter(model: nn.Module, levels_range: tuple[int, int] | None) -> int:
    """Set ``train_levels`` of every QCFS in ``model`` (``None`` turns jitter off).

    Returns:
        the number of QCFS modules changed.
    Raises:
        SpikemaskError: if the range is not two integers ``1 <= lo <= hi``.
    """
    if levels_range is not None:
        levels_range = check_level_range(levels_range)
    sites = [m for m in model.modules() if isinstance(m, QCFS)]
    for site in sites:
        site.train_levels = levels_range
    return len(sites)
