"""The one recorder: every operation and every spike of a network's forward passes, counted.

:class:`Recorder` is the only place in spikemask that registers forward hooks (``tests/test_architecture.py``
checks it). Every analysis is built on it: the energy report (:mod:`.energy`), SDMFormer's Table 2
(:mod:`.synaptic`), spike activation maps (:mod:`.sam`), inactive channels and position heatmaps
(:mod:`.activity`). Counting is on by default; :meth:`Recorder.tap` lets an analysis see the inputs or
output of one module without hooking it itself.

**Spike sources.** A :class:`~spikemask.models.layers.SpikeSite` (activation + Random Spike Mask) has
*fired* spikes (the nonzero outputs of its activation, before the mask) and *delivered* spikes (its
nonzero outputs, after the mask); a neuron outside a site (Spikformer's LIFs) fires what it delivers.
``neurons`` is the number of neurons per image per step: output elements of one forward call divided
by the (time step, image) pairs of that call, so windows, heads and tokens are all counted.

**Operations.** For every ``Conv1d``/``Conv2d``/``Linear``, matrix product (:class:`~spikemask.models.layers.MatMul`,
:class:`~spikemask.models.mst.attention.AttentionProduct`, :class:`~spikemask.models.mst.attention.SpikeProduct`),
pooling layer, softmax, ``LayerNorm`` and ``BatchNorm``, each input is classified:

- ``spikes``: every nonzero has the same magnitude (binary, ``{0, θ}``, ``{0, ±θ}``);
- ``multi``: every value is an integer multiple of its smallest nonzero magnitude (sums of spikes such
  as a residual stream, or counts of coincident spikes); each unit is one event;
- ``analog``: anything else (pixels, currents, running means, softmax outputs).

and counted as **ACs** (accumulates, exact: Σ events × the synapses each one reaches, borders, strides
and groups included) when it is driven by events, or **MACs** (the dense count) when it is analog:

- conv / linear / pooling: ACs = Σ events × fan-out; MACs = outputs × inputs per output, for the
  samples (rows of the folded batch: one image at one step, or one token) with any nonzero input: an
  all-zero sample (the delta-coded image after step 1, a settled step under accumulate coding) costs nothing.
- ``a @ b`` with both operands event-driven: each pair of nonzeros ``a[m, k]``, ``b[k, n]`` is one
  accumulate into ``out[m, n]`` — an event-driven implementation walks, for every event of column
  ``k`` of ``a``, the events of row ``k`` of ``b`` — so ACs = Σ_k events(a[:, k]) · events(b[k, :]).
  With one operand analog (a softmax output), each event of the other accumulates the matching
  analog row/column: ACs = events × that length. Both analog: MACs = M·K·N.
- the softmax of MST's ``softmax='code'`` (3 MACs per score: exp, sum, divide) and ``LayerNorm``
  (3 MACs per element: mean, variance, normalise with affine) are analog by nature;
- ``product='rate'`` (:class:`~spikemask.models.mst.attention.SpikeProduct`): a dense product of
  running means at every step, plus its running sums and increments — all MACs, analog.
- eval-mode ``BatchNorm`` (always) and average pooling on currents are affine maps that fold into
  the neighbouring synapses or the next neuron's per-channel threshold and bias current; they are
  listed (``folded``) with their input elements but cost nothing. A conv or linear that reads a BN's
  output is counted on the BN's input (the BN folds into its weights): MST's patch merging
  ``concat → BN → reduction`` is a linear of spikes. Not listed, for the same reason: scalar scalings of a
  product, constant bias currents (relative position bias in ``softmax='none'``), residual merges.

Each op also has a **role**: ``encoding`` (runs before the first spike source of a forward call: the
layers that read the image or frames; their input is ``data`` and always costs dense MACs, as in
Spikformer's and SDMFormer's accounting — pixels in steps of 1/255 are not spikes), ``readout`` (no
spike source runs after it: the classifier head) or ``hidden``. A network is **spiking** when no hidden
op has analog input (folded ops aside); otherwise it is **hybrid**, and :meth:`Measurement.analog_share`
says which share of its operations are analog. SDMFormer's learnable position embedding is a constant
part of the residual stream; the model declares it
(:meth:`~spikemask.models.base.SpikingClassifier.constant_inputs`) and it is subtracted before
classification, as its product with the weights is computed once (``W(s + P) = Ws + WP``).

All counts are per image over all ``T`` steps (:meth:`Recorder.measurement`).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from spikemask.errors import check
from spikemask.models.layers import MatMul, SpikeSite, identity
from spikemask.models.mst.attention import SpikeProduct
from spikemask.snn.functional import time_major_view
from spikemask.snn.neurons import BaseNeuron, IFNeuron, LIFNeuron, SignedIFNeuron

INPUT_KINDS = ("spikes", "multi", "analog", "data")   # ordered from event-driven to analog; data: the model input
ALWAYS_FOLDED = ("batchnorm",)                  # eval-mode BN: an affine map per channel
FOLDED_ON_CURRENTS = ("avgpool",)               # linear maps folded into neighbours when on analog currents
ANALOG_OPS = ("softmax", "layernorm", "rate-product")
PRODUCT_OPS = ("matmul", "rate-product", "exact-product")
SOFTMAX_MACS = 3      # exp, sum, divide per score
LAYERNORM_MACS = 3    # mean, variance, normalise + affine per element
INTEGER_TOLERANCE = 1e-3
ZERO_FRACTION = 1e-6  # magnitudes below this fraction of a tensor's largest are zeros (rounding residues)


# ----------------------------------------------------------------------------- result type
@dataclass
class OpCounts:
    """One operation's totals over all counted calls (per image once divided by :attr:`Measurement.images`).

    ``acs``/``macs``: accumulates / multiply-accumulates; ``dense_macs``: the dense count of the same
    op on any input (what the ANN it came from spends per step); ``outputs``: elements written;
    ``weights``: parameters the op reads; ``events``/``elements``: input events and input elements.
    """

    name: str
    op: str
    role: str = ""            # set by the op's first call: encoding, hidden or readout
    input: str = "spikes"
    acs: float = 0.0
    macs: float = 0.0
    dense_macs: float = 0.0
    outputs: float = 0.0
    events: float = 0.0
    elements: float = 0.0
    weights: int = 0

    @property
    def folded(self) -> bool:
        """An affine map on currents that folds into its neighbours (costs nothing)."""
        return self.op in ALWAYS_FOLDED or (self.op in FOLDED_ON_CURRENTS and self.input in ("analog", "data"))

    @property
    def analog(self) -> bool:
        """Analog work inside the network: makes it hybrid (encoding and readout excepted)."""
        return self.role == "hidden" and not self.folded and (self.op in ANALOG_OPS or self.input == "analog")


@dataclass
class SiteCounts:
    """One spike source's totals: ``fired`` (before its mask) and ``delivered`` spikes, neurons per image·step."""

    name: str
    neurons: int = 0
    fired: float = 0.0
    delivered: float = 0.0


