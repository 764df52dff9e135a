"""ONNX's normalisations and products on strided's ops: BatchNormalization, InstanceNormalization,
LayerNormalization, GroupNormalization, LRN, Gemm, MatMul.

BatchNormalization's running mean and variance are buffers (``stats``), passed to
``F.batch_norm`` as arrays: in ``eval()`` they normalise, in ``train()`` the batch statistics do
and the buffers are updated (ONNX's ``momentum`` 0.9 is PyTorch's 0.1). ``Gemm`` with
``transB=1`` (what exporters write for ``nn.Linear``) is ``F.linear``; other flags compose
``matmul``. LRN sums ``size`` neighbouring channels, ``floor((size - 1) / 2)`` below and
``ceil((size - 1) / 2)`` above; for an odd ``size`` that is PyTorch's window and the rule calls
``F.local_response_norm``, for an even one it composes the sum from a pooling.
"""

from __future__ import annotations

import numpy as np

from .. import tensor_ops as ops
from ..nn import functional as F
from ..nn.padding import pad_axes
from ..tensor import Tensor
from .ops_math import _lift, _pair
from .registry import Lowered, NodeCtx, broadcast, onnx_op
from .symbolic import size_product


def _check_batch_norm(attrs, opset):
    problems = []
    if attrs.get("spatial", 1) != 1:
        problems.append("spatial=0 (opset < 9 per-activation statistics); supported: spatial=1")
    if attrs.get("training_mode", 0):
        problems.append("training_mode=1 (an exported training graph); export the model in eval mode")
    return problems


@onnx_op("BatchNormalization", attrs=("epsilon", "momentum", "spatial", "is_test", "training_mode"),
         stats=(3, 4), check=_check_batch_norm)
def batch_norm(ctx: NodeCtx):
    x = ctx.input(0)
    c = x.shape[1] if x.rank >= 2 else None
    for i, name in enumerate(("scale", "B", "mean", "var"), 1):
        if ctx.input(i).shape != (c,):
            raise ctx.invalid(f"{name} has shape {ctx.input(i).shape}, expected ({c},) for the input {x.shape}")
    eps = float(ctx.attr("epsilon", 1e-5))
    momentum = 1.0 - float(ctx.attr("momentum", 0.9))
    owner = ctx.node.label

    def run(v, scale, bias, mean, var, training=False):
        mean, var = (m.data if isinstance(m, Tensor) else m for m in (mean, var))
        return F.batch_norm(v, mean, var, scale, bias, training, momentum, eps, owner=owner)
    return ctx.out(x.shape, x.dtype, run, uses_mode=True)


@onnx_op("InstanceNormalization", attrs=("epsilon",))
def instance_norm(ctx: NodeCtx):
    x = ctx.input(0)
    eps = float(ctx.attr("epsilon", 1e-5))
    owner = ctx.node.label
    return ctx.out(x.shape, x.dtype, lambda v, s, b: F.instance_norm(v, None, None, s, b, True, eps=eps, owner=owner))


@onnx_op("LayerNormalization", attrs=("axis", "epsilon", "stash_type"), outputs=3)
def layer_norm(ctx: NodeCtx):
    x, scale = ctx.input(0), ctx.input(1)
    axis = ctx.axis(int(ctx.attr("axis", -1)), x.rank)
    eps = float(ctx.attr("epsilon", 1e-5))
    shape = tuple(x.shape[axis:])
    broadcast(ctx, x.shape, scale.shape, *([ctx.input(2).shape] if ctx.has(2) else []))
    affine = scale.shape == shape and (not ctx.has(2) or ctx.input(2).shape == shape)
    stats = len(ctx.node.outputs) > 1                                   # Mean and InvStdDev are read too
    axes = tuple(range(axis, x.rank))
    owner = ctx.node.label

    def run(v, s, b=None):
        if affine:
            y = F.layer_norm(v, shape, s, b, eps, owner=owner)
        else:
            y = F.layer_norm(v, tuple(v.shape[axis:]), None, None, eps, owner=owner) * _lift(s, v)
            y = y if b is None else y + _lift(b, v)
        if not stats:
            return y
        mean = v.mean(axis=axes, keepdims=True)                         # (*, 1, ..., 1)
        centred = v - mean
        inv_std = 1.0 / ops.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
        return y, mean, inv_std
    stat_shape = x.shape[:axis] + (1,) * (x.rank - axis)
    outputs = [(x.shape, x.dtype), (stat_shape, x.dtype), (stat_shape, x.dtype)][:max(1, len(ctx.node.outputs))]
    return Lowered(outputs, run)


