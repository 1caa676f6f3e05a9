"""Shared test helpers: tiny Spikformer-family models that fire at random initialisation, and their answer."""
import torch

from spikemask.convert.simulate import simulate
from spikemask.models import create_model


def tiny(name: str, **options) -> torch.nn.Module:
    """A small ``name`` model whose BN scales (γ = 3, β = 1) make every layer fire at random init."""
    torch.manual_seed(0)
    options = {"num_classes": 5, "in_channels": 1, "img_size": 16, "time_steps": 2, **options}
    model = create_model(name, **options)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.fill_(3.0)
                m.bias.fill_(1.0)
    return model


def answer(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits ``[B, K]``: the mean over T of :func:`simulate`'s per-step logits (no grad)."""
    return simulate(model, x).mean(0)
