"""Model registry and the model families (importing a family module registers its models)."""
from .registry import create_model, list_models, model_options, register_model
from . import resnet, vgg  # noqa: F401  (register models)
from . import mst_swin  # noqa: F401  (register MST Swin variants)
from . import sdmformer, spikformer  # noqa: F401  (register Spikformer / SDMFormer)

__all__ = ["create_model", "list_models", "model_options", "register_model"]