@dataclass
class Measurement:
    """Counts of one run of :class:`Recorder`, per image over ``time_steps`` steps.

    Serialises with :meth:`to_dict` (JSON-ready): totals, the verdict (``"spiking"``/``"hybrid"``),
    and one record per op and per spike source in forward order.
    """

    time_steps: int
    images: int
    ops: list[OpCounts] = field(default_factory=list)
    sites: list[SiteCounts] = field(default_factory=list)

    @property
    def acs(self) -> float:
        """ACs per image (all ops)."""
        return sum(o.acs for o in self.ops) / self.images

    @property
    def macs(self) -> float:
        """MACs per image (all ops that cost something; folded ops excluded)."""
        return sum(o.macs for o in self.ops if not o.folded) / self.images

    def spikes(self, which: str = "delivered") -> float:
        """Spikes per image over all T steps, ``which`` = ``"fired"`` (before masks) or ``"delivered"``."""
        check(which in ("fired", "delivered"), f"spikes must be 'fired' or 'delivered', got {which!r}")
        return sum(getattr(s, which) for s in self.sites) / self.images

    @property
    def neurons(self) -> int:
        """Neurons per image (all spike sources)."""
        return sum(s.neurons for s in self.sites)

    def analog_share(self) -> float:
        """Share of all costed operations (ACs + MACs) that are analog work inside the network."""
        total = sum(o.acs + o.macs for o in self.ops if not o.folded)
        analog = sum(o.acs + o.macs for o in self.ops if o.analog)
        return analog / total if total else 0.0

    @property
    def verdict(self) -> str:
        """``"spiking"`` if every hidden op is driven by spikes, else ``"hybrid"``."""
        return "hybrid" if any(o.analog for o in self.ops) else "spiking"

    def to_dict(self) -> dict[str, Any]:
        n, steps = self.images, self.time_steps
        return {
            "time_steps": steps, "images": n, "verdict": self.verdict, "analog_share": self.analog_share(),
            "neurons": self.neurons,
            "fired_per_image": self.spikes("fired"), "delivered_per_image": self.spikes("delivered"),
            "acs_per_image": self.acs, "macs_per_image": self.macs,
            "ops": [{"name": o.name, "op": o.op, "role": o.role, "input": o.input, "folded": o.folded,
                     "analog": o.analog, "acs": o.acs / n, "macs": 0.0 if o.folded else o.macs / n,
                     "dense_macs_per_step": o.dense_macs / (n * steps), "outputs": o.outputs / n,
                     "events": o.events / n, "input_rate": o.events / o.elements if o.elements else 0.0,
                     "weights": o.weights} for o in self.ops],
            "sites": [{"name": s.name, "neurons": s.neurons, "fired": s.fired / n, "delivered": s.delivered / n,
                       "firing_rate": s.fired / (n * steps * s.neurons) if s.neurons else 0.0,
                       "delivered_rate": s.delivered / (n * steps * s.neurons) if s.neurons else 0.0}
                      for s in self.sites],
        }


