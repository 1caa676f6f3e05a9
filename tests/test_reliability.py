"""Reliability and security: loading never runs code from a file (issue "Reliability and security", item 1).

A pickle can name any Python callable to be called while it is read (``__reduce__``): a checkpoint
from the internet could run ``os.system(...)``. Every path that reads a file goes through
``torch.load(weights_only=True)`` (:func:`spikemask.io.load_torch`), which refuses such a file before
anything from it runs. The payload here would create a folder; each case checks that it did not and
that the command printed one line and exited with status 2.
"""
import json
import os
from pathlib import Path

import pytest
import torch

import spikemask
from spikemask.checkpoint import save_checkpoint
from spikemask.cli import main
from spikemask.data.events.cache import FrameCache
from spikemask.errors import SpikemaskError
from spikemask.models.record import model_record


class Payload:
    """Unpickling this calls ``os.mkdir(marker)``: the stand-in for a malicious command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.fixture
def files(tmp_path):
    """A payload pickle, a valid checkpoint carrying the payload, a run folder to resume, and a real checkpoint."""
    marker = tmp_path / "PAYLOAD_RAN"
    payload = tmp_path / "payload.pt"
    torch.save({"model": Payload(str(marker))}, payload)
    model = spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.0625, levels=4)
    carrier = tmp_path / "carrier.pt"
    torch.save({**model_record(model), "extra": Payload(str(marker))}, carrier)
    good = tmp_path / "good.pt"
    save_checkpoint(good, model)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model_name": Payload(str(marker))}, run / "checkpoint.pt")
    return {"marker": marker, "payload": str(payload), "carrier": str(carrier), "good": str(good), "run": str(run)}


def loading_paths(f, out):
    """Every command line that reads a checkpoint, weights or tensor file, with the payload in it."""
    p, quick = f["payload"], ["--batch-size", "4"]
    return {
        "evaluate": ["evaluate", "--checkpoint", p, "--out", out, *quick],
        "evaluate --input": ["evaluate", "--checkpoint", f["good"], "--input", p, "-T", "2"],
        "convert": ["convert", "--checkpoint", p, "--out", out],
        "convert, valid checkpoint carrying a payload": ["convert", "--checkpoint", f["carrier"], "--out", out],
        "energy": ["energy", "--checkpoint", p, "--out", out, *quick],
        "export": ["export", "--checkpoint", p, "--out", out, *quick],
        "load (the authors' checkpoints)": ["load", "--weights", p, "--out", out],
        "prune": ["prune", "--checkpoint", p, "--out", out],
        "train --init": ["train", "--init", p, "--out", out, "--epochs", "1", "--max-batches", "1"],
        "train --teacher": ["train", "--teacher", p, "--opt", "width=0.0625", "--out", out, "--epochs", "1",
                            "--max-batches", "1"],
        "train --resume": ["train", "--resume", "--opt", "width=0.0625", "--out", f["run"], "--epochs", "1",
                           "--max-batches", "1"],
        "mst load-pretrained --weights": ["mst", "load-pretrained", "--weights", p, "--model", "mst_swin_micro",
                                          "--out", out],
        "mst studies time": ["mst", "studies", "time", "--checkpoint", p, "--out", out, *quick],
        "mst studies table3": ["mst", "studies", "table3", "--vgg16", p, "--out", out, *quick],
        "sdm analyze": ["sdm", "analyze", "--checkpoint", p, "--out", out, *quick],
        "sdm compare": ["sdm", "compare", "--spikformer", p, "--sdmformer", p, "--out", out, *quick],
    }


@pytest.mark.parametrize("case", list(loading_paths({k: "x" for k in ("payload", "good", "carrier", "run")}, "o")))
def test_no_loading_path_runs_a_pickled_payload(case, files, tmp_path, capsys):
    argv = loading_paths(files, str(tmp_path / "out"))[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "not loaded, since loading never runs code" in err, err
    assert not files["marker"].exists(), f"{case}: the payload ran"


def test_the_event_frame_cache_refuses_a_payload(files, tmp_path):
    cache = FrameCache(tmp_path / "cache", {"dataset": "nmnist_sim"})
    cache.path("sample").parent.mkdir(parents=True)
    os.replace(files["payload"], cache.path("sample"))                    # a planted cache file
    with pytest.raises(SpikemaskError, match="never runs code"):
        cache.load("sample")
    assert not files["marker"].exists()


def test_real_checkpoints_and_tensors_still_load(files, tmp_path, capsys):
    images = tmp_path / "x.pt"
    torch.save(torch.rand(2, 1, 28, 28), images)
    assert main(["evaluate", "--checkpoint", files["good"], "--input", str(images), "-T", "2"]) == 0
    assert main(["convert", "--checkpoint", files["good"], "--out", str(tmp_path / "snn")]) == 0
    assert "image 1: ANN class" in capsys.readouterr().out


# ----------------------------------------------------------------------------- exact resume
@pytest.mark.parametrize("distilled", [False, True], ids=["masked", "masked+distilled"])
def test_a_masked_run_killed_mid_epoch_resumes_bit_for_bit(distilled, tmp_path, monkeypatch):
    """Straight 3-epoch run vs. the same run interrupted in epoch 3 and resumed from its epoch-2 checkpoint.

    Every random stream must continue where it stopped: torch's (shuffling, jitter), and each seeded
    Random Spike Mask's own generator (of the student and of a masked teacher).
    """
    from spikemask.checkpoint import load_checkpoint
    from spikemask.train.config import TrainConfig
    from spikemask.train.trainer import Trainer, train

    tiny = dict(model="vgg16", model_options={"width": 0.0625, "levels": 4}, batch_size=32, lr=0.05,
                epochs=3, max_batches=3, mask_ratio=0.5, mask_seed=7, progress=False)
    if distilled:
        teacher = tmp_path / "teacher"
        train(TrainConfig(out=str(teacher), **{**tiny, "epochs": 1}))          # a masked teacher
        tiny["teacher"] = str(teacher / "checkpoint.pt")
    straight = train(TrainConfig(out=str(tmp_path / "straight"), **tiny))

    calls, original = [0], Trainer.loss

    def crash_in_epoch_3(self, *args):
        calls[0] += 1
        if calls[0] == 2 * 3 + 2:                                          # second batch of epoch 3
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "loss", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "killed"), **tiny))
    monkeypatch.setattr(Trainer, "loss", original)
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["epoch"] == 2
    resumed = train(TrainConfig(out=str(tmp_path / "killed"), resume=True, **tiny))

    assert resumed["history"] == straight["history"]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- writes
def test_writes_follow_the_umask_and_clear_orphans_of_killed_writes(tmp_path):
    import subprocess
    import sys

    from spikemask.io import write_json
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()                      # a process that has exited
    orphan = tmp_path / f".metrics.json.{dead}.k1ll3d.tmp"              # what a kill -9 mid-write leaves
    orphan.write_text("half")
    live = tmp_path / f".metrics.json.{os.getpid()}.w0rk1ng.tmp"        # a write still under way: kept
    live.write_text("half")
    other = tmp_path / f".other.json.{dead}.x.tmp"                       # another file's: not ours to remove
    other.write_text("half")
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"a": 1})
    finally:
        os.umask(old)
    assert not orphan.exists() and live.exists() and other.exists()
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_is_one_error_and_keeps_the_previous_file(tmp_path, monkeypatch):
    import errno

    from spikemask.io import save_torch
    target = tmp_path / "checkpoint.pt"
    save_torch(target, {"epoch": 1})

    def full_disk(obj, f):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(SpikemaskError, match="could not write .*No space left on device.*previous file"):
        save_torch(target, {"epoch": 2})
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"epoch": 1}
    assert list(tmp_path.glob(".*.tmp")) == []
    with pytest.raises(SpikemaskError, match="cannot write"):
        save_torch(target / "inside_a_file.pt", {})                     # a file where a folder must be


def test_ctrl_c_during_a_checkpoint_write_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch,
                                                                                      capsys):
    """The campaign's case: Ctrl-C while ``torch.save`` writes epoch 2's checkpoint (half the bytes out)."""
    from spikemask.checkpoint import load_checkpoint
    run = tmp_path / "run"
    quick = ["train", "--opt", "width=0.0625", "--max-batches", "1", "--no-progress", "--out", str(run)]
    assert main([*quick, "--epochs", "1"]) == 0
    real_save = torch.save

    def interrupted(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)                                        # part of the file is out ...
        raise KeyboardInterrupt                                          # ... when Ctrl-C arrives

    monkeypatch.setattr(torch, "save", interrupted)
    capsys.readouterr()
    assert main([*quick, "--epochs", "2", "--resume"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
    monkeypatch.undo()
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1           # the last complete one, intact
    assert list(run.glob(".*.tmp")) == []


# ----------------------------------------------------------------------------- signals
@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_during_training_is_one_line_and_keeps_the_last_checkpoint(sig, code, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from spikemask.checkpoint import load_checkpoint
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "spikemask.cli", "train", "--opt", "width=0.0625", "--opt",
                             "levels=4", "--epochs", "500", "--max-batches", "2", "--batch-size", "16",
                             "--no-progress", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            # a shell that starts jobs in the background makes them ignore SIGINT; undo that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)                                                      # somewhere in a later epoch
    proc.send_signal(getattr(signal, sig))
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()                                                      # never leave a trainer running
        proc.wait()
    assert proc.returncode == code, err
    assert err.count("\n") == 1 and "last complete checkpoint" in err, err
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] >= 1           # the last complete one loads
    assert list(out.glob(".*.tmp")) == []


# ----------------------------------------------------------------------------- impossible values
@pytest.mark.parametrize("argv, message", [
    (["train", "--weight-decay", "nan"], "weight-decay"),
    (["train", "--label-smoothing", "1.5"], "label-smoothing"),
    (["train", "--kd-temperature", "0"], "kd-temperature"),
    (["train", "--workers", "-1"], "workers"),
    (["train", "--opt", "width=abc", "--epochs", "1", "--max-batches", "1"], "model option width must be a finite"),
    (["train", "--opt", "width=-1", "--epochs", "1", "--max-batches", "1"], "model option width must be a finite"),
    (["train", "--device", "bogus", "--epochs", "1", "--max-batches", "1"], "--device 'bogus' is not a device"),
    (["evaluate", "--checkpoint", "CKPT", "--alpha", "nan"], "alpha"),
    (["evaluate", "--checkpoint", "CKPT", "--alpha", "-1"], "alpha"),
    (["convert", "--checkpoint", "CKPT", "--v-init", "nan"], "v-init"),
    (["train", "--resume", "--out", "CONVERTED", "--epochs", "1"], "--resume needs a training checkpoint"),
])
def test_impossible_values_are_one_line_and_exit_2_before_any_work(argv, message, files, tmp_path, capsys):
    converted = tmp_path / "converted"
    assert main(["convert", "--checkpoint", files["good"], "--out", str(converted)]) == 0
    capsys.readouterr()
    argv = [{"CKPT": files["good"], "CONVERTED": str(converted)}.get(a, a) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    try:
        code = main(argv)
    except SystemExit as e:                                              # refused while parsing the flags
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------- bad inputs, wrong slots
@pytest.fixture
def inputs(files, tmp_path):
    """Checkpoints of each family (untrained), a diverged one, bad --input tensors, a plain file and a folder."""
    def saved(name: str, **options) -> str:
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, spikemask.create_model(name, in_channels=1, img_size=28, **options))
        return str(path)

    nan = torch.load(files["good"], weights_only=True)
    next(v for v in nan["state_dict"].values() if v.is_floating_point()).fill_(float("nan"))
    torch.save(nan, tmp_path / "nan.pt")
    torch.save(torch.zeros(0, 1, 28, 28), tmp_path / "empty.pt")
    torch.save(torch.zeros(2, 1, 28, 28, dtype=torch.complex64), tmp_path / "complex.pt")
    torch.save({"foo.weight": torch.zeros(3, 3)}, tmp_path / "unrelated.pt")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "adir").mkdir()
    return {**files, "resnet": saved("resnet18", width=0.0625, levels=4), "nan": str(tmp_path / "nan.pt"),
            "spikformer": saved("spikformer_2_64", time_steps=2), "sdmformer": saved("sdmformer_2_64", time_steps=2),
            "empty": str(tmp_path / "empty.pt"), "complex": str(tmp_path / "complex.pt"),
            "unrelated": str(tmp_path / "unrelated.pt"), "afile": str(tmp_path / "afile"),
            "adir": str(tmp_path / "adir"), "afile/sub": str(tmp_path / "afile" / "sub")}


BAD_INPUTS = {   # case: (command line with placeholders, a phrase the one line must contain)
    "evaluate --out FILE": (["evaluate", "--checkpoint", "good", "--out", "afile"], "is a file"),
    "energy --out FILE": (["energy", "--checkpoint", "good", "--out", "afile"], "is a file"),
    "convert --out FILE": (["convert", "--checkpoint", "good", "--out", "afile"], "is a file"),
    "prune --out FILE": (["prune", "--checkpoint", "good", "--out", "afile"], "is a file"),
    "train --out FILE": (["train", "--out", "afile"], "is a file"),
    "demo --out FILE": (["demo", "--out", "afile"], "is a file"),
    "mst load-pretrained --out FILE": (["mst", "load-pretrained", "--weights", "unrelated", "--out", "afile"],
                                       "is a file"),
    "train --out under /proc": (["train", "--out", "/proc/spikemask-run"], "cannot write into output folder"),
    "evaluate --out under a file": (["evaluate", "--checkpoint", "good", "--out", "afile/sub"], "cannot write into"),
    "evaluate -T 1e12": (["evaluate", "--checkpoint", "good", "-T", "1000000000000"], "--time-steps"),
    "evaluate empty --input": (["evaluate", "--checkpoint", "good", "--input", "empty"], "holds no images"),
    "evaluate complex --input": (["evaluate", "--checkpoint", "good", "--input", "complex"], "complex64"),
    "evaluate NaN weights": (["evaluate", "--checkpoint", "nan"], "NaN or infinite"),
    "energy NaN weights": (["energy", "--checkpoint", "nan"], "NaN or infinite"),
    "convert NaN weights": (["convert", "--checkpoint", "nan"], "NaN or infinite"),
    "train --init NaN weights": (["train", "--init", "nan", "--model", "vgg16"], "NaN or infinite"),
    "train --data-opt bogus=1": (["train", "--data-opt", "bogus=1"], "--data-opt 'bogus' not known to dataset"),
    "train --init DIR": (["train", "--init", "adir", "--model", "vgg16"], "is a folder, not a file"),
    "data info --root FILE": (["data", "info", "--dataset", "nmnist", "--root", "afile"], "is a file, not a folder"),
    "table3 --vgg16 ResNet": (["mst", "studies", "table3", "--vgg16", "resnet"], "--vgg16 takes vgg16*"),
    "sdm compare swapped": (["sdm", "compare", "--spikformer", "sdmformer", "--sdmformer", "spikformer"],
                            "are the two swapped"),
    "load-pretrained, 0 tensors": (["mst", "load-pretrained", "--weights", "unrelated"], "no tensor of"),
    "mst sam --gamma nan": (["mst", "sam", "--checkpoint", "good", "--gamma", "nan"], "--gamma"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_one_line_and_exit_2_and_write_nothing(case, inputs, tmp_path, capsys):
    argv, phrase = BAD_INPUTS[case]
    argv = [inputs.get(a, a) for a in argv]
    if "--out" not in argv and argv[:2] != ["data", "info"]:
        argv += ["--out", str(tmp_path / "out")]
    try:
        code = main(argv)
    except SystemExit as e:                                              # refused while parsing the flags
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and phrase in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists(), "a refused run left its output folder behind"
    assert Path(inputs["afile"]).read_text() == "not a folder"


def test_an_existing_run_is_refused_unless_resumed_or_overwritten(files, tmp_path, capsys):
    run = tmp_path / "finished"
    quick = ["--opt", "width=0.0625", "--epochs", "1", "--max-batches", "1", "--no-progress", "--out", str(run)]
    assert main(["train", *quick]) == 0
    before = (run / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", *quick, "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume or --overwrite must be given" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before                # the finished run is untouched
    assert main(["train", *quick, "--lr", "0.5", "--overwrite"]) == 0
    assert (run / "checkpoint.pt").read_bytes() != before


# ----------------------------------------------------------------------------- small images in an ImageFolder
def test_a_folder_of_28px_digits_trains_as_well_as_the_mnist_path(tmp_path, capsys):
    """The bundled MNIST split written as PNGs and trained with default options (a narrow VGG-16, 2 epochs):
    within 3 points of the same images through the ``mnist`` path (before the size-aware augmentation,
    ImageNet's RandomResizedCrop at 224 px gave 49.6 % after 8 epochs)."""
    from PIL import Image

    from spikemask.data import get_dataset
    from spikemask.data.static import load_mnist_arrays, mnist_split

    images, labels = load_mnist_arrays()
    for split, train in (("train", True), ("val", False)):
        for i in mnist_split(train):
            folder = tmp_path / "digits" / split / str(labels[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"{i}.png")
    spec = get_dataset("imagefolder", root=str(tmp_path / "digits"))
    assert (spec.img_size, len(spec.dataset), spec.num_classes) == (28, 8000, 10)   # the images' own size
    quick = ["--opt", "width=0.125", "--epochs", "2", "--no-progress"]
    assert main(["train", *quick, "--out", str(tmp_path / "mnist")]) == 0
    assert main(["train", *quick, "--dataset", "imagefolder", "--root", str(tmp_path / "digits"),
                 "--out", str(tmp_path / "folder")]) == 0
    accuracy = {run: json.loads((tmp_path / run / "metrics.json").read_text())["test_accuracy"]
                for run in ("mnist", "folder")}
    assert accuracy["mnist"] > 0.9 and abs(accuracy["folder"] - accuracy["mnist"]) < 0.03, accuracy


def test_a_checkpoint_without_random_streams_is_refused_for_resume(tmp_path, capsys):
    from spikemask.checkpoint import load_checkpoint
    from spikemask.io import save_torch
    run = tmp_path / "old"
    quick = ["train", "--opt", "width=0.0625", "--max-batches", "1", "--no-progress", "--out", str(run)]
    assert main([*quick, "--epochs", "1"]) == 0
    ckpt = load_checkpoint(run / "checkpoint.pt")
    save_torch(run / "checkpoint.pt", {k: v for k, v in ckpt.items() if k != "streams"})   # an older layout
    capsys.readouterr()
    assert main([*quick, "--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "written without them" in err and "--init" in err, err


def test_random_streams_continue_where_they_were_saved():
    import random

    import numpy as np

    from spikemask.train.trainer import random_streams, set_random_streams
    saved = random_streams()
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_random_streams(saved)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_a_killed_two_process_masked_run_resumes_bit_for_bit(tmp_path):
    """torchrun with 2 processes (gloo): SIGKILL after the first epoch's checkpoint, resume, compare with a
    straight run. Each rank's random streams are saved (rank 0 gathers them) and restored on its rank."""
    import signal
    import subprocess
    import sys
    import time

    from spikemask.checkpoint import load_checkpoint

    def launch(out: Path, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                                 "-m", "spikemask.cli", "train", "--out", str(out), "--opt", "width=0.0625",
                                 "--opt", "levels=4", "--batch-size", "32", "--epochs", "4", "--max-batches", "4",
                                 "--mask-ratio", "0.5", "--mask-seed", "3", "--no-progress", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    straight = launch(tmp_path / "straight")
    killed = launch(tmp_path / "killed")
    deadline = time.time() + 300
    while not (tmp_path / "killed" / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:    # torchrun and its workers (their own
        try:                                                             # sessions): all name the run folder
            if str(tmp_path / "killed").encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    killed.wait()
    assert straight.wait(timeout=600) == 0, straight.stderr.read()[-2000:]
    ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert 1 <= ckpt["epoch"] < 4 and len(ckpt["streams"]) == 2
    resumed = launch(tmp_path / "killed", "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert a["history"] == b["history"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
