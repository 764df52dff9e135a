"""Argument checks shared by every layer and op: integers and tuples of integers.

One rule everywhere, PyTorch's: Python and NumPy integers are accepted (``3``, ``np.int64(3)``),
``bool`` is refused although it is an ``int`` subclass (``groups=True`` is a mistake, not 1),
and so are floats, strings and ``None``. A value of the wrong type raises a ``TypeError``, a
value out of range a ``ValueError``; both name the owner and the argument::

    >>> as_int(np.int64(3), "groups", "Conv2d")
    3
    >>> as_int(True, "groups", "Conv2d")
    Traceback (most recent call last):
    ...
    TypeError: Conv2d: groups must be a positive int, got True
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np


def is_int(value) -> bool:
    """Whether ``value`` is a Python or NumPy integer (never a ``bool`` or ``np.bool_``)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _describe_minimum(minimum: int) -> str:
    return {1: "a positive int", 0: "a non-negative int"}.get(minimum, f"an int >= {minimum}")


def as_int(value, name: str, owner: str, minimum: int = 1) -> int:
    """``value`` as a plain ``int``, checked to be an integer of at least ``minimum``.

    >>> as_int(0, "padding", "Conv2d", minimum=0)
    0
    """
    if not is_int(value):
        raise TypeError(f"{owner}: {name} must be {_describe_minimum(minimum)}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be {_describe_minimum(minimum)}, got {value!r}")
    return int(value)


def as_tuple(value, ndim: int, name: str, owner: str, minimum: int = 1) -> tuple[int, ...]:
    """An int, or a sequence of ``ndim`` ints, as a tuple of ``ndim`` plain ints, each at least ``minimum``.

    Args:
        value: an int (repeated ``ndim`` times) or a sequence of ``ndim`` ints (NumPy integers accepted).
        ndim: the length of the tuple.
        name: the argument's name, for the error message.
        owner: the layer or function checking it, for the error message.
        minimum: the smallest value allowed (default 1).

    >>> as_tuple(3, 2, "kernel_size", "Conv2d")
    (3, 3)
    >>> as_tuple((np.int64(2), 1), 2, "stride", "Conv2d")
    (2, 1)
    """
    if is_int(value):
        values = (int(value),) * ndim
    elif (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == ndim
          and all(is_int(v) for v in value)):
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{owner}: {name} must be an int or a tuple of {ndim} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value!r}")
    return values


def as_number(value, name: str, owner: str) -> float:
    """A real number (int or float, NumPy's included; not ``bool``) as a ``float``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    return float(value)


__all__ = ["is_int", "as_int", "as_tuple", "as_number"]
