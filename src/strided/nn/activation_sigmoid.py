"""The sigmoid's kin among the activations: the logistic sigmoid and its piecewise-linear
``hardsigmoid``, ``hardswish`` (``x * hardsigmoid(x)``), ``tanh``, and the normalising
``softmax`` and ``log_softmax``; each with its backward, and their layers. The ReLU family is in
``activation.py``, the smooth activations (GELU, SiLU, ...) in ``activation_smooth.py``.

Gradients at the kinks follow PyTorch: ``hardsigmoid`` none at +-3; ``hardswish`` 0 at -3 and 1
at +3. ``sigmoid`` is computed from ``exp(-|x|)``, so nothing overflows.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..errors import expected_input
from ..tensor import Tensor, as_tensor
from .activation import EXAMPLE_SHAPE, Elementwise, _aligned, _compiled, check_inplace
from .module import Module
from .registry import register_layer


def hardsigmoid(x, inplace: bool = False) -> Tensor:
    """``min(max(x + 3, 0), 6) / 6``; the gradient is 1/6 strictly inside ``(-3, 3)``, else 0.

    Args:
        x: the input.
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> hardsigmoid(np.array([-3.0, 0.0, 3.0])).numpy().tolist()
        [0.0, 0.5, 1.0]
    """
    check_inplace(inplace, "hardsigmoid")
    x = as_tensor(x)
    out = namespace(x.data).clip(x.data + 3, 0, 6) / 6
    return Tensor.from_op(out, (x,), lambda g: (g * ((x.data > -3) & (x.data < 3)) / 6,), "hardsigmoid")


def hardswish(x, inplace: bool = False) -> Tensor:
    """``x * min(max(x + 3, 0), 6) / 6`` (MobileNetV3); the gradient is 0 up to -3 included,
    ``x / 3 + 1/2`` on ``(-3, 3)`` and 1 from 3 on (NaN at NaN), as in PyTorch. On the compiled
    path one pass each way (``fast/elementwise.py``). Shape: any, unchanged.

    Args:
        x: the input.
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> hardswish(np.array([-1.5, 0.0, 3.0])).numpy().tolist()
        [-0.375, 0.0, 3.0]
    """
    check_inplace(inplace, "hardswish")
    x = as_tensor(x)
    xp = namespace(x.data)
    out = _compiled("hardswish_forward", x.data)                       # one pass on the compiled path
    if out is None:
        out = x.data * xp.clip(x.data + 3, 0, 6) / 6

    def backward(g):
        g = _aligned(g, x.data)
        gx = _compiled("hardswish_backward", g, x.data) if g.dtype == x.data.dtype else None
        if gx is not None:
            return (gx,)
        middle_or_top = xp.where(x.data >= 3, 1.0, x.data / 3 + 0.5)    # (*) 1 from 3 on, x/3 + 1/2 below (NaN stays)
        return (g * xp.where(x.data <= -3, 0.0, middle_or_top),)        # (*) 0 up to -3, -3 included
    return Tensor.from_op(out, (x,), backward, "hardswish")


def sigmoid(x) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``. Shape: any, unchanged.

    Args:
        x: the input, a ``Tensor`` or an array.

    Example:
        >>> sigmoid(np.array([0.0])).numpy().tolist()
        [0.5]
    """
    x = as_tensor(x)
    e = exp_minus_abs(x.data)
    out = _compiled("sigmoid_forward", x.data, e)                     # one pass on the compiled path
    if out is None:
        out = sigmoid_from(e, x.data)
    del e

    def backward(g):
        g = _aligned(g, out)
        gx = _compiled("sigmoid_backward", g, out) if g.dtype == out.dtype else None
        return (g * out * (1 - out) if gx is None else gx,)
    return Tensor.from_op(out, (x,), backward, "sigmoid")


