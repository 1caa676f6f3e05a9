"""ANN-to-SNN conversion (MST §3.2, FAITHFULNESS M9–M10).

:func:`convert` swaps every :class:`~spikemask.snn.qcfs.QCFS` for an
:class:`~spikemask.snn.neurons.IFNeuron` with θ = λ and membrane start ``v_init·θ``, and every
attention :class:`~spikemask.models.mst.attention.AttentionProduct` for a stateful
:class:`~spikemask.models.mst.attention.SpikeProduct` of the same mode; everything else (conv,
linear, BN, pooling, masks) is kept; masks trained in ``"expected"`` mode are switched to
``"random"``; ``hold_masks=True`` makes every mask hold one draw per input over all T steps
(:class:`~spikemask.masks.rsm.HeldSpikeMask`, our addition). The converted network takes the same
time-major input ``[T, B, ...]`` as the ANN (which is the case T = 1): its stateless layers see the
folded ``[T·B, ...]`` batch and each neuron unfolds it and scans over T
(:mod:`spikemask.snn.functional`). :func:`~spikemask.convert.simulate.simulate` runs it.

**Exact conversion** (``neuron='signed'`` or ``'burst:k'``; SpikeZIP-TF's ST-BIF⁺, our
implementation): every QCFS becomes a :class:`~spikemask.snn.neurons.SignedIFNeuron` with spike
value λ/L and at most L spikes, the network switches to accumulate coding
(:mod:`spikemask.snn.coding`: the input as increments, every bias at the first step, steps without
events skipped, the answer the sum of the step outputs) and every attention product must be
``product='exact'``. Once no neuron
changes its count any more, the accumulated output equals the quantized ANN's exactly. Masks are held
for the whole run (one draw per input, so the SNN equals the QANN with that mask). Non-linear
maps of analog values (max pooling, LayerNorm) have no exact increment form and are refused.
"""
from __future__ import annotations

import copy
import os
from dataclasses import replace
from typing import Any, Callable

import torch
from torch import nn

from spikemask.checkpoint import load_checkpoint
from spikemask.errors import check
from spikemask.masks.placement import masks
from spikemask.masks.rsm import HeldSpikeMask, SpikeMask
from spikemask.models.layers import AddConstant
from spikemask.models.mst.attention import AttentionProduct, SpikeProduct
from spikemask.models.record import build_model
from spikemask.snn.coding import DeltaEncoder, onset_only
from spikemask.snn.neurons import BaseNeuron, IFNeuron, SignedIFNeuron, parse_neuron
from spikemask.snn.qcfs import QCFS

AFFINE = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, AddConstant)
NOT_INCREMENTAL = (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d, nn.LayerNorm)


def convert(ann: nn.Module, v_init: float = 0.5, hold_masks: bool = False, neuron: str = "if") -> nn.Module:
    """Return a spiking copy of ``ann``: each QCFS becomes an IF neuron with θ = λ (or a signed neuron).

    Args:
        ann: a model built with QCFS activations (any registry model for conversion).
        v_init: initial membrane potential as a fraction of θ (of one spike, λ/L, for signed neurons);
            0.5 in MST/QCFS.
        hold_masks: replace every Random Spike Mask by a :class:`~spikemask.masks.rsm.HeldSpikeMask`
            (one mask per input for all T steps; our addition). False: a fresh mask every step (M12).
            Exact conversion always holds them.
        neuron: ``'if'`` (MST, rate coding), ``'signed'`` or ``'burst:k'`` (exact conversion, module docstring).
    Raises:
        SpikemaskError: if ``ann`` has no QCFS activation to convert, the neuron name is unknown, or
            the products or layers do not fit the neuron (module docstring).
    """
    per_step = parse_neuron(neuron)
    products = {p.mode for p in ann.modules() if isinstance(p, AttentionProduct)}
    if per_step == 0:
        check("exact" not in products, "product=exact needs signed neurons: convert with neuron='signed' or "
                                       "'burst:k' (--neuron signed), or use product=step/rate with IF neurons")
    else:
        check(products <= {"exact"}, f"neuron={neuron!r} needs product=exact in attention (the model has "
                                     f"product={'/'.join(sorted(products))}); pass --opt product=exact")
        bad = sorted({type(m).__name__ for m in ann.modules() if isinstance(m, NOT_INCREMENTAL)})
        check(not bad, f"exact conversion (neuron={neuron!r}) cannot convert {', '.join(bad)}: a non-linear map "
                       "of analog values has no exact spike form; use neuron='if' or a model without it "
                       "(MST: final_norm=bn)")
    snn = copy.deepcopy(ann).eval()
    for _, mask in masks(snn):
        mask.mode = "random"          # an SNN drops spikes for real, whatever the ANN trained with
    if hold_masks or per_step:
        _replace(snn, SpikeMask, lambda m: HeldSpikeMask(m.ratio, m.seed))
    _replace(snn, AttentionProduct, lambda p: SpikeProduct(p.mode))
    if per_step:
        count = _replace(snn, QCFS, lambda q: SignedIFNeuron(q.threshold.detach().clone(), q.levels, per_step,
                                                             v_init))
        for m in snn.modules():
            if isinstance(m, AFFINE):
                onset_only(m)
        snn.input_coding = DeltaEncoder()
        snn.readout = "sum"
    else:
        count = _replace(snn, QCFS, lambda q: IFNeuron(q.threshold.detach().clone(), v_init))
    check(count > 0, "this model has no QCFS activations to convert; train it with a conversion model "
                     "(e.g. vgg16, resnet18, mst_swin_*) or pass a checkpoint of one")
    if getattr(snn, "model_config", None) is not None:     # the registry record (models._registry.ModelConfig)
        snn.model_config = replace(snn.model_config, converted=True, neuron=neuron)
    return snn


