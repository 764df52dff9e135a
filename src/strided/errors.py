"""Errors raised for user mistakes, with messages that name the layer, the expectation and the input.

A message reads like ``Conv2d(3, 16, kernel_size=(3, 3)): expected input (N, 3, H, W), got
(8, 1, 28, 28)``: who complains, what it wanted, what it received.
"""

from __future__ import annotations


class ShapeError(ValueError):
    """An array or a geometry has the wrong shape for the layer that received it.

    A ``ValueError``, so ``except ValueError`` catches it too.

    Example:
        >>> import numpy as np
        >>> import strided as st
        >>> try:
        ...     st.nn.Conv2d(3, 8, 3, rng=0)(np.zeros((1, 1, 8, 8), np.float32))
        ... except st.ShapeError as error:
        ...     print(type(error).__name__, isinstance(error, ValueError))
        ShapeError True
    """


def shape_str(shape) -> str:
    """``(8, 1, 28, 28)`` for a shape tuple, without numpy's scalar types leaking into the text."""
    return "(" + ", ".join(str(int(s)) if not isinstance(s, str) else s for s in shape) + (",)" if len(shape) == 1 else ")")


def expected_input(layer: str, expected: str, got) -> ShapeError:
    """The standard message for an input of the wrong shape."""
    return ShapeError(f"{layer}: expected input {expected}, got {shape_str(got)}")
