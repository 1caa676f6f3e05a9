"""Spikformer baseline (FAITHFULNESS S1–S8): sizes, pooling rule, input convention, SSA math."""
import pytest
import torch

from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError
from spikemask.models import create_model, list_models
from spikemask.models.spikformer.spikformer import Spikformer, pooled_side, pooling_stages
from spikemask.snn.functional import repeat_static, reset_net

from spikformer_helpers import answer
from spikformer_helpers import tiny as tiny_model


def tiny(**options) -> Spikformer:
    return tiny_model("spikformer_2_64", **options)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registered_names():
    for name in ["spikformer", "spikformer_2_64", "spikformer_2_256", "spikformer_1_512", "spikformer_4_384"]:
        assert name in list_models()


def test_parameter_count_matches_paper():
    model = create_model("spikformer_2_256", num_classes=10, in_channels=2, img_size=128)
    n = n_params(model)
    # Official 2,585,610 (S6) minus its unused pos_embed (64·256) and LayerNorms (5·2·256).
    assert n == 2_585_610 - 16_384 - 2_560
    assert abs(n - 2_585_610) / 2_585_610 < 0.02 and round(n / 1e6, 2) == 2.57
    assert n_params(create_model("spikformer", num_classes=10, in_channels=2, img_size=128)) == n
    # Spikformer-1-512: official 7,110,666 minus pos_embed 64·512 and 3 LayerNorms of 2·512.
    assert n_params(create_model("spikformer_1_512", num_classes=10, in_channels=2, img_size=128)) == 7_110_666 - 35_840
    # The RPE share that SDMFormer's LPE removes (A14: 22.83 % of the official count).
    rpe = n_params(model.pos)
    assert rpe == 590_336 and round(rpe / 2_585_610, 4) == 0.2283


@pytest.mark.parametrize("img_size, patch, pools, side", [
    (128, 16, 4, 8), (32, 16, 4, 2), (28, 16, 4, 2), (16, 16, 3, 2), (28, 4, 2, 7), (3, 16, 1, 2), (1, 16, 0, 1)])
def test_pooling_rule(img_size, patch, pools, side):
    assert pooling_stages(img_size, patch) == pools
    assert pooled_side(img_size, pools) == side


def test_token_grid_follows_the_image_size():
    model = tiny(img_size=28)
    seen = {}
    model.pos.register_forward_hook(lambda m, a, out: seen.setdefault("pos", out))
    simulate(model, torch.rand(3, 1, 28, 28))
    assert seen["pos"].shape == (2, 3, 64, 2, 2)
    # the last `pools` SPS stages pool: 28 px, patch 4 -> stages 2 and 3 pool, 7x7 tokens
    model = tiny(img_size=28, patch=4)
    pools = [type(s.pool).__name__ for s in model.patch_embed.stages]
    assert pools == ["Identity", "Identity", "MaxPool2d", "MaxPool2d"]
    assert model.grid == 7


def test_static_input_equals_repeated_frames_and_state_is_reset():
    model = tiny().eval()
    x = torch.rand(3, 1, 16, 16) * 3
    frames = x.unsqueeze(0).repeat(2, 1, 1, 1, 1)
    a, b, c = answer(model, x), answer(model, frames), answer(model, x)
    assert a.shape == (3, 5)
    assert torch.equal(a, b) and torch.equal(a, c)
    with torch.no_grad():                           # the forward itself keeps state until reset_net
        first, second = model(frames), model(frames)
    assert not torch.equal(first, second)


def test_frames_bring_their_own_time_steps():
    model = tiny().eval()
    with torch.no_grad():
        assert simulate(model, torch.rand(5, 2, 1, 16, 16)).shape == (5, 2, 5)


def test_head_averages_tokens_per_step_and_the_answer_averages_time():
    model = tiny().eval()
    x = torch.rand(2, 1, 16, 16) * 3
    with torch.no_grad():
        tokens = model.forward_tokens(repeat_static(x, 2))
        reset_net(model)
        steps = model(repeat_static(x, 2))
        assert torch.allclose(steps, model.head(tokens.mean(3)), atol=1e-6)      # [T, B, K]
        # the official head of the T-mean equals the T-mean of the per-step logits (the head is linear)
        assert torch.allclose(steps.mean(0), model.head(tokens.mean(3).mean(0)), atol=1e-6)


