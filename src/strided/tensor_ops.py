"""Tensor ops with PyTorch's names, each with its backward: ``st.exp``, ``st.clamp``, ``st.where``, ...

Arithmetic (the operators' ``add``, ``sub``, ``mul``, ``div``), element-wise (``exp``, ``log``,
``sqrt``, ``abs``, ``pow``, ``clamp``/``clip``, ``minimum``, ``maximum``, ``where``), products
(``matmul``), the reductions behind ``Tensor.sum``/``max``, and dtypes: ``match_dtypes`` (the
input-dtype rule of the weighted ops), ``cast`` and the argument parsing of ``to(...)``. Shape
ops (``cat``, ``split``, ``permute``, ...) are in ``tensor_shape``. ``Tensor`` methods delegate here.

Operands that are not tensors (arrays, numbers) take the dtype of the tensors they meet, as in
``Tensor + array``; tensors of different dtypes promote as NumPy does, and each gradient comes
back in its own input's dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from .checks import is_int
from .tensor import FLOAT_DTYPES, Tensor, as_tensor, unbroadcast

AxisError = np.exceptions.AxisError


# ------------------------------------------------------------------------------------------ helpers
def _tensors(*values) -> list:
    """Tensors as they are, ``None`` as is, anything else a tensor of the tensors' common dtype."""
    dtypes = [v.dtype for v in values if isinstance(v, Tensor)]
    dtype = np.result_type(*dtypes) if dtypes else None
    return [v if v is None or isinstance(v, Tensor) else Tensor(v, dtype=dtype) for v in values]


def _grad(g: np.ndarray, parent: Tensor, shape=None):
    """``g`` summed back to ``parent``'s shape and in its dtype; ``None`` when it needs no gradient."""
    if not parent.requires_grad:
        return None
    return unbroadcast(g, parent.shape if shape is None else shape).astype(parent.dtype, copy=False)


def _dim(dim, ndim: int, owner: str, extra: int = 0) -> int:
    """``dim`` as an index in ``range(ndim + extra)``, negative counting from the end (0-d takes 0 and -1)."""
    if not is_int(dim):
        raise TypeError(f"{owner}: dim must be an int, got {dim!r}")
    n = max(ndim + extra, 1)
    if not -n <= dim < n:
        raise AxisError(f"{owner}: dim {dim} is out of range for a {ndim}-d tensor (expected {-n} to {n - 1})")
    return int(dim) % n


