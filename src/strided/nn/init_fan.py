"""Gains and fans for ``nn.init``'s scaled initialisers (Xavier/Glorot, Kaiming/He), as PyTorch's.

Fans (``_calculate_fan_in_and_fan_out``): for a weight ``(out, in, *kernel)``,
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.

Shape: a weight of at least 2 dimensions, ``(out, in, *kernel)``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .init_fill import _array

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The gain recommended for a nonlinearity: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2)
    (relu), ``sqrt(2 / (1 + negative_slope^2))`` (leaky_relu; ``param`` is the slope, 0.01 by
    default), 3/4 (selu).

    Args:
        nonlinearity: ``'linear'``, a conv name (``'conv2d'``, ``'conv_transpose2d'``, ...), ``'sigmoid'``,
            ``'tanh'``, ``'relu'``, ``'leaky_relu'`` or ``'selu'``.
        param: the negative slope for ``'leaky_relu'`` (default ``None``: 0.01); ignored otherwise.

    Example:
        >>> calculate_gain('relu'), calculate_gain('tanh')
        (1.4142135623730951, 1.6666666666666667)
    """
    if nonlinearity in _LINEAR:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, (bool, np.bool_)):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """``(in * prod(kernel), out * prod(kernel))`` for a weight of shape ``(out, in, *kernel)``."""
    shape = _array(tensor, "init").shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _kaiming_std(tensor, a, mode, nonlinearity) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
