"""spikemask SNNs in NeuroBench 2.3.0: its Benchmark and metrics against our recorder, difference by difference.

NeuroBench is optional (``pip install --no-deps neurobench==2.3.0 snntorch==1.0.0``); without it the
NeuroBench tests are skipped and only the install message is tested. Every expected NeuroBench number
below is computed from our recorder's counts and the images, with the rule that explains the
difference (``spikemask.measure.neurobench``'s docstring):

- first layer: NeuroBench counts nonzero inputs × the weights they reach in bounds, we count dense
  MACs (padding taps included): normalised MNIST has no zero pixel, so per image and output channel
  we count T · 28² · 9 = T · 7,056 MACs and NeuroBench T · 82² = T · 6,724, 332 padding taps less;
- spikes of value θ (IF neurons, θ = λ = 2 here) are MACs to NeuroBench unless ``binary_spikes``;
- SDMFormer's position embedding makes Q, K, V, MLP1 read analog input for NeuroBench (dense MACs);
- NeuroBench does not count matmuls and pooling; it skips zero weights.

Both counters sum float32 tensors, so the counts are exact integers only while they stay below 2²⁴
per op (checked); the models here are small enough for exact equality.
"""
import copy
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset

import spikemask
from spikemask.convert.conversion import convert
from spikemask.convert.simulate import cumulative_mean, simulate
from spikemask.data import get_dataset
from spikemask.errors import SpikemaskError
from spikemask.measure import Recorder
from spikemask.measure import neurobench as snb
from spikemask.measure.recorder import fan_out
from spikemask.models.layers import SpikeSite

from spikformer_helpers import tiny

T = 4
IMAGES, BATCH = 8, 4
CONNECTIONS = ("conv1d", "conv2d", "linear")
VGG_CONV_SIDES = [28, 28, 14, 14, 7, 7, 7, 4, 4, 4, 2, 2, 2]   # input side of each 3×3 conv of VGG-16 at 28 px


@pytest.fixture(scope="module")
def neurobench():
    return pytest.importorskip("neurobench", reason="NeuroBench is not installed: "
                                                    "pip install --no-deps neurobench==2.3.0 snntorch==1.0.0")


@pytest.fixture(scope="module")
def mnist():
    """The first 8 bundled MNIST test images (normalised: no pixel is 0) in batches of 4."""
    return DataLoader(Subset(get_dataset("mnist", train=False).dataset, range(IMAGES)), batch_size=BATCH)


def firing(model: nn.Module) -> nn.Module:
    """BN scales γ = 3, β = 1, so that every layer of an untrained network fires."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.fill_(3.0)
                m.bias.fill_(1.0)
    return model


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    ann = spikemask.create_model("vgg16", num_classes=10, in_channels=1, img_size=28, width=0.0625, levels=4)
    return convert(firing(ann).eval())


def recorded(net: nn.Module, loader: DataLoader, steps: int | None):
    """Our recorder on its own over the loader, and the accuracy of the answer after T steps."""
    correct = 0
    with Recorder(net) as rec:
        for x, y in loader:
            logits = simulate(net, x, steps)
            correct += int((cumulative_mean(logits)[-1].argmax(-1) == y).sum())
    return rec.measurement(logits.shape[0]), correct / len(loader.dataset)


def first_layer_nb_macs(conv: nn.Conv2d, loader: DataLoader, steps: int) -> float:
    """NeuroBench's MACs of the first conv per image: every nonzero pixel × the outputs it reaches in bounds."""
    total = 0.0
    for x, _ in loader:
        reach = fan_out(conv, tuple(x.shape[-2:]), x.device)                   # [H, W], borders exact
        total += float(((x != 0).float() * reach).sum())
    return steps * conv.out_channels * total / len(loader.dataset)


def exact_in_float32(m) -> bool:
    """Both counters sum float32 tensors: counts are exact integers while every op's total stays below 2²⁴."""
    return max(max(o.acs, o.macs, o.dense_macs) for o in m.ops) < 2 ** 24


def ops_by_name(m):
    return {o.name: o for o in m.ops}


def per_image(o, m):
    return o.acs / m.images, o.macs / m.images, o.dense_macs / m.images


