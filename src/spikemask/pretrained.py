"""Sharing models: a folder of safetensors weights, a JSON config and a model card.

A shared model is a folder (local, or a Hugging Face Hub repository) of three files:

- ``model.safetensors``: the state dict (safetensors holds tensors only, so reading it runs no code);
- ``config.json``: what rebuilds the model from the registry, the same record a ``.pt`` checkpoint holds
  without its weights (``model_name``, ``model_options``, sizes, ``mask``, ``converted``, ``neuron``),
  plus ``spikemask_version`` and ``weights_sha256``;
- ``README.md``: the model card, YAML metadata (``library_name: spikemask``, tags, datasets, metrics,
  and a ``spikemask`` block repeating the model name and the weights' sha256) and the facts of
  :class:`Card`.

:func:`write_pretrained` writes the folder atomically (into a temporary folder beside it, then renamed);
:func:`read_pretrained` reads it back as a checkpoint dict after checking the files agree (the config
with the weights' hash, the card with the config); :func:`resolve` turns a hub id into a local folder
through ``huggingface_hub``. Every registry model has ``model.save_pretrained(folder)`` and
``Model.from_pretrained(folder_or_repo_id)`` (``huggingface_hub.ModelHubMixin``), and every command's
``--checkpoint`` reads such a folder, or ``hf://owner/name``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from spikemask.errors import SpikemaskError, check
from spikemask.io import current_umask

WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
HUB_PREFIX = "hf://"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# ----------------------------------------------------------------------------- the model card
@dataclass
class Card:
    """The facts a model card states (all optional but the model's own record).

    Attributes:
        dataset: the dataset the numbers are on; split, images: which split and how many images.
        time_steps: T of the SNN results; ann_accuracy: the ANN (QCFS, T = 1) test accuracy (fraction).
        snn_accuracy: ``{t: fraction}`` SNN test accuracy after t steps.
        energy: the energy report of :func:`spikemask.measure.energy.energy_report` (spikes, power,
            every energy model, the spiking/hybrid verdict).
        neurons: what the SNN's neurons are, e.g. ``"IF, reset by subtraction, v0 = θ/2, θ = λ"``;
        thresholds: ``{"min", "median", "max", "count"}`` of the neuron thresholds θ.
        commands: the command lines that produced the model and its numbers, in order.
    """

    dataset: str | None = None
    split: str | None = None
    images: int | None = None
    time_steps: int | None = None
    ann_accuracy: float | None = None
    snn_accuracy: dict[int, float] = field(default_factory=dict)
    energy: dict[str, Any] | None = None
    neurons: str | None = None
    thresholds: dict[str, float] | None = None
    commands: list[str] = field(default_factory=list)


def render_card(config: dict[str, Any], card: Card) -> str:
    """The README.md of a shared model: YAML metadata, then the facts of ``card`` as Markdown."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(library_name="spikemask", tags=["spiking-neural-network", "snn", config["model_name"]],
                         datasets=[card.dataset] if card.dataset else None,
                         metrics=["accuracy"] if card.snn_accuracy or card.ann_accuracy is not None else None,
                         spikemask={"model_name": config["model_name"], "weights_sha256": config["weights_sha256"],
                                    "time_steps": card.time_steps, "converted": config["converted"],
                                    "neuron": config["neuron"]})
    lines = [f"# {config['model_name']} (spikemask)", "",
             f"A `{config['model_name']}` from the spikemask registry: {config['in_channels']} × "
             f"{config['img_size']} × {config['img_size']} input, {config['num_classes']} classes, "
             + ("a converted SNN." if config["converted"] else "weights as trained."), "",
             "```python", "import spikemask", "model = spikemask.from_pretrained(\"FOLDER or OWNER/NAME\")",
             "```", "", "## Model", "", "| | |", "|---|---|",
             f"| registry name | `{config['model_name']}` |",
             f"| options | {_options(config['model_options'])} |",
             f"| Random Spike Masking | {_mask(config.get('mask'))} |",
             f"| neurons | {card.neurons or '—'} |"]
    if card.thresholds:
        t = card.thresholds
        lines.append(f"| thresholds θ | {t['count']} neurons, min {t['min']:.4g}, median {t['median']:.4g}, "
                     f"max {t['max']:.4g} |")
    lines += [f"| weights | `{WEIGHTS}`, sha256 `{config['weights_sha256']}` |", ""]
    if card.snn_accuracy or card.ann_accuracy is not None:
        where = f"{card.dataset}, {card.split} split, {card.images} images" if card.dataset else "the test split"
        lines += ["## Accuracy", "", f"On {where}.", "", "| | accuracy |", "|---|---|"]
        if card.ann_accuracy is not None:
            lines.append(f"| ANN (QCFS, T = 1) | {100 * card.ann_accuracy:.2f} % |")
        lines += [f"| SNN, T = {t} | {100 * a:.2f} % |" for t, a in card.snn_accuracy.items()]
        lines.append("")
    if card.energy:
        lines += _energy_lines(card.energy)
    if card.commands:
        lines += ["## How it was made", "", "```bash", *card.commands, "```", ""]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in options.items()) or "defaults"


