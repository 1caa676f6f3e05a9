"""Studies called from Python give what the CLI gives; importing spikemask leaves matplotlib's backend alone."""
import json
import subprocess
import sys

import pytest
import torch

from spikemask.checkpoint import save_checkpoint
from spikemask.cli import main
from spikemask.errors import OptionError
from spikemask.models import create_model
from spikemask.studies.mst import Table3Config, TimeConfig, table3, time

QUICK = dict(limit=4, batch_size=4, time_steps=4, progress=False)
QUICK_FLAGS = ["--limit", "4", "--batch-size", "4", "-T", "4", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny MST and a tiny VGG-16 checkpoint on MNIST."""
    folder = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    save_checkpoint(folder / "mst.pt", create_model("mst_swin_micro", num_classes=10, in_channels=1, img_size=28,
                                                    embed_dim=8, heads=(1, 2), threshold=0.5))
    save_checkpoint(folder / "vgg.pt", create_model("vgg16", in_channels=1, img_size=28, width=0.0625, levels=4))
    return str(folder / "mst.pt"), str(folder / "vgg.pt")


def test_table3_from_python_gives_the_numbers_of_the_cli(checkpoints, tmp_path, capsys):
    mst, vgg = checkpoints
    result = table3(Table3Config(mst=[mst], vgg16=[vgg], mst_options={"product": "rate"}, ratios=[0.0, 0.5],
                                 seeds=[0, 1], **QUICK))
    out = tmp_path / "cli"
    assert main(["mst", "studies", "table3", "--mst", mst, "--vgg16", vgg, "--mst-opt", "product=rate",
                 "--ratios", "0", "0.5", "--seeds", "0", "1", *QUICK_FLAGS, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    cli = json.loads((out / "table3.json").read_text())
    assert json.loads(json.dumps(result.to_dict())) == cli
    assert [r["runs"] for r in result.table["VGG-16"]] == [1, 2]          # ratio 0 runs once
    assert result.markdown() in printed
    files = result.save(tmp_path / "py")
    assert [f.name for f in files] == ["table3.json", "table3.md"]
    assert (tmp_path / "py" / "table3.md").read_text() == (out / "table3.md").read_text()


def test_time_study_records_settings_and_names_parameters_in_errors(checkpoints, tmp_path):
    mst, _ = checkpoints
    result = time(TimeConfig(checkpoints=[mst], ratios=[0.0], options={"product": "rate"}, **QUICK))
    assert result.settings["checkpoint"] == [mst] and result.settings["opt"] == ["product=rate"]
    assert list(result.mean_accuracy_by_step["mask 0 %"]) == [1, 2, 4]
    assert [p.name for p in result.save(tmp_path)] == ["time.json", "time.png"]
    with pytest.raises(OptionError, match="^checkpoints must be one checkpoint for all ratios or one per ratio"):
        time(TimeConfig(checkpoints=[mst, mst], ratios=[0.0, 0.5, 0.7], **QUICK))
    with pytest.raises(OptionError, match=r"^time_steps must be >= 1, got 0$"):
        time(TimeConfig(checkpoints=[mst], **{**QUICK, "time_steps": 0}))


def test_importing_and_plotting_keep_the_users_matplotlib_backend(tmp_path):
    code = ("import sys\n"
            "import spikemask.measure.sam\n"
            "assert 'matplotlib' not in sys.modules, 'measure.sam imports matplotlib'\n"
            "import matplotlib\n"
            "matplotlib.use('svg')\n"
            "import spikemask.cli, spikemask.studies.mst\n"
            "from spikemask.report.plots import plot_training\n"
            f"plot_training([{{'epoch': 1, 'train_loss': 1.0, 'train_accuracy': 0.5, 'test_accuracy': 0.4}}], "
            f"{str(tmp_path / 't.png')!r})\n"
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
