"""RSM placements in MST: only the named masks drop spikes (Fig. 2 d–e, Fig. 6; M13, M14)."""
import fnmatch

import pytest
import torch

from spikemask.errors import SpikemaskError
from spikemask.masks.placement import MASK_PARTS, mask_blocks, mask_parts, masks, set_mask_ratio
from spikemask.masks.rsm import SpikeMask
from spikemask.models import create_model
from spikemask.snn.functional import repeat_static


def tiny(**options):
    """A small MST with large weights, so that every site fires."""
    torch.manual_seed(0)
    model = create_model("mst_swin_micro", in_channels=1, img_size=28, embed_dim=8, heads=(1, 2),
                         threshold=0.5, **options).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.5)
    return model


def changed_masks(model):
    """Names of the masks whose output differs from their input in one forward pass."""
    changed = set()
    def hook(name):
        return lambda module, inputs, output: None if torch.equal(inputs[0], output) else changed.add(name)
    hooks = [m.register_forward_hook(hook(n)) for n, m in masks(model)]
    with torch.no_grad():
        model(repeat_static(torch.randn(4, 1, 28, 28), 1))
    for h in hooks:
        h.remove()
    return changed


def test_only_q_masks_change_q_spikes():
    model = tiny()
    names = set_mask_ratio(model, 0.5, "*.attn.q_site.mask")
    assert len(names) == 4
    assert changed_masks(model) == set(names)


@pytest.mark.parametrize("parts", [("sa",), ("mlp",), ("sa", "mlp")])
def test_parts_touch_only_their_sites(parts):
    model = tiny()
    names = mask_parts(model, 0.5, parts)
    globs = [g for p in parts for g in MASK_PARTS[p]]
    assert names == [n for n, _ in masks(model) if any(fnmatch.fnmatchcase(n, g) for g in globs)]
    assert changed_masks(model) == set(names)
    assert not any(".v_site." in n for n in names)                       # M13: V is never masked


def test_builder_mask_ratio_masks_q_k_and_scores_like_the_code():
    model = tiny(mask_ratio=0.5)
    masked = {n for n, m in masks(model) if m.ratio > 0}
    assert masked == {n for n, _ in masks(model) if n.split(".")[-2] in ("q_site", "k_site", "a_site")}


def test_mask_first_k_blocks():
    model = tiny()
    names = mask_blocks(model, 0.5, 3, ("sa", "mlp"))
    assert len(names) == 3 * 4
    assert {n.split(".blocks.")[0] + "." + n.split(".blocks.")[1].split(".")[0] for n in names} == \
        {"layers.0.0", "layers.0.1", "layers.1.0"}
    assert changed_masks(model) == set(names)
    mask_blocks(model, 0.5, 1, ("sa",))                    # SA of later blocks back to 0; MLP untouched
    assert len([n for n, m in masks(model) if m.ratio > 0 and ".attn." in n]) == 3
    assert len([n for n, m in masks(model) if m.ratio > 0 and ".mlp." in n]) == 3
    with pytest.raises(SpikemaskError):
        mask_blocks(model, 0.5, 5)
    with pytest.raises(SpikemaskError):
        mask_parts(model, 0.5, ("v",))
    assert all(isinstance(m, SpikeMask) for _, m in masks(model))
