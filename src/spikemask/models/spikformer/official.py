"""Load the authors' Spikformer checkpoints (ZK-Zhou/spikformer @6212689) into our ``spikformer_*`` models.

Two official layouts exist (FAITHFULNESS S1–S6): ``cifar10dvs/model.py`` (event frames, 128 px, 1×1
``Conv1d`` token layers, four pooling SPS stages, an unused ``pos_embed`` and unused LayerNorms)
and ``cifar10/model.py`` (static images, ``nn.Linear`` token layers with biases everywhere, two
pooling SPS stages, attention scale 0.125, no ``pos_embed`` but the same unused block LayerNorms).
:func:`filter_official_spikformer` maps both onto our names:

=================================================  ===============================================
theirs                                             ours
=================================================  ===============================================
``patch_embed.proj_conv{,1,2,3}.weight``           ``patch_embed.stages.{0,1,2,3}.conv.weight``
``patch_embed.proj_bn{,1,2,3}.*``                  ``patch_embed.stages.{0,1,2,3}.bn.*``
``patch_embed.rpe_conv.weight`` / ``rpe_bn.*``     ``pos.stage.conv.weight`` / ``pos.stage.bn.*``
``block.i.attn.{q,k,v,proj}_conv.*`` (DVS)         ``blocks.i.attn.{q,k,v,proj}.conv.*``
``block.i.attn.{q,k,v,proj}_linear.*`` (static)    the same, weight ``[o, i]`` → ``[o, i, 1]``
``block.i.attn.{q,k,v,proj}_bn.*``                 ``blocks.i.attn.{q,k,v,proj}.bn.*``
``block.i.mlp.fc{1,2}_conv`` / ``_linear.*``       ``blocks.i.mlp.fc{1,2}.conv.*``
``block.i.mlp.fc{1,2}_bn.*``                       ``blocks.i.mlp.fc{1,2}.bn.*``
``head.*``                                         ``head.*``
``pos_embed`` (DVS), ``block.i.norm1/norm2.*``,    not loaded: never read by the official forward
``norm.*`` (DVS)                                   (S5, S3); reported as explained
=================================================  ===============================================

Two exact rewrites make the static layout fit our (DVS-shaped) model:

- **Q/K/V biases** (ours have none, as the DVS code): a bias ``b`` before a BatchNorm is folded into
  its running mean, ``μ ← μ − b``, since ``BN(Wx + b)`` with mean μ equals ``BN(Wx)`` with mean
  ``μ − b`` (in training mode BN's batch mean removes ``b`` anyway).
- **Attention scale** 0.125 instead of our 0.25: the LIF neuron after the attention (hard reset to
  0, leak 1/τ) is linear in its input, so ``LIF_θ(0.125·S)`` fires exactly as
  ``LIF_{θ·0.25/0.125}(0.25·S)``; the attention neuron's threshold buffer is set to 0.5 × 2 = 1.0.

Spikingjelly keeps ``v_threshold`` as an attribute, so their files hold no neuron thresholds; ours
(buffers) keep the architecture's constants (S4; reported as kept). Sizes and options come from the
tensors (``dim``, ``depth``, classes, channels, MLP ratio) and from the layout: DVS patch 16 (four
pools), 16 heads, 128 px, T = 16 (``args.T`` when saved); static patch 4 (two pools) and
``args.num_heads`` / ``args.time_step`` / ``args.img_size`` when the timm checkpoint saved its
arguments, else ``cifar10.yml``'s 12 heads, T = 4, 32 px.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

import torch
from torch import nn

from spikemask.errors import check, check_option
from spikemask.models._registry import list_models
from spikemask.models.official import (
    Mapped,
    OfficialReport,
    build_for,
    check_report,
    load_mapped,
    read_official,
    require_family,
)
from spikemask.models.spikformer.spikformer import ATTENTION_SCALE, ATTENTION_THRESHOLD, Spikformer

SPIKFORMER_SOURCE = "ZK-Zhou/spikformer@6212689"
STATIC_SCALE = 0.125               # the static code's SSA scale (S2); ours and the DVS code's: 0.25
STAGES = {"": 0, "1": 1, "2": 2, "3": 3}
UNUSED_POS = "the official forward never reads pos_embed (S5)"
UNUSED_NORM = "LayerNorms the official code builds but never applies (S3)"
FOLDED_BIAS = ("bias of a Q/K/V linear before its BatchNorm: folded into that BN's running mean "
               "(BN(Wx + b) with mean μ = BN(Wx) with mean μ − b)")
KEPT_THRESHOLD = ("LIF thresholds, constants of the architecture (S4), keep our values; spikingjelly does "
                  "not save v_threshold")

_SPS = re.compile(r"^patch_embed\.proj_(conv|bn)(\d?)\.(.+)$")
_RPE = re.compile(r"^patch_embed\.rpe_(conv|bn)\.(.+)$")
_TOKEN = re.compile(r"^block\.(\d+)\.(attn|mlp)\.(q|k|v|proj|fc1|fc2)_(conv|linear|bn)\.(.+)$")
_NORM = re.compile(r"^(block\.\d+\.norm[12]|norm)\.(weight|bias)$")


def official_layout(state: Mapping[str, torch.Tensor]) -> str:
    """``'dvs'`` (``cifar10dvs/model.py``: Conv1d token layers) or ``'static'`` (``cifar10/model.py``: Linear)."""
    return "static" if any(re.match(r"^block\.\d+\.attn\.q_linear\.weight$", k) for k in state) else "dvs"


def our_spikformer_key(key: str) -> str | None:
    """One official Spikformer key under our name (None: no counterpart); see the module docstring."""
    m = _SPS.match(key)
    if m:
        return f"patch_embed.stages.{STAGES[m.group(2)]}.{'conv' if m.group(1) == 'conv' else 'bn'}.{m.group(3)}"
    m = _RPE.match(key)
    if m:
        return f"pos.stage.{m.group(1)}.{m.group(2)}"
    m = _TOKEN.match(key)
    if m:
        block, part, unit, kind, rest = m.groups()
        return f"blocks.{block}.{part}.{unit}.{'bn' if kind == 'bn' else 'conv'}.{rest}"
    return key if key in ("head.weight", "head.bias") else None


def filter_official_spikformer(state: Mapping[str, torch.Tensor], model: nn.Module) -> Mapped:
    """Map an official Spikformer state dict (DVS or static layout) onto ``model``'s keys.

    Linear weights ``[o, i]`` become 1×1 conv weights ``[o, i, 1]``; the static layout's Q/K/V
    biases are folded into the BN running means and its attention scale into the attention
    neuron's threshold (module docstring). Unused ``pos_embed`` and LayerNorms are explained.
    """
    ours = model.state_dict()
    mapped = Mapped()
    static = official_layout(state) == "static"
    for key, value in state.items():
        if key == "pos_embed":
            mapped.explain(key, UNUSED_POS)
            continue
        if _NORM.match(key):
            mapped.explain(key, UNUSED_NORM)
            continue
        m = _TOKEN.match(key)
        if m and m.group(4) == "linear" and m.group(3) in ("q", "k", "v") and m.group(5) == "bias":
            mean_key = key.replace("_linear.bias", "_bn.running_mean")
            if mean_key in state and our_spikformer_key(mean_key) in ours:
                mapped.explain(key, FOLDED_BIAS)
            else:
                mapped.unexpected.append(key)
            continue
        name = our_spikformer_key(key)
        if name is None or name not in ours:
            mapped.unexpected.append(key)
            continue
        if m and m.group(4) == "linear" and m.group(5) == "weight" and value.dim() == 2:
            value = value.unsqueeze(-1)                                  # Linear [o, i] → Conv1d 1×1 [o, i, 1]
        mapped.put(name, value, key)
    if static:
        for key in list(mapped.explained.get(FOLDED_BIAS, [])):
            mean_key = key.replace("_linear.bias", "_bn.running_mean")
            name = our_spikformer_key(mean_key)
            mapped.put(name, state[mean_key] - state[key], f"{mean_key} - {key}")
        threshold = ATTENTION_THRESHOLD * ATTENTION_SCALE / STATIC_SCALE
        for name in ours:
            if name.endswith("attn.attn_lif.threshold"):
                mapped.put(name, torch.tensor(threshold), f"attention scale {STATIC_SCALE} folded into the threshold")
        mapped.notes.append(f"static layout: the attention neuron's threshold is {threshold:g} "
                            f"(= {ATTENTION_THRESHOLD} × {ATTENTION_SCALE}/{STATIC_SCALE}), so our scale "
                            f"{ATTENTION_SCALE} fires exactly as their {STATIC_SCALE}; the Q/K/V biases are folded "
                            "into the BN running means")
    kept = [k for k in ours if k.endswith("lif.threshold") and k not in mapped.state]
    if kept:
        mapped.kept[KEPT_THRESHOLD] = kept
    return mapped


def official_spikformer_options(state: Mapping[str, torch.Tensor], record: Mapping[str, Any] | None = None
                                ) -> tuple[str, dict[str, int], dict[str, Any]]:
    """``(registry name, sizes, options)`` of an official Spikformer state dict (module docstring).

    ``record``: the run's settings saved with the weights (``{"args": {...}}``), read where present.
    """
    need = ("patch_embed.proj_conv.weight", "patch_embed.proj_conv3.weight", "head.weight")
    check(all(k in state for k in need),
          f"the official Spikformer state dict lacks {[k for k in need if k not in state]}")
    layout = official_layout(state)
    dim = int(state["patch_embed.proj_conv3.weight"].shape[0])
    depth = len({int(m.group(1)) for k in state if (m := re.match(r"^block\.(\d+)\.", k))})
    check(depth >= 1, "the official Spikformer state dict has no blocks 'block.i'")
    kind = "conv" if layout == "dvs" else "linear"
    fc1 = state.get(f"block.0.mlp.fc1_{kind}.weight")
    args = dict((record or {}).get("args") or {})
    sizes = {"num_classes": int(state["head.weight"].shape[0]),
             "in_channels": int(state["patch_embed.proj_conv.weight"].shape[1])}
    options: dict[str, Any] = {"mlp_ratio": float(fc1.shape[0] / dim) if fc1 is not None else 4.0}
    if layout == "dvs":            # spikformer() of cifar10dvs/model.py: patch 16, 16 heads, 128 px (hard-coded)
        sizes["img_size"] = 128
        options.update(patch=16, heads=16, time_steps=_int(args.get("T"), 16))
    else:                          # cifar10/model.py with cifar10.yml (two pools: patch 4)
        sizes["img_size"] = _int(args.get("img_size"), 32)
        options.update(patch=4, heads=_int(args.get("num_heads"), 12), time_steps=_int(args.get("time_step"), 4))
    return f"spikformer_{depth}_{dim}", sizes, options


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


def load_official_spikformer(weights: str | os.PathLike | Mapping[str, Any], model: str | None = None,
                             options: Mapping[str, Any] | None = None, num_classes: int | None = None,
                             in_channels: int | None = None, img_size: int | None = None,
                             allow_partial: bool = False) -> tuple[nn.Module, OfficialReport]:
    """Build a Spikformer to fit an official checkpoint (DVS or static) and load it.

    Args:
        weights: the checkpoint file (or dict), see :func:`~spikemask.models.mst.official.read_official`.
        model: registry name; None picks ``spikformer_{depth}_{dim}`` from the tensors.
        options, num_classes, in_channels, img_size: override what is read from the file (e.g.
            ``heads=12``, ``time_steps=4``).
        allow_partial: keep what fits instead of refusing missing or unexplained keys.
    Returns:
        ``(model, report)``.
    Raises:
        SpikemaskError: another family's state dict, no registered model of that depth and width,
            nothing loaded, mismatches (and, unless ``allow_partial``, missing or unexplained keys).
    """
    state, record = read_official(weights)
    require_family(state, "spikformer")
    name, sizes, inferred = official_spikformer_options(state, record)
    if model is None:
        spikformers = list_models("spikformer_*")
        check(name in spikformers, f"no registered model fits this checkpoint ({name}); registered: "
                                   f"{', '.join(spikformers)}; pass --model")
        model = name
    check_option(model.startswith(("spikformer", "sdmformer")), "model",
                 f"{model!r} is not a Spikformer; official Spikformer weights load into {name}")
    net, sizes, used = build_for(model, inferred, sizes, options,
                                 {"num_classes": num_classes, "in_channels": in_channels, "img_size": img_size})
    check_option(isinstance(net, Spikformer), "model", f"{model!r} is not a Spikformer; official Spikformer "
                                                       f"weights load into {name} (or another spikformer_* model)")
    layout = official_layout(state)
    source = f"{SPIKFORMER_SOURCE} {'cifar10dvs' if layout == 'dvs' else 'cifar10'}/model.py"
    report = OfficialReport("spikformer", source, str(weights) if not isinstance(weights, Mapping) else "<state dict>",
                            model, sizes, used)
    load_mapped(net, filter_official_spikformer(state, net), report)
    check_report(report, allow_partial)
    return net, report
