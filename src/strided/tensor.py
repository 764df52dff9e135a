"""The autograd engine: ``Tensor``, ``backward`` and ``no_grad``, plus the small ops.

A ``Tensor`` wraps a NumPy array (``.data``, float32 unless ``dtype=np.float64`` is asked for),
its accumulated gradient ``.grad`` and, when it was computed from tensors that require
gradients, its parents and a backward closure. ``backward()`` orders the graph topologically
and accumulates each node's gradient with ``+=`` before passing it on, so fan-out and residual
additions need no special handling.

An op is a forward computation plus a closure ``backward(grad) -> tuple`` that returns one
gradient (or ``None``) per parent, written right under the forward. The coarse ops of the
network (convolution, pooling, normalisation, losses) live with their layers in ``strided.nn``
and are built with the same ``Tensor.from_op``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether new ops record the graph (``False`` inside ``no_grad()``)."""
    return getattr(_state, "grad_enabled", True)


@contextmanager
def no_grad():
    """Context in which ops record no graph: inference without the memory of backward.

    >>> with no_grad():
    ...     y = Tensor([1.0], requires_grad=True) * 2
    >>> y.requires_grad
    False
    """
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _to_array(data, dtype) -> np.ndarray:
    """A float ndarray of ``dtype`` (float32 when ``None``), copying only when a conversion is needed."""
    if isinstance(data, Tensor):
        data = data.data
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"Tensor: dtype must be float32 or float64, got {dtype}")
    return np.asarray(data, dtype=dtype)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get back ``shape``.

    Shape: ``grad`` (*broadcast_shape) -> (*shape).
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    grad = grad.sum(axis=axes, keepdims=True) if axes else grad
    return grad.reshape(shape)


def _released(grad):
    """The backward closure of a node whose graph an earlier ``backward()`` already freed."""
    raise RuntimeError("Tensor.backward: trying to backward through a graph a second time; its saved values "
                       "were released by the first backward(); pass retain_graph=True to the first call")


