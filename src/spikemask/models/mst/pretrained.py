"""Load timm / Microsoft Swin weights into an MST model wherever the shapes agree.

MST fine-tunes from ImageNet-pretrained Swin (its ``load_pretrained`` loads with ``strict=False``
after LN→BN and QCFS replacement). :func:`load_swin_weights` does the same, explicitly:

1. The file may hold the state dict itself or wrap it as ``{"model": ...}`` / ``{"state_dict": ...}``.
2. Key names are mapped to ours (:func:`our_key`): our names follow the Microsoft/timm-0.6 layout,
   so only two renamings are needed — timm ≥ 0.9 puts patch merging at the *start* of the next
   stage (``layers.{i}.downsample`` → ``layers.{i−1}.downsample``) and names the classifier
   ``head.fc`` (→ ``head``).
3. Buffers we compute ourselves (``relative_position_index``, ``attn_mask``) are ignored.
4. A tensor is copied only if our model has the key with the same shape. LayerNorm weights land in
   our BatchNorms (same shape, M3); BN running statistics, QCFS thresholds and the MLP BNs (M4)
   have no counterpart and stay at their initial values (reported as missing). A different class
   count, window size, patch size or channel count shows up as shape mismatches.

The :class:`LoadReport` lists loaded, missing (ours, not filled), mismatched (shape differs) and
unused (theirs, no counterpart) keys.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.io import load_torch

COMPUTED_BUFFERS = ("relative_position_index", "attn_mask")


@dataclass
class LoadReport:
    """What :func:`load_swin_weights` did, key by key (our key names)."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: dict[str, dict[str, list[int]]] = field(default_factory=dict)   # key → {"theirs", "ours"}
    unused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"loaded {len(self.loaded)} tensors; {len(self.missing)} of ours missing, "
                 f"{len(self.mismatched)} shape-mismatched, {len(self.unused)} of theirs unused, "
                 f"{len(self.ignored)} computed buffers ignored"]
        for key, shapes in list(self.mismatched.items())[:8]:
            lines.append(f"  mismatch {key}: theirs {shapes['theirs']} vs ours {shapes['ours']}")
        if self.unused:
            lines.append("  unused: " + ", ".join(self.unused[:8]) + (" ..." if len(self.unused) > 8 else ""))
        return "\n".join(lines)


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint file (plain, ``{"model": ...}`` or ``{"state_dict": ...}``)."""
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SpikemaskError("the weights file holds no state dict; pass a Swin checkpoint saved with "
                             "torch.save(model.state_dict()) or a Microsoft/timm Swin .pth file")
    return obj


def our_key(key: str, merging_at_stage_start: bool) -> str:
    """Map one timm/Microsoft Swin key to our name (see the module docstring)."""
    if merging_at_stage_start:
        key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) - 1}.downsample.", key)
    return re.sub(r"^head\.fc\.", "head.", key)


def load_swin_weights(model: nn.Module, weights: dict[str, torch.Tensor] | str | os.PathLike) -> LoadReport:
    """Copy every tensor of a timm-format Swin state dict whose name and shape match ``model``.

    Args:
        model: an MST model (e.g. ``create_model("mst_swin_t", num_classes=10, img_size=224)``).
        weights: a state dict or the path of a file holding one.
    Returns:
        A :class:`LoadReport`; ``model`` is updated in place.
    """
    source = unwrap_state_dict(load_torch(weights, "weights file") if isinstance(weights, (str, os.PathLike))
                               else weights)
    at_start = "layers.1.downsample.reduction.weight" in source and \
        "layers.0.downsample.reduction.weight" not in source
    ours = model.state_dict()
    report, update = LoadReport(), {}
    for key, value in source.items():
        name = our_key(key, at_start)
        if name.rsplit(".", 1)[-1] in COMPUTED_BUFFERS:
            report.ignored.append(key)
        elif name not in ours:
            report.unused.append(key)
        elif ours[name].shape != value.shape:
            report.mismatched[name] = {"theirs": list(value.shape), "ours": list(ours[name].shape)}
        else:
            update[name] = value
    report.loaded = sorted(update)
    report.missing = sorted(set(ours) - set(update) - set(report.mismatched))
    with torch.no_grad():
        for name, value in update.items():
            ours[name].copy_(value.to(ours[name].dtype))
    return report
