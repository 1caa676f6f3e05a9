"""Spike, synaptic-operation and power accounting for converted SNNs (MST eq. 10, FAITHFULNESS E1).

:class:`SpikeCounter` hooks a network and, over any number of forward calls, counts

- **spikes** at every :class:`~spikemask.models.layers.SpikeSite`: its nonzero outputs, i.e. the
  spikes that survive the Random Spike Mask and are transmitted;
- **synaptic operations** at every ``Conv2d``/``Linear``: if its input is binary spikes (values in
  {0, v}), one accumulate (SOP, an AC) per spike per target neuron — the exact fan-out, borders
  included; otherwise (analog input such as the image, or pooled rates) the dense MAC count.

MST's power model: ``P = spikes per time step / 1 ms × α`` (W), with α the energy of one spike in J;
``alpha = 1`` reads "α W" as in MST Table 3. Counts are reported per image, summed over all T steps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from spikemask.errors import check
from spikemask.models.layers import SpikeSite

STEP_SECONDS = 1e-3  # one SNN time step lasts 1 ms (MST eq. 10)


@dataclass
class LayerCounts:
    """Raw totals for one layer over all counted calls."""

    kind: str                # "site" (emits spikes) or "synapse" (conv/linear)
    neurons: int = 0         # site: number of neurons per image per step
    spikes: int = 0          # site: transmitted spikes, all images and steps
    sops: int = 0            # synapse: spike-driven accumulates
    macs: int = 0            # synapse: dense multiply-accumulates (analog input)


@dataclass
class EnergyReport:
    """Per-image counts over ``time_steps`` steps and the MST power estimate."""

    time_steps: int
    images: int
    alpha: float
    spikes_per_image: float
    spikes_per_step: float
    sops_per_image: float
    macs_per_image: float
    power_alpha_watts: float
    layers: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def is_binary(x: torch.Tensor) -> bool:
    """True if every element of ``x`` is 0 or the tensor's one positive value (a spike tensor)."""
    top = x.amax()
    return bool(((x == 0) | (x == top)).all())


def conv_sops(x: torch.Tensor, conv: nn.Conv2d) -> int:
    """Exact synaptic operations of ``conv`` on spike input ``x`` ``[N, C, H, W]``: Σ spikes × fan-out."""
    spikes = (x != 0).to(torch.float32)
    g = conv.groups
    ones = torch.ones(g, conv.in_channels // g, *conv.kernel_size, device=x.device)
    per_group = F.conv2d(spikes, ones, stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=g)
    return int(per_group.sum().item()) * (conv.out_channels // g)


def dense_macs(x: torch.Tensor, y: torch.Tensor, layer: nn.Module) -> int:
    """Dense multiply-accumulates of ``layer`` mapping ``x`` to ``y``."""
    if isinstance(layer, nn.Conv2d):
        k = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
        return y.numel() * k
    return y.numel() * layer.in_features


class SpikeCounter:
    """Context manager that counts spikes and operations of ``model`` during forward calls.

    Example::

        with SpikeCounter(snn) as counter:
            simulate(snn, x, T)
        report = counter.report(images=x.shape[0], time_steps=T)
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.counts: dict[str, LayerCounts] = {}
        self._handles: list = []

    def __enter__(self) -> "SpikeCounter":
        for name, module in self.model.named_modules():
            if isinstance(module, SpikeSite):
                self.counts[name] = LayerCounts("site")
                self._handles.append(module.register_forward_hook(self._site_hook(name)))
            elif isinstance(module, (nn.Conv2d, nn.Linear)):
                self.counts[name] = LayerCounts("synapse")
                self._handles.append(module.register_forward_hook(self._synapse_hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _site_hook(self, name: str):
        def hook(module, inputs, output):
            c = self.counts[name]
            c.spikes += int(torch.count_nonzero(output).item())
            c.neurons = output[0].numel()
        return hook

    def _synapse_hook(self, name: str):
        def hook(module, inputs, output):
            x, c = inputs[0], self.counts[name]
            if is_binary(x):
                c.sops += conv_sops(x, module) if isinstance(module, nn.Conv2d) else \
                    int(torch.count_nonzero(x).item()) * module.out_features
            else:
                c.macs += dense_macs(x, output, module)
        return hook

    def report(self, images: int, time_steps: int, alpha: float = 1.0) -> EnergyReport:
        """Per-image totals over ``time_steps`` steps after counting ``images`` inputs."""
        check(images > 0 and time_steps > 0, "count at least one image over at least one time step")
        spikes = sum(c.spikes for c in self.counts.values())
        per_image = spikes / images
        per_step = per_image / time_steps
        layers = {}
        for name, c in self.counts.items():
            row = {"kind": c.kind}
            if c.kind == "site":
                row.update(spikes_per_image=c.spikes / images,
                           firing_rate=c.spikes / max(1, images * time_steps * c.neurons), neurons=c.neurons)
            else:
                row.update(sops_per_image=c.sops / images, macs_per_image=c.macs / images)
            layers[name] = row
        return EnergyReport(time_steps=time_steps, images=images, alpha=alpha,
                            spikes_per_image=per_image, spikes_per_step=per_step,
                            sops_per_image=sum(c.sops for c in self.counts.values()) / images,
                            macs_per_image=sum(c.macs for c in self.counts.values()) / images,
                            power_alpha_watts=power_watts(per_step, alpha), layers=layers)


def power_watts(spikes_per_step: float, alpha: float = 1.0) -> float:
    """MST eq. 10: ``P = spikes per step / 1 ms × α`` in W (α in J per spike; α = 1 gives "α W")."""
    return spikes_per_step / STEP_SECONDS * alpha
