"""The stateful-module base: state that persists across forward calls until :meth:`reset`.

A spiking network is a function of the whole input sequence, not of one batch: a neuron's membrane
potential, a held mask's draw or a spike product's running sums carry over from one call to the
next, so a run may be fed all T steps at once, in chunks of steps, or one step at a time. Every
module with such state derives from :class:`StatefulModule` and declares it with
:meth:`~StatefulModule.register_state`; :func:`spikemask.snn.functional.reset_net` resets them all
before an independent input.

``step_mode`` says what one call receives: ``'m'`` (multi-step) a time-major ``[T, B, ...]`` tensor
(or the folded ``[T·B, ...]`` batch inside :func:`spikemask.snn.functional.folded_time`), ``'s'``
(single-step) one step ``[B, ...]``.
"""
from __future__ import annotations

import copy
from typing import Any

from torch import nn

from spikemask.errors import SpikemaskError

STEP_MODES = ("m", "s")


def check_step_mode(step_mode: str) -> str:
    """Validate a step mode: ``'m'`` (multi-step) or ``'s'`` (single-step)."""
    if step_mode not in STEP_MODES:
        raise SpikemaskError(f"step_mode must be 'm' (multi-step) or 's' (single-step), got {step_mode!r}")
    return step_mode


class StatefulModule(nn.Module):
    """A module whose registered state survives forward calls until :meth:`reset`.

    Args:
        step_mode: ``'m'`` or ``'s'`` (module docstring).
    """

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__()
        self.step_mode = check_step_mode(step_mode)
        self._state_defaults: dict[str, Any] = {}

    def register_state(self, name: str, default: Any = None) -> None:
        """Declare the state attribute ``name``; :meth:`reset` sets it back to (a copy of) ``default``."""
        self._state_defaults[name] = default
        setattr(self, name, copy.deepcopy(default))

    def get_state(self) -> dict[str, Any]:
        """The registered states by name (the objects themselves: a forward replaces them, never
        mutates them in place, so this is a snapshot)."""
        return {name: getattr(self, name) for name in self._state_defaults}

    def set_state(self, state: dict[str, Any]) -> None:
        """Put back states taken with :meth:`get_state`."""
        for name, value in state.items():
            setattr(self, name, value)

    def reset(self) -> None:
        """Forget the state (call between independent inputs)."""
        for name, default in self._state_defaults.items():
            setattr(self, name, copy.deepcopy(default))
