"""Element-wise activations and softmax, each with its backward."""

from __future__ import annotations

import numpy as np

from ..errors import expected_input
from ..tensor import Tensor, as_tensor
from .module import Module
from .pool import MaxPool1d, MaxPool2d, MaxPool3d
from .registry import register_layer


def relu(x) -> Tensor:
    """``max(x, 0)``; the gradient at exactly 0 is 0, as in PyTorch."""
    x = as_tensor(x)
    out = np.maximum(x.data, 0)

    def backward(g):
        gx = np.empty_like(out, dtype=g.dtype)                          # in the output's memory layout
        return (np.multiply(g, out > 0, out=gx),)
    return Tensor.from_op(out, (x,), backward, "relu")


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    x = as_tensor(x)
    positive = x.data > 0
    out = np.where(positive, x.data, x.data * negative_slope)
    return Tensor.from_op(out, (x,), lambda g: (np.where(positive, g, g * negative_slope),), "leaky_relu")


def sigmoid(x) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""
    x = as_tensor(x)
    e = np.exp(-np.abs(x.data))
    out = np.where(x.data >= 0, 1 / (1 + e), e / (1 + e))
    return Tensor.from_op(out, (x,), lambda g: (g * out * (1 - out),), "sigmoid")


def tanh(x) -> Tensor:
    x = as_tensor(x)
    out = np.tanh(x.data)
    return Tensor.from_op(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def softmax(x, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum for stability."""
    x = as_tensor(x)
    e = np.exp(x.data - x.data.max(axis=dim, keepdims=True))
    out = e / e.sum(axis=dim, keepdims=True)
    return Tensor.from_op(out, (x,), lambda g: (out * (g - (g * out).sum(axis=dim, keepdims=True)),), "softmax")


def log_softmax(x, dim: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, stable for large values."""
    x = as_tensor(x)
    shifted = x.data - x.data.max(axis=dim, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    return Tensor.from_op(out, (x,), lambda g: (g - np.exp(out) * g.sum(axis=dim, keepdims=True),), "log_softmax")


EXAMPLE_SHAPE = (2, 3, 4)


@register_layer(example=lambda: (ReLU(), EXAMPLE_SHAPE))
class ReLU(Module):
    """Rectified linear unit. Shape: any, unchanged."""

    def forward(self, x) -> Tensor:
        return relu(x)

    def fuse_with(self, after):
        """Followed by a plain ``MaxPool``: the pool runs first and the ReLU on the pooled values only.

        The maximum commutes with the ReLU, and so do the gradients, ties included: a window whose
        maximum is positive routes to the same first maximum either way, and a window whose
        maximum is at most 0 gets no gradient either way (the ReLU's gradient at 0 is 0).
        """
        if type(after) in (MaxPool1d, MaxPool2d, MaxPool3d):
            return lambda x: self(after(x))
        return None


@register_layer(example=lambda: (LeakyReLU(0.1), EXAMPLE_SHAPE))
class LeakyReLU(Module):
    """Leaky ReLU with ``negative_slope`` (default 0.01). Shape: any, unchanged."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x) -> Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


@register_layer(example=lambda: (Sigmoid(), EXAMPLE_SHAPE))
class Sigmoid(Module):
    """Logistic sigmoid. Shape: any, unchanged."""

    def forward(self, x) -> Tensor:
        return sigmoid(x)


@register_layer(example=lambda: (Tanh(), EXAMPLE_SHAPE))
class Tanh(Module):
    """Hyperbolic tangent (LeNet-5's classic activation). Shape: any, unchanged."""

    def forward(self, x) -> Tensor:
        return tanh(x)


@register_layer(example=lambda: (Softmax(dim=1), EXAMPLE_SHAPE))
class Softmax(Module):
    """Softmax along ``dim`` (default: last). Shape: any, unchanged."""

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
    """Log-softmax along ``dim`` (default: last). Shape: any, unchanged."""

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return log_softmax(x, self.dim)
