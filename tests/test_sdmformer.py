"""SDMFormer: SurrogateHeaviside (D3), mask layer, DMConv (D4), LPE (D6), figure analyses, learning."""
import math

import numpy as np
import pytest
import torch

from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError
from spikemask.masks.dynamic import DynamicMask, mask_report
from spikemask.measure.activity import inactive_channel_ratios, position_heatmaps
from spikemask.models import create_model, list_models
from spikemask.models.spikformer.sdmformer import LearnablePositionEmbedding, SDMFormer
from spikemask.snn.functional import repeat_static, reset_net
from spikemask.snn.surrogate import SurrogateHeaviside

from spikformer_helpers import tiny as tiny_model


def tiny(**options) -> SDMFormer:
    return tiny_model("sdmformer_2_64", **options)


# ----------------------------------------------------------------------------- SurrogateHeaviside (§3.2)
def paper_sh(x: float) -> float:
    """SurrogateHeaviside(x) exactly as printed in §3.2."""
    if x < -1:
        return 0.0
    if x < 0:
        return (x + 1) ** 2 / 2
    if x < 1:
        return (2 * x - x * x + 1) / 2
    return 1.0


def paper_sh_grad(x: float) -> float:
    """∂SurrogateHeaviside/∂x as printed in §3.2."""
    if -1 <= x < 0:
        return x + 1
    if 0 <= x < 1:
        return 1 - x
    return 0.0


POINTS = [-2.0, -1.0, -0.75, -0.5, -1e-3, 0.0, 1e-3, 0.25, 0.5, 0.999, 1.0, 1.5]


def test_surrogate_heaviside_forward_is_heaviside_with_h0_1():
    x = torch.tensor(POINTS, dtype=torch.float64)
    assert SurrogateHeaviside.apply(x).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]


def test_surrogate_heaviside_backward_is_the_papers_derivative():
    x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    SurrogateHeaviside.apply(x).sum().backward()
    assert x.grad.tolist() == pytest.approx([paper_sh_grad(v) for v in POINTS], abs=1e-12)
    assert x.grad.tolist()[POINTS.index(-1.0)] == 0.0 and x.grad.tolist()[POINTS.index(0.0)] == 1.0
    assert x.grad.tolist()[POINTS.index(-0.5)] == 0.5 and x.grad.tolist()[POINTS.index(0.5)] == 0.5
    assert x.grad.tolist()[POINTS.index(1.0)] == 0.0


@pytest.mark.parametrize("x", [-0.9, -0.5, -0.1, 0.1, 0.5, 0.9])
def test_backward_is_the_slope_of_the_surrogate_polynomial(x):
    h = 1e-6
    slope = (paper_sh(x + h) - paper_sh(x - h)) / (2 * h)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    SurrogateHeaviside.apply(t).backward()
    assert t.grad.item() == pytest.approx(slope, abs=1e-6)


def test_mask_gate_and_gradient_through_tanh():
    mask = DynamicMask(5).double()
    m = torch.tensor([-2.0, -0.3, 0.0, 0.4, 3.0], dtype=torch.float64)
    with torch.no_grad():
        mask.m.copy_(m)
    gate = mask.gate()
    assert gate.tolist() == [0, 0, 1, 1, 1]
    assert mask.kept().tolist() == [False, False, True, True, True]
    gate.sum().backward()
    expected = [paper_sh_grad(math.tanh(v)) * (1 - math.tanh(v) ** 2) for v in m.tolist()]
    assert mask.m.grad.tolist() == pytest.approx(expected, abs=1e-12)
    assert (mask.m.grad > 0).all()  # tanh m lies in (-1, 1): the gradient never vanishes


def test_mask_multiplies_channels_on_dim_1():
    mask = DynamicMask(3)
    with torch.no_grad():
        mask.m.copy_(torch.tensor([1.0, -1.0, 0.0]))
    x = torch.randn(4, 3, 5)
    y = mask(x)
    assert torch.equal(y[:, 1], torch.zeros(4, 5)) and torch.equal(y[:, [0, 2]], x[:, [0, 2]])


def test_mask_rejects_bad_arguments():
    with pytest.raises(SpikemaskError):
        DynamicMask(0)
    with pytest.raises(SpikemaskError):
        DynamicMask(4, init=float("nan"))


