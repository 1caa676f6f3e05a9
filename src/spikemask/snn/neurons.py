"""Spiking neurons: a stateless functional core and thin stateful modules.

Tensors are time-major, ``[T, B, ...]``; neurons are the layers that scan over T. A neuron keeps its
membrane potential ``v`` between calls until :meth:`~spikemask.snn.base.StatefulModule.reset`, so a
run can be fed in one call of ``[T, B, ...]`` (multi-step), in chunks of steps, or one step
``[B, ...]`` at a time (``step_mode='s'``); all give identical spikes. Inside a converted network the
neuron receives the folded ``[T·B, ...]`` batch of the layers around it and unfolds it itself
(:func:`~spikemask.snn.functional.time_major_view`).

Every neuron keeps its threshold θ as a buffer (saved with the weights): per layer for IF neurons
(θ = λ of the QCFS activation they replace), a constant for LIF neurons. A
:class:`SignedIFNeuron` keeps the QCFS clip λ under the same name, so a converted checkpoint holds the
ANN's values whichever neuron it was converted to.

Neuron kinds for conversion (:func:`parse_neuron`): ``'if'`` (MST), ``'signed'`` (one ±spike per
step, ST-BIF⁺ of SpikeZIP-TF) and ``'burst:k'`` (up to k spikes of one sign per step, counted as k).
"""
from __future__ import annotations

import torch

from spikemask.errors import SpikemaskError
from spikemask.snn.base import StatefulModule
from spikemask.snn.coding import last_active_step
from spikemask.snn.functional import time_major_view
from spikemask.snn.surrogate import DEFAULT_ALPHA, spike_fn