# ----------------------------------------------------------------------------- without NeuroBench
def test_the_module_imports_without_neurobench():
    code = "import sys, spikemask.measure.neurobench; assert 'neurobench' not in sys.modules, 'imported eagerly'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_missing_neurobench_says_how_to_install(monkeypatch, vgg):
    monkeypatch.setitem(sys.modules, "neurobench", None)          # `import neurobench` raises ImportError
    monkeypatch.setattr(snb, "_CLASSES", {})
    with pytest.raises(SpikemaskError) as err:
        snb.neurobench_model(vgg, T)
    message = str(err.value)
    assert "\n" not in message and message.endswith("pip install --no-deps neurobench==2.3.0 snntorch==1.0.0")
    with pytest.raises(SpikemaskError, match="NeuroBench is not installed"):
        snb.SpikemaskModel                                        # noqa: B018


# ----------------------------------------------------------------------------- converted VGG-16
def test_vgg_neurobench_counts_theta_spikes_as_macs(neurobench, vgg, mnist):
    model = snb.neurobench_model(vgg, T)
    out = snb.run_benchmark(model, mnist)
    nb, ours = out["neurobench"], out["spikemask"]
    alone, accuracy = recorded(vgg, mnist, T)
    # the wrapper's recorder (same passes as NeuroBench's hooks) counts what our recorder alone counts
    assert (ours.images, ours.acs, ours.macs, ours.spikes()) == (alone.images, alone.acs, alone.macs, alone.spikes())
    assert ours.images == IMAGES and ours.time_steps == T
    assert exact_in_float32(alone)
    ops = ops_by_name(alone)
    first = vgg.features[0]
    # our first conv: dense MACs with padding taps; NeuroBench's: in-bounds taps of the nonzero pixels
    assert per_image(ops["features.0"], alone)[1] == T * first.out_channels * 28 * 28 * 9
    nb_first = first_layer_nb_macs(first, mnist, T)
    assert nb_first == T * first.out_channels * 82 * 82                      # no pixel of normalised MNIST is 0
    assert per_image(ops["features.0"], alone)[1] - nb_first == T * first.out_channels * 332 == 5312
    hidden = [o for o in alone.ops if o.op in CONNECTIONS and o.role != "encoding"]
    assert len(hidden) == 15 and all(o.input == "spikes" and o.acs > 0 for o in hidden)   # every layer fires
    hidden_acs = sum(o.acs for o in hidden) / alone.images
    pooled = sum(o.acs for o in alone.ops if o.op not in CONNECTIONS) / alone.images      # the 1×1 avgpool
    assert pooled > 0 and alone.acs == pytest.approx(hidden_acs + pooled, abs=1e-6)
    # θ = 2 spikes are not {0, ±1}: NeuroBench books our hidden ACs as MACs, and no AC at all
    synops = nb["SynapticOperations"]
    assert synops["Effective_ACs"] == 0
    assert synops["Effective_MACs"] == hidden_acs + nb_first
    # NeuroBench's dense count skips padding taps: Σ fan-out over an s×s map is (3s − 2)² (s ≥ 2)
    convs = [m for m in vgg.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in vgg.classifier if isinstance(m, nn.Linear)]
    dense = sum(T * c.out_channels * c.in_channels * (3 * s - 2) ** 2 for c, s in zip(convs, VGG_CONV_SIDES))
    assert synops["Dense"] == dense + sum(T * fc.in_features * fc.out_features for fc in linears)
    # per layer: NeuroBench's own count split by layer sums to its totals
    by_layer = nb["SynapticOperationsByLayer"]
    assert list(by_layer) == model.connection_names()
    for key in ("Effective_ACs", "Effective_MACs", "Dense"):
        assert sum(c[key] for c in by_layer.values()) == synops[key]
    for o in hidden:
        assert by_layer[o.name] == {"Effective_MACs": o.acs / alone.images, "Effective_ACs": 0,
                                    "Dense": by_layer[o.name]["Dense"]}
    # activations: our sites, so NeuroBench's sparsity is our silent share of neuron-steps
    assert len(model.activation_names()) == len(alone.sites) == 15
    silent = 1 - alone.spikes() / (alone.neurons * T)
    assert nb["ActivationSparsity"] == pytest.approx(silent, rel=1e-12) and 0 < silent < 1
    assert nb["ClassificationAccuracy"] == pytest.approx(accuracy)
    assert nb["ParameterCount"] == sum(p.numel() for p in vgg.parameters())
    assert nb["Footprint"] == sum(t.numel() * t.element_size() for t in [*vgg.parameters(), *vgg.buffers()])
    assert nb["ConnectionSparsity"] == 0.0