# ----------------------------------------------------------------------------- the model
def test_registered_names_and_sizes():
    for name in ["sdmformer", "sdmformer_2_64", "sdmformer_2_256", "sdmformer_1_512", "sdmformer_4_384"]:
        assert name in list_models()
    model = create_model("sdmformer_2_256", num_classes=10, in_channels=2, img_size=128)
    masks = [p for n, p in model.named_parameters() if n.endswith("mask.m")]
    n_masks = sum(p.numel() for p in masks)
    assert n_masks == 2 * (4 * 256 + 1024 + 256)            # six DMConvs per block (D5)
    assert sum(p.numel() for p in model.parameters()) - n_masks == 1_992_714  # A3
    assert model.pos.embedding.shape == (1, 1, 256, 64)    # D6: D × N, N = 8 × 8
    assert all((p == 0).all() for p in masks)              # A1: m = 0, every channel on


def test_lpe_init_is_truncated_normal_002():
    torch.manual_seed(0)
    lpe = LearnablePositionEmbedding(256, 8)
    assert lpe.embedding.std().item() == pytest.approx(0.02, rel=0.1)
    assert lpe.embedding.abs().max() <= 2.0


def test_mask_init_option():
    model = tiny(mask_init=-1.0)
    assert mask_report(model)["total"]["masked_ratio"] == 1.0
    with pytest.raises(SpikemaskError):
        tiny(mask_init="x")


def test_masked_channels_emit_no_spikes():
    """The mask comes after BN (D4): even a channel with a large BN bias stays silent."""
    model = tiny().eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for name, m in model.named_parameters():
            if name.endswith("mask.m"):
                m.copy_(torch.randn(m.shape))
    units = {n: m for n, m in model.named_modules() if isinstance(getattr(m, "mask", None), DynamicMask)}
    spikes = {}
    for name, unit in units.items():
        unit.lif.register_forward_hook(lambda m, a, out, name=name: spikes.setdefault(name, out))
    simulate(model, torch.rand(4, 1, 16, 16) * 3)
    assert len(units) == 12
    for name, unit in units.items():
        kept = unit.mask.kept()
        assert 0 < kept.sum() < kept.numel()
        assert spikes[name][:, :, ~kept].sum() == 0
        assert spikes[name][:, :, kept].sum() > 0


