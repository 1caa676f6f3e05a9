"""Load the authors' MST checkpoints (bic-L/Masked-Spiking-Transformer @368c9a5) into ``mst_swin_t``.

The official code trains a Swin with BatchNorm whose activation sites are ``nn.ReLU`` modules named
``*_if``, replaced before training by QCFS modules (``MyFloor``) that hold one learnable threshold
``up`` of shape ``[1]`` (FAITHFULNESS M5, M6). Our model has the same weights under the same
Microsoft/timm names, so :func:`filter_official_mst` (timm's ``checkpoint_filter_fn`` idea) only has
to rename the activation sites and the MLP norms:

==============================================  ==================================================
theirs                                          ours
==============================================  ==================================================
``patch_embed.proj_if.up`` ``[1]``              ``patch_embed.site.act.threshold`` ``[]`` (λ)
``….blocks.j.shortcut1_if.up``                  ``….blocks.j.norm1_site.act.threshold``
``….blocks.j.shortcut2_if.up``                  ``….blocks.j.norm2_site.act.threshold``
``….attn.q_if/k_if/v_if.up``                    ``….attn.q_site/k_site/v_site.act.threshold``
``….attn.attn_if.up`` / ``attn_v_if.up``        ``….attn.a_site`` / ``av_site.act.threshold``
``….attn.proj_if.up``                           ``….attn.proj_site.act.threshold``
``….mlp.fc1_if.up`` / ``fc2_if.up``             ``….mlp.fc1_site`` / ``fc2_site.act.threshold``
``….mlp.norm1.*`` / ``norm2.*`` (ImageNet, M4)  ``….mlp.bn1.*`` / ``bn2.*`` (``mlp_bn=True``)
``layers.i.downsample.reduction_if.up``         ``layers.i.downsample.site.act.threshold``
every other key (convs, linears, BN1d norms,    the same key
``relative_position_bias_table``, final LN
``norm``, ``head``)
``….attn.relative_position_index``              computed by our model; checked equal, not loaded
``….blocks.j.attn_mask``                        our ``shift_mask``, computed; checked equal, not loaded
==============================================  ==================================================

:func:`official_mst_options` reads the architecture from the tensors (embed dim, depths, heads,
window, patch, classes, input size from the shift masks, MLP BN for ImageNet checkpoints, LayerNorm
as the final norm: ``final_norm='ln'``), so the model is built to fit. Options the tensors cannot
show (``levels`` L = 16 and ``mask_ratio``: the 75 % checkpoints need ``mask_ratio=0.75``) keep
our defaults or are given by the caller.

What both families share (reading a file without running code from it, telling the layouts apart,
accounting for every key) is :mod:`spikemask.models.official`; the Spikformer filter is
:mod:`spikemask.models.spikformer.official`.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Mapping

import torch
from torch import nn

from spikemask.errors import check, check_option
from spikemask.models.official import (
    Mapped,
    OfficialReport,
    build_for,
    check_report,
    load_mapped,
    read_official,
    require_family,
)

MST_SOURCE = "bic-L/Masked-Spiking-Transformer@368c9a5"
SITE_RENAMES = (   # (their pattern, our replacement) for the QCFS thresholds and the MLP norms
    (r"^patch_embed\.proj_if\.up$", "patch_embed.site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+)\.shortcut1_if\.up$", r"\1.norm1_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+)\.shortcut2_if\.up$", r"\1.norm2_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+\.attn)\.(q|k|v)_if\.up$", r"\1.\2_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+\.attn)\.attn_if\.up$", r"\1.a_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+\.attn)\.attn_v_if\.up$", r"\1.av_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+\.attn)\.proj_if\.up$", r"\1.proj_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+\.mlp)\.fc(1|2)_if\.up$", r"\1.fc\2_site.act.threshold"),
    (r"^(layers\.\d+\.blocks\.\d+\.mlp)\.norm(1|2)\.", r"\1.bn\2."),
    (r"^(layers\.\d+\.downsample)\.reduction_if\.up$", r"\1.site.act.threshold"),
)
_RENAMES = [(re.compile(p), r) for p, r in SITE_RENAMES]
_INDEX = re.compile(r"^(layers\.\d+\.blocks\.\d+\.attn)\.relative_position_index$")
_ATTN_MASK = re.compile(r"^(layers\.\d+\.blocks\.\d+)\.attn_mask$")
COMPUTED_INDEX = "our model computes the relative position index from the window (checked equal to theirs)"
COMPUTED_MASK = "our model computes this shift mask ('shift_mask') from the window and grid (checked equal to theirs)"


def our_mst_key(key: str) -> str:
    """One official MST key under our name (the table in the module docstring; most keys are unchanged)."""
    for pattern, replacement in _RENAMES:
        if pattern.match(key):
            return pattern.sub(replacement, key)
    return key


def filter_official_mst(state: Mapping[str, torch.Tensor], model: nn.Module) -> Mapped:
    """Map an official MST state dict onto ``model``'s keys (timm's ``checkpoint_filter_fn``).

    ``up`` ``[1]`` becomes our scalar λ; the relative position indices and shift masks, which our
    model computes (non-persistent buffers), are compared with theirs: equal ones are explained,
    different ones are mismatches (another window or input size). Keys with no counterpart are
    ``unexpected``.
    """
    ours = model.state_dict()
    buffers = dict(model.named_buffers())
    mapped = Mapped()
    for key, value in state.items():
        index, mask = _INDEX.match(key), _ATTN_MASK.match(key)
        if index or mask:
            name = f"{index.group(1)}.relative_position_index" if index else f"{mask.group(1)}.shift_mask"
            own = buffers.get(name)
            if own is None or own.shape != value.shape or not torch.equal(own.to(value.dtype), value):
                shown = None if own is None else list(own.shape)
                mapped.mismatched[name] = {"theirs": list(value.shape), "ours": shown,
                                           "why": f"their {key} differs from ours (another window or image size)"}
            else:
                mapped.explain(key, COMPUTED_INDEX if index else COMPUTED_MASK)
            continue
        name = our_mst_key(key)
        if name not in ours:
            mapped.unexpected.append(key)
            continue
        if name.endswith(".act.threshold") and value.numel() == 1:
            value = value.reshape(())                              # MyFloor's up is [1], our λ a scalar
        mapped.put(name, value, key)
    for name, own in buffers.items():                              # shifted blocks theirs do not shift
        if name.endswith("shift_mask") and own is not None:
            theirs = name.replace("shift_mask", "attn_mask")
            if theirs not in state:
                mapped.mismatched[name] = {"theirs": None, "ours": list(own.shape),
                                           "why": f"ours shifts its windows, theirs has no {theirs}"}
    return mapped


def official_mst_options(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, int], dict[str, Any]]:
    """Sizes and architecture options of an official MST state dict, read from its tensors.

    Returns ``(sizes, options)``: ``num_classes``, ``in_channels``, ``img_size`` and ``embed_dim``,
    ``depths``, ``heads``, ``patch_size``, ``window_size``, ``mlp_ratio``, ``mlp_bn`` (ImageNet
    checkpoints, M4), ``final_norm`` (``'ln'``: the code's final LayerNorm, M3).
    """
    need = ("patch_embed.proj.weight", "head.weight")
    check(all(k in state for k in need), f"the official MST state dict lacks {[k for k in need if k not in state]}")
    proj = state["patch_embed.proj.weight"]
    embed_dim, in_channels, patch = proj.shape[0], proj.shape[1], proj.shape[-1]
    blocks: dict[int, set[int]] = {}
    for key in state:
        m = re.match(r"^layers\.(\d+)\.blocks\.(\d+)\.", key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    stages = sorted(blocks)
    check(bool(stages) and stages == list(range(len(stages))),
          "the official MST state dict has no blocks 'layers.i.blocks.j'")
    depths = tuple(len(blocks[i]) for i in stages)
    tables = [state.get(f"layers.{i}.blocks.0.attn.relative_position_bias_table") for i in stages]
    check(all(t is not None for t in tables), "the official MST state dict lacks relative_position_bias_table")
    heads = tuple(int(t.shape[1]) for t in tables)
    window = (math.isqrt(tables[0].shape[0]) + 1) // 2                # (2w − 1)² rows
    grid = None
    mask = state.get("layers.0.blocks.1.attn_mask")
    if mask is not None:                                             # [nW, w², w²], nW = (grid / w)²
        grid = math.isqrt(mask.shape[0]) * math.isqrt(mask.shape[1])
    img_size = grid * patch if grid else 224                         # M2: 224 for every dataset
    fc1 = state.get("layers.0.blocks.0.mlp.fc1.weight")
    options = {"embed_dim": embed_dim, "depths": depths, "heads": heads, "patch_size": patch,
               "window_size": window, "mlp_ratio": float(fc1.shape[0] / embed_dim) if fc1 is not None else 4.0,
               "mlp_bn": any(".mlp.norm1." in k for k in state),
               "final_norm": "bn" if "norm.running_mean" in state else "ln"}
    sizes = {"num_classes": int(state["head.weight"].shape[0]), "in_channels": int(in_channels), "img_size": img_size}
    return sizes, options


def load_official_mst(weights: str | os.PathLike | Mapping[str, Any], model: str = "mst_swin_t",
                      options: Mapping[str, Any] | None = None, num_classes: int | None = None,
                      in_channels: int | None = None, img_size: int | None = None,
                      allow_partial: bool = False) -> tuple[nn.Module, OfficialReport]:
    """Build ``model`` to fit an official MST checkpoint and load it.

    Args:
        weights: the checkpoint file (or dict), see :func:`read_official`.
        model: registry name (``mst_swin_t``); options: model options on top of those read from the
            file (e.g. ``mask_ratio=0.75`` for the 75 % checkpoints); num_classes, in_channels,
            img_size: override the sizes read from the file.
        allow_partial: keep what fits instead of refusing missing or unexplained keys.
    Returns:
        ``(model, report)``; the model is a QCFS ANN ready for :func:`spikemask.convert.conversion.convert`.
    Raises:
        SpikemaskError: another family's state dict, nothing loaded, mismatches (and, unless
            ``allow_partial``, missing or unexplained keys) — one line each.
    """
    state, _ = read_official(weights)
    require_family(state, "mst")
    check_option(model.startswith("mst_"), "model", f"{model!r} is not an MST model; official MST weights load "
                                                    "into mst_swin_t")
    sizes, inferred = official_mst_options(state)
    net, sizes, used = build_for(model, inferred, sizes, options,
                                 {"num_classes": num_classes, "in_channels": in_channels, "img_size": img_size})
    report = OfficialReport("mst", MST_SOURCE, str(weights) if not isinstance(weights, Mapping) else "<state dict>",
                            model, sizes, used)
    load_mapped(net, filter_official_mst(state, net), report)
    check_report(report, allow_partial)
    return net, report
