"""Command-line flags generated from configuration dataclasses, so every option's default lives once.

:func:`add_options` adds one flag per field of a dataclass; :func:`config_from_args` builds the
dataclass back from the parsed arguments. A field becomes a flag as follows:

- name: ``--field-name`` (``_`` → ``-``), or the names in ``metadata["flags"]`` (e.g.
  ``("--time-steps", "-T")``; the first is the one error messages show);
- default: the dataclass default; a field without a default becomes a required flag;
- kind, from the annotation: ``int``, ``float``, ``str`` (``X | None``: the same, default None);
  ``list[X]``: one or more values; ``tuple[X, X]``: exactly that many values; ``bool``: a switch,
  ``--name`` when it defaults to False and ``--no-name`` when it defaults to True;
  ``dict[str, Any]``: a repeatable ``KEY=VALUE`` flag (values read as Python literals; the
  dataclass default when the flag is not given); ``list[dict[str, Any]]``: a repeatable
  ``KEY=VALUE[,KEY=VALUE]`` flag, one dict per use;
- other ``metadata`` keys: ``help`` (phrased for the field; a ``--no-`` switch shows "do not …"),
  ``choices``, ``metavar``, ``nargs``, ``min`` (smallest accepted number) and ``check`` (a
  function that raises :class:`~spikemask.errors.SpikemaskError` for a bad value), both applied
  to each value as it is parsed.

The parser records ``option_flags`` (field name → flag, for :class:`~spikemask.errors.OptionError`
messages), ``option_classes`` (the dataclasses it was built from) and ``option_excluded`` (the
fields left out) as argument defaults.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import shlex
import types
import typing
from typing import Any, Callable, Iterable

from spikemask.errors import SpikemaskError


# ----------------------------------------------------------------------------- value parsing
def parse_options(pairs: Iterable[str] | None) -> dict[str, Any]:
    """``["width=0.25", "levels=4"]`` → ``{"width": 0.25, "levels": 4}`` (values parsed as Python literals)."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpikemaskError(f"model option {pair!r} is not KEY=VALUE (e.g. --opt width=0.25)")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return options


def value_parser(base: type, minimum: float | None = None,
                 check: Callable[[Any], Any] | None = None) -> Callable[[str], Any]:
    """An argparse ``type``: text → ``base`` value, at least ``minimum``, accepted by ``check``."""
    if minimum is None and check is None:
        return base
    expected = f"{'an integer' if base is int else 'a number'} >= {minimum}"

    def parse(text: str) -> Any:
        try:
            value = base(text)
        except ValueError:
            what = expected if minimum is not None else f"a {base.__name__}"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        if check is not None:
            try:
                check(value)
            except SpikemaskError as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        return value

    parse.__name__ = base.__name__
    return parse


# ----------------------------------------------------------------------------- fields → flags
@dataclasses.dataclass
class _Kind:
    """How one field is given on the command line."""

    value: type                 # the type of one value (int, float, str, bool, dict)
    many: bool = False          # list[...]: one or more values
    count: int | None = None    # tuple[X, ...]: exactly this many values
    repeated: bool = False      # dict / list[dict]: a repeatable flag


