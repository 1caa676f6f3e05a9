"""Measurement: spike and operation counts, energy models, evaluation of SNNs, spike activation maps.

- :mod:`.spikes`: spike and synaptic-operation counts of converted SNNs and MST power
  ``P = spikes per step / 1 ms × α`` (MST eq. 10).
- :mod:`.synaptic`: the E_MAC / E_AC energy model of SDMFormer Table 2 (eqs. 7–8), firing rates and
  parameter counts with masked channels excluded.
- :mod:`.evaluation`: accuracy after every step and energy of an SNN over a test loader.
- :mod:`.sam`, :mod:`.activity`: spike activation maps (MST Fig. 7), SDMFormer's Fig. 1a and Fig. 4 analyses.

Only this package registers forward hooks on models (``tests/test_architecture.py`` checks it).
"""
from spikemask.measure.spikes import EnergyReport, SpikeCounter, conv_sops, power_watts
from spikemask.measure.synaptic import (
    E_AC_PJ,
    E_MAC_PJ,
    block_firing_rates,
    compare_models,
    measure_activity,
    parameter_counts,
    synaptic_energy,
    synaptic_layers,
)

__all__ = ["EnergyReport", "SpikeCounter", "conv_sops", "power_watts", "E_AC_PJ", "E_MAC_PJ", "block_firing_rates",
           "compare_models", "measure_activity", "parameter_counts", "synaptic_energy", "synaptic_layers"]
