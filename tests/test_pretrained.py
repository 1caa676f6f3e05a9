"""Shared models: safetensors + config.json + model card (issue "Fit the ecosystem", items 1 and 4).

Round trip: a checkpoint exported with ``spikemask export`` and read back with
``spikemask.from_pretrained`` gives identical logits, and its SNN identical spikes, for a CNN, an MST
and a pruned SDMFormer; the card parses and states the measured numbers; bad folders are one line.
"""
import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file
from test_pruning import masked_model

import spikemask
from spikemask.checkpoint import load_checkpoint, save_checkpoint
from spikemask.cli import main
from spikemask.convert.conversion import convert
from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError
from spikemask.models.record import build_model
from spikemask.snn.neurons import BaseNeuron


def spikes_and_logits(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every neuron's output spikes and the per-step logits ``[T, B, K]`` for images ``x`` over 3 steps."""
    recorded: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: recorded.append(o.detach().clone()))
             for m in model.modules() if isinstance(m, BaseNeuron)]
    with torch.no_grad():
        logits = simulate(model, x, 3)
    for h in hooks:
        h.remove()
    return recorded, logits


@pytest.fixture
def checkpoints(tmp_path):
    """A CNN and an MST trained by `spikemask train` (a few batches), and a pruned SDMFormer (random masks,
    about half the channels off, then `spikemask prune`), as .pt checkpoints."""
    assert main(["train", "--opt", "width=0.0625", "--opt", "levels=4", "--epochs", "1", "--max-batches", "2",
                 "--no-progress", "--out", str(tmp_path / "vgg")]) == 0
    assert main(["train", "--model", "mst_swin_micro", "--opt", "embed_dim=16", "--epochs", "1", "--max-batches",
                 "1", "--no-progress", "--out", str(tmp_path / "mst")]) == 0
    save_checkpoint(tmp_path / "sdm.pt", masked_model(num_classes=10, img_size=28))
    assert main(["prune", "--checkpoint", str(tmp_path / "sdm.pt"), "--out", str(tmp_path / "pruned")]) == 0
    return {"vgg": tmp_path / "vgg" / "checkpoint.pt", "mst": tmp_path / "mst" / "checkpoint.pt",
            "sdmformer": tmp_path / "pruned" / "checkpoint.pt"}