def _scalar(value):
    """A NumPy scalar as a Python number, so that it does not upcast float32 data (NEP 50)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


# ------------------------------------------------------------------------------------------ arithmetic
def add(input, other) -> Tensor:
    a, b = _tensors(input, other)
    return Tensor.from_op(a.data + b.data, (a, b), lambda g: (_grad(g, a), _grad(g, b)), "add")


def sub(input, other) -> Tensor:
    a, b = _tensors(input, other)
    return Tensor.from_op(a.data - b.data, (a, b), lambda g: (_grad(g, a), _grad(-g, b)), "sub")


def mul(input, other) -> Tensor:
    a, b = _tensors(input, other)

    def backward(g):
        return (_grad(g * b.data, a) if a.requires_grad else None,
                _grad(g * a.data, b) if b.requires_grad else None)
    return Tensor.from_op(a.data * b.data, (a, b), backward, "mul")


def div(input, other) -> Tensor:
    a, b = _tensors(input, other)
    out = a.data / b.data

    def backward(g):
        return (_grad(g / b.data, a) if a.requires_grad else None,
                _grad(-g * out / b.data, b) if b.requires_grad else None)
    return Tensor.from_op(out, (a, b), backward, "div")


# ------------------------------------------------------------------------------------------ element-wise
def exp(input) -> Tensor:
    """``e ** input``.

    Args:
        input: a ``Tensor``, an array or a number.

    Example:
        >>> round(float(exp(Tensor([1.0])).data[0]), 4)
        2.7183
    """
    x = as_tensor(input)
    out = np.exp(x.data)
    return Tensor.from_op(out, (x,), lambda g: (g * out,), "exp")


def log(input) -> Tensor:
    """Natural logarithm.

    Args:
        input: a ``Tensor``, an array or a number (positive).

    Example:
        >>> log(Tensor([1.0, np.e])).data.tolist()
        [0.0, 1.0]
    """
    x = as_tensor(input)
    return Tensor.from_op(np.log(x.data), (x,), lambda g: (g / x.data,), "log")


def sqrt(input) -> Tensor:
    """Square root; the gradient is ``1 / (2 sqrt(input))``.

    Args:
        input: a ``Tensor``, an array or a number (non-negative).

    Example:
        >>> sqrt(Tensor([4.0, 9.0])).data.tolist()
        [2.0, 3.0]
    """
    x = as_tensor(input)
    out = np.sqrt(x.data)
    return Tensor.from_op(out, (x,), lambda g: (g / (2 * out),), "sqrt")


def abs(input) -> Tensor:
    """``|input|``; the gradient at 0 is 0, as in PyTorch.

    Args:
        input: a ``Tensor``, an array or a number.

    Example:
        >>> abs(Tensor([-1.5, 2.0])).data.tolist()
        [1.5, 2.0]
    """
    x = as_tensor(input)
    return Tensor.from_op(np.abs(x.data), (x,), lambda g: (g * np.sign(x.data),), "abs")


def pow(input, exponent) -> Tensor:
    """``input ** exponent``; either may be a tensor, the other a number, or both tensors (broadcast).

    Gradients follow PyTorch at the edges: none for ``x`` where the exponent is 0, and none for the
    exponent where the base is 0 and the exponent is non-negative.

    Args:
        input: the base, a tensor or a number.
        exponent: the exponent, a tensor or a number.

    >>> pow(Tensor([1.0, 2.0, 3.0]), 2).data
    array([1., 4., 9.], dtype=float32)
    """
    exponent, base = _scalar(exponent), _scalar(input)
    if _is_number(exponent):                                            # tensor ** number
        x = as_tensor(input)
        out = x.data ** exponent

        def backward(g):
            return (np.zeros_like(g) if exponent == 0 else g * exponent * x.data ** (exponent - 1),)
        return Tensor.from_op(out, (x,), backward, "pow")
    if _is_number(base):                                                # number ** tensor
        e = as_tensor(exponent)
        out = np.asarray(base ** e.data)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_base = float(np.log(base)) if base != 0 else -np.inf     # a Python float: no upcast

        def backward(g):
            if base != 0:
                return (g * out * log_base,)
            with np.errstate(invalid="ignore"):                         # 0 * -inf where the exponent is >= 0
                return (np.where(e.data >= 0, 0, g * out * log_base).astype(g.dtype),)
        return Tensor.from_op(out, (e,), backward, "pow")
    x, e = _tensors(input, exponent)                                    # tensor ** tensor
    out = x.data ** e.data

    def backward_both(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = np.where(e.data == 0, 0, g * e.data * x.data ** (e.data - 1)) if x.requires_grad else None
            ge = np.where((x.data == 0) & (e.data >= 0), 0, g * out * np.log(x.data)) if e.requires_grad else None
        return (None if gx is None else _grad(gx, x)), (None if ge is None else _grad(ge, e))
    return Tensor.from_op(out, (x, e), backward_both, "pow")


def clamp(input, min=None, max=None) -> Tensor:
    """Each value limited to ``[min, max]``; either bound may be ``None``, a number or a tensor (broadcast).

    Where ``min > max`` the result is ``max``, as in PyTorch. The gradient passes to ``input`` where
    ``min <= input <= max`` (at the bounds too), to a tensor ``min`` where ``input < min <= max``
    and to a tensor ``max`` elsewhere (PyTorch's rule).

    Args:
        input: a ``Tensor`` or an array.
        min: the lower bound, or ``None``.
        max: the upper bound, or ``None``.

    Shape: ``input``, ``min`` and ``max`` broadcast together.

    >>> clamp(Tensor([-2.0, 0.5, 3.0]), min=0.0, max=1.0).data
    array([0. , 0.5, 1. ], dtype=float32)
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    lo, hi = _scalar(min), _scalar(max)
    x, lo_t, hi_t = _tensors(input, None if lo is None or _is_number(lo) else lo,
                             None if hi is None or _is_number(hi) else hi)
    lo_v = None if lo is None else (lo if lo_t is None else lo_t.data)
    hi_v = None if hi is None else (hi if hi_t is None else hi_t.data)
    out = x.data
    if lo_v is not None:
        out = np.maximum(out, lo_v)
    if hi_v is not None:
        out = np.minimum(out, hi_v)

    def backward(g):
        keep = np.ones(g.shape, dtype=bool)                             # (*out): where the input passes through
        if lo_v is not None:
            keep &= x.data >= lo_v
        if hi_v is not None:
            keep &= x.data <= hi_v
        to_lo = None
        if lo_v is not None:
            to_lo = (x.data < lo_v) & (lo_v <= hi_v) if hi_v is not None else (x.data < lo_v)
        grads = [_grad(np.where(keep, g, 0).astype(g.dtype, copy=False), x)]
        if lo_t is not None:
            grads.append(_grad(np.where(to_lo, g, 0).astype(g.dtype, copy=False), lo_t))
        if hi_t is not None:
            to_hi = ~keep if to_lo is None else ~keep & ~to_lo
            grads.append(_grad(np.where(to_hi, g, 0).astype(g.dtype, copy=False), hi_t))
        return tuple(grads)
    parents = tuple(t for t in (x, lo_t, hi_t) if t is not None)
    return Tensor.from_op(np.asarray(out), parents, backward, "clamp")


clip = clamp


def _extremum(input, other, pick, loses, name: str) -> Tensor:
    a, b = _tensors(input, other)
    out = pick(a.data, b.data)

    def backward(g):
        shared = np.where(a.data == b.data, g / 2, g)                   # (*out): ties split the gradient
        return (_grad(np.where(loses(a.data, b.data), 0, shared), a) if a.requires_grad else None,
                _grad(np.where(loses(b.data, a.data), 0, shared), b) if b.requires_grad else None)
    return Tensor.from_op(out, (a, b), backward, name)


def maximum(input, other) -> Tensor:
    """Element-wise maximum (broadcast); at ties each side gets half the gradient, as in PyTorch.

    Args:
        input: a ``Tensor``, an array or a number.
        other: the same, broadcast with ``input``.

    Example:
        >>> maximum(Tensor([1.0, 5.0]), 3.0).data.tolist()
        [3.0, 5.0]
    """
    return _extremum(input, other, np.maximum, np.less, "maximum")


def minimum(input, other) -> Tensor:
    """Element-wise minimum (broadcast); at ties each side gets half the gradient, as in PyTorch.

    Args:
        input: a ``Tensor``, an array or a number.
        other: the same, broadcast with ``input``.

    Example:
        >>> minimum(Tensor([1.0, 5.0]), 3.0).data.tolist()
        [1.0, 3.0]
    """
    return _extremum(input, other, np.minimum, np.greater, "minimum")


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` holds, else ``other``; all three broadcast.

    ``condition`` is a boolean array (a tensor counts where non-zero) and gets no gradient.

    Args:
        condition: a boolean array.
        input: the values where it holds.
        other: the values elsewhere.

    >>> where(np.array([True, False]), Tensor([1.0, 2.0]), 0.0).data
    array([1., 0.], dtype=float32)
    """
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition).astype(bool, copy=False)
    a, b = _tensors(input, other)
    out = np.where(cond, a.data, b.data)                                # (*broadcast)

    def backward(g):
        zero = np.zeros((), dtype=g.dtype)
        return (_grad(np.where(cond, g, zero), a) if a.requires_grad else None,
                _grad(np.where(cond, zero, g), b) if b.requires_grad else None)
    return Tensor.from_op(out, (a, b), backward, "where")


# ------------------------------------------------------------------------------------------ products
def matmul(input, other) -> Tensor:
    """Matrix product with NumPy's broadcasting rules (1-D operands included).

    Args:
        input: the left operand.
        other: the right operand.

    Shape: ``(*, n, k) @ (*, k, m) -> (*, n, m)``.

    Example:
        >>> matmul(np.ones((2, 3)), np.ones((3, 4))).shape
        (2, 4)
    """
    a, b = _tensors(input, other)
    x, y = a.data, b.data
    out = np.matmul(x, y)

    def backward(g):
        xx = x[None, :] if x.ndim == 1 else x                           # (*, n, k)
        yy = y[:, None] if y.ndim == 1 else y                           # (*, k, m)
        gg = g
        if y.ndim == 1:                                                 # restore m first: a 0-d g has no axis -2
            gg = np.expand_dims(gg, -1)
        if x.ndim == 1:
            gg = np.expand_dims(gg, -2)                                 # (*, n, m)
        ga = gb = None
        if a.requires_grad:
            ga = _grad(np.matmul(gg, np.swapaxes(yy, -1, -2)), a, xx.shape).reshape(x.shape)
        if b.requires_grad:
            gb = _grad(np.matmul(np.swapaxes(xx, -1, -2), gg), b, yy.shape).reshape(y.shape)
        return ga, gb
    return Tensor.from_op(out, (a, b), backward, "matmul")


# ------------------------------------------------------------------------------------------ reductions
def reduce_sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """``Tensor.sum`` (NumPy's ``axis``/``keepdims``); the gradient takes the input's memory layout."""
    shape = x.shape
    layout = None if x.data.flags.c_contiguous else x.data              # a C-ordered input need not be kept

    def backward(g):
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        gx = np.empty(shape, g.dtype) if layout is None else np.empty_like(layout, dtype=g.dtype)
        np.copyto(gx, np.broadcast_to(g, shape))                        # (*S)
        return (gx,)
    return Tensor.from_op(np.asarray(x.data.sum(axis=axis, keepdims=keepdims)), (x,), backward, "sum")


def reduce_max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """``Tensor.max``; the gradient is shared equally among tied maxima."""
    data = x.data
    out = data.max(axis=axis, keepdims=True)

    def backward(g):
        mask = data == out
        g = g if keepdims or axis is None else np.expand_dims(g, axis)
        return (mask * (g / mask.sum(axis=axis, keepdims=True)),)
    value = out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))
    return Tensor.from_op(np.asarray(value), (x,), backward, "max")


# ------------------------------------------------------------------------------------------ dtype
def match_dtypes(owner: str, input, weight, bias=None) -> tuple:
    """``(input, weight, bias)`` as tensors of one dtype, for an op combining an input with weights.

    Raw arrays (anything but a ``Tensor``) take the dtype of the tensors among the three (the
    weight's first); tensors of different dtypes raise a ``TypeError`` naming ``owner`` and both
    dtypes, as PyTorch refuses them. ``None`` stays ``None``.

    The input-dtype rule (see ``Tensor``): this is its third part, called by linear, conv,
    conv_transpose, locally_connected and batch_norm as ``Tensor.match_dtypes(owner, x, weight, bias)``.

    >>> match_dtypes("conv2d", Tensor(np.zeros(2)), Tensor(np.ones(2, dtype=np.float32)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: conv2d: input is float64 but weight is float32; convert one with .float()/.double() or ...
    """
    if (isinstance(input, Tensor) and isinstance(weight, Tensor) and input.data.dtype == weight.data.dtype
            and (bias is None or isinstance(bias, Tensor) and bias.data.dtype == weight.data.dtype)):
        return input, weight, bias                                      # the common case, kept cheap
    roles = (("weight", weight), ("input", input), ("bias", bias))
    ref = next(((name, v) for name, v in roles if isinstance(v, Tensor)), None)
    if ref is None:
        ref = ("weight", as_tensor(weight)) if weight is not None else ("input", as_tensor(input))
    ref_name, dtype = ref[0], ref[1].dtype
    for name, value in roles:
        if isinstance(value, Tensor) and value.dtype != dtype:
            raise TypeError(f"{owner}: {name} is {value.dtype} but {ref_name} is {dtype}; convert one with "
                            f".float()/.double() or st.Tensor(x, dtype=...)")
    return tuple(v if v is None or isinstance(v, Tensor) else Tensor(v, dtype=dtype) for v in (input, weight, bias))


_DEVICE_PREFIXES = ("cuda", "gpu", "mps", "xpu", "hip", "xla", "meta", "vulkan", "opengl", "ipu", "hpu", "mtia")


def no_gpu_error(owner: str, device) -> RuntimeError:
    return RuntimeError(f"{owner}({device!r}): no GPU backend is installed; this version of strided computes "
                        f"with NumPy on the CPU, and 'cpu' is its only device")


def resolve_to(owner: str, args: tuple, dtype=None, device=None):
    """The float dtype that PyTorch-style ``to(...)`` arguments ask for, or ``None`` (keep).

    Accepts ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` and the keywords.
    ``'cpu'`` is a no-op; any other device raises a ``RuntimeError`` (no GPU backend); a dtype other
    than float32/float64 a ``TypeError`` naming the two.
    """
    wanted = [] if dtype is None else [dtype]
    for value in tuple(args) + (() if device is None else (device,)):
        if isinstance(value, Tensor):
            wanted.append(value.dtype)
        elif value is None or (isinstance(value, str) and value.split(":")[0].lower() == "cpu"):
            continue
        elif isinstance(value, str) and value.split(":")[0].lower() in _DEVICE_PREFIXES:
            raise no_gpu_error(owner, value)
        else:
            wanted.append(value)
    if not wanted:
        return None
    if len(wanted) > 1:
        raise TypeError(f"{owner}: expected one dtype, got {len(wanted)}: {wanted}")
    try:
        found = np.dtype(wanted[0])
    except TypeError:
        found = None
    if found is None or found not in FLOAT_DTYPES:                      # (None == float64 in NumPy's eyes)
        got = found.name if found is not None else repr(wanted[0])
        raise TypeError(f"{owner}: dtype must be float32 or float64 (or the device 'cpu'), got {got}")
    return found


def cast(input, dtype) -> Tensor:
    """``input`` in ``dtype`` (float32 or float64); the gradient comes back in the input's dtype."""
    x = as_tensor(input)
    dtype = resolve_to("Tensor.to", (dtype,))
    if dtype is None or dtype == x.dtype:
        return x
    return Tensor.from_op(x.data.astype(dtype), (x,), lambda g: (g.astype(x.dtype),), "to")


__all__ = ["add", "sub", "mul", "div", "exp", "log", "sqrt", "abs", "pow", "clamp", "clip", "maximum", "minimum",
           "where", "matmul", "reduce_sum", "reduce_max", "match_dtypes", "cast", "resolve_to", "no_gpu_error"]
