"""Neurons and QCFS: exact oracles."""
import math

import pytest
import torch

from spikemask.errors import SpikemaskError
from spikemask.snn.functional import folded_time, reset_net, set_step_mode
from spikemask.snn.neurons import IFNeuron, LIFNeuron
from spikemask.snn.qcfs import QCFS, qcfs


@pytest.mark.parametrize("levels", [1, 4, 16])
def test_if_neuron_reproduces_qcfs_for_constant_input_when_T_equals_L(levels):
    torch.manual_seed(0)
    lam = torch.tensor(1.7, dtype=torch.float64)
    x = torch.empty(5000, dtype=torch.float64).uniform_(-0.5, 2.2)   # below 0, inside, above λ
    expected = qcfs(x, lam, levels)
    neuron = IFNeuron(threshold=lam, v_init=0.5)
    out = neuron(x.expand(levels, -1).clone())                     # [T=L, N] constant input
    spike_counts = (out != 0).sum(0)
    assert torch.equal(spike_counts, torch.round(expected / lam * levels).long())   # exact, integer
    assert torch.allclose(out.mean(0), expected, rtol=0, atol=1e-12)


def test_qcfs_formula_and_straight_through_gradient():
    lam = torch.tensor(2.0, requires_grad=True)
    x = torch.tensor([-1.0, 0.1, 0.3, 1.0, 1.9, 3.0], requires_grad=True)
    y = qcfs(x, lam, 4)
    # λ·clip(floor(x·L/λ + 0.5)/L, 0, 1): floor(x·2 + 0.5)/4·2
    assert y.tolist() == [0.0, 0.0, 0.5, 1.0, 2.0, 2.0]
    y.sum().backward()
    # straight-through floor; torch.clamp passes gradient only where the quantised value lies strictly
    # inside (0, 1), exactly as the QCFS reference implementation (which also uses torch.clamp)
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    assert lam.grad.item() != 0.0


def test_qcfs_module_rejects_zero_levels():
    with pytest.raises(SpikemaskError):
        QCFS(levels=0)


def _step_by_step(neuron, x):
    neuron.reset()
    neuron.step_mode = "s"
    out = torch.stack([neuron(x[t]) for t in range(x.shape[0])])
    neuron.step_mode = "m"
    neuron.reset()
    return out


@pytest.mark.parametrize("make", [
    lambda: IFNeuron(threshold=0.8),
    lambda: LIFNeuron(tau=2.0, v_reset=0.0),
    lambda: LIFNeuron(tau=3.0, v_reset=None, surrogate="atan", threshold=0.7),
    lambda: LIFNeuron(tau=2.0, decay_input=False),
])
def test_multi_step_equals_single_step_and_chunked(make):
    torch.manual_seed(1)
    x = torch.randn(12, 3, 5, 7) * 1.5
    neuron = make()
    multi = neuron(x)
    neuron.reset()
    chunked = torch.cat([neuron(x[:5]), neuron(x[5:])])
    assert torch.equal(multi, chunked)
    assert torch.equal(multi, _step_by_step(neuron, x))
    assert multi.sum() > 0 and (multi == 0).any()


def test_folded_input_equals_time_major():
    x = torch.randn(6, 4, 3)
    a = IFNeuron(0.5)
    b = IFNeuron(0.5)
    with folded_time(6):
        assert torch.equal(a(x).flatten(0, 1), b(x.flatten(0, 1)))


def test_lif_hand_computed_trace():
    # τ = 2, hard reset to 0, threshold 1: v ← v + (x − v)/2
    lif = LIFNeuron(tau=2.0, threshold=1.0, v_reset=0.0)
    x = torch.tensor([[1.5], [1.5], [1.5], [0.0]])
    # v: 0.75 (no), 1.125 (spike → 0), 0.75 (no), 0.375 (no)
    assert lif(x).flatten().tolist() == [0.0, 1.0, 0.0, 0.0]
    assert lif.v.item() == pytest.approx(0.375)


@pytest.mark.parametrize("surrogate, alpha, expected", [
    ("sigmoid", 4.0, lambda x: 4 * torch.sigmoid(4 * x) * (1 - torch.sigmoid(4 * x))),
    ("atan", 2.0, lambda x: 1.0 / (1 + (math.pi / 2 * 2 * x) ** 2)),
])
def test_surrogate_gradients(surrogate, alpha, expected):
    lif = LIFNeuron(tau=2.0, threshold=1.0, surrogate=surrogate, alpha=alpha)
    x = torch.tensor([[0.4, 2.0, 3.0]], requires_grad=True)  # one step: v = x/2
    lif(x).sum().backward()
    v_minus_th = x.detach() / 2 - 1.0
    assert torch.allclose(x.grad, expected(v_minus_th) / 2)  # dv/dx = 1/τ


def test_network_helpers_and_bad_options():
    net = torch.nn.Sequential(IFNeuron(), torch.nn.Identity(), LIFNeuron())
    with folded_time(4):
        net(torch.rand(8, 3))
    assert net[0].v.shape == (2, 3) and net[2].v.shape == (2, 3)       # unfolded to [T=4, B=2, 3]
    with pytest.raises(SpikemaskError, match="multiple of T"), folded_time(3):
        net(torch.rand(8, 3))
    reset_net(net)
    assert net[0].v is None and net[2].v is None
    set_step_mode(net, "s")
    assert net[2].step_mode == "s"
    with pytest.raises(SpikemaskError):
        set_step_mode(net, "x")
    with pytest.raises(SpikemaskError):
        LIFNeuron(surrogate="nope")
    with pytest.raises(SpikemaskError):
        LIFNeuron(tau=0.5)
