"""ONNX's windowed operators on strided's ops: Conv, ConvTranspose, MaxPool, AveragePool, LpPool,
GlobalAveragePool, GlobalMaxPool.

ONNX geometry becomes strided's: ``pads = [x1_begin, x2_begin, ..., x1_end, x2_end]`` become
``(lo, hi)`` pairs (asymmetric padding is native), ``auto_pad`` (``SAME_UPPER``: the odd extra
pad at the end, ``SAME_LOWER``: at the start, ``VALID``) is resolved against the static input
size, and ``dilations``, ``group``, ``ceil_mode`` and ``count_include_pad`` map 1:1. Where ONNX
allows what strided's layers refuse (pooling padded by more than half the kernel, a transposed
convolution's negative pads or large ``output_padding``), the rule pads, pools and crops
explicitly with the same ops, so the node stays differentiable and exact. ``ceil_mode`` follows
PyTorch's rule (a last window starting in the end padding is dropped), as onnxruntime does.
"""

from __future__ import annotations

import numpy as np

from ..geometry.sizes import conv_output_size
from ..nn import functional as F
from ..nn.padding import pad_axes
from .registry import NodeCtx, onnx_op, static_int

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "")


def _check_auto_pad(attrs, opset):
    value = attrs.get("auto_pad", "NOTSET")
    return [] if value in AUTO_PADS else [f"auto_pad={value!r}; supported: NOTSET, SAME_UPPER, SAME_LOWER, VALID"]


def _spatial(ctx: NodeCtx, x, d: int):
    if x.rank != d + 2:
        raise ctx.invalid(f"expected an input (N, C, *{d} spatial sizes), got {x.shape}")
    return [static_int(ctx, n, f"spatial size {i}") for i, n in enumerate(x.shape[2:])]


def _geometry(ctx: NodeCtx, d: int, kernel, default_stride=1):
    strides = ctx.ints("strides") or [default_stride] * d
    dilations = ctx.ints("dilations") or [1] * d
    if len(strides) != d or len(dilations) != d or len(kernel) != d:
        raise ctx.invalid(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} must each have "
                          f"{d} entries")
    if min(strides + dilations + list(kernel)) < 1:
        raise ctx.invalid(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} must be positive")
    return strides, dilations


