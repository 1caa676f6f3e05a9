"""The authors' checkpoints: what the MST and Spikformer filters share.

Reading a checkpoint of the official code (:func:`read_official`: bare state dicts, ``{"model": ...}``
or ``{"state_dict": ...}`` wrappers, ``module.`` prefixes, and the yacs / argparse settings saved with
them read as plain data), telling its family from its keys (:func:`detect_family`), the mapped state
dict (:class:`Mapped`), loading it and accounting for every key (:func:`load_mapped`,
:class:`OfficialReport`, :func:`check_report`) and building our model to fit the file
(:func:`build_for`). The family filters are :mod:`spikemask.models.mst.official` and
:mod:`spikemask.models.spikformer.official`.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from spikemask.errors import SpikemaskError, check
from spikemask.io import load_torch
from spikemask.models._registry import create_model, model_options
from spikemask.models.record import check_finite_weights

WRAPPERS = ("model", "state_dict")                     # official checkpoints: {"model": ...}; timm: {"state_dict": ...}
RECORD_KEYS = ("args", "config")                       # the run's settings saved beside the weights
FAMILY_NAMES = {"mst": "MST", "spikformer": "Spikformer"}


# ============================================================================= shared by both families
class _ConfigRecord:
    """Stands in for yacs' ``CfgNode`` (a dict subclass) while reading: becomes a plain ``OrderedDict``."""

    def __new__(cls, *args: Any) -> Any:  # noqa: D102
        return collections.OrderedDict()


class _NamespaceRecord:
    """Stands in for ``argparse.Namespace`` while reading: an inert object that only receives attributes."""


SAFE_RECORDS = [(_ConfigRecord, "yacs.config.CfgNode"), (_NamespaceRecord, "argparse.Namespace")]


