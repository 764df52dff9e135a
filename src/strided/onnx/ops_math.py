"""Element-wise ONNX operators: arithmetic, activations, softmax, clip, reductions, casts, comparisons.

Each rule checks its attributes, computes the output shape (NumPy broadcasting, with ``Sym``
for the batch axis) and returns the computation on strided's own ops (``st.exp``, ``F.gelu``,
``Tensor.sum`` ...), so every node is differentiable. The same ``run`` folds integer shape
arithmetic at load time on NumPy arrays (``Mul`` of a ``Shape`` by 2, a ``Cast`` to int64).
"""

from __future__ import annotations

import numpy as np

from .. import tensor_ops as ops
from ..nn import functional as F
from ..special import erf as erf_values
from ..tensor import Tensor
from .reader import DTYPES
from .registry import NodeCtx, as_values, broadcast, is_float, onnx_op


def _lift(x, like):
    """A constant operand as a tensor of its partner's dtype, when the partner is a tensor."""
    if isinstance(like, Tensor) and not isinstance(x, Tensor):
        return Tensor(np.asarray(x), dtype=like.dtype)
    return x


def _pair(x, y):
    return _lift(x, y), _lift(y, x)


def _int_div(x, y):
    if isinstance(x, np.ndarray) and x.dtype == object or isinstance(y, np.ndarray) and y.dtype == object:
        return np.vectorize(lambda a, b: a // b if (a >= 0) == (b >= 0) or a % b == 0 else -(-a // b),
                            otypes=[object])(x, y)
    return np.trunc(np.true_divide(x, y)).astype(np.result_type(x, y))   # C's truncation, as ONNX


def _check_legacy_broadcast(attrs, opset):
    if attrs.get("broadcast", 0) and "axis" in attrs:
        return [f"broadcast=1 with axis={attrs['axis']} (opset < 7 broadcasting) is not supported; "
                f"NumPy-style broadcasting (no axis) is"]
    return []


@onnx_op("Add", "Sub", "Mul", "Div", attrs=("broadcast", "axis"), check=_check_legacy_broadcast)
def arithmetic(ctx: NodeCtx):
    a, b = ctx.input(0), ctx.input(1)
    shape = broadcast(ctx, a.shape, b.shape)
    op = ctx.op
    integer = not is_float(a.dtype)

    def run(x, y):
        if isinstance(x, Tensor) or isinstance(y, Tensor):
            x, y = _pair(x, y)
        if op == "Add":
            return x + y
        if op == "Sub":
            return x - y
        if op == "Mul":
            return x * y
        return _int_div(x, y) if integer and not isinstance(x, Tensor) else x / y
    return ctx.out(shape, a.dtype, run)


@onnx_op("Pow")
def power(ctx: NodeCtx):
    a, b = ctx.input(0), ctx.input(1)
    shape = broadcast(ctx, a.shape, b.shape)
    scalar = b.is_const and b.const.size == 1                          # x ** number: the common case

    def run(x, y):
        if not isinstance(x, Tensor) and not isinstance(y, Tensor):
            return np.power(x, y).astype(a.dtype)
        if scalar and isinstance(x, Tensor):
            out = ops.pow(x, float(np.asarray(as_values(y)).reshape(())))
            return out if out.shape == shape else out.reshape(shape)
        x, y = _pair(x, np.asarray(y, dtype=x.dtype) if isinstance(x, Tensor) and not isinstance(y, Tensor) else y)
        return ops.pow(x, y)
    return ctx.out(shape, a.dtype, run)


def _unary(name, fn, fold=None):
    @onnx_op(name)
    def rule(ctx: NodeCtx):
        x = ctx.input(0)

        def run(v):
            if fold is not None and not isinstance(v, Tensor):
                return fold(v)
            return fn(v)
        return ctx.out(x.shape, x.dtype, run)
    return rule