def test_vgg_binary_spikes_agree_exactly(neurobench, vgg, mnist):
    example = next(iter(mnist))[0]
    units = snb.spike_units(vgg, example, T)
    thresholds = [float(m.act.threshold) for m in vgg.modules() if isinstance(m, SpikeSite)]
    assert len(units) == 15 and set(units.values()) == set(thresholds) == {2.0}   # θ = λ = 2 everywhere
    model = snb.neurobench_model(vgg, T, binary_spikes=True, example=example)
    assert model.net is not vgg and isinstance(model.net.features[3], snb.UnitSpikes)
    # θ = 2 is a power of two: (2W)·(x/2) is W·x bit for bit, so the rebuilt network spikes identically
    assert torch.equal(simulate(model.net, example, T), simulate(vgg, example, T))
    out = snb.run_benchmark(model, mnist)
    nb, ours = out["neurobench"], out["spikemask"]
    alone, _ = recorded(vgg, mnist, T)
    assert ours.spikes() == alone.spikes() and ours.acs == alone.acs and ours.macs == alone.macs
    hidden_acs = sum(o.acs for o in alone.ops if o.op in CONNECTIONS and o.role != "encoding") / alone.images
    synops = nb["SynapticOperations"]
    assert synops["Effective_ACs"] == hidden_acs                    # every hidden op: the same ACs
    assert synops["Effective_MACs"] == first_layer_nb_macs(vgg.features[0], mnist, T)
    by_layer = nb["SynapticOperationsByLayer"]
    for o in ours.ops:
        if o.op in CONNECTIONS and o.role != "encoding":
            assert by_layer[o.name]["Effective_ACs"] == o.acs / ours.images and by_layer[o.name]["Effective_MACs"] == 0
    rows = {r["name"]: r for r in snb.compare_synops(nb, ours, model.net)}
    assert rows["pool"]["nb_acs"] is None and rows["pool"]["acs"] > 0        # NeuroBench does not count pooling
    assert rows["features.0"]["note"] == snb.NOTES["first"] and rows["features.3.layer"]["note"] == snb.NOTES["spikes"]


