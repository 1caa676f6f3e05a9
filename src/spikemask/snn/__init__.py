"""Spiking building blocks: neurons, surrogate gradients, the QCFS activation and time-major helpers.

- :mod:`.functional` — folding ``[T, B, ...]`` ↔ ``[T·B, ...]`` and applying stateless layers over time.
- :mod:`.surrogate` — every surrogate and straight-through gradient in the library.
- :mod:`.neurons` — IF and LIF neurons (functional scans and thin stateful modules).
- :mod:`.qcfs` — the QCFS quantised activation that conversion turns into IF neurons.
"""
