"""Energy accounting: spike/SOP counts and MST power (:mod:`.spikes`)."""
from .spikes import EnergyReport, SpikeCounter, conv_sops, power_watts

__all__ = ["EnergyReport", "SpikeCounter", "conv_sops", "power_watts"]