def _mask(mask: dict[str, Any] | None) -> str:
    if not mask:
        return "none (the masks as built)"
    return ", ".join(f"{k} {v}" for k, v in mask.items() if v is not None)


def _energy_lines(e: dict[str, Any]) -> list[str]:
    """The card's spikes-and-energy section: one row per energy model, the spiking/hybrid verdict first."""
    verdict = e["verdict"] + (f" ({100 * e['analog_share']:.1f} % of operations analog)"
                              if e["verdict"] == "hybrid" else " (every operation between layers is driven by spikes)")
    lines = ["## Spikes and energy", "", f"Per image over T = {e['time_steps']} steps, {e['images']} images. "
             f"Result: **{verdict}**.", "", "| quantity | value |", "|---|---|",
             f"| spikes fired | {e['fired_per_image']:.6g} |", f"| spikes delivered (after masks) | "
             f"{e['delivered_per_image']:.6g} |", f"| ACs (accumulates on spikes) | {e['acs_per_image']:.6g} |",
             f"| MACs (on analog values) | {e['macs_per_image']:.6g} |",
             f"| MST power P = {e['spikes']} spikes / 1 ms × α | {e['power_alpha_watts']:.6g} α W |"]
    names = {"ops": "E_AC·ACs + E_MAC·MACs", "memory": "compute + memory accesses", "qann": "the quantized ANN, "
             "fp32 MACs", "qann_int8": "the quantized ANN, int8 MACs"}
    for name, result in e["models"].items():
        if "total_pj" in result:
            lines.append(f"| energy: {names.get(name, name)} | {result['total_pj'] / 1e6:.6g} µJ |")
    return [*lines, ""]


# ----------------------------------------------------------------------------- writing
def write_pretrained(record: dict[str, Any], folder: str | os.PathLike, card: Card | None = None) -> Path:
    """Write a model's ``record`` (:func:`spikemask.models.record.model_record`: the registry record and its
    ``state_dict``) as a shared-model folder (module docstring) and return its path.

    The files are written into a temporary folder beside ``folder`` and moved into place only when all
    three are complete; an earlier export in ``folder`` is replaced, anything else there is refused.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    check(not folder.exists() or folder.is_dir(), f"{folder} is a file; pick a folder for the shared model")
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in (WEIGHTS, CONFIG, CARD)) \
        if folder.is_dir() else []
    check(not foreign, f"{folder} holds other files ({', '.join(foreign[:3])}); export into an empty folder")
    config = {k: v for k, v in record.items() if k != "state_dict"}
    weights = {k: v.contiguous().clone() for k, v in record["state_dict"].items()}
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{os.getpid()}.", suffix=".tmp"))
    try:
        save_file(weights, tmp / WEIGHTS, metadata={"format": "pt", "library": "spikemask"})
        config = {"spikemask_version": _version(), **config, "weights_sha256": _sha256(tmp / WEIGHTS)}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, allow_nan=False))
        (tmp / CARD).write_text(render_card(config, card or Card()))
        for path in tmp.iterdir():
            os.chmod(path, 0o666 & ~current_umask())
        os.chmod(tmp, 0o777 & ~current_umask())                      # mkdtemp makes it private (0700)
        _move_into_place(tmp, folder)
    except OSError as e:
        raise SpikemaskError(f"could not write {folder} ({e.strerror or e}); free disk space or write elsewhere; "
                             "the previous export, if any, is kept") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _version() -> str:
    """The installed spikemask's version (its package metadata)."""
    try:
        return metadata.version("spikemask")
    except metadata.PackageNotFoundError:
        return "unknown"


