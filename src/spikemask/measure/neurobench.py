"""spikemask SNNs inside NeuroBench (``neurobench`` 2.3.0), the community's SNN benchmark harness.

NeuroBench is optional: nothing here imports it until it is used, and using it without it raises
:class:`~spikemask.errors.SpikemaskError` with the install line (:data:`INSTALL`; ``neurobench``'s
metadata pins ``torchaudio``, which would replace spikemask's torch, so it is installed without
dependencies — the harness and its metrics import only ``snntorch`` and ``tqdm``)::

    from spikemask.measure.neurobench import neurobench_model, run_benchmark
    nb = neurobench_model(convert(vgg), time_steps=4)           # a neurobench.models.NeuroBenchModel
    out = run_benchmark(nb, loader)                              # NeuroBench's metrics + our Measurement
    out["neurobench"]["SynapticOperations"], out["spikemask"].acs

**The model** (:func:`neurobench_model`, class :class:`SpikemaskModel`): NeuroBench calls it on a
loader batch — images ``[B, C, H, W]`` (shown for T steps) or frames ``[B, T, C, H, W]`` (batch
first, NeuroBench's convention) — and it answers with the predicted classes ``[B]`` after all T
steps (``output='logits'``: the answer's logits ``[B, K]``; ``'steps'``: every step's ``[B, T, K]``).
Its activation modules are our spike sources: with ``spikes='delivered'`` (default) each
:class:`~spikemask.models.layers.SpikeSite` (neuron + Random Spike Mask, so masked spikes count as
silent) and every neuron outside a site; with ``'fired'`` every neuron
(:class:`~spikemask.snn.neurons.BaseNeuron`: IF, LIF, signed IF), before its mask. Its connection
layers are NeuroBench's own choice: every ``Linear`` and ``Conv1d/2d/3d``.

**What NeuroBench counts, and how it differs from our recorder** (measured and tested in
``tests/test_neurobench.py``). NeuroBench's ``SynapticOperations`` runs each connection layer
again with its inputs and weights binarised (nonzero → 1, bias 0): one operation per pair of a
nonzero input and a nonzero weight that reaches an output. The layer's ops are ACs when every input
value is 0, 1 or −1, else MACs; per sample over all T steps, like ours. Ours
(:class:`~spikemask.measure.recorder.Recorder`) differ in five ways, each exact (both sum float32
tensors, so counts are exact integers while an op's count per call stays below 2²⁴; above, they
agree to ~1e-8):

1. *Spikes of value θ.* A converted network's IF neuron emits θ·s (θ = λ); NeuroBench takes
   {0, θ} for analog values and counts those ACs as MACs. ``binary_spikes=True`` rebuilds every
   layer that reads spikes of one value u ≠ 1 as ``(u·W)·(x/u)`` (:class:`UnitSpikes`), which
   NeuroBench counts as ACs — then the hidden layers agree exactly. The rebuilt copy computes the
   same map up to float rounding: bit for bit when u is a power of two (untrained VGG: θ = 2), else
   a few spikes in a million may differ (the trained VGG-16 of ``benchmarks/neurobench_models.py``
   at T = 32: 225 of 39.9 M); the wrapped layer ``name`` is op ``name.layer`` in our measurement.
2. *The first layer.* We count its dense MACs (padding taps included); NeuroBench counts nonzero
   inputs × the weights they reach in bounds. On normalised MNIST (no zero pixel) the difference is
   the padding: per image, T · C_out · (28² · 9 − 82²) = T · C_out · 332 for a 3×3 conv. Binary
   event frames are spikes to NeuroBench: it counts the first layer's ops as ACs.
3. *Constant inputs.* SDMFormer's learnable position embedding P is part of the residual stream
   that Q, K, V and MLP1 read; we subtract it (``W(s + P) = Ws + WP``, computed once) and count ACs
   on the spikes; NeuroBench sees analog input and counts a MAC per nonzero input (all of them).
   Sums of spikes (values 2, 3, ...) are MACs to NeuroBench too (one per nonzero), ACs to us (one
   per spike).
4. *Other ops.* NeuroBench does not count attention matmuls (Q·Kᵀ, ·V) or pooling; we do.
5. *Zero weights.* NeuroBench skips synapses whose weight is exactly 0; we count every synapse.

:class:`SynapticOperationsByLayer` is NeuroBench's own count split per layer (keyed by our module
names), and :func:`compare_synops` puts it next to the recorder's per-op counts.

Our measurement runs in the same forward passes as NeuroBench's hooks (a fresh
:class:`~spikemask.measure.recorder.Recorder` per batch, merged by :meth:`SpikemaskModel.measurement`),
so random masks cannot make the two disagree. This module registers no hooks itself: NeuroBench
does, on the modules named above. (``Benchmark.run(quiet=True)`` sets ``sys.stdout`` to None;
:mod:`spikemask.snn.kernels.cpu` gives torch's extension loader a sink meanwhile.)
"""
from __future__ import annotations

