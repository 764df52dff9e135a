"""Regression losses, element by element: L1, mean squared error, smooth L1 and Huber.

Each compares an input with a target of the same shape (strided refuses the broadcasting that
PyTorch only warns about) and differentiates both. ``weight`` (``l1_loss``, ``mse_loss``,
``huber_loss``, as in PyTorch 2.6+) is a constant of the input's shape.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..checks import as_number
from ..tensor import Tensor
from .loss import as_weight, check_reduction, pair, pointwise_loss
from .module import Module


def _weighted(values: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return values if w is None else values * w


def l1_loss(input, target, *, reduction: str = "mean", weight=None) -> Tensor:
    """Mean absolute error ``|input - target|`` (times ``weight``).

    With ``weight``, ``'mean'`` divides by ``weight.sum()`` (PyTorch). The gradient at a zero
    difference is 0.

    Args:
        input: the predictions.
        target: the targets, the input's shape.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        weight: a weight broadcast to the input, or ``None``.

    Shape: any two equal shapes -> scalar, or (``'none'``) that shape.

    Example:
        >>> l1_loss(np.zeros(2), np.array([1.0, 3.0])).item()
        2.0
    """
    x, t = pair(input, target, "l1_loss")
    check_reduction(reduction, "l1_loss")
    w = as_weight(weight, x.dtype, "l1_loss", "weight", x.shape, like=x.data)
    diff = x.data - t.data.astype(x.dtype, copy=False)                  # like x
    xp = namespace(diff)
    return pointwise_loss(x, t, _weighted(xp.abs(diff), w), lambda: (_weighted(xp.sign(diff), w), None),
                          reduction, "l1_loss", total=None if w is None else w.sum())


def mse_loss(input, target, *, reduction: str = "mean", weight=None) -> Tensor:
    """Mean squared error ``(input - target)^2`` (times ``weight``).

    With ``weight``, ``'mean'`` divides by ``weight.sum()`` (PyTorch).

    Args:
        input: the predictions.
        target: the targets, the input's shape.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        weight: a weight broadcast to the input, or ``None``.

    Shape: any two equal shapes -> scalar, or (``'none'``) that shape.

    >>> float(mse_loss(Tensor([1.0, 3.0]), [0.0, 0.0]).item())
    5.0
    """
    x, t = pair(input, target, "mse_loss")
    check_reduction(reduction, "mse_loss")
    w = as_weight(weight, x.dtype, "mse_loss", "weight", x.shape, like=x.data)
    diff = x.data - t.data.astype(x.dtype, copy=False)                  # like x
    return pointwise_loss(x, t, _weighted(diff * diff, w), lambda: (_weighted(2 * diff, w), None),
                          reduction, "mse_loss", total=None if w is None else w.sum())


def _check_beta(beta, owner: str) -> float:
    beta = as_number(beta, "beta", owner)
    if beta < 0:
        raise ValueError(f"{owner}: beta must be >= 0, got {beta!r}")
    return beta


def _check_delta(delta, owner: str) -> float:
    delta = as_number(delta, "delta", owner)
    if not delta > 0:
        raise ValueError(f"{owner}: delta must be > 0, got {delta!r}")
    return delta


def smooth_l1_loss(input, target, *, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``).

    ``beta = 0`` is the L1 loss. Its gradient is ``d / beta`` inside, ``sign(d)`` outside.

    Args:
        input: the predictions.
        target: the targets, the input's shape.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        beta: where the loss turns from quadratic to linear (0: plain L1).

    Shape: any two equal shapes -> scalar, or (``'none'``) that shape.

    Example:
        >>> smooth_l1_loss(np.zeros(2), np.array([0.5, 3.0]), reduction='none').numpy().tolist()
        [0.125, 2.5]
    """
    x, t = pair(input, target, "smooth_l1_loss")
    check_reduction(reduction, "smooth_l1_loss")
    beta = _check_beta(beta, "smooth_l1_loss")
    diff = x.data - t.data.astype(x.dtype, copy=False)                  # like x
    xp = namespace(diff)
    size = xp.abs(diff)
    if beta == 0:
        return pointwise_loss(x, t, size, lambda: (xp.sign(diff), None), reduction, "smooth_l1_loss")
    inside = size < beta                                                # like x
    values = xp.where(inside, 0.5 * diff * diff / beta, size - 0.5 * beta)
    return pointwise_loss(x, t, values, lambda: (xp.where(inside, diff / beta, xp.sign(diff)), None),
                          reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """``0.5 d^2`` where ``|d| <= delta``, else ``delta (|d| - 0.5 delta)``; ``delta * smooth_l1`` for ``beta = delta``.

    The gradient is ``d`` clipped to ``[-delta, delta]``. With ``weight``, ``'mean'`` is the
    plain mean of the weighted values (PyTorch's rule here, unlike ``mse_loss``).

    Args:
        input: the predictions.
        target: the targets, the input's shape.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        delta: where the loss turns from quadratic to linear.
        weight: a weight broadcast to the input, or ``None``.

    Shape: any two equal shapes -> scalar, or (``'none'``) that shape.

    Example:
        >>> huber_loss(np.zeros(2), np.array([1.0, 3.0]), reduction='none', delta=2.0).numpy().tolist()
        [0.5, 4.0]
    """
    x, t = pair(input, target, "huber_loss")
    check_reduction(reduction, "huber_loss")
    delta = _check_delta(delta, "huber_loss")
    w = as_weight(weight, x.dtype, "huber_loss", "weight", x.shape, like=x.data)
    diff = x.data - t.data.astype(x.dtype, copy=False)                  # like x
    xp = namespace(diff)
    size = xp.abs(diff)
    values = xp.where(size <= delta, 0.5 * diff * diff, delta * (size - 0.5 * delta))
    return pointwise_loss(x, t, _weighted(values, w), lambda: (_weighted(xp.clip(diff, -delta, delta), w), None),
                          reduction, "huber_loss")


class L1Loss(Module):
    """``l1_loss`` as a module: ``L1Loss()(input, target)``. Shape: as ``l1_loss``.

    Args:
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).

    Example:
        >>> import numpy as np
        >>> L1Loss()(np.zeros(2), np.array([1.0, 3.0])).item()
        2.0
    """

    def __init__(self, *, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction, "L1Loss")

    def forward(self, input, target) -> Tensor:
        return l1_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """``mse_loss`` as a module: ``MSELoss()(input, target)``. Shape: as ``mse_loss``.

    Args:
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).

    Example:
        >>> import numpy as np
        >>> MSELoss()(np.zeros(2), np.array([1.0, 3.0])).item()
        5.0
    """

    def __init__(self, *, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction, "MSELoss")

    def forward(self, input, target) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class SmoothL1Loss(Module):
    """``smooth_l1_loss`` as a module: ``SmoothL1Loss(beta=0.5)(input, target)``.

    Args:
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        beta: where the loss turns from quadratic to linear (default 1).

    Shape:
        input and target of any one shape -> scalar, or (``'none'``) that shape.

    Example:
        >>> import numpy as np
        >>> SmoothL1Loss(reduction="none")(np.zeros(2), np.array([0.5, 3.0])).numpy().tolist()
        [0.125, 2.5]
    """

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0):
        super().__init__()
        self.reduction = check_reduction(reduction, "SmoothL1Loss")
        self.beta = _check_beta(beta, "SmoothL1Loss")

    def forward(self, input, target) -> Tensor:
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class HuberLoss(Module):
    """``huber_loss`` as a module: ``HuberLoss(delta=2.0)(input, target)``.

    Args:
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        delta: where the loss turns from quadratic to linear (default 1).

    Shape:
        input and target of any one shape -> scalar, or (``'none'``) that shape.

    Example:
        >>> import numpy as np
        >>> HuberLoss(delta=2.0, reduction="none")(np.zeros(2), np.array([1.0, 3.0])).numpy().tolist()
        [0.5, 4.0]
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__()
        self.reduction = check_reduction(reduction, "HuberLoss")
        self.delta = _check_delta(delta, "HuberLoss")

    def forward(self, input, target) -> Tensor:
        return huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"
