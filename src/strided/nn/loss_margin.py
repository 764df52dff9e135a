"""The multi-class hinge loss (Weston and Watkins; PyTorch's ``multi_margin_loss``)."""

from __future__ import annotations

import numpy as np  # noqa: F401  (the doctests use np)

from ..backend import namespace
from ..checks import as_int, as_number
from ..errors import ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .loss import as_buffer, check_reduction, class_targets, class_weights, reduce_loss, spread
from .module import Module


def _check_p(p, owner: str) -> int:
    p = as_int(p, "p", owner)
    if p not in (1, 2):
        raise ValueError(f"{owner}: p must be 1 or 2, got {p!r}")
    return p


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, *,
                      reduction: str = "mean") -> Tensor:
    """``sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / C`` per example.

    Every class ``i`` whose score comes within ``margin`` of the target's score ``x[y]`` costs
    its shortfall (``p = 1``) or its square (``p = 2``); ``'mean'`` averages over the examples.
    ``weight`` (one per class) is a constant; an empty batch's ``'mean'`` is 0, as in PyTorch. The gradient of a violating class ``i`` is
    ``p * max(...)^(p-1) * w[y] / C``, and ``x[y]`` gets minus their sum.

    Args:
        input: class scores ``(N, C)`` or ``(C,)``.
        target: class indices ``(N,)`` or ``()``.
        p: the exponent of each hinge, 1 or 2.
        margin: how far the target's score must lead.
        weight: a weight per class ``(C,)``, or ``None``.
        reduction: ``'mean'`` (over examples), ``'sum'`` or ``'none'``.

    Shape: input ``(N, C)`` or ``(C,)``, target ``(N,)`` or ``()`` -> scalar, or (``'none'``)
    the target's shape.

    Example:
        >>> multi_margin_loss(np.array([[2.0, 0.0, 0.0]]), np.array([0])).item()
        0.0
    """
    owner = "multi_margin_loss"
    x = as_tensor(input)
    if x.ndim not in (1, 2):
        raise ShapeError(f"{owner}: expected input (N, C) or (C,), got {shape_str(x.shape)}")
    p = _check_p(p, owner)
    margin = as_number(margin, "margin", owner)
    check_reduction(reduction, owner)
    classes = x.shape[-1]
    xp = namespace(x.data)
    w = class_weights(weight, x.dtype, classes, owner, like=x.data)
    y, _ = class_targets(target, x.shape, owner, "input", None, like=x.data)
    m = len(y)
    rows = x.data.reshape(m, classes)                                   # (M, C)
    scale_y = (w[y] if w is not None else xp.ones(m, dtype=x.dtype)) / classes  # (M,)
    short = margin - rows[xp.arange(m), y][:, None] + rows              # (M, C)
    short[xp.arange(m), y] = 0                                          # the target's own class never counts
    active = short > 0                                                  # (M, C)
    hinge = xp.where(active, short, 0)                                  # (M, C)
    terms = hinge if p == 1 else hinge * hinge                          # (M, C)
    losses = terms.sum(axis=1) * scale_y                                # (M,)
    # PyTorch's 'mean' of no examples is 0 here (not NaN, as in the other losses): total 1 when there are none
    out, scale = reduce_loss(losses.reshape(y.shape if x.ndim == 2 else ()), reduction, owner, total=max(m, 1))

    def backward(g):
        gr = xp.broadcast_to(spread(g, scale), (m,) if x.ndim == 2 else ()).reshape(m) * scale_y  # (M,)
        gx = (active if p == 1 else 2 * hinge) * gr[:, None]            # (M, C)
        gx[xp.arange(m), y] = -gx.sum(axis=1)                           # the target's own entry is 0 until here
        return (gx.astype(x.dtype, copy=False).reshape(x.shape),)
    return Tensor.from_op(out, (x,), backward, owner)


class MultiMarginLoss(Module):
    """``multi_margin_loss`` as a module: ``MultiMarginLoss(p=2, margin=0.5)(scores, target)``.

    ``weight`` is kept as a buffer (in ``state_dict`` when given), as in PyTorch.

    Args:
        p: the exponent of each hinge, 1 (default) or 2.
        margin: how far the target's score must lead the others (default 1).
        weight: a weight per class ``(C,)``, or ``None``.
        reduction: ``'mean'`` (over examples), ``'sum'`` or ``'none'``.

    Shape:
        input ``(N, C)`` or ``(C,)``, target class indices ``(N,)`` or ``()`` -> scalar, or (``'none'``)
        the target's shape.

    Example:
        >>> import numpy as np
        >>> scores = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> [round(v, 4) for v in MultiMarginLoss(reduction="none")(scores, np.array([0, 1])).numpy().tolist()]
        [0.0, 0.6667]
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, *, reduction: str = "mean"):
        super().__init__()
        self.p = _check_p(p, "MultiMarginLoss")
        self.margin = as_number(margin, "margin", "MultiMarginLoss")
        self.register_buffer("weight", as_buffer(weight, "MultiMarginLoss"))
        self.reduction = check_reduction(reduction, "MultiMarginLoss")

    def forward(self, input, target) -> Tensor:
        return multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"p={self.p}, margin={self.margin}, reduction={self.reduction!r}"