def _nondifferentiable(fn, name):
    """A step function (floor, ceil, sign) as a tensor op: gradient 0 everywhere, as in PyTorch."""
    def op(x):
        return Tensor.from_op(fn(x.data), (x,), lambda g: (np.zeros_like(g),), name)
    return op


def _erf(x: Tensor) -> Tensor:
    slope = (2 / np.sqrt(np.pi)) * np.exp(-(x.data * x.data))
    return Tensor.from_op(erf_values(x.data).astype(x.dtype), (x,), lambda g: (g * slope,), "erf")


def _reciprocal(x: Tensor) -> Tensor:
    return 1.0 / x


_unary("Sqrt", ops.sqrt, np.sqrt)
_unary("Exp", ops.exp, np.exp)
_unary("Log", ops.log, np.log)
_unary("Neg", lambda x: -x, np.negative)
_unary("Abs", ops.abs, np.abs)
_unary("Relu", F.relu, lambda v: np.maximum(v, 0))
_unary("Sigmoid", F.sigmoid)
_unary("Tanh", F.tanh, np.tanh)
_unary("Softplus", lambda x: F.softplus(x, 1.0, float("inf")))
_unary("HardSwish", F.hardswish)
_unary("Mish", F.mish)
_unary("Erf", _erf, erf_values)
_unary("Reciprocal", _reciprocal, np.reciprocal)
_unary("Floor", _nondifferentiable(np.floor, "floor"), np.floor)
_unary("Ceil", _nondifferentiable(np.ceil, "ceil"), np.ceil)
_unary("Sign", _nondifferentiable(np.sign, "sign"), np.sign)


@onnx_op("LeakyRelu", attrs=("alpha",))
def leaky_relu(ctx: NodeCtx):
    x, alpha = ctx.input(0), float(ctx.attr("alpha", 0.01))
    return ctx.out(x.shape, x.dtype, lambda v: F.leaky_relu(v, alpha))


@onnx_op("Elu", attrs=("alpha",))
def elu(ctx: NodeCtx):
    x, alpha = ctx.input(0), float(ctx.attr("alpha", 1.0))
    return ctx.out(x.shape, x.dtype, lambda v: F.elu(v, alpha))


@onnx_op("Celu", attrs=("alpha",))
def celu(ctx: NodeCtx):
    x, alpha = ctx.input(0), float(ctx.attr("alpha", 1.0))
    return ctx.out(x.shape, x.dtype, lambda v: F.celu(v, alpha))


SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


@onnx_op("Selu", attrs=("alpha", "gamma"))
def selu(ctx: NodeCtx):
    x = ctx.input(0)
    alpha, gamma = float(ctx.attr("alpha", SELU_ALPHA)), float(ctx.attr("gamma", SELU_GAMMA))

    def run(v):
        negative = ops.exp(ops.minimum(v, 0.0)) - 1.0                   # exp of at most 0: never overflows
        return ops.where(v.data > 0, v * gamma, negative * (alpha * gamma))
    return ctx.out(x.shape, x.dtype, run)


@onnx_op("HardSigmoid", attrs=("alpha", "beta"))
def hard_sigmoid(ctx: NodeCtx):
    x = ctx.input(0)
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    if abs(alpha - 1 / 6) < 1e-7 and beta == 0.5:                      # PyTorch's, with its gradient at the kinks
        return ctx.out(x.shape, x.dtype, F.hardsigmoid)
    return ctx.out(x.shape, x.dtype, lambda v: ops.clamp(v * alpha + beta, 0.0, 1.0))


def _check_gelu(attrs, opset):
    value = attrs.get("approximate", "none")
    return [] if value in ("none", "tanh") else [f"approximate={value!r}; supported: 'none', 'tanh'"]


@onnx_op("Gelu", attrs=("approximate",), check=_check_gelu)
def gelu(ctx: NodeCtx):
    x, approximate = ctx.input(0), ctx.attr("approximate", "none")
    return ctx.out(x.shape, x.dtype, lambda v: F.gelu(v, approximate))