def _move_into_place(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``; an existing ``folder`` is renamed aside first and removed after."""
    if folder.exists() and not any(folder.iterdir()):
        folder.rmdir()
    if not folder.exists():
        os.rename(tmp, folder)
        return
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    os.rename(folder, old)
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- reading
def is_pretrained_folder(path: str | os.PathLike) -> bool:
    """True for a folder holding a shared model's config and weights."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG).is_file() and (path / WEIGHTS).is_file()


def read_pretrained(folder: str | os.PathLike) -> dict[str, Any]:
    """A shared-model folder as a checkpoint dict (``config.json`` + ``state_dict``), after checking that
    the weights are the ones the config names (sha256) and that the card, if any, agrees with the config."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    check(is_pretrained_folder(folder), f"{folder} is not a shared spikemask model (it needs {CONFIG} and "
                                        f"{WEIGHTS}; `spikemask export` writes them)")
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (ValueError, UnicodeDecodeError):
        raise SpikemaskError(f"{folder / CONFIG} is not valid JSON; re-export the model") from None
    check(isinstance(config, dict) and "model_name" in config,
          f"{folder / CONFIG} is not a spikemask config (no model_name); re-export the model")
    sha = _sha256(folder / WEIGHTS)
    check(config.get("weights_sha256") == sha, f"{folder / WEIGHTS} is not the file {CONFIG} describes (sha256 "
                                               "differs): the folder mixes two exports; re-export the model")
    _check_card(folder, config)
    try:
        weights = load_file(folder / WEIGHTS)
    except (SafetensorError, OSError, ValueError) as e:
        raise SpikemaskError(f"{folder / WEIGHTS} is corrupt ({type(e).__name__}); re-export the model") from None
    return {**config, "state_dict": weights}


def _check_card(folder: Path, config: dict[str, Any]) -> None:
    """The card's ``spikemask`` metadata must name the config's model and weights."""
    if not (folder / CARD).is_file():
        return
    from huggingface_hub import ModelCard

    meta = (ModelCard.load(folder / CARD).data.to_dict() or {}).get("spikemask") or {}
    for key in ("model_name", "weights_sha256"):
        check(key not in meta or meta[key] == config.get(key),
              f"{folder / CARD} disagrees with {CONFIG}: its {key} is {meta[key]!r}, the config's "
              f"{config.get(key)!r}; re-export the model (or delete the card)")


def resolve(name: str | os.PathLike, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
            local_files_only: bool = False, token: str | bool | None = None) -> Path:
    """A local folder for ``name``: the folder itself, or a Hub repository (``owner/name`` or
    ``hf://owner/name``) downloaded into the Hugging Face cache. Without a network, one error line."""
    text = str(name)
    repo = text[len(HUB_PREFIX):] if text.startswith(HUB_PREFIX) else text
    if not text.startswith(HUB_PREFIX) and Path(text).exists():
        return Path(text)
    check(bool(_REPO_ID.match(repo)), f"{text} is neither a folder nor a Hugging Face Hub id (owner/name)")
    from huggingface_hub import snapshot_download
    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir, token=token,
                                      local_files_only=local_files_only, allow_patterns=[WEIGHTS, CONFIG, CARD]))
    except Exception as e:  # offline, unknown repository, no permission: huggingface_hub raises many types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpikemaskError(f"cannot fetch {repo} from the Hugging Face Hub ({type(e).__name__}: {reason[:160]}); "
                             "check the id and the network, or pass a local folder from `spikemask export`") from None