def test_neuron_settings():
    model = tiny()
    lifs = [m for m in model.modules() if type(m).__name__ == "LIFNeuron"]
    assert len(lifs) == 4 + 1 + 2 * 7  # SPS, RPE, per block q k v attn proj fc1 fc2
    for n in lifs:
        settings = (n.tau, n.v_reset, n.surrogate, n.alpha, n.detach_reset, n.decay_input)
        assert settings == (2.0, 0.0, "sigmoid", 4.0, True, True)
    assert model.blocks[0].attn.attn_lif.threshold == 0.5
    assert model.blocks[0].attn.q.lif.threshold == 1.0


def test_ssa_is_softmax_free_qkv_times_quarter():
    """The attention neuron's input equals Σ_heads (Q Kᵀ) V · 0.25 computed by hand from the Q, K, V spikes."""
    model = tiny(heads=4).eval()
    attn = model.blocks[0].attn
    seen = {}
    for name in ("q", "k", "v"):
        getattr(attn, name).register_forward_hook(lambda m, a, out, name=name: seen.setdefault(name, out))
    attn.attn_lif.register_forward_hook(lambda m, a, out: seen.setdefault("attn_in", a[0]))
    simulate(model, torch.rand(2, 1, 16, 16) * 3)
    q, k, v = seen["q"], seen["k"], seen["v"]            # [T, B, D, N]
    assert q.sum() > 0 and k.sum() > 0 and v.sum() > 0
    T, B, D, N = q.shape
    d = D // 4
    expected = torch.zeros(T, B, D, N)
    for h in range(4):
        c = slice(h * d, (h + 1) * d)
        scores = torch.einsum("tbcn,tbcm->tbnm", q[:, :, c], k[:, :, c])       # Q Kᵀ, [T, B, N, N]
        expected[:, :, c] = torch.einsum("tbnm,tbcm->tbcn", scores, v[:, :, c]) * 0.25
    assert torch.equal(seen["attn_in"], expected)


def test_rpe_adds_spikes_without_a_neuron():
    model = tiny().eval()
    seen = {}
    model.pos.register_forward_hook(lambda m, a, out: seen.setdefault("out", out))
    simulate(model, torch.rand(4, 1, 16, 16) * 3)
    assert set(seen["out"].unique().tolist()) <= {0.0, 1.0, 2.0}


@pytest.mark.parametrize("options", [{"heads": 5}, {"patch": 3}, {"time_steps": 0}, {"mlp_ratio": 0.0}])
def test_bad_options_raise(options):
    with pytest.raises(SpikemaskError):
        tiny(**options)


def test_bad_dim_raises():
    with pytest.raises(SpikemaskError):
        Spikformer(depth=1, dim=12, heads=2)


def test_bad_input_shape_raises():
    model = tiny()
    with pytest.raises(SpikemaskError, match="3 channels"):
        simulate(model, torch.rand(2, 3, 16, 16))
    with pytest.raises(SpikemaskError, match="32x32 px"):
        simulate(model, torch.rand(2, 1, 32, 32))
    with pytest.raises(SpikemaskError, match=r"expected time-major input \[T, B, 1, 16, 16\]"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(SpikemaskError, match=r"expected input \[T, B, 1, 16, 16\]"):
        model(torch.rand(2, 2, 1, 32, 32))


def test_sps_stage_fires_before_pooling():
    """S1 / S8(a): conv → BN → LIF → MaxPool (the official order; SpikingJelly 2.0 pools before the LIF)."""
    model = tiny().eval()
    stage = model.patch_embed.stages[3]
    x = (torch.rand(2, 3, 32, 4, 4) < 0.5).float()
    with torch.no_grad():
        out = stage(x)
        stage.lif.reset()
        v = stage.bn(stage.conv(x.flatten(0, 1))).unflatten(0, (2, 3))
        expected = torch.nn.functional.max_pool2d(stage.lif(v).flatten(0, 1), 3, 2, 1).unflatten(0, (2, 3))
    assert torch.equal(out, expected) and out.sum() > 0
