"""``spikemask data prepare`` / ``spikemask data info``, and one-line errors for missing files or extras."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from spikemask.cli import main

import events_files as ef


def _cifar(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    for cls in ("bird", "ship"):
        for i in range(10):
            ev = ef.random_events(rng, 400, 128, 128)
            ef.write_aedat2(tmp_path / "data" / cls / f"cifar10_{cls}_{i}.aedat", ef.cifar10dvs_addresses(ev), ev["t"])
    return str(tmp_path / "data")


def test_prepare_caches_every_sample_with_workers(tmp_path, capsys):
    root, cache = _cifar(tmp_path), tmp_path / "cache"
    args = ["data", "prepare", "--dataset", "cifar10dvs", "--root", root, "--cache", str(cache),
            "--frames", "4", "--split-by", "time", "--size", "32", "--workers", "2", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train: 18 samples, 7200 events" in out and "test: 2 samples, 800 events" in out
    (folder,) = (cache / "frames").iterdir()
    assert len(list(folder.glob("*.pt"))) == 20
    assert json.loads((folder / "settings.json").read_text()) == {"dataset": "cifar10dvs", "frames": 4,
                                                                  "split_by": "time", "size": 32}


def test_info_prints_stats_and_writes_a_png(tmp_path, capsys):
    root, out = _cifar(tmp_path), tmp_path / "out"
    assert main(["data", "info", "--dataset", "cifar10dvs", "--root", root, "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--frames", "3"]) == 0
    text = capsys.readouterr().out
    assert "train: 18 samples; events per sample (over 18): min 400, mean 400" in text and "bird 9" in text
    assert (out / "cifar10dvs_samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((out / "cifar10dvs_info.json").read_text())
    assert info["test"]["per_class"]["ship"] == 1 and info["sensor_hw"] == [128, 128]


def test_user_errors_are_one_line(tmp_path, capsys):
    for args in (["data", "info", "--dataset", "cifar10"],
                 ["data", "info", "--dataset", "dvsgesture", "--root", str(tmp_path)],
                 ["data", "prepare", "--dataset", "ncars"],
                 ["data", "info", "--dataset", "cifar10dvs", "--root", _cifar(tmp_path), "--size", "500"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("spikemask data: error: ") and err.count("\n") == 1, err


def test_missing_extra_names_the_install_command(tmp_path):
    """Without tonic/scipy/expelliarmus spikemask still imports, and reading their formats says what to install."""
    for split in ("Train", "Test"):
        ef.write_atis_bin(tmp_path / split / "3" / "a.bin", ef.random_events(np.random.default_rng(0), 10, 34, 34))
    code = ("import sys\n"
            "for m in ('tonic', 'tonic.io', 'scipy', 'scipy.io', 'expelliarmus'): sys.modules[m] = None\n"
            "from spikemask.cli import main\n"
            f"sys.exit(main(['data', 'info', '--dataset', 'nmnist', '--root', {str(tmp_path)!r}]))\n")
    env = {**os.environ, "SPIKEMASK_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "spikemask data: error: reading N-MNIST/N-Caltech101 .bin files needs the optional package 'tonic'; "
        "install it with: pip install 'spikemask[events]'"]
