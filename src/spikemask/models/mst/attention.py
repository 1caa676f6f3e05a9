"""Spiking window self-attention for MST (MST §3.3, eqs. 6–7; FAITHFULNESS M5, M7, M13).

Attention multiplies two *spike trains*: Q·Kᵀ (eq. 7) and A·V. In the ANN both are the plain product
``f(a) @ b`` (:class:`AttentionProduct`); conversion (:func:`spikemask.convert.conversion.convert`)
replaces each by a :class:`SpikeProduct`, which multiplies spike trains in one of two modes:

``product='step'`` (the MST code and the text of eq. 7)
    ``out[t] = f(a[t]) @ b[t]``: each step multiplies that step's spikes. Stateless. Its time
    average is the mean of products, not the product of the means, so the converted network does
    not reproduce the ANN exactly even for large T.
``product='rate'`` (conversion-exact; our addition)
    ``out[t] = t·f(ā_t) @ b̄_t − (t−1)·f(ā_{t−1}) @ b̄_{t−1}`` with ``ā_t`` the mean of ``a`` over
    steps 1..t. The outputs up to t then sum to ``t·f(ā_t) @ b̄_t``, so the downstream IF neuron
    sees on average the ANN product of the two rates; the error vanishes as T grows. Stateful
    (running sums, :class:`~spikemask.snn.base.StatefulModule`), so ``reset_net`` reaches it and
    chunked and single-step runs give identical results.

``product='exact'`` (event-driven, for signed neurons; SpikeZIP-TF's spike-equivalent product)
    Under accumulate coding (:mod:`spikemask.snn.coding`) ``a`` and ``b`` are increments (signed
    spikes) and ``C_a``, ``C_b`` their running sums; the output is the increment of ``C_a·C_b``:
    ``Δ = s_a(t)·C_b(t−1) + C_a(t−1)·s_b(t) + s_a(t)·s_b(t)``. Every term is an accumulate
    triggered by a spike of this step; the outputs up to t sum to ``C_a(t)·C_b(t)`` exactly. With
    a softmax (``f``), ``A(t) = f(C_a(t))`` is recomputed on the accumulated scores (analog) and its
    increment ``ΔA`` replaces ``s_a``: ``Δ = ΔA·C_b(t−1) + A(t−1)·s_b(t) + ΔA·s_b(t)`` (``A(0) = 0``).
    Stateful.

``f`` is the identity for Q·Kᵀ, and for A·V either the identity (``softmax='none'``) or
``softmax(· + relative position bias + shift mask)`` (``softmax='code'``).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from spikemask.errors import SpikemaskError
from spikemask.models.layers import AddConstant, MatMul, identity, qcfs_site
from spikemask.snn.base import StatefulModule
from spikemask.snn.functional import time_major_view
from spikemask.snn.kernels import last_active_step

PRODUCTS = ("step", "rate", "exact")
SOFTMAX_MODES = ("code", "none")
NEG_INF = -100.0  # the "minus infinity" Swin and MST add to masked scores before softmax


def check_product(mode: str) -> str:
    """Validate a spike-product mode (``'step'``, ``'rate'`` or ``'exact'``)."""
    if mode not in PRODUCTS:
        raise SpikemaskError(f"product must be one of {PRODUCTS}, got {mode!r}")
    return mode


class AttentionProduct(MatMul):
    """The ANN's ``f(a) @ b``; ``mode`` is the :class:`SpikeProduct` mode that conversion will build.

    Shapes: ``a`` ``[N, ..., M, K]``, ``b`` ``[N, ..., K, N']`` → ``[N, ..., M, N']``.
    """

    def __init__(self, mode: str = "step") -> None:
        super().__init__()
        self.mode = check_product(mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class SpikeProduct(StatefulModule):
    """Matrix product ``f(a) @ b`` of two spike trains: per step (``'step'``), of rates (``'rate'``) or
    of accumulated counts, event-driven (``'exact'``).

    Args:
        mode: ``'step'``, ``'rate'`` or ``'exact'`` (see the module docstring).
    Shapes: ``a`` ``[T·B, ..., M, K]`` and ``b`` ``[T·B, ..., K, N]`` (folded, inside
    :func:`~spikemask.snn.functional.folded_time`), ``[T, B, ...]`` (time-major) or ``[B, ...]``
    (``step_mode='s'``); output ``[..., M, N]`` alike.
    """

    def __init__(self, mode: str = "step") -> None:
        super().__init__()
        self.mode = check_product(mode)
        # 'rate': (Σa, Σb, steps done, last cumulative product); 'exact': (C_a, C_b, last A = f(C_a))
        self.register_state("state")

    def forward(self, a: torch.Tensor, b: torch.Tensor,
                f: Callable[[torch.Tensor], torch.Tensor] = identity) -> torch.Tensor:  # noqa: D102
        if self.mode == "step":
            return f(a) @ b
        a_t, restore = time_major_view(a, self.step_mode)
        b_t, _ = time_major_view(b, self.step_mode)
        scan = self._rate_scan if self.mode == "rate" else self._exact_scan
        return restore(scan(a_t, b_t, f))

    def counts_before(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``'exact'``: the running sums ``C_a(t−1)``, ``C_b(t−1)`` ``[T, B, ...]`` before each step of
        the chunk ``a``, ``b`` ``[T, B, ...]`` (from zero at the first chunk of a run)."""
        ca, cb = a.cumsum(0).sub_(a), b.cumsum(0).sub_(b)                # Σ of the steps before each step
        return (ca.add_(self.state[0]), cb.add_(self.state[1])) if self._continues(a, b) else (ca, cb)

    def _continues(self, a: torch.Tensor, b: torch.Tensor) -> bool:
        """The saved counts belong to this run (same per-step shapes as ``a``, ``b`` ``[T, B, ...]``)."""
        return self.state is not None and self.state[0].shape == a.shape[1:] and self.state[1].shape == b.shape[1:]

    def _exact_scan(self, a: torch.Tensor, b: torch.Tensor,
                    f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``[T, B, ...]`` increments → ``[T, B, ...]`` increments of ``f(C_a)·C_b``, continuing from the state.

        The steps after the last one with a spike in ``a`` or ``b`` output 0 and are not computed."""
        steps = max(last_active_step(a), last_active_step(b)) + 1
        out = a.new_empty(a.shape[0], *a.shape[1:-1], b.shape[-1])
        out[steps:] = 0
        if steps == 0:
            return out
        a, b = a[:steps], b[:steps]
        ca_now, cb_prev = a.cumsum(0), b.cumsum(0).sub_(b)                # C_a(t), C_b(t−1)
        saved_a = None
        if self._continues(a, b):
            ca_now += self.state[0]
            cb_prev += self.state[1]
            saved_a = self.state[2]
        if f is identity:
            d_a, a_now, last = a, ca_now, None
        else:                                                     # A(t) = f(C_a(t)), analog; A(0) = 0
            a_now = f(ca_now)
            first = saved_a if saved_a is not None and saved_a.shape == a_now.shape[1:] else torch.zeros_like(a_now[0])
            d_a, last = a_now - torch.cat([first[None], a_now[:-1]]), a_now[-1]
        self.state = (ca_now[-1], cb_prev[-1] + b[-1], last)
        # ΔA·C_b(t−1) + A(t−1)·s_b + ΔA·s_b, with the two terms of s_b computed as one: A(t)·s_b
        now = out[:steps]
        torch.matmul(d_a, cb_prev, out=now)
        now.view(-1, *now.shape[-2:]).baddbmm_(a_now.reshape(-1, *a_now.shape[-2:]), b.reshape(-1, *b.shape[-2:]))
        return out

    def _rate_scan(self, a: torch.Tensor, b: torch.Tensor,
                   f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``[T, B, ...]`` chunk → ``[T, B, ...]`` increments, continuing from the saved state."""
        if self.state is None or self.state[0].shape != a.shape[1:] or self.state[1].shape != b.shape[1:]:
            prev_product = torch.zeros(1, device=a.device, dtype=a.dtype)
            self.state = (torch.zeros_like(a[0]), torch.zeros_like(b[0]), 0, prev_product)
        sum_a, sum_b, done, prev_product = self.state
        sum_a = sum_a + a.cumsum(0)                                    # Σ a up to each step
        sum_b = sum_b + b.cumsum(0)
        steps = torch.arange(done + 1, done + a.shape[0] + 1, device=a.device, dtype=a.dtype)
        steps = steps.view(-1, *[1] * (a.dim() - 1))
        cumulative = steps * (f(sum_a / steps) @ (sum_b / steps))      # t · f(ā_t) @ b̄_t
        out = cumulative - torch.cat([prev_product.expand_as(cumulative[:1]), cumulative[:-1]])
        self.state = (sum_a[-1], sum_b[-1], done + a.shape[0], cumulative[-1:])
        return out

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def relative_position_index(window: int) -> torch.Tensor:
    """Index into the ``[(2w−1)², heads]`` bias table for each token pair of a w×w window: ``[w², w²]``."""
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])             # [2, w²]
    delta = coords[:, :, None] - coords[:, None, :] + (window - 1)     # [2, w², w²], each in [0, 2w−2]
    return delta[0] * (2 * window - 1) + delta[1]


