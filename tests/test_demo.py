"""The main job end to end, shrunk: every ratio gets a record, power falls with masking."""
import json

from spikemask.cli import main


def test_demo_writes_table3_records_and_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--opt", "width=0.0625", "--opt", "levels=4", "--epochs", "1",
                 "--finetune-epochs", "1", "-T", "8", "--ratios", "0", "0.75", "--max-batches", "20",
                 "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "P (α W)" in printed and "75%" in printed
    results = json.loads((out / "metrics.json").read_text())["results"]
    assert [r["mask_ratio"] for r in results] == [0.0, 0.75]
    for r in results:
        assert set(r) >= {"model", "mask_ratio", "ann_accuracy", "snn_accuracy", "spikes_per_image",
                          "power_alpha_watts", "power_ratio"}
        assert list(r["snn_accuracy"]) == ["1", "2", "4", "8"]
        assert all(0 <= a <= 1 for a in r["snn_accuracy"].values())
    assert results[0]["power_ratio"] == 1.0
    assert results[1]["power_ratio"] < 1.0                  # 75 % of spikes dropped at every site
    assert (out / "accuracy_vs_T.png").stat().st_size > 1000
    assert (out / "power_vs_mask_ratio.png").stat().st_size > 1000


def test_demo_resume_reuses_finished_runs(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--opt", "width=0.0625", "--opt", "levels=4", "--epochs", "1",
            "--finetune-epochs", "1", "-T", "2", "--ratios", "0.5", "--max-batches", "3", "--no-progress"]
    assert main(args) == 0
    teacher = (out / "ratio_0" / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/1" not in printed                          # nothing was trained again
    assert (out / "ratio_0" / "checkpoint.pt").read_bytes() == teacher