@onnx_op("PRelu")
def prelu(ctx: NodeCtx):
    x, slope = ctx.input(0), ctx.input(1)
    shape = broadcast(ctx, x.shape, slope.shape)
    if shape != x.shape:
        raise ctx.invalid(f"slope {slope.shape} must broadcast to the input {x.shape}")
    sizes = [d for d in slope.shape if d != 1]
    channel = x.rank >= 2 and len(sizes) == 1 and len(slope.shape) == x.rank - 1 and slope.shape[0] == x.shape[1]

    def run(v, w):
        w = _lift(w, v)
        if w.size == 1:
            return F.prelu(v, w.reshape(1))
        if channel:                                                     # (C, 1, ..., 1): one slope per channel
            return F.prelu(v, w.reshape(-1))
        return ops.where(v.data > 0, v, v * w)
    return ctx.out(shape, x.dtype, run)


def _softmax(log: bool):
    def rule(ctx: NodeCtx):
        x = ctx.input(0)
        legacy = ctx.opset < 13
        axis = ctx.axis(int(ctx.attr("axis", 1 if legacy else -1)), x.rank)
        fn = F.log_softmax if log else F.softmax
        if not legacy or axis == x.rank - 1:
            return ctx.out(x.shape, x.dtype, lambda v: fn(v, axis))
        # opset < 13: the input is seen as 2-D, (prod(shape[:axis]), prod(shape[axis:])), and normalised per row
        def run(v):
            rows = v.reshape(int(np.prod(v.shape[:axis], dtype=np.int64)), -1)
            return fn(rows, 1).reshape(v.shape)
        return ctx.out(x.shape, x.dtype, run)
    return rule


onnx_op("Softmax", attrs=("axis",))(_softmax(False))
onnx_op("LogSoftmax", attrs=("axis",))(_softmax(True))


@onnx_op("Clip", attrs=("min", "max"), static=(1, 2))
def clip(ctx: NodeCtx):
    x = ctx.input(0)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
    else:
        lo, hi = ctx.const(1), ctx.const(2)
        lo = None if lo is None else np.asarray(lo).reshape(()).item()
        hi = None if hi is None else np.asarray(hi).reshape(()).item()

    def run(v, *_):
        if not isinstance(v, Tensor):
            return np.clip(v, lo, hi) if lo is not None or hi is not None else v
        if lo is None and hi is None:
            return v
        if lo is not None and hi is not None and lo > hi:
            return ops.clamp(v, hi, hi)                                 # ONNX: every value becomes max
        return ops.clamp(v, None if lo is None else float(lo), None if hi is None else float(hi))
    return ctx.out(x.shape, x.dtype, run)


# ----------------------------------------------------------------------------------------- variadic
@onnx_op("Max", "Min")
def extremum(ctx: NodeCtx):
    values = [ctx.input(i) for i in range(len(ctx.values))]
    shape = broadcast(ctx, *(v.shape for v in values))
    pick = ops.maximum if ctx.op == "Max" else ops.minimum
    fold = np.maximum if ctx.op == "Max" else np.minimum

    def run(*xs):
        if not any(isinstance(v, Tensor) for v in xs):
            out = xs[0]
            for v in xs[1:]:
                out = fold(out, v)
            return np.broadcast_to(out, shape) if out.shape != shape else out
        like = next(v for v in xs if isinstance(v, Tensor))
        out = _lift(xs[0], like)
        for v in xs[1:]:
            out = pick(out, _lift(v, like))
        return out
    return ctx.out(shape, values[0].dtype, run)


# ----------------------------------------------------------------------------------------- reductions
def _reduce_axes(ctx: NodeCtx, attr_until: int):
    x = ctx.input(0)
    if ctx.opset < attr_until:
        axes = ctx.ints("axes")
    else:
        axes = ctx.const_ints(1)
    keepdims = bool(ctx.attr("keepdims", 1))
    if not axes:
        if ctx.opset >= attr_until and ctx.attr("noop_with_empty_axes", 0):
            return x, None, keepdims
        axes = list(range(x.rank))
    axes = tuple(sorted({ctx.axis(int(a), x.rank, "axes entry") for a in axes}))
    return x, axes, keepdims