class WindowAttention(nn.Module):
    """Spiking multi-head self-attention inside windows, with relative position bias (MST eqs. 6–7).

    Data flow (module names in brackets; every ``*_site`` is QCFS → IF after conversion, plus its
    Random Spike Mask):

    ``x → qkv → Q [q_site], K [k_site], V [v_site]``;
    ``S = (Q·Kᵀ) / √d`` (:class:`AttentionProduct`, a :class:`SpikeProduct` after conversion)
    ``→ A [a_site]`` (eq. 7's A_spk);
    ``softmax='code'``: ``P = softmax(A + bias + shift mask)`` at every step (M7), ``O = P·V``;
    ``softmax='none'``: bias and shift mask are added to S *before* ``a_site`` (a constant input
    current; masked pairs get −100 and never fire), and ``O = A·V`` — no softmax, as eq. 7's text;
    ``O → [av_site] → proj → [proj_site]``.

    RSM placements of Fig. 2(d) are the masks of ``q_site``, ``k_site`` and ``a_site`` (M13); V is
    never masked by the MST code.

    Args:
        dim: channels C; heads: number of heads (C divisible by heads); window: side w.
        softmax: ``'code'`` or ``'none'``; product: ``'step'``, ``'rate'`` or ``'exact'`` (:class:`SpikeProduct`
            after conversion).
        levels, threshold: QCFS L and initial λ of every site; mask_ratio: RSM ratio of the q/k/a masks.
    Shapes: input ``[N_w, w², C]`` (windows of all images, folded over T), optional shift mask
    ``[nW, w², w²]``; output ``[N_w, w², C]``.
    """

    def __init__(self, dim: int, heads: int, window: int, softmax: str, product: str,
                 levels: int, threshold: float, mask_ratio: float) -> None:
        super().__init__()
        if softmax not in SOFTMAX_MODES:
            raise SpikemaskError(f"softmax must be one of {SOFTMAX_MODES}, got {softmax!r}")
        self.heads, self.window, self.softmax = heads, window, softmax
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_site = qcfs_site(levels, threshold, mask_ratio)
        self.k_site = qcfs_site(levels, threshold, mask_ratio)
        self.v_site = qcfs_site(levels, threshold)
        self.qk = AttentionProduct(product)
        self.score_bias = AddConstant()      # softmax='none': bias + shift mask as a constant input current
        self.a_site = qcfs_site(levels, threshold, mask_ratio)
        self.av = AttentionProduct(product)
        self.av_site = qcfs_site(levels, threshold)
        self.proj = nn.Linear(dim, dim)
        self.proj_site = qcfs_site(levels, threshold)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self, shift_mask: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function adding the relative position bias (and the shift mask) to ``[N_w, h, w², w²]`` scores."""
        area = self.window ** 2
        bias = self.relative_position_bias_table[self.relative_position_index.flatten()]
        bias = bias.view(area, area, self.heads).permute(2, 0, 1)       # [h, w², w²]

        def add(scores: torch.Tensor) -> torch.Tensor:
            scores = scores + bias
            if shift_mask is None:
                return scores
            n_windows = shift_mask.shape[0]
            per_image = scores.view(-1, n_windows, self.heads, area, area) + shift_mask[:, None]
            return per_image.view_as(scores)
        return add

    def forward(self, x: torch.Tensor, shift_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(n, tokens, 3, self.heads, channels // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = self.q_site(qkv[0]), self.k_site(qkv[1]), self.v_site(qkv[2])   # [N_w, h, w², d]
        scores = self.qk(q, k.transpose(-2, -1)) * self.scale                        # [N_w, h, w², w²]
        add_bias = self.position_bias(shift_mask)
        if self.softmax == "code":
            out = self.av(self.a_site(scores), v, lambda a: torch.softmax(add_bias(a), dim=-1))
        else:
            out = self.av(self.a_site(self.score_bias(scores, add_bias)), v)
        out = self.av_site(out.transpose(1, 2).reshape(n, tokens, channels))
        return self.proj_site(self.proj(out))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, window={self.window}, softmax={self.softmax!r}"