def test_zero_weights_are_skipped_by_neurobench_only(neurobench, vgg, mnist):
    net = copy.deepcopy(vgg)
    conv = net.features[3]
    with torch.no_grad():
        conv.weight[0].zero_()                                   # output channel 0 of the second conv: no synapses
    model = snb.neurobench_model(net, T, binary_spikes=True, example=next(iter(mnist))[0])
    out = snb.run_benchmark(model, mnist)
    nb, ours = out["neurobench"], out["spikemask"]
    layer = ops_by_name(ours)["features.3.layer"]
    ours_acs = layer.acs / ours.images
    # each event reaches every output channel equally: NeuroBench's count is ours without channel 0
    assert nb["SynapticOperationsByLayer"]["features.3.layer"]["Effective_ACs"] == ours_acs * (conv.out_channels - 1) \
        / conv.out_channels
    total = sum(m.weight.numel() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert nb["ConnectionSparsity"] == round(conv.weight[0].numel() / total, 4) > 0


@pytest.mark.parametrize("spikes", ["delivered", "fired"])
def test_masked_vgg_activations_are_delivered_or_fired_spikes(neurobench, mnist, spikes):
    torch.manual_seed(0)
    ann = spikemask.create_model("vgg16", num_classes=10, in_channels=1, img_size=28, width=0.0625, levels=4,
                                 mask_ratio=0.5)
    net = convert(firing(ann).eval())                  # a fresh random mask at every step (RSM)
    model = snb.neurobench_model(net, T, spikes=spikes)
    names = model.activation_names()
    assert all(name.endswith(".act") for name in names) == (spikes == "fired") and len(names) == 15
    out = snb.run_benchmark(model, mnist)
    ours = out["spikemask"]                             # the same passes, so the same random masks
    assert ours.spikes("delivered") < ours.spikes("fired")
    silent = 1 - ours.spikes(spikes) / (ours.neurons * T)
    assert out["neurobench"]["ActivationSparsity"] == pytest.approx(silent, rel=1e-12)


# ----------------------------------------------------------------------------- SDMFormer
def test_sdmformer_counts_differ_by_the_position_embedding_and_uncounted_ops(neurobench, mnist):
    net = tiny("sdmformer_2_64", num_classes=10, img_size=28).eval()          # T = 2
    steps = net.default_time_steps
    model = snb.neurobench_model(net)
    out = snb.run_benchmark(model, mnist)
    nb, ours = out["neurobench"], out["spikemask"]
    alone, accuracy = recorded(net, mnist, None)
    assert (ours.acs, ours.macs, ours.spikes()) == (alone.acs, alone.macs, alone.spikes()) and steps == 2
    assert exact_in_float32(alone)
    offsets = set(net.constant_inputs())                  # Q, K, V, MLP1 of each block read spikes + P
    assert len(offsets) == 8 and bool((net.pos.embedding != 0).all())     # so none of their inputs is 0
    ops = alone.ops
    binary = [o for o in ops if o.op in CONNECTIONS and o.role == "hidden" and o.name not in offsets]
    assert {o.input for o in binary} == {"spikes"} and len(binary) == 7    # SPS convs 2-4, proj and MLP2 × 2
    embedded = [o for o in ops if o.name in offsets]
    head = next(o for o in ops if o.name == "head")
    assert head.input == "analog" and head.role == "readout"
    n = alone.images
    first = net.patch_embed.stages[0].conv
    nb_first = first_layer_nb_macs(first, mnist, steps)
    synops = nb["SynapticOperations"]
    # LIF spikes are binary: the same ACs; Q/K/V/MLP1 and the head: NeuroBench's dense MACs (1×1 convs
    # and a linear: no padding, so equal to our dense count), where we count ACs on the spikes without P
    assert synops["Effective_ACs"] == sum(o.acs for o in binary) / n
    assert synops["Effective_MACs"] == nb_first + sum(o.dense_macs for o in [*embedded, head]) / n
    assert all(o.acs > 0 and o.macs == 0 for o in embedded)
    uncounted = [o for o in ops if o.op not in CONNECTIONS and not o.folded]     # Q·Kᵀ, ·V and max pooling
    assert {o.op for o in uncounted} == {"matmul", "maxpool"} and all(o.acs > 0 for o in uncounted)
    assert alone.acs == pytest.approx(synops["Effective_ACs"] + sum(o.acs for o in [*embedded, *uncounted]) / n)
    silent = 1 - alone.spikes() / (alone.neurons * steps)
    assert nb["ActivationSparsity"] == pytest.approx(silent, rel=1e-12)
    assert nb["ClassificationAccuracy"] == pytest.approx(accuracy)
    # binary_spikes leaves a LIF network as it is (its spikes are 1 already)
    assert snb.spike_units(net, next(iter(mnist))[0]) == {}


def test_frames_are_batch_first_and_bring_their_own_steps(neurobench):
    net = tiny("spikformer_2_64", num_classes=3).eval()                  # 16 px, 1 channel
    frames = (torch.rand(6, 3, 1, 16, 16, generator=torch.Generator().manual_seed(1)) < 0.3).float()   # [B, T, ...]
    model = snb.neurobench_model(net, output="steps")
    steps = model(frames)
    expected = simulate(net, frames.transpose(0, 1))                       # time-major [T, B, K]
    assert torch.equal(steps, expected.transpose(0, 1))
    assert model.measurement().images == 6 and model.measurement().time_steps == 3
    loader = DataLoader(TensorDataset(frames, torch.zeros(6, dtype=torch.long)), batch_size=3)
    out = snb.run_benchmark(snb.neurobench_model(net), loader)
    assert out["spikemask"].images == 6                                   # per sample, not per step
    # binary frames are spikes to NeuroBench: the first conv's ops are its ACs, our dense MACs
    first = net.patch_embed.stages[0].conv
    reach = fan_out(first, (16, 16), frames.device)
    nb_first = float((frames * reach).sum()) * first.out_channels / 6
    assert out["neurobench"]["SynapticOperationsByLayer"]["patch_embed.stages.0.conv"]["Effective_ACs"] == nb_first


def test_bad_inputs_are_refused_in_one_line(neurobench, vgg):
    ann = spikemask.create_model("vgg16", num_classes=10, in_channels=1, img_size=28, width=0.0625, levels=4)
    with pytest.raises(SpikemaskError, match="convert a QCFS model first"):
        snb.neurobench_model(ann, T)
    with pytest.raises(SpikemaskError, match="spikes must be one of"):
        snb.neurobench_model(vgg, T, spikes="all")
    with pytest.raises(SpikemaskError, match="output must be one of"):
        snb.neurobench_model(vgg, T, output="probabilities")
    with pytest.raises(SpikemaskError, match="needs an example input batch"):
        snb.neurobench_model(vgg, T, binary_spikes=True)
    model = snb.neurobench_model(vgg, T)
    with pytest.raises(SpikemaskError, match="nothing was recorded"):
        model.measurement()
    with pytest.raises(SpikemaskError, match=r"expected a batch of images \[B, C, H, W\]"):
        model(torch.zeros(28, 28))
