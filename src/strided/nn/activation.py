"""The ReLU family of element-wise activations (ReLU, Hardtanh, ReLU6, LeakyReLU, PReLU), each
with its backward, their layers, and the base of the activation layers. The sigmoid's kin
(sigmoid, the hard sigmoid and swish, tanh, softmax) are in ``activation_sigmoid.py``, the smooth
ones (GELU, SiLU, ELU, Softplus, Mish, ...) in ``activation_smooth.py``. Above
``fast.COMPILED_FROM`` values, the compiled path runs ReLU, the clips and the leaky ReLU as kernels
(``fast/elementwise.py``; the sigmoid and SiLU too). The NumPy path avoids ``where``, a branch per
value on this kind of machine: ``max(x, 0) + slope * min(x, 0)`` selects without one.

Gradients at the kinks follow PyTorch exactly: ``relu``, ``leaky_relu`` and ``prelu`` take the
negative side's slope at 0; ``hardtanh`` and ``relu6`` pass no gradient at either bound nor at
NaN, while ``relu`` passes it through a NaN input (as PyTorch's vectorised loops do).

``inplace=`` is accepted wherever PyTorch has it, for code written against PyTorch, but the
result is always a new array: the graph keeps the inputs that backward passes read, so strided
never overwrites them.
"""

from __future__ import annotations

import numpy as np

from .. import fast
from ..backend import dense_memory, namespace
from ..checks import as_int, as_number
from ..errors import ShapeError, expected_input, shape_str
from ..tensor import Tensor, as_tensor
from .module import Cost, Module, Parameter
from .max_pool import MaxPool1d, MaxPool2d, MaxPool3d
from .registry import register_layer


def check_inplace(inplace, owner: str) -> bool:
    """``inplace`` must be a bool (it is accepted, never acted on: see the module docstring)."""
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"{owner}: inplace must be a bool, got {inplace!r}")
    return bool(inplace)


