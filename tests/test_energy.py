"""The recorder and the energy models against hand-computed numbers."""
import pytest
import torch
from torch import nn

import spikemask
from spikemask.convert.conversion import convert
from spikemask.convert.simulate import simulate
from spikemask.errors import OptionError, SpikemaskError
from spikemask.measure import Recorder, energy_report, power_watts
from spikemask.measure.energy import E_AC_PJ, E_MAC_PJ, E_MEM_PJ, memory_energy, ops_energy, qann_energy
from spikemask.measure.recorder import classify
from spikemask.models.layers import SpikeSite
from spikemask.models.mst.attention import SpikeProduct
from spikemask.snn.neurons import IFNeuron


class Chain(nn.Module):
    """Time-major ``[T, B, ...]`` through ``layers``, each folded over T unless it is a spike source."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        for layer in self.layers:
            if isinstance(layer, (SpikeSite, IFNeuron)):
                x = layer(x)
            else:
                x = layer(x.flatten(0, 1)).unflatten(0, (t, b))
        return x


def source() -> IFNeuron:
    """An IF neuron with θ = 1 that starts at 0: input 1 fires every step, input 0 never."""
    return IFNeuron(1.0, v_init=0.0)


def record(model: nn.Module, x: torch.Tensor):
    with Recorder(model) as rec:
        model(x)
    return rec.measurement(x.shape[0])


def test_tiny_network_matches_hand_count():
    # analog input → Linear(2→3) → IF(θ=1) site → Linear(3→2)
    fc1, fc2 = nn.Linear(2, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.2], [0.0, 0.0]]))
        fc2.weight.fill_(1.0)
    net = Chain(fc1, SpikeSite(IFNeuron(1.0, v_init=0.0)), fc2)
    x = torch.tensor([1.0, 0.5]).expand(4, 1, 2)     # T = 4 steps, B = 1
    m = record(net, x)
    # neuron 0 gets 1.0 per step → 4 spikes; neuron 1 gets 0.6 → v 0.6, 1.2*, 0.8, 1.4* → 2; neuron 2 → 0
    assert (m.images, m.spikes("fired"), m.spikes("delivered"), m.neurons) == (1, 6, 6, 3)
    ops = {o.name: o for o in m.ops}
    assert (ops["layers.0"].role, ops["layers.0"].input, ops["layers.0"].macs) == ("encoding", "data", 4 * 2 * 3)
    assert (ops["layers.2"].role, ops["layers.2"].input, ops["layers.2"].acs) == ("readout", "spikes", 6 * 2)
    assert m.acs == 12 and m.macs == 24 and m.verdict == "spiking"
    assert ops_energy(m)["total_pj"] == pytest.approx(12 * E_AC_PJ + 24 * E_MAC_PJ)
    q = qann_energy(m)
    assert q["macs"] == 2 * 3 + 3 * 2 and q["compute_pj"] == pytest.approx(12 * E_MAC_PJ)
    # memory: 3 per AC, 2 per MAC, 12 analog outputs, 2 per neuron step (3 × 4), 6 spike writes
    mem = memory_energy(m)
    assert mem["accesses"] == 3 * 12 + 2 * 24 + 12 + 2 * 12 + 6
    assert mem["total_pj"] == pytest.approx(12 * E_AC_PJ + 24 * E_MAC_PJ + 12 * E_AC_PJ + E_MEM_PJ * 126)
    report = energy_report(m)
    assert report["power_alpha_watts"] == pytest.approx(1500.0)        # 1.5 spikes per 1 ms step
    assert report["snn_vs_qann"]["ops"] == pytest.approx((12 * E_AC_PJ + 24 * E_MAC_PJ) / (12 * E_MAC_PJ))


class Gain(nn.Module):
    """Multiplies each feature by its own gain (uncounted): spikes in, analog values out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tensor([0.3, 0.7, 0.9])


def test_analog_macs_count_only_samples_with_input():
    # IF(θ=1, v0=0.5) driven by 0.5 fires at steps 1 and 3 of 4: steps 2 and 4 are all-zero samples
    fc1, fc2 = nn.Linear(3, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.eye(3))
    net = Chain(fc1, SpikeSite(IFNeuron(1.0, v_init=0.5)), Gain(), fc2)
    m = record(net, torch.full((4, 1, 3), 0.5))
    ops = {o.name: o for o in m.ops}
    assert (ops["layers.3"].input, ops["layers.3"].macs, ops["layers.3"].dense_macs) == ("analog", 2 * 6, 4 * 6)
    assert m.verdict == "spiking"           # the analog op is the readout; hidden analog ops make it hybrid


def test_conv_counts_exact_fan_out_with_borders_and_strides():
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 1, 3, 3)
    x[..., 0, 0] = 1            # corner: reaches 2×2 outputs
    x[..., 1, 1] = 1            # centre: reaches 3×3 outputs
    m = record(Chain(source(), conv, source()), x)
    assert next(o for o in m.ops if o.name == "layers.1").acs == (4 + 9) * 2
    strided = nn.Conv2d(1, 1, 2, stride=2)
    m = record(Chain(source(), strided, source()), torch.ones(1, 1, 1, 4, 4))
    assert next(o for o in m.ops if o.op == "conv2d").acs == 16       # each input in exactly one window


