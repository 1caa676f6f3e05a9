"""Fuzzing the command line: every option of every subcommand given odd values (issue "Reliability", item 7).

Each case is one run of ``spikemask`` in this process with a bounded base command (tiny models, one
batch, T = 2) and one option replaced by a value from a pool chosen by the option's kind: numbers get
NaN, ±inf, negatives, zero, fractions, words and overflow; choices an unknown name; ``KEY=VALUE``
options unknown keys, missing values and bad values; other text an empty string, an unknown name and
an unwritable path. A case passes when the run either works (exit 0) or prints exactly one line on
stderr and exits with 2, and never escapes with an exception (a traceback).
"""
from __future__ import annotations

import argparse
import functools
import random
import time

import numpy as np
import pytest
import torch
from test_official_checkpoints import fill, official_spikformer_layout

import spikemask
from spikemask.checkpoint import save_checkpoint
from spikemask.cli import build_parser, main

import events_files as ef

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1.5", "abc", "1e400", ""]
CHOICES = ["bogus", ""]
PAIRS = ["bogus=1", "novalue", "=1", "width=nan", "levels=-1", "time_steps=abc", "frames=0"]
TEXT = ["", "bogus", "/proc/spikemask/none"]
SWITCHES_SKIPPED = ("-h", "--help", "--version")
CASES_PER_OPTION = 2          # values drawn (seeded) from the option's pool
BUDGET_S = 180                # the whole loop, as the issue asks


def base_commands(f: dict[str, str]) -> dict[str, list[str]]:
    """A bounded run of every subcommand (each works as it stands); the fuzzed option is added or replaced."""
    sim = ["-T", "2", "--no-progress"]
    return {
        "demo": ["demo", "--epochs", "1", "--finetune-epochs", "1", "--ratios", "0.5", "--max-batches", "1",
                 *sim, "--opt", "width=0.0625"],
        "train": ["train", "--opt", "width=0.0625", "--epochs", "1", "--max-batches", "1", "--no-progress"],
        "convert": ["convert", "--checkpoint", f["vgg"]],
        "evaluate": ["evaluate", "--checkpoint", f["vgg"], "--max-batches", "1", "--batch-size", "4", *sim],
        "energy": ["energy", "--checkpoint", f["vgg"], "--max-batches", "1", "--batch-size", "4", *sim],
        "export": ["export", "--checkpoint", f["vgg"], "--max-batches", "1", "--batch-size", "4", *sim],
        "load": ["load", "--family", "spikformer", "--weights", f["official"]],
        "models": ["models"],
        "data prepare": ["data", "prepare", "--dataset", "nmnist", "--root", f["nmnist"], "--frames", "2",
                         "--no-progress"],
        "data info": ["data", "info", "--dataset", "nmnist", "--root", f["nmnist"], "--frames", "2", "--limit", "2"],
        "mst studies time": ["mst", "studies", "time", "--checkpoint", f["mst"], "--limit", "4", "--seeds", "0", *sim],
        "mst studies ratio": ["mst", "studies", "ratio", "--checkpoint", f["mst"], "--limit", "4", "--seeds", "0",
                              "--ratios", "0", "0.5", *sim],
        "mst studies blocks": ["mst", "studies", "blocks", "--checkpoint", f["mst"], "--limit", "4", "--seeds", "0",
                               *sim],
        "mst studies variants": ["mst", "studies", "variants", "--checkpoint", f["mst"], "--limit", "4",
                                 "--variant", "softmax=none", *sim],
        "mst studies table3": ["mst", "studies", "table3", "--vgg16", f["vgg"], "--limit", "4", "--seeds", "0", *sim],
        "mst sam": ["mst", "sam", "--checkpoint", f["mst"], "--limit", "4", "--ratios", "0", *sim],
        "mst load-pretrained": ["mst", "load-pretrained", "--weights", f["weights"], "--model", "mst_swin_micro",
                                "--img-size", "28", "--in-channels", "1", "--num-classes", "10"],
        "sdm compare": ["sdm", "compare", "--spikformer", f["spikformer"], "--sdmformer", f["sdmformer"],
                        "--max-batches", "1", "--batch-size", "2"],
        "sdm analyze": ["sdm", "analyze", "--checkpoint", f["sdmformer"], "--max-batches", "1", "--batch-size", "2"],
        "prune": ["prune", "--checkpoint", f["sdmformer"], "--check-batch", "1"],
    }


def options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(subcommand path, argparse action) for every option that takes a value, in every subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs:
        for name, sub in subs[0].choices.items():
            yield from options(sub, (*path, name))
        return
    for action in parser._actions:
        if action.option_strings and action.nargs != 0 and action.option_strings[0] not in SWITCHES_SKIPPED:
            yield " ".join(path), action