def is_spiking(model: nn.Module) -> bool:
    """True for a model that already spikes (it has neurons and no QCFS to convert: Spikformer, SDMFormer, an SNN)."""
    modules = list(model.modules())
    return any(isinstance(m, BaseNeuron) for m in modules) and not any(isinstance(m, QCFS) for m in modules)


def _replace(module: nn.Module, kind: type, make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every submodule of type ``kind`` by ``make(old)``; returns how many were replaced."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, kind):
            setattr(module, name, make(child))
            count += 1
        else:
            count += _replace(child, kind, make)
    return count


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """Check images ``[B, C, H, W]`` or frames ``[T, B, C, H, W]`` against the model's input size, and for NaN/inf."""
    check(x.dim() in (4, 5), f"expected images [B, C, H, W] or time-major frames [T, B, C, H, W], "
                             f"got a tensor of shape {list(x.shape)}")
    check(x.numel() > 0, f"input holds no images (shape {list(x.shape)}); pass at least one image")
    c, size = getattr(model, "in_channels", None), getattr(model, "img_size", None)
    channels, height, width = x.shape[-3:]
    check(c is None or channels == c,
          f"input has {channels} channels but the model expects {c}; use data with {c} channels or retrain")
    check(size is None or (height, width) == (size, size),
          f"input is {height}x{width} px but the model expects {size}x{size}; resize the input "
          f"or build the model with img_size={height}")
    check(bool(torch.isfinite(x).all()), "input contains NaN or infinite values; clean the data first")


def saved_neuron(ckpt: dict[str, Any], neuron: str | None) -> str:
    """The neuron to convert a checkpoint with: ``neuron``, or for a converted checkpoint the one it was
    converted with (``'if'`` by default); refuses a converted checkpoint asked for another neuron."""
    saved = ckpt.get("neuron") or "if"
    if neuron is not None:
        parse_neuron(neuron)
        check(not ckpt.get("converted") or neuron == saved,
              f"this checkpoint was converted with neuron={saved!r}; evaluate it with --neuron {saved} (or "
              f"convert its ANN checkpoint again with --neuron {neuron})")
        return neuron
    return saved


def load_model(path: str | os.PathLike, spiking: bool | None = None, hold_masks: bool = False,
               options: dict[str, Any] | None = None, neuron: str | None = None) -> nn.Module:
    """Load a checkpoint as a model; ``spiking=True`` converts it, None keeps what was saved.

    ``hold_masks`` and ``neuron`` (default: the saved one, :func:`saved_neuron`) are passed to
    :func:`convert` when the model is converted here; ``options`` override saved model options as in
    :func:`build_model`.
    """
    ckpt = load_checkpoint(path)
    neuron = saved_neuron(ckpt, neuron)
    model = build_model(ckpt, options)
    if spiking or (spiking is None and ckpt.get("converted")):
        model = convert(model, hold_masks=hold_masks, neuron=neuron)
    return model.eval()