def test_max_pool_on_spikes_counts_the_windows_each_spike_reaches():
    pool = nn.MaxPool2d(3, 2, 1)               # 4×4 → 2×2; windows rows/cols [-1, 1] and [1, 3]
    x = torch.zeros(1, 1, 1, 4, 4)
    x[..., 0, 0] = 1                           # one window
    x[..., 1, 1] = 1                           # 2 × 2 windows
    m = record(Chain(source(), pool, source()), x)
    o = next(o for o in m.ops if o.op == "maxpool")
    assert (o.acs, o.input) == (1 + 4, "spikes")


def test_spikformer_style_conv1d_counts_events_times_out_channels():
    conv = nn.Conv1d(4, 5, 1)
    x = torch.zeros(2, 1, 4, 3)                # [T, B, C, N]
    x[0, 0, 1, 2] = x[1, 0, 3, 0] = x[1, 0, 0, 0] = 1
    m = record(Chain(source(), conv, source()), x)
    o = next(o for o in m.ops if o.op == "conv1d")
    assert (o.acs, o.dense_macs, o.input) == (3 * 5, 2 * 5 * 3 * 4, "spikes")


class Products(nn.Module):
    """A spike source, then ``a @ b`` with a fixed binary ``b`` (one SpikeProduct), then another source."""

    def __init__(self, mode: str, b: torch.Tensor, softmax: bool = False) -> None:
        super().__init__()
        self.src, self.out = source(), source()
        self.qk = SpikeProduct(mode)
        self.register_buffer("b", b)
        self.softmax = softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.src(x)                                        # [T, B, M, K] spikes
        b = self.b.expand(*a.shape[:2], *self.b.shape)
        f = (lambda s: torch.softmax(s, -1)) if self.softmax else None
        return self.out(self.qk(a, b) if f is None else self.qk(a, b, f))


A = torch.tensor([[1.0, 0.0], [1.0, 1.0]])                    # [M=2, K=2]
B = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])          # [K=2, N=3]


def test_product_of_two_spike_trains_counts_coincident_pairs():
    m = record(Products("step", B), A.expand(1, 1, 2, 2))
    o = next(o for o in m.ops if o.name == "qk")
    # pairs a[m, k] · b[k, n] ≠ 0: row 0 → k0 → n0, n1; row 1 → k0 → n0, n1 and k1 → n1 : 5
    assert (o.op, o.input, o.acs, o.macs, o.role) == ("matmul", "spikes", 5, 0, "hidden")
    assert o.dense_macs == 2 * 2 * 3 and m.verdict == "spiking"


def test_softmax_product_is_analog_and_counted():
    m = record(Products("step", B, softmax=True), A.expand(1, 1, 2, 2))
    o = next(o for o in m.ops if o.name == "qk")
    # softmax: 3 MACs per score (4 scores); each of b's 3 events accumulates a column of M = 2 analog values
    assert (o.input, o.macs, o.acs) == ("analog", 3 * 4, 3 * 2)
    assert m.verdict == "hybrid" and m.analog_share() == 1.0


def test_rate_product_is_a_hybrid_analog_operator():
    m = record(Products("rate", B), A.expand(3, 1, 2, 2))     # T = 3
    o = next(o for o in m.ops if o.name == "qk")
    # per step: dense M·K·N = 12, running sums 4 + 6, increment and scaling 2 × 6 → 34 MACs
    assert (o.op, o.input, o.acs, o.macs) == ("rate-product", "analog", 0, 3 * 34)
    assert m.verdict == "hybrid" and m.analog_share() == 1.0


def test_windowed_swin_sites_count_neurons_per_image_and_attention_products():
    torch.manual_seed(0)
    ann = spikemask.create_model("mst_swin_micro", in_channels=1, img_size=28)
    block = ann.layers[0].blocks[0]
    grid, dim = block.grid, block.norm1.num_features
    assert grid // block.window > 1                                            # several windows per image
    for product in ("step", "rate"):
        for mod in ann.modules():
            if hasattr(mod, "mode") and type(mod).__name__ == "AttentionProduct":
                mod.mode = product
        snn = convert(ann)
        with Recorder(snn) as rec:
            simulate(snn, torch.rand(3, 1, 28, 28), 4)
        m = rec.measurement(4)
        sites = {s.name: s for s in m.sites}
        assert sites["layers.0.blocks.0.attn.q_site"].neurons == grid * grid * dim   # 1568 before the fix
        ops = {o.name: o for o in m.ops}
        qk, av = ops["layers.0.blocks.0.attn.qk"], ops["layers.0.blocks.0.attn.av"]
        assert qk.acs + qk.macs > 0 and av.acs + av.macs > 0
        assert qk.op == ("matmul" if product == "step" else "rate-product")
        assert m.verdict == "hybrid" and 0 < m.analog_share() < 1                # softmax='code' is analog
        d = m.to_dict()
        assert d["acs_per_image"] == pytest.approx(sum(o["acs"] for o in d["ops"]))
        assert d["macs_per_image"] == pytest.approx(sum(o["macs"] for o in d["ops"]))
        assert d["delivered_per_image"] == pytest.approx(sum(s["delivered"] for s in d["sites"]))
        assert all(s.fired >= s.delivered for s in m.sites)


