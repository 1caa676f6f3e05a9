"""Physical pruning: the pruned SDMFormer is smaller and gives the masked model's spikes and logits exactly."""
import pytest
import torch

from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError
from spikemask.measure.synaptic import parameter_counts
from spikemask.models import create_model
from spikemask.models.spikformer.pruning import prune
from spikemask.models.spikformer.sdmformer import SDMFormer
from spikemask.models.spikformer.spikformer import TokenConv, widen


def masked_model(seed: int = 0, **options) -> SDMFormer:
    """A small SDMFormer with random masks (m ~ N(0, 1): about half the channels off) and random BN.

    BN scales/shifts are drawn so that every layer fires; eval mode uses the running statistics.
    """
    torch.manual_seed(seed)
    options = {"num_classes": 5, "in_channels": 1, "img_size": 16, "time_steps": 2, **options}
    model = create_model("sdmformer_2_64", **options)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("mask.m"):
                p.normal_()
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(2.0, 4.0)
                m.bias.uniform_(0.0, 1.5)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def record_spikes(model: SDMFormer) -> dict[str, torch.Tensor]:
    """Hook every token conv's LIF; spikes are stored widened back to the unpruned channel positions."""
    spikes: dict[str, torch.Tensor] = {}
    dim = model.config["dim"]
    for name, unit in model.named_modules():
        if isinstance(unit, TokenConv):
            width = 4 * dim if name.endswith("fc1") else dim  # mlp_ratio 4
            def keep(m, args, out, name=name, unit=unit, width=width):
                spikes[name] = widen(out, unit.index, width)
            unit.lif.register_forward_hook(keep)
    return spikes


def test_pruned_model_gives_identical_spikes_and_logits():
    model = masked_model()
    pruned = prune(model)
    x = torch.rand(6, 1, 16, 16) * 3
    a_spikes, b_spikes = record_spikes(model), record_spikes(pruned)
    with torch.no_grad():
        a, b = simulate(model, x), simulate(pruned, x)
    assert torch.equal(a, b)
    assert a_spikes.keys() == b_spikes.keys() and len(a_spikes) == 12
    for name in a_spikes:
        assert a_spikes[name].sum() > 0, name
        assert torch.equal(a_spikes[name], b_spikes[name]), name


def test_pruned_widths_are_not_multiples_of_heads():
    model = masked_model()
    pruned = prune(model)
    widths = [pruned.blocks[i].attn.q.conv.out_channels for i in range(2)]
    assert any(w % 16 for w in widths)
    for name, unit in model.named_modules():
        if isinstance(unit, TokenConv):
            small = pruned.get_submodule(name)
            assert small.conv.out_channels == int(unit.mask.kept().sum())
            assert small.mask.kept().all()
    assert pruned.blocks[0].attn.proj.conv.in_channels == pruned.blocks[0].attn.v.conv.out_channels
    assert pruned.blocks[0].mlp.fc2.conv.in_channels == pruned.blocks[0].mlp.fc1.conv.out_channels


def test_pruning_is_exact_in_train_mode_and_for_frames():
    model = masked_model(seed=3)
    pruned = prune(model)
    model.train()
    pruned.train()
    frames = (torch.rand(3, 4, 1, 16, 16) < 0.3).float()  # [T, B, C, H, W] event-like input
    with torch.no_grad():
        assert torch.equal(simulate(model, frames), simulate(pruned, frames))


def test_fully_masked_layer_keeps_one_silent_channel():
    model = masked_model(seed=1)
    with torch.no_grad():
        model.blocks[1].mlp.fc1.mask.m.fill_(-1.0)
        model.blocks[0].attn.v.mask.m.fill_(-1.0)
    pruned = prune(model)
    assert pruned.blocks[1].mlp.fc1.conv.out_channels == 1
    assert not pruned.blocks[1].mlp.fc1.mask.kept().any()
    x = torch.rand(4, 1, 16, 16) * 3
    with torch.no_grad():
        assert torch.equal(simulate(model, x), simulate(pruned, x))


def test_parameter_counts_of_the_pruned_model():
    model = masked_model()
    pruned = prune(model)
    counts = parameter_counts(model)
    n_pruned = sum(p.numel() for n, p in pruned.named_parameters() if not n.endswith("mask.m"))
    assert n_pruned == counts["physical"] < counts["pruned"] < counts["dense"]
    assert parameter_counts(pruned)["dense"] == n_pruned


def test_prune_is_idempotent_and_rebuilds_from_its_options():
    model = masked_model()
    pruned = prune(model)
    again = prune(pruned)
    assert again.model_options["kept_channels"] == pruned.model_options["kept_channels"]
    rebuilt = create_model(pruned.model_name, num_classes=5, in_channels=1, img_size=16, **pruned.model_options)
    rebuilt.load_state_dict(pruned.state_dict())
    rebuilt.eval()
    x = torch.rand(3, 1, 16, 16) * 3
    with torch.no_grad():
        reference = simulate(pruned, x)
        assert torch.equal(reference, simulate(again, x)) and torch.equal(reference, simulate(rebuilt, x))


def test_prune_keeps_dtype():
    model = masked_model().double()
    pruned = prune(model)
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64) * 3
    with torch.no_grad():
        assert torch.equal(simulate(model, x), simulate(pruned, x))
    assert pruned.head.weight.dtype == torch.float64


def test_only_sdmformer_can_be_pruned():
    with pytest.raises(SpikemaskError):
        prune(create_model("spikformer_2_64", in_channels=1, img_size=16))


def test_bad_kept_channels_raise():
    with pytest.raises(SpikemaskError):
        create_model("sdmformer_2_64", in_channels=1, img_size=16, kept_channels={"blocks.9.attn.q": [0]})
    with pytest.raises(SpikemaskError):
        create_model("sdmformer_2_64", in_channels=1, img_size=16, kept_channels={"blocks.0.attn.q": [3, 1]})
    with pytest.raises(SpikemaskError):
        create_model("sdmformer_2_64", in_channels=1, img_size=16, kept_channels={"blocks.0.attn.q": [64]})

