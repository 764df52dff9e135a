"""Safe saving and loading (no pickle, atomic writes)."""

from .serialization import load, save

__all__ = ["load", "save"]
