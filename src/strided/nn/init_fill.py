"""The plumbing of ``nn.init``'s in-place initialisers: the array behind a tensor, writing values
onto its device, the dtype draws are made in, and leaving meta tensors alone.

Shape: any; the initialisers fill the array whole.
"""

from __future__ import annotations

import functools

import numpy as np

from ..backend import CPU, backend_of
from .shape_only import is_meta


def _skips_meta(fill):
    """An in-place initialiser that leaves a meta tensor (``nn.meta()``: no values) as it is."""
    @functools.wraps(fill)
    def wrapper(tensor, *args, **kwargs):
        if is_meta(tensor):
            return tensor
        return fill(tensor, *args, **kwargs)
    return wrapper


def _array(tensor, owner: str) -> np.ndarray:
    """The float array behind a Parameter/Tensor, or the array itself, to be filled in place."""
    array = tensor if _is_array(tensor) else getattr(tensor, "data", None)
    if not _is_array(array):
        raise TypeError(f"{owner}: expected a Parameter, Tensor or numpy array, got {type(tensor).__name__}")
    if array.dtype.kind != "f":
        raise TypeError(f"{owner}: expected a floating-point array, got dtype {array.dtype}")
    return array


def _is_array(value) -> bool:
    """A NumPy array or an array of another backend (a CuPy array on a GPU)."""
    return isinstance(value, np.ndarray) or backend_of(value) is not CPU


def _fill(tensor, values, owner: str):
    """Write ``values`` (a number, or host values drawn on the host) into the tensor, on its device."""
    array = _array(tensor, owner)
    place = backend_of(array)
    if place is not CPU and isinstance(values, np.ndarray):
        values = place.from_host(values, place.device_of(array))      # host draw -> the tensor's device
    array[...] = values
    return tensor


def _draw_dtype(array: np.ndarray):
    """Generators draw float32 and float64 directly (no float64 detour for large float32 layers)."""
    return array.dtype.type if array.dtype in (np.float32, np.float64) else np.float64
