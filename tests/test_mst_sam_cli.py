"""Spike activation maps against their definition, and the `spikemask mst` commands end to end."""
import json
import math

import pytest
import torch

from spikemask.checkpoint import save_checkpoint
from spikemask.cli import main
from spikemask.measure.sam import sam, spatial
from spikemask.models import create_model


def test_sam_matches_the_definition():
    """M_ij(t) = Σ_k s_k(t) · Σ_{t' < t, s_k(t') = 1} exp(−γ (t − t'))."""
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(6, 1, 3, 2, 2, generator=g) < 0.5).float()
    gamma = 0.7
    maps = sam(spikes, gamma)
    brute = torch.zeros_like(maps)
    for t in range(6):
        for tp in range(t):
            brute[t] += (spikes[t] * spikes[tp] * math.exp(-gamma * (t - tp))).sum(1)
    assert torch.allclose(maps, brute, atol=1e-6)
    tokens = torch.arange(2 * 1 * 4 * 3, dtype=torch.float).reshape(2, 1, 4, 3)   # [T, B, L, C]
    grid = spatial(tokens)
    assert grid.shape == (2, 1, 3, 2, 2) and grid[0, 0, 1, 0, 1] == tokens[0, 0, 1, 1]


@pytest.fixture
def one_thread():
    """Tiny tensors run faster on one thread, and much faster when other jobs share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_mst_commands_end_to_end(tmp_path, capsys, one_thread):
    torch.manual_seed(0)
    model = create_model("mst_swin_micro", num_classes=10, in_channels=1, img_size=28, embed_dim=8,
                         heads=(1, 2), threshold=0.5)
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, model)
    quick = ["--limit", "4", "--batch-size", "4", "-T", "4", "--no-progress"]
    out = tmp_path / "out"
    assert main(["mst", "studies", "time", "--checkpoint", str(ckpt), "--ratios", "0", "0.5", *quick,
                 "--out", str(out)]) == 0
    assert main(["mst", "studies", "ratio", "--checkpoint", str(ckpt), "--ratios", "0", "0.5", "--seeds", "0", "1",
                 *quick, "--out", str(out)]) == 0
    assert main(["mst", "studies", "blocks", "--checkpoint", str(ckpt), "--ratio", "0.5", *quick,
                 "--out", str(out)]) == 0
    assert main(["mst", "studies", "variants", "--checkpoint", str(ckpt), "--variant", "product=rate",
                 "--variant", "softmax=none", *quick, "--out", str(out)]) == 0
    assert main(["mst", "studies", "table3", "--mst", str(ckpt), "--mst-opt", "product=rate", *quick,
                 "--out", str(out)]) == 0
    assert main(["mst", "sam", "--checkpoint", str(ckpt), "--ratios", "0", "0.75", "--steps", "2", "4",
                 *quick, "--out", str(out)]) == 0
    ratio = json.loads((out / "ratio.json").read_text())
    assert set(ratio["results"]) == {"sa", "mlp"} and ratio["results"]["sa"][1]["runs"] == 2
    blocks = json.loads((out / "blocks.json").read_text())
    assert [r["masked_blocks"] for r in blocks["results"]] == [0, 1, 2, 3, 4]
    assert json.loads((out / "table3.json").read_text())["settings"]["mst_opt"] == ["product=rate"]
    table = json.loads((out / "table3.json").read_text())["table"]["MST"]
    assert [r["ratio"] for r in table] == [0.0, 0.5, 0.75] and table[0]["power_ratio"] == 1.0
    sam_index = json.loads((out / "sam.json").read_text())
    assert len(sam_index["files"]) == 4                                   # one PNG per block's norm1_site
    for name in ("time.png", "ratio_accuracy.png", "ratio_power.png", "blocks.png", "variants.png", "table3.md"):
        assert (out / name).is_file()
    weights = tmp_path / "swin.pth"
    torch.save({"model": model.state_dict()}, weights)
    assert main(["mst", "load-pretrained", "--weights", str(weights), "--model", "mst_swin_micro", "--opt",
                 "embed_dim=8", "--opt", "heads=(1, 2)", "--num-classes", "10", "--in-channels", "1",
                 "--img-size", "28", "--out", str(tmp_path / "pre")]) == 0
    report = json.loads((tmp_path / "pre" / "pretrained_report.json").read_text())
    assert report["mismatched"] == {} and report["missing"] == []
    assert main(["mst", "studies", "time", "--checkpoint", str(ckpt), str(ckpt), "--ratios", "0", "0.5", "0.7",
                 *quick, "--out", str(out)]) == 2                          # 2 checkpoints for 3 ratios
    assert "one per ratio" in capsys.readouterr().err


def test_studies_rebuild_the_checkpoint_with_option_overrides(tmp_path):
    from spikemask.snn.neurons import IFNeuron
    from spikemask.studies.mst import load_snn
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, create_model("mst_swin_micro", num_classes=10, in_channels=1, img_size=28, embed_dim=8,
                                       heads=(1, 2)))
    snn = load_snn(str(ckpt), options={"product": "rate"})
    assert snn.model_options["product"] == "rate" and any(isinstance(m, IFNeuron) for m in snn.modules())
    assert load_snn(str(ckpt)).model_options.get("product", "step") == "step"