def _kind(annotation: Any) -> _Kind:
    """The :class:`_Kind` of a resolved annotation (``X | None`` is treated as ``X``)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (annotation,) = [a for a in args if a is not type(None)]
        return _kind(annotation)
    if annotation is dict or origin is dict:
        return _Kind(dict, repeated=True)
    if origin is list:
        inner = _kind(args[0])
        return _Kind(dict, many=True, repeated=True) if inner.value is dict else _Kind(inner.value, many=True)
    if origin is tuple:
        return _Kind(args[0], count=len(args))
    return _Kind(annotation)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _worth_showing(default: Any) -> bool:
    """Whether help should state a default (not for required flags, None, switches or empty values)."""
    return not (default is dataclasses.MISSING or default is None or isinstance(default, bool)
                or (isinstance(default, (list, tuple, dict)) and not default))


def _shown(default: Any) -> str:
    """A default as the user would type it: ``0.0 0.5``, ``width=0.25 levels=4``."""
    if isinstance(default, dict):
        return " ".join(f"{k}={v}" for k, v in default.items())
    if isinstance(default, (list, tuple)):
        return " ".join(map(str, default))
    return str(default)


def flag_names(f: dataclasses.Field) -> tuple[str, ...]:
    """The flags of field ``f``: ``metadata["flags"]``, else ``--field-name``; for a True switch ``--no-...``."""
    if "flags" in f.metadata:
        return tuple(f.metadata["flags"])
    prefix = "--no-" if f.default is True else "--"
    return (prefix + f.name.replace("_", "-"),)


def add_options(parser: argparse.ArgumentParser, cls: type, exclude: Iterable[str] = ()) -> None:
    """Add one flag per field of dataclass ``cls`` to ``parser``, except the fields in ``exclude``."""
    hints = typing.get_type_hints(cls)
    flags = dict(parser.get_default("option_flags") or {})
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        kind, meta, default = _kind(hints[f.name]), f.metadata, _default(f)
        help_text = meta.get("help", "")
        spec: dict[str, Any] = {"dest": f.name}
        if kind.value is bool:
            spec["action"] = "store_false" if default else "store_true"
            help_text = f"do not {help_text}" if default else help_text
        elif kind.repeated:
            spec.update(action="append", default=None,
                        metavar="KEY=VALUE[,KEY=VALUE]" if kind.many else "KEY=VALUE")
            help_text += ", repeatable"
        else:
            spec["type"] = value_parser(kind.value, meta.get("min"), meta.get("check"))
            spec["nargs"] = kind.count or ("+" if kind.many else None)
        if default is dataclasses.MISSING:
            spec["required"] = True
        elif not kind.repeated:
            spec["default"] = default
        if _worth_showing(default):
            help_text += f" (default {_shown(default)})"
        for key in ("choices", "metavar", "nargs"):
            if key in meta:
                spec[key] = meta[key]
        names = flag_names(f)
        parser.add_argument(*names, help=help_text.replace("%", "%%"), **spec)
        flags[f.name] = next(n for n in names if n.startswith("--"))
    parser.set_defaults(option_flags=flags,
                        option_classes=(*(parser.get_default("option_classes") or ()), cls),
                        option_excluded={*(parser.get_default("option_excluded") or ()), *exclude})


def config_from_args(args: argparse.Namespace, cls: type, **values: Any) -> Any:
    """Build dataclass ``cls`` from the flags :func:`add_options` added; ``values`` give the other fields."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in values or not hasattr(args, f.name):
            continue
        kind, given = _kind(hints[f.name]), getattr(args, f.name)
        if kind.repeated and given is None:
            given = _default(f)
        elif kind.repeated:
            given = [parse_options(v.split(",")) for v in given] if kind.many else parse_options(given)
        elif kind.count and given is not None:
            given = tuple(given)
        values[f.name] = given
    return cls(**values)


# ----------------------------------------------------------------------------- values → a command line
def command_line(prog: str, cls: type, values: dict[str, Any]) -> str:
    """The command line ``prog --flag value ...`` that gives the fields of dataclass ``cls`` the ``values``
    (e.g. a checkpoint's saved ``TrainConfig``); fields at their default are left out."""
    hints, parts = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, default = values[f.name], _default(f)
        same = list(value) == list(default) if isinstance(value, (list, tuple)) and isinstance(
            default, (list, tuple)) else value == default
        if same or (value is None and default is dataclasses.MISSING):
            continue
        kind, flag = _kind(hints[f.name]), next(n for n in flag_names(f) if n.startswith("--"))
        if kind.value is bool:
            parts.append(flag)
        elif kind.repeated and kind.many:
            for d in value:
                parts += [flag, ",".join(f"{k}={v}" for k, v in d.items())]
        elif kind.repeated:
            for k, v in value.items():
                parts += [flag, f"{k}={v}"]
        elif kind.many or kind.count:
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join([prog, *(shlex.quote(p) for p in parts)])