def _plain(value: Any) -> Any:
    """A read record as plain data: namespaces and ordered dicts → dicts (recursively)."""
    if isinstance(value, (_NamespaceRecord, argparse.Namespace)):
        value = vars(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def read_official(weights: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict of an official checkpoint and the run's settings saved with it.

    Args:
        weights: a file (a bare state dict, ``{"model": ...}`` as the MST and Spikformer-DVS training
            scripts write, or ``{"state_dict": ...}`` as timm's ``CheckpointSaver`` writes) or such a dict.
    Returns:
        ``(state, record)``: tensors by key (DataParallel's ``module.`` prefix removed) and
        ``{"args": {...}, "config": {...}}`` where the file holds them (else empty).
    Raises:
        SpikemaskError: a missing/corrupt file, a pickle naming any other Python object, no state
            dict, non-tensor entries in it, or NaN/inf weights.
    """
    if isinstance(weights, Mapping):
        obj: Any = dict(weights)
    else:
        with torch.serialization.safe_globals(SAFE_RECORDS):
            obj = load_torch(weights, "weights file")
    record: dict[str, Any] = {}
    for key in WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            record = {k: _plain(obj[k]) for k in RECORD_KEYS if k in obj}
            obj = obj[key]
            break
    check(isinstance(obj, dict) and len(obj) > 0,
          "the weights file holds no state dict; pass a checkpoint of the official MST or Spikformer code "
          "(a state dict, or a dict with it under 'model' or 'state_dict')")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise SpikemaskError(f"the weights file's state dict holds {len(bad)} entries that are not tensors "
                             f"(first {bad[0]!r}); pass the model's state dict")
    if all(str(k).startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    check_finite_weights(obj, "the weights", "the run that wrote them diverged: use another checkpoint")
    return dict(obj), record


FAMILY_KEYS = (   # (family, pattern of a key only that layout has, what it is)
    ("mst", re.compile(r"^(patch_embed\.proj_if|layers\.\d+\.blocks\.\d+\.(shortcut1_if|attn\.q_if))\.up$"),
     "an official MST state dict"),
    ("spikformer", re.compile(r"^(patch_embed\.proj_conv\.weight|block\.\d+\.attn\.q_(conv|linear)\.weight)$"),
     "an official Spikformer state dict"),
    ("spikemask", re.compile(r"^(blocks\.\d+\.attn\.q\.conv\.weight|layers\.\d+\.blocks\.\d+\.attn\.q_site\."
                             r"act\.threshold|patch_embed\.stages\.0\.conv\.weight)$"),
     "a spikemask state dict (our own key names)"),
    ("swin", re.compile(r"^layers\.\d+\.blocks\.\d+\.attn\.qkv\.weight$"),
     "a timm/Microsoft Swin state dict (no QCFS thresholds '*_if.up')"),
)
FAMILY_HINT = {
    "mst": "pass --family mst",
    "spikformer": "pass --family spikformer",
    "spikemask": "it needs no mapping: use the spikemask checkpoint itself (--checkpoint / --init)",
    "swin": "load it with `spikemask mst load-pretrained`",
}


def detect_family(state: Mapping[str, torch.Tensor]) -> str | None:
    """``'mst'``, ``'spikformer'``, ``'spikemask'``, ``'swin'`` or None: which layout ``state`` has."""
    for family, pattern, _ in FAMILY_KEYS:
        if any(pattern.match(k) for k in state):
            return family
    return None


def require_family(state: Mapping[str, torch.Tensor], family: str) -> None:
    """Refuse, with one line, a state dict whose layout is not ``family``'s official one."""
    found = detect_family(state)
    if found == family:
        return
    wanted = dict((f, what) for f, _, what in FAMILY_KEYS)[family]
    if found is None:
        first = ", ".join(list(state)[:3])
        raise SpikemaskError(f"the weights file holds no official MST or Spikformer state dict (first keys: {first}); "
                             f"expected {wanted}")
    what = dict((f, w) for f, _, w in FAMILY_KEYS)[found]
    raise SpikemaskError(f"the weights file holds {what}, not {wanted}; {FAMILY_HINT[found]}")


@dataclass
class Mapped:
    """What a family's filter made of the authors' state dict.

    Attributes:
        state: our key → tensor (already in our shape), to be loaded.
        origin: our key → their key (or a description, for a value computed from several of theirs).
        explained: reason → their keys that are deliberately not loaded (unused, computed, folded).
        unexpected: their keys no rule knows.
        kept: reason → our keys that their dict cannot fill and that keep our value on purpose.
        mismatched: our key → ``{"theirs", "ours", "why"}`` for values that contradict our model.
        notes: what else the filter did (values folded into others, thresholds rescaled).
    """

    state: dict[str, torch.Tensor] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    explained: dict[str, list[str]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)
    mismatched: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, ours: str, value: torch.Tensor, theirs: str) -> None:
        """Load ``value`` (their ``theirs``) into our ``ours``."""
        self.state[ours], self.origin[ours] = value, theirs

    def explain(self, theirs: str, reason: str) -> None:
        """Their key ``theirs`` is not loaded, for ``reason``."""
        self.explained.setdefault(reason, []).append(theirs)


@dataclass
class OfficialReport:
    """What :func:`load_mapped` did, key by key; ``to_dict`` is ``load_report.json``.

    ``loaded``: ``{our key: their key}``; ``missing``: our keys left at their initial values without a
    reason; ``kept``: reason → our keys left on purpose; ``unexpected``: their keys not loaded without
    a reason; ``explained``: reason → their keys not loaded on purpose; ``mismatched``: our key →
    shapes or values that contradict our model. :attr:`ok` is True when nothing is missing,
    unexpected or mismatched.
    """

    family: str
    source: str
    weights: str
    model: str
    sizes: dict[str, int]
    options: dict[str, Any]
    loaded: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    explained: dict[str, list[str]] = field(default_factory=dict)
    mismatched: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every tensor of ours was filled or kept on purpose, every one of theirs used or explained."""
        return not (self.missing or self.unexpected or self.mismatched)

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return {**asdict(self), "ok": self.ok}

    def summary(self) -> str:
        """The report for the terminal: counts, and every group with its reason."""
        opts = ", ".join(f"{k}={v!r}" for k, v in {**self.sizes, **self.options}.items())
        renamed = sum(1 for ours, theirs in self.loaded.items() if ours != theirs)
        family = FAMILY_NAMES.get(self.family, self.family)
        lines = [f"official {family} checkpoint ({self.source} layout) -> {self.model} ({opts})",
                 f"loaded {len(self.loaded)} tensors ({renamed} under another name)"]
        lines.append(f"missing (ours, not filled): {len(self.missing)}" + _first(self.missing))
        for reason, keys in self.kept.items():
            lines.append(f"  kept {len(keys)}: {reason}")
        explained = sum(len(k) for k in self.explained.values())
        lines.append(f"unexpected (theirs, not loaded): {len(self.unexpected) + explained}, "
                     f"{explained} explained" + _first(self.unexpected, "unexplained"))
        for reason, keys in self.explained.items():
            lines.append(f"  {len(keys)} {_group(keys)}: {reason}")
        for key, what in list(self.mismatched.items())[:8]:
            lines.append(f"  mismatch {key}: {what['why']} (theirs {what['theirs']}, ours {what['ours']})")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _first(keys: list[str], label: str = "") -> str:
    if not keys:
        return ""
    label = f"{label}: " if label else ""
    return f" ({label}{', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''})"


def _group(keys: list[str]) -> str:
    """A short name for a group of keys: the key, their common last part (``*.attn_mask``) or two examples."""
    tails = {k.rsplit(".", 1)[-1] for k in keys}
    if len(keys) == 1:
        return keys[0]
    return f"*.{tails.pop()}" if len(tails) == 1 else f"({keys[0]}, {keys[1]}{', ...' if len(keys) > 2 else ''})"


def load_mapped(model: nn.Module, mapped: Mapped, report: OfficialReport) -> OfficialReport:
    """Copy ``mapped.state`` into ``model`` where shapes agree and fill ``report`` with every key's fate.

    A shape mismatch is recorded (not loaded); our keys that no rule filled and no reason keeps are
    ``missing``. ``model`` is updated in place.
    """
    ours = model.state_dict()
    report.explained = {r: sorted(k) for r, k in mapped.explained.items()}
    report.unexpected = sorted(mapped.unexpected)
    report.mismatched = dict(mapped.mismatched)
    report.notes = list(mapped.notes)
    update = {}
    for key, value in mapped.state.items():
        if key not in ours:
            report.unexpected.append(mapped.origin[key])
        elif ours[key].shape != value.shape:
            report.mismatched[key] = {"theirs": list(value.shape), "ours": list(ours[key].shape),
                                      "why": f"shape of their {mapped.origin[key]}"}
        else:
            update[key] = value
    kept = {k for keys in mapped.kept.values() for k in keys}
    report.kept = {r: sorted(k) for r, k in mapped.kept.items()}
    report.loaded = {k: mapped.origin[k] for k in sorted(update)}
    report.missing = sorted(set(ours) - set(update) - set(report.mismatched) - kept)
    with torch.no_grad():
        for key, value in update.items():
            ours[key].copy_(value.to(ours[key].dtype))
    return report


def check_report(report: OfficialReport, allow_partial: bool = False) -> None:
    """Refuse (one line) a load that filled nothing, had mismatches, or — unless ``allow_partial`` —
    left keys of ours missing or of theirs unexplained."""
    check(bool(report.loaded), f"no tensor of {report.weights} fits {report.model} (nothing was written); pass an "
                               f"official {report.family} checkpoint")
    if report.mismatched:
        key, what = next(iter(report.mismatched.items()))
        raise SpikemaskError(f"{len(report.mismatched)} tensors of {report.weights} do not fit {report.model} "
                             f"(first {key}: {what['why']}, theirs {what['theirs']} vs ours {what['ours']}); "
                             "leave the sizes and options to be read from the file, or fix them")
    if not allow_partial and (report.missing or report.unexpected):
        first = (report.missing or report.unexpected)[0]
        raise SpikemaskError(f"{len(report.missing)} tensors of {report.model} are not in {report.weights} and "
                             f"{len(report.unexpected)} of its tensors have no place in it (first {first}); check "
                             "--model and --opt, or pass --allow-partial to keep what fits")


def build_for(name: str, inferred: dict[str, Any], sizes: dict[str, int], options: Mapping[str, Any] | None,
              overrides: Mapping[str, int | None]) -> tuple[nn.Module, dict[str, int], dict[str, Any]]:
    """``create_model(name)`` with sizes and options read from the file, the caller's on top.

    Only options that differ from the model's own defaults are passed (and recorded in its config).
    """
    defaults = model_options(name)
    sizes = {**sizes, **{k: v for k, v in overrides.items() if v is not None}}
    options = {**{k: v for k, v in inferred.items() if k in defaults and defaults[k] != v}, **(options or {})}
    return create_model(name, **sizes, **options), sizes, options


# ============================================================================= MST
