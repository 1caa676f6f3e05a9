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
from spikemask.snn import kernels
from spikemask.snn.base import StatefulModule
from spikemask.snn.functional import time_major_view
from spikemask.snn.surrogate import DEFAULT_ALPHA, spike_fn


# ----------------------------------------------------------------------------- modules
class BaseNeuron(StatefulModule):
    """A neuron: threshold θ (a buffer), membrane potential ``v`` (state) and a scan over T.

    Input ``[T, B, ...]`` (multi-step), the folded ``[T·B, ...]`` batch inside
    :func:`~spikemask.snn.functional.folded_time`, or ``[B, ...]`` (``step_mode='s'``); output alike.
    The scan runs on ``backend`` (:data:`spikemask.snn.kernels.BACKENDS`; ``'auto'`` picks the fused
    kernel for the input's device), every backend giving the reference loop's spikes.
    """

    state_names: tuple[str, ...] = ("v",)

    def __init__(self, threshold: float | torch.Tensor, step_mode: str = "m", backend: str = "auto") -> None:
        super().__init__(step_mode)
        self.backend = kernels.check_backend(backend)
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

    def scalar_threshold(self, value: torch.Tensor, dtype: torch.dtype) -> tuple[float | torch.Tensor, str]:
        """``value`` (θ or a value derived from it) in ``dtype`` as a Python number for the kernels, and
        the backend to run; a non-scalar value stays a tensor and runs on the reference loop."""
        value = value.to(dtype)
        return (value.item(), self.backend) if value.numel() == 1 else (value, "reference")

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

    def __init__(self, threshold: float | torch.Tensor = 1.0, v_init: float = 0.5, step_mode: str = "m",
                 backend: str = "auto") -> None:
        super().__init__(threshold, step_mode, backend)
        self.v_init = v_init

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor]:
        return ((self.v_init * self.threshold.to(like.dtype)).expand_as(like),)    # a view: the scan copies it

    def scan(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        theta, backend = self.scalar_threshold(self.threshold, x.dtype)
        out, v = kernels.if_scan(x, v, theta, backend)
        return out, (v,)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold.item():.4g}, v_init={self.v_init}, reset=soft, step_mode={self.step_mode!r}"


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
                 decay_input: bool = True, step_mode: str = "m", backend: str = "auto") -> None:
        super().__init__(threshold, step_mode, backend)
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
        theta, backend = self.scalar_threshold(self.threshold, x.dtype)
        spikes, v = kernels.lif_scan(x, v, self.tau, theta, self.v_reset, self.surrogate, self.alpha,
                                     self.detach_reset, self.decay_input, backend)
        return spikes, (v,)

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard(v_reset={self.v_reset})"
        return (f"tau={self.tau}, threshold={self.threshold.item():.4g}, reset={reset}, "
                f"surrogate={self.surrogate}(alpha={self.alpha}), step_mode={self.step_mode!r}")


class SignedIFNeuron(BaseNeuron):
    """Signed, bounded IF neuron for exact conversion (ST-BIF⁺ of SpikeZIP-TF).

    The scan is :func:`spikemask.snn.kernels.signed_if_scan`.

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
                 v_init: float = 0.5, step_mode: str = "m", backend: str = "auto") -> None:
        super().__init__(threshold, step_mode, backend)
        if not (isinstance(levels, int) and levels >= 1 and isinstance(max_spikes, int) and max_spikes >= 1):
            raise SpikemaskError(f"a signed IF neuron needs levels >= 1 and max_spikes >= 1 "
                                 f"(got {levels}, {max_spikes})")
        self.levels, self.max_spikes, self.v_init = levels, max_spikes, v_init

    @property
    def step(self) -> torch.Tensor:
        """The value of one spike, λ/L."""
        return self.threshold / self.levels

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zero = torch.zeros((), dtype=like.dtype, device=like.device)            # views: the scan copies them
        return (self.v_init * self.step.to(like.dtype)).expand_as(like), zero.expand_as(like)

    def scan(self, x: torch.Tensor, v: torch.Tensor, count: torch.Tensor
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        step, backend = self.scalar_threshold(self.step, x.dtype)
        out, v, count = kernels.signed_if_scan(x, v, count, step, self.levels, self.max_spikes, backend)
        return out, (v, count)

    def extra_repr(self) -> str:
        return (f"threshold={self.threshold.item():.4g}, levels={self.levels}, max_spikes={self.max_spikes}, "
                f"v_init={self.v_init}, reset=soft, step_mode={self.step_mode!r}")


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
