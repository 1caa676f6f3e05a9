"""Loading timm/Microsoft-format Swin weights into MST: names mapped, shapes checked, report exact."""
import re

import pytest
import torch

from spikemask.errors import SpikemaskError
from spikemask.models import create_model
from spikemask.models.mst.pretrained import load_swin_weights


def small(num_classes=10):
    return create_model("mst_swin_micro", num_classes=num_classes, in_channels=3, img_size=32, embed_dim=8,
                        heads=(1, 2), depths=(2, 2))


def is_mst_only(key):
    """Keys a LayerNorm Swin does not have: QCFS thresholds, MLP BNs, BN running statistics."""
    return key.endswith("act.threshold") or ".mlp.bn" in key or \
        key.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")


def timm_style(model, new_layout):
    """Our state dict renamed to timm names (≥ 0.9 layout if ``new_layout``), MST-only keys dropped,
    plus a computed buffer and a key we do not have; the head has 1000 classes."""
    out = {}
    for key, value in model.state_dict().items():
        if is_mst_only(key):
            continue
        if new_layout:
            key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) + 1}.downsample.", key)
            key = key.replace("head.", "head.fc.")
        out[key] = value.clone()
    head = "head.fc." if new_layout else "head."
    out[head + "weight"], out[head + "bias"] = torch.randn(1000, 16), torch.randn(1000)
    out["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49, 49, dtype=torch.long)
    out["absolute_pos_embed"] = torch.zeros(1, 256, 8)
    return out


@pytest.mark.parametrize("new_layout", [True, False])
def test_loader_reports_loaded_missing_and_mismatched(new_layout):
    torch.manual_seed(0)
    source_model, target = small(), small()
    weights = timm_style(source_model, new_layout)
    wrapped = weights if new_layout else {"model": weights}                 # Microsoft files wrap in "model"
    report = load_swin_weights(target, wrapped)

    ours = source_model.state_dict()
    expected_loaded = sorted(k for k in ours if not is_mst_only(k) and not k.startswith("head."))
    assert report.loaded == expected_loaded
    assert report.mismatched == {"head.weight": {"theirs": [1000, 16], "ours": [10, 16]},
                                 "head.bias": {"theirs": [1000], "ours": [10]}}
    assert report.missing == sorted(k for k in ours if is_mst_only(k))
    assert report.unused == ["absolute_pos_embed"]
    assert report.ignored == ["layers.0.blocks.0.attn.relative_position_index"]
    after = target.state_dict()
    assert all(torch.equal(after[k], ours[k]) for k in expected_loaded)
    assert not torch.equal(after["head.weight"], ours["head.weight"])   # left at its own initialisation
    assert "downsample" in report.summary() or "loaded" in report.summary()


def test_loader_rejects_files_without_a_state_dict(tmp_path):
    with pytest.raises(SpikemaskError):
        load_swin_weights(small(), {"epoch": 3})
    with pytest.raises(SpikemaskError):
        load_swin_weights(small(), tmp_path / "missing.pth")
