"""Fast neuron scans: one autograd function per neuron over interchangeable backends.

The functional core of :mod:`spikemask.snn.neurons`: its modules call the functions here, which give
the same spikes (bit for bit) and the same gradients as the reference loops of
:mod:`~spikemask.snn.kernels.reference` (the oracle of the tests):

- :func:`lif_scan` (trained networks): the forward saves only the pre-spike membrane ``h``
  ``[T, B, ...]`` (the spikes are ``h ≥ θ``); the backward is its own reverse scan of the
  closed-form gradient, not autograd's record of every step.
- :func:`if_scan` and :func:`signed_if_scan` (converted networks): forward kernels; their outputs
  carry no gradient (as in the reference), the final membrane passes its gradient to every input.

Backends (:data:`BACKENDS`; :func:`resolve_backend` picks one per call):

- ``'cpp'``: fused CPU loops (:mod:`~spikemask.snn.kernels.cpu`), built once with the system compiler.
- ``'triton'``: GPU kernels (:mod:`~spikemask.snn.kernels.triton_kernels`), fp32 / fp16 / bf16.
- ``'torch'``: in-place eager loops (:mod:`~spikemask.snn.kernels.torch_loops`), any device.
- ``'reference'``: the reference loops (:mod:`~spikemask.snn.kernels.reference`; autograd records each step).
- ``'auto'`` (default, or the ``SPIKEMASK_BACKEND`` environment variable): ``triton`` on a GPU,
  ``cpp`` on the CPU, ``torch`` where those are missing; ``reference`` for non-scalar thresholds.
"""
from __future__ import annotations

import os
from types import ModuleType

import torch

from spikemask.errors import SpikemaskError
from spikemask.snn.kernels import cpu, reference, torch_loops, triton_kernels

BACKENDS = ("auto", "cpp", "triton", "torch", "reference")
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_backend(name: str) -> str:
    """Validate a backend name (one of :data:`BACKENDS`)."""
    if name not in BACKENDS:
        raise SpikemaskError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


def default_backend() -> str:
    """The backend of ``'auto'``-less callers: ``SPIKEMASK_BACKEND`` if set, else ``'auto'``."""
    name = os.environ.get("SPIKEMASK_BACKEND", "auto")
    if name not in BACKENDS:
        raise SpikemaskError(f"SPIKEMASK_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r} "
                             "(unset it for 'auto')")
    return name


def resolve_backend(requested: str, x: torch.Tensor) -> str:
    """The backend that runs a scan of ``x``: ``requested``, or for ``'auto'`` the fastest one available
    for ``x``'s device and dtype. An explicit backend that cannot run ``x`` raises :class:`SpikemaskError`."""
    name = default_backend() if requested == "auto" else check_backend(requested)
    if name == "auto":
        if x.is_cuda:
            return "triton" if triton_kernels.available(x) and x.dtype in TRITON_DTYPES else "torch"
        return "cpp" if x.device.type == "cpu" and cpu.load() is not None else "torch"
    if name == "cpp" and (x.device.type != "cpu" or cpu.load() is None):
        why = (f"the tensor is on {x.device}" if x.device.type != "cpu"
               else f"they cannot be built here ({cpu.failure()})")
        raise SpikemaskError(f"backend 'cpp' runs CPU tensors with the fused kernels, but {why}; use 'torch'")
    if name == "triton" and not (triton_kernels.available(x) and x.dtype in TRITON_DTYPES):
        raise SpikemaskError(f"backend 'triton' needs Triton and a CUDA tensor of fp32/fp16/bf16 "
                             f"(got {x.dtype} on {x.device}); use 'auto'")
    return name


def last_active_step(x: torch.Tensor) -> int:
    """Index of the last step of ``x`` ``[T, B, ...]`` (any strides) with any nonzero value (−1: none);
    the fused CPU kernel stops at the first nonzero element, the fallback is
    :func:`reference.last_active_step`."""
    if x.is_floating_point() and x.dim() >= 1 and resolve_backend("auto", x) == "cpp":
        return cpu.load().last_active_step(x)
    return reference.last_active_step(x)


