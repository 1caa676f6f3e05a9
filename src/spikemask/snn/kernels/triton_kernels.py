"""The ``triton`` backend: one GPU kernel per scan, over all T, with the state in registers.

Each program owns ``BLOCK`` neurons and walks the T steps of its ``[T, N]`` slice; the membrane (and
the signed neuron's count) never leaves registers, so a forward reads the input and writes the
output once per step. The LIF backward is the reverse scan of the closed-form gradient
(:func:`spikemask.snn.kernels.torch_loops.lif_backward`). Arithmetic is done in float32 for fp16 /
bf16 inputs (rounded to the input type at each stored value). Tests run these kernels on the CPU
under ``TRITON_INTERPRET=1``.
"""
from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton ships with the CUDA builds of torch
    triton = None

BLOCK = 1024


def available(x: torch.Tensor) -> bool:
    """Whether these kernels can run on ``x``: Triton importable and ``x`` on a GPU (or the interpreter on)."""
    return triton is not None and (x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1")


if triton is not None:
    @triton.jit
    def _div(a, b):
        # IEEE-rounded division in float32, as torch divides: Triton's plain `/` is approximate on GPUs
        return tl.math.div_rn(a.to(tl.float32), b)

    @triton.jit
    def _if_fwd(x_ptr, v_ptr, out_ptr, T, N, theta, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = offs < N
        v = tl.load(v_ptr + offs, mask=live, other=0.0)
        for t in range(T):
            h = v + tl.load(x_ptr + t * N + offs, mask=live, other=0.0)
            h = h.to(v_ptr.dtype.element_ty)
            s = tl.where(h >= theta, theta, 0.0).to(v_ptr.dtype.element_ty)
            v = (h - s).to(v_ptr.dtype.element_ty)
            tl.store(out_ptr + t * N + offs, s, mask=live)
        tl.store(v_ptr + offs, v, mask=live)

    @triton.jit
    def _lif_fwd(x_ptr, v_ptr, out_ptr, h_ptr, T, N, tau, theta, rest, HARD: tl.constexpr,
                 DECAY_INPUT: tl.constexpr, KEEP_H: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = offs < N
        dt = v_ptr.dtype.element_ty
        v = tl.load(v_ptr + offs, mask=live, other=0.0)
        for t in range(T):
            x = tl.load(x_ptr + t * N + offs, mask=live, other=0.0)
            leak = (v - rest).to(dt)
            if DECAY_INPUT:
                h = (v + _div((x - leak).to(dt), tau).to(dt)).to(dt)
            else:
                h = ((v - _div(leak, tau).to(dt)).to(dt) + x).to(dt)
            fire = (h - theta).to(dt) >= 0
            if KEEP_H:
                tl.store(h_ptr + t * N + offs, h, mask=live)
            tl.store(out_ptr + t * N + offs, tl.where(fire, 1.0, 0.0).to(dt), mask=live)
            if HARD:
                v = tl.where(fire, rest, h).to(dt)
            else:
                v = tl.where(fire, (h - theta).to(dt), h).to(dt)
        tl.store(v_ptr + offs, v, mask=live)

    @triton.jit
    def _lif_bwd(gs_ptr, gv_ptr, h_ptr, gx_ptr, T, N, theta, rest, keep, dx, alpha, HARD: tl.constexpr,
                 DETACH: tl.constexpr, SIGMOID: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = offs < N
        dt = h_ptr.dtype.element_ty
        gv = tl.load(gv_ptr + offs, mask=live, other=0.0).to(tl.float32)
        for i in range(T):
            t = T - 1 - i
            h = tl.load(h_ptr + t * N + offs, mask=live, other=0.0)
            u = (h - theta).to(dt).to(tl.float32)
            if SIGMOID:
                sig = 1.0 / (1.0 + tl.exp(-alpha * u))
                sg = alpha * sig * (1.0 - sig)
            else:
                k = 1.5707963267948966 * alpha * u
                sg = alpha / 2.0 / (1.0 + k * k)
            if HARD:
                dvdh = tl.where(u >= 0, 0.0, 1.0)
                dvds = rest - h.to(tl.float32)
            else:
                dvdh = 1.0
                dvds = -theta
            if DETACH:
                dvds = 0.0
            gs = tl.load(gs_ptr + t * N + offs, mask=live, other=0.0).to(tl.float32)
            gh = (gs + gv * dvds) * sg + gv * dvdh
            tl.store(gx_ptr + t * N + offs, (gh * dx).to(dt), mask=live)
            gv = gh * keep
        tl.store(gv_ptr + offs, gv.to(dt), mask=live)

    @triton.jit
    def _signed_fwd(x_ptr, v_ptr, c_ptr, out_ptr, T, N, step, levels, max_spikes, last_input,
                    ONE: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = offs < N
        dt = v_ptr.dtype.element_ty
        v = tl.load(v_ptr + offs, mask=live, other=0.0)
        c = tl.load(c_ptr + offs, mask=live, other=0.0)
        for t in range(T):
            if t <= last_input:
                v = (v + tl.load(x_ptr + t * N + offs, mask=live, other=0.0)).to(dt)
            if ONE:
                k = tl.where((v >= step) & (c < levels), 1.0, tl.where((v < 0) & (c > 0), -1.0, 0.0)).to(dt)
            else:
                up = tl.maximum(tl.floor(_div(v, step).to(dt).to(tl.float32)), 0.0)
                down = tl.maximum(tl.ceil(_div(-v, step).to(dt).to(tl.float32)), 0.0)
                cf = c.to(tl.float32)
                k = tl.minimum(up, levels - cf) - tl.minimum(down, cf)
                k = tl.minimum(tl.maximum(k, -max_spikes * 1.0), max_spikes * 1.0).to(dt)
            spike = (k * step).to(dt)
            v = (v - spike).to(dt)
            c = (c + k).to(dt)
            tl.store(out_ptr + t * N + offs, spike, mask=live)
        tl.store(v_ptr + offs, v, mask=live)
        tl.store(c_ptr + offs, c, mask=live)


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)


def if_forward(x: torch.Tensor, v: torch.Tensor, theta: float) -> torch.Tensor:
    """As :func:`spikemask.snn.kernels.torch_loops.if_forward`."""
    out = torch.empty_like(x)
    T, N = x.shape[0], v.numel()
    _if_fwd[_grid(N)](x, v, out, T, N, theta, BLOCK=BLOCK)
    return out


def lif_forward(x: torch.Tensor, v: torch.Tensor, tau: float, theta: float, rest: float, hard: bool,
                decay_input: bool, keep_h: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """As :func:`spikemask.snn.kernels.torch_loops.lif_forward`."""
    out = torch.empty_like(x)
    hs = torch.empty_like(x) if keep_h else out
    T, N = x.shape[0], v.numel()
    _lif_fwd[_grid(N)](x, v, out, hs, T, N, tau, theta, rest, HARD=hard, DECAY_INPUT=decay_input,
                       KEEP_H=keep_h, BLOCK=BLOCK)
    return out, (hs if keep_h else x.new_empty(0))


def lif_backward(grad_s: torch.Tensor, grad_v: torch.Tensor, h: torch.Tensor, tau: float, theta: float, rest: float,
                 hard: bool, decay_input: bool, detach_reset: bool, surrogate: str, alpha: float) -> torch.Tensor:
    """As :func:`spikemask.snn.kernels.torch_loops.lif_backward`."""
    grad_x = torch.empty_like(h)
    T, N = h.shape[0], grad_v.numel()
    _lif_bwd[_grid(N)](grad_s, grad_v, h, grad_x, T, N, theta, rest, 1.0 - 1.0 / tau,
                       1.0 / tau if decay_input else 1.0, alpha, HARD=hard, DETACH=detach_reset,
                       SIGMOID=surrogate == "sigmoid", BLOCK=BLOCK)
    return grad_x


def signed_if_forward(x: torch.Tensor, v: torch.Tensor, count: torch.Tensor, step: float, levels: int,
                      max_spikes: int, last_input: int) -> torch.Tensor:
    """As :func:`spikemask.snn.kernels.torch_loops.signed_if_forward`."""
    out = torch.empty_like(x)
    T, N = x.shape[0], v.numel()
    _signed_fwd[_grid(N)](x, v, count, out, T, N, step, float(levels), max_spikes, last_input,
                          ONE=max_spikes == 1, BLOCK=BLOCK)
    return out
