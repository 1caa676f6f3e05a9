"""Model registry and CNN models."""
import pytest
import torch

import spikemask
from spikemask.errors import SpikemaskError
from spikemask.models import model_options, model_sizes
from spikemask.models.layers import SpikeSite
from spikemask.snn.functional import repeat_static


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_registry_lists_and_builds():
    assert {"resnet18", "vgg16"} <= set(spikemask.list_models())
    assert spikemask.list_models("vgg*") == ["vgg16"]
    m = spikemask.create_model("vgg16", num_classes=7, in_channels=1, img_size=28, width=0.125)
    assert (m.model_name, m.num_classes, m.in_channels, m.img_size) == ("vgg16", 7, 1, 28)
    assert model_options("vgg16")["levels"] == 16


def test_resnet18_parameter_count_matches_the_standard_cifar_model():
    # CIFAR ResNet-18: 11,173,962 parameters with 10 classes; ours adds one λ per QCFS site (17)
    model = spikemask.create_model("resnet18")
    sites = sum(isinstance(m, SpikeSite) for m in model.modules())
    assert sites == 17
    assert n_params(model) == 11_173_962 + sites


@pytest.mark.parametrize("name", ["resnet18", "vgg16"])
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (3, 96)])
def test_models_run_at_mnist_cifar_and_imagenet_style_sizes(name, channels, size):
    m = spikemask.create_model(name, num_classes=5, in_channels=channels, img_size=size, width=0.0625).eval()
    assert m(repeat_static(torch.randn(2, channels, size, size), 1)).shape == (1, 2, 5)   # [T, B, K]


def test_unknown_model_and_option_give_clear_errors():
    with pytest.raises(SpikemaskError, match="unknown model 'vgg99'.*available"):
        spikemask.create_model("vgg99")
    with pytest.raises(SpikemaskError, match="has no option.*width="):
        spikemask.create_model("vgg16", depth=3)
    with pytest.raises(SpikemaskError, match="num_classes must be a positive integer"):
        spikemask.create_model("vgg16", num_classes=0)


def test_every_conv_after_the_first_sees_binary_spikes_after_conversion():
    from spikemask.convert.conversion import convert
    from spikemask.convert.simulate import simulate
    from spikemask.measure import Recorder
    torch.manual_seed(0)
    for name in ("vgg16", "resnet18"):
        snn = convert(spikemask.create_model(name, in_channels=1, img_size=28, width=0.125, levels=4))
        with Recorder(snn) as rec:
            simulate(snn, torch.randn(2, 1, 28, 28), 4)
        m = rec.measurement(4)
        convs = [o for o in m.ops if o.op == "conv2d"]
        analog = [o.name for o in convs if o.input in ("analog", "data")]
        assert analog == [convs[0].name], f"{name}: only the first conv should see analog input, got {analog}"
        assert convs[0].role == "encoding" and all(o.role == "hidden" for o in convs[1:])
        assert m.verdict == "spiking"


def test_create_model_keeps_each_models_own_defaults():
    """create_model forwards only what it is given: Spikformer/SDMFormer default to 2-channel 128-px input."""
    for name in ("spikformer", "sdmformer_2_64"):
        m = spikemask.create_model(name)
        assert (m.in_channels, m.img_size, m.num_classes, m.default_time_steps) == (2, 128, 10, 16)
        assert m.model_config.options == {} and m.model_config.name == name
    vgg = spikemask.create_model("vgg16", width=0.0625)
    assert (vgg.in_channels, vgg.img_size, vgg.default_time_steps) == (3, 32, 1)
    assert model_sizes("spikformer") == {"num_classes": 10, "in_channels": 2, "img_size": 128}


def test_a_duplicate_registration_raises():
    from spikemask.models import register_model

    with pytest.raises(ValueError, match="'vgg16' is registered twice"):
        @register_model
        def vgg16(**kwargs):  # noqa: F811 (the point of the test)
            raise AssertionError("never built")
    assert spikemask.create_model("vgg16", width=0.0625).model_name == "vgg16"   # the original is kept


TINY = {"vgg16": dict(width=0.0625), "resnet18": dict(width=0.0625),
        "mst_swin_micro": dict(embed_dim=8, heads=(1, 2)),
        "spikformer_2_64": dict(heads=2, patch=4, time_steps=2), "sdmformer_2_64": dict(heads=2, patch=4, time_steps=2)}


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_family_splits_forward_into_features_and_head(name):
    from spikemask.snn.functional import reset_net
    torch.manual_seed(0)
    m = spikemask.create_model(name, num_classes=4, in_channels=1, img_size=16, **TINY[name]).eval()
    x = torch.rand(3, 2, 1, 16, 16)                                  # [T, B, C, H, W]
    with torch.no_grad():
        logits = m(x)
        reset_net(m)
        features = m.forward_features(x)
        reset_net(m)
        assert logits.shape == (3, 2, 4) and features.dim() == 3 and features.shape[:2] == (3, 2)
        assert torch.equal(m.forward_head(features), logits)
    exempt = m.no_weight_decay()
    assert all(p.dim() > 1 for n, p in m.named_parameters() if n not in exempt)
    assert {n for n, p in m.named_parameters() if p.dim() <= 1} <= exempt


def test_mst_relative_position_bias_gets_no_weight_decay():
    """MST's code and timm's Swin exempt the bias tables (2-D parameters) from weight decay."""
    from spikemask.train.trainer import param_groups
    m = spikemask.create_model("mst_swin_micro", in_channels=1, img_size=28, embed_dim=8, heads=(1, 2))
    tables = {n for n, _ in m.named_parameters() if n.endswith("relative_position_bias_table")}
    assert len(tables) == 4 and tables <= m.no_weight_decay()
    decayed = {id(p) for g in param_groups(m, 0.05) if g["weight_decay"] > 0 for p in g["params"]}
    assert not any(id(p) in decayed for n, p in m.named_parameters() if n in tables)
    assert any(id(p) in decayed for n, p in m.named_parameters() if n.endswith("qkv.weight"))


def test_printed_models_show_their_spiking_settings():
    """``repr`` of a converted MST with held masks and of an SDMFormer names every spiking setting."""
    from spikemask.convert.conversion import convert
    from spikemask.masks.placement import set_mask_ratio
    mst = spikemask.create_model("mst_swin_micro", in_channels=1, img_size=28, embed_dim=8, heads=(1, 2),
                                 product="rate", levels=4)
    set_mask_ratio(mst, 0.5, "*.attn.q_site.mask", seed=1)
    ann_text = repr(mst)
    assert "levels=4, threshold=2" in ann_text and "ratio=0.5, mode='random', seed=1" in ann_text
    assert "grid=14, window=7, shift=3" in ann_text and "softmax='code'" in ann_text
    snn_text = repr(convert(mst, hold_masks=True))
    assert "threshold=2, v_init=0.5, reset=soft, step_mode='m'" in snn_text and "ratio=0.5, held, seed=1" in snn_text
    assert "SpikeProduct(mode='rate')" in snn_text
    sdm = repr(spikemask.create_model("sdmformer_2_64", in_channels=1, img_size=16, patch=4, heads=2,
                                      mask_penalty=0.01))
    assert "channels=64, kept=64, penalty=0.01" in sdm and "reset=hard(v_reset=0.0)" in sdm
