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

from . import backend as _backend
from .checks import is_int
from .tensor import FLOAT_DTYPES, Tensor, as_tensor, constant_like, unbroadcast

AxisError = np.exceptions.AxisError


# ------------------------------------------------------------------------------------------ helpers
def _tensors(*values, owner: str = "op", names=("input", "other")) -> list:
    """Tensors as they are, ``None`` as is, anything else a tensor of the tensors' common dtype on
    their device (``constant_like``).

    Tensors on different devices raise a ``RuntimeError`` naming ``owner`` and both devices
    (``names``: the operands' roles in the message; the check costs a type comparison).
    """
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        return [v if v is None else Tensor(v) for v in values]
    like = tensors[0].data
    dtype = np.result_type(*[t.dtype for t in tensors])
    if type(like) is np.ndarray:                                        # the CPU: no device to join
        out = [v if v is None or isinstance(v, Tensor) else Tensor(v, dtype=dtype) for v in values]
    else:
        out = [v if v is None or isinstance(v, Tensor) else Tensor(constant_like(v, like, dtype), dtype=dtype)
               for v in values]
    kind = type(like)
    for t in out:
        if t is not None and type(t.data) is not kind:
            _mixed(owner, out, names)
    return out


def _mixed(owner: str, tensors, names) -> None:
    """The ``RuntimeError`` of tensors on different devices, naming ``owner`` and both devices."""
    arrays = [None if t is None else t.data for t in tensors]
    roles = list(names) + [f"argument {i}" for i in range(len(names), len(arrays))]
    _backend.common_backend(owner, arrays, roles)


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
    a, b = _tensors(input, other, owner="add")
    return Tensor.from_op(a.data + b.data, (a, b), lambda g: (_grad(g, a), _grad(g, b)), "add")


def sub(input, other) -> Tensor:
    a, b = _tensors(input, other, owner="sub")
    return Tensor.from_op(a.data - b.data, (a, b), lambda g: (_grad(g, a), _grad(-g, b)), "sub")


def mul(input, other) -> Tensor:
    a, b = _tensors(input, other, owner="mul")

    def backward(g):
        return (_grad(g * b.data, a) if a.requires_grad else None,
                _grad(g * a.data, b) if b.requires_grad else None)
    return Tensor.from_op(a.data * b.data, (a, b), backward, "mul")


def div(input, other) -> Tensor:
    a, b = _tensors(input, other, owner="div")
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
    out = _backend.namespace(x.data).exp(x.data)
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
    return Tensor.from_op(_backend.namespace(x.data).log(x.data), (x,), lambda g: (g / x.data,), "log")


def sqrt(input) -> Tensor:
    """Square root; the gradient is ``1 / (2 sqrt(input))``.

    Args:
        input: a ``Tensor``, an array or a number (non-negative).

    Example:
        >>> sqrt(Tensor([4.0, 9.0])).data.tolist()
        [2.0, 3.0]
    """
    x = as_tensor(input)
    out = _backend.namespace(x.data).sqrt(x.data)
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
    xp = _backend.namespace(x.data)
    return Tensor.from_op(xp.abs(x.data), (x,), lambda g: (g * xp.sign(x.data),), "abs")


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
            return (_backend.namespace(g).zeros_like(g) if exponent == 0 else g * exponent * x.data ** (exponent - 1),)
        return Tensor.from_op(out, (x,), backward, "pow")
    if _is_number(base):                                                # number ** tensor
        e = as_tensor(exponent)
        xp = _backend.namespace(e.data)
        out = xp.asarray(base ** e.data)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_base = float(np.log(base)) if base != 0 else -np.inf     # a Python float: no upcast

        def backward(g):
            if base != 0:
                return (g * out * log_base,)
            with np.errstate(invalid="ignore"):                         # 0 * -inf where the exponent is >= 0
                return (xp.where(e.data >= 0, 0, g * out * log_base).astype(g.dtype),)
        return Tensor.from_op(out, (e,), backward, "pow")
    x, e = _tensors(input, exponent, owner="pow", names=("input", "exponent"))   # tensor ** tensor
    xp = _backend.namespace(x.data)
    out = x.data ** e.data

    def backward_both(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = xp.where(e.data == 0, 0, g * e.data * x.data ** (e.data - 1)) if x.requires_grad else None
            ge = xp.where((x.data == 0) & (e.data >= 0), 0, g * out * xp.log(x.data)) if e.requires_grad else None
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
                             None if hi is None or _is_number(hi) else hi, owner="clamp", names=("input", "min", "max"))
    xp = _backend.namespace(x.data)
    lo_v = None if lo is None else (lo if lo_t is None else lo_t.data)
    hi_v = None if hi is None else (hi if hi_t is None else hi_t.data)
    out = x.data
    if lo_v is not None:
        out = xp.maximum(out, lo_v)
    if hi_v is not None:
        out = xp.minimum(out, hi_v)

    def backward(g):
        keep = xp.ones(g.shape, dtype=bool)                             # (*out): where the input passes through
        if lo_v is not None:
            keep &= x.data >= lo_v
        if hi_v is not None:
            keep &= x.data <= hi_v
        to_lo = None
        if lo_v is not None:
            to_lo = (x.data < lo_v) & (lo_v <= hi_v) if hi_v is not None else (x.data < lo_v)
        grads = [_grad(xp.where(keep, g, 0).astype(g.dtype, copy=False), x)]
        if lo_t is not None:
            grads.append(_grad(xp.where(to_lo, g, 0).astype(g.dtype, copy=False), lo_t))
        if hi_t is not None:
            to_hi = ~keep if to_lo is None else ~keep & ~to_lo
            grads.append(_grad(xp.where(to_hi, g, 0).astype(g.dtype, copy=False), hi_t))
        return tuple(grads)
    parents = tuple(t for t in (x, lo_t, hi_t) if t is not None)
    return Tensor.from_op(xp.asarray(out), parents, backward, "clamp")