def test_lpe_and_masks_receive_gradients():
    model = tiny().train()
    logits = model(repeat_static(torch.rand(4, 1, 16, 16) * 3, model.default_time_steps)).mean(0)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert model.pos.embedding.grad is not None and model.pos.embedding.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        if name.endswith("mask.m"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_masks_get_no_weight_decay():
    from spikemask.train.trainer import param_groups
    model = tiny()
    groups = param_groups(model, 0.06)
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert all(id(p) in no_decay for n, p in model.named_parameters() if n.endswith("mask.m"))


def test_mask_report():
    model = tiny()
    with torch.no_grad():
        model.blocks[1].mlp.fc2.mask.m[:48].fill_(-0.5)
    report = mask_report(model)
    assert report["blocks.1.mlp.fc2"] == {"channels": 64, "masked": 48, "masked_ratio": 0.75}
    assert report["blocks.0.attn.q"]["masked"] == 0
    assert report["total"]["masked"] == 48


def test_tiny_sdmformer_learns_random_labels():
    """A few Adam steps fit 16 random images to random labels (training sanity check)."""
    torch.manual_seed(0)
    model = create_model("sdmformer_2_64", num_classes=5, in_channels=1, img_size=16, time_steps=2)
    torch.manual_seed(2)
    x, y = torch.rand(16, 1, 16, 16) * 3, torch.randint(0, 5, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(model(repeat_static(x, 2)).mean(0), y)
        reset_net(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ----------------------------------------------------------------------------- figure analyses
def test_inactive_channel_ratios_match_a_hand_count():
    model = tiny().eval()
    batches = [torch.rand(3, 1, 16, 16) * 3, torch.rand(2, 1, 16, 16) * 3]
    result = inactive_channel_ratios(model, batches, block=0)
    expected = []
    for x in batches:
        reset_net(model)
        with torch.no_grad():
            inp = model.pos(model.patch_embed(repeat_static(x, 2))).flatten(3)       # [T, B, D, N]
            out = model.blocks[0].attn(inp)
        spikes_in = inp - model.pos.embedding
        active = spikes_in.abs().sum(dim=(0, 3)) > 0
        silent = out.sum(dim=(0, 3)) == 0
        expected += (active & silent).float().mean(1).tolist()
    assert result["ratios"] == pytest.approx(expected)
    assert len(result["ratios"]) == 5 and result["median"] == pytest.approx(float(np.median(expected)))


def test_position_heatmaps():
    model = tiny().eval()
    x = torch.rand(2, 1, 16, 16) * 3
    maps = position_heatmaps(model, x)
    assert maps.shape == (2, 2, 2, 2)  # [T, B, h, w]
    with torch.no_grad():
        expected = model.pos(model.patch_embed(repeat_static(x, 2))).mean(2)
    assert np.allclose(maps, expected.numpy())


def test_mask_penalty_option():
    """Our addition (off by default): λ·Σ SH(tanh m) adds λ·SH'(tanh m)(1 - tanh² m) to ∂L/∂m."""
    import copy

    from spikemask.masks.dynamic import DynamicMask
    from spikemask.models.spikformer.pruning import prune

    assert all(m.penalty == 0 for m in tiny().modules() if isinstance(m, DynamicMask))
    mask = DynamicMask(4, init=0.0, penalty=0.01)
    with torch.no_grad():
        mask.m.copy_(torch.tensor([0.0, 0.5, -0.5, 3.0]))
    x = torch.ones(2, 4, 3)
    mask(x).sum().backward()
    t = torch.tanh(mask.m.detach())
    plain = 2 * 3 * (1 - t.abs()).clamp(min=0) * (1 - t * t)          # ∂(Σ y)/∂m without the penalty
    assert torch.allclose(mask.m.grad, plain + 0.01 * (1 - t.abs()).clamp(min=0) * (1 - t * t))
    model = tiny(mask_penalty=1e-3)
    assert model.model_options["mask_penalty"] == 1e-3
    assert all(m.penalty == 1e-3 for m in model.modules() if isinstance(m, DynamicMask))
    copy.deepcopy(model)
    prune(model)
    for bad in (-1.0, float("nan"), "x"):
        with pytest.raises(SpikemaskError):
            tiny(mask_penalty=bad)


def test_mask_penalty_gradient_matches_hand_formula():
    """∂m = grad_from_loss + λ·max(0, 1 - |tanh m|)·(1 - tanh² m), with λ set after construction."""
    torch.manual_seed(0)
    m = torch.tensor([-2.0, -0.4, 0.0, 0.3, 1.5, 4.0])
    x, weight = torch.randn(3, 6, 5), torch.randn(3, 6, 5)

    def grad_of_m(penalty: float) -> torch.Tensor:
        mask = DynamicMask(6)
        mask.set_penalty(penalty)
        with torch.no_grad():
            mask.m.copy_(m)
        (mask(x) * weight).sum().backward()
        return mask.m.grad

    t = torch.tanh(m)
    slope = (1 - t.abs()).clamp(min=0) * (1 - t * t)                     # ∂M/∂m = SH'(tanh m)(1 - tanh² m)
    grad_from_loss = (x * weight).sum(dim=(0, 2)) * slope
    assert torch.allclose(grad_of_m(0.0), grad_from_loss)
    assert torch.allclose(grad_of_m(0.05), grad_from_loss + 0.05 * slope)


def test_mask_penalty_counts_once_per_forward():
    """The penalty rides on gate(): each back-propagated forward adds λ·∂SH/∂m once; kept() adds nothing."""
    mask = DynamicMask(3, penalty=0.5)
    x = torch.zeros(1, 3)                                               # no gradient from the loss itself
    mask.kept()
    mask(x).sum().backward()
    once = mask.m.grad.clone()
    assert torch.allclose(once, torch.full((3,), 0.5))                  # m = 0: SH'(0)·(1 - 0) = 1
    mask.m.grad = None
    (mask(x) + mask(x)).sum().backward()
    assert torch.allclose(mask.m.grad, 2 * once)
