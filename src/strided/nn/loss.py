"""Classification losses over class scores: cross-entropy and negative log-likelihood.

Both read an input of class scores ``(N, C)``, ``(N, C, d1, d2, ...)`` (class axis 1, one
prediction per position: segmentation) or ``(C,)`` (one unbatched example), and class-index
targets ``(N,)``, ``(N, d1, d2, ...)`` or ``()``; cross-entropy also takes class probabilities
of the input's own shape. Internally every input becomes its ``(M, C)`` rows, one per prediction
(``class_rows``), and the gradient goes back through the same view (``from_rows``).

The helpers shared by every loss (the reductions, constant weights, the element-wise loss
recorder) live here too; the other loss families are ``loss_margin.py`` (multi-margin),
``loss_binary.py`` (binary cross-entropy, KL divergence) and ``loss_regression.py`` (L1, MSE,
smooth L1, Huber).
"""

from __future__ import annotations

import numpy as np

from ..backend import backend_of, common_backend, namespace
from ..checks import as_number, is_int
from ..errors import ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .module import Module

REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------------------------------ shared helpers
def check_reduction(reduction, owner: str, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    """``reduction`` itself, checked to be one of ``allowed``."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{owner}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def reduce_loss(values: np.ndarray, reduction: str, owner: str, total=None):
    """``(out, scale)``: ``values`` reduced, and d(out)/d(values) for the backward.

    ``'mean'`` divides the sum by ``total`` (default: the number of values; the classification
    losses pass the summed weight of the counted targets). A zero total gives NaN, as in PyTorch,
    and a zero gradient. ``scale`` is ``None`` for ``'none'`` (the gradient is the upstream one).
    """
    check_reduction(reduction, owner)
    if reduction == "none":
        return values, None
    xp = namespace(values)
    if reduction == "sum":
        return xp.asarray(values.sum(), dtype=values.dtype), 1.0
    total = values.size if total is None else total
    with np.errstate(invalid="ignore", divide="ignore"):
        out = xp.asarray(values.sum() / total, dtype=values.dtype)
    return out, (1.0 / total if total else 0.0)


def spread(g, scale):
    """The upstream gradient per loss value: ``g * scale`` after ``'mean'``/``'sum'``, ``g`` after ``'none'``."""
    return g if scale is None else g * scale


def as_weight(weight, dtype, owner: str, name: str, shape: tuple[int, ...], what: str = "",
              broadcast: bool = False, like=None) -> np.ndarray | None:
    """A weight argument (array or Tensor; a constant, never differentiated) as an array of ``dtype``.

    Its shape must equal ``shape``, or with ``broadcast`` broadcast to it (the returned view has
    ``shape``). With ``like`` (the input's array) it lives on the input's device (see ``on_input_device``).
    """
    if weight is None:
        return None
    if like is None:
        raw = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    else:
        raw = on_input_device(weight, like, owner, name)
    if raw.dtype.kind not in "fiu":
        raise TypeError(f"{owner}: {name} must be an array of numbers, got {weight!r}")
    raw = raw.astype(dtype, copy=False)
    if broadcast:
        try:
            return namespace(raw).broadcast_to(raw, shape)
        except ValueError:
            raise ShapeError(f"{owner}: expected {name} broadcastable to {shape_str(shape)}, "
                             f"got {shape_str(raw.shape)}") from None
    if raw.shape != tuple(shape):
        raise ShapeError(f"{owner}: expected {name} of shape {shape_str(shape)}{what}, got {shape_str(raw.shape)}")
    return raw


def as_buffer(weight, owner: str, name: str = "weight"):
    """A module's constant weight as the array to register as a buffer (``None`` stays ``None``)."""
    if weight is None:
        return None
    raw = weight.data if isinstance(weight, Tensor) else weight
    raw = backend_of(raw).xp.asarray(raw)                               # stays on its device
    if raw.dtype.kind not in "fiu":
        raise TypeError(f"{owner}: {name} must be an array of numbers, got {weight!r}")
    return raw if raw.dtype.kind == "f" else raw.astype(np.float32)


def pair(input, target, owner: str) -> tuple[Tensor, Tensor]:
    """``input`` and ``target`` as tensors of one shape (the target in the input's dtype when it is an array)."""
    x = as_tensor(input)
    if isinstance(target, Tensor):
        t = target
        if type(t.data) is not type(x.data):
            common_backend(owner, (x.data, t.data), ("input", "target"))
    else:
        t = Tensor(on_input_device(target, x.data, owner, "target"), dtype=x.dtype)
    if x.shape != t.shape:
        raise ShapeError(f"{owner}: expected target of shape {shape_str(x.shape)}, got {shape_str(t.shape)}")
    return x, t


def on_input_device(value, like, owner: str, role: str):
    """``value`` (an array, a ``Tensor``, nested lists or a number) as an array beside the input array ``like``.

    Lists and numbers become arrays of ``like``'s namespace; an array must already be on ``like``'s
    device, as in PyTorch (else a ``RuntimeError`` names both devices).
    """
    raw = value.data if isinstance(value, Tensor) else value
    if type(raw) is type(like):                                         # the common case: nothing to check
        return raw
    if hasattr(raw, "shape") and not isinstance(raw, np.generic):
        common_backend(owner, (like, raw), ("input", role))
        return raw
    return namespace(like).asarray(raw)


def pointwise_loss(x: Tensor, t: Tensor, values: np.ndarray, derivatives, reduction: str, owner: str,
                   total=None) -> Tensor:
    """Reduce the element-wise loss ``values`` (shaped like ``x``) and record its backward.

    ``derivatives()`` returns ``(d values / d x, d values / d t)`` (the second ``None`` for
    ``-d/dx``), evaluated only when a backward runs.
    """
    out, scale = reduce_loss(values, reduction, owner, total)

    def backward(g):
        gv = spread(g, scale)                                           # scalar or like x
        dx, dt = derivatives()                                          # like x
        gx = (dx * gv).astype(x.dtype, copy=False) if x.requires_grad else None
        gt = None
        if t.requires_grad:
            gt = ((-dx if dt is None else dt) * gv).astype(t.dtype, copy=False)
        return gx, gt
    return Tensor.from_op(out, (x, t), backward, owner)


# ------------------------------------------------------------------------------------------ class targets
def check_ignore_index(ignore_index, owner: str) -> int:
    if not is_int(ignore_index):
        raise TypeError(f"{owner}: ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


def check_label_smoothing(label_smoothing, owner: str) -> float:
    eps = as_number(label_smoothing, "label_smoothing", owner)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{owner}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return eps


def check_scores(shape: tuple[int, ...], owner: str, noun: str) -> int:
    """The number of classes of an input ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``."""
    if len(shape) == 0:
        raise ShapeError(f"{owner}: expected {noun} (C,), (N, C) or (N, C, d1, ...), got {shape_str(shape)}")
    return shape[0] if len(shape) == 1 else shape[1]


def class_rows(x: np.ndarray) -> np.ndarray:
    """The ``(M, C)`` rows of an input ``(C,)``, ``(N, C)`` or ``(N, C, *d)``: one row per prediction."""
    if x.ndim <= 2:
        return x.reshape(-1, x.shape[-1])                               # (M, C): a view
    return namespace(x).moveaxis(x, 1, -1).reshape(-1, x.shape[1])     # (N, *d, C) -> (M, C)


def from_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``class_rows`` undone: ``(M, C)`` back to the input's ``shape``."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    n, c, *d = shape
    return namespace(rows).moveaxis(rows.reshape(n, *d, c), -1, 1)     # (N, *d, C) -> (N, C, *d)


def target_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of class-index targets (and of the ``'none'`` loss) for an input ``shape``."""
    return (shape[0],) + tuple(shape[2:]) if len(shape) > 1 else ()


def class_targets(target, shape: tuple[int, ...], owner: str, noun: str, ignore_index: int | None,
                  probabilities: bool = False, like=None) -> tuple[np.ndarray, np.ndarray]:
    """Class indices ``(M,)`` for the input's ``(M, C)`` rows, and the mask of those not ignored.

    Integer arrays or Tensors; integer-valued floats count as indices. Each index not equal to
    ``ignore_index`` must be in ``[0, C)``. With ``like`` (the input's array) the targets must be
    on the input's device (see ``on_input_device``).
    """
    if like is None:
        raw = target.data if isinstance(target, Tensor) else np.asarray(target)
    else:
        raw = on_input_device(target, like, owner, "target")
    xp = namespace(raw)
    if raw.dtype.kind == "f":
        if not xp.all(raw == xp.round(raw)):
            raise TypeError(f"{owner}: expected integer class labels, got non-integer values")
        raw = raw.astype(np.int64)
    elif raw.dtype.kind not in "iu":
        raise TypeError(f"{owner}: expected integer class labels, got dtype {raw.dtype}")
    expected = target_shape(shape)
    if raw.shape != expected:
        also = f" or class probabilities {shape_str(shape)}" if probabilities else ""
        if len(shape) == 2:
            raise ShapeError(f"{owner}: expected labels {shape_str(expected)} for {noun} with {shape[0]} rows"
                             f"{f' ({also[1:]})' if also else ''}, got {shape_str(raw.shape)}")
        raise ShapeError(f"{owner}: expected {noun} (N, C) with labels (N,), (N, C, d1, ...) with labels "
                         f"(N, d1, ...) or (C,) with a scalar label, got {shape_str(shape)} with labels "
                         f"{shape_str(raw.shape)} (expected labels {shape_str(expected)}{also})")
    y = raw.reshape(-1)                                                 # (M,)
    keep = y != ignore_index if ignore_index is not None else xp.ones(y.shape, dtype=bool)
    counted = y[keep]
    classes = check_scores(shape, owner, noun)
    if counted.size and (counted.min() < 0 or counted.max() >= classes):
        ignored = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(f"{owner}: expected labels in [0, {classes}){ignored}, "
                         f"got values from {counted.min()} to {counted.max()}")
    return xp.where(keep, y, 0).astype(np.intp), keep


def class_weights(weight, dtype, classes: int, owner: str, like=None) -> np.ndarray | None:
    return as_weight(weight, dtype, owner, "weight", (classes,), " (one per class)", like=like)


def target_weights(w: np.ndarray | None, y: np.ndarray, keep: np.ndarray, dtype) -> np.ndarray:
    """``weight[y]`` per row, 0 where the target is ignored. Shape: ``(M,)``."""
    wy = w[y] if w is not None else namespace(y).ones(y.shape, dtype=dtype)
    return wy * keep


# ------------------------------------------------------------------------------------------ the ops
def cross_entropy(input, target, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of class scores (logits) against class indices or class probabilities.

    Computed from ``log_softmax(z) = z - max - log(sum(exp(z - max)))``, so logits of 1e4 are
    fine. With class indices ``y`` the loss of a prediction is ``(1 - eps) * w[y] * -log p[y] +
    eps / C * sum_c w[c] * -log p[c]`` (``eps = label_smoothing``), 0 where ``y == ignore_index``,
    and ``'mean'`` divides the sum by the summed ``w[y]`` of the targets not ignored (their
    count without ``weight``), as PyTorch does. A target of the input's shape holds class
    probabilities ``q``: the loss is ``-sum_c w[c] * q'[c] * log p[c]`` with ``q' = (1 - eps) q +
    eps / C``, ``'mean'`` divides by the number of predictions, and the target gets a gradient.

    ``weight`` (one per class) is a constant. Arguments after ``weight`` are keyword-only (PyTorch
    has its deprecated ``size_average``/``reduce`` there).

    Args:
        input: the class scores (logits), a ``Tensor`` with the class axis at 1 (or 0 unbatched).
        target: class indices (ints) or class probabilities of the input's shape.
        weight: a rescaling weight per class ``(C,)``, or ``None``.
        ignore_index: a target index that contributes neither loss nor gradient (index targets only).
        reduction: ``'mean'`` (weighted mean over the counted predictions), ``'sum'`` or ``'none'``.
        label_smoothing: in ``[0, 1]``: the target mixes ``1 - label_smoothing`` of itself with the
            uniform distribution.

    Shape: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; target ``(N,)``, ``(N, d1, ...)``
    or ``()`` of class indices, or probabilities shaped like the logits; output a scalar
    (``'mean'``, ``'sum'``) or ``(N,)``, ``(N, d1, ...)``, ``()`` (``'none'``).

    >>> round(cross_entropy(Tensor([[0.0, 0.0]]), [1]).item(), 4)  # log 2
    0.6931
    """
    owner = "cross_entropy"
    z = as_tensor(input)
    classes = check_scores(z.shape, owner, "logits")
    check_reduction(reduction, owner)
    eps = check_label_smoothing(label_smoothing, owner)
    ignore_index = check_ignore_index(ignore_index, owner)
    xp = namespace(z.data)
    w = class_weights(weight, z.dtype, classes, owner, like=z.data)
    rows = class_rows(z.data)                                           # (M, C)
    shifted = rows - rows.max(axis=1, keepdims=True)                    # (M, C)
    logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))  # (M, C)
    t_shape = target.shape if hasattr(target, "shape") else np.shape(target)   # np.shape: lists, numbers
    if tuple(t_shape) == z.shape:
        return _soft_cross_entropy(z, logp, target, w, eps, ignore_index, reduction)

    y, keep = class_targets(target, z.shape, owner, "logits", ignore_index, probabilities=True, like=z.data)
    m = len(y)
    wy = target_weights(w, y, keep, z.dtype)                            # (M,)
    losses = -logp[xp.arange(m), y] * wy                                # (M,)
    if eps:
        smooth = -(logp * w if w is not None else logp).sum(axis=1) * keep  # (M,)
        losses = (1 - eps) * losses + eps / classes * smooth            # (M,)
    out, scale = reduce_loss(losses.reshape(target_shape(z.shape)), reduction, owner, total=wy.sum())

    def backward(g):
        gr = xp.broadcast_to(spread(g, scale), target_shape(z.shape)).reshape(m, 1)  # (M, 1)
        probs = xp.exp(logp)                                            # (M, C)
        gz = probs * wy[:, None]                                        # (M, C): w[y] (p - onehot(y))
        gz[xp.arange(m), y] -= wy
        if eps:
            w_sum = w.sum() if w is not None else classes
            smooth_grad = w_sum * probs - (w if w is not None else 1)   # (M, C)
            gz = (1 - eps) * gz + smooth_grad * keep[:, None] * (eps / classes)
        return (from_rows((gz * gr).astype(z.dtype, copy=False), z.shape),)
    return Tensor.from_op(out, (z,), backward, owner)


def _soft_cross_entropy(z: Tensor, logp: np.ndarray, target, w, eps: float, ignore_index: int,
                        reduction: str) -> Tensor:
    """``cross_entropy`` with class probabilities ``target`` shaped like the logits ``z``."""
    owner = "cross_entropy"
    xp = namespace(z.data)
    raw = on_input_device(target, z.data, owner, "target")
    if raw.dtype.kind != "f":
        raise TypeError(f"{owner}: expected floating class probabilities for a target shaped like the logits "
                        f"{shape_str(z.shape)}, got dtype {raw.dtype}")
    if ignore_index >= 0:
        raise ValueError(f"{owner}: ignore_index is not supported with class probabilities, got {ignore_index}")
    t = target if isinstance(target, Tensor) else Tensor(raw, dtype=z.dtype)
    classes = logp.shape[1]
    q = class_rows(t.data.astype(z.dtype, copy=False))                  # (M, C)
    if eps:
        q = q * (1 - eps) + eps / classes                               # (M, C)
    wq = q * w if w is not None else q                                  # (M, C)
    losses = -(logp * wq).sum(axis=1)                                   # (M,)
    out, scale = reduce_loss(losses.reshape(target_shape(z.shape)), reduction, owner, total=len(losses))

    def backward(g):
        gr = xp.broadcast_to(spread(g, scale), target_shape(z.shape)).reshape(-1, 1)  # (M, 1)
        gz = (xp.exp(logp) * wq.sum(axis=1, keepdims=True) - wq) * gr   # (M, C)
        gt = None
        if t.requires_grad:
            gq = -(1 - eps) * (logp * w if w is not None else logp) * gr  # (M, C)
            gt = from_rows(gq, t.shape).astype(t.dtype, copy=False)
        return from_rows(gz.astype(z.dtype, copy=False), z.shape), gt
    return Tensor.from_op(out, (z, t), backward, owner)


def nll_loss(input, target, weight=None, *, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities: ``-w[y] * input[y]`` per prediction.

    ``'mean'`` divides by the summed ``w[y]`` of the targets not ignored; an ignored target
    (``y == ignore_index``) contributes 0. ``cross_entropy(z, y) == nll_loss(log_softmax(z, 1), y)``.

    Args:
        input: log-probabilities, the class axis at 1 (or 0 unbatched).
        target: class indices.
        weight: a rescaling weight per class ``(C,)``, or ``None``.
        ignore_index: a target index that contributes neither loss nor gradient.
        reduction: ``'mean'`` (weighted mean), ``'sum'`` or ``'none'``.

    Shape: input ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; target ``(N,)``, ``(N, d1, ...)``
    or ``()``; output a scalar or (``'none'``) the target's shape.

    Example:
        >>> log_probs = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
        >>> [round(v, 4) for v in nll_loss(log_probs, np.array([1, 0]), reduction='none').numpy().tolist()]
        [0.6931, 1.3863]
    """
    owner = "nll_loss"
    x = as_tensor(input)
    classes = check_scores(x.shape, owner, "input")
    check_reduction(reduction, owner)
    xp = namespace(x.data)
    w = class_weights(weight, x.dtype, classes, owner, like=x.data)
    y, keep = class_targets(target, x.shape, owner, "input", check_ignore_index(ignore_index, owner), like=x.data)
    m = len(y)
    wy = target_weights(w, y, keep, x.dtype)                            # (M,)
    losses = -class_rows(x.data)[xp.arange(m), y] * wy                  # (M,)
    out, scale = reduce_loss(losses.reshape(target_shape(x.shape)), reduction, owner, total=wy.sum())

    def backward(g):
        gr = xp.broadcast_to(spread(g, scale), target_shape(x.shape)).reshape(m)  # (M,)
        gx = xp.zeros((m, classes), dtype=x.dtype)                      # (M, C)
        gx[xp.arange(m), y] = -wy * gr
        return (from_rows(gx, x.shape),)
    return Tensor.from_op(out, (x,), backward, owner)


# ------------------------------------------------------------------------------------------ modules
class CrossEntropyLoss(Module):
    """``cross_entropy`` as a module: ``CrossEntropyLoss(weight, label_smoothing=0.1)(logits, target)``.

    ``weight`` is kept as a buffer (in ``state_dict`` when given), as in PyTorch.

    Args:
        weight: a rescaling weight per class ``(C,)`` (e.g. for unbalanced classes), or ``None``.
        ignore_index: a target index that contributes neither loss nor gradient (default -100).
        reduction: ``'mean'`` (weighted mean over the counted predictions), ``'sum'`` or ``'none'``.
        label_smoothing: in ``[0, 1]``: the share of the target spread uniformly over the classes.

    Shape: as ``cross_entropy``.

    Example:
        >>> import numpy as np
        >>> logits, target = np.zeros((2, 4)), np.array([0, 3])
        >>> CrossEntropyLoss(reduction="none")(logits, target).shape
        (2,)
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weight", as_buffer(weight, "CrossEntropyLoss"))
        self.ignore_index = check_ignore_index(ignore_index, "CrossEntropyLoss")
        self.reduction = check_reduction(reduction, "CrossEntropyLoss")
        self.label_smoothing = check_label_smoothing(label_smoothing, "CrossEntropyLoss")

    def forward(self, input, target) -> Tensor:
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                             label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}")


class NLLLoss(Module):
    """``nll_loss`` as a module: ``NLLLoss()(log_probs, target)``. Shape: as ``nll_loss``.

    Args:
        weight: a rescaling weight per class ``(C,)``, or ``None``.
        ignore_index: a target index that contributes neither loss nor gradient (default -100).
        reduction: ``'mean'`` (weighted mean), ``'sum'`` or ``'none'``.

    Example:
        >>> import numpy as np
        >>> log_probs = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
        >>> [round(v, 4) for v in NLLLoss(reduction="none")(log_probs, np.array([1, 0])).numpy().tolist()]
        [0.6931, 1.3863]
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.register_buffer("weight", as_buffer(weight, "NLLLoss"))
        self.ignore_index = check_ignore_index(ignore_index, "NLLLoss")
        self.reduction = check_reduction(reduction, "NLLLoss")

    def forward(self, input, target) -> Tensor:
        return nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