clip = clamp


def _extremum(input, other, pick: str, loses: str, name: str) -> Tensor:
    """``pick`` (``"maximum"``/``"minimum"``) of the two, ``loses`` the comparison that drops a side."""
    a, b = _tensors(input, other, owner=name)
    xp = _backend.namespace(a.data)
    pick, loses = getattr(xp, pick), getattr(xp, loses)
    out = pick(a.data, b.data)

    def backward(g):
        shared = xp.where(a.data == b.data, g / 2, g)                   # (*out): ties split the gradient
        return (_grad(xp.where(loses(a.data, b.data), 0, shared), a) if a.requires_grad else None,
                _grad(xp.where(loses(b.data, a.data), 0, shared), b) if b.requires_grad else None)
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
    return _extremum(input, other, "maximum", "less", "maximum")


def minimum(input, other) -> Tensor:
    """Element-wise minimum (broadcast); at ties each side gets half the gradient, as in PyTorch.

    Args:
        input: a ``Tensor``, an array or a number.
        other: the same, broadcast with ``input``.

    Example:
        >>> minimum(Tensor([1.0, 5.0]), 3.0).data.tolist()
        [1.0, 3.0]
    """
    return _extremum(input, other, "minimum", "greater", "minimum")


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
    a, b = _tensors(input, other, owner="where")
    cond = condition.data if isinstance(condition, Tensor) else condition
    if type(cond) is not type(a.data):
        cond = constant_like(cond, a.data)                              # a host condition joins the device
        if type(cond) is not type(a.data):
            _backend.common_backend("where", (cond, a.data), ("condition", "input"))
    cond = cond.astype(bool, copy=False)
    xp = _backend.namespace(a.data)
    out = xp.where(cond, a.data, b.data)                                # (*broadcast)

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (_grad(xp.where(cond, g, zero), a) if a.requires_grad else None,
                _grad(xp.where(cond, zero, g), b) if b.requires_grad else None)
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
    a, b = _tensors(input, other, owner="matmul")
    x, y = a.data, b.data
    xp = _backend.namespace(x)
    out = xp.matmul(x, y)

    def backward(g):
        xx = x[None, :] if x.ndim == 1 else x                           # (*, n, k)
        yy = y[:, None] if y.ndim == 1 else y                           # (*, k, m)
        gg = g
        if y.ndim == 1:                                                 # restore m first: a 0-d g has no axis -2
            gg = xp.expand_dims(gg, -1)
        if x.ndim == 1:
            gg = xp.expand_dims(gg, -2)                                 # (*, n, m)
        ga = gb = None
        if a.requires_grad:
            ga = _grad(xp.matmul(gg, xp.swapaxes(yy, -1, -2)), a, xx.shape).reshape(x.shape)
        if b.requires_grad:
            gb = _grad(xp.matmul(xp.swapaxes(xx, -1, -2), gg), b, yy.shape).reshape(y.shape)
        return ga, gb
    return Tensor.from_op(out, (a, b), backward, "matmul")