# ----------------------------------------------------------------------------- classifying and counting
def classify(x: torch.Tensor) -> tuple[str, float]:
    """``(kind, unit)`` of a tensor (module docstring): ``spikes``, ``multi`` or ``analog``; ``unit`` is
    the magnitude of one event (1 for analog). An all-zero tensor is ``spikes`` with no events.
    Magnitudes below :data:`ZERO_FRACTION` of the largest are zeros (rounding left by a subtracted constant input)."""
    kind, unit, _ = _classify(x)
    return kind, unit


def _classify(x: torch.Tensor) -> tuple[str, float, bool]:
    """:func:`classify` plus whether ``x`` has negative values; the common case (spikes: every nonzero
    at the maximum magnitude) costs three passes over ``x``."""
    x = x.detach()
    if x.numel() == 0:
        return "spikes", 1.0, False
    lo, hi = (float(v) for v in torch.aminmax(x))
    top, signed = max(hi, -lo), lo < 0
    if top == 0.0:
        return "spikes", 1.0, False
    at_top = x.abs() == top if signed else x == top
    if int(torch.count_nonzero(x)) == int(torch.count_nonzero(at_top)):
        return "spikes", top, signed
    mag = x.abs()
    nonzero = mag > top * ZERO_FRACTION
    unit = float(torch.where(nonzero, mag, torch.inf).amin())
    if top <= unit * (1 + INTEGER_TOLERANCE):
        return "spikes", unit, signed
    counts = torch.where(nonzero, mag / unit, 0.0)
    if float((counts - counts.round()).abs().amax()) <= INTEGER_TOLERANCE:
        return "multi", unit, signed
    return "analog", 1.0, signed


def spike_code(neuron: nn.Module) -> tuple[str, float, bool]:
    """``(kind, unit, signed)`` of a neuron's outputs: IF ``('spikes', θ, False)``, LIF ``('spikes', 1, False)``,
    signed IF ``('spikes', λ/L, True)`` or, bursting, ``('multi', λ/L, True)``; unit 0 when unknown
    (per-channel thresholds: count nonzeros)."""
    if isinstance(neuron, SignedIFNeuron) and neuron.threshold.numel() == 1:
        return ("spikes" if neuron.max_spikes == 1 else "multi"), float(neuron.step), True
    if isinstance(neuron, IFNeuron) and neuron.threshold.numel() == 1:
        return "spikes", float(neuron.threshold), False
    return ("spikes", 1.0, False) if isinstance(neuron, LIFNeuron) else ("spikes", 0.0, True)


def _kind(x: torch.Tensor, known: Callable[[torch.Tensor], tuple | None]) -> tuple[str, float, bool]:
    """:func:`_classify`, skipped for a known neuron output (its :func:`spike_code`)."""
    entry = known(x)
    return entry[1] if entry is not None else _classify(x)


