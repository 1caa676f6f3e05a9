"""Spiking neurons: a stateless functional core and thin stateful modules.

Tensors are time-major, ``[T, B, ...]``; neurons are the layers that scan over T. A neuron keeps its
membrane potential ``v`` between calls until :meth:`~spikemask.snn.base.StatefulModule.reset`, so a
run can be fed in one call of ``[T, B, ...]`` (multi-step), in chunks of steps, or one step
``[B, ...]`` at a time (``step_mode='s'``); all give identical spikes. Inside a converted network the
neuron receives the folded ``[T·B, ...]`` batch of the layers around it and unfolds it itself
(:func:`~spikemask.snn.functional.time_major_view`).

Both neurons keep their threshold θ as a buffer (saved with the weights): per layer for IF neurons
(θ = λ of the QCFS activation they replace), a constant for LIF neurons.
"""
from __future__ import annotations

import torch

from spikemask.errors import SpikemaskError
from spikemask.snn.base import StatefulModule
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


# ----------------------------------------------------------------------------- modules
class BaseNeuron(StatefulModule):
    """A neuron: threshold θ (a buffer), membrane potential ``v`` (state) and a scan over T.

    Input ``[T, B, ...]`` (multi-step), the folded ``[T·B, ...]`` batch inside
    :func:`~spikemask.snn.functional.folded_time`, or ``[B, ...]`` (``step_mode='s'``); output alike.
    """

    def __init__(self, threshold: float | torch.Tensor, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        theta = torch.as_tensor(threshold).detach().clone()
        self.register_buffer("threshold", theta if theta.is_floating_point() else theta.float())
        self.register_state("v")

    def initial_v(self, like: torch.Tensor) -> torch.Tensor:
        """The membrane potential ``[B, ...]`` after a reset, shaped like one step of input (per neuron type)."""
        raise NotImplementedError

    def scan(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[T, B, ...]`` input and the potential before it → ``(outputs [T, B, ...], final potential)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, restore = time_major_view(x, self.step_mode)
        if self.v is None or self.v.shape != x.shape[1:]:
            self.v = self.initial_v(x[0])
        out, self.v = self.scan(x, self.v)
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

    def initial_v(self, like: torch.Tensor) -> torch.Tensor:
        return torch.full_like(like, 1.0) * (self.v_init * self.threshold.to(like.dtype))

    def scan(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        theta = self.threshold.to(x.dtype)
        spikes, v = if_scan(x, v, theta)
        return spikes * theta, v

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

    def initial_v(self, like: torch.Tensor) -> torch.Tensor:
        return torch.full_like(like, 0.0 if self.v_reset is None else self.v_reset)

    def scan(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return lif_scan(x, v, self.tau, self.threshold.to(x.dtype), self.v_reset, self.surrogate, self.alpha,
                        self.detach_reset, self.decay_input)

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard(v_reset={self.v_reset})"
        return (f"tau={self.tau}, threshold={self.threshold.item():.4g}, reset={reset}, "
                f"surrogate={self.surrogate}(alpha={self.alpha}), step_mode={self.step_mode!r}")
