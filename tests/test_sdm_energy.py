"""SDMFormer Table 2 energy, A4 parameter counts and the Table 1 / Table 3 comparison, checked by hand."""
import pytest
import torch
import torch.nn.functional as F

from spikemask.errors import SpikemaskError
from spikemask.measure.synaptic import (
    block_firing_rates,
    compare_models,
    measure_activity,
    parameter_counts,
    synaptic_energy,
)
from spikemask.models.spikformer.pruning import prune
from spikemask.models.spikformer.sdmformer import SDMFormer
from spikemask.models.spikformer.spikformer import Spikformer

T = 2
CONFIG = dict(depth=1, dim=16, heads=2, num_classes=3, in_channels=1, img_size=8, time_steps=T, patch=4)


def build(cls: type, seed: int = 0) -> Spikformer:
    """A 1-block, D = 16, 8-px model whose BN scales make every layer fire."""
    torch.manual_seed(seed)
    model = cls(**CONFIG)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.fill_(3.0)
                m.bias.fill_(1.0)
    return model.eval()


def batches(n: int = 2) -> list[torch.Tensor]:
    torch.manual_seed(5)
    return [torch.rand(3, 1, 8, 8) * 3 for _ in range(n)]


def test_spikformer_energy_equals_a_hand_computation():
    model = build(Spikformer)
    lifs = {"s0": model.patch_embed.stages[0].lif, "s1": model.patch_embed.stages[1].lif,
            "s2": model.patch_embed.stages[2].lif, "s3": model.patch_embed.stages[3].lif,
            "rpe": model.pos.stage.lif, "attn": model.blocks[0].attn.attn_lif,
            "proj": model.blocks[0].attn.proj.lif, "fc1": model.blocks[0].mlp.fc1.lif}
    seen: dict[str, list[torch.Tensor]] = {k: [] for k in lifs}
    for key, lif in lifs.items():
        lif.register_forward_hook(lambda m, a, out, key=key: seen[key].append(out))
    data = batches()
    activity = measure_activity(model, data)

    def rate(tensors):  # spikes per element over all batches
        return sum(float(t.sum()) for t in tensors) / sum(t.numel() for t in tensors)

    def pool(ts):       # MaxPool(3, 2, 1) over [T, B, C, H, W]
        return [F.max_pool2d(t.flatten(0, 1), 3, 2, 1).unflatten(0, t.shape[:2]) for t in ts]

    tokens = [p + r for p, r in zip(pool(seen["s3"]), seen["rpe"])]                     # block input, 2×2
    # F_Conv = K²·H_out·W_out·C_in·C_out (eq. 7); the last two of four SPS stages pool (8 → 4 → 2 px).
    flops_and_rates = [
        (9 * 64 * 2 * 4, rate(seen["s0"])),                     # stage 1: 2 → 4 channels at 8×8
        (9 * 64 * 4 * 8, rate(seen["s1"])),                     # stage 2: 4 → 8 at 8×8, then pool
        (9 * 16 * 8 * 16, rate(pool(seen["s2"]))),              # stage 3: 8 → 16 at 4×4, then pool
        (9 * 4 * 16 * 16, rate(pool(seen["s3"]))),              # RPE: 16 → 16 at 2×2
        *[(4 * 16 * 16, rate(tokens))] * 3,                     # Q, K, V on N = 4 tokens
        (4 * 16 * 16, rate(seen["attn"])),                      # proj
        (4 * 16 * 64, rate([x + p.unflatten(3, (2, 2)) for x, p in zip(tokens, seen["proj"])])),  # MLP1
        (4 * 64 * 16, rate(seen["fc1"])),                       # MLP2
    ]
    expected = 4.6 * (9 * 64 * 1 * 2) * T + sum(0.9 * f * T * s for f, s in flops_and_rates)
    energy = synaptic_energy(activity)
    assert all(s > 0 for _, s in flops_and_rates)
    assert energy["total_pj"] == pytest.approx(expected, rel=1e-9)
    assert [layer["flops"] for layer in activity["layers"]] == [9 * 64 * 2] + [f for f, _ in flops_and_rates]
    assert activity["samples"] == 6 and activity["time_steps"] == T
    # the energies per operation are parameters
    assert synaptic_energy(activity, e_mac=0.0, e_ac=1.0)["total_pj"] == pytest.approx(
        sum(f * T * s for f, s in flops_and_rates), rel=1e-9)


def set_masks(model: SDMFormer, seed: int = 1) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("mask.m"):
                p.normal_()


def test_masked_layers_use_retained_flops():
    model = build(SDMFormer)
    set_masks(model)
    activity = measure_activity(model, batches())
    energy = synaptic_energy(activity)
    for layer, e in zip(activity["layers"], energy["layers"]):
        unit = model.get_submodule(layer["name"])
        if layer["row"] in ("q", "k", "v", "proj", "mlp1", "mlp2"):
            kept = unit.mask.kept()
            assert layer["retained"] == pytest.approx(float(kept.float().mean()))   # A8
            assert e["energy_pj"] == pytest.approx(0.9 * layer["flops"] * layer["retained"] * T * layer["input_rate"])
        else:
            assert layer["retained"] == 1.0
    assert energy["total_pj"] == pytest.approx(sum(energy["by_row"].values()))


