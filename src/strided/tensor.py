"""The autograd engine: ``Tensor``, ``backward``, gradient hooks and ``no_grad``.

A ``Tensor`` wraps a NumPy array (``.data``, float32 or float64), its accumulated gradient
``.grad`` and, when it was computed from tensors that require gradients, its parents and a
backward closure. ``backward()`` orders the graph topologically and accumulates each node's
gradient with ``+=`` before passing it on, so fan-out and residual additions need no special
handling; gradient hooks (``register_hook``) may inspect or replace a gradient on the way.

The input-dtype rule: (1) ``Tensor(x)``/``as_tensor(x)`` keep a float32 or float64 array's dtype,
anything else becomes float32 (``dtype=`` forces); (2) a module converts a raw array input to its
parameters' dtype (``Module.__call__``); (3) ops combining an input with weights refuse tensors of
different dtypes (``Tensor.match_dtypes``), and raw arrays there take the tensors' dtype.

An op is a forward computation plus a closure ``backward(grad) -> tuple`` that returns one
gradient (or ``None``) per parent, written right under the forward, built with
``Tensor.from_op``. The tensor ops are in ``tensor_ops`` (arithmetic, element-wise, reductions,
dtypes) and ``tensor_shape`` (views, joining, splitting), and the methods here delegate to them;
the coarse ops of the network (convolution, pooling, normalisation, losses) live with their
layers in ``strided.nn``.
"""

from __future__ import annotations

import math
import threading
from contextlib import AbstractContextManager, contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np

from . import backend as _backend
from .hooks import add_hook, check_hook


class _GradState(threading.local):
    """Per-thread recording switch; the class default makes the read a plain attribute lookup."""

    grad_enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether new ops record the graph (``False`` inside ``no_grad()``).

    Example:
        >>> is_grad_enabled()
        True
        >>> with no_grad():
        ...     print(is_grad_enabled())
        False
    """
    return _state.grad_enabled


@contextmanager
def _recording(enabled: bool) -> Iterator[None]:
    """Ops record the graph (or not) inside the block; the previous setting comes back after it."""
    previous = is_grad_enabled()
    _state.grad_enabled = enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad() -> AbstractContextManager[None]:
    """Context in which ops record no graph: inference without the memory of backward.

    >>> with no_grad():
    ...     y = Tensor([1.0], requires_grad=True) * 2
    >>> y.requires_grad
    False
    """
    return _recording(False)


def enable_grad() -> AbstractContextManager[None]:
    """Context in which ops record the graph again, inside a ``no_grad()`` block too (PyTorch's
    ``torch.enable_grad``).

    >>> with no_grad(), enable_grad():
    ...     y = Tensor([1.0], requires_grad=True) * 2
    >>> y.requires_grad
    True
    """
    return _recording(True)


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _to_array(data, dtype) -> np.ndarray:
    """A float array of ``dtype`` on ``data``'s device, copying only when a conversion is needed.

    Without ``dtype`` a float32 or float64 array keeps its dtype and anything else becomes float32.
    Arrays of another backend (CuPy) stay on their device; anything else becomes a NumPy array.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None:
        is_array = isinstance(data, np.ndarray) or _backend.backend_of(data) is not _backend.CPU
        dtype = data.dtype if is_array and data.dtype in FLOAT_DTYPES else np.float32
    elif np.dtype(dtype) not in FLOAT_DTYPES:
        raise TypeError(f"Tensor: dtype must be float32 or float64, got {np.dtype(dtype)}")
    return _backend.backend_of(data).xp.asarray(data, dtype=dtype)


