"""One model registry, timm style: ``@register_model`` on a builder, ``create_model(name, ...)``.

Every builder takes ``num_classes``, ``in_channels`` and ``img_size`` plus its own keyword options
(e.g. ``width``, ``levels``, ``mask_ratio``). The built model records these as attributes
``num_classes``, ``in_channels``, ``img_size`` and ``model_name`` / ``model_options``, so a
checkpoint can rebuild it and inputs can be checked against it.
"""
from __future__ import annotations

import fnmatch
import inspect
from typing import Any, Callable

from torch import nn

from spikemask.errors import SpikemaskError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name."""
    _MODELS[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob ``pattern``."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def model_options(name: str) -> dict[str, Any]:
    """The keyword options of a registered builder and their defaults."""
    _check_name(name)
    sig = inspect.signature(_MODELS[name])
    return {k: p.default for k, p in sig.parameters.items()
            if k not in ("num_classes", "in_channels", "img_size") and p.kind == p.KEYWORD_ONLY}


def _check_name(name: str) -> None:
    if name not in _MODELS:
        raise SpikemaskError(f"unknown model {name!r}; available: {', '.join(list_models())} "
                             "(`spikemask models` lists them)")


def create_model(name: str, num_classes: int = 10, in_channels: int = 3, img_size: int = 32,
                 **options: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name, e.g. ``"vgg16"``; see :func:`list_models`.
        num_classes: size of the classifier output.
        in_channels: input channels (1 for MNIST, 3 for RGB, 2·n for stacked event frames).
        img_size: input height = width in pixels.
        **options: builder-specific options; unknown ones raise a :class:`SpikemaskError`.
    """
    _check_name(name)
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SpikemaskError(f"model {name!r} has no option(s) {unknown}; its options are: "
                             + ", ".join(f"{k}={v!r}" for k, v in allowed.items()))
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels), ("img_size", img_size)):
        if not isinstance(value, int) or value < 1:
            raise SpikemaskError(f"{key} must be a positive integer, got {value!r}")
    model = _MODELS[name](num_classes=num_classes, in_channels=in_channels, img_size=img_size, **options)
    model.model_name = name
    model.model_options = dict(options)
    model.num_classes, model.in_channels, model.img_size = num_classes, in_channels, img_size
    return model
