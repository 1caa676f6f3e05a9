"""User-facing errors.

Anything a user can get wrong (unknown model name, missing file, impossible option value, bad
tensor shape, NaN input) raises :class:`SpikemaskError` with one sentence that says what to do.
The CLI prints that sentence as a single line and exits with status 2; library callers can catch it.

A bad value of a named parameter raises :class:`OptionError`, whose message starts with the
parameter's name (``epochs must be >= 1, got 0``); the CLI shows the flag instead (``--epochs ...``).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any


class SpikemaskError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""


class OptionError(SpikemaskError):
    """A bad value of one parameter (or of a group of alternatives), named by its parameter name.

    ``OptionError("epochs", "must be >= 1, got 0")`` reads ``epochs must be >= 1, got 0``;
    ``OptionError(("mst", "vgg16"), "must be given")`` reads ``mst or vgg16 must be given``.
    :meth:`named` gives the same message with other names, e.g. command-line flags.
    """

    def __init__(self, params: str | tuple[str, ...], problem: str) -> None:
        self.params = (params,) if isinstance(params, str) else tuple(params)
        self.problem = problem
        super().__init__(self.named({}))

    def named(self, names: Mapping[str, str]) -> str:
        """The message with each parameter shown as ``names[param]`` (the parameter name if absent)."""
        shown = [names.get(p, p) for p in self.params]
        subject = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
        return f"{subject} {self.problem}"


def check(condition: bool, message: str) -> None:
    """Raise :class:`SpikemaskError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SpikemaskError(message)


def check_option(condition: bool, params: str | tuple[str, ...], problem: str) -> None:
    """Raise :class:`OptionError` ``(params, problem)`` unless ``condition`` holds."""
    if not condition:
        raise OptionError(params, problem)


def check_limits(config: Any) -> None:
    """Check each field of dataclass ``config`` against the limits in its ``metadata``.

    ``min`` (smallest number), ``choices`` (allowed values) and ``check`` (a function that raises
    :class:`SpikemaskError` for a bad value) apply to the value, or to each value of a list or
    tuple; None is always accepted. These are the limits the CLI applies as it parses flags.

    Raises:
        OptionError: naming the field, e.g. ``time_steps must be >= 1, got 0``.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        minimum, choices, validate = f.metadata.get("min"), f.metadata.get("choices"), f.metadata.get("check")
        for v in [] if value is None else value if isinstance(value, (list, tuple)) else [value]:
            check_option(minimum is None or v >= minimum, f.name, f"must be >= {minimum}, got {v}")
            check_option(choices is None or v in choices, f.name,
                         f"must be one of {', '.join(map(str, choices or ()))}, got {v!r}")
            if validate is not None:
                try:
                    validate(v)
                except SpikemaskError as e:
                    raise OptionError(f.name, f"is invalid: {e}") from None


def number_in(low: float | None = None, high: float | None = None, *, low_open: bool = False,
              high_open: bool = False) -> Callable[[Any], None]:
    """A field check (``metadata["check"]``): the value must be a finite number between ``low`` and ``high``.

    ``low_open`` / ``high_open`` exclude the bound itself. NaN, ±inf, booleans and non-numbers fail.
    """
    left, right = ("(" if low_open else "["), (")" if high_open else "]")
    span = f"in {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"

    def validate(value: Any) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (low is None or (value > low if low_open else value >= low))
        ok = ok and (high is None or (value < high if high_open else value <= high))
        if not ok:
            raise SpikemaskError(f"must be a finite number {span}, got {value!r}")
    return validate


check_seed = number_in(0, 2**32 - 1)
"""A field check for random seeds: numpy accepts integers in [0, 2**32 - 1] only."""
