"""Resize and Upsample: ONNX's resampling rules as per-axis taps on strided's gather-and-adjoint.

Per resized axis of ``S`` inputs and ``O`` outputs, output ``o`` reads the source coordinate
``x(o)`` of the ``coordinate_transformation_mode`` (the scale is the one given in ``scales``,
or ``O / S`` from ``sizes``, never recomputed):

* ``half_pixel``: ``(o + 0.5) / scale - 0.5``; ``pytorch_half_pixel``: the same, 0 when ``O == 1``
  (read as -0.5); ``half_pixel_symmetric``: shifted so the output's centre maps to the input's;
* ``align_corners``: ``o * (S - 1) / (scale * S - 1)``; ``asymmetric``: ``o / scale``;
  ``tf_half_pixel_for_nn``: ``(o + 0.5) / scale``.

``nearest`` rounds ``x`` by ``nearest_mode`` (``round_prefer_floor`` (default),
``round_prefer_ceil``, ``floor``, ``ceil``), ``linear`` mixes ``floor(x)`` and ``floor(x) + 1``,
``cubic`` four pixels with Keys' kernel (``cubic_coeff_a``; ``exclude_outside`` drops the taps
outside the input and renormalises); every index is clamped to the input (edge replication).
Opset 10's Resize and Upsample are ``asymmetric`` with ``floor``. Each resized axis is a
``resample_axis`` gather whose backward is its exact adjoint (``nn.upsample``).
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.upsample import resample_axis, resample_axis_adjoint
from ..tensor import Tensor
from .registry import NodeCtx, onnx_op
from .symbolic import Sym

COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
                    "half_pixel_symmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
MODES = ("nearest", "linear", "cubic")


def _check_resize(attrs, opset):
    problems = []
    if attrs.get("mode", "nearest") not in MODES + ("bilinear", "trilinear"):
        problems.append(f"mode={attrs['mode']!r}; supported: {', '.join(MODES)}")
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    if ctm not in COORDINATE_MODES:
        problems.append(f"coordinate_transformation_mode={ctm!r}; supported: {', '.join(COORDINATE_MODES)}")
    if attrs.get("nearest_mode", "round_prefer_floor") not in NEAREST_MODES:
        problems.append(f"nearest_mode={attrs['nearest_mode']!r}; supported: {', '.join(NEAREST_MODES)}")
    if attrs.get("antialias", 0):
        problems.append("antialias=1; supported: 0")
    if attrs.get("keep_aspect_ratio_policy", "stretch") not in ("stretch", "not_larger", "not_smaller"):
        problems.append(f"keep_aspect_ratio_policy={attrs['keep_aspect_ratio_policy']!r}")
    return problems


def source_coordinates(n_in: int, n_out: int, scale: float, mode: str) -> np.ndarray:
    """``x(o)`` for ``o = 0 .. n_out - 1`` (float64), by ``coordinate_transformation_mode``."""
    o = np.arange(n_out, dtype=np.float64)
    length = scale * n_in                                               # ONNX's (fractional) output length
    if mode == "align_corners":
        return np.zeros(n_out) if length == 1 else o * (n_in - 1) / (length - 1)
    if mode == "asymmetric":
        return o / scale
    if mode == "pytorch_half_pixel":
        return np.full(n_out, -0.5) if length == 1 else (o + 0.5) / scale - 0.5
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    if mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / length)
        return offset + (o + 0.5) / scale - 0.5
    return (o + 0.5) / scale - 0.5                                      # half_pixel


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' weights of the pixels at distances ``t + 1, t, 1 - t, 2 - t`` (``(4, O)``)."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)])


def axis_taps(n_in: int, n_out: int, scale: float, mode: str, ctm: str, nearest: str, cubic_a: float,
              exclude_outside: bool):
    """``(index (K, O), weight (K, O) or None)`` of one resized axis."""
    x = source_coordinates(n_in, n_out, scale, ctm)
    base = np.floor(x)
    frac = x - base
    if mode == "nearest":
        if nearest == "floor":
            index = base
        elif nearest == "ceil":
            index = np.ceil(x)
        elif nearest == "round_prefer_ceil":
            index = np.where(frac < 0.5, base, base + 1)
        else:
            index = np.where(frac <= 0.5, base, base + 1)
        return np.clip(index, 0, n_in - 1).astype(np.int64)[None], None
    if mode == "linear":
        index = np.stack([base, base + 1])
        weight = np.stack([1 - frac, frac])
    else:
        index = np.stack([base - 1, base, base + 1, base + 2])
        weight = _cubic(frac, cubic_a)
        if exclude_outside:
            weight = np.where((index < 0) | (index > n_in - 1), 0.0, weight)
            weight = weight / weight.sum(axis=0, keepdims=True)
    return np.clip(index, 0, n_in - 1).astype(np.int64), weight


def resample(x: Tensor, taps) -> Tensor:
    """``x`` resampled along each ``(axis, index, weight, n_in)`` of ``taps``; the backward is the adjoint."""
    out = x.data
    for axis, index, weight, _ in taps:
        out = resample_axis(out, index, weight, axis)

    def backward(g):
        for axis, index, weight, n in reversed(taps):
            g = resample_axis_adjoint(g, index, weight, axis, n)
        return (g,)
    return Tensor.from_op(np.ascontiguousarray(out), (x,), backward, "resize")


def _lower(ctx: NodeCtx, scales, sizes, mode: str, ctm: str, nearest: str):
    x = ctx.input(0)
    rank = x.rank
    axes = list(range(rank))
    if ctx.attr("axes") is not None:
        axes = [ctx.axis(a, rank, "axes entry") for a in ctx.ints("axes")]
    full_scales, out = [1.0] * rank, list(x.shape)
    if sizes is not None:
        if len(sizes) != len(axes):
            raise ctx.invalid(f"sizes {sizes} must have one entry per resized axis ({len(axes)})")
        for a, s in zip(axes, sizes):
            out[a] = int(s)
        ratios = [out[a] / x.shape[a] if not isinstance(x.shape[a], Sym) else 1.0 for a in range(rank)]
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            scale = pick(ratios[a] for a in axes)
            for a in axes:
                ratios[a] = scale
                out[a] = int(scale * x.shape[a] + 0.5)
        full_scales = ratios
    else:
        if scales is None or len(scales) != len(axes):
            raise ctx.invalid(f"scales {scales} must have one entry per resized axis ({len(axes)})")
        for a, s in zip(axes, scales):
            full_scales[a] = float(s)
            if full_scales[a] <= 0:
                raise ctx.invalid(f"scales {scales} must be positive")
            if isinstance(x.shape[a], Sym):
                if full_scales[a] != 1:
                    raise ctx.fail(f"resizes the run-time axis {a}")
                continue
            out[a] = int(full_scales[a] * x.shape[a])
    taps = []
    for a in range(rank):
        n_in, n_out, scale = x.shape[a], out[a], full_scales[a]
        if isinstance(n_in, Sym) or (math.isclose(scale, 1.0) and n_out == n_in):
            continue
        if n_out < 1:
            raise ctx.invalid(f"axis {a} of size {n_in} resized by {scale} has no output")
        index, weight = axis_taps(n_in, n_out, scale, mode, ctm, nearest, float(ctx.attr("cubic_coeff_a", -0.75)),
                                  bool(ctx.attr("exclude_outside", 0)))
        taps.append((a, index, weight, n_in))

    def run(v, *_):
        if not taps:
            return v
        return resample(v if isinstance(v, Tensor) else Tensor(v), taps)
    return ctx.out(tuple(out), x.dtype, run)


@onnx_op("Resize", attrs=("antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                          "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode"),
         static=(1, 2, 3), check=_check_resize)
def resize(ctx: NodeCtx):
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(ctx.attr("mode", "nearest"), ctx.attr("mode", "nearest"))
    if ctx.opset < 11:
        scales = ctx.const(1)
        return _lower(ctx, [float(s) for s in np.asarray(scales).reshape(-1)], None, mode, "asymmetric", "floor")
    roi = ctx.const(1)
    scales = ctx.const(2)
    sizes = ctx.const_ints(3)
    ctm = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if ctm == "tf_crop_and_resize":
        raise ctx.fail("coordinate_transformation_mode='tf_crop_and_resize'")
    del roi                                                             # only tf_crop_and_resize reads it
    if scales is not None and np.asarray(scales).size == 0:
        scales = None
    if (scales is None) == (sizes is None):
        raise ctx.invalid("exactly one of scales and sizes must be given")
    scales = None if scales is None else [float(s) for s in np.asarray(scales).reshape(-1)]
    return _lower(ctx, scales, sizes, mode, ctm, ctx.attr("nearest_mode", "round_prefer_floor"))


@onnx_op("Upsample", attrs=("mode", "scales", "height_scale", "width_scale"), static=(1,), check=_check_resize)
def upsample(ctx: NodeCtx):
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(ctx.attr("mode", "nearest"), ctx.attr("mode", "nearest"))
    scales = ctx.attr("scales") if ctx.opset < 9 else [float(s) for s in np.asarray(ctx.const(1)).reshape(-1)]
    return _lower(ctx, scales, None, mode, "asymmetric", "floor")
