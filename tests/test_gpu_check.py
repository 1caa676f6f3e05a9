"""``benchmarks/gpu_check.py``, the one script prepared for a GPU machine, run end to end on the CPU
(``--device cpu``: the C++ kernels stand in for Triton), so that it works when a GPU is lent."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_the_cpu_and_its_kernel_checks_pass(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--out", str(tmp_path),
               "--repeat", "1", "--train-batches", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    assert record["device"] == "cpu"
    kernels = record["kernels"]
    assert len(kernels) == 11 and all(row["ok"] for row in kernels), kernels   # 3 dtypes × 3 + 2 gradient cases
    assert len(record["bandwidth"]) == 4 and all(row["g_element_steps_per_s"] > 0 for row in record["bandwidth"])
    assert [row["case"] for row in record["models"]] == [
        "sdmformer_2_256 inference", "sdmformer_2_256 training",
        "sdmformer_2_256 inference bf16", "sdmformer_2_256 training bf16"]
    assert all(row["img_per_s"] > 0 for row in record["models"])
    train = record["train"]                    # 3 steps an epoch: too few for the loss to fall reliably
    assert train["steps"] == 6 and len(train["train_loss"]) == 2
    assert (tmp_path / "train_sdmformer_amp" / "checkpoint.pt").exists()
