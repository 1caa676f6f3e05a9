"""Measurement: one recorder of every operation and spike, energy models over its counts, evaluation.

- :mod:`.recorder`: :class:`Recorder`, the only place that hooks a model — ops (ACs on spikes, MACs on
  analog input), fired and delivered spikes, neurons per image; :class:`Measurement`, its result.
- :mod:`.energy`: energy models over a measurement — MST eq. 10 α-power, E_AC/E_MAC over every op,
  a memory-aware model and the equivalent quantized ANN.
- :mod:`.synaptic`: SDMFormer's Table 2 (eqs. 7–8) from the recorder's counts, parameter counts.
- :mod:`.evaluation`: accuracy after every step and the energy report of an SNN over a test loader.
- :mod:`.sam`, :mod:`.activity`: spike activation maps (MST Fig. 7), SDMFormer's Fig. 1a and Fig. 4 analyses.
- :mod:`.neurobench`: spikemask SNNs in NeuroBench 2.3.0 (optional; not imported here).

Only :mod:`.recorder` registers forward hooks (``tests/test_architecture.py`` checks it).
"""
from spikemask.measure.energy import E_AC_PJ, E_MAC_PJ, ENERGY_MODELS, energy_report, power_watts
from spikemask.measure.recorder import Measurement, Recorder
from spikemask.measure.synaptic import (
    block_firing_rates,
    compare_models,
    measure_activity,
    parameter_counts,
    synaptic_energy,
    synaptic_layers,
)

__all__ = ["E_AC_PJ", "E_MAC_PJ", "ENERGY_MODELS", "Measurement", "Recorder", "block_firing_rates",
           "compare_models", "energy_report", "measure_activity", "parameter_counts", "power_watts",
           "synaptic_energy", "synaptic_layers"]
