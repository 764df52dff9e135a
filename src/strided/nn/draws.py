"""How layers and models draw their own initial parameters (the public in-place initialisers with
PyTorch's names: ``init.py``): ``make_rng`` makes a ``numpy.random.Generator`` from a Generator, an
int seed or ``None``; ``default_fan_in_uniform`` and ``weight_and_bias`` give PyTorch's default
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for conv and dense layers; ``uniform``, ``normal`` and
``kaiming_normal`` draw directly in float32 (no float64 detour for VGG-sized layers). Under
``nn.meta()`` they draw nothing and return a shape-only array (``shape_only.meta_array``), so a
model built for analysis allocates nothing.
"""

from __future__ import annotations

import math

import numpy as np

from ..random import default_generator
from .shape_only import is_meta_enabled, meta_array


def make_rng(rng=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator (returned as is), an int seed (a new generator),
    or ``None``: the library's default generator (see ``strided.random``; ``st.manual_seed`` seeds it).

    Args:
        rng: a Generator, an int seed, or ``None`` (default ``None``: the library's default generator).

    Example:
        >>> make_rng(0).integers(10, size=3).tolist() == np.random.default_rng(0).integers(10, size=3).tolist()
        True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return default_generator()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def uniform(shape, bound: float, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Samples from U(-bound, bound), drawn directly in ``dtype`` (fast for VGG-sized layers)."""
    if is_meta_enabled():
        return meta_array(shape, dtype)
    return ((rng.random(shape, dtype=np.dtype(dtype).type) * 2 - 1) * bound).astype(dtype, copy=False)


def default_fan_in_uniform(shape, fan_in: int, rng: np.random.Generator) -> np.ndarray:
    """PyTorch's default for conv and linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    (``kaiming_uniform_(a=sqrt(5))`` reduces to this bound for weights; biases use it directly.)
    """
    return uniform(shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, rng)


def weight_and_bias(weight_shape, bias_shape, fan_in: int, bias: bool, rng: np.random.Generator):
    """The ``(weight, bias)`` parameters of a conv-like or dense layer, PyTorch's default init.

    Both are drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weight first; ``bias`` is ``None``
    when not wanted.
    """
    from .module import Parameter
    weight = Parameter(default_fan_in_uniform(tuple(weight_shape), fan_in, rng))
    return weight, (Parameter(default_fan_in_uniform(tuple(bias_shape), fan_in, rng)) if bias else None)


def normal(shape, std: float, rng: np.random.Generator) -> np.ndarray:
    """``N(0, std)`` samples drawn directly in float32 (VGG's classifier holds 120M of them)."""
    if is_meta_enabled():
        return meta_array(shape, np.float32)
    out = rng.standard_normal(shape, dtype=np.float32)   # drawn in float32: no float64 detour
    out *= np.float32(std)
    return out


def kaiming_normal(shape, fan: int, rng: np.random.Generator, gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He et al. normal initialisation: N(0, gain / sqrt(fan))."""
    return normal(shape, gain / math.sqrt(fan), rng)