def test_input_rate_of_residual_readers_excludes_the_lpe():
    model = build(SDMFormer)
    seen = []
    model.blocks[0].attn.register_forward_pre_hook(lambda m, a: seen.append(a[0] - model.pos.embedding))
    activity = measure_activity(model, batches(1))
    q = next(layer for layer in activity["layers"] if layer["name"] == "blocks.0.attn.q")
    assert q["input_rate"] == pytest.approx(float(seen[0].mean()), rel=1e-6)
    assert set(seen[0].round().unique().tolist()) <= {0.0, 1.0}  # SPS spikes only


def test_output_rate_averages_kept_channels():
    model = build(SDMFormer)
    set_masks(model)
    seen = []
    model.blocks[0].mlp.fc1.lif.register_forward_hook(lambda m, a, out: seen.append(out))
    activity = measure_activity(model, batches(1))
    kept = model.blocks[0].mlp.fc1.mask.kept()
    rates = block_firing_rates(activity)
    assert rates["blocks.0.mlp.fc1"] == pytest.approx(float(seen[0][:, :, kept].mean()))
    assert len(rates) == 6
    layer = next(x for x in activity["layers"] if x["name"] == "blocks.0.mlp.fc1")
    out_energy = next(x for x in synaptic_energy(activity, rate="output")["layers"] if x["name"] == layer["name"])
    assert out_energy["energy_pj"] == pytest.approx(0.9 * layer["flops"] * layer["retained"] * T * layer["output_rate"])


def test_energy_of_masked_and_pruned_models_agree():
    model = build(SDMFormer)
    set_masks(model)
    data = batches()
    masked = synaptic_energy(measure_activity(model, data))
    pruned = synaptic_energy(measure_activity(prune(model), data))
    assert pruned["total_pj"] == pytest.approx(masked["total_pj"], rel=1e-9)
    for row in masked["by_row"]:
        assert pruned["by_row"][row] == pytest.approx(masked["by_row"][row], rel=1e-9, abs=1e-9)


def test_a4_parameter_count_by_hand():
    model = build(SDMFormer)
    dense = sum(p.numel() for n, p in model.named_parameters() if not n.endswith("mask.m"))
    with torch.no_grad():
        model.blocks[0].mlp.fc1.mask.m[:10].fill_(-1.0)    # 10 of 64 hidden channels
        model.blocks[0].attn.q.mask.m[:3].fill_(-1.0)      # 3 of 16 query channels
    counts = parameter_counts(model)
    # per removed channel: conv weight row (C_in), conv bias (fc1 has one, Q has none), BN weight and bias
    assert counts == {"dense": dense, "pruned": dense - 10 * (16 + 1 + 2) - 3 * (16 + 0 + 2),
                      "physical": dense - 10 * (16 + 1 + 2) - 10 * 16 - 3 * (16 + 0 + 2), "mask": 5 * 16 + 64}
    spk = parameter_counts(build(Spikformer))
    assert spk["dense"] == spk["pruned"] == spk["physical"] and spk["mask"] == 0


def test_compare_models_gives_table_1_and_3_ratios():
    spk, sdm = build(Spikformer), build(SDMFormer)
    set_masks(sdm)
    data = batches()
    result = compare_models(spk, sdm, data)
    params, energy = result["params"], result["energy"]
    assert params["ratio"] == pytest.approx(params["sdmformer"]["pruned"] / params["spikformer"]["dense"])
    assert energy["ratio"] == pytest.approx(energy["sdmformer"]["total_pj"] / energy["spikformer"]["total_pj"])
    assert energy["spikformer"]["total_pj"] == pytest.approx(synaptic_energy(measure_activity(spk, data))["total_pj"])
    assert 0 < params["ratio"] < 1 and "conv" in energy["spikformer"]["by_row"]
    with pytest.raises(SpikemaskError, match="re-iterable"):
        compare_models(spk, sdm, iter(data))


def test_bad_energy_arguments_raise():
    activity = measure_activity(build(Spikformer), batches(1))
    with pytest.raises(SpikemaskError):
        synaptic_energy(activity, rate="mean")
    with pytest.raises(SpikemaskError):
        synaptic_energy(activity, e_ac=-1)
    with pytest.raises(SpikemaskError):
        measure_activity(build(Spikformer), [])


def test_flops_of_spikformer_2_256_match_the_checklist():
    """D8: F_Conv of every 2-256 layer on 128-px input, per sample and time step."""
    model = Spikformer(depth=2, dim=256, heads=16, num_classes=10, in_channels=2, img_size=128, time_steps=1)
    activity = measure_activity(model, [torch.zeros(1, 2, 128, 128)])
    flops = {layer["name"]: layer["flops"] for layer in activity["layers"]}
    assert flops["patch_embed.stages.0"] == 9_437_184
    assert [flops[f"patch_embed.stages.{i}"] for i in (1, 2, 3)] == [75_497_472] * 3
    assert flops["pos.stage"] == 37_748_736
    for i in (0, 1):
        assert [flops[f"blocks.{i}.attn.{n}"] for n in "qkv"] + [flops[f"blocks.{i}.attn.proj"]] == [4_194_304] * 4
        assert flops[f"blocks.{i}.mlp.fc1"] == flops[f"blocks.{i}.mlp.fc2"] == 16_777_216
