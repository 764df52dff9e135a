"""ONNX operators that move data: reshape, flatten, transpose, (un)squeeze, concat, split, slice,
gather, pad, expand, and the constants (``Constant``, ``Shape``, ``Size``, ``ConstantOfShape``, ``Range``).

Shapes and axes are load-time values here (``NodeCtx.const``); ``Shape`` of any tensor is known
from static shapes, so the exporters' ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``
chains fold into one ``Reshape`` whose target may hold the batch symbol (``[N, -1]``), resolved
at run time. Every ``run`` works on strided tensors (with their gradients) and on NumPy arrays
(folding, where arrays of ``Sym`` stand for shape vectors).
"""

from __future__ import annotations

import numpy as np

from .. import tensor_shape as shp
from ..nn.padding import pad_axes
from ..tensor import Tensor
from .ops_math import _lift
from .registry import Lowered, NodeCtx, broadcast, is_float, onnx_op, static_int
from .symbolic import NotStatic, Sym, is_symbolic, size_product

BIG = 2 ** 31 - 1                                                        # slice ends at or past this mean "to the end"


def _array(values, dtype=np.int64) -> np.ndarray:
    values = list(values)
    if any(isinstance(v, Sym) for v in values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=dtype)


# ----------------------------------------------------------------------------------------- constants
@onnx_op("Constant", attrs=("value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                            "value_strings", "sparse_value"))
def constant(ctx: NodeCtx):
    attrs = ctx.node.attrs
    if "value" in attrs:
        value = np.asarray(attrs["value"])
    elif "value_float" in attrs:
        value = np.array(attrs["value_float"], dtype=np.float32)
    elif "value_floats" in attrs:
        value = np.array(attrs["value_floats"], dtype=np.float32)
    elif "value_int" in attrs:
        value = np.array(attrs["value_int"], dtype=np.int64)
    elif "value_ints" in attrs:
        value = np.array(attrs["value_ints"], dtype=np.int64)
    else:
        raise ctx.fail(f"holds {', '.join(attrs)}; supported: value, value_float(s), value_int(s)")
    return Lowered([(value.shape, value.dtype)], consts=[value])


@onnx_op("Shape", attrs=("start", "end"))
def shape(ctx: NodeCtx):
    x = ctx.input(0)
    start, end = int(ctx.attr("start", 0)), ctx.attr("end")
    dims = x.shape[slice(start, None if end is None else int(end))]
    value = _array(dims)
    return Lowered([(value.shape, np.dtype(np.int64))], consts=[value])


@onnx_op("Size")
def size(ctx: NodeCtx):
    total = size_product(ctx.input(0).shape)
    value = _array([total]).reshape(())
    return Lowered([((), np.dtype(np.int64))], consts=[value])


@onnx_op("ConstantOfShape", attrs=("value",), static=(0,))
def constant_of_shape(ctx: NodeCtx):
    target = ctx.const_ints(0, symbolic=True)
    fill = np.asarray(ctx.attr("value", np.zeros(1, dtype=np.float32))).reshape(-1)[:1]
    dtype = fill.dtype
    symbolic = is_symbolic(target)
    if symbolic and not is_float(dtype):
        raise ctx.fail(f"makes a {dtype} tensor whose shape {target} depends on the batch size; strided computes "
                       f"with float tensors at run time")

    def run(s):
        out = np.full(tuple(int(v) for v in np.asarray(s).reshape(-1)), fill[0], dtype=dtype)
        return Tensor(out) if symbolic else out
    return Lowered([(tuple(target), dtype)], run, foldable=not symbolic)


@onnx_op("Range", static=(0, 1, 2), fold_only=True, note="folded at load time only")
def range_(ctx: NodeCtx):
    start, limit, delta = (np.asarray(ctx.const(i)).reshape(()) for i in range(3))
    value = np.arange(start, limit, delta).astype(ctx.input(0).dtype)
    return Lowered([(value.shape, value.dtype)], consts=[value])


@onnx_op("Identity")
def identity(ctx: NodeCtx):
    x = ctx.input(0)
    return ctx.out(x.shape, x.dtype, lambda v: v)


@onnx_op("Dropout", attrs=("ratio", "seed", "is_test"), static=(1, 2))
def dropout(ctx: NodeCtx):
    from ..nn.functional import dropout as drop
    x = ctx.input(0)
    ratio = float(np.asarray(ctx.const(1)).reshape(())) if ctx.opset >= 12 and ctx.has(1) else float(
        ctx.attr("ratio", 0.5))

    def run(v, *_, training=False):
        if training and isinstance(v, Tensor):
            return drop(v, ratio, True)
        return v
    return ctx.out(x.shape, x.dtype, run, uses_mode=True)


# ----------------------------------------------------------------------------------------- reshaping
@onnx_op("Reshape", attrs=("shape", "allowzero"), static=(1,))
def reshape(ctx: NodeCtx):
    x = ctx.input(0)
    target = ctx.ints("shape") if ctx.opset < 5 else ctx.const_ints(1, symbolic=True)
    allowzero = bool(ctx.attr("allowzero", 0))
    out, infer = [], None
    for i, t in enumerate(target):
        if not isinstance(t, Sym) and t == 0 and not allowzero:
            if i >= x.rank:
                raise ctx.invalid(f"shape {target} copies axis {i} (0) of a rank-{x.rank} input")
            out.append(x.shape[i])
        elif not isinstance(t, Sym) and t == -1:
            if infer is not None:
                raise ctx.invalid(f"shape {target} has more than one -1")
            infer = i
            out.append(None)
        else:
            out.append(t)
    total = size_product(x.shape)
    known = size_product(v for v in out if v is not None)
    try:
        if infer is not None:
            out[infer] = total // known
        elif not (isinstance(total, Sym) or isinstance(known, Sym)) and total != known:
            raise ctx.invalid(f"cannot reshape {x.shape} ({total} values) to {target}")
    except NotStatic as error:
        raise ctx.fail(f"cannot infer the -1 of {target} for input {x.shape} at load time: {error}") from None

    def run(v, s):
        s = [int(t) for t in np.asarray(s).reshape(-1)] if ctx.opset >= 5 else target
        s = [v.shape[i] if t == 0 and not allowzero else t for i, t in enumerate(s)]
        return v.reshape(tuple(s))
    return ctx.out(out, x.dtype, run)


@onnx_op("Flatten", attrs=("axis",))
def flatten(ctx: NodeCtx):
    x = ctx.input(0)
    axis = int(ctx.attr("axis", 1))
    axis = axis + x.rank if axis < 0 else axis
    if not 0 <= axis <= x.rank:
        raise ctx.invalid(f"axis {ctx.attr('axis')} is out of range for a rank-{x.rank} input")
    shape = (size_product(x.shape[:axis]), size_product(x.shape[axis:]))
    return ctx.out(shape, x.dtype, lambda v: v.reshape(int(np.prod(v.shape[:axis], dtype=np.int64)),
                                                       int(np.prod(v.shape[axis:], dtype=np.int64))))


@onnx_op("Transpose", attrs=("perm",))
def transpose(ctx: NodeCtx):
    x = ctx.input(0)
    perm = ctx.ints("perm") or list(reversed(range(x.rank)))
    if sorted(perm) != list(range(x.rank)):
        raise ctx.invalid(f"perm {perm} is not a permutation of the axes of a rank-{x.rank} input")
    return ctx.out(tuple(x.shape[p] for p in perm), x.dtype, lambda v: v.transpose(tuple(perm)))


def _axes_arg(ctx: NodeCtx, since: int = 13):
    return ctx.ints("axes") if ctx.opset < since else ctx.const_ints(1)


@onnx_op("Squeeze", attrs=("axes",), static=(1,))
def squeeze(ctx: NodeCtx):
    x = ctx.input(0)
    axes = _axes_arg(ctx)
    if axes is None:
        axes = [a for a, d in enumerate(x.shape) if not isinstance(d, Sym) and d == 1]
    axes = sorted({ctx.axis(a, x.rank, "axes entry") for a in axes})
    for a in axes:
        if isinstance(x.shape[a], Sym) or x.shape[a] != 1:
            raise ctx.invalid(f"axis {a} of {x.shape} does not have size 1")
    out = tuple(d for a, d in enumerate(x.shape) if a not in axes)
    return ctx.out(out, x.dtype, lambda v, *_: v.reshape(tuple(d for a, d in enumerate(v.shape) if a not in axes)))


@onnx_op("Unsqueeze", attrs=("axes",), static=(1,))
def unsqueeze(ctx: NodeCtx):
    x = ctx.input(0)
    axes = _axes_arg(ctx)
    if not axes:
        raise ctx.invalid("no axes given")
    rank = x.rank + len(axes)
    axes = sorted({ctx.axis(a, rank, "axes entry") for a in axes})

    def expanded(shape):
        dims, it = [], iter(shape)
        for a in range(rank):
            dims.append(1 if a in axes else next(it))
        return tuple(dims)
    return ctx.out(expanded(x.shape), x.dtype, lambda v, *_: v.reshape(expanded(v.shape)))


@onnx_op("Expand", static=(1,))
def expand(ctx: NodeCtx):
    x = ctx.input(0)
    target = ctx.const_ints(1, symbolic=True)
    out = broadcast(ctx, x.shape, tuple(target))
    symbolic = is_symbolic(target)

    def run(v, s):
        want = np.broadcast_shapes(v.shape, tuple(int(t) for t in np.asarray(s).reshape(-1)))
        if isinstance(v, Tensor):
            return shp.expand(v.reshape((1,) * (len(want) - v.ndim) + v.shape), *want)
        return np.broadcast_to(v, want).copy()
    return Lowered([(out, x.dtype)], run, foldable=not symbolic)


# ----------------------------------------------------------------------------------------- joining, splitting
@onnx_op("Concat", attrs=("axis",))
def concat(ctx: NodeCtx):
    values = [v for v in ctx.values if v is not None]
    first = values[0]
    axis = ctx.axis(int(ctx.attr("axis", 0)), first.rank)
    for v in values:
        if v.rank != first.rank or any(a != b for i, (a, b) in enumerate(zip(v.shape, first.shape)) if i != axis):
            raise ctx.invalid(f"inputs {[v.shape for v in values]} differ on an axis other than {axis}")
    try:
        total = sum((v.shape[axis] for v in values), 0)
    except NotStatic as error:
        raise ctx.fail(f"concatenates along an axis of run-time size: {error}") from None
    out = first.shape[:axis] + (total,) + first.shape[axis + 1:]

    def run(*xs):
        xs = [v for v in xs if v is not None]
        like = next((v for v in xs if isinstance(v, Tensor)), None)
        if like is None:
            kept = [v for v in xs if v.size] or xs[:1]
            return np.concatenate(kept, axis=axis)
        return shp.cat([_lift(v, like) for v in xs], axis)
    return ctx.out(out, first.dtype, run)


@onnx_op("Split", attrs=("axis", "split", "num_outputs"), static=(1,), outputs=1 << 16)
def split(ctx: NodeCtx):
    x = ctx.input(0)
    axis = ctx.axis(int(ctx.attr("axis", 0)), x.rank)
    n = static_int(ctx, x.shape[axis], f"the size of axis {axis}")
    k = len(ctx.node.outputs)
    sizes = ctx.ints("split") if ctx.opset < 13 else ctx.const_ints(1)
    if sizes is None:
        if ctx.opset >= 18 and "num_outputs" in ctx.node.attrs:
            k = int(ctx.attr("num_outputs"))
            part = -(-n // k)
            sizes = [min(part, n - i * part) for i in range(k)]
        else:
            if n % k:
                raise ctx.invalid(f"axis {axis} of size {n} does not split into {k} equal parts")
            sizes = [n // k] * k
    if sum(sizes) != n or len(sizes) != len(ctx.node.outputs):
        raise ctx.invalid(f"split {sizes} does not cut axis {axis} of size {n} into {len(ctx.node.outputs)} parts")
    bounds = np.cumsum(sizes)[:-1]

    def run(v, *_):
        if isinstance(v, Tensor):
            return shp.split(v, list(sizes), axis)
        return tuple(np.split(v, bounds, axis=axis))
    shapes = [x.shape[:axis] + (s,) + x.shape[axis + 1:] for s in sizes]
    return Lowered([(s, x.dtype) for s in shapes], run)


def _slice_axis(ctx: NodeCtx, dim, start, end, step):
    """``(slice, length)`` of ONNX's clamping rules on an axis of size ``dim``."""
    if step == 0:
        raise ctx.invalid("a slice step of 0")
    if isinstance(dim, Sym):
        if step == 1 and start == 0 and (isinstance(end, Sym) and end == dim or not isinstance(end, Sym)
                                           and end >= BIG):
            return slice(None), dim
        raise ctx.fail(f"slices the run-time axis {dim} ({start}:{end}:{step}); only the whole axis is supported")
    if isinstance(start, Sym) or isinstance(end, Sym):
        raise ctx.fail("slice bounds depend on the batch size")
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    length = len(range(start, end, step))
    return slice(start, end if end >= 0 else None, step), length


@onnx_op("Slice", attrs=("starts", "ends", "axes"), static=(1, 2, 3, 4))
def slice_(ctx: NodeCtx):
    x = ctx.input(0)
    if ctx.opset < 10:
        starts, ends, axes, steps = ctx.ints("starts"), ctx.ints("ends"), ctx.ints("axes"), None
    else:
        starts, ends = ctx.const_ints(1, symbolic=True), ctx.const_ints(2, symbolic=True)
        axes, steps = ctx.const_ints(3), ctx.const_ints(4)
    axes = list(range(len(starts))) if axes is None else [ctx.axis(a, x.rank, "axes entry") for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.invalid("starts, ends, axes and steps differ in length")
    index = [slice(None)] * x.rank
    shape = list(x.shape)
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[a], shape[a] = _slice_axis(ctx, x.shape[a], s, e, st)
    index = tuple(index)
    return ctx.out(shape, x.dtype, lambda v, *_: v[index])


@onnx_op("Gather", attrs=("axis",), static=(1,))
def gather(ctx: NodeCtx):
    x = ctx.input(0)
    axis = ctx.axis(int(ctx.attr("axis", 0)), x.rank)
    indices = np.asarray(ctx.const(1)).astype(np.int64)
    dim = x.shape[axis]
    if isinstance(dim, Sym):
        if (indices < 0).any():
            raise ctx.fail(f"gathers negative indices along the run-time axis {dim}")
    else:
        if ((indices < -dim) | (indices >= dim)).any():
            raise ctx.invalid(f"indices {indices.tolist()} are out of range for axis {axis} of size {dim}")
        indices = np.where(indices < 0, indices + dim, indices)
    out = x.shape[:axis] + indices.shape + x.shape[axis + 1:]
    where = (slice(None),) * axis + (indices,)
    return ctx.out(out, x.dtype, lambda v, *_: v[where])


# ----------------------------------------------------------------------------------------- padding
PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _check_pad(attrs, opset):
    mode = attrs.get("mode", "constant")
    return [] if mode in PAD_MODES else [f"mode={mode!r}; supported: {', '.join(PAD_MODES)}"]


@onnx_op("Pad", attrs=("mode", "pads", "paddings", "value"), static=(1, 2, 3), check=_check_pad)
def pad(ctx: NodeCtx):
    x = ctx.input(0)
    mode = PAD_MODES[ctx.attr("mode", "constant")]
    if ctx.opset < 11:
        pads, value = ctx.ints("pads", ctx.ints("paddings")), float(ctx.attr("value", 0.0))
        axes = list(range(x.rank))
    else:
        pads = ctx.const_ints(1)
        fill = ctx.const(2)
        value = 0.0 if fill is None or np.asarray(fill).size == 0 else float(np.asarray(fill).reshape(-1)[0])
        axes = ctx.const_ints(3)
        axes = list(range(x.rank)) if axes is None else [ctx.axis(a, x.rank, "axes entry") for a in axes]
    if pads is None or len(pads) != 2 * len(axes):
        raise ctx.invalid(f"pads {pads} must hold a begin and an end per padded axis ({len(axes)})")
    pairs = [(0, 0)] * x.rank
    for i, a in enumerate(axes):
        pairs[a] = (pads[i], pads[i + len(axes)])
    first = next((a for a, p in enumerate(pairs) if p != (0, 0)), x.rank)
    pairs = pairs[first:]                                               # pad the trailing axes that change
    shape = tuple(x.shape[:first]) + tuple(d + lo + hi for d, (lo, hi) in zip(x.shape[first:], pairs))
    if any(isinstance(d, Sym) for d in x.shape[first:]):
        raise ctx.fail("pads an axis of run-time size")
    if any(d < 0 for d in shape[first:]):
        raise ctx.invalid(f"pads {pads} crop more than the input {x.shape} holds")

    def run(v, *_):
        if not pairs:
            return v
        if isinstance(v, Tensor):
            return pad_axes(v, tuple(pairs), mode, value, ctx.node.label)
        return pad_axes(Tensor(v.astype(np.float64)), tuple(pairs), mode, value).data.astype(v.dtype)
    return ctx.out(shape, x.dtype, run)
