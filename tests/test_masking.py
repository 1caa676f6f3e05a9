"""Random Spike Masking: statistics, reproducibility, identity at 0, placement by name."""
import pytest
import torch

from spikemask import create_model
from spikemask.errors import SpikemaskError
from spikemask.masks.placement import masks, set_mask_ratio
from spikemask.masks.rsm import SpikeMask, random_spike_mask


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_masked_fraction_within_half_percent_over_a_million_spikes(ratio):
    spikes = torch.ones(1_000_000)
    kept = SpikeMask(ratio, seed=3)(spikes)
    assert abs((1 - kept.mean().item()) - ratio) < 0.005
    assert set(kept.unique().tolist()) <= {0.0, 1.0}      # no 1/(1-p) rescaling


def test_same_seed_same_masks_and_fresh_mask_each_call():
    x = torch.ones(4, 1000)
    a, b = SpikeMask(0.5, seed=7), SpikeMask(0.5, seed=7)
    first = a(x)
    assert torch.equal(first, b(x))
    assert not torch.equal(first, a(x))                   # a new mask per call (per time step)
    a.reseed()
    assert torch.equal(first, a(x))                       # reseeding restarts the stream


def test_ratio_zero_is_exact_identity():
    x = torch.randn(100)
    assert SpikeMask(0.0)(x) is x
    assert random_spike_mask(x, 0.0) is x


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_ratio_outside_unit_interval_is_rejected(bad):
    with pytest.raises(SpikemaskError, match=r"\[0, 1\)"):
        SpikeMask(bad)


def test_set_mask_ratio_by_glob_touches_only_named_masks():
    model = create_model("resnet18", in_channels=1, img_size=28, width=0.125)
    hit = set_mask_ratio(model, 0.5, "layers.0.*")
    assert hit == ["layers.0.act1.mask", "layers.0.act2.mask"]
    ratios = {name: m.ratio for name, m in masks(model)}
    assert all(r == (0.5 if name in hit else 0.0) for name, r in ratios.items())
    with pytest.raises(SpikemaskError, match="no mask matches"):
        set_mask_ratio(model, 0.5, "nothing.*")


def test_expected_mode_scales_in_the_ann_and_converts_to_random_masks():
    from spikemask.convert.conversion import convert
    model = create_model("vgg16", in_channels=1, img_size=28, width=0.0625, levels=4)
    set_mask_ratio(model, 0.75, mode="expected")
    mask = masks(model)[0][1]
    x = torch.ones(1000)
    assert torch.equal(mask(x), torch.full((1000,), 0.25))          # mean of a random 75 % mask
    snn = convert(model)
    assert all(m.mode == "random" for _, m in masks(snn))
    assert all(m.mode == "expected" for _, m in masks(model))      # the ANN is untouched
    with pytest.raises(SpikemaskError, match="mask mode"):
        set_mask_ratio(model, 0.5, mode="mean")


def test_held_mask_keeps_one_draw_for_all_steps_in_every_step_mode():
    from spikemask.masks.rsm import HeldSpikeMask
    from spikemask.snn.functional import folded_time, reset_net, set_step_mode
    T, B = 6, 4
    x = torch.ones(T, B, 2500)
    held = HeldSpikeMask(0.75, seed=3)
    out = held(x)
    assert all(torch.equal(out[t], out[0]) for t in range(T))            # the same mask at every step
    assert abs(1 - out[0].mean().item() - 0.75) < 0.02                   # 10,000 draws at ratio 0.75
    held.reseed()
    reset_net(held)
    with folded_time(T):
        assert torch.equal(held(x.flatten(0, 1)).view(T, B, -1), out)  # folded [T·B, ...] input
    held.reseed()
    reset_net(held)
    chunks = torch.cat([held(x[:2]), held(x[2:])])                       # chunked: state carries over
    assert torch.equal(chunks, out)
    held.reseed()
    reset_net(held)
    set_step_mode(held, "s")
    assert torch.equal(torch.stack([held(x[t]) for t in range(T)]), out)
    reset_net(held)                                                      # a new input draws a new mask
    assert not torch.equal(held(x[0]), out[0])
    assert torch.equal(HeldSpikeMask(0.0)(x), x)


def test_convert_with_held_masks_replaces_every_mask_and_keeps_ratio_and_seed():
    from spikemask.convert.conversion import convert
    from spikemask.masks.placement import masks, set_mask_ratio
    from spikemask.masks.rsm import HeldSpikeMask
    from spikemask.models import create_model
    ann = create_model("vgg16", width=0.125, num_classes=10, in_channels=1, img_size=28)
    set_mask_ratio(ann, 0.5, "*", seed=7)
    snn = convert(ann, hold_masks=True)
    before, after = masks(ann), masks(snn)
    assert len(after) == len(before) > 0
    assert all(isinstance(m, HeldSpikeMask) and m.ratio == b.ratio and m.seed == b.seed
               for (_, m), (_, b) in zip(after, before))
    assert not any(isinstance(m, HeldSpikeMask) for _, m in masks(convert(ann)))


def test_held_masks_take_a_ratio_but_refuse_the_expected_mode():
    from spikemask.convert.conversion import convert
    from spikemask.errors import SpikemaskError
    from spikemask.masks.placement import masks, set_mask_ratio
    from spikemask.models import create_model
    snn = convert(create_model("vgg16", width=0.125, num_classes=10, in_channels=1, img_size=28), hold_masks=True)
    set_mask_ratio(snn, 0.25, "*")
    assert all(m.ratio == 0.25 for _, m in masks(snn))
    with pytest.raises(SpikemaskError, match="held SNN mask"):
        set_mask_ratio(snn, 0.5, "*", mode="expected")
