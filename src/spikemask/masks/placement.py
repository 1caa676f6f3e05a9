"""Where masks sit and how they are set: find every Random Spike Mask, set ratios by name, reseed.

Masks live in a model as :class:`~spikemask.masks.rsm.SpikeMask` (or, after conversion with held
masks, :class:`~spikemask.masks.rsm.HeldSpikeMask`) modules, one after each spike site. Their names
(``layers.0.blocks.1.attn.q_site.mask``, ``features.3.mask``, ...) are the placement: every function
here selects masks by glob patterns over those names.

- :func:`set_mask_ratio` / :func:`reseed_masks`: set the ratio (and seeds) of the masks that match.
- :func:`apply_mask_setting`: the policy of a checkpoint's ``mask`` record (``{"ratio", "where",
  "seed", "mode"}``), which describes *every* mask: the others are set to 0. ``where`` is globs or a
  placement the model names (:func:`resolve_where`; ResNet/VGG: ``'conv'``, ``'block'``).
- :data:`MASK_PARTS`, :func:`part_globs`, :func:`mask_parts`, :func:`mask_blocks`: MST's
  placements of Fig. 2(d–e) (SA and MLP) and its per-block study (Fig. 6).
"""
from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Any, Iterable

import torch
from torch import nn

from spikemask.errors import SpikemaskError, check
from spikemask.masks.rsm import HeldSpikeMask, SpikeMask, check_mode, check_ratio

# Named RSM placements of ResNet-18 / VGG-16 (their mask_placements()). No placement reproduces MST Table 3's
# CNN power ratios within ±0.05; "block" is the default because its masked students keep the paper's accuracy
# trend (docs/energy.md, "MST Table 3").
CNN_PLACEMENTS = ("conv", "block")
CNN_PLACEMENT = "block"

# RSM placements of MST Fig. 2(d–e) as mask-name globs (for masking.set_mask_ratio).
MASK_PARTS = {
    "sa": ("*.attn.q_site.mask", "*.attn.k_site.mask", "*.attn.a_site.mask"),  # Q, K, attention scores
    "mlp": ("*.mlp.fc1_site.mask",),                                         # output of the first MLP linear
}


def masks(model: nn.Module) -> list[tuple[str, SpikeMask | HeldSpikeMask]]:
    """``(name, module)`` for every :class:`SpikeMask` or :class:`HeldSpikeMask`, in definition order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (SpikeMask, HeldSpikeMask))]


def set_mask_ratio(model: nn.Module, ratio: float, where: str | Iterable[str] = "*",
                   seed: int | None = None, mode: str = "random") -> list[str]:
    """Set the RSM ratio of the masks whose names match ``where`` (glob patterns).

    Args:
        ratio: drop probability in [0, 1).
        where: one glob or several (e.g. ``"layer1.*"``, ``["features.3.*", "features.7.*"]``).
        seed: if given, mask ``i`` (in model order) gets seed ``seed + i``.
        mode: ``"random"`` or ``"expected"`` (ANN training only; see the module docstring).
    Returns:
        The names of the masks that were set; raises if none matched.
    """
    ratio, mode = check_ratio(ratio), check_mode(mode)
    patterns = [where] if isinstance(where, str) else list(where)
    all_masks = masks(model)
    hit = []
    for i, (name, m) in enumerate(all_masks):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            if isinstance(m, HeldSpikeMask):
                check(mode == "random", f"{name} is a held SNN mask, which only drops at random; "
                                        f"mode {mode!r} is for ANN training")
            else:
                m.mode = mode
            m.ratio = ratio
            if seed is not None:
                m.reseed(seed + i)
            hit.append(name)
    if not hit:
        names = ", ".join(n for n, _ in all_masks[:6]) or "none"
        raise SpikemaskError(f"no mask matches {patterns}; this model's masks are named like: {names}")
    return hit


def reseed_masks(model: nn.Module, seed: int | None) -> None:
    """Give every mask a reproducible stream (``seed + i``), or back to the global RNG with None."""
    for i, (_, m) in enumerate(masks(model)):
        m.seed = None if seed is None else seed + i
        m.reseed()


def mask_rng_states(model: nn.Module) -> dict[str, Any]:
    """``{mask name: generator state}`` of every seeded mask that has drawn (saved with checkpoints)."""
    return {name: state for name, m in masks(model) if (state := m.rng_state()) is not None}


def set_mask_rng_states(model: nn.Module, states: dict[str, Any], device: torch.device | str = "cpu") -> None:
    """Continue each named mask's random stream from :func:`mask_rng_states` (exact resume)."""
    by_name = dict(masks(model))
    for name, state in states.items():
        check(name in by_name, f"the checkpoint has a random stream for mask {name!r}, which this model lacks")
        by_name[name].set_rng_state(state, device)


