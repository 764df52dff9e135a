"""Safe saving and loading (no pickle, atomic writes), and weight exchange in the safetensors format."""

from .safetensors import load_safetensors, save_safetensors
from .serialization import load, save

__all__ = ["load", "save", "load_safetensors", "save_safetensors"]
