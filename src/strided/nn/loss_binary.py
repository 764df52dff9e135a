"""Losses between probabilities, element by element: binary cross-entropy (on probabilities or on
logits) and the Kullback-Leibler divergence.

Input and target have one shape, and both get a gradient, as in PyTorch. ``weight`` and
``pos_weight`` are constants broadcast to the input's shape.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor
from .loss import REDUCTIONS, as_buffer, as_weight, check_reduction, pair, pointwise_loss
from .module import Module

LOG_FLOOR = -100.0          # PyTorch clamps both logs of binary_cross_entropy at -100
PRODUCT_FLOOR = float(np.float32(1e-12))  # and divides its gradient by max(x (1 - x), 1e-12f), a C float
KL_REDUCTIONS = REDUCTIONS + ("batchmean",)


def binary_cross_entropy(input, target, weight=None, *, reduction: str = "mean") -> Tensor:
    """``-w (t log x + (1 - t) log(1 - x))`` for probabilities ``x`` in [0, 1].

    Each log is clamped at -100 as in PyTorch, so ``x = 0`` or ``1`` gives a finite loss; the
    input's gradient is PyTorch's ``w (x - t) / max(x (1 - x), 1e-12)``, the target's
    ``-w logit(x)``. For logits use ``binary_cross_entropy_with_logits`` (stable).

    Args:
        input: probabilities in ``[0, 1]`` (after a sigmoid).
        target: values in ``[0, 1]``, the input's shape.
        weight: a weight broadcast to the input, or ``None``.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).

    Shape: any two equal shapes (``weight`` broadcast to them) -> scalar, or (``'none'``) that shape.

    Example:
        >>> round(binary_cross_entropy(np.array([0.5, 0.5]), np.array([1.0, 0.0])).item(), 4)
        0.6931
    """
    owner = "binary_cross_entropy"
    x, t = pair(input, target, owner)
    check_reduction(reduction, owner)
    w = as_weight(weight, x.dtype, owner, "weight", x.shape, broadcast=True, like=x.data)
    xd, td = x.data, t.data.astype(x.dtype, copy=False)                 # like x
    xp = namespace(xd)
    if xd.size and not (xd.min() >= 0 and xd.max() <= 1):               # NaN fails too
        raise ValueError(f"{owner}: expected input values in [0, 1] (probabilities), "
                         f"got values from {xd.min()} to {xd.max()}")
    with np.errstate(divide="ignore"):
        log_x, log_1mx = xp.log(xd), xp.log(1 - xd)                     # like x; -inf at the ends
    values = -(td * xp.maximum(log_x, LOG_FLOOR) + (1 - td) * xp.maximum(log_1mx, LOG_FLOOR))

    def derivatives():
        dx = (xd - td) / xp.maximum(xd * (1 - xd), PRODUCT_FLOOR)       # like x
        with np.errstate(invalid="ignore"):
            dt = log_1mx - log_x                                        # -logit(x), unclamped as in PyTorch
        return (dx, dt) if w is None else (dx * w, dt * w)
    return pointwise_loss(x, t, values if w is None else values * w, derivatives, reduction, owner)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)``, computed from the logits without overflow.

    ``loss = w ((1 - t) x + (1 + (pw - 1) t) softplus(-x))`` with ``softplus(-x) =
    log(1 + exp(-x))`` (``np.logaddexp``), so logits of 1e4 stay finite; ``pos_weight`` ``pw``
    (e.g. one per class, broadcast over the last axis) weighs the positive targets. Gradients:
    ``w ((1 + (pw - 1) t) sigmoid(x) - pw t)`` for the input, ``w ((pw - 1) softplus(-x) - x)``
    for the target.

    Args:
        input: logits (before the sigmoid).
        target: values in ``[0, 1]``, the input's shape.
        weight: a weight broadcast to the input, or ``None``.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        pos_weight: a weight of the positive term, broadcast (per class on the last axis), or ``None``.

    Shape: any two equal shapes (``weight``, ``pos_weight`` broadcast to them) -> scalar, or
    (``'none'``) that shape.

    Example:
        >>> round(binary_cross_entropy_with_logits(np.zeros(2), np.array([1.0, 0.0])).item(), 4)
        0.6931
    """
    owner = "binary_cross_entropy_with_logits"
    x, t = pair(input, target, owner)
    check_reduction(reduction, owner)
    w = as_weight(weight, x.dtype, owner, "weight", x.shape, broadcast=True, like=x.data)
    pw = as_weight(pos_weight, x.dtype, owner, "pos_weight", x.shape, broadcast=True, like=x.data)
    xd, td = x.data, t.data.astype(x.dtype, copy=False)                 # like x
    xp = namespace(xd)
    softplus = xp.logaddexp(0, -xd)                                     # log(1 + exp(-x)), like x
    scale = 1 if pw is None else 1 + (pw - 1) * td                      # like x
    values = (1 - td) * xd + scale * softplus

    def derivatives():
        sig = xp.exp(-softplus)                                         # sigmoid(x) in (0, 1]
        dx = scale * sig - (td if pw is None else pw * td)
        dt = -xd if pw is None else (pw - 1) * softplus - xd
        return (dx, dt) if w is None else (dx * w, dt * w)
    return pointwise_loss(x, t, values if w is None else values * w, derivatives, reduction, owner)