def nonzero_counts(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Nonzero entries of a running spike count along ``dim`` (magnitudes below :data:`ZERO_FRACTION` of
    the largest are the rounding of cancelled spikes)."""
    mag = x.detach().abs()
    top = float(mag.amax()) if mag.numel() else 0.0
    return (mag > top * ZERO_FRACTION).sum(dim) if top > 0 else torch.zeros_like(mag.sum(dim))


def events(x: torch.Tensor, kind: str, unit: float, signed: bool = True,
           dims: tuple[int, ...] | None = None) -> torch.Tensor:
    """Events of ``x`` (1 per spike, the count of a multi-spike), summed over ``dims`` (None: all) in
    float64; ``unit`` 0 means "spikes of unknown magnitude": nonzeros are counted."""
    x = x.detach()
    if unit == 0.0:
        return torch.count_nonzero(x) if dims is None else torch.count_nonzero(x, dim=dims)
    per = x.abs() if signed or kind == "multi" else x
    if kind == "multi":
        per = (per / unit).round()
    # summed in float64: float32 sums of counts stop being exact integers above 2**24 (one VGG layer at
    # batch 50, T = 32 was 64 events short)
    total = per.sum(dtype=torch.float64) if dims is None else per.sum(dims, dtype=torch.float64)
    return total if kind == "multi" else (total / unit).round()


def merge_kind(old: str | None, new: str) -> str:
    """The more analog of two input kinds (an op is as analog as its most analog call)."""
    return new if old is None else INPUT_KINDS[max(INPUT_KINDS.index(old), INPUT_KINDS.index(new))]


_FANOUT_CACHE: dict[tuple, torch.Tensor] = {}


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each of the ``out`` windows of an adaptive pool over ``size`` positions."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def fan_out(module: nn.Module, spatial: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Outputs each input position reaches, for a conv or pooling ``module`` on a ``spatial`` input: ``[*spatial]``.

    Per input channel; a conv event reaches this × ``out_channels / groups`` synapses. Borders,
    strides, dilation and ceil-mode windows are exact (the gradient of the summed output of the same
    windows with unit weights).
    """
    key = (repr(module), spatial, str(device))
    if key in _FANOUT_CACHE:
        return _FANOUT_CACHE[key]
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = module.output_size if isinstance(module.output_size, tuple) else (module.output_size,) * 2
        rows, cols = torch.zeros(spatial[0]), torch.zeros(spatial[1])
        for a, b in adaptive_windows(spatial[0], size[0] or spatial[0]):
            rows[a:b] += 1
        for a, b in adaptive_windows(spatial[1], size[1] or spatial[1]):
            cols[a:b] += 1
        fan = (rows[:, None] * cols[None, :]).to(device)
    else:
        x = torch.ones(1, 1, *spatial, device=device, requires_grad=True)
        with torch.enable_grad():
            if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                check(isinstance(module.padding, tuple),
                      f"{type(module).__name__} with padding={module.padding!r} is not supported by the recorder")
                conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
                out = conv(x, torch.ones(1, 1, *module.kernel_size, device=device), stride=module.stride,
                           padding=module.padding, dilation=module.dilation)
            else:                                   # AvgPool2d / MaxPool2d: the same windows, summed
                k = module.kernel_size
                k = k if isinstance(k, tuple) else (k, k)
                if isinstance(module, nn.MaxPool2d):
                    check(module.dilation in (1, (1, 1)), "dilated max pooling is not supported by the recorder")
                out = F.avg_pool2d(x, k, module.stride or k, module.padding, ceil_mode=module.ceil_mode,
                                   count_include_pad=True) * (k[0] * k[1])
            grad, = torch.autograd.grad(out.sum(), x)
        fan = grad[0, 0].detach().round()
    _FANOUT_CACHE[key] = fan
    return fan


def op_name(module: nn.Module) -> str | None:
    """The op kind the recorder counts ``module`` as, or None."""
    if isinstance(module, nn.Conv2d):
        return "conv2d"
    if isinstance(module, nn.Conv1d):
        return "conv1d"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, SpikeProduct):
        return {"rate": "rate-product", "exact": "exact-product"}.get(module.mode, "matmul")
    if isinstance(module, MatMul):
        return "matmul"
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return "avgpool"
    if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        return "maxpool"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "batchnorm"
    if isinstance(module, nn.LayerNorm):
        return "layernorm"
    if isinstance(module, nn.Softmax):
        return "softmax"
    return None