import contextlib
import copy
from collections import OrderedDict
from dataclasses import replace
from functools import partial
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from spikemask.convert.conversion import is_spiking
from spikemask.convert.simulate import answer_by_step, simulate
from spikemask.errors import SpikemaskError, check
from spikemask.measure.recorder import Measurement, OpCounts, Recorder, SiteCounts, classify, merge_kind
from spikemask.models.layers import SpikeSite
from spikemask.snn.neurons import BaseNeuron

NEUROBENCH_VERSION = "2.3.0"
SNNTORCH_VERSION = "1.0.0"
INSTALL = f"pip install --no-deps neurobench=={NEUROBENCH_VERSION} snntorch=={SNNTORCH_VERSION}"
CONNECTION_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)   # NeuroBench's stateless connection layers
SPIKES = ("delivered", "fired")
OUTPUTS = ("class", "logits", "steps")

_CLASSES: dict[str, type] = {}


# ----------------------------------------------------------------------------- NeuroBench, lazily
def require_neurobench() -> Any:
    """The ``neurobench`` package; :class:`SpikemaskError` with :data:`INSTALL` if it or snntorch is missing."""
    try:
        import neurobench
        import neurobench.benchmarks
        import neurobench.metrics.static
        import neurobench.metrics.workload
        import neurobench.models  # noqa: F401
    except ImportError as err:
        raise SpikemaskError(f"NeuroBench is not installed ({err}); install it without its torchaudio pin: "
                             f"{INSTALL}") from None
    return neurobench


