"""Exact conversion: signed neurons, accumulate coding and the event-driven spike product, against oracles.

Oracles: QCFS itself (a settled signed neuron holds the QCFS level), the quantized ANN the SNN was
converted from (its logits, after a bounded number of steps), and the running product ``C_a·C_b``.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spikemask.convert.conversion import convert
from spikemask.convert.simulate import answer_by_step, simulate
from spikemask.errors import SpikemaskError
from spikemask.masks.rsm import HeldSpikeMask
from spikemask.measure.evaluation import first_of_last_run, settling
from spikemask.measure.recorder import Recorder
from spikemask.models import create_model
from spikemask.models.base import SpikingClassifier
from spikemask.models.layers import identity, qcfs_site
from spikemask.models.mst.attention import SpikeProduct
from spikemask.snn.coding import DeltaEncoder, onset_only
from spikemask.snn.functional import folded_time, repeat_static, reset_net, seq_forward
from spikemask.snn.neurons import SignedIFNeuron, parse_neuron
from spikemask.snn.qcfs import qcfs

ATOL = 1e-4


def _perturb_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and shifts (a fresh model's BNs are the identity), in eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) * 0.5)
    return model.eval()


class TwoLayerCNN(SpikingClassifier):
    """conv → BN → QCFS → conv → BN → QCFS → global mean → linear: the smallest QCFS CNN with every affine kind."""

    def __init__(self, levels: int = 4) -> None:
        super().__init__(num_classes=5, in_channels=1, img_size=8)
        self.features = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), qcfs_site(levels, 1.0),
                                      nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                      qcfs_site(levels, 1.5))
        self.head = nn.Linear(8, 5)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return seq_forward(lambda z: self.features(z).mean((2, 3)), x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def _settle_step(snn: nn.Module, ann: nn.Module, x: torch.Tensor, steps: int) -> int:
    """The first step from which the SNN's summed output equals the ANN's logits at every later step."""
    answers = answer_by_step(simulate(snn, x, steps), snn.readout)
    ok = ((answers - ann(x[None])[0]).abs() <= ATOL).all(-1)        # [T, B]
    return int(first_of_last_run(ok).max())


# ----------------------------------------------------------------------------- the neuron
@pytest.mark.parametrize("max_spikes", [1, 3])
def test_signed_neuron_settles_at_the_qcfs_level(max_spikes):
    """Any split of a total input Z over time (positive and negative parts) ends at count = QCFS level."""
    torch.manual_seed(0)
    lam, levels = torch.tensor(1.7), 8
    z = torch.linspace(-1.0, 2.5, 301)                                # below 0, inside the range, above λ
    parts = torch.randn(12, z.numel())
    parts = parts - parts.mean(0) + z / 12                            # 12 increments summing to z
    neuron = SignedIFNeuron(lam, levels, max_spikes)
    x = torch.cat([parts, torch.zeros(2 * levels, z.numel())])       # then silence, long enough to settle
    out = neuron(x)
    expected = qcfs(z, lam, levels)
    assert torch.equal(neuron.count, torch.round(expected / (lam / levels)))
    assert torch.allclose(out.sum(0), expected, atol=1e-5)
    per_step = (out.abs() / (lam / levels)).round()
    assert per_step.max() <= max_spikes and neuron.count.min() >= 0 and neuron.count.max() <= levels


def test_signed_neuron_retracts_a_spike_when_its_input_falls():
    n = SignedIFNeuron(torch.tensor(1.0), levels=4)                   # one spike = 0.25
    out = n(torch.tensor([[0.3], [0.0], [-0.2], [0.0]]))
    assert out.flatten().tolist() == [0.25, 0.0, -0.25, 0.0]           # 0.3 → level 1; 0.1 → level 0
    assert n.count.item() == 0


def test_signed_neuron_chunks_and_single_steps_match_one_call():
    torch.manual_seed(1)
    x = torch.randn(10, 3, 5)
    whole = SignedIFNeuron(torch.tensor(2.0), 6, 2)(x)
    chunked = SignedIFNeuron(torch.tensor(2.0), 6, 2)
    parts = torch.cat([chunked(x[:3]), chunked(x[3:])])
    single = SignedIFNeuron(torch.tensor(2.0), 6, 2, step_mode="s")
    steps = torch.stack([single(x[t]) for t in range(10)])
    assert torch.equal(whole, parts) and torch.equal(whole, steps)


@pytest.mark.parametrize("bad", ["lif", "burst", "burst:0", "burst:-1", "burst:x", "signed:2", ""])
def test_unknown_neuron_names_are_refused(bad):
    with pytest.raises(SpikemaskError, match="neuron must be"):
        parse_neuron(bad)


# ----------------------------------------------------------------------------- accumulate coding
def test_delta_encoder_and_onset_bias_sum_to_the_static_values():
    x = torch.rand(4, 2, 3)
    enc = DeltaEncoder()
    inc = enc(x[:1].expand(4, 2, 3))
    assert torch.equal(inc[0], x[0]) and not inc[1:].any()
    lin = onset_only(nn.Linear(3, 2))
    y = lin(inc)
    assert torch.allclose(y.sum(0), nn.functional.linear(x[0], lin.weight, lin.bias), atol=1e-6)
    assert isinstance(lin, nn.Linear) and set(lin.state_dict()) == {"weight", "bias"}


# ----------------------------------------------------------------------------- networks = their QANN
@pytest.mark.parametrize("neuron, bound", [("signed", 16), ("burst:2", 10), ("burst:4", 2)])
def test_two_layer_cnn_equals_its_quantized_ann_after_bounded_steps(neuron, bound):
    """With L = 4, the SNN's summed output equals the QANN within ``bound`` steps (measured: 7 / 4 / 1)."""
    torch.manual_seed(2)
    ann = _perturb_bn(TwoLayerCNN(levels=4))
    x = torch.rand(16, 1, 8, 8) * 2
    snn = convert(ann, neuron=neuron)
    assert _settle_step(snn, ann, x, bound + 8) <= bound