def pool(action: argparse.Action) -> list[str]:
    """The odd values for one option, by its kind."""
    if action.choices is not None:
        return CHOICES
    if "KEY=VALUE" in str(action.metavar):
        return PAIRS
    if getattr(action.type, "__name__", None) in ("int", "float"):
        return NUMBERS
    return TEXT


def with_value(argv: list[str], action: argparse.Action, value: str, takes: int) -> list[str]:
    """``argv`` with ``action``'s flag (and the values it had there) replaced by ``flag value``."""
    flags, out, skip = set(action.option_strings), [], 0
    for a in argv:
        if skip and not a.startswith("-"):
            skip -= 1
            continue
        skip = 0
        if a in flags:
            skip = takes
            continue
        out.append(a)
    return [*out, action.option_strings[0], value]


@functools.cache
def commands_with_out() -> set[str]:
    return {c for c, action in options(build_parser()) if "--out" in action.option_strings}


def with_out(command: str, argv: list[str], out: str) -> list[str]:
    """``argv`` writing into ``out`` when the command has ``--out`` and the case does not set it."""
    return [*argv, "--out", out] if command in commands_with_out() and "--out" not in argv else argv


def cases(f: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(command, case name, argv) for every value-taking option of every command."""
    rng = random.Random(0)
    bases, found = base_commands(f), []
    for command, action in options(build_parser()):
        takes = 99 if action.nargs in ("+", "*") else (action.nargs if isinstance(action.nargs, int) else 1)
        values = pool(action)
        for value in rng.sample(values, min(CASES_PER_OPTION, len(values))):
            found.append((command, f"{command} {action.option_strings[0]} {value!r}",
                          with_value(bases[command], action, value, takes)))
    return found


@pytest.fixture
def files(tmp_path):
    def saved(name: str, **options) -> str:
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, spikemask.create_model(name, in_channels=1, img_size=28, **options))
        return str(path)

    rng = np.random.default_rng(0)                  # a tiny N-MNIST folder in its real file format
    for split, count in (("Train", 2), ("Test", 1)):
        for label in ("0", "1"):
            for i in range(count):
                ef.write_atis_bin(tmp_path / "nmnist" / split / label / f"{i}.bin", ef.random_events(rng, 100, 34, 34))
    torch.save({"model": fill(official_spikformer_layout(dim=64))}, tmp_path / "official.pth")
    weights = tmp_path / "swin.pth"
    torch.save(spikemask.create_model("mst_swin_micro", in_channels=1, img_size=28).state_dict(), weights)
    return {"vgg": saved("vgg16", width=0.0625, levels=4), "mst": saved("mst_swin_micro", embed_dim=16),
            "spikformer": saved("spikformer_2_64", time_steps=2), "sdmformer": saved("sdmformer_2_64", time_steps=2),
            "weights": str(weights), "nmnist": str(tmp_path / "nmnist"), "official": str(tmp_path / "official.pth")}


def test_every_option_of_every_command_survives_odd_values(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                   # runs that work write into runs/... here
    monkeypatch.setenv("SPIKEMASK_CACHE", str(tmp_path / "cache"))
    for i, (command, argv) in enumerate(base_commands(files).items()):    # each base works as it stands
        assert main(with_out(command, argv, str(tmp_path / f"base{i}"))) == 0, (command, capsys.readouterr().err)
    capsys.readouterr()
    all_cases, failures, codes = cases(files), [], {0: 0, 2: 0}
    assert len(all_cases) >= 300, len(all_cases)
    started = time.time()                         # the loop's time (the base runs above not included)
    for i, (command, name, argv) in enumerate(all_cases):
        argv = with_out(command, argv, str(tmp_path / f"out{i}"))
        try:
            code = main(argv)
        except SystemExit as e:                   # argparse refuses while parsing
            code = e.code
        except Exception as e:                    # a traceback: the defect this test is for
            failures.append(f"{name}: {type(e).__name__}: {e}")
            capsys.readouterr()
            continue
        err = capsys.readouterr().err
        if code not in (0, 2) or (code == 2 and (err.count("\n") != 1 or "Traceback" in err)):
            failures.append(f"{name}: exit {code}, stderr {err!r}")
        codes[code] = codes.get(code, 0) + 1
    elapsed = time.time() - started
    assert not failures, f"{len(failures)} of {len(all_cases)} cases failed:\n" + "\n".join(failures)
    assert elapsed < BUDGET_S, f"{len(all_cases)} cases took {elapsed:.0f} s"
    with capsys.disabled():
        print(f"\n{len(all_cases)} cases in {elapsed:.0f} s: {codes[0]} ran, {codes[2]} refused with one line")
