"""The padding layers: ``ConstantPad``, ``ZeroPad``, ``ReflectionPad``, ``ReplicationPad`` and
``CircularPad`` in 1, 2 and 3 dimensions (the op they call, its modes and their limits:
``padding.py``).

Each layer keeps ``padding`` in PyTorch's order (an int, or ``2 * ndim`` ints, last axis first; a
negative amount crops), takes ``(N, C, *S)`` or an unbatched ``(C, *S)``, and pads the spatial
axes with ``pad_axes``, one ``(lo, hi)`` pair per axis, first axis first.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (the doctests use np)

from ..checks import as_number, as_tuple
from ..errors import expected_input
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .helpers import describe_layout
from .module import Module
from .padding import pad_axes, padded_sizes, torch_pairs
from .registry import register_layer

_ANY = -(1 << 62)   # as_tuple's lower bound for pads: negative amounts crop


class _PadNd(Module):
    """Shared body of the padding layers: ``padding`` is an int or ``2 * ndim`` ints in PyTorch's
    order (last axis first); negative amounts crop.

    Receptive field: an output pixel is placed where it stands in input coordinates (``start``
    moves by the low pad, size and jump unchanged), for every mode. Reflected, replicated and
    circular border pixels copy input pixels, but like zero padding they hang outside the input
    in this convention, the one a convolution's ``padding_mode`` keeps as well.
    """

    ndim = 0
    mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = as_tuple(padding, 2 * self.ndim, "padding", type(self).__name__, minimum=_ANY)

    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """The ``(lo, hi)`` pad of each spatial axis, first axis first."""
        return torch_pairs(self.padding)

    def _check(self, in_shape) -> tuple[int, ...]:
        """``(N, C, *S)`` or unbatched ``(C, *S)`` (as PyTorch); returns the padded sizes."""
        if len(in_shape) not in (self.ndim + 1, self.ndim + 2):
            raise expected_input(self._describe(), describe_layout(self.ndim, in_shape), in_shape)
        return padded_sizes(tuple(in_shape[-self.ndim:]), self.pairs, self.mode, self._describe())

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return pad_axes(x, self.pairs, self.mode, getattr(self, "value", 0.0), self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim]) + self._check(in_shape)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        self._check(in_shape)
        ones = (1,) * self.ndim
        return rf.through_window(ones, ones, tuple(lo for lo, _ in self.pairs), ones)

    def extra_repr(self) -> str:
        return str(self.padding)


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = as_number(value, "value", type(self).__name__)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return str(self.padding)


@register_layer(example=lambda: (ConstantPad1d((2, -1), 1.5), (2, 3, 5)))
class ConstantPad1d(_ConstantPadNd):
    """Pad ``(N, C, L)`` with ``value``; ``padding``: int or ``(left, right)``. Shape: ``L_out = L + left + right``.

    Args:
        padding: an int (both ends) or ``(left, right)``; negative amounts crop.
        value: the fill value.

    Example:
        >>> ConstantPad1d(1, 9.0)(np.array([[[1.0, 2.0]]])).numpy().tolist()
        [[[9.0, 1.0, 2.0, 9.0]]]
    """
    ndim = 1


@register_layer(example=lambda: (ConstantPad2d((1, 0, 2, 1), -0.5), (2, 2, 3, 4)))
class ConstantPad2d(_ConstantPadNd):
    """Pad ``(N, C, H, W)`` with ``value``: ``padding`` is an int or ``(left, right, top, bottom)``.

    Args:
        padding: an int (every side) or ``(left, right, top, bottom)``; negative amounts crop.
        value: the fill value.

    Shape: ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``.

    >>> ConstantPad2d((1, 1, 2, 0), 3.0)(np.zeros((1, 1, 2, 2))).shape
    (1, 1, 4, 4)
    """
    ndim = 2


@register_layer(example=lambda: (ConstantPad3d((1, 0, 0, 1, 1, 1), 2.0), (1, 2, 2, 3, 2)))
class ConstantPad3d(_ConstantPadNd):
    """Pad ``(N, C, D, H, W)`` with ``value``: ``padding`` is an int or ``(left, right, top, bottom, front, back)``.

    Args:
        padding: an int or ``(left, right, top, bottom, front, back)``; negative amounts crop.
        value: the fill value.

    Shape: ``(N, C, D, H, W) -> (N, C, D + front + back, H + top + bottom, W + left + right)``.

    Example:
        >>> ConstantPad3d((1, 1, 0, 0, 2, 0), 0.5)(np.ones((1, 2, 2, 3, 4))).shape
        (1, 2, 4, 3, 6)
    """
    ndim = 3


@register_layer(example=lambda: (ZeroPad1d((1, 2)), (2, 3, 4)))
class ZeroPad1d(_ZeroPadNd):
    """Pad ``(N, C, L)`` with zeros; ``padding``: an int or ``(left, right)``. Shape: ``L_out = L + left + right``.

    Args:
        padding: an int (both ends) or ``(left, right)``; negative amounts crop.

    Example:
        >>> ZeroPad1d((1, 2))(np.array([[[1.0, 2.0]]])).numpy().tolist()
        [[[0.0, 1.0, 2.0, 0.0, 0.0]]]
    """
    ndim = 1


@register_layer(example=lambda: (ZeroPad2d((1, 2, 0, 1)), (2, 3, 4, 3)))
class ZeroPad2d(_ZeroPadNd):
    """Pad ``(N, C, H, W)`` with zeros: ``padding`` is an int or ``(left, right, top, bottom)``.

    Args:
        padding: an int (every side) or ``(left, right, top, bottom)``; negative amounts crop.

    Shape: ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``.

    >>> ZeroPad2d((0, 1, 0, 1)).output_shape((8, 16, 7, 7))
    (8, 16, 8, 8)
    """
    ndim = 2


@register_layer(example=lambda: (ZeroPad3d(1), (1, 2, 2, 3, 2)))
class ZeroPad3d(_ZeroPadNd):
    """Pad ``(N, C, D, H, W)`` with zeros: ``padding`` is an int or ``(left, right, top, bottom, front, back)``.

    Args:
        padding: an int or ``(left, right, top, bottom, front, back)``.

    Shape: ``(N, C, D, H, W) -> (N, C, D + front + back, H + top + bottom, W + left + right)``.

    Example:
        >>> ZeroPad3d(1)(np.ones((1, 2, 2, 3, 4))).shape
        (1, 2, 4, 5, 6)
    """
    ndim = 3


@register_layer(example=lambda: (ReflectionPad1d((3, 1)), (2, 3, 5)))
class ReflectionPad1d(_PadNd):
    """Pad ``(N, C, L)`` with its reflection (``dcb|abcd|cba``), pads < L. Shape: ``L_out = L + left + right``.

    Args:
        padding: an int (both ends) or ``(left, right)``, each smaller than the input length.

    Example:
        >>> ReflectionPad1d(2)(np.array([[[1.0, 2.0, 3.0]]])).numpy().tolist()
        [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]]]
    """
    ndim = 1
    mode = "reflect"


@register_layer(example=lambda: (ReflectionPad2d((1, 2, 2, 0)), (2, 2, 3, 4)))
class ReflectionPad2d(_PadNd):
    """Pad ``(N, C, H, W)`` with the reflection of the input at its edges; each pad < its axis' size.

    Args:
        padding: an int (every side) or ``(left, right, top, bottom)``, each smaller than its axis.

    Shape: ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``.

    >>> ReflectionPad2d(1)(np.arange(4.0).reshape(1, 1, 2, 2)).data[0, 0].tolist()
    [[3.0, 2.0, 3.0, 2.0], [1.0, 0.0, 1.0, 0.0], [3.0, 2.0, 3.0, 2.0], [1.0, 0.0, 1.0, 0.0]]
    """
    ndim = 2
    mode = "reflect"


@register_layer(example=lambda: (ReflectionPad3d((1, 0, 1, 1, 0, 1)), (1, 2, 2, 3, 2)))
class ReflectionPad3d(_PadNd):
    """Pad ``(N, C, D, H, W)`` with the reflection of the input at its edges; each pad < its axis' size.

    Args:
        padding: an int or ``(left, right, top, bottom, front, back)``, each smaller than its axis.

    Shape: ``(N, C, D, H, W) -> (N, C, D + front + back, H + top + bottom, W + left + right)``.

    Example:
        >>> ReflectionPad3d(1)(np.ones((1, 2, 2, 3, 4))).shape
        (1, 2, 4, 5, 6)
    """
    ndim = 3
    mode = "reflect"


@register_layer(example=lambda: (ReplicationPad1d((2, 3)), (2, 3, 4)))
class ReplicationPad1d(_PadNd):
    """Pad ``(N, C, L)`` with copies of its edges (``aaa|abcd|ddd``). Shape: ``L_out = L + left + right``.

    Args:
        padding: an int (both ends) or ``(left, right)``.

    Example:
        >>> ReplicationPad1d((1, 2))(np.array([[[1.0, 2.0, 3.0]]])).numpy().tolist()
        [[[1.0, 1.0, 2.0, 3.0, 3.0, 3.0]]]
    """
    ndim = 1
    mode = "replicate"


@register_layer(example=lambda: (ReplicationPad2d((0, 2, 3, 1)), (2, 2, 3, 4)))
class ReplicationPad2d(_PadNd):
    """Pad ``(N, C, H, W)`` with copies of the edge values.

    Args:
        padding: an int (every side) or ``(left, right, top, bottom)``.

    Shape: ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``.

    Example:
        >>> ReplicationPad2d(1)(np.array([[[[1.0, 2.0]]]])).numpy().tolist()
        [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]
    """
    ndim = 2
    mode = "replicate"


@register_layer(example=lambda: (ReplicationPad3d((1, 2, 0, 1, 2, 0)), (1, 2, 2, 3, 2)))
class ReplicationPad3d(_PadNd):
    """Pad ``(N, C, D, H, W)`` with copies of the edge values.

    Args:
        padding: an int or ``(left, right, top, bottom, front, back)``.

    Shape: ``(N, C, D, H, W) -> (N, C, D + front + back, H + top + bottom, W + left + right)``.

    Example:
        >>> ReplicationPad3d(1)(np.ones((1, 2, 2, 3, 4))).shape
        (1, 2, 4, 5, 6)
    """
    ndim = 3
    mode = "replicate"


@register_layer(example=lambda: (CircularPad1d((3, 2)), (2, 3, 4)))
class CircularPad1d(_PadNd):
    """Pad ``(N, C, L)`` periodically (``bcd|abcd|abc``), pads <= L. Shape: ``L_out = L + left + right``.

    Args:
        padding: an int (both ends) or ``(left, right)``, at most the input length.

    Example:
        >>> CircularPad1d((1, 2))(np.array([[[1.0, 2.0, 3.0]]])).numpy().tolist()
        [[[3.0, 1.0, 2.0, 3.0, 1.0, 2.0]]]
    """
    ndim = 1
    mode = "circular"


@register_layer(example=lambda: (CircularPad2d((1, 2, 3, 0)), (2, 2, 3, 4)))
class CircularPad2d(_PadNd):
    """Pad ``(N, C, H, W)`` periodically (a torus); each pad at most its axis' size.

    Args:
        padding: an int (every side) or ``(left, right, top, bottom)``, at most the axis' size.

    Shape: ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``.

    Example:
        >>> CircularPad2d(1)(np.ones((1, 2, 3, 4))).shape
        (1, 2, 5, 6)
    """
    ndim = 2
    mode = "circular"


@register_layer(example=lambda: (CircularPad3d((1, 1, 0, 2, 1, 0)), (1, 2, 2, 3, 2)))
class CircularPad3d(_PadNd):
    """Pad ``(N, C, D, H, W)`` periodically; each pad at most its axis' size.

    Args:
        padding: an int or ``(left, right, top, bottom, front, back)``.

    Shape: ``(N, C, D, H, W) -> (N, C, D + front + back, H + top + bottom, W + left + right)``.

    Example:
        >>> CircularPad3d(1)(np.ones((1, 2, 2, 3, 4))).shape
        (1, 2, 4, 5, 6)
    """
    ndim = 3
    mode = "circular"
