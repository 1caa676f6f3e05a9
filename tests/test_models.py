"""Model registry and CNN models."""
import pytest
import torch

import spikemask
from spikemask.errors import SpikemaskError
from spikemask.models import model_options
from spikemask.models.layers import SpikeSite


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
    assert m(torch.randn(2, channels, size, size)).shape == (2, 5)


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
    from spikemask.measure import SpikeCounter
    torch.manual_seed(0)
    for name in ("vgg16", "resnet18"):
        snn = convert(spikemask.create_model(name, in_channels=1, img_size=28, width=0.125, levels=4))
        with SpikeCounter(snn) as c:
            simulate(snn, torch.randn(2, 1, 28, 28), 4)
        convs = [n for n, row in c.counts.items() if row.kind == "synapse" and "fc" not in n
                 and "classifier" not in n]
        analog = [n for n in convs if c.counts[n].macs > 0]
        assert analog == [convs[0]], f"{name}: only the first conv should see analog input, got {analog}"
