"""Conversion and simulation: equivalences that must hold exactly."""
import pytest
import torch
from torch import nn

import spikemask
from spikemask.convert.conversion import convert
from spikemask.convert.simulate import correct_by_step, cumulative_mean, report_steps, simulate
from spikemask.errors import SpikemaskError
from spikemask.models.layers import qcfs_site
from spikemask.snn.functional import folded_time, repeat_static
from spikemask.snn.neurons import IFNeuron
from spikemask.snn.qcfs import QCFS, qcfs


def small_trained_like_model():
    torch.manual_seed(0)
    model = spikemask.create_model("vgg16", in_channels=1, img_size=28, width=0.125, levels=4).eval()
    for m in model.modules():   # give BN non-trivial statistics so neurons fire
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2)
            m.bias.data.uniform_(0, 0.5)
    return model


def test_convert_replaces_every_qcfs_by_if_with_theta_lambda():
    ann = small_trained_like_model()
    lambdas = [m.threshold.item() for m in ann.modules() if isinstance(m, QCFS)]
    snn = convert(ann)
    thetas = [m.threshold.item() for m in snn.modules() if isinstance(m, IFNeuron)]
    assert thetas == lambdas and len(thetas) == 15
    assert not any(isinstance(m, QCFS) for m in snn.modules())
    assert any(isinstance(m, QCFS) for m in ann.modules())          # the ANN is untouched


def test_one_layer_network_equals_qcfs_ann_when_T_equals_L():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(6, 5), qcfs_site(levels=8, threshold=1.3)).double().eval()
    x = torch.randn(4, 6, dtype=torch.float64)
    snn = convert(ann)
    folded = x.unsqueeze(0).expand(8, 4, 6).reshape(32, 6)
    with folded_time(8):
        assert torch.allclose(snn(folded).reshape(8, 4, 5).mean(0), ann(x), atol=1e-12)


def test_simulation_modes_and_chunks_give_identical_logits():
    snn = convert(small_trained_like_model())
    x = torch.randn(3, 1, 28, 28)
    full = simulate(snn, x, 12)
    assert full.shape == (12, 3, 10) and full.abs().sum() > 0
    # Same spikes; the logits may differ in the last bits because a linear layer over a batch of
    # another size can sum in another order (seen with oneDNN: 4.8e-7). A flipped spike would move
    # a logit by about θ·|w| ≫ 1e-5.
    assert torch.allclose(full, simulate(snn, x, 12, time_chunk=5), rtol=0, atol=1e-5)
    assert torch.allclose(full, simulate(snn, x, 12, time_chunk=1), rtol=0, atol=1e-5)      # single steps


def test_snn_approaches_ann_as_T_grows():
    ann = small_trained_like_model()
    x = torch.randn(8, 1, 28, 28)
    target = ann(repeat_static(x, 1))[0]
    err = {t: (cumulative_mean(simulate(convert(ann), x, t))[-1] - target).abs().mean().item() for t in (4, 64)}
    assert err[64] < err[4]


def test_accuracy_by_step_and_report_steps():
    logits = torch.tensor([[[0.0, 1.0]], [[3.0, 0.0]], [[3.0, 0.0]]])   # T=3, B=1
    assert cumulative_mean(logits)[1].tolist() == [[1.5, 0.5]]
    assert correct_by_step(logits, torch.tensor([0])).tolist() == [0, 1, 1]
    assert report_steps(32) == [1, 2, 4, 8, 16, 32] and report_steps(12) == [1, 2, 4, 8, 12]


@pytest.mark.parametrize("x, match", [
    (torch.randn(2, 3, 28, 28), "3 channels"),
    (torch.randn(2, 1, 32, 32), "32x32 px"),
    (torch.full((2, 1, 28, 28), float("nan")), "NaN"),
    (torch.randn(1, 28, 28), r"\[B, C, H, W\]"),
    (torch.randn(1, 2, 1, 28, 28), "drop time_steps"),                  # frames bring T=1, not 4
])
def test_simulate_rejects_bad_input(x, match):
    snn = convert(small_trained_like_model())
    with pytest.raises(SpikemaskError, match=match):
        simulate(snn, x, 4)


def test_bad_time_steps_and_non_qcfs_models():
    snn = convert(small_trained_like_model())
    with pytest.raises(SpikemaskError, match="T must be"):
        simulate(snn, torch.randn(1, 1, 28, 28), 0)
    with pytest.raises(SpikemaskError, match="no QCFS"):
        convert(nn.Linear(2, 2))


def test_level_jitter_draws_levels_in_training_only():
    from spikemask.snn.qcfs import set_level_jitter
    net = nn.Sequential(nn.Linear(4, 4), QCFS(levels=16), nn.Linear(4, 2), QCFS(levels=16))
    assert set_level_jitter(net, (8, 64)) == 2
    act = net[1]
    torch.manual_seed(0)
    draws = [act.sample_levels() for _ in range(500)]
    assert min(draws) >= 8 and max(draws) <= 64 and len(set(draws)) > 20
    torch.manual_seed(0)
    assert [act.sample_levels() for _ in range(500)] == draws           # seeded runs repeat
    # log-uniform: as many draws below the geometric mean (≈ 22.6) as above it
    assert 0.4 < sum(d < 22.6 for d in draws) / len(draws) < 0.6
    x = torch.linspace(0, 2, 1001)
    act.eval()
    assert torch.equal(act(x), qcfs(x, act.threshold, 16))           # evaluation keeps `levels`
    act.train()
    steps = {len(torch.unique(act(x))) for _ in range(20)}            # one grid of L + 1 values per call
    assert len(steps) > 1 and all(9 <= s <= 65 for s in steps)
    assert set_level_jitter(net, None) == 2 and act.sample_levels() == 16
    with pytest.raises(SpikemaskError, match="LO <= HI"):
        set_level_jitter(net, (64, 8))


def test_a_converted_model_refuses_input_without_time_axis():
    """``snn(x)`` on images ``[B, C, H, W]`` would treat B as T and carry state across images: refused."""
    snn = convert(small_trained_like_model())
    x = torch.randn(4, 1, 28, 28)
    with pytest.raises(SpikemaskError, match=r"time-major input \[T, B, 1, 28, 28\].*repeat_static"):
        snn(x)
    with pytest.raises(SpikemaskError, match=r"\[T, B, 1, 28, 28\]"):
        snn(torch.randn(2, 4, 3, 28, 28))                               # wrong channels
    steps = snn(repeat_static(x, 6))                                      # the contract: [T, B, ...] → [T, B, K]
    assert steps.shape == (6, 4, 10)
    assert torch.allclose(steps, simulate(snn, x, 6), rtol=0, atol=1e-5)  # simulate resets; state was fresh


def test_one_simulate_serves_converted_and_directly_trained_models():
    spikformer = spikemask.create_model("spikformer_2_64", num_classes=3, in_channels=1, img_size=16,
                                        time_steps=3, patch=4, heads=2).eval()
    frames = torch.rand(3, 2, 1, 16, 16)
    a = simulate(spikformer, frames)
    assert a.shape == (3, 2, 3)
    assert torch.equal(a, simulate(spikformer, frames))                  # reset before and after: repeatable
    assert torch.allclose(simulate(spikformer, frames, time_chunk=1), a, atol=1e-5)   # state carried over
    static = torch.rand(2, 1, 16, 16)
    assert simulate(spikformer, static).shape == (3, 2, 3)               # default_time_steps = time_steps
