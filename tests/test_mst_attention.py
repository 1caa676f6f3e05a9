"""Spiking attention: the conversion-exact spike product and ANN-to-SNN convergence of attention."""
import pytest
import torch

from spikemask.convert.conversion import convert
from spikemask.models.mst.attention import AttentionProduct, SpikeProduct, WindowAttention, relative_position_index
from spikemask.models.mst.swin import shift_mask
from spikemask.snn.functional import folded_time, reset_net, set_step_mode


def spike_trains(T=10, shape=(3, 4, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, *shape, generator=g) < 0.4).float()


def test_rate_product_cumulates_to_product_of_rates():
    T = 10
    a, b = spike_trains(T, (3, 4, 5), 0), spike_trains(T, (3, 5, 2), 1)
    prod = SpikeProduct("rate")
    with folded_time(T):
        out = prod(a.flatten(0, 1), b.flatten(0, 1)).reshape(T, 3, 4, 2)
    for t in range(1, T + 1):
        expected = t * (a[:t].mean(0) @ b[:t].mean(0))
        assert torch.allclose(out[:t].sum(0), expected, atol=1e-5)
    # single-step and chunked runs continue the same state
    reset_net(prod)
    set_step_mode(prod, "s")
    single = torch.stack([prod(a[t], b[t]) for t in range(T)])
    assert torch.allclose(single, out, atol=1e-5)
    reset_net(prod)
    set_step_mode(prod, "m")
    first = prod(a[:4], b[:4]).flatten(0, 1)                                       # time-major chunk
    with folded_time(6):
        rest = prod(a[4:].flatten(0, 1), b[4:].flatten(0, 1))                    # folded chunk
    assert torch.allclose(torch.cat([first, rest]).reshape_as(out), out, atol=1e-5)


def test_products_are_the_plain_product_in_the_ann_and_spike_products_after_conversion():
    a, b = torch.randn(2, 4, 5), torch.randn(2, 5, 3)
    for mode in ("step", "rate"):
        assert torch.equal(AttentionProduct(mode)(a, b, torch.relu), torch.relu(a) @ b)
        with folded_time(1):                                             # one step: the plain product too
            assert torch.allclose(SpikeProduct(mode)(a, b, torch.relu), torch.relu(a) @ b)
    attn = WindowAttention(dim=4, heads=2, window=2, softmax="code", product="rate", levels=4, threshold=1.0,
                           mask_ratio=0.0)
    snn = convert(attn)
    assert isinstance(attn.qk, AttentionProduct) and isinstance(snn.qk, SpikeProduct) and snn.av.mode == "rate"


def test_relative_position_index_is_symmetric_offset_table():
    idx = relative_position_index(3)
    assert idx.shape == (9, 9) and idx.min() == 0 and idx.max() == 24
    assert idx[0, 0] == idx[4, 4] == 12                                   # zero offset in the middle
    assert idx[0, 8] == 0 and idx[8, 0] == 24                             # (−2,−2) and (+2,+2)


@pytest.mark.parametrize("softmax", ["code", "none"])
def test_converted_attention_converges_to_ann_attention(softmax):
    """With product='rate' the SNN's mean output approaches the ANN's as T grows.

    QCFS with many levels is (almost) the clipped ReLU that IF rates converge to, so the remaining
    error is the SNN's O(1/T) rate error."""
    torch.manual_seed(0)
    attn = WindowAttention(dim=8, heads=2, window=3, softmax=softmax, product="rate", levels=4096,
                           threshold=1.0, mask_ratio=0.0).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_(0, 0.5)
    x, mask = torch.randn(8, 9, 8), shift_mask(6, 3, 1)                 # 2 images × 4 shifted windows
    with torch.no_grad():
        ann = attn(x, mask)
        snn = convert(attn)
        errors = []
        for T in (8, 32, 128):
            reset_net(snn)
            with folded_time(T):
                mean = snn(x.repeat(T, 1, 1), mask).reshape(T, *x.shape).mean(0)
            errors.append(((mean - ann).abs().mean() / ann.abs().mean()).item())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 * errors[0] and errors[2] < 0.03