def test_masked_cnn_fired_and_delivered():
    torch.manual_seed(0)
    snn = convert(spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.125, levels=4,
                                         mask_ratio=0.5))
    with Recorder(snn) as rec:
        simulate(snn, torch.rand(2, 1, 28, 28), 4)
    m = rec.measurement(4)
    masked = [s for s in m.sites if s.fired > 0 and s.delivered < s.fired]
    assert masked and all(s.fired >= s.delivered for s in m.sites)
    first = m.ops[0]
    assert (first.role, first.input, first.macs) == ("encoding", "data", 2 * 4 * 28 * 28 * 8 * 9)
    assert m.ops[-1].role == "readout" and m.verdict == "spiking"


def test_delivered_over_fired_is_one_minus_the_ratio_over_a_million_spikes():
    site = SpikeSite(IFNeuron(1.0, v_init=0.0), mask_ratio=0.3)
    torch.manual_seed(0)
    m = record(Chain(site), torch.ones(10, 10, 10_000))        # every neuron fires at every step: 10⁶ spikes
    assert m.spikes("fired") * m.images == 1_000_000
    assert m.spikes("delivered") / m.spikes("fired") == pytest.approx(0.7, abs=0.01)


def test_classify():
    assert classify(torch.tensor([0.0, 2.0, 2.0])) == ("spikes", 2.0)
    assert classify(torch.tensor([0.0, -1.5, 1.5])) == ("spikes", 1.5)
    assert classify(torch.tensor([0.0, 0.5, 1.5, 1.0])) == ("multi", 0.5)
    assert classify(torch.tensor([0.0, 0.3, 0.5]))[0] == "analog"
    assert classify(torch.zeros(3)) == ("spikes", 1.0)


def test_bad_input_is_one_clear_error():
    plain = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(SpikemaskError, match="no spike sources"):
        with Recorder(plain):
            pass
    assert not plain._forward_hooks and not plain[0]._forward_hooks     # refused before hooking anything
    with Recorder(Chain(source())) as rec:
        pass
    with pytest.raises(SpikemaskError, match="nothing was recorded"):
        rec.measurement(4)
    with Recorder(Chain(source())) as rec:
        rec.model(torch.ones(2, 1, 3))
    with pytest.raises(SpikemaskError, match="T must be an integer >= 1"):
        rec.measurement(0)
    with pytest.raises(OptionError, match="must be any of"):
        energy_report(rec.measurement(2), ["alpha", "watts"])
    with pytest.raises(OptionError, match="fired.*delivered"):
        energy_report(rec.measurement(2), spikes="sent")


def test_power_model_units():
    assert power_watts(3.9e6, alpha=1.0) == pytest.approx(3.9e9)    # MST Table 3 scale
    assert power_watts(1000, alpha=1e-12) == pytest.approx(1e-6)


def test_spikformer_block_counts_conv1d_and_both_attention_products():
    torch.manual_seed(0)
    model = spikemask.create_model("spikformer_2_64", in_channels=1, img_size=28, time_steps=4).eval()
    with torch.no_grad():                                      # make every LIF fire sometimes
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.weight.fill_(4.0)
                mod.bias.fill_(0.5)
    with Recorder(model) as rec:
        simulate(model, torch.rand(2, 1, 28, 28), 4)
    m = rec.measurement(4)
    ops = {o.name: o for o in m.ops}
    q, qk, av = ops["blocks.0.attn.q.conv"], ops["blocks.0.attn.qk"], ops["blocks.0.attn.av"]
    assert q.op == "conv1d" and q.input in ("spikes", "multi") and q.acs == \
        q.events * 64                                          # 1×1 conv: each event reaches the 64 outputs
    assert qk.input == "spikes" and qk.acs > 0                 # Q·Kᵀ of two spike tensors
    assert av.input in ("spikes", "multi") and av.acs > 0      # (Q·Kᵀ) counts times V spikes
    assert m.verdict == "spiking" and m.analog_share() == 0.0
    assert all(s.fired == s.delivered for s in m.sites)        # no Random Spike Masks in Spikformer


def test_mst_with_eq7_attention_is_spiking_and_patch_merging_counts_the_spikes_before_its_bn():
    torch.manual_seed(0)
    ann = spikemask.create_model("mst_swin_micro", in_channels=1, img_size=28, softmax="none")
    snn = convert(ann.eval())
    with Recorder(snn) as rec:
        simulate(snn, torch.rand(2, 1, 28, 28), 4)
    m = rec.measurement(4)
    reduction = next(o for o in m.ops if o.name == "layers.0.downsample.reduction")
    assert reduction.input in ("spikes", "multi") and reduction.acs > 0 and reduction.macs == 0
    assert m.verdict == "spiking" and m.analog_share() == 0.0
