"""Masks that remove spikes or channels.

- :mod:`.rsm` — Random Spike Masking (MST): per-spike Bernoulli masks, fresh per step or held.
- :mod:`.dynamic` — SDMFormer's learnable per-channel masks.
"""
