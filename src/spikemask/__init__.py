"""spikemask: energy-efficient spiking transformers with spike masks (MST and SDMFormer)."""
from spikemask.errors import SpikemaskError
from spikemask.models import create_model, list_models
from spikemask.models.base import SpikingClassifier

__version__ = "0.1.0"
from_pretrained = SpikingClassifier.from_pretrained   # a shared-model folder or Hub id → its registry model
__all__ = ["SpikemaskError", "SpikingClassifier", "create_model", "from_pretrained", "list_models", "__version__"]