# ----------------------------------------------------------------------------- functional core
def if_scan(x: torch.Tensor, v: torch.Tensor, threshold: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate-and-fire with reset by subtraction.

    Args:
        x: input current ``[T, B, ...]``.
        v: membrane potential before the first step, broadcastable to ``[B, ...]``.
        threshold: firing threshold θ (scalar or broadcastable tensor).
    Returns:
        ``(spikes, v)``: spikes ``[T, B, ...]`` in {0, 1} and the final membrane potential.
    """
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        v = v + x[t]
        s = (v >= threshold).to(x.dtype)
        v = v - s * threshold
        out[t] = s
    return out, v


def lif_scan(x: torch.Tensor, v: torch.Tensor, tau: float, threshold: torch.Tensor | float, v_reset: float | None,
             surrogate: str, alpha: float, detach_reset: bool, decay_input: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky integrate-and-fire with a surrogate gradient.

    Charge: ``v += (x - (v - v_reset)) / tau`` if ``decay_input`` else ``v = v - (v - v_reset)/tau + x``
    (``v_reset`` is 0 for soft reset). Fire: ``s = H(v - threshold)``. Reset: ``v = v_reset`` where
    ``s = 1`` (hard, ``v_reset`` given) or ``v -= threshold·s`` (soft, ``v_reset=None``).

    Args:
        x: input ``[T, B, ...]``; v: initial membrane potential, broadcastable to ``[B, ...]``.
    Returns:
        ``(spikes [T, B, ...], final v)``.
    """
    fire = spike_fn(surrogate)
    rest = 0.0 if v_reset is None else v_reset
    spikes = []
    for t in range(x.shape[0]):
        if decay_input:
            v = v + (x[t] - (v - rest)) / tau
        else:
            v = v - (v - rest) / tau + x[t]
        s = fire(v - threshold, alpha)
        s_r = s.detach() if detach_reset else s
        v = v * (1 - s_r) + rest * s_r if v_reset is not None else v - s_r * threshold
        spikes.append(s)
    return torch.stack(spikes), v


def signed_if_scan(x: torch.Tensor, v: torch.Tensor, count: torch.Tensor, step: torch.Tensor | float,
                   levels: int, max_spikes: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Signed, bounded integrate-and-fire (ST-BIF⁺) with reset by subtraction.

    At each step ``v += x``; then up to ``max_spikes`` spikes of one sign: ``+1`` each while
    ``v ≥ step`` and ``count < levels``, ``−1`` each while ``v < 0`` and ``count > 0``; every spike
    moves ``v`` by ``∓step`` and ``count`` by ``±1``. With ``v`` starting at ``step/2`` and a total
    input Z, the neuron settles at ``count = clip(floor(Z/step + 1/2), 0, levels)``: the QCFS level.

    Args:
        x: input current ``[T, B, ...]``; v, count: membrane potential and spike count before the
            first step, broadcastable to ``[B, ...]``.
        step: the value of one spike (λ/L for a converted QCFS site); levels: the most spikes held (L).
        max_spikes: spikes per step (1: ``'signed'``; k: ``'burst:k'``).
    Returns:
        ``(spikes, v, count)``: signed spike counts ``[T, B, ...]`` in ``{−k, ..., k}``, the final
        membrane potential and count. Once the input has stopped and a step fires nothing, every later
        step is silent too (its state no longer changes), so the scan stops there.
    """
    out = torch.empty_like(x)
    last_input = last_active_step(x)                                   # no input after this step
    for t in range(x.shape[0]):
        if t <= last_input:
            v = v + x[t]
        if max_spikes == 1:                                            # one spike: two comparisons suffice
            n = ((v >= step) & (count < levels)).to(x.dtype) - ((v < 0) & (count > 0)).to(x.dtype)
        else:
            up = torch.clamp(torch.floor(v / step), min=0)
            down = torch.clamp(torch.ceil(-v / step), min=0)            # spikes that bring v back to ≥ 0
            n = torch.minimum(up, levels - count) - torch.minimum(down, count)
            n = torch.clamp(n, -max_spikes, max_spikes)
        if t >= last_input and not bool(n.any()):
            out[t:] = 0
            break                                                      # settled, no more input: silent from here
        v = v - n * step
        count = count + n
        out[t] = n
    return out, v, count


# ----------------------------------------------------------------------------- modules
class BaseNeuron(StatefulModule):
    """A neuron: threshold θ (a buffer), membrane potential ``v`` (state) and a scan over T.

    Input ``[T, B, ...]`` (multi-step), the folded ``[T·B, ...]`` batch inside
    :func:`~spikemask.snn.functional.folded_time`, or ``[B, ...]`` (``step_mode='s'``); output alike.
    """

    state_names: tuple[str, ...] = ("v",)

    def __init__(self, threshold: float | torch.Tensor, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        theta = torch.as_tensor(threshold).detach().clone()
        self.register_buffer("threshold", theta if theta.is_floating_point() else theta.float())
        for name in self.state_names:
            self.register_state(name)

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The state (``v``, then any other of :attr:`state_names`) ``[B, ...]`` after a reset,
        shaped like one step of input (per neuron type)."""
        raise NotImplementedError

    def scan(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``[T, B, ...]`` input and the state before it → ``(outputs [T, B, ...], final state)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, restore = time_major_view(x, self.step_mode)
        state = tuple(getattr(self, name) for name in self.state_names)
        if state[0] is None or state[0].shape != x.shape[1:]:
            state = self.initial_state(x[0])
        out, state = self.scan(x, *state)
        for name, value in zip(self.state_names, state):
            setattr(self, name, value)
        return restore(out)


class IFNeuron(BaseNeuron):
    """Integrate-and-fire neuron for converted networks (MST §3.1, eqs. 2–3).

    Reset by subtraction; membrane starts at ``v_init · θ`` (0.5 by default, FAITHFULNESS M9).
    Emits ``θ · s`` so that it stands in for the QCFS activation it replaces (eq. 5 rates).

    Args:
        threshold: θ; for a converted QCFS site, θ = λ.
        v_init: initial membrane potential as a fraction of θ.
    """

    def __init__(self, threshold: float | torch.Tensor = 1.0, v_init: float = 0.5, step_mode: str = "m") -> None:
        super().__init__(threshold, step_mode)
        self.v_init = v_init

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.full_like(like, 1.0) * (self.v_init * self.threshold.to(like.dtype)),)

    def scan(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        theta = self.threshold.to(x.dtype)
        spikes, v = if_scan(x, v, theta)
        return spikes * theta, (v,)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold.item():.4g}, v_init={self.v_init}, step_mode={self.step_mode!r}"


class LIFNeuron(BaseNeuron):
    """Leaky integrate-and-fire neuron trained with surrogate gradients (Spikformer, FAITHFULNESS S4).

    Args:
        tau: membrane time constant (decay 1/τ per step).
        threshold: firing threshold.
        v_reset: reset potential for hard reset; ``None`` for soft reset (subtract threshold).
        surrogate: ``'sigmoid'`` or ``'atan'``; alpha: its sharpness (default per surrogate).
        detach_reset: stop gradients through the reset path (Spikformer does).
    """

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, v_reset: float | None = 0.0,
                 surrogate: str = "sigmoid", alpha: float | None = None, detach_reset: bool = True,
                 decay_input: bool = True, step_mode: str = "m") -> None:
        super().__init__(threshold, step_mode)
        spike_fn(surrogate)  # validates the name
        if tau <= 1.0:
            raise SpikemaskError(f"LIF tau must be > 1 (got {tau})")
        self.tau, self.v_reset = tau, v_reset
        self.surrogate = surrogate
        self.alpha = DEFAULT_ALPHA[surrogate] if alpha is None else alpha
        self.detach_reset, self.decay_input = detach_reset, decay_input

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.full_like(like, 0.0 if self.v_reset is None else self.v_reset),)

    def scan(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        spikes, v = lif_scan(x, v, self.tau, self.threshold.to(x.dtype), self.v_reset, self.surrogate, self.alpha,
                             self.detach_reset, self.decay_input)
        return spikes, (v,)

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard(v_reset={self.v_reset})"
        return (f"tau={self.tau}, threshold={self.threshold.item():.4g}, reset={reset}, "
                f"surrogate={self.surrogate}(alpha={self.alpha}), step_mode={self.step_mode!r}")


class SignedIFNeuron(BaseNeuron):
    """Signed, bounded IF neuron for exact conversion (ST-BIF⁺, SpikeZIP-TF; :func:`signed_if_scan`).

    Stands in for ``QCFS(levels=L, λ)`` under accumulate coding (:mod:`spikemask.snn.coding`): the
    input is delivered as increments, and the *sum* of the outputs up to step t follows
    ``QCFS(Σ input)``. A spike is worth ``step = λ/L``; the neuron holds at most L spikes, emits ``+step``
    at ``v ≥ step`` and ``−step`` (retracting an earlier spike) at ``v < 0``, so once its input stops
    changing its output sum equals the QCFS output exactly (``count`` = the QCFS level).

    Args:
        threshold: λ, the QCFS clip (saved under the IF neuron's name ``threshold``).
        levels: L. max_spikes: spikes per step (1: ``'signed'``; k: ``'burst:k'``, counted as k spikes).
        v_init: initial membrane potential as a fraction of ``step`` (0.5 rounds like QCFS).
    Shape: as :class:`BaseNeuron`; outputs in ``{0, ±step}`` (``max_spikes`` 1) or ``{0, ±step, ..., ±k·step}``.
    """

    state_names = ("v", "count")

    def __init__(self, threshold: float | torch.Tensor = 1.0, levels: int = 16, max_spikes: int = 1,
                 v_init: float = 0.5, step_mode: str = "m") -> None:
        super().__init__(threshold, step_mode)
        if not (isinstance(levels, int) and levels >= 1 and isinstance(max_spikes, int) and max_spikes >= 1):
            raise SpikemaskError(f"a signed IF neuron needs levels >= 1 and max_spikes >= 1 "
                                 f"(got {levels}, {max_spikes})")
        self.levels, self.max_spikes, self.v_init = levels, max_spikes, v_init

    @property
    def step(self) -> torch.Tensor:
        """The value of one spike, λ/L."""
        return self.threshold / self.levels

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.full_like(like, 1.0) * (self.v_init * self.step.to(like.dtype)), torch.zeros_like(like)

    def scan(self, x: torch.Tensor, v: torch.Tensor, count: torch.Tensor
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        step = self.step.to(x.dtype)
        spikes, v, count = signed_if_scan(x, v, count, step, self.levels, self.max_spikes)
        return spikes.mul_(step), (v, count)

    def extra_repr(self) -> str:
        return (f"threshold={self.threshold.item():.4g}, levels={self.levels}, max_spikes={self.max_spikes}, "
                f"v_init={self.v_init}, step_mode={self.step_mode!r}")


NEURON_HELP = "'if' (MST: IF, rate coding), 'signed' (ST-BIF⁺: ±1 spike per step) or 'burst:k' (up to k per step)"


def parse_neuron(name: str) -> int:
    """Spikes per step of a conversion neuron name: ``'if'`` → 0 (the IF neuron), ``'signed'`` → 1,
    ``'burst:k'`` → k (k ≥ 1). Raises :class:`SpikemaskError` for any other name."""
    if name == "if":
        return 0
    if name == "signed":
        return 1
    head, _, k = str(name).partition(":")
    if head == "burst" and k.isdigit() and int(k) >= 1:
        return int(k)
    raise SpikemaskError(f"neuron must be {NEURON_HELP}, got {name!r}")