def kl_div(input, target, *, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence, PyTorch's way round: ``input`` holds log-probabilities.

    Element-wise ``t (log t - input)`` (0 where ``t = 0``), or with ``log_target`` the target in
    log space too: ``exp(t) (t - input)``. ``'batchmean'`` divides the sum by the batch size
    ``input.shape[0]`` (the divergence per example); ``'mean'`` by the number of elements.

    Args:
        input: log-probabilities.
        target: probabilities (log-probabilities with ``log_target``), the input's shape.
        reduction: ``'mean'`` (over elements), ``'batchmean'`` (the sum divided by the batch size,
            the true KL divergence), ``'sum'`` or ``'none'``.
        log_target: the target holds log-probabilities.

    Shape: any two equal shapes -> scalar, or (``'none'``) that shape.

    Example:
        >>> p = np.full((2, 4), 0.25)
        >>> kl_div(np.log(p), p, reduction='batchmean').item()
        0.0
    """
    owner = "kl_div"
    x, t = pair(input, target, owner)
    check_reduction(reduction, owner, KL_REDUCTIONS)
    xd, td = x.data, t.data.astype(x.dtype, copy=False)                 # like x
    xp = namespace(xd)
    if log_target:
        prob = xp.exp(td)                                               # like x
        values = prob * (td - xd)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = xp.where(td == 0, 0, td * xp.log(td)) - td * xd    # xlogy(t, t): NaN for t < 0

    def derivatives():
        if log_target:
            return -prob, prob * (td - xd + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            dt = xp.log(td) + td / td - xd                              # t / t: NaN at t = 0, as in PyTorch
        return -td, dt
    total = None
    if reduction == "batchmean":
        reduction, total = "mean", (x.shape[0] if x.ndim else 1)
    return pointwise_loss(x, t, values, derivatives, reduction, owner, total=total)


class BCELoss(Module):
    """``binary_cross_entropy`` as a module: ``BCELoss()(probabilities, target)``.

    ``weight`` is kept as a buffer (in ``state_dict`` when given), as in PyTorch.

    Args:
        weight: a weight broadcast to the input, or ``None``.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).

    Shape:
        input (probabilities in ``[0, 1]``) and target of any one shape -> scalar, or (``'none'``) that shape.

    Example:
        >>> import numpy as np
        >>> round(BCELoss()(np.array([0.5, 0.5]), np.array([1.0, 0.0])).item(), 4)
        0.6931
    """

    def __init__(self, weight=None, *, reduction: str = "mean"):
        super().__init__()
        self.register_buffer("weight", as_buffer(weight, "BCELoss"))
        self.reduction = check_reduction(reduction, "BCELoss")

    def forward(self, input, target) -> Tensor:
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """``binary_cross_entropy_with_logits`` as a module: ``BCEWithLogitsLoss(pos_weight=pw)(logits, target)``.

    ``weight`` and ``pos_weight`` are kept as buffers, as in PyTorch.

    Args:
        weight: a weight broadcast to the input, or ``None``.
        reduction: ``'mean'`` (average over the elements), ``'sum'`` or ``'none'`` (one value per element).
        pos_weight: the weight of the positive examples' term (per class, on the last axis), or ``None``;
            above 1 raises recall.

    Shape:
        input (logits) and target of any one shape -> scalar, or (``'none'``) that shape; ``pos_weight``
        broadcasts to the last axis, e.g. ``(C,)`` for an ``(N, C)`` input.

    Example:
        >>> import numpy as np
        >>> BCEWithLogitsLoss(reduction="none")(np.zeros((2, 3)), np.ones((2, 3))).shape
        (2, 3)
    """

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None):
        super().__init__()
        self.register_buffer("weight", as_buffer(weight, "BCEWithLogitsLoss"))
        self.reduction = check_reduction(reduction, "BCEWithLogitsLoss")
        self.register_buffer("pos_weight", as_buffer(pos_weight, "BCEWithLogitsLoss", "pos_weight"))

    def forward(self, input, target) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                pos_weight=self.pos_weight)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class KLDivLoss(Module):
    """``kl_div`` as a module: ``KLDivLoss(reduction='batchmean')(log_probs, target)``.

    Args:
        reduction: ``'mean'``, ``'batchmean'`` (the true KL divergence per example), ``'sum'`` or ``'none'``.
        log_target: the target holds log-probabilities.

    Shape:
        input (log-probabilities) and target of any one shape, e.g. ``(N, C)`` -> scalar, or (``'none'``)
        that shape.

    Example:
        >>> import numpy as np
        >>> p = np.full((2, 4), 0.25)
        >>> KLDivLoss(reduction="batchmean")(np.log(p), p).item()
        0.0
    """

    def __init__(self, *, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        self.reduction = check_reduction(reduction, "KLDivLoss", KL_REDUCTIONS)
        self.log_target = bool(log_target)

    def forward(self, input, target) -> Tensor:
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"