def relu(x, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; the gradient at exactly 0 is 0, as in PyTorch. Shape: any, unchanged.

    Args:
        x: the input, a ``Tensor`` or an array.
        inplace: accepted for PyTorch compatibility, never acted on (a new tensor is returned).

    Example:
        >>> relu(np.array([-1.0, 0.0, 2.0])).numpy().tolist()
        [0.0, 0.0, 2.0]
    """
    check_inplace(inplace, "relu")
    x = as_tensor(x)
    xp = namespace(x.data)
    out = _compiled("relu_forward", x.data)
    if out is None:
        out = xp.maximum(x.data, 0)

    def backward(g):
        g = _aligned(g, out)
        gx = _compiled("relu_backward", g, out)
        return (gx if gx is not None else xp.multiply(g, ~(out <= 0), out=xp.empty_like(g)),)   # NaN passes
    return Tensor.from_op(out, (x,), backward, "relu")



def _compiled(kernel: str, *arrays, scalars=()):
    """The compiled kernel ``kernel`` of ``fast/elementwise.py`` over ``arrays`` and a new output
    in the first one's layout, or ``None`` where the compiled path does not take them (NumPy alone,
    another backend or dtype, layouts that differ, fewer than ``fast.COMPILED_FROM`` values). ``scalars``
    (in the arrays' dtype) go between the arrays and the output."""
    if arrays[0].size < fast.COMPILED_FROM or not fast.applies(*arrays):
        return None
    kernels = fast.kernels("elementwise")
    out = np.empty_like(arrays[0], dtype=arrays[0].dtype)              # in the first array's memory order
    flats = kernels.flat_memory(*arrays, out)
    if flats is None:
        return None
    getattr(kernels, kernel)(*flats[:-1], *scalars, flats[-1])
    return out


def _aligned(g, like):
    """The gradient ``g`` in the memory order of ``like`` (the op's input or output): itself when it
    lies so, else one copy. The input gradient then keeps the input's layout (a batch-last input
    gets a batch-last gradient, which the convolution below reads without a copy), and the mask is
    applied within one layout: across two, NumPy's casting loop walks a strided element at a time
    (47,500 float32 values: 134 us against 12 us for the copy). A ``like`` that is not dense (a
    slice) has no layout to keep: ``g`` stays as it is."""
    if g.strides == like.strides and g.dtype == like.dtype or dense_memory(like) is None:
        return g
    out = namespace(g).empty_like(like, dtype=g.dtype)                  # in like's memory order
    out[...] = g
    return out


def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` clipped to ``[min_val, max_val]``; no gradient at or beyond either bound (PyTorch's rule).

    Args:
        x: the input.
        min_val: the lower bound.
        max_val: the upper bound.
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> hardtanh(np.array([-2.0, 0.5, 2.0])).numpy().tolist()
        [-1.0, 0.5, 1.0]
    """
    low, high = _bounds(min_val, max_val, "hardtanh", strict=False)
    check_inplace(inplace, "hardtanh")
    return _clip(as_tensor(x), low, high, "hardtanh")


def relu6(x, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``, i.e. ``hardtanh(x, 0, 6)``: no gradient at 0 or at 6. Shape: any, unchanged.

    Args:
        x: the input.
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> relu6(np.array([-1.0, 3.0, 8.0])).numpy().tolist()
        [0.0, 3.0, 6.0]
    """
    check_inplace(inplace, "relu6")
    return _clip(as_tensor(x), 0.0, 6.0, "relu6")


def _bounds(min_val, max_val, owner: str, strict: bool) -> tuple[float, float]:
    """The two bounds as floats; ``min_val <= max_val`` (``<`` when ``strict``, as ``nn.Hardtanh`` wants)."""
    low, high = as_number(min_val, "min_val", owner), as_number(max_val, "max_val", owner)
    if low > high or (strict and low == high):
        relation = "less than" if strict else "at most"
        raise ValueError(f"{owner}: min_val must be {relation} max_val, got min_val={low}, max_val={high}")
    return low, high


def _clip(x: Tensor, low: float, high: float, op: str) -> Tensor:
    """``hardtanh``'s op: the gradient passes strictly inside ``(low, high)`` only."""
    dtype = x.data.dtype
    bounds = (dtype.type(low), dtype.type(high)) if dtype.kind == "f" else ()
    out = _compiled("clip_forward", x.data, scalars=bounds) if bounds else None
    if out is None:
        out = namespace(x.data).clip(x.data, low, high)                 # (*) in x's memory layout

    def backward(g):
        g = _aligned(g, x.data)
        gx = _compiled("clip_backward", g, x.data, scalars=bounds) if bounds and g.dtype == dtype else None
        return (gx if gx is not None else g * ((x.data > low) & (x.data < high)),)
    return Tensor.from_op(out, (x,), backward, op)


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere (the gradient at 0 is the slope).

    Args:
        x: the input.
        negative_slope: the slope for negative inputs.
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> leaky_relu(np.array([-2.0, 2.0]), 0.5).numpy().tolist()
        [-1.0, 2.0]
    """
    negative_slope = as_number(negative_slope, "negative_slope", "leaky_relu")
    check_inplace(inplace, "leaky_relu")
    x = as_tensor(x)
    xp = namespace(x.data)
    dtype = x.data.dtype
    slope = (dtype.type(negative_slope),) if dtype.kind == "f" else ()
    out = _compiled("leaky_relu_forward", x.data, scalars=slope) if slope else None
    positive = None                                                     # the NumPy path's mask, kept for backward
    if out is None:
        positive = x.data > 0
        out = _select_by_sign(xp, x.data, negative_slope)

    def backward(g):
        g = _aligned(g, x.data)
        gx = _compiled("leaky_relu_backward", g, x.data, scalars=slope) if slope and g.dtype == dtype else None
        if gx is None:
            gx = g * _sign_slope(xp, x.data > 0 if positive is None else positive, negative_slope, g.dtype)
        return (gx,)
    return Tensor.from_op(out, (x,), backward, "leaky_relu")


def prelu(x, weight, owner: str = "prelu") -> Tensor:
    """``x`` where positive, ``weight * x`` elsewhere, with a learned slope per channel (axis 1).

    ``weight`` has one value (shared by every channel; then ``x`` may have any rank) or ``C``
    values for an input ``(N, C, *)``. As in PyTorch, a 1-D input has no channel axis, and ``x`` and
    ``weight`` must share a dtype (a raw array takes the weight's).

    Args:
        x: the input ``(N, C, *)``.
        weight: the learned slopes, ``(1,)`` or ``(C,)``.
        owner: the name error messages give.

    Shape: ``x (N, C, *)``, ``weight (C,)`` or ``(1,)`` -> ``(N, C, *)``.

    Example:
        >>> prelu(np.array([[-4.0, 2.0]]), np.array([0.25])).numpy().tolist()
        [[-1.0, 2.0]]
    """
    x, weight, _ = Tensor.match_dtypes(owner, x, weight)                # one dtype, or a TypeError naming both
    if weight.ndim > 1:
        raise ShapeError(f"{owner}: expected weight (C,) or a single value, got {shape_str(weight.shape)}")
    check_prelu_input(owner, x.shape, weight.size)
    if weight.size == 1:
        w = weight.data.reshape(())                                     # () broadcast everywhere
        reduce_axes = tuple(range(x.ndim))
    else:
        w = weight.data.reshape((-1,) + (1,) * (x.ndim - 2))            # (C, 1, ..., 1) against (N, C, *S)
        reduce_axes = (0,) + tuple(range(2, x.ndim))
    xp = namespace(x.data)
    positive = x.data > 0                                               # (N, C, *S)
    out = _select_by_sign(xp, x.data, w)                                # (N, C, *S)

    def backward(g):
        gx = g * _sign_slope(xp, positive, w, g.dtype) if x.requires_grad else None   # (N, C, *S)
        gw = None
        if weight.requires_grad:                                        # d out / d w = x where x <= 0
            gw = (g * xp.minimum(x.data, 0)).sum(axis=reduce_axes)      # (C,) or ()
            gw = gw.reshape(weight.shape)
        return gx, gw
    return Tensor.from_op(out, (x, weight), backward, "prelu")


def _select_by_sign(xp, a, slope):
    """``a`` where positive, else ``slope * a``: ``max(a, 0) + slope * min(a, 0)``, exact (one term is
    0) and without NumPy's ``where`` (3.5-4 ns a value on random signs; these passes ~0.3 ns)."""
    out = xp.minimum(a, 0)
    out *= slope
    out += xp.maximum(a, 0)
    return out


def _sign_slope(xp, positive, slope, dtype):
    """1 where ``positive``, else ``slope``, exactly: ``(1 - positive) * slope + positive``, in ``dtype``."""
    factor = (~positive).astype(dtype)
    factor *= slope
    factor += positive
    return factor


def check_prelu_input(owner: str, shape, num_parameters: int) -> None:
    """A per-channel weight needs an input ``(N, C, *)`` with ``C == num_parameters``."""
    if num_parameters == 1:
        return
    if len(shape) < 2 or shape[1] != num_parameters:
        raise expected_input(owner, f"(N, {num_parameters}, *) (one slope per channel, on axis 1)", shape)


EXAMPLE_SHAPE = (2, 3, 4)


class Elementwise(Module):
    """Base of the activations that take PyTorch's ``inplace=`` flag (accepted, never acted on)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_inplace(inplace, type(self).__name__)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def _with_inplace(self, text: str) -> str:
        return text + (", inplace=True" if self.inplace else "")


@register_layer(example=lambda: (ReLU(), EXAMPLE_SHAPE))
class ReLU(Elementwise):
    """Rectified linear unit ``max(x, 0)``. Shape: any, unchanged.

    Args:
        inplace: accepted for PyTorch compatibility (must be a bool), never acted on: the output is a
            new tensor, the input is left as it is.

    >>> ReLU()(np.array([-1.0, 2.0], dtype=np.float32)).data
    array([0., 2.], dtype=float32)
    """

    def forward(self, x) -> Tensor:
        return relu(x)

    def fuse_with(self, after):
        """Followed by a plain ``MaxPool``: the pool runs first and the ReLU on the pooled values only.

        The maximum commutes with the ReLU, and so do the gradients, ties included: a window whose
        maximum is positive routes to the same first maximum either way, and a window whose
        maximum is at most 0 gets no gradient either way (the ReLU's gradient at 0 is 0). Not with
        ``return_indices``: where a window's maximum is at most 0 the indices would differ.
        """
        if type(after) in (MaxPool1d, MaxPool2d, MaxPool3d) and not after.return_indices:
            return lambda x: self(after(x))
        return None


@register_layer(example=lambda: (Hardtanh(-2.0, 2.5), EXAMPLE_SHAPE))
class Hardtanh(Elementwise):
    """``x`` clipped to ``[min_val, max_val]`` (default ``[-1, 1]``; ``min_val < max_val``).

    Args:
        min_val: the lower bound (default -1).
        max_val: the upper bound (default 1).
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> Hardtanh()(np.array([-2.0, 0.5, 2.0])).numpy().tolist()
        [-1.0, 0.5, 1.0]
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.min_val, self.max_val = _bounds(min_val, max_val, type(self).__name__, strict=True)

    def forward(self, x) -> Tensor:
        return _clip(as_tensor(x), self.min_val, self.max_val, "hardtanh")

    def extra_repr(self) -> str:
        return self._with_inplace(f"min_val={self.min_val}, max_val={self.max_val}")


@register_layer(example=lambda: (ReLU6(), EXAMPLE_SHAPE))
class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)`` (MobileNet): a ``Hardtanh`` from 0 to 6. Shape: any, unchanged.

    Args:
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> ReLU6()(np.array([-1.0, 3.0, 8.0])).numpy().tolist()
        [0.0, 3.0, 6.0]
    """

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def forward(self, x) -> Tensor:
        return relu6(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


@register_layer(example=lambda: (LeakyReLU(0.1), EXAMPLE_SHAPE))
class LeakyReLU(Elementwise):
    """Leaky ReLU with ``negative_slope`` (default 0.01). Shape: any, unchanged.

    Args:
        negative_slope: the slope for negative inputs (default 0.01).
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> LeakyReLU(0.5)(np.array([-2.0, 0.0, 2.0])).numpy().tolist()
        [-1.0, 0.0, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__(inplace)
        self.negative_slope = as_number(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x) -> Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return self._with_inplace(f"negative_slope={self.negative_slope}")


@register_layer(example=lambda: (PReLU(3), EXAMPLE_SHAPE))
class PReLU(Module):
    """Leaky ReLU whose negative slope is learned: one ``weight`` shared by all channels
    (``num_parameters=1``, the default) or one per channel (``num_parameters=C``, axis 1),
    initialised to ``init`` (0.25) as in PyTorch. Weight decay is best left off it.

    Args:
        num_parameters: 1 (one slope shared by every channel) or the number of channels ``C``.
        init: the initial slope of every weight (default 0.25).

    Shape: ``(N, C, *)`` -> same (any shape when ``num_parameters=1``); ``weight (num_parameters,)``.

    >>> PReLU(2)(np.array([[-4.0, 1.0]], dtype=np.float32)).data
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = as_int(num_parameters, "num_parameters", "PReLU")
        self.init = as_number(init, "init", "PReLU")
        self.weight = Parameter(np.full(self.num_parameters, self.init, dtype=np.float32))

    def forward(self, x) -> Tensor:
        return prelu(x, self.weight, self._describe())

    def output_shape(self, in_shape):
        check_prelu_input(self._describe(), tuple(in_shape), self.num_parameters)
        return tuple(in_shape)

    def cost(self, in_shape):
        """The slopes; no multiply-accumulates (an element-wise layer)."""
        return Cost(self.num_parameters, 0)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
