"""The command line: every command has --help; every bad input is one line on stderr and exit code 2."""
import subprocess
import sys

import pytest
import torch

import spikemask
from spikemask.checkpoint import save_checkpoint
from spikemask.cli import main


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "spikemask.cli", *args], capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    model = spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.0625, levels=4)
    save_checkpoint(path, model)
    return path


@pytest.mark.parametrize("command", ["demo", "train", "convert", "evaluate", "energy", "models"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: spikemask " + command in capsys.readouterr().out


def bad_inputs(ckpt, tmp):
    corrupt = tmp / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    nan_input = tmp / "nan.pt"
    torch.save(torch.full((1, 1, 28, 28), float("nan")), nan_input)
    wrong_size = tmp / "big.pt"
    torch.save(torch.zeros(1, 1, 32, 32), wrong_size)
    wrong_channels = tmp / "rgb.npy"
    import numpy as np
    np.save(wrong_channels, np.zeros((1, 3, 28, 28), np.float32))
    return {
        "unknown model": (["train", "--model", "nope", "--out", str(tmp / "r")], "unknown model 'nope'"),
        "unknown dataset": (["train", "--dataset", "nope", "--out", str(tmp / "r")], "unknown dataset 'nope'"),
        "reversed jitter": (["train", "--qcfs-jitter", "64", "8", "--out", str(tmp / "r")], "LO <= HI"),
        "jitter without QCFS": (["train", "--model", "spikformer_2_64", "--qcfs-jitter", "8", "64", "--out",
                                 str(tmp / "r")], "has none"),
        "missing checkpoint": (["evaluate", "--checkpoint", str(tmp / "missing.pt")], "checkpoint not found"),
        "corrupt checkpoint": (["evaluate", "--checkpoint", str(corrupt)], "corrupt"),
        "image size mismatch": (["evaluate", "--checkpoint", str(ckpt), "--input", str(wrong_size)], "32x32 px"),
        "channel mismatch": (["evaluate", "--checkpoint", str(ckpt), "--input", str(wrong_channels)], "3 channels"),
        "mask ratio 1": (["evaluate", "--checkpoint", str(ckpt), "--mask-ratio", "1.0"], "[0, 1)"),
        "mask ratio negative": (["train", "--mask-ratio", "-0.2"], "[0, 1)"),
        "T < 1": (["evaluate", "--checkpoint", str(ckpt), "-T", "0"], "integer >= 1"),
        "energy T < 1": (["energy", "--checkpoint", str(ckpt), "-T", "0"], "integer >= 1"),
        "unknown energy model": (["energy", "--checkpoint", str(ckpt), "--energy-models", "alpha", "watts"],
                                 "--energy-models"),
        "unknown spike convention": (["energy", "--checkpoint", str(ckpt), "--spikes", "sent"], "--spikes"),
        "unknown placement": (["demo", "--placement", "layer", "--out", str(tmp / "d")], "--placement"),
        "NaN input": (["evaluate", "--checkpoint", str(ckpt), "--input", str(nan_input)], "NaN"),
        "bad model option": (["train", "--opt", "depth=3", "--out", str(tmp / "r")], "has no option"),
        "override changes shapes": (["evaluate", "--checkpoint", str(ckpt), "--opt", "width=0.125"], "do not fit"),
        "dataset needs root": (["train", "--dataset", "cifar10", "--out", str(tmp / "r")], "--root must point at"),
        "evaluate on wrong dataset": (["evaluate", "--checkpoint", str(ckpt), "--dataset", "cifar10", "--root",
                                      str(tmp)], "cifar-10-batches-py"),
    }


def run_in_process(capsys, args):
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bad_inputs_give_one_line_and_exit_code_2(ckpt, tmp_path, capsys):
    for case, (args, expected) in bad_inputs(ckpt, tmp_path).items():
        code, out, err = run_in_process(capsys, args)
        lines = err.strip().splitlines()
        assert code == 2, f"{case}: exit {code}, stderr {err!r}"
        assert len(lines) == 1, f"{case}: expected one line, got {lines}"
        assert "Traceback" not in err and expected in lines[0], f"{case}: {lines[0]!r}"


def test_console_entry_point_prints_one_line_without_traceback(tmp_path):
    code, out, err = run_cli("evaluate", "--checkpoint", str(tmp_path / "missing.pt"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_models_command_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "resnet18" in out and "vgg16" in out and "mnist" in out


def test_evaluate_scores_ann_and_snn_on_the_same_images(ckpt, tmp_path, capsys):
    from spikemask.convert.conversion import load_model
    from spikemask.data import get_dataset
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(ckpt), "-T", "2", "--batch-size", "7", "--max-batches", "1",
                 "--out", str(out), "--no-progress"]) == 0
    metrics = __import__("json").loads((out / "metrics.json").read_text())
    data = get_dataset("mnist", train=False).dataset
    x = torch.stack([data[i][0] for i in range(7)])
    y = torch.tensor([data[i][1] for i in range(7)])
    with torch.no_grad():
        expected = (load_model(ckpt, spiking=False)(x[None])[0].argmax(-1) == y).float().mean().item()   # T = 1
    assert metrics["images"] == 7 and metrics["ann_accuracy"] == pytest.approx(expected)


def test_evaluate_rebuilds_the_checkpoint_with_option_overrides(ckpt, tmp_path, capsys):
    from spikemask.checkpoint import load_checkpoint
    from spikemask.data import get_dataset
    from spikemask.models.record import build_model
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--opt", "levels=2", "-T", "2", "--batch-size", "16",
                 "--max-batches", "1", "--out", str(out), "--no-progress"]) == 0
    metrics = __import__("json").loads((out / "metrics.json").read_text())
    assert metrics["model_options"]["levels"] == 2
    data = get_dataset("mnist", train=False).dataset
    x, y = torch.stack([data[i][0] for i in range(16)]), torch.tensor([data[i][1] for i in range(16)])
    with torch.no_grad():
        logits = build_model(load_checkpoint(ckpt), {"levels": 2}).eval()(x[None])[0]
    assert metrics["ann_accuracy"] == pytest.approx((logits.argmax(-1) == y).float().mean().item())


def test_evaluate_mask_override_replaces_the_checkpoints_masks(tmp_path):
    from spikemask.masks.placement import apply_mask_setting, masks
    from spikemask.studies.common import load_ann
    model = spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.0625, levels=4)
    apply_mask_setting(model, {"ratio": 0.5, "where": "*", "seed": 0})
    path = tmp_path / "masked.pt"
    save_checkpoint(path, model)
    names = [n for n, _ in masks(model)]
    loaded, _ = load_ann(str(path), mask={"ratio": 0.75, "where": names[0], "seed": 1})
    assert [m.ratio for _, m in masks(loaded)] == [0.75] + [0.0] * (len(names) - 1)
    assert loaded.mask_setting["where"] == names[0]
    unmasked, _ = load_ann(str(path), mask={"ratio": 0.0, "where": names[0], "seed": 1})
    assert all(m.ratio == 0.0 for _, m in masks(unmasked))
