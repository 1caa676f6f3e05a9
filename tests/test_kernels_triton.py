"""The Triton kernels against the reference loops, run on the CPU by Triton's interpreter.

``TRITON_INTERPRET=1`` must be set when the kernels are decorated, so the module is reloaded under it
for these tests and reloaded back afterwards. The interpreter runs the kernels' code in NumPy, one
program at a time: it checks their logic and rounding, not their speed.
"""
from __future__ import annotations

import importlib

import pytest
import torch

from spikemask.snn import kernels
from spikemask.snn.kernels import reference, triton_kernels

pytestmark = pytest.mark.skipif(triton_kernels.triton is None, reason="Triton is not installed")
SHAPES = [(1, 4, 5), (6, 3, 700), (9, 1300)]  # N = 20, 2100, 1300: one block, several, a ragged last one
# Triton 3.8's interpreter mis-reads bfloat16 (NumPy has none: a stored bf16 sum comes back ~1e38), so
# bf16 is checked only where a GPU runs the compiled kernels (benchmarks/gpu_check.py).
DTYPES = [torch.float32, torch.float16]


@pytest.fixture(autouse=True, scope="module")
def interpreted():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITON_INTERPRET", "1")
        importlib.reload(triton_kernels)
        yield
    importlib.reload(triton_kernels)


def _inputs(shape, seed, scale=1.5, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) * scale - 0.2 * scale).to(dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_if_matches_reference(shape, dtype):
    x = _inputs(shape, 0, dtype=dtype)
    v0 = torch.full(shape[1:], 0.35, dtype=dtype)
    theta = torch.tensor(0.7, dtype=dtype).item()
    ref_s, ref_v = reference.if_scan(x, v0, theta)
    out, v = kernels.if_scan(x, v0, theta, "triton")
    assert torch.equal(out, ref_s * theta) and torch.equal(v, ref_v)


@pytest.mark.parametrize("case", [
    (2.0, 0.0, True, True, "sigmoid"),
    (1.7, None, False, False, "atan"),
    (3.0, -0.2, True, False, "sigmoid"),
])
@pytest.mark.parametrize("shape", SHAPES)
def test_lif_matches_reference_in_spikes_and_gradients(case, shape):
    tau, v_reset, decay_input, detach_reset, surrogate = case
    args = (tau, 1.0, v_reset, surrogate, 2.0 if surrogate == "atan" else 4.0, detach_reset, decay_input)
    x = _inputs(shape, 1, scale=3.0).requires_grad_()
    v0 = torch.full(shape[1:], 0.1, requires_grad=True)
    weights = torch.rand(shape, generator=torch.Generator().manual_seed(2))
    ref_s, ref_v = reference.lif_scan(x, v0, *args)
    ((ref_s * weights).sum() + ref_v.sum() * 0.3).backward()
    ref_gx, ref_gv = x.grad.clone(), v0.grad.clone()
    x.grad = v0.grad = None
    s, v = kernels.lif_scan(x, v0, *args, backend="triton")
    ((s * weights).sum() + v.sum() * 0.3).backward()
    assert torch.equal(s, ref_s) and torch.equal(v, ref_v)
    torch.testing.assert_close(x.grad, ref_gx, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(v0.grad, ref_gv, rtol=1e-6, atol=1e-6)


def test_lif_half_precision_spikes_match_reference():
    dtype = torch.float16
    x = _inputs((8, 2100), 3, scale=3.0, dtype=dtype)
    v0 = torch.zeros(2100, dtype=dtype)
    ref_s, ref_v = reference.lif_scan(x, v0, 2.0, 1.0, 0.0, "sigmoid", 4.0, True, True)
    s, v = kernels.lif_scan(x, v0, 2.0, 1.0, 0.0, "sigmoid", 4.0, True, True, backend="triton")
    assert torch.equal(s, ref_s) and torch.equal(v, ref_v)


@pytest.mark.parametrize("max_spikes", [1, 3])
def test_signed_if_matches_reference(max_spikes):
    x = _inputs((12, 2, 900), 4, scale=2.0)
    x[8:] = 0                                          # silent tail: the kernel stops adding input
    v0, c0 = torch.full((2, 900), 0.25), torch.zeros(2, 900)
    ref = reference.signed_if_scan(x, v0, c0, 0.5, 4, max_spikes)
    out, v, count = kernels.signed_if_scan(x, v0, c0, 0.5, 4, max_spikes, "triton")
    assert torch.equal(out, ref[0] * 0.5) and torch.equal(v, ref[1]) and torch.equal(count, ref[2])


def test_triton_on_a_cpu_tensor_without_the_interpreter_is_refused(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(kernels.SpikemaskError, match="backend 'triton' needs"):
        kernels.if_scan(torch.zeros(2, 3), torch.zeros(3), 1.0, "triton")