class Tensor:
    """An n-dimensional float array that remembers how it was computed.

    Args:
        data: anything ``np.asarray`` accepts.
        requires_grad: accumulate a gradient in ``.grad`` during ``backward()``.
        dtype: ``np.float32`` (default) or ``np.float64`` (gradient checks).

    >>> x = Tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([[2., 4.]], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "op")
    __array_priority__ = 100.0

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable | None = None
        self.op = "leaf"

    # ----------------------------------------------------------------------------- building graphs
    @classmethod
    def from_op(cls, data: np.ndarray, parents: Sequence["Tensor"], backward: Callable, op: str) -> "Tensor":
        """The result of an op: records ``parents`` and ``backward`` when any parent needs a gradient.

        ``backward(grad)`` must return one array (or ``None``) per parent, shaped like that parent.
        """
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out.op = op
        if is_grad_enabled() and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = tuple(parents)
            out._backward = backward
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires a gradient.

        ``grad`` defaults to 1 for a single-element tensor. The graph is released afterwards
        unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("Tensor.backward: this tensor does not require grad (no input had "
                               "requires_grad=True, or it was computed under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"Tensor.backward: grad can be implied only for a single value, "
                                   f"got shape {self.shape}; pass grad=")
            grad = np.ones_like(self.data)
        else:
            grad = _to_array(grad, self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"Tensor.backward: expected grad of shape {self.shape}, got {grad.shape}")

        order = self._topological_order()
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in order:
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf
                node.grad = g.copy(order="K") if node.grad is None else node.grad + g
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                if key in grads:
                    grads[key] = grads[key] + pg
                else:
                    grads[key] = pg
            if not retain_graph:
                node._parents, node._backward = (), _released

    def _topological_order(self) -> list["Tensor"]:
        """Nodes from self back to the leaves, each after every node that consumes it."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for parent in node._parents:
                if id(parent) not in seen and parent.requires_grad:
                    stack.append((parent, False))
        return order[::-1]

    # ----------------------------------------------------------------------------- plain accessors
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same values, cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def zero_grad(self) -> None:
        self.grad = None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{grad})"

    # ----------------------------------------------------------------------------- arithmetic
    def _lift(self, other) -> "Tensor":
        return other if isinstance(other, Tensor) else Tensor(other, dtype=self.data.dtype)

    def __add__(self, other):
        other = self._lift(other)
        a, b = self.shape, other.shape
        return Tensor.from_op(self.data + other.data, (self, other),
                              lambda g: (unbroadcast(g, a), unbroadcast(g, b)), "add")

    __radd__ = __add__

    def __sub__(self, other):
        other = self._lift(other)
        a, b = self.shape, other.shape
        return Tensor.from_op(self.data - other.data, (self, other),
                              lambda g: (unbroadcast(g, a), unbroadcast(-g, b)), "sub")

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        other = self._lift(other)

        def backward(g):
            return (unbroadcast(g * other.data, self.shape) if self.requires_grad else None,
                    unbroadcast(g * self.data, other.shape) if other.requires_grad else None)
        return Tensor.from_op(self.data * other.data, (self, other), backward, "mul")

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = self._lift(other)
        out = self.data / other.data

        def backward(g):
            return (unbroadcast(g / other.data, self.shape) if self.requires_grad else None,
                    unbroadcast(-g * out / other.data, other.shape) if other.requires_grad else None)
        return Tensor.from_op(out, (self, other), backward, "div")

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def __neg__(self):
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            raise TypeError("Tensor.__pow__: the exponent must be a Python number")
        if isinstance(exponent, np.generic):
            exponent = exponent.item()                 # a NumPy float64 scalar would upcast float32 data
        x = self.data
        return Tensor.from_op(x ** exponent, (self,), lambda g: (g * exponent * x ** (exponent - 1),), "pow")

    def __matmul__(self, other):
        return matmul(self, self._lift(other))

    def __rmatmul__(self, other):
        return matmul(self._lift(other), self)

    def exp(self):
        out = np.exp(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * out,), "exp")

    def log(self):
        x = self.data
        return Tensor.from_op(np.log(x), (self,), lambda g: (g / x,), "log")

    def sqrt(self):
        out = np.sqrt(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g / (2 * out),), "sqrt")

    def abs(self):
        x = self.data
        return Tensor.from_op(np.abs(x), (self,), lambda g: (g * np.sign(x),), "abs")

    # ----------------------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False):
        shape = self.shape
        # the gradient takes the input's memory layout; a C-ordered input need not be kept for that
        layout = None if self.data.flags.c_contiguous else self.data

        def backward(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            gx = np.empty(shape, g.dtype) if layout is None else np.empty_like(layout, dtype=g.dtype)
            np.copyto(gx, np.broadcast_to(g, shape))
            return (gx,)
        return Tensor.from_op(np.asarray(self.data.sum(axis=axis, keepdims=keepdims)), (self,), backward, "sum")

    def mean(self, axis=None, keepdims: bool = False):
        count = self.data.size if axis is None else int(np.prod([self.shape[a] for a in np.atleast_1d(axis)]))
        return self.sum(axis=axis, keepdims=keepdims) / count

    def max(self, axis=None, keepdims: bool = False):
        """Maximum; the gradient is shared equally among tied maxima."""
        x = self.data
        out = x.max(axis=axis, keepdims=True)

        def backward(g):
            mask = x == out
            g = g if keepdims or axis is None else np.expand_dims(g, axis)
            return (mask * (g / mask.sum(axis=axis, keepdims=True)),)
        value = out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))
        return Tensor.from_op(np.asarray(value), (self,), backward, "max")

    # ----------------------------------------------------------------------------- shape
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.shape
        return Tensor.from_op(self.data.reshape(shape), (self,), lambda g: (g.reshape(old),), "reshape")

    view = reshape

    def flatten(self, start_dim: int = 1):
        """Merge the axes from ``start_dim`` on; ``(N, C, H, W) -> (N, C*H*W)`` by default."""
        return self.reshape(self.shape[:start_dim] + (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        axes = axes or tuple(reversed(range(self.ndim)))
        inverse = tuple(np.argsort(axes))
        return Tensor.from_op(self.data.transpose(axes), (self,), lambda g: (g.transpose(inverse),), "transpose")

    permute = transpose

    @property
    def T(self):
        return self.transpose()

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data.astype(np.int64)
        shape, dtype = self.shape, self.data.dtype

        def backward(g):
            full = np.zeros(shape, dtype=dtype)
            np.add.at(full, index, g)  # handles repeated fancy indices
            return (full,)
        return Tensor.from_op(np.asarray(self.data[index]), (self,), backward, "getitem")


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's broadcasting rules (1-D operands included).

    Shape: ``(*, n, k) @ (*, k, m) -> (*, n, m)``.
    """
    x, y = a.data, b.data
    out = np.matmul(x, y)

    def backward(g):
        xx = x[None, :] if x.ndim == 1 else x          # (*, n, k)
        yy = y[:, None] if y.ndim == 1 else y          # (*, k, m)
        gg = g
        if y.ndim == 1:                                # restore m first: a 0-d g (1-D @ 1-D) has no axis -2
            gg = np.expand_dims(gg, -1)
        if x.ndim == 1:
            gg = np.expand_dims(gg, -2)                # (*, n, m)
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(np.matmul(gg, np.swapaxes(yy, -1, -2)), xx.shape).reshape(x.shape)
        if b.requires_grad:
            gb = unbroadcast(np.matmul(np.swapaxes(xx, -1, -2), gg), yy.shape).reshape(y.shape)
        return ga, gb
    return Tensor.from_op(out, (a, b), backward, "matmul")


def as_tensor(value, dtype=None) -> Tensor:
    """``value`` itself if it is a ``Tensor``, else a new constant tensor."""
    return value if isinstance(value, Tensor) else Tensor(value, dtype=dtype)
