"""spikemask: energy-efficient spiking transformers with spike masks (MST and SDMFormer)."""
from spikemask.errors import SpikemaskError
from spikemask.models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["SpikemaskError", "create_model", "list_models", "__version__"]
