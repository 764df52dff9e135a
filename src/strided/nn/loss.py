"""Losses: cross-entropy over logits and mean squared error."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .module import Module

REDUCTIONS = ("mean", "sum", "none")


def _labels_array(labels, n: int, classes: int, owner: str) -> np.ndarray:
    """Integer class indices ``(N,)`` from an int array or a Tensor, each in ``[0, classes)``."""
    raw = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if raw.dtype.kind == "f":
        if not np.all(raw == np.round(raw)):
            raise TypeError(f"{owner}: expected integer class labels, got non-integer values")
        raw = raw.astype(np.int64)
    elif raw.dtype.kind not in "iu":
        raise TypeError(f"{owner}: expected integer class labels, got dtype {raw.dtype}")
    if raw.shape != (n,):
        raise ShapeError(f"{owner}: expected labels ({n},) for logits with {n} rows, got {shape_str(raw.shape)}")
    if raw.size and (raw.min() < 0 or raw.max() >= classes):
        raise ValueError(f"{owner}: expected labels in [0, {classes}), got values from {raw.min()} to {raw.max()}")
    return raw.astype(np.intp)


def _reduce(values: np.ndarray, reduction: str, owner: str):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "mean":
        return np.asarray(values.mean(), dtype=values.dtype), 1.0 / max(values.size, 1)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype), 1.0
    return values, None


def cross_entropy(logits, labels, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of ``logits (N, C)`` against integer ``labels (N,)``.

    Computed as ``logsumexp(z) - z[label]`` with the maximum subtracted first, so logits of
    1e4 are fine. The gradient is ``(softmax(z) - onehot) / N`` for the mean.

    Shape: ``(N, C)``, ``(N,)`` -> scalar (``'mean'``, ``'sum'``) or ``(N,)`` (``'none'``).
    """
    z = as_tensor(logits)
    if z.ndim != 2:
        raise ShapeError(f"cross_entropy: expected logits (N, C), got {shape_str(z.shape)}")
    n, c = z.shape
    y = _labels_array(labels, n, c, "cross_entropy")
    shifted = z.data - z.data.max(axis=1, keepdims=True)                # (N, C)
    log_norm = np.log(np.exp(shifted).sum(axis=1))                      # (N,)
    losses = log_norm - shifted[np.arange(n), y]                        # (N,)
    out, scale = _reduce(losses, reduction, "cross_entropy")

    def backward(g):
        probs = np.exp(shifted - log_norm[:, None])                     # (N, C)
        probs[np.arange(n), y] -= 1
        weight = g * scale if scale is not None else g[:, None]         # scalar or (N, 1)
        return (probs * weight,)
    return Tensor.from_op(out, (z,), backward, "cross_entropy")


def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((prediction - target)^2)``. Shape: any two equal shapes -> scalar."""
    p = as_tensor(prediction)
    t = as_tensor(target, dtype=p.dtype)
    if p.shape != t.shape:
        raise ShapeError(f"mse_loss: expected target of shape {shape_str(p.shape)}, got {shape_str(t.shape)}")
    diff = p.data - t.data
    out, scale = _reduce(diff * diff, reduction, "mse_loss")

    def backward(g):
        gd = 2 * diff * (g * scale if scale is not None else g)
        return gd, -gd
    return Tensor.from_op(out, (p, t), backward, "mse_loss")


class CrossEntropyLoss(Module):
    """``cross_entropy`` as a module: ``CrossEntropyLoss()(logits, labels)``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, labels) -> Tensor:
        return cross_entropy(logits, labels, self.reduction)


class MSELoss(Module):
    """``mse_loss`` as a module: ``MSELoss()(prediction, target)``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, prediction, target) -> Tensor:
        return mse_loss(prediction, target, self.reduction)
