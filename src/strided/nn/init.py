"""Weight initialisation, matching PyTorch's defaults, from an explicit random generator."""

from __future__ import annotations

import math

import numpy as np


def make_rng(rng=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator (returned as is), an int seed, or ``None`` (fresh)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def uniform(shape, bound: float, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Samples from U(-bound, bound), drawn directly in ``dtype`` (fast for VGG-sized layers)."""
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


def kaiming_normal(shape, fan: int, rng: np.random.Generator, gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He et al. normal initialisation: N(0, gain / sqrt(fan))."""
    out = rng.standard_normal(shape, dtype=np.float32)   # drawn in float32: no float64 detour
    out *= np.float32(gain / math.sqrt(fan))
    return out
