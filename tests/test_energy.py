"""Spike / SOP / power accounting against hand-computed numbers."""
import pytest
import torch
from torch import nn

from spikemask.measure import SpikeCounter, conv_sops, power_watts
from spikemask.models.layers import SpikeSite
from spikemask.snn.neurons import IFNeuron


def test_conv_sops_counts_exact_fan_out_with_borders():
    conv = nn.Conv2d(1, 2, 3, padding=1)
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 0, 0] = 1   # corner: reaches 2x2 outputs
    x[0, 0, 1, 1] = 1   # centre: reaches 3x3 outputs
    assert conv_sops(x, conv) == (4 + 9) * 2
    strided = nn.Conv2d(1, 1, 2, stride=2)
    assert conv_sops(torch.ones(1, 1, 4, 4), strided) == 16  # each input in exactly one window


def test_counter_on_a_tiny_network_matches_hand_count():
    # input (analog) -> Linear(2->3) -> IF(θ=1) site -> Linear(3->2)
    fc1, fc2 = nn.Linear(2, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.2], [0.0, 0.0]]))
        fc2.weight.fill_(1.0)
    site = SpikeSite(IFNeuron(1.0, v_init=0.0))
    net = nn.Sequential(fc1, site, fc2)
    x = torch.tensor([[1.0, 0.5]]).expand(4, 2)   # analog input, T = 4 steps, B = 1, time-major
    with SpikeCounter(net) as counter:
        net(x)
    # neuron 0 gets 1.0 per step → spikes every step (4); neuron 1 gets 0.6 → v 0.6,1.2*,0.8,1.4* → 2; neuron 2 → 0
    report = counter.report(images=1, time_steps=4)
    assert report.spikes_per_image == 6
    assert report.spikes_per_step == 1.5
    assert report.sops_per_image == 6 * 2            # each spike reaches the 2 outputs of fc2
    assert report.macs_per_image == 4 * 2 * 3        # fc1 on analog input: 4 steps × 2 in × 3 out
    assert report.power_alpha_watts == pytest.approx(1500.0)   # 1.5 spikes per 1 ms step
    assert report.layers["1"]["firing_rate"] == pytest.approx(6 / (4 * 3))


def test_power_model_units():
    assert power_watts(3.9e6, alpha=1.0) == pytest.approx(3.9e9)    # MST Table 3 scale
    assert power_watts(1000, alpha=1e-12) == pytest.approx(1e-6)