@pytest.mark.parametrize("softmax", ["none", "code"])
def test_one_block_swin_equals_its_quantized_ann_after_bounded_steps(softmax):
    """A one-block MST (L = 4) with product='exact': equal within 24 steps (signed) and 1 step (burst:4)."""
    torch.manual_seed(3)
    ann = _perturb_bn(create_model("mst_swin_micro", num_classes=10, in_channels=1, img_size=28, depths=(1,),
                                   heads=(2,), levels=4, softmax=softmax, product="exact"))
    x = torch.rand(4, 1, 28, 28)
    assert _settle_step(convert(ann, neuron="signed"), ann, x, 32) <= 24
    assert _settle_step(convert(ann, neuron="burst:4"), ann, x, 4) == 1


class FixedMask(nn.Module):
    """The ANN's stand-in for a held mask: multiplies by that mask's draw."""

    def __init__(self, keep: torch.Tensor) -> None:
        super().__init__()
        self.keep = keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.keep.view(-1, *self.keep.shape[1:]).to(x.dtype)


def test_masked_vgg_equals_its_quantized_ann_with_the_same_held_mask():
    """Exact conversion holds the masks; the SNN then equals the QANN that drops the same neurons."""
    torch.manual_seed(4)
    ann = _perturb_bn(create_model("vgg16", num_classes=10, in_channels=1, img_size=28, width=0.125, levels=4,
                                   mask_ratio=0.5))
    snn = convert(ann, neuron="burst:4")
    x = torch.rand(3, 1, 28, 28)
    reset_net(snn)
    with torch.no_grad():
        out = snn(repeat_static(x, 4)).sum(0)
    fixed = copy.deepcopy(ann)
    held = {name: m.keep for name, m in snn.named_modules() if isinstance(m, HeldSpikeMask) and m.keep is not None}
    assert held                                                         # the masks were drawn and held
    for name, keep in held.items():
        parent, _, child = name.rpartition(".")
        setattr(fixed.get_submodule(parent), child, FixedMask(keep))
    with torch.no_grad():
        assert torch.allclose(out, fixed(x[None])[0], atol=ATOL)
    dropped = torch.cat([1 - k.float().flatten() for k in held.values()]).mean()
    assert 0.4 < dropped < 0.6                                         # the masks really drop half the spikes


def test_exact_simulation_is_causal_and_chunking_does_not_change_it():
    torch.manual_seed(5)
    ann = _perturb_bn(TwoLayerCNN())
    snn = convert(ann, neuron="signed")
    x = torch.rand(2, 1, 8, 8)
    frames = x[None].repeat(12, 1, 1, 1, 1)
    changed = frames.clone()
    changed[6:] = torch.rand_like(changed[6:])                # a different input from step 7 on
    a, b = simulate(snn, frames), simulate(snn, changed)
    assert torch.equal(a[:6], b[:6]) and not torch.equal(a[6:], b[6:])
    assert torch.equal(simulate(snn, frames, time_chunk=5), a)


# ----------------------------------------------------------------------------- the product
@pytest.mark.parametrize("use_softmax", [False, True])
def test_exact_product_accumulates_to_the_product_of_counts_at_every_step(use_softmax):
    torch.manual_seed(6)
    T = 9
    a = torch.randint(-1, 2, (T, 2, 3, 4)).float() * 0.5               # signed spikes, {0, ±0.5}
    b = torch.randint(-1, 2, (T, 2, 4, 5)).float() * 0.25
    f = (lambda s: torch.softmax(s, -1)) if use_softmax else identity
    product = SpikeProduct("exact")
    with folded_time(T):
        out = product(a.flatten(0, 1), b.flatten(0, 1), f).view(T, 2, 3, 5)
    ca, cb = a.cumsum(0), b.cumsum(0)
    assert torch.allclose(out.cumsum(0), f(ca) @ cb, atol=1e-5)
    product.reset()
    halves = [product(a[:4], b[:4], f), product(a[4:], b[4:], f)]        # time-major chunks, same state
    assert torch.allclose(torch.cat(halves), out, atol=1e-6)


