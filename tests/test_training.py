"""Training: run folder, resume, distillation loss, and DistributedDataParallel under torchrun."""
import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from spikemask.checkpoint import load_checkpoint
from spikemask.convert.conversion import load_model
from spikemask.errors import SpikemaskError
from spikemask.train.config import TrainConfig
from spikemask.train.distill import distillation_loss
from spikemask.train.trainer import lr_factor, train

TINY = dict(model="resnet18", model_options={"width": 0.0625, "levels": 4}, batch_size=64, lr=0.05,
            progress=False)


def test_run_folder_and_resume(tmp_path):
    out = tmp_path / "run"
    first = train(TrainConfig(out=str(out), epochs=2, max_batches=3, **TINY))
    assert {p.name for p in out.iterdir()} >= {"config.json", "checkpoint.pt", "metrics.json", "training.png"}
    assert len(first["history"]) == 2 and 0 <= first["test_accuracy"] <= 1
    resumed = train(TrainConfig(out=str(out), epochs=3, max_batches=3, resume=True, **TINY))
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][:2] == first["history"]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["epoch"] == 3 and json.loads((out / "metrics.json").read_text())["epochs"] == 3
    assert load_model(out / "checkpoint.pt").model_name == "resnet18"


def test_masked_fine_tune_with_teacher_records_the_mask(tmp_path):
    teacher = tmp_path / "teacher"
    train(TrainConfig(out=str(teacher), epochs=1, max_batches=2, **TINY))
    student = train(TrainConfig(out=str(tmp_path / "student"), epochs=1, max_batches=2,
                                init=str(teacher / "checkpoint.pt"), teacher=str(teacher / "checkpoint.pt"),
                                mask_ratio=0.5, mask_seed=1, **TINY))
    assert student["mask"] == {"ratio": 0.5, "where": "*", "seed": 1, "mode": "random"}
    model = load_model(tmp_path / "student" / "checkpoint.pt")
    assert all(m.ratio == 0.5 for n, m in model.named_modules() if n.endswith(".mask"))


def test_distillation_loss_matches_hand_computation():
    s = torch.tensor([[2.0, 0.0, -1.0]])
    t = torch.tensor([[1.0, 1.0, 0.0]])
    y = torch.tensor([0])
    tau, alpha = 2.0, 0.3
    ps, pt = F.softmax(s / tau, -1), F.softmax(t / tau, -1)
    kl = (pt * (pt.log() - ps.log())).sum()
    ce = -F.log_softmax(s, -1)[0, 0]
    expected = (1 - alpha) * ce + alpha * tau ** 2 * kl
    assert distillation_loss(s, t, y, alpha, tau).item() == pytest.approx(expected.item(), rel=1e-6)


def test_cosine_schedule_with_warmup():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert lr_factor(100, 100, 0) == pytest.approx(0.0, abs=1e-12)


def test_torchrun_two_processes_match_one_process(tmp_path):
    # same global batch (64 = 1 × 64 = 2 × 32) and the same number of steps in both runs
    args = ["--model", "resnet18", "--opt", "width=0.125", "--opt", "levels=4", "--epochs", "1",
            "--lr", "0.1", "--max-batches", "80", "--no-progress"]
    single = subprocess.run([sys.executable, "-m", "spikemask.cli", "train", "--out", str(tmp_path / "one"),
                             "--batch-size", "64", *args], capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "spikemask.cli", "train", "--out", str(tmp_path / "two"), "--batch-size", "32", *args],
                         capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["test_accuracy"] > 0.3 and two["test_accuracy"] > 0.3          # both learn (chance: 0.1)
    assert math.isclose(one["test_accuracy"], two["test_accuracy"], abs_tol=0.15)


def test_seed_summary_is_mean_and_sample_std():
    from spikemask.train.trainer import summarize_seeds
    s = summarize_seeds([0, 1, 2], [{"test_accuracy": a} for a in (0.9, 0.8, 0.7)])
    assert s["mean"] == pytest.approx(0.8) and s["std"] == pytest.approx(0.1)


def test_recompute_bn_stats_averages_over_batches_and_keeps_modes():
    from torch.utils.data import DataLoader, TensorDataset

    from spikemask.train.trainer import recompute_bn_stats
    torch.manual_seed(0)
    x = torch.randn(64, 3) * 2 + 5
    from spikemask.models.base import SpikingClassifier
    from spikemask.snn.functional import seq_forward

    class Norm(SpikingClassifier):                       # BN and dropout over 3 channels of 1x1 "images"
        def __init__(self) -> None:
            super().__init__(num_classes=3, in_channels=3, img_size=1)
            self.bn, self.drop = torch.nn.BatchNorm1d(3), torch.nn.Dropout(0.5)

        def forward_features(self, x):
            return seq_forward(lambda z: self.drop(self.bn(z.flatten(1))), x)

        def forward_head(self, features):
            return features

    loader = DataLoader(TensorDataset(x.view(64, 3, 1, 1), torch.zeros(64, dtype=torch.long)), batch_size=16)
    model = Norm()
    model.bn.running_mean.fill_(-100.0)
    model.eval()
    assert recompute_bn_stats(model, loader, torch.device("cpu"), batches=3) == 1
    batch_means = torch.stack([x[i:i + 16].mean(0) for i in (0, 16, 32)])
    assert torch.allclose(model.bn.running_mean, batch_means.mean(0), atol=1e-5)   # only 3 of 4 batches
    assert model.bn.momentum == 0.1 and not model.training and not model.bn.training
    assert recompute_bn_stats(model, loader, torch.device("cpu"), batches=0) == 0


def test_init_takes_model_options_that_override_the_checkpoint(tmp_path):
    base = tmp_path / "base"
    train(TrainConfig(out=str(base), epochs=1, max_batches=1, **TINY))
    assert load_checkpoint(base / "checkpoint.pt")["model_options"]["levels"] == 4
    finer = tmp_path / "finer"
    options = {**TINY["model_options"], "levels": 16}
    train(TrainConfig(out=str(finer), epochs=1, max_batches=1, init=str(base / "checkpoint.pt"),
                      **{**TINY, "model_options": options}))
    assert load_checkpoint(finer / "checkpoint.pt")["model_options"]["levels"] == 16
    model = load_model(finer / "checkpoint.pt")
    assert {m.levels for m in model.modules() if hasattr(m, "levels")} == {16}
    with pytest.raises(SpikemaskError, match="^init .* holds a resnet18, not a vgg16; train model 'resnet18'"):
        train(TrainConfig(out=str(tmp_path / "x"), init=str(base / "checkpoint.pt"), **{**TINY, "model": "vgg16"}))
