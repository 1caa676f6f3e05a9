"""The authors' checkpoints load into our models (issue "Fit the ecosystem", item 2).

The state dicts are generated here in the authors' exact layouts — key names, shapes and which
tensors exist, written down by hand from bic-L/Masked-Spiking-Transformer @368c9a5 (``models/mst.py``,
``modules_QCFS.py``) and ZK-Zhou/spikformer @6212689 (``cifar10dvs/model.py``, ``cifar10/model.py``) —
with random values. The generators reproduce FAITHFULNESS M8 and S6's parameter counts, which were
computed from the official modules, so the layouts are theirs. Each is then loaded through the
family's filter: nothing missing or unexplained, each tensor in the right place (checked through our
modules, not through key names), and the loaded model converts and runs.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import types

import pytest
import torch

import spikemask.cli as cli
from spikemask.checkpoint import load_checkpoint
from spikemask.convert.conversion import convert
from spikemask.convert.simulate import simulate
from spikemask.errors import SpikemaskError
from spikemask.models import create_model
from spikemask.models.mst.official import load_official_mst
from spikemask.models.official import read_official
from spikemask.models.record import build_model
from spikemask.models.spikformer.official import load_official_spikformer
from spikemask.models.spikformer.spikformer import lif
from spikemask.snn.neurons import IFNeuron

Layout = dict  # key → (shape, kind): "param", "up" (QCFS λ, a parameter), "stat", "var", "count" or a buffer spec


# ----------------------------------------------------------------------------- the authors' layouts, by hand
def batchnorm(prefix: str, c: int) -> Layout:
    """``nn.BatchNorm1d/2d(c)``: affine parameters, running statistics and the batch counter."""
    return {f"{prefix}.weight": ((c,), "param"), f"{prefix}.bias": ((c,), "param"),
            f"{prefix}.running_mean": ((c,), "stat"), f"{prefix}.running_var": ((c,), "var"),
            f"{prefix}.num_batches_tracked": ((), "count")}


def layernorm(prefix: str, c: int) -> Layout:
    return {f"{prefix}.weight": ((c,), "param"), f"{prefix}.bias": ((c,), "param")}


def official_mst_layout(embed_dim: int = 96, depths: tuple = (2, 2, 6, 2), heads: tuple = (3, 6, 12, 24),
                        window: int = 7, patch: int = 4, img_size: int = 224, in_chans: int = 3,
                        num_classes: int = 10, imagenet: bool = False) -> Layout:
    """``MaskedSpikingTransformer(...)`` after ``replace_activation_by_floor``: every ``*_if`` is a MyFloor
    with ``up`` ``[1]``; BN1d norms; MLP BN (``mlp.norm1/norm2``) only for ImageNet; a final LayerNorm;
    persistent ``relative_position_index`` in every block and ``attn_mask`` in shifted blocks."""
    out = {"patch_embed.proj.weight": ((embed_dim, in_chans, patch, patch), "param"),
           "patch_embed.proj.bias": ((embed_dim,), "param"), "patch_embed.proj_if.up": ((1,), "up"),
           **batchnorm("patch_embed.norm", embed_dim)}
    for i, (depth, h) in enumerate(zip(depths, heads)):
        dim, res = embed_dim * 2 ** i, img_size // patch // 2 ** i
        w = min(res, window)                       # a grid no larger than the window is one window, unshifted
        for j in range(depth):
            b = f"layers.{i}.blocks.{j}"
            out.update(batchnorm(f"{b}.norm1", dim))
            out[f"{b}.shortcut1_if.up"] = ((1,), "up")
            out[f"{b}.attn.relative_position_bias_table"] = (((2 * w - 1) ** 2, h), "param")
            out[f"{b}.attn.relative_position_index"] = ((w * w, w * w), ("index", w))
            out[f"{b}.attn.qkv.weight"] = ((3 * dim, dim), "param")
            out[f"{b}.attn.qkv.bias"] = ((3 * dim,), "param")
            for site in ("q_if", "k_if", "v_if", "attn_if", "attn_v_if"):
                out[f"{b}.attn.{site}.up"] = ((1,), "up")
            out[f"{b}.attn.proj.weight"] = ((dim, dim), "param")
            out[f"{b}.attn.proj.bias"] = ((dim,), "param")
            out[f"{b}.attn.proj_if.up"] = ((1,), "up")
            out.update(batchnorm(f"{b}.norm2", dim))
            out[f"{b}.shortcut2_if.up"] = ((1,), "up")
            out[f"{b}.mlp.fc1.weight"] = ((4 * dim, dim), "param")
            out[f"{b}.mlp.fc1.bias"] = ((4 * dim,), "param")
            if imagenet:
                out.update(batchnorm(f"{b}.mlp.norm1", 4 * dim))
            out[f"{b}.mlp.fc1_if.up"] = ((1,), "up")
            out[f"{b}.mlp.fc2.weight"] = ((dim, 4 * dim), "param")
            out[f"{b}.mlp.fc2.bias"] = ((dim,), "param")
            if imagenet:
                out.update(batchnorm(f"{b}.mlp.norm2", dim))
            out[f"{b}.mlp.fc2_if.up"] = ((1,), "up")
            if j % 2 and res > window:
                out[f"{b}.attn_mask"] = (((res // w) ** 2, w * w, w * w), ("mask", res, w))
        if i < len(depths) - 1:
            out[f"layers.{i}.downsample.reduction.weight"] = ((2 * dim, 4 * dim), "param")
            out.update(batchnorm(f"layers.{i}.downsample.norm", 4 * dim))
            out[f"layers.{i}.downsample.reduction_if.up"] = ((1,), "up")
    features = embed_dim * 2 ** (len(depths) - 1)
    out.update(layernorm("norm", features))
    out.update({"head.weight": ((num_classes, features), "param"), "head.bias": ((num_classes,), "param")})
    return out


def official_spikformer_layout(dim: int = 256, depth: int = 2, num_classes: int = 10, in_chans: int = 2,
                               static: bool = False, tokens: int = 64) -> Layout:
    """``spikformer()`` of ``cifar10dvs/model.py`` (Conv1d token layers, Q/K/V without bias, ``pos_embed``,
    block LayerNorms and a final ``norm``) or, ``static``, of ``cifar10/model.py`` (``nn.Linear`` token
    layers, all with bias; block LayerNorms; no ``pos_embed``, no final norm). Spikingjelly neurons hold
    no tensors."""
    widths = [in_chans, dim // 8, dim // 4, dim // 2, dim]
    out: Layout = {}
    for n, suffix in enumerate(["", "1", "2", "3"]):
        out[f"patch_embed.proj_conv{suffix}.weight"] = ((widths[n + 1], widths[n], 3, 3), "param")
        out.update(batchnorm(f"patch_embed.proj_bn{suffix}", widths[n + 1]))
    out["patch_embed.rpe_conv.weight"] = ((dim, dim, 3, 3), "param")
    out.update(batchnorm("patch_embed.rpe_bn", dim))
    if not static:
        out["pos_embed"] = ((1, tokens, dim), "param")
    kind = "linear" if static else "conv"

    def token_layer(prefix: str, cin: int, cout: int, bias: bool) -> Layout:
        layer = {f"{prefix}_{kind}.weight": (((cout, cin) if static else (cout, cin, 1)), "param")}
        if bias or static:
            layer[f"{prefix}_{kind}.bias"] = ((cout,), "param")
        return {**layer, **batchnorm(f"{prefix}_bn", cout)}

    for i in range(depth):
        b = f"block.{i}"
        out.update(layernorm(f"{b}.norm1", dim))
        for unit in "qkv":
            out.update(token_layer(f"{b}.attn.{unit}", dim, dim, bias=False))
        out.update(token_layer(f"{b}.attn.proj", dim, dim, bias=True))
        out.update(layernorm(f"{b}.norm2", dim))
        out.update(token_layer(f"{b}.mlp.fc1", dim, 4 * dim, bias=True))
        out.update(token_layer(f"{b}.mlp.fc2", 4 * dim, dim, bias=True))
    if not static:
        out.update(layernorm("norm", dim))
    out.update({"head.weight": ((num_classes, dim), "param"), "head.bias": ((num_classes,), "param")})
    return out


def parameter_count(layout: Layout, keys: str = "") -> int:
    return sum(math.prod(shape) for k, (shape, kind) in layout.items() if kind in ("param", "up") and keys in k)


def relative_index(w: int) -> torch.Tensor:
    """Swin's index into the ``(2w−1)²`` bias table for token pairs (a, b) of a w×w window."""
    out = torch.empty(w * w, w * w, dtype=torch.long)
    for a in range(w * w):
        for b in range(w * w):
            out[a, b] = (a // w - b // w + w - 1) * (2 * w - 1) + (a % w - b % w + w - 1)
    return out


def shifted_window_mask(res: int, w: int) -> torch.Tensor:
    """Swin's SW-MSA mask ``[nW, w², w²]``: −100 between tokens of different regions after the roll by w/2."""
    s = w // 2

    def band(c: int) -> int:
        return 0 if c < res - w else (1 if c < res - s else 2)
    region = torch.tensor([[band(y) * 3 + band(x) for x in range(res)] for y in range(res)])
    windows = region.view(res // w, w, res // w, w).permute(0, 2, 1, 3).reshape(-1, w * w)
    return torch.where(windows[:, :, None] == windows[:, None, :], 0.0, -100.0)


def fill(layout: Layout, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors for a layout (distinct values, so each tensor can be found again)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, (shape, kind) in layout.items():
        if kind == "count":
            state[key] = torch.tensor(1234)
        elif kind == "var":
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif kind == "up":
            state[key] = torch.rand(shape, generator=g) * 2 + 0.5
        elif kind[0] == "index":
            state[key] = relative_index(kind[1])
        elif kind[0] == "mask":
            state[key] = shifted_window_mask(kind[1], kind[2])
        else:
            state[key] = torch.randn(shape, generator=g) * 0.05
    return state


# ----------------------------------------------------------------------------- the layouts are the authors'
def test_generated_layouts_reproduce_the_official_parameter_counts():
    """FAITHFULNESS M8 and S6 (computed from the official modules)."""
    assert parameter_count(official_mst_layout(num_classes=10)) == 27_527_168
    assert parameter_count(official_mst_layout(num_classes=100)) == 27_596_378
    assert parameter_count(official_mst_layout(num_classes=1000, imagenet=True)) == 28_332_638
    assert sum(kind == "up" for _, kind in official_mst_layout().values()) == 124           # M5: 124 QCFS sites
    dvs = official_spikformer_layout()
    assert parameter_count(dvs) == 2_585_610
    assert parameter_count(dvs, "pos_embed") + parameter_count(dvs, "norm") == 18_944      # unused
    assert parameter_count(dvs, "rpe_") == 590_336
    assert parameter_count(official_spikformer_layout(num_classes=11)) == 2_585_867
    assert parameter_count(official_spikformer_layout(num_classes=101)) == 2_608_997
    assert parameter_count(official_spikformer_layout(dim=512, depth=1)) == 7_110_666


# ----------------------------------------------------------------------------- MST
def site_pairs(model) -> list[tuple[str, torch.nn.Parameter]]:
    """(their ``up`` key, our λ) for one of each kind of QCFS site, found through our modules."""
    block = model.layers[2].blocks[5]
    return [("patch_embed.proj_if.up", model.patch_embed.site.act.threshold),
            ("layers.2.blocks.5.shortcut1_if.up", block.norm1_site.act.threshold),
            ("layers.2.blocks.5.shortcut2_if.up", block.norm2_site.act.threshold),
            ("layers.2.blocks.5.attn.q_if.up", block.attn.q_site.act.threshold),
            ("layers.2.blocks.5.attn.k_if.up", block.attn.k_site.act.threshold),
            ("layers.2.blocks.5.attn.v_if.up", block.attn.v_site.act.threshold),
            ("layers.2.blocks.5.attn.attn_if.up", block.attn.a_site.act.threshold),
            ("layers.2.blocks.5.attn.attn_v_if.up", block.attn.av_site.act.threshold),
            ("layers.2.blocks.5.attn.proj_if.up", block.attn.proj_site.act.threshold),
            ("layers.2.blocks.5.mlp.fc1_if.up", block.mlp.fc1_site.act.threshold),
            ("layers.2.blocks.5.mlp.fc2_if.up", block.mlp.fc2_site.act.threshold),
            ("layers.1.downsample.reduction_if.up", model.layers[1].downsample.site.act.threshold)]


@pytest.mark.parametrize("imagenet", [True, False], ids=["imagenet", "cifar10"])
def test_full_official_swin_t_loads_every_tensor_in_place(imagenet):
    theirs = fill(official_mst_layout(num_classes=1000 if imagenet else 10, imagenet=imagenet))
    wrapped = {"model": {f"module.{k}": v for k, v in theirs.items()}} if imagenet else theirs  # DataParallel
    model, report = load_official_mst(wrapped)
    assert report.ok and not report.missing and not report.unexpected and not report.kept
    explained = {k for keys in report.explained.values() for k in keys}
    assert sorted(k.rsplit(".", 1)[-1] for k in explained) == ["attn_mask"] * 5 + ["relative_position_index"] * 12
    assert len(report.loaded) == len(theirs) - 17 == len(model.state_dict())
    assert model.img_size == 224 and model.num_classes == (1000 if imagenet else 10)
    assert report.options["final_norm"] == "ln" and isinstance(model.norm, torch.nn.LayerNorm)     # M3
    assert report.options.get("mlp_bn", True) is imagenet                                          # M4
    for key, lam in site_pairs(model):                       # each QCFS λ is that site's `up`
        assert lam.shape == () and lam.item() == theirs[key].item(), key
    block = model.layers[2].blocks[5]
    pairs = [("layers.2.blocks.5.attn.qkv.weight", block.attn.qkv.weight),
             ("layers.2.blocks.5.attn.relative_position_bias_table", block.attn.relative_position_bias_table),
             ("layers.2.blocks.5.norm2.running_var", block.norm2.running_var),
             ("layers.1.downsample.reduction.weight", model.layers[1].downsample.reduction.weight),
             ("patch_embed.norm.running_mean", model.patch_embed.norm.running_mean),
             ("norm.weight", model.norm.weight), ("head.bias", model.head.bias)]
    if imagenet:
        pairs += [("layers.2.blocks.5.mlp.norm1.running_mean", block.mlp.bn1.running_mean),
                  ("layers.2.blocks.5.mlp.norm2.weight", block.mlp.bn2.weight)]
    else:
        assert isinstance(block.mlp.bn1, torch.nn.Identity)
    for key, ours in pairs:
        assert torch.equal(ours, theirs[key]), key
    if imagenet:                                              # conversion: θ = λ = up (M9)
        snn = convert(model.eval())
        act = snn.layers[2].blocks[5].attn.av_site.act
        assert isinstance(act, IFNeuron)
        assert act.threshold.item() == theirs["layers.2.blocks.5.attn.attn_v_if.up"].item()
        with torch.no_grad():                                 # the full Swin-T SNN runs at 224 px
            logits = simulate(snn, torch.rand(1, 3, 224, 224), time_steps=2)
        assert logits.shape == (2, 1, 1000) and bool(torch.isfinite(logits).all())


def test_small_official_mst_converts_and_runs():
    """The same layout at Swin-T's window 7 but 56 px and two small stages (one shifted), end to end."""
    layout = official_mst_layout(embed_dim=32, depths=(2, 2), heads=(2, 4), img_size=56, num_classes=5,
                                 imagenet=True)
    theirs = fill(layout, seed=1)
    model, report = load_official_mst(theirs)
    assert report.ok and len(report.loaded) == len(model.state_dict())
    assert (model.img_size, model.stage_windows, report.options["embed_dim"]) == (56, [7, 7], 32)
    assert model.layers[0].blocks[1].shift_mask is not None and model.layers[1].blocks[1].shift_mask is None
    snn = convert(model.eval())
    with torch.no_grad():
        logits = simulate(snn, torch.rand(2, 3, 56, 56), time_steps=2)
    assert logits.shape == (2, 2, 5) and bool(torch.isfinite(logits).all())


def test_other_geometry_is_a_mismatch():
    """A shift mask or index that is not ours (another image size or window) is refused."""
    theirs = fill(official_mst_layout(embed_dim=32, depths=(2, 2), heads=(2, 4), img_size=56, num_classes=5))
    theirs["layers.0.blocks.1.attn_mask"] = theirs["layers.0.blocks.1.attn_mask"].flip(0)
    with pytest.raises(SpikemaskError, match="shift_mask.*differs"):
        load_official_mst(theirs)


# ----------------------------------------------------------------------------- Spikformer
def spikformer_pairs(model, theirs: dict, kind: str) -> list[tuple[str, torch.Tensor]]:
    """(their key, our tensor) through our modules, one of each role (SPS stage order, Q≠K≠V, MLP, head)."""
    blk = model.blocks[1]
    return [("patch_embed.proj_conv.weight", model.patch_embed.stages[0].conv.weight),
            ("patch_embed.proj_bn1.running_var", model.patch_embed.stages[1].bn.running_var),
            ("patch_embed.proj_conv2.weight", model.patch_embed.stages[2].conv.weight),
            ("patch_embed.proj_bn3.weight", model.patch_embed.stages[3].bn.weight),
            ("patch_embed.rpe_conv.weight", model.pos.stage.conv.weight),
            ("patch_embed.rpe_bn.bias", model.pos.stage.bn.bias),
            (f"block.1.attn.q_{kind}.weight", blk.attn.q.conv.weight.squeeze(-1)),
            (f"block.1.attn.k_{kind}.weight", blk.attn.k.conv.weight.squeeze(-1)),
            (f"block.1.attn.v_{kind}.weight", blk.attn.v.conv.weight.squeeze(-1)),
            ("block.1.attn.k_bn.weight", blk.attn.k.bn.weight),
            (f"block.1.attn.proj_{kind}.bias", blk.attn.proj.conv.bias),
            ("block.1.attn.proj_bn.running_var", blk.attn.proj.bn.running_var),
            (f"block.1.mlp.fc1_{kind}.weight", blk.mlp.fc1.conv.weight.squeeze(-1)),
            (f"block.1.mlp.fc2_{kind}.bias", blk.mlp.fc2.conv.bias),
            ("block.1.mlp.fc2_bn.running_mean", blk.mlp.fc2.bn.running_mean),
            ("head.weight", model.head.weight)]


def test_official_spikformer_dvs_loads_and_runs():
    theirs = fill(official_spikformer_layout(), seed=2)
    model, report = load_official_spikformer({"model": theirs})
    assert report.model == "spikformer_2_256" and report.ok
    assert not report.missing and not report.unexpected
    assert report.explained == {"the official forward never reads pos_embed (S5)": ["pos_embed"],
                                "LayerNorms the official code builds but never applies (S3)":
                                    sorted(k for k in theirs if "norm" in k)}
    thresholds = sorted(k for k in model.state_dict() if k.endswith("lif.threshold"))
    assert [k for keys in report.kept.values() for k in keys] == thresholds and len(thresholds) == 19
    assert len(report.loaded) == len(theirs) - 11 == len(model.state_dict()) - 19
    for key, ours in spikformer_pairs(model, theirs, "conv"):
        assert torch.equal(ours, theirs[key].squeeze(-1) if ours.dim() == 2 else theirs[key]), key
    assert model.blocks[0].attn.attn_lif.threshold.item() == 0.5                       # S2, kept
    with torch.no_grad():
        logits = simulate(model.eval(), torch.rand(2, 1, 2, 128, 128).round())
    assert logits.shape == (2, 1, 10) and bool(torch.isfinite(logits).all())


def test_official_spikformer_1_512_picks_its_model():
    model, report = load_official_spikformer(fill(official_spikformer_layout(dim=512, depth=1)))
    assert report.model == "spikformer_1_512" and report.ok and len(model.blocks) == 1


def test_static_spikformer_folds_biases_and_scale_exactly():
    """``cifar10/model.py``: Linear Q/K/V with biases and scale 0.125 fit our model without changing its output."""
    theirs = fill(official_spikformer_layout(dim=384, depth=4, in_chans=3, static=True), seed=3)
    args = argparse.Namespace(num_heads=6, time_step=3, img_size=32, model="spikformer")
    model, report = load_official_spikformer({"state_dict": theirs, "args": args})   # timm's CheckpointSaver
    assert report.model == "spikformer_4_384" and report.ok
    assert (report.sizes["in_channels"], report.sizes["img_size"]) == (3, 32)
    assert (report.options["heads"], report.options["time_steps"], report.options["patch"]) == (6, 3, 4)
    assert model.grid == 8                                                      # 32 px, two pools (H // 4)
    for key, ours in spikformer_pairs(model, theirs, "linear"):
        assert torch.equal(ours, theirs[key]), key
    model.eval()
    x = torch.randn(5, 384, 64)                                                 # [T·B, C, N] tokens
    q = model.blocks[2].attn.q
    with torch.no_grad():
        ours = q.bn(q.conv(x))
        w, b = theirs["block.2.attn.q_linear.weight"], theirs["block.2.attn.q_linear.bias"]
        ref = torch.nn.functional.batch_norm(
            (x.transpose(1, 2) @ w.T + b).transpose(1, 2), theirs["block.2.attn.q_bn.running_mean"],
            theirs["block.2.attn.q_bn.running_var"], theirs["block.2.attn.q_bn.weight"],
            theirs["block.2.attn.q_bn.bias"], training=False, eps=1e-5)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    scores = torch.randint(0, 9, (6, 2, 384, 64)).float()                      # Q·Kᵀ·V: integers [T, B, C, N]
    official = lif(0.5)(0.125 * scores)
    assert torch.equal(model.blocks[0].attn.attn_lif(0.25 * scores), official)
    with torch.no_grad():
        logits = simulate(model, torch.rand(2, 3, 32, 32))
    assert logits.shape == (3, 2, 10) and bool(torch.isfinite(logits).all())


# ----------------------------------------------------------------------------- files: records, refusals, CLI
@pytest.fixture
def yacs_module(monkeypatch):
    """A stand-in for ``yacs.config`` so that a training checkpoint can pickle a ``CfgNode`` as MST's does."""
    module = types.ModuleType("yacs.config")

    class CfgNode(dict):
        pass
    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    module.CfgNode = CfgNode
    monkeypatch.setitem(sys.modules, "yacs", types.ModuleType("yacs"))
    monkeypatch.setitem(sys.modules, "yacs.config", module)
    return CfgNode


def test_training_checkpoints_with_their_settings_are_read_as_plain_data(tmp_path, yacs_module):
    """main.py's {'model', 'optimizer', ..., 'config': CfgNode}; train.py's {'model', ..., 'args': Namespace}."""
    config = yacs_module(DATA=yacs_module(IMG_SIZE=224, DATASET="Cifar10"), MODEL=yacs_module(NUM_CLASSES=10))
    state = {"head.weight": torch.ones(2, 3)}
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "max_accuracy": 97.1,
                "epoch": 299, "config": config}, tmp_path / "mst.pth")
    torch.save({"model": state, "epoch": 3, "args": argparse.Namespace(T=16, lr=1e-3)}, tmp_path / "spk.pth")
    sys.modules.pop("yacs.config")                                 # reading needs no yacs
    read, record = read_official(tmp_path / "mst.pth")
    assert list(read) == ["head.weight"] and record["config"]["DATA"] == {"IMG_SIZE": 224, "DATASET": "Cifar10"}
    assert read_official(tmp_path / "spk.pth")[1] == {"args": {"T": 16, "lr": 1e-3}}


class Payload:
    """Any other object in the pickle is refused, not constructed."""


def test_files_with_other_objects_or_no_state_dict_are_refused(tmp_path):
    torch.save({"model": {"head.weight": torch.ones(1)}, "extra": Payload()}, tmp_path / "code.pth")
    with pytest.raises(SpikemaskError, match="Python objects other than tensors"):
        read_official(tmp_path / "code.pth")
    with pytest.raises(SpikemaskError, match="not tensors"):
        read_official({"model": {"head.weight": torch.ones(1), "step": 3}})
    with pytest.raises(SpikemaskError, match="NaN"):
        read_official({"head.weight": torch.tensor([float("nan")])})


@pytest.fixture
def run(capsys):
    """``spikemask load ...`` in-process → (exit status, stdout, stderr)."""
    def call(*argv: str) -> tuple[int, str, str]:
        status = cli.main(["load", *map(str, argv)])
        out = capsys.readouterr()
        return status, out.out, out.err
    return call


@pytest.fixture
def files(tmp_path):
    small_mst = fill(official_mst_layout(embed_dim=32, depths=(2, 2), heads=(2, 4), img_size=56, num_classes=5))
    paths = {"mst": tmp_path / "mst.pth", "spikformer": tmp_path / "spk.pth"}
    torch.save({"model": small_mst}, paths["mst"])
    torch.save({"model": fill(official_spikformer_layout(dim=64))}, paths["spikformer"])
    return paths


@pytest.mark.parametrize("family", ["mst", "spikformer"])
def test_cli_load_writes_a_checkpoint_and_report(family, files, tmp_path, run):
    out = tmp_path / f"out_{family}"
    status, printed, err = run("--family", family, "--weights", files[family], "--out", out)
    assert status == 0, err
    assert "missing (ours, not filled): 0" in printed and "wrote" in printed
    report = json.loads((out / "load_report.json").read_text())
    assert report["ok"] and report["family"] == family and not report["missing"] and not report["unexpected"]
    rebuilt = build_model(load_checkpoint(out / "checkpoint.pt"))
    theirs = read_official(files[family])[0]
    key, ours = (("layers.1.blocks.1.attn.attn_v_if.up", rebuilt.layers[1].blocks[1].attn.av_site.act.threshold)
                 if family == "mst" else ("block.1.mlp.fc1_conv.weight", rebuilt.blocks[1].mlp.fc1.conv.weight))
    assert torch.equal(ours, theirs[key].reshape(ours.shape))
    assert rebuilt.model_name == ("mst_swin_t" if family == "mst" else "spikformer_2_64")


def test_cli_refuses_with_one_line(files, tmp_path, run):
    cases = [(("--family", "mst", "--weights", files["spikformer"]), "official Spikformer state dict, not an "
              "official MST state dict; pass --family spikformer"),
             (("--family", "spikformer", "--weights", files["mst"]), "pass --family mst"),
             (("--family", "mst", "--weights", files["mst"], "--num-classes", "7"), "do not fit mst_swin_t"),
             (("--family", "mst", "--weights", files["mst"], "--model", "spikformer_2_64"), "not an MST model"),
             (("--family", "spikformer", "--weights", files["spikformer"], "--model", "mst_swin_t"),
              "--model 'mst_swin_t' is not a Spikformer"),
             (("--family", "mst", "--weights", tmp_path / "none.pth"), "not found")]
    torch.save({"layers.0.blocks.0.attn.qkv.weight": torch.ones(3, 1)}, tmp_path / "swin.pth")
    cases.append((("--family", "mst", "--weights", tmp_path / "swin.pth"), "spikemask mst load-pretrained"))
    torch.save({"encoder.weight": torch.ones(3, 1)}, tmp_path / "other.pth")
    cases.append((("--family", "spikformer", "--weights", tmp_path / "other.pth"), "no official MST or Spikformer"))
    for i, (argv, message) in enumerate(cases):
        out = tmp_path / f"refused{i}"
        status, printed, err = run(*argv, "--out", out)
        assert status == 2 and message in err and err.count("\n") == 1, (argv, err)
        assert not out.exists()                                   # nothing written


def test_missing_keys_are_refused_unless_partial(files, tmp_path, run):
    state = read_official(files["spikformer"])[0]
    del state["block.0.attn.k_bn.running_var"]
    torch.save(state, tmp_path / "holed.pth")
    status, _, err = run("--family", "spikformer", "--weights", tmp_path / "holed.pth", "--out", tmp_path / "a")
    assert status == 2 and "blocks.0.attn.k.bn.running_var" in err and "--allow-partial" in err
    status, printed, _ = run("--family", "spikformer", "--weights", tmp_path / "holed.pth", "--allow-partial",
                             "--out", tmp_path / "b")
    assert status == 0 and "missing (ours, not filled): 1" in printed
    report = json.loads((tmp_path / "b" / "load_report.json").read_text())
    assert report["missing"] == ["blocks.0.attn.k.bn.running_var"] and not report["ok"]


def test_the_family_is_told_by_the_keys_when_not_given(files, tmp_path, run):
    for family in ("mst", "spikformer"):
        status, printed, err = run("--weights", files[family], "--out", tmp_path / f"auto_{family}")
        assert status == 0, err
        assert printed.startswith(f"official {'MST' if family == 'mst' else 'Spikformer'} checkpoint"), printed
    ours = tmp_path / "ours.pth"
    torch.save(create_model("vgg16", width=0.0625).state_dict(), ours)
    status, _, err = run("--weights", ours, "--out", tmp_path / "auto_ours")
    assert status == 2 and err.count("\n") == 1 and "pass --family" in err, err
    assert not (tmp_path / "auto_ours").exists()
