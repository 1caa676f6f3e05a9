"""Model registry and the model families (importing a family module registers its models)."""
from spikemask.models._registry import create_model, list_models, model_options, model_sizes, register_model
from spikemask.models.cnn import resnet, vgg  # noqa: F401  (register ResNet-18, VGG-16)
from spikemask.models.mst import swin  # noqa: F401  (register the MST Swin variants)
from spikemask.models.spikformer import sdmformer, spikformer  # noqa: F401  (register Spikformer / SDMFormer)

__all__ = ["create_model", "list_models", "model_options", "model_sizes", "register_model"]