def window_pads(ctx: NodeCtx, sizes, kernel, strides, dilations):
    """``(lo, hi)`` per spatial axis from ``pads`` or ``auto_pad``."""
    d = len(kernel)
    auto = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto == "VALID":
        return [(0, 0)] * d
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for n, k, s, dl in zip(sizes, kernel, strides, dilations):
            total = max(0, (-(-n // s) - 1) * s + (k - 1) * dl + 1 - n)
            small, big = total // 2, total - total // 2
            pairs.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return pairs
    pads = ctx.ints("pads") or [0] * (2 * d)
    if len(pads) != 2 * d:
        raise ctx.invalid(f"pads {pads} must have 2 x {d} entries (all begins, then all ends)")
    return [(pads[i], pads[i + d]) for i in range(d)]


def _out_sizes(ctx: NodeCtx, sizes, kernel, strides, pairs, dilations, ceil_mode=False):
    out = [conv_output_size(n, k, s, p, dl, ceil_mode) for n, k, s, p, dl in zip(sizes, kernel, strides, pairs,
                                                                                  dilations)]
    if min(out) < 1:
        raise ctx.invalid(f"the kernel {kernel} (dilations {dilations}) does not fit the input {sizes} padded "
                          f"by {pairs}")
    return out


# ----------------------------------------------------------------------------------------- convolution
@onnx_op("Conv", attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"), check=_check_auto_pad)
def conv(ctx: NodeCtx):
    x, w, _, sizes, kernel, group, strides, dilations = _windowed(ctx)
    c_out, c_in_g = w.shape[:2]
    if x.shape[1] != c_in_g * group or c_out % group:
        raise ctx.invalid(f"input channels {x.shape[1]} do not match the weight {w.shape} with group={group}")
    pairs = window_pads(ctx, sizes, kernel, strides, dilations)
    out = _out_sizes(ctx, sizes, kernel, strides, pairs, dilations)
    macs = int(np.prod(out)) * c_out * c_in_g * int(np.prod(kernel))
    padding = tuple(pairs)

    def run(v, weight, bias=None):
        return F.conv(v, weight, bias, tuple(strides), padding, tuple(dilations), group, owner=ctx.node.label)
    return ctx.out((x.shape[0], c_out, *out), x.dtype, run, macs * x.shape[0])


def _windowed(ctx: NodeCtx):
    """What Conv and ConvTranspose read alike: input, weight, spatial rank and sizes, the kernel (checked
    against the weight's), group, strides and dilations."""
    x, w = ctx.input(0), ctx.input(1)
    d = w.rank - 2
    sizes = _spatial(ctx, x, d)
    kernel = ctx.ints("kernel_shape") or list(w.shape[2:])
    if list(kernel) != list(w.shape[2:]):
        raise ctx.invalid(f"kernel_shape {kernel} differs from the weight's {w.shape}")
    group = int(ctx.attr("group", 1))
    strides, dilations = _geometry(ctx, d, kernel)
    return x, w, d, sizes, kernel, group, strides, dilations


@onnx_op("ConvTranspose", attrs=("auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape",
                                 "pads", "strides"), check=_check_auto_pad)
def conv_transpose(ctx: NodeCtx):
    x, w, d, sizes, kernel, group, strides, dilations = _windowed(ctx)
    if x.shape[1] != w.shape[0] or w.shape[0] % group:
        raise ctx.invalid(f"input channels {x.shape[1]} do not match the weight {w.shape} with group={group}")
    c_out = w.shape[1] * group
    extra = ctx.ints("output_padding") or [0] * d
    grid = [s * (n - 1) + (k - 1) * dl + 1 for n, k, s, dl in zip(sizes, kernel, strides, dilations)]
    auto = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    wanted = ctx.ints("output_shape")
    if wanted is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        if wanted is None:
            wanted = [n * s for n, s in zip(sizes, strides)]
        wanted = wanted[-d:]
        pairs = []
        for g, op, o in zip(grid, extra, wanted):
            total = g + op - o
            small, big = total // 2, total - total // 2
            pairs.append((small, big) if auto == "SAME_UPPER" else (big, small))
    elif auto == "VALID":
        pairs = [(0, 0)] * d
    else:
        pads = ctx.ints("pads") or [0] * (2 * d)
        if len(pads) != 2 * d:
            raise ctx.invalid(f"pads {pads} must have 2 x {d} entries")
        pairs = [(pads[i], pads[i + d]) for i in range(d)]
    out = [g + op - lo - hi for g, op, (lo, hi) in zip(grid, extra, pairs)]
    if min(out) < 1:
        raise ctx.invalid(f"pads {pairs} crop the whole output")
    native = all(lo >= 0 and hi >= 0 and (op < s or op < dl) for (lo, hi), op, s, dl in
                 zip(pairs, extra, strides, dilations))
    macs = int(np.prod(sizes)) * x.shape[1] * w.shape[1] * int(np.prod(kernel))
    owner = ctx.node.label

    def run(v, weight, bias=None):
        if native:
            return F.conv_transpose(v, weight, bias, tuple(strides), tuple(pairs), tuple(extra), group,
                                    tuple(dilations), owner=owner)
        full = F.conv_transpose(v, weight, None, tuple(strides), 0, 0, group, tuple(dilations), owner=owner)
        y = pad_axes(full, tuple((-lo, op - hi) for (lo, hi), op in zip(pairs, extra)), owner=owner)
        return y if bias is None else y + bias.reshape((c_out,) + (1,) * d)
    return ctx.out((x.shape[0], c_out, *out), x.dtype, run, macs * x.shape[0])


# ----------------------------------------------------------------------------------------- pooling
def _pool_setup(ctx: NodeCtx, dilated: bool = True):
    x = ctx.input(0)
    kernel = ctx.ints("kernel_shape")
    if not kernel:
        raise ctx.invalid("kernel_shape is required")
    d = len(kernel)
    sizes = _spatial(ctx, x, d)
    strides, dilations = _geometry(ctx, d, kernel)
    if not dilated and dilations != [1] * d:
        raise ctx.fail(f"dilations {dilations}; supported: 1 (strided's average and Lp pooling take no dilation)")
    pairs = window_pads(ctx, sizes, kernel, strides, dilations)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    auto = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto != "NOTSET":
        ceil_mode = False                                               # auto_pad fixes the output size itself
    out = _out_sizes(ctx, sizes, kernel, strides, pairs, dilations, ceil_mode)
    native = all(max(lo, hi) <= k // 2 for (lo, hi), k in zip(pairs, kernel))
    return x, d, kernel, strides, dilations, pairs, ceil_mode, out, native


def _crop(y, out):
    """The leading ``out`` positions of each spatial axis (PyTorch's ``ceil_mode`` count after explicit padding)."""
    if tuple(y.shape[2:]) == tuple(out):
        return y
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]


@onnx_op("MaxPool", attrs=("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"),
         check=_check_auto_pad)
def max_pool(ctx: NodeCtx):
    x, d, kernel, strides, dilations, pairs, ceil_mode, out, native = _pool_setup(ctx)
    owner = ctx.node.label

    def run(v):
        if native:
            return F.max_pool(v, d, tuple(kernel), tuple(strides), tuple(pairs), tuple(dilations), ceil_mode,
                              owner=owner)
        padded = pad_axes(v, tuple(pairs), "constant", -np.inf, owner)
        return _crop(F.max_pool(padded, d, tuple(kernel), tuple(strides), 0, tuple(dilations), ceil_mode,
                                owner=owner), out)
    return ctx.out((x.shape[0], x.shape[1], *out), x.dtype, run)


@onnx_op("AveragePool", attrs=("auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads",
                               "strides"), check=_check_auto_pad)
def average_pool(ctx: NodeCtx):
    x, d, kernel, strides, _, pairs, ceil_mode, out, native = _pool_setup(ctx, dilated=False)
    include = bool(ctx.attr("count_include_pad", 0))
    owner = ctx.node.label
    k, s = tuple(kernel), tuple(strides)

    def run(v):
        if native:
            return F.avg_pool(v, d, k, s, tuple(pairs), ceil_mode, include, owner=owner)
        padded = pad_axes(v, tuple(pairs), owner=owner)
        if include:
            return _crop(F.avg_pool(padded, d, k, s, 0, ceil_mode, True, owner=owner), out)
        total = F.avg_pool(padded, d, k, s, 0, ceil_mode, True, divisor_override=1, owner=owner)
        ones = np.ones((1, 1) + tuple(v.shape[2:]), dtype=v.dtype)
        count = F.avg_pool(pad_axes(ones, tuple(pairs)), d, k, s, 0, ceil_mode, True, divisor_override=1).data
        return _crop(total / count, out)
    return ctx.out((x.shape[0], x.shape[1], *out), x.dtype, run)


@onnx_op("LpPool", attrs=("auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"),
         check=_check_auto_pad)
def lp_pool(ctx: NodeCtx):
    x, d, kernel, strides, _, pairs, ceil_mode, out, _ = _pool_setup(ctx, dilated=False)
    if ceil_mode:
        raise ctx.fail("ceil_mode=1; supported: 0")
    p = int(ctx.attr("p", 2))
    if p < 1:
        raise ctx.invalid(f"p={p} must be positive")
    owner = ctx.node.label

    def run(v):
        a = v if p % 2 == 0 else v.abs()                                # ONNX sums |x|^p
        if any(lo or hi for lo, hi in pairs):
            a = pad_axes(a, tuple(pairs), owner=owner)                  # zeros add nothing to the sum
        return F.lp_pool(a, d, float(p), tuple(kernel), tuple(strides), owner=owner)
    return ctx.out((x.shape[0], x.shape[1], *out), x.dtype, run)


@onnx_op("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: NodeCtx):
    x = ctx.input(0)
    if x.rank < 3:
        raise ctx.invalid(f"expected an input (N, C, *spatial), got {x.shape}")
    axes = tuple(range(2, x.rank))
    average = ctx.op == "GlobalAveragePool"

    def run(v):
        return v.mean(axis=axes, keepdims=True) if average else v.max(axis=axes, keepdims=True)
    return ctx.out(x.shape[:2] + (1,) * (x.rank - 2), x.dtype, run)