def _engine(name: str) -> ModuleType:
    return {"cpp": cpu.load(), "triton": triton_kernels, "torch": torch_loops}[name]


class _Layout:
    """The memory order of a time-major ``[T, B, ...]`` tensor, so a kernel walks it as ``[T, N]``.

    A contiguous tensor is walked as it is; a channels-last one (``[T·B, C, H, W]`` unfolded to
    ``[T, B, C, H, W]``, strides of NHWC) is walked in its own order, without a copy, and its outputs
    and state come back in the same layout. Any other layout is copied into that of a contiguous tensor.
    """

    def __init__(self, x: torch.Tensor) -> None:
        order = (0, *sorted(range(1, x.dim()), key=lambda d: (-x.stride(d), d)))
        if not x.permute(order).is_contiguous():
            order = tuple(range(x.dim()))
        inverse = sorted(range(x.dim()), key=order.__getitem__)
        self.shape, self.order, self.inverse = x.shape, order, inverse
        self.walked = torch.Size(x.shape[d] for d in order)     # the shape in memory order
        self.state_order = [d - 1 for d in order[1:]]            # the same for a [B, ...] state
        self.state_inverse = [d - 1 for d in inverse[1:]]

    def flat(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` ``[T, B, ...]`` as a contiguous ``[T, N]`` in this memory order (a view where ``t`` has the
        layout; a copy otherwise, e.g. for the expanded gradient of a ``sum()``)."""
        return t.permute(self.order).reshape(t.shape[0], -1).contiguous()

    def unflat(self, flat: torch.Tensor) -> torch.Tensor:
        """``[T, N]`` back to ``[T, B, ...]`` (a view)."""
        return flat.view(self.walked).permute(self.inverse)

    def new_state(self, value: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
        """A fresh ``[N]`` copy of a state broadcastable to ``[B, ...]``, in this memory order."""
        value = torch.as_tensor(value, dtype=like.dtype, device=like.device).expand(self.shape[1:])
        own = torch.empty(self.walked[1:], dtype=like.dtype, device=like.device)
        own.copy_(value.permute(self.state_order))
        return own.view(-1)

    def unflat_state(self, flat: torch.Tensor) -> torch.Tensor:
        """``[N]`` back to ``[B, ...]`` (a view)."""
        return flat.view(self.walked[1:]).permute(self.state_inverse)


def _sum_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``grad`` summed over the dimensions that broadcasting added to a tensor of ``shape``."""
    return grad if grad.shape == shape else grad.sum_to_size(shape)


# ----------------------------------------------------------------------------- IF
class _IFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, v0: torch.Tensor, theta: float, engine: str):  # noqa: D102
        layout = _Layout(x)
        v = layout.new_state(v0, x)
        out = _engine(engine).if_forward(layout.flat(x), v, theta)
        ctx.shapes = (x.shape, v0.shape)
        ctx.mark_non_differentiable(out)
        return layout.unflat(out), layout.unflat_state(v)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, grad_v: torch.Tensor):  # noqa: D102
        x_shape, v0_shape = ctx.shapes
        return grad_v.expand(x_shape), _sum_to(grad_v, v0_shape), None, None


def if_scan(x: torch.Tensor, v: torch.Tensor, theta: float, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """IF with reset by subtraction (:func:`reference.if_scan`), outputs scaled by θ.

    Args:
        x: input current ``[T, B, ...]``; v: membrane before the first step, broadcastable to ``[B, ...]``.
        theta: the threshold θ (a Python number, in ``x``'s dtype).
    Returns:
        ``(θ·spikes [T, B, ...], final v [B, ...])``.
    """
    name = resolve_backend(backend, x)
    if name == "reference":
        spikes, v = reference.if_scan(x, v, theta)
        return spikes * theta, v
    return _IFScan.apply(x, v, theta, name)


# ----------------------------------------------------------------------------- LIF
class _LIFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, v0: torch.Tensor, engine: str, tau: float, theta: float,  # noqa: D102
                rest: float, hard: bool, decay_input: bool, detach_reset: bool, surrogate: str, alpha: float):
        layout = _Layout(x)
        v = layout.new_state(v0, x)
        keep_h = any(ctx.needs_input_grad[:2])
        spikes, h = _engine(engine).lif_forward(layout.flat(x), v, tau, theta, rest, hard, decay_input, keep_h)
        if keep_h:
            ctx.save_for_backward(h)
        ctx.layout = layout
        ctx.args = (engine, v0.shape, tau, theta, rest, hard, decay_input, detach_reset, surrogate, alpha)
        return layout.unflat(spikes), layout.unflat_state(v)

    @staticmethod
    def backward(ctx, grad_s: torch.Tensor, grad_v: torch.Tensor):  # noqa: D102
        (h,) = ctx.saved_tensors
        engine, v0_shape, tau, theta, rest, hard, decay_input, detach_reset, surrogate, alpha = ctx.args
        layout = ctx.layout
        grad_s = torch.zeros_like(h) if grad_s is None else layout.flat(grad_s)
        gv = layout.new_state(0.0 if grad_v is None else grad_v, h)
        kind = ["sigmoid", "atan"].index(surrogate) if engine == "cpp" else surrogate
        grad_x = _engine(engine).lif_backward(grad_s, gv, h, tau, theta, rest, hard, decay_input, detach_reset,
                                              kind, alpha)
        return (layout.unflat(grad_x), _sum_to(layout.unflat_state(gv), v0_shape)) + (None,) * 9


def lif_scan(x: torch.Tensor, v: torch.Tensor, tau: float, threshold: float, v_reset: float | None, surrogate: str,
             alpha: float, detach_reset: bool, decay_input: bool = True, backend: str = "auto"
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """LIF with a surrogate gradient; arguments and result as :func:`reference.lif_scan`
    (``threshold`` a Python number), plus the ``backend``."""
    name = resolve_backend(backend, x)
    if name == "reference":
        return reference.lif_scan(x, v, tau, threshold, v_reset, surrogate, alpha, detach_reset, decay_input)
    rest = 0.0 if v_reset is None else float(v_reset)
    return _LIFScan.apply(x, v, name, float(tau), float(threshold), rest, v_reset is not None, decay_input,
                          detach_reset, surrogate, float(alpha))


# ----------------------------------------------------------------------------- signed IF
class _SignedIFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, v0: torch.Tensor, c0: torch.Tensor, step: float, levels: int,  # noqa: D102
                max_spikes: int, engine: str):
        layout = _Layout(x)
        v, count = layout.new_state(v0, x), layout.new_state(c0, x)
        flat = layout.flat(x)
        last = last_active_step(flat)
        out = _engine(engine).signed_if_forward(flat, v, count, step, levels, max_spikes, last)
        ctx.args = (x.shape, v0.shape, last)
        count = layout.unflat_state(count)
        ctx.mark_non_differentiable(out, count)
        return layout.unflat(out), layout.unflat_state(v), count

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, grad_v: torch.Tensor, grad_count: torch.Tensor):  # noqa: D102
        x_shape, v0_shape, last = ctx.args
        grad_x = grad_v.expand(x_shape).clone()
        grad_x[last + 1:] = 0                                  # inputs after the last event are not added
        return grad_x, _sum_to(grad_v, v0_shape), None, None, None, None, None


def signed_if_scan(x: torch.Tensor, v: torch.Tensor, count: torch.Tensor, step: float, levels: int,
                   max_spikes: int = 1, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Signed IF (ST-BIF⁺; :func:`reference.signed_if_scan`), outputs scaled by ``step``.

    Returns:
        ``(step·n [T, B, ...], final v, final count)``.
    """
    name = resolve_backend(backend, x)
    if name == "reference":
        spikes, v, count = reference.signed_if_scan(x, v, count, step, levels, max_spikes)
        return spikes * step, v, count
    return _SignedIFScan.apply(x, v, count, step, levels, max_spikes, name)
