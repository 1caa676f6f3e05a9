"""Augmentation of event frames ``[n, 2, H, W]``, applied identically to all n frames.

:class:`NDA` follows Neuromorphic Data Augmentation (Li et al., ECCV 2022): a random horizontal flip,
then one geometric operation drawn uniformly from rolling (circular translation), rotation, shear
along x and cutout. The authors' released code draws from roll/rotate/shear with roll ±5 px,
rotation ±30° and shear ±30° at 48×48 (±3 px, ±15°, ±15° for N-Caltech101); cutout is in the paper's
pool. Here the roll and cutout sizes are fractions of the frame side so one setting fits every size,
and setting an operation's strength to 0 removes it from the pool (``NDA(degrees=0, shear=0,
cutout=0)`` is flip + roll). Randomness comes from ``torch``'s generator, so data-loader workers
seeded by PyTorch draw different augmentations.
"""
from __future__ import annotations

from typing import Callable

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from spikemask.errors import check


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def random_roll(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Roll ``x`` ``[..., H, W]`` circularly by integers dy, dx uniform in ``[-max_shift, max_shift]``."""
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,)).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def random_rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate ``x`` ``[..., H, W]`` about its centre by an angle uniform in ``[-degrees, degrees]`` (nearest)."""
    return TF.affine(x, angle=_uniform(-degrees, degrees), translate=[0, 0], scale=1.0, shear=[0.0, 0.0],
                     interpolation=InterpolationMode.NEAREST)


def random_shear(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Shear ``x`` ``[..., H, W]`` along x by an angle uniform in ``[-degrees, degrees]`` (nearest)."""
    return TF.affine(x, angle=0.0, translate=[0, 0], scale=1.0, shear=[_uniform(-degrees, degrees), 0.0],
                     interpolation=InterpolationMode.NEAREST)


def random_cutout(x: torch.Tensor, side: int) -> torch.Tensor:
    """Zero a ``side × side`` square of ``x`` ``[..., H, W]`` centred on a uniform pixel (clipped at the border)."""
    H, W = x.shape[-2:]
    cy, cx = torch.randint(0, H, ()).item(), torch.randint(0, W, ()).item()
    x = x.clone()
    x[..., max(0, cy - side // 2):cy + (side + 1) // 2, max(0, cx - side // 2):cx + (side + 1) // 2] = 0
    return x


class NDA:
    """Neuromorphic Data Augmentation on ``[n, 2, H, W]`` frames (see the module docstring).

    Args:
        flip: flip left-right with probability 0.5 (turn off where it changes the class, e.g. DVS Gesture).
        roll: maximum roll as a fraction of the frame side (0.1 ≈ ±5 px at 48×48).
        degrees: maximum rotation in degrees. shear: maximum x-shear in degrees.
        cutout: side of the cutout square as a fraction of the frame side.
    """

    def __init__(self, flip: bool = True, roll: float = 0.1, degrees: float = 30.0, shear: float = 30.0,
                 cutout: float = 0.25) -> None:
        check(min(roll, degrees, shear, cutout) >= 0, "NDA strengths (roll, degrees, shear, cutout) must be >= 0")
        self.flip, self.roll, self.degrees, self.shear, self.cutout = flip, roll, degrees, shear, cutout

    def _ops(self, side: int) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        ops = []
        if round(self.roll * side) > 0:
            ops.append(lambda x: random_roll(x, round(self.roll * side)))
        if self.degrees > 0:
            ops.append(lambda x: random_rotate(x, self.degrees))
        if self.shear > 0:
            ops.append(lambda x: random_shear(x, self.shear))
        if round(self.cutout * side) > 0:
            ops.append(lambda x: random_cutout(x, round(self.cutout * side)))
        return ops

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment frames ``x`` ``[n, 2, H, W]``; returns a tensor of the same shape."""
        if self.flip and torch.rand(()).item() < 0.5:
            x = x.flip(-1)
        ops = self._ops(min(x.shape[-2:]))
        return ops[torch.randint(len(ops), ()).item()](x) if ops else x

    def __repr__(self) -> str:
        return (f"NDA(flip={self.flip}, roll={self.roll}, degrees={self.degrees}, shear={self.shear}, "
                f"cutout={self.cutout})")