@onnx_op("GroupNormalization", attrs=("epsilon", "num_groups", "stash_type"))
def group_norm(ctx: NodeCtx):
    x, scale = ctx.input(0), ctx.input(1)
    groups = ctx.attr("num_groups")
    if groups is None:
        raise ctx.invalid("num_groups is required")
    groups = int(groups)
    c = x.shape[1]
    if c % groups:
        raise ctx.invalid(f"{c} channels do not divide into {groups} groups")
    eps = float(ctx.attr("epsilon", 1e-5))
    per_channel = scale.shape == (c,)
    if not per_channel and scale.shape != (groups,):
        raise ctx.invalid(f"scale {scale.shape} must have one value per channel ({c}) or per group ({groups})")
    owner = ctx.node.label

    def run(v, s, b):
        if per_channel:
            return F.group_norm(v, groups, s, b, eps, owner=owner)
        y = F.group_norm(v, groups, None, None, eps, owner=owner)      # opset 18: one scale and bias per group
        shape = (1, c) + (1,) * (v.ndim - 2)
        s, b = _lift(s, v), _lift(b, v)
        s = s.reshape(groups, 1).expand(groups, c // groups).reshape(shape)
        b = b.reshape(groups, 1).expand(groups, c // groups).reshape(shape)
        return y * s + b
    return ctx.out(x.shape, x.dtype, run)


@onnx_op("LRN", attrs=("alpha", "beta", "bias", "size"))
def lrn(ctx: NodeCtx):
    x = ctx.input(0)
    size = ctx.attr("size")
    if size is None or int(size) < 1:
        raise ctx.invalid("size must be a positive int")
    size = int(size)
    alpha, beta, bias = float(ctx.attr("alpha", 1e-4)), float(ctx.attr("beta", 0.75)), float(ctx.attr("bias", 1.0))
    owner = ctx.node.label
    if x.rank < 3:
        raise ctx.invalid(f"expected an input (N, C, *spatial), got {x.shape}")

    def run(v):
        if size % 2:
            return F.local_response_norm(v, size, alpha, beta, bias, owner=owner)
        n, c = v.shape[:2]
        squares = (v * v).reshape(n, 1, c, -1)                          # (N, 1, C, prod(S))
        below = (size - 1) // 2
        padded = pad_axes(squares, ((below, size - 1 - below), (0, 0)))
        mean = F.avg_pool(padded, 2, (size, 1), (1, 1))                 # (N, 1, C, prod(S)): the window's mean
        denominator = ops.pow(mean * alpha + bias, beta).reshape(v.shape)
        return v / denominator
    return ctx.out(x.shape, x.dtype, run)


# ----------------------------------------------------------------------------------------- products
@onnx_op("Gemm", attrs=("alpha", "beta", "transA", "transB", "broadcast"))
def gemm(ctx: NodeCtx):
    a, b = ctx.input(0), ctx.input(1)
    if a.rank != 2 or b.rank != 2:
        raise ctx.invalid(f"expects 2-D A and B, got {a.shape} and {b.shape}")
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k2:
        raise ctx.invalid(f"inner sizes differ: A {a.shape} (transA={int(trans_a)}), B {b.shape} (transB={int(trans_b)})")
    has_c = ctx.has(2)
    if has_c and broadcast(ctx, (m, n), ctx.input(2).shape) != (m, n):
        raise ctx.invalid(f"C {ctx.input(2).shape} does not broadcast to ({m}, {n})")
    linear = not trans_a and trans_b and alpha == 1 and (not has_c or beta == 1 and ctx.input(2).shape == (n,))
    owner = ctx.node.label

    def run(x, w, c=None):
        x, w = _pair(x, w)
        if linear:
            return F.linear(x, w, None if c is None else _lift(c, x), owner=owner)
        y = ops.matmul(x.T if trans_a else x, w.T if trans_b else w)
        if alpha != 1:
            y = y * alpha
        if c is not None and beta != 0:
            c = _lift(c, y)
            y = y + (c * beta if beta != 1 else c)
        return y
    return ctx.out((m, n), a.dtype, run, m * k * n)


@onnx_op("MatMul")
def matmul(ctx: NodeCtx):
    a, b = ctx.input(0), ctx.input(1)
    if a.rank == 0 or b.rank == 0:
        raise ctx.invalid("MatMul does not take scalars")
    sa = (1,) + a.shape if a.rank == 1 else a.shape
    sb = b.shape + (1,) if b.rank == 1 else b.shape
    if sa[-1] != sb[-2]:
        raise ctx.invalid(f"inner sizes differ: {a.shape} @ {b.shape}")
    batch = broadcast(ctx, sa[:-2], sb[:-2]) if len(sa) > 2 or len(sb) > 2 else ()
    shape = batch + ((sa[-2],) if a.rank > 1 else ()) + ((sb[-1],) if b.rank > 1 else ())
    macs = size_product(batch) * sa[-2] * sa[-1] * sb[-1]

    def run(x, y):
        if not isinstance(x, Tensor) and not isinstance(y, Tensor):
            return np.matmul(x, y)
        return ops.matmul(*_pair(x, y))
    return ctx.out(shape, a.dtype, run, macs)