def __getattr__(name: str) -> type:
    """``SpikemaskModel`` and ``SynapticOperationsByLayer``: NeuroBench subclasses, built on first use."""
    if name in ("SpikemaskModel", "SynapticOperationsByLayer"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _classes() -> dict[str, type]:
    if not _CLASSES:
        require_neurobench()
        from neurobench.metrics.abstract import AccumulatedMetric
        from neurobench.metrics.utils.layers import single_layer_MACs
        from neurobench.models import NeuroBenchModel

        class SpikemaskModel(_SpikemaskModel, NeuroBenchModel):
            __doc__ = _SpikemaskModel.__doc__

        class SynapticOperationsByLayer(_SynapticOperationsByLayer, AccumulatedMetric):
            __doc__ = _SynapticOperationsByLayer.__doc__
            _layer_ops = staticmethod(single_layer_MACs)

        for cls in (SpikemaskModel, SynapticOperationsByLayer):
            cls.__module__, cls.__qualname__ = __name__, cls.__name__
            _CLASSES[cls.__name__] = cls
    return _CLASSES


# ----------------------------------------------------------------------------- the model
class UnitSpikes(nn.Module):
    """``layer`` fed spikes of value ``unit`` as binary spikes: ``layer'(x / unit)`` with ``layer'``'s
    weights ``unit · W`` (bias unchanged), the same map as ``layer(x)`` up to float rounding (exact
    when ``unit`` is a power of two). ``{0, θ}`` becomes ``{0, 1}`` exactly (θ/θ = 1), so NeuroBench
    counts the layer's ops as ACs. Built by :func:`neurobench_model` (``binary_spikes=True``)."""

    def __init__(self, layer: nn.Module, unit: float) -> None:
        super().__init__()
        check(unit > 0, f"a spike unit must be > 0, got {unit}")
        self.layer, self.unit = layer, float(unit)
        with torch.no_grad():
            self.layer.weight.mul_(self.unit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.layer(x / self.unit)

    def extra_repr(self) -> str:
        return f"unit={self.unit:.6g}"


class _SpikemaskModel:
    """A spikemask SNN as a ``neurobench.models.NeuroBenchModel`` (built by :func:`neurobench_model`).

    Attributes:
        net: the network NeuroBench measures (``__net__()``); with ``binary_spikes`` a rescaled copy.
        time_steps, time_chunk, output, spikes: as given to :func:`neurobench_model`.
        measurements: one :class:`~spikemask.measure.recorder.Measurement` per call while ``record``.
    """

    def __init__(self, net: nn.Module, time_steps: int | None, spikes: str, output: str,
                 time_chunk: int | None, record: bool) -> None:
        super().__init__()                          # NeuroBenchModel: hook lists, default activations
        self.net = net.eval()
        self.time_steps, self.time_chunk, self.output, self.spikes = time_steps, time_chunk, output, spikes
        self.record = record
        self.measurements: list[Measurement] = []
        if spikes == "delivered":                   # a site's output: its neuron's spikes after the mask
            self.add_activation_module(SpikeSite)
        self.add_activation_module(BaseNeuron)      # neurons outside sites ('delivered') or all ('fired')

    def __net__(self) -> nn.Module:
        return self.net

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Images ``[B, C, H, W]`` or frames ``[B, T, C, H, W]`` → the answer after T steps (``output``)."""
        check(torch.is_tensor(batch) and batch.dim() in (4, 5),
              f"expected a batch of images [B, C, H, W] or frames [B, T, C, H, W], got "
              f"{list(batch.shape) if torch.is_tensor(batch) else type(batch).__name__}")
        x = batch.transpose(0, 1) if batch.dim() == 5 else batch     # frames: time-major [T, B, ...]
        steps = x.shape[0] if x.dim() == 5 else self.time_steps
        if self.record:
            with Recorder(self.net) as rec:
                logits = simulate(self.net, x, steps, self.time_chunk)
            self.measurements.append(rec.measurement(logits.shape[0]))
        else:
            logits = simulate(self.net, x, steps, self.time_chunk)
        if self.output == "steps":
            return logits.transpose(0, 1)
        answer = answer_by_step(logits, getattr(self.net, "readout", "mean"))[-1]
        return answer if self.output == "logits" else answer.argmax(-1)

    def measurement(self) -> Measurement:
        """Our recorder's counts over every call since the last :meth:`clear_measurements` (per image)."""
        check(self.measurements, "nothing was recorded: run the model (or the Benchmark) on at least one batch "
                                 "with record=True")
        return merge_measurements(self.measurements)

    def clear_measurements(self) -> None:
        """Forget the recorded calls (:func:`run_benchmark` does so before each run)."""
        self.measurements.clear()

    def activation_names(self) -> list[str]:
        """Our module names of NeuroBench's activation layers, in its order (its own names are the last part)."""
        ids = {id(m): n for n, m in self.net.named_modules()}
        return [ids[id(layer["layer"])] for layer in self.activation_layers()]

    def connection_names(self) -> list[str]:
        """Our module names of NeuroBench's connection layers, in its order."""
        ids = {id(m): n for n, m in self.net.named_modules()}
        return [ids[id(layer)] for layer in self.connection_layers()]


def neurobench_model(model: nn.Module, time_steps: int | None = None, *, spikes: str = "delivered",
                     output: str = "class", time_chunk: int | None = None, record: bool = True,
                     binary_spikes: bool = False, example: torch.Tensor | None = None) -> Any:
    """Wrap a spiking network for NeuroBench: a ``SpikemaskModel`` (a ``neurobench.models.NeuroBenchModel``).

    Args:
        model: a converted SNN (:func:`~spikemask.convert.conversion.convert`) or a directly trained
            Spikformer/SDMFormer; put in eval mode.
        time_steps: T for static images (default: the model's ``default_time_steps``); frames bring theirs.
        spikes: NeuroBench's activations: ``'delivered'`` (spike sites after their masks, and free
            neurons) or ``'fired'`` (every neuron, before masks).
        output: ``'class'`` (predicted classes ``[B]``, for ``ClassificationAccuracy``), ``'logits'``
            (``[B, K]``, the answer after T steps) or ``'steps'`` (``[B, T, K]``, every step).
        time_chunk: steps per forward call (:func:`~spikemask.convert.simulate.simulate`).
        record: also count with our :class:`~spikemask.measure.recorder.Recorder` in the same passes.
        binary_spikes: rebuild (a copy of) the network so that every connection layer whose input on
            ``example`` is spikes of one value u ≠ 1 reads binary spikes (:class:`UnitSpikes`), so
            NeuroBench counts its ops as ACs (module docstring, point 1).
        example: an input batch (as the loader gives it) to find those layers; needed with ``binary_spikes``.
    Raises:
        SpikemaskError: NeuroBench missing (:data:`INSTALL`), a model without spike sources, bad options.
    """
    cls = _classes()["SpikemaskModel"]
    check(isinstance(model, nn.Module), f"model must be a torch module, got {type(model).__name__}")
    check(is_spiking(model), f"{type(model).__name__} is not a spiking network; convert a QCFS model first "
          "(spikemask.convert.conversion.convert) or pass a Spikformer/SDMFormer")
    check(spikes in SPIKES, f"spikes must be one of {', '.join(SPIKES)}, got {spikes!r}")
    check(output in OUTPUTS, f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    check(time_steps is None or (isinstance(time_steps, int) and time_steps >= 1),
          f"time_steps must be an integer >= 1, got {time_steps!r}")
    if binary_spikes:
        check(example is not None, "binary_spikes=True needs an example input batch (example=...) to find the "
                                   "layers that read spikes of value θ")
        model = rescale_spikes(model.eval(), spike_units(model.eval(), example, time_steps, time_chunk))
    return cls(model, time_steps, spikes, output, time_chunk, record)


def spike_units(model: nn.Module, example: torch.Tensor, time_steps: int | None = None,
                time_chunk: int | None = None) -> dict[str, float]:
    """``{layer name: u}`` for every connection layer whose input, in a run on ``example`` (images
    ``[B, C, H, W]`` or frames ``[B, T, C, H, W]``), was always spikes of the one value u ≠ 1 (silent calls aside)."""
    seen: dict[str, set[tuple[str, float]]] = {}

    def collect(name: str, module: nn.Module, args: tuple) -> None:
        x = args[0]
        if torch.is_tensor(x) and bool(x.detach().ne(0).any()):
            seen.setdefault(name, set()).add(classify(x))

    rec = Recorder(model, count=False)
    for name, module in model.named_modules():
        if isinstance(module, CONNECTION_LAYERS):
            rec.tap(module, partial(collect, name), pre=True)
    x = example.transpose(0, 1) if example.dim() == 5 else example
    with rec:
        simulate(model, x, x.shape[0] if x.dim() == 5 else time_steps, time_chunk)
    units = {}
    for name, kinds in seen.items():
        if len(kinds) == 1:
            (kind, unit), = kinds
            if kind == "spikes" and unit != 1.0:
                units[name] = unit
    return units


def rescale_spikes(model: nn.Module, units: dict[str, float]) -> nn.Module:
    """A copy of ``model`` with each layer ``name`` of ``units`` wrapped in :class:`UnitSpikes` ``(layer, u)``."""
    model = copy.deepcopy(model)
    for name, unit in units.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, UnitSpikes(getattr(parent, child), unit))
    return model


# ----------------------------------------------------------------------------- our counts over many calls
def merge_measurements(measurements: Iterable[Measurement]) -> Measurement:
    """One :class:`~spikemask.measure.recorder.Measurement` of several runs of the same model at the same T
    (counts summed, images summed, an op as analog as its most analog run)."""
    measurements = list(measurements)
    check(measurements, "no measurements to merge")
    steps = {m.time_steps for m in measurements}
    check(len(steps) == 1, f"measurements at different T cannot be merged: {sorted(steps)}")
    ops: dict[str, OpCounts] = {}
    sites: dict[str, SiteCounts] = {}
    for m in measurements:
        for o in m.ops:
            if o.name not in ops:
                ops[o.name] = replace(o)
                continue
            total = ops[o.name]
            for key in ("acs", "macs", "dense_macs", "outputs", "events", "elements"):
                setattr(total, key, getattr(total, key) + getattr(o, key))
            total.input = merge_kind(total.input, o.input)
            total.role = total.role or o.role
        for s in m.sites:
            if s.name not in sites:
                sites[s.name] = replace(s)
                continue
            total = sites[s.name]
            total.fired, total.delivered = total.fired + s.fired, total.delivered + s.delivered
            total.neurons = max(total.neurons, s.neurons)
    return Measurement(steps.pop(), sum(m.images for m in measurements), list(ops.values()), list(sites.values()))


# ----------------------------------------------------------------------------- NeuroBench's count per layer
@contextlib.contextmanager
def _hooks_detached(layer: nn.Module) -> Iterator[None]:
    """``layer`` with its forward (pre-)hook tables set aside and put back unchanged (the same tables,
    so every hook handle stays valid): a copy made meanwhile carries no hook, and nothing is registered."""
    saved = layer._forward_pre_hooks, layer._forward_hooks
    layer._forward_pre_hooks, layer._forward_hooks = OrderedDict(), OrderedDict()
    try:
        yield
    finally:
        layer._forward_pre_hooks, layer._forward_hooks = saved


class _SynapticOperationsByLayer:
    """NeuroBench's ``SynapticOperations``, per connection layer (a ``neurobench`` ``AccumulatedMetric``).

    The same counting call on the same hooked inputs (``neurobench.metrics.utils.layers.single_layer_MACs``);
    the result is ``{our module name: {"Effective_MACs", "Effective_ACs", "Dense"}}`` per sample, so
    its sums equal ``SynapticOperations``' three numbers.
    """

    _layer_ops: Any

    def __init__(self) -> None:
        super().__init__(requires_hooks=True)
        self.reset()

    def reset(self) -> None:  # noqa: D102
        self.layers: dict[str, dict[str, float]] = {}
        self.samples = 0

    def __call__(self, model: Any, preds: torch.Tensor, data: tuple) -> dict[str, dict[str, float]]:  # noqa: D102
        names = {id(m): n for n, m in model.__net__().named_modules()}
        for hook in model.connection_hooks:
            counts = self.layers.setdefault(names.get(id(hook.layer), repr(hook.layer)),
                                            {"Effective_MACs": 0, "Effective_ACs": 0, "Dense": 0})
            for inputs in hook.inputs:
                x = inputs[0] if len(inputs) == 1 else inputs
                with _hooks_detached(hook.layer):   # NeuroBench deep-copies the layer: not with the hooks on it
                    ops, spiking = self._layer_ops(x, hook.layer)
                    dense, _ = self._layer_ops(x, hook.layer, total=True)
                counts["Effective_ACs" if spiking else "Effective_MACs"] += ops
                counts["Dense"] += dense
        self.samples += data[0].size(0)
        return self.compute()

    def compute(self) -> dict[str, dict[str, float]]:  # noqa: D102
        n = max(self.samples, 1)
        return {name: {k: v / n for k, v in c.items()} for name, c in self.layers.items()}


# ----------------------------------------------------------------------------- running and comparing
def default_metrics() -> list[list[type]]:
    """NeuroBench's static (footprint, connection sparsity, parameters) and workload metrics (accuracy,
    activation sparsity, synaptic operations, and :class:`SynapticOperationsByLayer`)."""
    require_neurobench()
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations
    return [[Footprint, ConnectionSparsity, ParameterCount],
            [ClassificationAccuracy, ActivationSparsity, SynapticOperations, _classes()["SynapticOperationsByLayer"]]]


def run_benchmark(model: Any, loader: Any, metrics: list[list[type]] | None = None, quiet: bool = True,
                  **run: Any) -> dict[str, Any]:
    """Run ``neurobench.benchmarks.Benchmark`` on ``model`` (a :func:`neurobench_model`) over ``loader``.

    Returns ``{"neurobench": its results, "spikemask": our Measurement of the same passes (None unless
    the model records)}``. ``metrics``: ``[static, workload]`` classes (default :func:`default_metrics`);
    ``run``: further ``Benchmark.run`` arguments.
    """
    require_neurobench()
    from neurobench.benchmarks import Benchmark
    check(isinstance(model, _SpikemaskModel), "model must come from spikemask.measure.neurobench.neurobench_model")
    model.clear_measurements()
    bench = Benchmark(model, loader, [], [], metrics or default_metrics())
    try:
        results = bench.run(quiet=quiet, **run)
    finally:
        bench.workload_metric_manager.cleanup_hooks(model)   # no hooks left on the network
    return {"neurobench": results, "spikemask": model.measurement() if model.record and model.measurements else None}


NOTES = {
    "uncounted": "not a NeuroBench connection layer (matmul, pooling)",
    "first": "first layer on data: NeuroBench counts nonzero inputs in bounds",
    "offset": "constant input (position embedding) subtracted by us",
    "multi": "sums of spikes: one MAC per nonzero to NeuroBench",
    "analog": "analog input: NeuroBench counts nonzero inputs",
    "theta": "spikes of value θ ≠ 1: MACs to NeuroBench",
    "spikes": "binary spikes: the same ACs",
}


def explain(op: OpCounts, offsets: Iterable[str], nb: dict[str, float] | None = None) -> str:
    """Why NeuroBench's count of op ``op`` (``nb``: its count of that layer) may differ from ours
    (:data:`NOTES`; module docstring)."""
    if op.op not in ("linear", "conv1d", "conv2d"):
        return NOTES["uncounted"]
    if op.role == "encoding":
        return NOTES["first"]
    if op.name in offsets:
        return NOTES["offset"]
    if op.input in ("multi", "analog"):
        return NOTES[op.input]
    theta = nb is not None and nb["Effective_MACs"] > 0 and not nb["Effective_ACs"]
    return NOTES["theta"] if theta else NOTES["spikes"]


def compare_synops(results: dict[str, Any], measurement: Measurement, net: nn.Module | None = None
                   ) -> list[dict[str, Any]]:
    """One row per op of ``measurement`` (per image): our ACs and MACs next to NeuroBench's (from
    ``SynapticOperationsByLayer`` in ``results``; ``None`` where it does not count the op) and :func:`explain`."""
    by_layer = results.get("SynapticOperationsByLayer") or {}
    offsets = set(getattr(net, "constant_inputs", dict)()) if net is not None else set()
    rows = []
    n = measurement.images
    for o in measurement.ops:
        if o.folded:
            continue
        nb = by_layer.get(o.name)
        rows.append({"name": o.name, "op": o.op, "role": o.role, "input": o.input,
                     "acs": o.acs / n, "macs": o.macs / n, "dense_macs": o.dense_macs / n,
                     "nb_acs": None if nb is None else nb["Effective_ACs"],
                     "nb_macs": None if nb is None else nb["Effective_MACs"],
                     "nb_dense": None if nb is None else nb["Dense"], "note": explain(o, offsets, nb)})
    return rows
