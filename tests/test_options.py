"""Flags made from config dataclasses: every field has a flag whose default is the dataclass default."""
import argparse
import dataclasses
import typing

import pytest

from spikemask.cli import build_parser, main
from spikemask.cli.options import add_options, config_from_args
from spikemask.errors import OptionError
from spikemask.train.config import TrainConfig


def commands(parser, path=()):
    """``(command words, parser)`` for every parser in the ``spikemask`` tree."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def built_from_dataclasses():
    return [(path, p) for path, p in commands(build_parser()) if p.get_default("option_classes")]


def required_values(cls):
    """Made-up values for the fields of ``cls`` without a default (all paths: str or list of str)."""
    hints = typing.get_type_hints(cls)
    return {f.name: ["a.pt"] if typing.get_origin(hints[f.name]) is list else "a.pt"
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


def test_commands_are_built_from_dataclasses():
    names = {" ".join(path) for path, _ in built_from_dataclasses()}
    assert {"train", "demo", "mst studies time", "mst studies ratio", "mst studies blocks", "mst studies variants",
            "mst studies table3", "mst sam", "mst load-pretrained", "sdm compare", "sdm analyze", "evaluate",
            "energy", "convert"} <= names


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in built_from_dataclasses()])
def test_every_field_has_a_flag_with_the_dataclass_default(path):
    parser = dict((" ".join(p), q) for p, q in built_from_dataclasses())[path]
    flags = parser.get_default("option_flags")
    excluded = parser.get_default("option_excluded") or set()
    actions = {a.dest: a for a in parser._actions}
    argv = [word for a in parser._actions if a.required for word in (a.option_strings[0], "a.pt")]
    args = build_parser().parse_args([*path.split(), *argv])       # only the required flags given
    for cls in parser.get_default("option_classes"):
        required = required_values(cls)
        assert config_from_args(args, cls) == cls(**required), cls.__name__
        for f in dataclasses.fields(cls):
            assert f.name in flags or f.name in excluded, f"{path}: {cls.__name__}.{f.name} has no flag"
            if f.name in flags and f.name not in required and not isinstance(actions[f.name], argparse._AppendAction):
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                assert actions[f.name].default == default, f"{path}: {flags[f.name]}"


@pytest.mark.parametrize("command, expected", [
    ("evaluate", {"time_steps": 32, "alpha": 1.0, "batch_size": 200, "mask_where": "*", "out": "runs/evaluate"}),
    ("energy", {"time_steps": 32, "alpha": 1.0, "batch_size": 200, "mask_where": "*", "out": "runs/energy"}),
    ("convert", {"v_init": 0.5, "mask_where": "*", "out": "runs/convert"}),
])
def test_checkpoint_commands_keep_their_defaults_and_flags(command, expected):
    args = build_parser().parse_args([command, "--checkpoint", "a.pt"])
    assert {name: getattr(args, name) for name in expected} == expected
    assert "limit" not in vars(args)                                   # --max-batches shortens those runs
    if command != "convert":
        short = build_parser().parse_args([command, "--checkpoint", "a.pt", "-T", "4", "--no-progress",
                                           "--max-batches", "1", "--opt", "levels=2", "--mask-ratio", "0.5"])
        assert (short.time_steps, short.progress, short.max_batches) == (4, False, 1)
        assert (short.options, short.mask_ratio) == (["levels=2"], 0.5)


def test_kinds_of_fields_become_the_right_flags():
    @dataclasses.dataclass
    class Config:
        path: str = dataclasses.field(metadata={"flags": ("--checkpoint", "-c")})
        steps: int = dataclasses.field(default=4, metadata={"min": 1})
        ratios: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.5])
        pair: tuple[int, int] | None = None
        options: dict[str, typing.Any] = dataclasses.field(default_factory=lambda: {"a": 1},
                                                            metadata={"flags": ("--opt",)})
        variants: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)
        hold: bool = False
        progress: bool = True

    parser = argparse.ArgumentParser()
    add_options(parser, Config, exclude=())
    args = parser.parse_args(["-c", "x", "--steps", "2", "--ratios", "0.25", "--pair", "1", "2", "--opt", "b=(1, 2)",
                              "--variants", "p=rate,q=0.5", "--variants", "s=none", "--hold", "--no-progress"])
    assert config_from_args(args, Config) == Config(
        path="x", steps=2, ratios=[0.25], pair=(1, 2), options={"b": (1, 2)},
        variants=[{"p": "rate", "q": 0.5}, {"s": "none"}], hold=True, progress=False)
    assert config_from_args(parser.parse_args(["-c", "x"]), Config) == Config(path="x")
    with pytest.raises(SystemExit):
        parser.parse_args(["-c", "x", "--steps", "0"])


def test_library_errors_name_the_parameter_and_the_cli_the_flag(tmp_path, capsys):
    with pytest.raises(OptionError, match=r"^epochs must be >= 1, got 0$"):
        TrainConfig(epochs=0).validate()
    with pytest.raises(OptionError, match=r"^warmup_epochs must be in \[0, epochs\)"):
        TrainConfig(epochs=2, warmup_epochs=3).validate()
    assert main(["train", "--epochs", "2", "--warmup-epochs", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikemask train: error: --warmup-epochs must be in [0, epochs), got 3")
    assert err.count("\n") == 1
    assert OptionError(("mst", "vgg16"), "must be given").named({"mst": "--mst"}) == "--mst or vgg16 must be given"
