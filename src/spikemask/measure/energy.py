"""Energy models over one :class:`~spikemask.measure.recorder.Measurement` (all per image, over T steps).

Every model reads the same counts; none re-runs the network.

``alpha`` — MST eq. 10 (FAITHFULNESS E1)
    ``P = spikes per time step / 1 ms × α`` in W; α is the energy of one spike in J (α = 1 reads
    "α W" as in MST Table 3). ``spikes="fired"`` counts what the neurons emit, ``"delivered"`` what
    passes the Random Spike Masks (the paper does not say which; docs/mst.md, "Table 3").
``ops`` — the E_AC / E_MAC model of SDMFormer eqs. 7–8 applied to *every* counted operation
    ``E = E_AC · ACs + E_MAC · MACs`` (45 nm: E_MAC = 4.6 pJ, E_AC = 0.9 pJ; Horowitz 2014, as in
    Spikformer and SDMFormer). Attention products, pooling and analog ops are included; SDMFormer's
    own Table 2 accounting (which leaves them out, A10) is :func:`spikemask.measure.synaptic.synaptic_energy`.
``memory`` — ``ops`` plus memory traffic, 32-bit words from a small SRAM at ``E_MEM`` = 5 pJ per
    access (Horowitz, ISSCC 2014, Fig. 1.1.9: 10 pJ per 64-bit access to an 8 KB SRAM, halved for
    32 bits). A no-reuse model in the spirit of Lemaire et al. (ICONIP 2022) and Dampfhoffer et al.
    (IEEE TETCI 2023): each AC reads its weight and reads and writes the target's membrane
    potential (3 accesses); each MAC reads its weight and its input (2), each analog output is
    written once; every neuron reads and writes its potential at every step (2, plus one AC for the
    threshold compare and reset) and every delivered spike is written once (1).
``qann`` — the equivalent quantized ANN: the same layers run *once* with L-level activations
    (what the SNN was converted from), every op dense: ``E = E_MAC · dense MACs`` and, with
    memory, 2 accesses per MAC and one write per output and per activation. At the same E_MAC as
    the SNN's. An integer accelerator would spend less per MAC (8-bit: 0.2 pJ multiply + 0.03 pJ
    add, Horowitz 2014); ``qann_int8`` reports that too, so every report can say whether the SNN
    spends less than the ANN it came from at either precision.
"""
from __future__ import annotations

from typing import Any, Callable

from spikemask.errors import OptionError
from spikemask.measure.recorder import Measurement

STEP_SECONDS = 1e-3   # one SNN time step lasts 1 ms (MST eq. 10)
E_MAC_PJ = 4.6        # 32-bit float multiply-accumulate, 45 nm (pJ)
E_AC_PJ = 0.9         # 32-bit float accumulate, 45 nm (pJ)
E_MEM_PJ = 5.0        # one 32-bit word from an 8 KB SRAM, 45 nm (pJ)
E_MAC_INT8_PJ = 0.23  # 8-bit integer multiply (0.2) + add (0.03), 45 nm (pJ)
SPIKE_CHOICES = ("fired", "delivered")


def power_watts(spikes_per_step: float, alpha: float = 1.0) -> float:
    """MST eq. 10: ``P = spikes per step / 1 ms × α`` in W (α in J per spike; α = 1 gives "α W")."""
    return spikes_per_step / STEP_SECONDS * alpha


def alpha_power(m: Measurement, alpha: float = 1.0, spikes: str = "delivered") -> dict[str, Any]:
    """MST eq. 10 on ``spikes`` (``"fired"`` or ``"delivered"``) → ``{"watts", "spikes_per_step", "spikes"}``."""
    if spikes not in SPIKE_CHOICES:
        raise OptionError("spikes", f"must be one of {SPIKE_CHOICES}, got {spikes!r}")
    per_step = m.spikes(spikes) / m.time_steps
    return {"watts": power_watts(per_step, alpha), "spikes_per_step": per_step, "spikes": spikes, "alpha": alpha}