@pytest.mark.parametrize("family", ["vgg", "mst", "sdmformer"])
def test_export_then_from_pretrained_gives_identical_logits_and_spikes(family, checkpoints, tmp_path, capsys):
    folder = tmp_path / f"{family}_shared"
    assert main(["export", "--checkpoint", str(checkpoints[family]), "-T", "4", "--max-batches", "1",
                 "--batch-size", "16", "--no-progress", "--out", str(folder)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    original = build_model(load_checkpoint(checkpoints[family])).eval()
    shared = spikemask.from_pretrained(folder).eval()
    assert type(shared) is type(original) and shared.model_config == original.model_config
    x = torch.rand(2, 1, 28, 28)
    a, b = [m if m.model_name.startswith("sdmformer") else convert(m) for m in (original, shared)]
    spikes_a, logits_a = spikes_and_logits(a, x)
    spikes_b, logits_b = spikes_and_logits(b, x)
    assert torch.equal(logits_a, logits_b) and len(spikes_a) == len(spikes_b) > 0
    assert all(torch.equal(s, t) for s, t in zip(spikes_a, spikes_b))
    assert any(s.any() for s in spikes_a)                                  # the SNN does fire
    with torch.no_grad():                                                  # and the ANN's logits
        assert torch.equal(original(x.unsqueeze(0)), shared(x.unsqueeze(0)))

    card = ModelCard.load(folder / "README.md")                            # the card parses
    meta = card.data.to_dict()
    config = json.loads((folder / "config.json").read_text())
    assert meta["library_name"] == "spikemask" and meta["spikemask"]["model_name"] == config["model_name"]
    assert meta["spikemask"]["weights_sha256"] == config["weights_sha256"]
    for section in ("## Model", "## Accuracy", "## Spikes and energy", "## How it was made", "SNN, T = 4",
                    "spikemask export --checkpoint"):
        assert section in card.content, section
    if family == "vgg":
        assert "spikemask train --out" in card.content and "ANN (QCFS, T = 1)" in card.content
        assert "IFNeuron (v_init=0.5, reset=soft)" in card.content
    if family == "sdmformer":
        assert "kept_channels" in card.content                            # the pruned layout is in the record


def test_every_command_reads_a_shared_folder(checkpoints, tmp_path, capsys):
    folder = tmp_path / "shared"
    assert main(["export", "--checkpoint", str(checkpoints["vgg"]), "--no-evaluate", "--out", str(folder)]) == 0
    assert "## Accuracy" not in (folder / "README.md").read_text()           # nothing measured, nothing claimed
    assert main(["evaluate", "--checkpoint", str(folder), "-T", "2", "--max-batches", "1", "--no-progress",
                 "--out", str(tmp_path / "eval")]) == 0
    assert main(["convert", "--checkpoint", str(folder), "--out", str(tmp_path / "snn")]) == 0


def broken(folder: Path, what: str) -> None:
    """Spoil a shared folder in one way (the config's hash kept consistent where the weights change)."""
    config = json.loads((folder / "config.json").read_text())
    weights = load_file(folder / "model.safetensors")
    if what in ("missing tensor", "extra tensor", "other family"):
        if what == "missing tensor":
            weights.pop("features.0.weight")
        elif what == "extra tensor":
            weights["surplus.weight"] = torch.zeros(3)
        else:
            weights = spikemask.create_model("resnet18", in_channels=1, img_size=28, width=0.0625).state_dict()
        save_file({k: v.contiguous() for k, v in weights.items()}, folder / "model.safetensors")
        config["weights_sha256"] = spikemask.pretrained._sha256(folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps(config))
        card = (folder / "README.md").read_text()
        (folder / "README.md").write_text(card.replace(card.split("weights_sha256: ")[1].split("\n")[0],
                                                       config["weights_sha256"]))
    elif what == "weights of another export":
        weights["features.0.weight"] += 1
        save_file(weights, folder / "model.safetensors")
    elif what == "card disagrees":
        card = (folder / "README.md").read_text()
        (folder / "README.md").write_text(card.replace("  model_name: vgg16", "  model_name: resnet18"))
    elif what == "corrupt config":
        (folder / "config.json").write_text("{not json")


@pytest.mark.parametrize("what, phrase", [
    ("missing tensor", "do not fit model vgg16"), ("extra tensor", "do not fit model vgg16"),
    ("other family", "do not fit model vgg16"), ("weights of another export", "sha256 differs"),
    ("card disagrees", "disagrees with config.json"), ("corrupt config", "not valid JSON")])
def test_a_spoilt_folder_is_one_line_and_exit_2(what, phrase, checkpoints, tmp_path, capsys):
    folder = tmp_path / "shared"
    assert main(["export", "--checkpoint", str(checkpoints["vgg"]), "--no-evaluate", "--out", str(folder)]) == 0
    broken(folder, what)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(folder), "-T", "2", "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and phrase in err and "Traceback" not in err, err
    with pytest.raises(SpikemaskError, match=phrase.split(" model")[0]):
        spikemask.from_pretrained(folder)


def test_an_unknown_hub_id_offline_is_one_line(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", "hf://spikemask-nobody/no-such-model", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot fetch spikemask-nobody/no-such-model" in err, err
    with pytest.raises(SpikemaskError, match="neither a folder nor a Hugging Face Hub id"):
        spikemask.from_pretrained(tmp_path / "no" / "such" / "folder")


def test_a_failed_export_leaves_the_previous_one_and_no_temporary_folder(checkpoints, tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    assert main(["export", "--checkpoint", str(checkpoints["vgg"]), "--no-evaluate", "--out", str(folder)]) == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", full_disk)
    assert main(["export", "--checkpoint", str(checkpoints["mst"]), "--no-evaluate", "--out", str(folder)]) == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SpikemaskError, match="holds other files"):
        spikemask.from_pretrained(folder).save_pretrained(tmp_path / "other")
