"""MST Swin model: window geometry, shifted-window masks, parameter counts, conversion modes."""
import pytest
import torch

from spikemask.convert.conversion import convert
from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError
from spikemask.models import create_model, model_options
from spikemask.models.layers import SpikeSite
from spikemask.models.mst.swin import fit_window, padded_size, shift_mask, window_partition, window_reverse
from spikemask.snn.functional import repeat_static


def test_window_partition_round_trip_and_layout():
    x = torch.randn(2, 8, 12, 3)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 16, 3)
    assert torch.equal(windows[0], x[0, :4, :4].reshape(16, 3))          # first window, row-major
    assert torch.equal(windows[1], x[0, :4, 4:8].reshape(16, 3))         # then along the row
    assert torch.equal(windows[6], x[1, :4, :4].reshape(16, 3))          # image-major
    assert torch.equal(window_reverse(windows, 4, 8, 12), x)


@pytest.mark.parametrize("grid,window,shift", [(8, 4, 2), (6, 3, 1), (9, 3, 1)])
def test_shift_mask_matches_brute_force(grid, window, shift):
    """After rolling by −shift, two tokens of a window may attend iff they were also within one
    window's reach (< w apart on both axes) in the unrolled map, i.e. not from opposite edges."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    origin = torch.stack([(rows + shift) % grid, (cols + shift) % grid], -1).float()  # rolled (i,j) came from here
    origin = window_partition(origin.unsqueeze(0), window)                           # [nW, w², 2]
    dist = (origin[:, :, None, :] - origin[:, None, :, :]).abs()
    allowed = (dist < window).all(-1)
    mask = shift_mask(grid, window, shift)
    assert mask.shape == allowed.shape
    assert torch.equal(mask == 0, allowed)
    assert set(mask.unique().tolist()) <= {0.0, -100.0}


def test_padding_and_window_fitting():
    assert padded_size(28, 4, 4) == 32 and padded_size(224, 4, 4) == 224 and padded_size(28, 2, 2) == 28
    assert [fit_window(g, 7) for g in (56, 28, 14, 7, 8, 4, 2, 1)] == [7, 7, 7, 7, 4, 4, 2, 1]
    m = create_model("mst_swin_micro", in_channels=1, img_size=28)
    assert m.stage_grids == [14, 7] and m.stage_windows == [7, 7] and m.input_pad == (0, 0)
    blocks = m.blocks()
    assert [b.shift for b in blocks] == [0, 3, 0, 0]                     # one-window stage: no shift
    m = create_model("mst_swin_tiny_cifar", in_channels=1, img_size=28)
    assert m.input_pad == (2, 2) and m.stage_grids == [16, 8, 4]
    assert m(repeat_static(torch.randn(2, 1, 28, 28), 1)).shape == (1, 2, 10)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def swin_t(**options):
    """mst_swin_t on the meta device: shapes only, no memory or initialisation time."""
    with torch.device("meta"):
        return create_model("mst_swin_t", **options)


def test_swin_t_parameter_counts_match_paper_and_code():
    """M8: the authors' code gives 27,527,168 (CIFAR-10, no MLP BN) and 28,332,638 (ImageNet);
    MST Table 1 says 27.6 M and 28.5 M. We accept 2 %."""
    cifar224 = swin_t(num_classes=10, img_size=224)
    imagenet = swin_t(num_classes=1000, img_size=224)
    cifar32 = swin_t(num_classes=10, img_size=32)
    assert n_params(imagenet) == 28_332_638
    assert n_params(swin_t(num_classes=10, img_size=224, mlp_bn=False)) == 27_527_168
    assert n_params(cifar224) == 27_571_328
    assert n_params(cifar32) == 27_549_584                                 # smaller position-bias tables
    for model, paper in ((cifar224, 27.6e6), (cifar32, 27.6e6), (imagenet, 28.5e6)):
        assert abs(n_params(model) - paper) / paper < 0.02
    assert sum(isinstance(m, SpikeSite) for m in imagenet.modules()) == 124   # M5


def test_options_and_errors():
    opts = model_options("mst_swin_t")
    assert opts["levels"] == 16 and opts["threshold"] == 2.0 and opts["softmax"] == "code"
    assert opts["window_size"] == 7 and opts["depths"] == (2, 2, 6, 2)
    with pytest.raises(SpikemaskError):
        create_model("mst_swin_micro", softmax="exp")
    with pytest.raises(SpikemaskError):
        create_model("mst_swin_micro", product="mean")
    with pytest.raises(SpikemaskError):
        create_model("mst_swin_micro", heads=(3, 4))
    reduced = create_model("mst_swin_micro", in_channels=8, img_size=28, in_reduce=True)   # M18
    assert reduced.in_reduce.weight.shape == (3, 8, 1, 1)
    assert reduced(repeat_static(torch.randn(2, 8, 28, 28), 3)).shape == (3, 2, 10)
    assert isinstance(create_model("mst_swin_micro", final_norm="ln").norm, torch.nn.LayerNorm)


@pytest.mark.parametrize("product", ["step", "rate"])
def test_converted_model_single_step_and_chunks_match_folded(product):
    torch.manual_seed(0)
    model = create_model("mst_swin_micro", in_channels=1, img_size=28, embed_dim=8, heads=(1, 2),
                         product=product, mask_ratio=0.0).eval()
    snn = convert(model)
    x = torch.randn(2, 1, 28, 28)
    folded = simulate(snn, x, 6)
    assert torch.allclose(simulate(snn, x, 6, time_chunk=1), folded, atol=1e-5)
    assert torch.allclose(simulate(snn, x, 6, time_chunk=4), folded, atol=1e-5)