def resolve_where(model: nn.Module, where: str | Iterable[str]) -> str | list[str]:
    """A named placement of ``model`` (its ``mask_placements()``, e.g. ResNet/VGG ``'conv'`` or
    ``'block'``) → its mask-name globs; anything else is already globs."""
    placements = model.mask_placements() if hasattr(model, "mask_placements") else {}
    return placements[where] if isinstance(where, str) and where in placements else where


def apply_mask_setting(model: nn.Module, setting: dict[str, Any] | None) -> None:
    """Set RSM ratios from ``{"ratio", "where", "seed", "mode"}`` and record the setting in the model's config.

    A setting describes every mask: all are set to 0 first, so an override on a masked checkpoint
    replaces its masks (``ratio`` 0 unmasks it) instead of adding to them. ``None`` keeps the masks.
    """
    if setting:
        for _, m in masks(model):
            m.ratio = 0.0
    if setting and setting.get("ratio", 0) > 0:
        set_mask_ratio(model, setting["ratio"], resolve_where(model, setting.get("where", "*")), setting.get("seed"),
                       setting.get("mode", "random"))
    if getattr(model, "model_config", None) is not None:     # the registry record (models._registry.ModelConfig)
        model.model_config = replace(model.model_config, mask=setting)


def part_globs(parts: Iterable[str]) -> list[str]:
    """The mask-name globs of RSM placements ``parts`` (any of ``'sa'``, ``'mlp'``)."""
    parts = tuple(parts)
    unknown = sorted(set(parts) - set(MASK_PARTS))
    check(bool(parts) and not unknown, f"mask parts must be any of {sorted(MASK_PARTS)}, got {list(parts)}")
    return [g for p in parts for g in MASK_PARTS[p]]


def mask_blocks(model: nn.Module, ratio: float, first_k: int, parts: Iterable[str] = ("sa",),
                seed: int | None = None) -> list[str]:
    """Mask the ``parts`` (``'sa'``, ``'mlp'``) of the first ``first_k`` blocks with ``ratio`` (Fig. 6).

    The same parts of the later blocks are set to 0, so the call fully defines those masks.
    Returns the names of the masks set to ``ratio``.
    """
    ratio = check_ratio(ratio)
    blocks = model.blocks()
    check(0 <= first_k <= len(blocks), f"first_k must be in [0, {len(blocks)}] for this model, got {first_k}")
    globs = part_globs(parts)
    names = {id(m): n for n, m in model.named_modules()}
    set_names = []
    for i, block in enumerate(blocks):
        prefix = names[id(block)]
        where = [f"{prefix}.{g.removeprefix('*.')}" for g in globs]
        hit = set_mask_ratio(model, ratio if i < first_k else 0.0, where, seed)
        set_names += hit if i < first_k else []
    return set_names


def mask_parts(model: nn.Module, ratio: float, parts: Iterable[str], seed: int | None = None) -> list[str]:
    """Set every mask of ``parts`` (``'sa'``, ``'mlp'``) to ``ratio``; returns the mask names set."""
    return set_mask_ratio(model, ratio, part_globs(parts), seed)