# ----------------------------------------------------------------------------- the recorder
class Recorder:
    """Context manager that counts every op and spike of ``model`` (module docstring) during forward calls.

    Example::

        with Recorder(snn) as rec:
            simulate(snn, x, T)            # x: [B, C, H, W] images or [T, B, C, H, W] frames
        m = rec.measurement(T)             # Measurement: per image over T steps

    Args:
        model: called with time-major input ``[T, B, ...]`` (its first positional argument).
        count: count ops and spikes (``False``: only the :meth:`tap` s run).
    """

    def __init__(self, model: nn.Module, count: bool = True) -> None:
        self.model, self.count = model, count
        self.ops: dict[str, OpCounts] = {}
        self.sites: dict[str, SiteCounts] = {}
        self.image_steps = 0                       # Σ over forward calls of T_call · B
        self._call_steps = 0
        self._seen_site = False                    # a spike source ran in this call
        self._pending: list[str] = []              # ops since the last spike source in this call
        self._offsets: dict[str, Any] = {}
        self._handles: list = []
        self._taps: list[tuple[nn.Module, Callable, bool]] = []
        self._spikes: dict[int, tuple] = {}   # memory of neuron outputs → (weakref, events, spike code)
        self._before: dict[str, tuple] = {}   # exact products: running counts before each step of the call
        self._fired: tuple[weakref.ref, float] | None = None     # the last site activation's output and count
        self._normed: dict[int, tuple[weakref.ref, weakref.ref]] = {}  # memory of BN outputs → (output, input)

    # -- analyses that need tensors
    def tap(self, module: nn.Module, fn: Callable[..., None], pre: bool = False) -> "Recorder":
        """Call ``fn(module, args, output)`` after (or ``fn(module, args)`` before, ``pre=True``) every
        forward of ``module`` while recording. Register taps before entering the context."""
        check(not self._handles, "register taps before entering the Recorder")
        self._taps.append((module, fn, pre))
        return self

    def __enter__(self) -> "Recorder":
        if self.count:                              # refuse before any hook is registered
            check(any(isinstance(m, (SpikeSite, BaseNeuron)) for m in self.model.modules()),
                  f"{type(self.model).__name__} has no spike sources (SpikeSite or neuron) to record; pass a "
                  f"converted SNN or a Spikformer/SDMFormer")
        for module, fn, pre in self._taps:
            self._handles.append(module.register_forward_pre_hook(fn) if pre else module.register_forward_hook(fn))
        if not self.count:
            return self
        self._offsets = dict(getattr(self.model, "constant_inputs", dict)())
        self._handles.append(self.model.register_forward_pre_hook(self._on_call, with_kwargs=True))
        self._handles.append(self.model.register_forward_hook(self._on_return))
        inside_sites = {id(m.act) for m in self.model.modules() if isinstance(m, SpikeSite)}
        for name, module in self.model.named_modules():
            if isinstance(module, SpikeSite):
                self.sites[name] = SiteCounts(name)
                self._handles.append(module.act.register_forward_hook(self._site_hook(name, "fired")))
                self._handles.append(module.register_forward_hook(self._site_hook(name, "delivered")))
            elif isinstance(module, BaseNeuron) and id(module) not in inside_sites:
                self.sites[name] = SiteCounts(name)
                self._handles.append(module.register_forward_hook(self._site_hook(name, "both")))
            elif (kind := op_name(module)) is not None:
                weights = sum(p.numel() for p in module.parameters(recurse=False))
                self.ops[name] = OpCounts(name, kind, weights=weights)
                if kind == "exact-product":
                    self._handles.append(module.register_forward_pre_hook(self._counts_hook(name)))
                self._handles.append(module.register_forward_hook(self._op_hook(name), with_kwargs=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # -- hooks
    def _on_call(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else next(iter(kwargs.values()))
        check(torch.is_tensor(x) and x.dim() >= 2, "the recorded model must be called with [T, B, ...] input")
        self._call_steps = x.shape[0] * x.shape[1]
        self.image_steps += self._call_steps
        self._seen_site, self._pending = False, []
        self._spikes.clear()
        self._normed.clear()

    def _on_return(self, module: nn.Module, args: tuple, output: Any) -> None:
        for name in self._pending:
            self._assign(name, "readout")
        self._pending = []

    def _site_hook(self, name: str, which: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            c = self.sites[name]
            fired = self._fired
            neuron = module if which == "both" else getattr(module, "act", module)
            code = spike_code(neuron)
            if which == "delivered" and fired is not None and fired[0]() is output:
                n = fired[1]                        # no mask (or ratio 0): what fired is delivered
            elif code[0] == "multi":                # a burst of k spikes counts k
                n = float(events(output, *code))
            else:
                n = float(torch.count_nonzero(output))
            if which in ("fired", "both"):
                c.fired += n
                c.neurons = output.numel() // max(1, self._call_steps)
                self._fired = (weakref.ref(output), n)
            if which in ("delivered", "both"):
                c.delivered += n
            if isinstance(neuron, BaseNeuron) and which != "fired":   # a neuron emits spikes by construction
                self._spikes[output.data_ptr()] = (weakref.ref(output), n, code)
            for op in self._pending:                # ops before this site feed spikes onward: hidden
                self._assign(op, "hidden")
            self._pending = []
            self._seen_site = True
        return hook

    def _op_hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> None:
            c = self.ops[name]
            if not self._seen_site:
                self._assign(name, "encoding")
            else:
                self._pending.append(name)
            if c.op == "batchnorm":
                self._normed[output.data_ptr()] = (weakref.ref(output), weakref.ref(args[0]))
            elif c.op in ("linear", "conv1d", "conv2d") and args:
                args = (self._before_norm(args[0]), *args[1:])
            currents = c.op in ("avgpool", "maxpool") and self._is_normed(args[0])
            count_op(c, module, args, kwargs, output, self._offsets.get(name), encoding=not self._seen_site,
                     known=self._known, currents=currents, before=self._before.pop(name, None))
        return hook

    def _counts_hook(self, name: str) -> Callable:
        def hook(module: SpikeProduct, args: tuple) -> None:
            a, _ = time_major_view(args[0], module.step_mode)
            b, _ = time_major_view(args[1], module.step_mode)
            self._before[name] = module.counts_before(a.detach(), b.detach())
        return hook

    def _is_normed(self, x: torch.Tensor) -> bool:
        """``x`` is (a full view of) a BatchNorm output of this call: analog currents."""
        entry = self._normed.get(x.data_ptr())
        out = entry[0]() if entry is not None else None
        return out is not None and out.numel() == x.numel()

    def _before_norm(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the BatchNorm whose output is ``x`` (still alive, same size), else ``x``.

        An eval-mode BN before a conv or linear folds into its weights and bias, so the op is driven
        by the BN's input: a linear of spikes stays a linear of spikes (MST's patch merging)."""
        entry = self._normed.get(x.data_ptr())
        if entry is None:
            return x
        out, source = entry[0](), entry[1]()
        return source if out is not None and source is not None and out.numel() == x.numel() == source.numel() \
            else x

    def _assign(self, name: str, role: str) -> None:
        """Give op ``name`` its role, once (its first call decides)."""
        if not self.ops[name].role:
            self.ops[name].role = role

    def _known(self, x: torch.Tensor) -> tuple[float, tuple[str, float, bool]] | None:
        """``(events, spike_code)`` of ``x`` if it is a neuron's output of this call or a view of all of it
        (same memory, same size; the output is still alive, so its memory was not reused)."""
        entry = self._spikes.get(x.data_ptr())
        if entry is None:
            return None
        source = entry[0]()
        return entry[1:] if source is not None and source.numel() == x.numel() else None

    def measurement(self, time_steps: int) -> Measurement:
        """The counts so far, per image over ``time_steps`` steps (images = recorded image·steps / T)."""
        check(isinstance(time_steps, int) and time_steps >= 1,
              f"time steps T must be an integer >= 1, got {time_steps}")
        check(self.image_steps > 0, "nothing was recorded: run the model on at least one batch inside the Recorder")
        check(self.image_steps % time_steps == 0,
              f"{self.image_steps} recorded image·steps are not a whole number of images at T={time_steps}")
        return Measurement(time_steps, self.image_steps // time_steps, list(self.ops.values()),
                           list(self.sites.values()))


def count_op(c: OpCounts, module: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor,
             offset: torch.Tensor | float | None, encoding: bool = False,
             known: Callable[[torch.Tensor], tuple | None] = lambda x: None, currents: bool = False,
             before: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
    """Add one call of ``module`` (inputs ``args``, ``output``) to ``c`` (rules in the module docstring).

    ``encoding``: the op reads the model's input (``data``), which is never taken for spikes (pixels
    in steps of 1/255 would look like multi-spikes): dense MACs. ``currents``: the input is a
    BatchNorm's output (analog currents, not classified). ``known(x)``: ``(events, spike code)`` of an
    input that a neuron emitted in this call (it is not classified again), else None. ``before``: an
    exact product's running counts before each step
    (:meth:`~spikemask.models.mst.attention.SpikeProduct.counts_before`).
    """
    first = c.outputs == 0
    c.outputs += output.numel()
    if c.op == "exact-product":
        count_exact_product(c, args, kwargs, output, first, known, before)
        return
    if c.op in PRODUCT_OPS:
        count_product(c, module, args, kwargs, output, first, known)
        return
    x = args[0].detach()
    c.elements += x.numel()
    if c.op == "batchnorm":                       # always folded: listed with its elements, no cost
        c.input = "analog"
        return
    entry = None if offset is not None or encoding else known(x)
    spikes, code = entry if entry is not None else (None, None)
    if offset is not None:
        x = x - offset
    if encoding:
        kind, unit, signed = "data", 1.0, False
    elif currents:
        kind, unit, signed = "analog", 1.0, True
    elif code is not None:
        kind, unit, signed = code
    else:
        kind, unit, signed = _classify(x)
    c.input = merge_kind(None if first else c.input, kind)
    if c.op in ("softmax", "layernorm"):
        per_element = SOFTMAX_MACS if c.op == "softmax" else LAYERNORM_MACS
        c.macs += per_element * x.numel()
        c.dense_macs += per_element * x.numel()
        return
    dense = dense_macs(module, x, output)
    c.dense_macs += dense
    if kind in ("data", "analog"):                # an all-zero sample (a settled step) costs nothing
        c.macs += dense * active_share(module, x)
        return
    if isinstance(module, nn.Linear):
        n = spikes if spikes is not None else float(events(x, kind, unit, signed))
        c.events += n
        c.acs += n * module.out_features
        return
    dims = len(module.kernel_size) if isinstance(module, (nn.Conv1d, nn.Conv2d)) else 2
    leading = tuple(range(x.dim() - dims))
    per_position = events(x, kind, unit, signed, leading)                          # [*spatial]
    c.events += float(per_position.sum())
    acs = float((per_position * fan_out(module, tuple(x.shape[-dims:]), x.device)).sum())
    c.acs += acs * (module.out_channels // module.groups) if isinstance(module, (nn.Conv1d, nn.Conv2d)) else acs


def active_share(module: nn.Module, x: torch.Tensor) -> float:
    """Share of the samples (rows of the folded batch) of ``x`` that hold any nonzero input of ``module``."""
    sample_dims = len(module.kernel_size) + 1 if isinstance(module, (nn.Conv1d, nn.Conv2d)) else 1
    rows = x.reshape(-1, *x.shape[x.dim() - sample_dims:]).flatten(1)
    return float(rows.any(1).float().mean()) if rows.numel() else 0.0


def dense_macs(module: nn.Module, x: torch.Tensor, output: torch.Tensor) -> float:
    """Dense multiply-accumulates (adds or compares for pooling) of ``module`` mapping ``x`` to ``output``."""
    if isinstance(module, nn.Linear):
        return float(output.numel() * module.in_features)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        per_output = module.in_channels // module.groups
        for k in module.kernel_size:
            per_output *= k
        return float(output.numel() * per_output)
    spatial = tuple(x.shape[-2:])                      # pooling: one read per input per window
    return float(fan_out(module, spatial, x.device).sum()) * (x.numel() // (spatial[0] * spatial[1]))


def count_product(c: OpCounts, module: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor,
                  first: bool, known: Callable[[torch.Tensor], tuple | None] = lambda x: None) -> None:
    """One call of ``f(a) @ b`` (module docstring; ``first``: the op's first call); a non-identity
    ``f`` (softmax) is counted as its own analog work."""
    a, b = args[0].detach(), args[1].detach()
    f = args[2] if len(args) > 2 else kwargs.get("f")
    dense = float(output.numel() * a.shape[-1])
    c.dense_macs += dense
    c.elements += a.numel() + b.numel()
    has_f = f is not None and f is not identity
    softmax_macs = SOFTMAX_MACS * a.numel() if has_f else 0.0
    c.dense_macs += softmax_macs
    if c.op == "rate-product":                     # running sums, dense product of means, increment
        c.input = "analog"
        c.macs += dense + a.numel() + b.numel() + 2 * output.numel() + softmax_macs
        return
    kind_a, unit_a, signed_a = ("analog", 1.0, True) if has_f else _kind(a, known)
    kind_b, unit_b, signed_b = _kind(b, known)
    c.input = merge_kind(None if first else c.input, merge_kind(kind_a, kind_b))
    c.macs += softmax_macs
    if kind_a == "analog" and kind_b == "analog":
        c.macs += dense
    elif kind_a == "analog":                         # each event of b[k, n] accumulates a[:, k]
        n = float(events(b, kind_b, unit_b, signed_b))
        c.events += n
        c.acs += n * a.shape[-2]
    elif kind_b == "analog":                         # each event of a[m, k] accumulates b[k, :]
        n = float(events(a, kind_a, unit_a, signed_a))
        c.events += n
        c.acs += n * b.shape[-1]
    else:                                            # Σ_k events(a[:, k]) · events(b[k, :])
        per_k_a = events(a, kind_a, unit_a, signed_a, (-2,))
        per_k_b = events(b, kind_b, unit_b, signed_b, (-1,))
        c.events += float(per_k_a.sum() + per_k_b.sum())
        c.acs += float((per_k_a * per_k_b).sum())


def count_exact_product(c: OpCounts, args: tuple, kwargs: dict, output: torch.Tensor, first: bool,
                        known: Callable[[torch.Tensor], tuple | None], before: tuple[torch.Tensor, torch.Tensor]
                        ) -> None:
    """One call of an event-driven product (``product='exact'``): ``s_a·C_b(t−1) + C_a(t−1)·s_b + s_a·s_b``.

    Each spike of ``s_a[m, k]`` accumulates the nonzero entries of row ``k`` of ``C_b(t−1)`` (and the
    spikes of row ``k`` of ``s_b``), each spike of ``s_b[k, n]`` the nonzero entries of column ``k``
    of ``C_a(t−1)``; updating the running counts is one AC per spike. With a softmax ``f``, ``A = f(C_a)``
    is analog: the softmax (3 MACs per score) and its increment (1 per score) are MACs, ``ΔA·C_b(t−1)``
    is a MAC per nonzero of ``C_b(t−1)`` for each row of ``ΔA``, and each spike of ``s_b`` accumulates a
    column of ``A(t−1)`` and of ``ΔA``.
    """
    a, b = args[0].detach(), args[1].detach()
    f = args[2] if len(args) > 2 else kwargs.get("f")
    ca_prev, cb_prev = (t.reshape(shape) for t, shape in zip(before, (a.shape, b.shape)))
    rows = a.shape[-2]
    c.dense_macs += float(output.numel() * a.shape[-1])
    c.elements += a.numel() + b.numel()
    kind_b, unit_b, signed_b = _kind(b, known)
    per_k_b = events(b, kind_b, unit_b, signed_b, (-1,))                 # [..., K]: spikes of row k of s_b
    nz_cb = nonzero_counts(cb_prev, -1)                                  # [..., K]: nonzeros of row k of C_b
    if f is not None and f is not identity:
        c.input = "analog"
        c.macs += (SOFTMAX_MACS + 1) * a.numel() + rows * float(nz_cb.sum())
        c.dense_macs += SOFTMAX_MACS * a.numel()
        n_a = float(events(a, *_kind(a, known)))
        c.events += n_a + float(per_k_b.sum())
        c.acs += n_a + float(per_k_b.sum()) * (1 + 2 * rows)
        return
    kind_a, unit_a, signed_a = _kind(a, known)
    c.input = merge_kind(None if first else c.input, merge_kind(kind_a, kind_b))
    if "analog" in (kind_a, kind_b):                                     # not spikes: the dense increment
        c.macs += 3 * float(output.numel() * a.shape[-1])
        return
    per_k_a = events(a, kind_a, unit_a, signed_a, (-2,))                 # [..., K]: spikes of column k of s_a
    nz_ca = nonzero_counts(ca_prev, -2)                                  # [..., K]: nonzeros of column k of C_a
    spikes = float(per_k_a.sum() + per_k_b.sum())
    c.events += spikes
    c.acs += float((per_k_a * nz_cb).sum() + (nz_ca * per_k_b).sum() + (per_k_a * per_k_b).sum()) + spikes
