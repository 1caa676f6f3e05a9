"""One model registry, timm style: ``@register_model`` on one entry point per model, ``create_model(name)``.

An entry point is a function named after its model that fixes the variant's arguments and calls
its family's one builder (e.g. ``mst_swin_t`` → :func:`~spikemask.models.mst.swin.build_mst_swin`).
Its options are the keyword parameters with defaults of the entry point itself, or — for entry
points that forward ``**kwargs`` — of the builder named in ``@register_model(options_from=...)``,
with the entry point's own defaults on top. :func:`create_model` forwards only what it was given,
so each model's own defaults apply (Spikformer: 2 channels, 128 px), validates option names, and
writes the model's :class:`ModelConfig` record. Registering a name twice
raises.
"""
from __future__ import annotations

import fnmatch
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from spikemask.errors import SpikemaskError

if TYPE_CHECKING:
    from spikemask.models.base import SpikingClassifier

@dataclass(frozen=True)
class ModelConfig:
    """The record that rebuilds a model: registry name, input/output sizes, options and state flags.

    Attributes:
        name: registry name (``"vgg16"``); options: the builder options it was created with.
        num_classes, in_channels, img_size: output classes, input channels, input side (pixels).
        mask: the Random Spike Masking setting applied on top (``{"ratio", "where", "seed", "mode"}``
            or None; :func:`spikemask.masks.placement.apply_mask_setting`).
        converted: True for an SNN made by :func:`spikemask.convert.conversion.convert`.
        neuron: the neuron it was converted with (``'if'``, ``'signed'``, ``'burst:k'``).
    """

    name: str
    num_classes: int
    in_channels: int
    img_size: int
    options: dict[str, Any] = field(default_factory=dict)
    mask: dict[str, Any] | None = None
    converted: bool = False
    neuron: str = "if"


SIZE_ARGS = ("num_classes", "in_channels", "img_size")
_MODELS: dict[str, Callable[..., SpikingClassifier]] = {}
_OPTIONS: dict[str, dict[str, Any]] = {}
_SIZES: dict[str, dict[str, Any]] = {}


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters of ``fn`` that have defaults."""
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty}


def register_model(fn: Callable[..., SpikingClassifier] | None = None, *,
                   options_from: Callable[..., Any] | None = None) -> Any:
    """Decorator: register an entry point under its function name (a duplicate name raises ``ValueError``).

    ``options_from``: the builder whose keyword defaults are the options of an entry point that
    forwards ``**kwargs`` to it (the entry point's own keyword defaults override them).
    """
    def register(entry: Callable[..., SpikingClassifier]) -> Callable[..., SpikingClassifier]:
        name = entry.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice ({_MODELS[name].__module__} and {entry.__module__})")
        defaults = {**(_defaults(options_from) if options_from else {}), **_defaults(entry)}
        _MODELS[name] = entry
        _SIZES[name] = {k: defaults.pop(k) for k in SIZE_ARGS if k in defaults}
        _OPTIONS[name] = defaults
        return entry
    return register(fn) if fn is not None else register


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob ``pattern``."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def _check_name(name: str) -> None:
    if name not in _MODELS:
        raise SpikemaskError(f"unknown model {name!r}; available: {', '.join(list_models())} "
                             "(`spikemask models` lists them)")


def model_options(name: str) -> dict[str, Any]:
    """The options of a registered model and their defaults (sizes excluded, see :func:`model_sizes`)."""
    _check_name(name)
    return dict(_OPTIONS[name])


def model_sizes(name: str) -> dict[str, Any]:
    """The default ``num_classes``, ``in_channels`` and ``img_size`` of a registered model."""
    _check_name(name)
    return dict(_SIZES[name])


def create_model(name: str, **kwargs: Any) -> SpikingClassifier:
    """Build a registered model.

    Args:
        name: registry name, e.g. ``"vgg16"``; see :func:`list_models`.
        **kwargs: ``num_classes``, ``in_channels`` (1 for MNIST, 3 for RGB, 2·n for stacked event
            frames), ``img_size`` (pixels) and the model's options (:func:`model_options`); what is
            not given keeps the model's own default. Unknown names raise a :class:`SpikemaskError`.
    """
    _check_name(name)
    allowed = model_options(name)
    unknown = sorted(set(kwargs) - set(allowed) - set(SIZE_ARGS))
    if unknown:
        raise SpikemaskError(f"model {name!r} has no option(s) {unknown}; its options are: "
                             + ", ".join(f"{k}={v!r}" for k, v in allowed.items()))
    model = _MODELS[name](**kwargs)
    model.model_config = ModelConfig(name=name, num_classes=model.num_classes, in_channels=model.in_channels,
                                     img_size=model.img_size,
                                     options={k: v for k, v in kwargs.items() if k not in SIZE_ARGS})
    return model