def constant_like(value, like, dtype=None) -> np.ndarray:
    """``value`` (a number, list or array, not a tensor) as an array of ``dtype`` beside ``like``.

    Host values (numbers, lists, NumPy arrays) join ``like``'s device, so ``x * 2`` and
    ``x + np.ones(3)`` work on a GPU tensor; an array of another device stays where it is (the op
    that meets it names both devices). On the CPU this is ``np.asarray(value, dtype)``.
    """
    source = _backend.backend_of(value)
    if type(like) is not np.ndarray and source is _backend.CPU:
        target = _backend.backend_of(like)
        if target is not _backend.CPU:
            return target.from_host(np.asarray(value, dtype=dtype), target.device_of(like))
    return source.xp.asarray(value, dtype=dtype)


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
        data: anything ``np.asarray`` accepts, or a CuPy array (the tensor stays on its GPU).
        requires_grad: accumulate a gradient in ``.grad`` during ``backward()``.
        dtype: ``np.float32`` or ``np.float64``. Default: a float32 or float64 array keeps its
            dtype; anything else (ints, bools, lists, Python floats) becomes float32.
        device: where the values live: ``"cpu"`` (default for host data) or ``"cuda"``/``"cuda:1"``
            (CuPy, ``st.cuda``); the data is copied there.

    >>> x = Tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([[2., 4.]], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "op", "_hooks")
    __array_priority__ = 100.0

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        self.data: np.ndarray = _to_array(data, dtype)
        if device is not None:
            self.data = _backend.to_device(self.data, device)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable | None = None
        self.op = "leaf"
        self._hooks: dict | None = None

    # ----------------------------------------------------------------------------- building graphs
    @staticmethod
    def match_dtypes(owner: str, input, weight, bias=None) -> tuple:
        """``(input, weight, bias)`` as tensors of one dtype, or a ``TypeError`` (``tensor_ops.match_dtypes``)."""
        return _ops.match_dtypes(owner, input, weight, bias)

    @classmethod
    def from_op(cls, data: np.ndarray, parents: Sequence["Tensor"], backward: Callable, op: str) -> "Tensor":
        """The result of an op: records ``parents`` and ``backward`` when any parent needs a gradient.

        ``backward(grad)`` must return one array (or ``None``) per parent, shaped like that parent.
        """
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out.op = op
        out._hooks = None
        if _state.grad_enabled and any(p.requires_grad for p in parents):   # is_grad_enabled(), inlined
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
            grad = _backend.namespace(self.data).ones_like(self.data)
        else:
            grad = _to_array(grad, self.data.dtype)
            _backend.common_backend("Tensor.backward", (self.data, grad), ("the tensor", "grad"))
            if grad.shape != self.shape:
                raise ValueError(f"Tensor.backward: expected grad of shape {self.shape}, got {grad.shape}")

        order = self._topological_order()
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in order:
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._hooks:
                g = node._run_hooks(g)
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

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient (a NumPy array) during ``backward()``.

        The hook runs once the gradient is complete, before it is accumulated into ``.grad`` (a
        leaf) or passed on to the inputs; returning an array replaces the gradient, ``None``
        keeps it. Hooks run in registration order. Returns a handle whose ``remove()`` unregisters.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 10)
        >>> (x * x).sum().backward()
        >>> x.grad
        array([20., 40.], dtype=float32)
        """
        check_hook(hook, "Tensor.register_hook")
        if not self.requires_grad:
            raise RuntimeError("Tensor.register_hook: cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        return add_hook(self._hooks, hook)

    def _run_hooks(self, g: np.ndarray) -> np.ndarray:
        for hook in list(self._hooks.values()):
            result = hook(g)
            if result is not None:
                result = _to_array(result, self.data.dtype)
                if result.shape != g.shape:
                    raise ValueError(f"Tensor hook: expected a gradient of shape {self.shape}, "
                                     f"got {result.shape} from {hook!r}")
                g = result
        return g

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

    @property
    def device(self) -> _backend.Device:
        """Where the values live: ``device(type='cpu')`` or ``device(type='cuda', index=0)``."""
        return _backend.device_of(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared, not copied); a GPU tensor raises (use ``.cpu()`` first)."""
        if _backend.backend_of(self.data) is not _backend.CPU:
            raise TypeError(f"Tensor.numpy: the tensor is on {self.device}; call .cpu() first to copy it to the host")
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
        where = "" if _backend.backend_of(self.data) is _backend.CPU else f", device='{self.device}'"
        values = np.array2string(_backend.to_host(self.data), precision=4, threshold=20)
        return f"Tensor({values}{where}{grad})"

    # ----------------------------------------------------------------------------- arithmetic
    def _lift(self, other) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        if type(self.data) is np.ndarray:                               # the CPU: no device to join
            return Tensor(other, dtype=self.data.dtype)
        return Tensor(constant_like(other, self.data, self.data.dtype), dtype=self.data.dtype)

    def __add__(self, other):
        return _ops.add(self, self._lift(other))

    __radd__ = __add__

    def __sub__(self, other):
        return _ops.sub(self, self._lift(other))

    def __rsub__(self, other):
        return _ops.sub(self._lift(other), self)

    def __mul__(self, other):
        return _ops.mul(self, self._lift(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _ops.div(self, self._lift(other))

    def __rtruediv__(self, other):
        return _ops.div(self._lift(other), self)

    def __neg__(self):
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent):
        return _ops.pow(self, exponent)

    def __rpow__(self, base):
        return _ops.pow(base, self)

    def __matmul__(self, other):
        return _ops.matmul(self, self._lift(other))

    def __rmatmul__(self, other):
        return _ops.matmul(self._lift(other), self)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def clamp(self, min=None, max=None):
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def where(self, condition, other):
        """``self`` where ``condition`` holds, else ``other`` (``torch.Tensor.where``)."""
        return _ops.where(condition, self, other)

    # ----------------------------------------------------------------------------- dtype and device
    def to(self, *args, dtype=None, device=None):
        """This tensor on another device or in another float dtype (a new node; the gradient flows
        back to this device and dtype), or itself when nothing changes.

        ``to(np.float64)``, ``to("cuda")``, ``to("cpu", np.float64)``, ``to(other_tensor)``. A
        ``cuda`` device without CuPy or a GPU raises a ``RuntimeError`` saying how to install it, a
        non-float dtype a ``TypeError``.
        """
        wanted_dtype, wanted_device = _ops.resolve_to("Tensor.to", args, dtype, device)
        out = self if wanted_device is None else _ops.move(self, wanted_device)
        return out if wanted_dtype is None else _ops.cast(out, wanted_dtype)

    def cpu(self):
        """This tensor on the host (itself when it is there)."""
        return _ops.move(self, "cpu")

    def cuda(self, device=None):
        """This tensor on a GPU (``"cuda"`` or ``cuda:<device>``)."""
        return _ops.move(self, "cuda" if device is None else (device if isinstance(device, str) else f"cuda:{device}"))

    def float(self):
        return _ops.cast(self, np.float32)

    def double(self):
        return _ops.cast(self, np.float64)

    # ----------------------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False):
        return _ops.reduce_sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        count = self.data.size if axis is None else math.prod(self.shape[a] for a in np.atleast_1d(axis).tolist())
        return self.sum(axis=axis, keepdims=keepdims) / count

    def max(self, axis=None, keepdims: bool = False):
        """Maximum; the gradient is shared equally among tied maxima."""
        return _ops.reduce_max(self, axis, keepdims)

    # ----------------------------------------------------------------------------- shape
    def reshape(self, *shape):
        return _shape.reshape(self, _shape.dims_of(shape))

    view = reshape

    def flatten(self, start_dim: int = 1):
        """Merge the axes from ``start_dim`` on; ``(N, C, H, W) -> (N, C*H*W)`` by default (the merged
        size is counted, not inferred, so an empty batch ``(0, 16, 5, 5)`` flattens to ``(0, 400)``)."""
        return self.reshape(self.shape[:start_dim] + (math.prod(self.shape[start_dim:]),))

    def transpose(self, *axes):
        """NumPy's transpose: axes reversed, or in the order given (for PyTorch's reorder see ``permute``)."""
        return _shape.transpose(self, _shape.dims_of(axes) or tuple(reversed(range(self.ndim))))

    def permute(self, *dims):
        """Axes reordered, ``x.permute(2, 0, 1)`` or ``x.permute((2, 0, 1))`` (checked, negative dims too)."""
        return _shape.permute(self, _shape.dims_of(dims))

    @property
    def T(self):
        return self.transpose()

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    def split(self, split_size, dim: int = 0):
        return _shape.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return _shape.chunk(self, chunks, dim)

    def unsqueeze(self, dim: int):
        return _shape.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return _shape.squeeze(self, dim)

    def expand(self, *sizes):
        """Broadcast to ``sizes`` without copying; ``-1`` keeps an axis (``torch.Tensor.expand``)."""
        return _shape.expand(self, *sizes)

    def expand_as(self, other):
        return _shape.expand(self, *other.shape)


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's broadcasting rules (see ``tensor_ops.matmul``)."""
    return _ops.matmul(a, b)


def as_tensor(value, dtype=None) -> Tensor:
    """``value`` itself if it is a ``Tensor``, else a new constant tensor: a float32 or float64
    array keeps its dtype, anything else becomes float32, unless ``dtype`` is given.

    Args:
        value: a ``Tensor``, an array, a number or nested lists.
        dtype: the dtype of a new tensor (``None``: float32, or float64 for float64 input).

    Example:
        >>> as_tensor(np.zeros(3, dtype=np.float64)).dtype
        dtype('float64')
        >>> as_tensor([1, 2]).dtype
        dtype('float32')
    """
    return value if isinstance(value, Tensor) else Tensor(value, dtype=dtype)


from . import tensor_ops as _ops  # noqa: E402  (the ops import Tensor from here)
from . import tensor_shape as _shape  # noqa: E402