def stable_sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic function of an array, from ``e = exp(-|a|)`` so that nothing overflows."""
    return sigmoid_from(exp_minus_abs(a), a, overwrite=True)


def exp_minus_abs(a: np.ndarray) -> np.ndarray:
    """``exp(-|a|)``, in ``(0, 1]`` (NaN kept): three passes of NumPy, one array."""
    xp = namespace(a)
    e = xp.abs(a)
    xp.negative(e, out=e)
    return xp.exp(e, out=e)


def sigmoid_from(e: np.ndarray, a: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """The sigmoid of ``a`` from ``e = exp(-|a|)`` (``exp_minus_abs``): ``1 / (1 + e)`` where
    ``a >= 0``, ``e / (1 + e)`` elsewhere, the numerator picked without a branch as
    ``max(e, a >= 0)`` (``e <= 1``). NumPy's ``where`` on a mask of random signs cost 3.5-4 ns a
    value here (2M float32 values: 10.5 ms against 3.0 this way), the same bits. ``overwrite``:
    ``e`` may be written over."""
    xp = namespace(a)
    den = e + 1
    num = xp.maximum(e, a >= 0, out=e if overwrite else None)          # 1 where a >= 0, else e
    return xp.divide(num, den, out=den)


def tanh(x) -> Tensor:
    """Hyperbolic tangent. Shape: any, unchanged.

    Args:
        x: the input, a ``Tensor`` or an array.

    Example:
        >>> tanh(np.array([0.0])).numpy().tolist()
        [0.0]
    """
    x = as_tensor(x)
    out = namespace(x.data).tanh(x.data)
    return Tensor.from_op(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def softmax(x, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum for stability.

    Args:
        x: the input (scores).
        dim: the axis that sums to 1 (default: the last).

    Example:
        >>> softmax(np.zeros((2, 4)), dim=1).numpy().tolist()
        [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]
    """
    x = as_tensor(x)
    e = namespace(x.data).exp(x.data - x.data.max(axis=dim, keepdims=True))
    out = e / e.sum(axis=dim, keepdims=True)
    return Tensor.from_op(out, (x,), lambda g: (out * (g - (g * out).sum(axis=dim, keepdims=True)),), "softmax")


def log_softmax(x, dim: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, stable for large values.

    Args:
        x: the input (scores).
        dim: the axis normalised (default: the last).

    Example:
        >>> log_softmax(np.zeros((1, 2)), dim=1).numpy().round(4).tolist()
        [[-0.6931, -0.6931]]
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    shifted = x.data - x.data.max(axis=dim, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
    return Tensor.from_op(out, (x,), lambda g: (g - xp.exp(out) * g.sum(axis=dim, keepdims=True),), "log_softmax")


@register_layer(example=lambda: (Hardsigmoid(), EXAMPLE_SHAPE))
class Hardsigmoid(Elementwise):
    """``min(max(x + 3, 0), 6) / 6``, a piecewise-linear sigmoid. Shape: any, unchanged.

    Args:
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> Hardsigmoid()(np.array([-3.0, 0.0, 3.0])).numpy().tolist()
        [0.0, 0.5, 1.0]
    """

    def forward(self, x) -> Tensor:
        return hardsigmoid(x)


@register_layer(example=lambda: (Hardswish(), EXAMPLE_SHAPE))
class Hardswish(Elementwise):
    """``x * hardsigmoid(x)`` (MobileNetV3). Shape: any, unchanged.

    Args:
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> Hardswish()(np.array([-1.5, 0.0, 3.0])).numpy().tolist()
        [-0.375, 0.0, 3.0]
    """

    def forward(self, x) -> Tensor:
        return hardswish(x)


@register_layer(example=lambda: (Sigmoid(), EXAMPLE_SHAPE))
class Sigmoid(Module):
    """Logistic sigmoid. Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in Sigmoid()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [0.1192, 0.5, 0.8808]
    """

    def forward(self, x) -> Tensor:
        return sigmoid(x)


@register_layer(example=lambda: (Tanh(), EXAMPLE_SHAPE))
class Tanh(Module):
    """Hyperbolic tangent (LeNet-5's classic activation). Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in Tanh()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-0.964, 0.0, 0.964]
    """

    def forward(self, x) -> Tensor:
        return tanh(x)


@register_layer(example=lambda: (Softmax(dim=1), EXAMPLE_SHAPE))
class Softmax(Module):
    """Softmax along ``dim`` (default: last). Shape: any, unchanged.

    Args:
        dim: the axis that sums to 1 (default -1, the last; use 1 for ``(N, C, H, W)`` scores).

    Example:
        >>> [round(v, 4) for v in Softmax()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [0.0159, 0.1173, 0.8668]
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def _check(self, shape) -> None:
        if not -len(shape) <= self.dim < len(shape):
            raise expected_input(self._describe(), f"with an axis dim={self.dim}", shape)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return softmax(x, self.dim)

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return tuple(in_shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


@register_layer(example=lambda: (LogSoftmax(dim=1), EXAMPLE_SHAPE))
class LogSoftmax(Softmax):
    """Log-softmax along ``dim`` (default: last). Shape: any, unchanged.

    Args:
        dim: the axis normalised (default -1, the last).

    Example:
        >>> [round(v, 4) for v in LogSoftmax()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-4.1429, -2.1429, -0.1429]
    """

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return log_softmax(x, self.dim)