def test_exact_product_spike_operations_are_counted_per_event():
    """ACs of s_a·C_b(t−1) + C_a(t−1)·s_b + s_a·s_b and the count updates, against a brute-force walk."""
    torch.manual_seed(7)
    T = 5
    a = torch.randint(-1, 2, (T, 1, 3, 4)).float()
    b = torch.randint(-1, 2, (T, 1, 4, 2)).float()

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.site = qcfs_site(4, 1.0, None)
            self.product = SpikeProduct("exact")

        def forward(self, x):
            self.site(x)                                               # a spike source, so ops are hidden
            return self.product(a, b)

    model = convert(Wrap(), neuron="signed")
    model.product = SpikeProduct("exact")
    with Recorder(model) as rec:
        model(torch.zeros(T, 1, 1))
    ops = {o.name: o for o in rec.measurement(T).ops}
    expected = 0
    ca = torch.zeros(1, 3, 4)
    cb = torch.zeros(1, 4, 2)
    for t in range(T):
        for m in range(3):
            for k in range(4):
                if a[t, 0, m, k]:
                    expected += int(cb[0, k].ne(0).sum()) + int(b[t, 0, k].ne(0).sum())
        for k in range(4):
            for n in range(2):
                if b[t, 0, k, n]:
                    expected += int(ca[0, :, k].ne(0).sum())
        expected += int(a[t].ne(0).sum() + b[t].ne(0).sum())
        ca, cb = ca + a[t], cb + b[t]
    assert ops["product"].op == "exact-product" and ops["product"].input == "spikes"
    assert ops["product"].acs == expected and ops["product"].macs == 0


# ----------------------------------------------------------------------------- the recorder's verdict
def test_exact_vgg_is_spiking_and_burst_spikes_are_counted_as_multi_spikes():
    torch.manual_seed(8)
    ann = _perturb_bn(create_model("vgg16", num_classes=10, in_channels=1, img_size=28, width=0.125, levels=4))
    x = torch.rand(2, 1, 28, 28)
    counts = {}
    for neuron in ("signed", "burst:4"):
        snn = convert(ann, neuron=neuron)
        with Recorder(snn) as rec:
            simulate(snn, x, 6)
        m = rec.measurement(6)
        assert m.verdict == "spiking", [o.name for o in m.ops if o.analog]
        counts[neuron] = m.spikes()
        first = next(o for o in m.ops if o.role == "encoding")
        assert first.macs == pytest.approx(first.dense_macs / 6)       # the delta-coded image: step 1 only
    # settled, both hold the same levels; a burst neuron gets there with the same number of unit spikes or fewer
    assert counts["burst:4"] <= counts["signed"] and counts["burst:4"] > 0


def test_exact_swin_with_softmax_code_names_its_analog_product():
    torch.manual_seed(9)
    ann = _perturb_bn(create_model("mst_swin_micro", num_classes=10, in_channels=1, img_size=28, depths=(1,),
                                   heads=(2,), levels=4, softmax="code", product="exact"))
    snn = convert(ann, neuron="signed")
    with Recorder(snn) as rec:
        simulate(snn, torch.rand(2, 1, 28, 28), 4)
    m = rec.measurement(4)
    analog = {o.name for o in m.ops if o.analog}
    assert "layers.0.blocks.0.attn.av" in analog and m.verdict == "hybrid" and m.analog_share() > 0
    assert {o.name: o for o in m.ops}["layers.0.blocks.0.attn.qk"].input == "spikes"


# ----------------------------------------------------------------------------- equivalence tooling
def test_settling_finds_the_first_step_of_lasting_agreement():
    ann = torch.tensor([[1.0, 0.0]])
    steps = torch.tensor([[[0.0, 0.5]], [[0.6, -0.5]], [[0.4, 0.0]], [[0.0, 0.0]]])   # sums: (0,.5) (.6,0) (1,0) (1,0)
    s = settling(steps, ann, "sum")
    assert s["class_step"].item() == 2 and s["logit_step"].item() == 3
    assert s["settled"].item() and s["settled_match"].item()


# ----------------------------------------------------------------------------- refusals
def test_exact_conversion_refuses_what_it_cannot_make_exact():
    mst = lambda **o: create_model("mst_swin_micro", num_classes=10, in_channels=1, img_size=28, **o)  # noqa: E731
    with pytest.raises(SpikemaskError, match="needs product=exact"):
        convert(mst(product="step"), neuron="signed")
    with pytest.raises(SpikemaskError, match="needs signed neurons"):
        convert(mst(product="exact"), neuron="if")
    with pytest.raises(SpikemaskError, match="LayerNorm"):
        convert(mst(product="exact", final_norm="ln"), neuron="signed")
    with pytest.raises(SpikemaskError, match="MaxPool2d"):
        convert(create_model("resnet18", num_classes=10, in_channels=3, img_size=224), neuron="burst:2")