def ops_energy(m: Measurement, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> dict[str, Any]:
    """``E_AC · ACs + E_MAC · MACs`` over every op → ``{"total_pj", "ac_pj", "mac_pj", "analog_pj", "by_op"}``."""
    by_op = {o.name: (e_ac * o.acs + (0.0 if o.folded else e_mac * o.macs)) / m.images for o in m.ops}
    analog = sum(by_op[o.name] for o in m.ops if o.analog)
    ac, mac = e_ac * m.acs, e_mac * m.macs
    return {"total_pj": ac + mac, "ac_pj": ac, "mac_pj": mac, "analog_pj": analog, "by_op": by_op}


def memory_energy(m: Measurement, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ,
                  e_mem: float = E_MEM_PJ) -> dict[str, Any]:
    """:func:`ops_energy` plus memory accesses (module docstring) → ``{"total_pj", "compute_pj", "memory_pj"}``."""
    compute = ops_energy(m, e_ac, e_mac)["total_pj"]
    analog_outputs = sum(o.outputs for o in m.ops if o.macs and not o.folded) / m.images
    neuron_steps = m.neurons * m.time_steps
    accesses = 3 * m.acs + 2 * m.macs + analog_outputs + 2 * neuron_steps + m.spikes("delivered")
    compute += e_ac * neuron_steps
    return {"total_pj": compute + e_mem * accesses, "compute_pj": compute, "memory_pj": e_mem * accesses,
            "accesses": accesses}


def qann_energy(m: Measurement, e_mac: float = E_MAC_PJ, e_mem: float = E_MEM_PJ) -> dict[str, Any]:
    """The quantized ANN, every op dense and run once (module docstring) →
    ``{"compute_pj", "memory_pj", "total_pj", "macs", "e_mac"}``."""
    macs = sum(o.dense_macs for o in m.ops if not o.folded) / (m.images * m.time_steps)
    outputs = sum(o.outputs for o in m.ops if not o.folded) / (m.images * m.time_steps)
    accesses = 2 * macs + outputs + m.neurons
    return {"compute_pj": e_mac * macs, "memory_pj": e_mem * accesses, "total_pj": e_mac * macs + e_mem * accesses,
            "macs": macs, "e_mac": e_mac}


ENERGY_MODELS: dict[str, Callable[..., dict[str, Any]]] = {
    "alpha": alpha_power, "ops": ops_energy, "memory": memory_energy, "qann": qann_energy,
}


def check_model(name: str) -> str:
    """Validate one energy-model name (a key of :data:`ENERGY_MODELS`)."""
    if name not in ENERGY_MODELS:
        raise OptionError("energy_models", f"must be any of {sorted(ENERGY_MODELS)}, got {name!r}")
    return name


def energy_report(m: Measurement, models: list[str] | None = None, alpha: float = 1.0,
                  spikes: str = "delivered") -> dict[str, Any]:
    """The report card's numbers: the measurement, each energy model, and the SNN/QANN ratios.

    Returns ``{"measurement": Measurement.to_dict(), "models": {name: result}, "verdict", "analog_share",
    "snn_vs_qann": {"ops", "memory", "ops_int8"}}`` plus the flat totals every caller reads
    (``spikes_per_image``, ``spikes_per_step``, ``acs_per_image``, ``macs_per_image``, ``power_alpha_watts``,
    ``time_steps``, ``images``, ``alpha``, ``spikes``).
    """
    names = [check_model(n) for n in (models if models is not None else ENERGY_MODELS)]
    results: dict[str, Any] = {}
    for name in names:
        if name == "alpha":
            results[name] = alpha_power(m, alpha, spikes)
        elif name == "qann":
            results["qann"] = qann_energy(m)
            results["qann_int8"] = qann_energy(m, E_MAC_INT8_PJ)
        else:
            results[name] = ENERGY_MODELS[name](m)
    power = alpha_power(m, alpha, spikes)
    report: dict[str, Any] = {
        "time_steps": m.time_steps, "images": m.images, "alpha": alpha, "spikes": spikes,
        "verdict": m.verdict, "analog_share": m.analog_share(),
        "spikes_per_image": m.spikes(spikes), "spikes_per_step": power["spikes_per_step"],
        "fired_per_image": m.spikes("fired"), "delivered_per_image": m.spikes("delivered"),
        "acs_per_image": m.acs, "macs_per_image": m.macs, "power_alpha_watts": power["watts"],
        "models": results, "measurement": m.to_dict(),
    }
    if "qann" in results:
        ratios = {}
        if "ops" in results:
            ratios["ops"] = results["ops"]["total_pj"] / results["qann"]["compute_pj"]
            ratios["ops_int8"] = results["ops"]["total_pj"] / results["qann_int8"]["compute_pj"]
        if "memory" in results:
            ratios["memory"] = results["memory"]["total_pj"] / results["qann"]["total_pj"]
        report["snn_vs_qann"] = ratios
    return report
