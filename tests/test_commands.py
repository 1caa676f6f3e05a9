"""The commands that only had --help tests, end to end on tiny checkpoints: their numbers agree with the library."""
import json

import pytest
import torch

import spikemask
from spikemask.checkpoint import load_checkpoint, save_checkpoint
from spikemask.cli import main
from spikemask.convert.conversion import load_model
from spikemask.models import list_models
from spikemask.snn.neurons import IFNeuron
from spikemask.snn.qcfs import QCFS

QUICK = ["--batch-size", "4", "--max-batches", "1"]
SMALL_SPIKFORMER = dict(num_classes=10, in_channels=1, img_size=28, patch=4, heads=2, time_steps=2)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny VGG-16, a tiny Spikformer and a tiny SDMFormer with about half its channels masked."""
    folder = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    save_checkpoint(folder / "vgg.pt", spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.0625,
                                                              levels=4))
    save_checkpoint(folder / "spikformer.pt", spikemask.create_model("spikformer_2_64", **SMALL_SPIKFORMER))
    sdm = spikemask.create_model("sdmformer_2_64", **SMALL_SPIKFORMER)
    with torch.no_grad():
        for name, p in sdm.named_parameters():
            if name.endswith("mask.m"):
                p.normal_()
    save_checkpoint(folder / "sdm.pt", sdm)
    return {k: str(folder / f"{k}.pt") for k in ("vgg", "spikformer", "sdm")}


def test_convert_writes_if_neurons_with_the_qcfs_thresholds(checkpoints, tmp_path, capsys):
    out = tmp_path / "snn"
    assert main(["convert", "--checkpoint", checkpoints["vgg"], "--out", str(out)]) == 0
    report = json.loads((out / "conversion.json").read_text())
    lambdas = [m.threshold.item() for m in load_model(checkpoints["vgg"]).modules() if isinstance(m, QCFS)]
    assert report["neuron_count"] == len(lambdas) == 15 and report["neuron"] == "if"
    assert [n["threshold"] for n in report["neurons"].values()] == pytest.approx(lambdas)
    snn = load_model(out / "checkpoint.pt")                              # saved converted: loads as an SNN
    assert load_checkpoint(out / "checkpoint.pt")["converted"] and any(isinstance(m, IFNeuron) for m in snn.modules())
    assert "converted 15 QCFS activations to IF neurons" in capsys.readouterr().out


def test_energy_layers_add_up_to_the_totals(checkpoints, tmp_path, capsys):
    out = tmp_path / "energy"
    assert main(["energy", "--checkpoint", checkpoints["vgg"], "-T", "4", *QUICK, "--no-progress",
                 "--out", str(out)]) == 0
    e = json.loads((out / "energy.json").read_text())["energy"]
    m = e["measurement"]
    assert e["spikes_per_image"] > 0 and e["spikes"] == "delivered"
    assert e["spikes_per_image"] == pytest.approx(sum(s["delivered"] for s in m["sites"]))
    assert e["fired_per_image"] == pytest.approx(sum(s["fired"] for s in m["sites"]))
    assert e["acs_per_image"] == pytest.approx(sum(o["acs"] for o in m["ops"]))
    assert e["macs_per_image"] == pytest.approx(sum(o["macs"] for o in m["ops"]))
    assert e["models"]["ops"]["total_pj"] == pytest.approx(sum(e["models"]["ops"]["by_op"].values()))
    assert e["power_alpha_watts"] == pytest.approx(e["spikes_per_image"] / 4 / 1e-3)      # P = spikes/step / 1 ms
    assert set(e["models"]) == {"alpha", "ops", "memory", "qann", "qann_int8"}
    text = capsys.readouterr().out
    assert "P = " in text and "result: spiking" in text and "SNN / QANN" in text
    assert (out / "energy_by_layer.png").stat().st_size > 0


def test_prune_keeps_the_logits_and_sdm_commands_report_the_masks(checkpoints, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert main(["prune", "--checkpoint", checkpoints["sdm"], "--out", str(out)]) == 0
    report = json.loads((out / "prune.json").read_text())
    assert report["identical_logits"] and report["max_abs_diff"] == 0.0
    assert report["params"]["pruned"]["dense"] < report["params"]["masked"]["dense"]
    assert main(["sdm", "compare", "--spikformer", checkpoints["spikformer"], "--sdmformer", str(out / "checkpoint.pt"),
                 *QUICK, "--out", str(tmp_path / "cmp")]) == 0
    compare = json.loads((tmp_path / "cmp" / "sdm_compare.json").read_text())
    assert 0 < compare["params"]["ratio"] < 1 and 0 < compare["energy"]["ratio"] < 1
    assert main(["sdm", "analyze", "--checkpoint", checkpoints["sdm"], *QUICK, "--out", str(tmp_path / "an")]) == 0
    analysis = json.loads((tmp_path / "an" / "sdm_analysis.json").read_text())
    assert 0.3 < analysis["mask_ratios"]["total"]["masked_ratio"] < 0.7                   # m ~ N(0, 1)
    assert len(analysis["inactive_channels"]["ratios"]) == 4
    assert "Table 1" in capsys.readouterr().out


def test_train_seeds_summarises_mean_and_sample_std(tmp_path, capsys):
    out = tmp_path / "seeds"
    assert main(["train", "--model", "vgg16", "--opt", "width=0.0625", "--opt", "levels=4", "--epochs", "1",
                 "--max-batches", "1", "--batch-size", "16", "--seeds", "0", "1", "--no-progress",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    accs = [json.loads((out / f"seed_{s}" / "metrics.json").read_text())["test_accuracy"] for s in (0, 1)]
    assert summary["test_accuracy"] == accs and summary["mean"] == pytest.approx(sum(accs) / 2)
    assert summary["std"] == pytest.approx(abs(accs[0] - accs[1]) / 2 ** 0.5)            # sample std of two


def test_every_registered_model_builds_and_runs_one_step():
    x = torch.rand(1, 1, 1, 32, 32)                                     # [T, B, C, H, W]
    for name in list_models():
        extra = dict(patch=4, heads=2) if "former" in name else {}
        model = spikemask.create_model(name, in_channels=1, img_size=32, **extra).eval()
        with torch.no_grad():
            assert model(x).shape == (1, 1, 10), name


def test_predict_from_python_matches_the_cli(checkpoints, tmp_path, capsys):
    from spikemask.data import get_dataset
    from spikemask.studies.evaluate import EvaluateConfig, predict
    data = get_dataset("mnist", train=False).dataset
    images = tmp_path / "x.pt"
    torch.save(torch.stack([data[i][0] for i in range(3)]), images)
    result = predict(EvaluateConfig(checkpoint=checkpoints["vgg"], input=str(images), time_steps=4))
    assert result.to_dict()["time_steps"] == 4 and len(result.to_dict()["snn"]) == 3
    assert main(["evaluate", "--checkpoint", checkpoints["vgg"], "--input", str(images), "-T", "4"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"image {i}: ANN class {a}, SNN class {s} (T=4)"
                       for i, (a, s) in enumerate(zip(result.ann, result.snn))]


def test_evaluate_exact_reports_equivalence_and_passes_its_check(checkpoints, tmp_path, capsys):
    out = tmp_path / "exact"
    assert main(["evaluate", "--checkpoint", checkpoints["vgg"], "-T", "8", "--neuron", "burst:4",
                 "--check-equivalence", *QUICK, "--no-progress", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    eq = m["equivalence"]
    assert m["neuron"] == "burst:4" and eq["readout"] == "sum" and m["energy"]["verdict"] == "spiking"
    assert eq["same_logits"]["reached"] == 4 and eq["same_logits"]["max"] == 1     # L = 4, 4 spikes per step
    assert eq["settled"] == 4 and eq["mismatched_settled"] == 0
    assert "equivalence check passed (float64): all 4 settled images" in capsys.readouterr().out


def test_a_checkpoint_converted_with_one_neuron_is_not_evaluated_as_another(checkpoints, tmp_path, capsys):
    snn = tmp_path / "signed"
    assert main(["convert", "--checkpoint", checkpoints["vgg"], "--neuron", "signed", "--out", str(snn)]) == 0
    assert load_checkpoint(snn / "checkpoint.pt")["neuron"] == "signed"
    assert "signed neurons (spike λ/L" in capsys.readouterr().out
    for argv, message in [(["--neuron", "if"], "converted with neuron='signed'; evaluate it with --neuron signed"),
                          (["--neuron", "burst:0"], "neuron must be"),
                          (["--check-equivalence", "--neuron", "signed", "--opt", "levels=8"], None)]:
        try:
            code = main(["evaluate", "--checkpoint", str(snn / "checkpoint.pt"), "-T", "2", *argv, *QUICK,
                         "--no-progress", "--out", str(tmp_path / "e")])
        except SystemExit as e:      # refused by the argument parser
            code = e.code
        out, err = capsys.readouterr()
        if message is None:          # its weights are the ANN's, so the QANN is rebuilt and checked against
            assert code == 0 and "equivalence check passed" in out
        else:
            assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_check_equivalence_refuses_a_rate_coded_snn(checkpoints, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", checkpoints["vgg"], "-T", "2", "--check-equivalence", *QUICK,
                 "--no-progress", "--out", str(tmp_path / "e")])
    assert code == 2 and "needs an exactly converted SNN" in capsys.readouterr().err


def test_neuron_options_are_refused_for_a_directly_trained_snn(checkpoints, tmp_path, capsys):
    for extra in (["--neuron", "signed"], ["--neuron", "signed", "--check-equivalence"]):
        code = main(["evaluate", "--checkpoint", checkpoints["spikformer"], "-T", "2", *extra, *QUICK,
                     "--no-progress", "--out", str(tmp_path / "e")])
        err = capsys.readouterr().err
        assert code == 2 and "directly trained SNN" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["vgg", "spikformer"])
def test_channels_last_simulation_counts_the_same_spikes(checkpoints, tmp_path, name):
    counts = []
    for flags in ([], ["--channels-last"]):
        out = tmp_path / f"energy{len(flags)}"
        assert main(["energy", "--checkpoint", checkpoints[name], "-T", "4", *QUICK, "--no-progress",
                     "--out", str(out), *flags]) == 0
        e = json.loads((out / "energy.json").read_text())["energy"]
        counts.append([e["spikes_per_image"], e["acs_per_image"], e["macs_per_image"]])
    assert counts[0][0] > 0 and counts[1] == pytest.approx(counts[0], rel=1e-2)   # float rounding may flip a spike


def test_channels_last_classifies_input_images_the_same(checkpoints, tmp_path, capsys, monkeypatch):
    from spikemask.studies import evaluate as study

    layouts = []   # the simulated network's conv weights: channels-last or not

    def in_layout(snn, cfg):
        snn = layout(snn, cfg)
        weight = next(m.weight for m in snn.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
        layouts.append(weight.is_contiguous(memory_format=torch.channels_last))
        return snn

    layout = study.in_layout
    monkeypatch.setattr(study, "in_layout", in_layout)
    images = tmp_path / "images.pt"
    torch.save(torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)), images)
    lines = []
    for flags in ([], ["--channels-last"]):
        assert main(["evaluate", "--checkpoint", checkpoints["vgg"], "--input", str(images), "-T", "4", *flags]) == 0
        lines.append(capsys.readouterr().out.splitlines())
    assert layouts == [False, True]
    assert len(lines[0]) == 4 and lines[1] == lines[0]   # "image i: ANN class a, SNN class s (T=4)"