def _reduction(kind: str, attr_until: int):
    def rule(ctx: NodeCtx):
        x, axes, keepdims = _reduce_axes(ctx, attr_until)
        if axes is None:
            return ctx.out(x.shape, x.dtype, lambda v, *_: v)
        shape = tuple(1 if a in axes else d for a, d in enumerate(x.shape) if keepdims or a not in axes)
        fold = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.max}[ctx.op]

        def run(v, *_):
            if not isinstance(v, Tensor):
                return np.asarray(fold(v, axis=axes, keepdims=keepdims)).astype(x.dtype)
            if kind == "sum":
                return v.sum(axis=axes, keepdims=keepdims)
            if kind == "mean":
                return v.mean(axis=axes, keepdims=keepdims)
            return v.max(axis=axes, keepdims=keepdims)
        return ctx.out(shape, x.dtype, run)
    return rule


onnx_op("ReduceSum", attrs=("axes", "keepdims", "noop_with_empty_axes"), static=(1,))(_reduction("sum", 13))
onnx_op("ReduceMean", attrs=("axes", "keepdims", "noop_with_empty_axes"), static=(1,))(_reduction("mean", 18))
onnx_op("ReduceMax", attrs=("axes", "keepdims", "noop_with_empty_axes"), static=(1,))(_reduction("max", 18))


# ----------------------------------------------------------------------------------------- casts
def _target(ctx: NodeCtx, to: int):
    if to not in DTYPES:
        raise ctx.fail(f"cast to ONNX data type {to}; supported: the numeric types and BOOL")
    return np.dtype(DTYPES[to][0])


def _cast(ctx: NodeCtx, dtype):
    x = ctx.input(0)
    if not x.is_const and not is_float(dtype):
        raise ctx.fail(f"casts a run-time tensor to {dtype}; strided computes with float32/float64 tensors "
                       f"(casts of load-time values, such as shapes, are folded)")

    def run(v, *_):
        if isinstance(v, Tensor):
            return ops.cast(v, dtype)
        if v.dtype == object:
            if is_float(dtype):
                raise ValueError("a run-time size cast to float")
            return v
        return v.astype(dtype)
    return ctx.out(x.shape, dtype, run)


@onnx_op("Cast", attrs=("to", "saturate", "round_mode"))
def cast(ctx: NodeCtx):
    return _cast(ctx, _target(ctx, int(ctx.attr("to", 1))))


@onnx_op("CastLike", attrs=("saturate", "round_mode"))
def cast_like(ctx: NodeCtx):
    return _cast(ctx, ctx.input(1).dtype)


# ----------------------------------------------------------------------------------------- comparisons
_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
            "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or}


@onnx_op(*_COMPARE, fold_only=True, note="folded at load time only")
def compare(ctx: NodeCtx):
    a, b = ctx.input(0), ctx.input(1)
    fn = _COMPARE[ctx.op]
    return ctx.out(broadcast(ctx, a.shape, b.shape), np.bool_, lambda x, y: np.asarray(fn(x, y), dtype=bool))


@onnx_op("Not", fold_only=True, note="folded at load time only")
def logical_not(ctx: NodeCtx):
    return ctx.out(ctx.input(0).shape, np.bool_, np.logical_not)


@onnx_op("Where", static=(0,))
def where(ctx: NodeCtx):
    cond, a, b = ctx.input(0), ctx.input(1), ctx.input(2)
    shape = broadcast(ctx, cond.shape, a.shape, b.shape)

    def run(c, x, y):
        c = np.asarray(c, dtype=bool)
        if isinstance(x, Tensor) or isinstance(y, Tensor):
            x, y = _pair(x, y)
            out = ops.where(c, x, y)
            return out if out.shape == shape else out + np.zeros(shape, dtype=out.dtype)
        return np.where(c, x, y)
    return ctx.out(shape, a.dtype, run)
