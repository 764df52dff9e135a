"""Data: offline real data sets and mini-batch loading."""

from .digits import Split, load_digits_split, upsample_nearest
from .loader import ArrayLoader
from .transforms import random_shift

__all__ = ["Split", "load_digits_split", "upsample_nearest", "ArrayLoader", "random_shift"]