# ------------------------------------------------------------------------------------------ reductions
def reduce_sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """``Tensor.sum`` (NumPy's ``axis``/``keepdims``); the gradient takes the input's memory layout."""
    shape = x.shape
    layout = None if x.data.flags.c_contiguous else x.data              # a C-ordered input need not be kept
    xp = _backend.namespace(x.data)

    def backward(g):
        if axis is not None and not keepdims:
            g = xp.expand_dims(g, axis)
        gx = xp.empty(shape, g.dtype) if layout is None else xp.empty_like(layout, dtype=g.dtype)
        xp.copyto(gx, xp.broadcast_to(g, shape))                        # (*S)
        return (gx,)
    return Tensor.from_op(xp.asarray(x.data.sum(axis=axis, keepdims=keepdims)), (x,), backward, "sum")


def reduce_max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """``Tensor.max``; the gradient is shared equally among tied maxima."""
    data = x.data
    xp = _backend.namespace(data)
    out = data.max(axis=axis, keepdims=True)

    def backward(g):
        mask = data == out
        g = g if keepdims or axis is None else xp.expand_dims(g, axis)
        return (mask * (g / mask.sum(axis=axis, keepdims=True)),)
    value = out if keepdims else (out.reshape(()) if axis is None else xp.squeeze(out, axis))
    return Tensor.from_op(xp.asarray(value), (x,), backward, "max")


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
            and (bias is None or isinstance(bias, Tensor) and bias.data.dtype == weight.data.dtype)
            and type(input.data) is type(weight.data) and (bias is None or type(bias.data) is type(weight.data))):
        return input, weight, bias                                      # the common case, kept cheap
    raw = [v.data if isinstance(v, Tensor) else v for v in (input, weight, bias)]
    _backend.common_backend(owner, [a if hasattr(a, "shape") else None for a in raw], ("input", "weight", "bias"))
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


def resolve_to(owner: str, args: tuple, dtype=None, device=None) -> tuple:
    """``(dtype, device)`` that PyTorch-style ``to(...)`` arguments ask for, each ``None`` to keep.

    Accepts ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` and the keywords;
    a device is a string (``"cpu"``, ``"cuda:1"``) or a ``Device``. A dtype other than
    float32/float64 raises a ``TypeError`` naming the two; a device that cannot be used here a
    ``RuntimeError`` saying why (no CuPy, no GPU, no backend of that name).
    """
    wanted, places = ([] if dtype is None else [dtype]), ([] if device is None else [device])
    for value in args:
        if isinstance(value, Tensor):
            wanted.append(value.dtype)
            places.append(value.device)
        elif isinstance(value, _backend.Device) or _backend.is_device_name(value):
            places.append(value)
        elif value is not None:
            wanted.append(value)
    if len(places) > 1:
        raise TypeError(f"{owner}: expected one device, got {len(places)}: {places}")
    place = None
    if places:
        try:
            place = _backend.parse_device(places[0])
            _backend.backend_for(place)                                 # refused here, before anything moves
        except (ValueError, RuntimeError) as error:
            raise type(error)(f"{owner}: {error}") from None
    if not wanted:
        return None, place
    if len(wanted) > 1:
        raise TypeError(f"{owner}: expected one dtype, got {len(wanted)}: {wanted}")
    try:
        found = np.dtype(wanted[0])
    except TypeError:
        found = None
    if found is None or found not in FLOAT_DTYPES:                      # (None == float64 in NumPy's eyes)
        got = found.name if found is not None else repr(wanted[0])
        raise TypeError(f"{owner}: dtype must be float32 or float64 (or a device such as 'cpu'), got {got}")
    return found, place


def move(input, device) -> Tensor:
    """``input`` on ``device`` (itself when already there); the gradient goes back to the input's device."""
    x = as_tensor(input)
    source = x.device
    data = _backend.to_device(x.data, device)
    if data is x.data:
        return x
    return Tensor.from_op(data, (x,), lambda g: (_backend.to_device(g, source),), "to")


def cast(input, dtype) -> Tensor:
    """``input`` in ``dtype`` (float32 or float64); the gradient comes back in the input's dtype."""
    x = as_tensor(input)
    dtype, _ = resolve_to("Tensor.to", (dtype,))
    if dtype is None or dtype == x.dtype:
        return x
    return Tensor.from_op(x.data.astype(dtype), (x,), lambda g: (g.astype(x.dtype),), "to")


__all__ = ["add", "sub", "mul", "div", "exp", "log", "sqrt", "abs", "pow", "clamp", "clip", "maximum", "minimum",
           "where", "matmul", "reduce_sum", "reduce_max", "match_dtypes", "cast", "move", "resolve_to"]
