"""Interpolation (``interpolate``, ``Upsample``): nearest, nearest-exact, (bi/tri)linear and area resampling.

Every mode except ``'area'`` is separable: an axis of ``S`` input pixels resampled to ``O``
outputs is a list of taps, ``out[o] = sum_k weight[k, o] * in[index[k, o]]`` (one tap for the
nearest modes, two for linear), and an N-d resampling is one axis after the other. The forward
gathers each tap with ``padding.take_axis``; the backward is the adjoint, axis by axis in reverse
order: the output gradient times each tap's weight, added back to the pixel the tap read
(``padding.take_axis_adjoint``). ``'area'`` is adaptive average pooling to the output size.

PyTorch's coordinate rules (``aten/src/ATen/native/UpSample.h``), per axis, with the scale
``r = 1 / scale_factor`` when a scale factor is given (and not recomputed), else ``S / O``:

* ``nearest``: ``index = min(floor(o * r), S - 1)`` (OpenCV's rule, kept by PyTorch);
* ``nearest-exact``: ``index = min(floor((o + 0.5) * r), S - 1)`` (Pillow's and scikit-image's);
* ``linear``: source ``x = max((o + 0.5) * r - 0.5, 0)``, or ``x = o * (S - 1) / (O - 1)`` with
  ``align_corners=True`` (corner pixels' centres aligned; no scale factor involved), then
  ``(1 - t) * in[i] + t * in[i + 1]`` with ``i = floor(x)``, ``t = x - i`` (``i + 1`` clamped to
  ``S - 1``). An axis whose output size equals its input size is copied, as in PyTorch.

Coordinates are computed in the input's precision and floored after rounding to float32, as
PyTorch's CPU kernels do, so float32 and float64 inputs both pick PyTorch's pixels. The output
size is ``floor(S * scale_factor)`` or ``size``. With ``recompute_scale_factor=True`` the scale
becomes ``S / O`` of that output size (PyTorch's default ``None`` keeps the given factor:
``scale_factor=1.5`` on 5 pixels gives 7 outputs at spacing ``1/1.5``, not ``5/7``).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from .. import fast
from ..backend import dense_memory, namespace
from ..checks import is_int
from ..errors import ShapeError, expected_input
from ..geometry import ReceptiveField, adaptive_window
from ..tensor import Tensor, as_tensor
from .adaptive import adaptive_avg_pool
from .allocation import check_bytes
from .helpers import expected_batched_input, expected_layout
from .module import Module
from .padding import check_mode, take_axis, take_axis_adjoint
from .registry import register_layer

INTERPOLATE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")
LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


# ------------------------------------------------------------------------------------- arguments and geometry
def _per_axis(value, d: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * d


def check_interpolate(size, scale_factor, mode, align_corners, recompute_scale_factor, owner: str):
    """The checks that need no input; returns ``size`` and ``scale_factor`` normalised
    (an int or a tuple of ints; a float or a tuple of floats)."""
    check_mode(mode, owner, INTERPOLATE_MODES)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{owner}: exactly one of size or scale_factor must be given, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    if align_corners is not None:
        if not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(f"{owner}: align_corners must be None, True or False, got {align_corners!r}")
        if mode not in LINEAR_MODES:
            raise ValueError(f"{owner}: align_corners can only be set with the interpolating modes 'linear', "
                             f"'bilinear' and 'trilinear', got mode={mode!r}")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{owner}: recompute_scale_factor is not meaningful with an explicit size")
    if size is not None:
        values = size if isinstance(size, (tuple, list)) else (size,)
        if not values or not all(is_int(v) for v in values):
            raise TypeError(f"{owner}: size must be an int or a tuple of ints, got {size!r}")
        if any(v < 1 for v in values):
            raise ValueError(f"{owner}: size must be >= 1, got {size!r}")
        return (int(size) if is_int(size) else tuple(int(v) for v in size)), None
    values = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,)
    if not values or not all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(f"{owner}: scale_factor must be a number or a tuple of numbers, got {scale_factor!r}")
    if not all(v > 0 and math.isfinite(v) for v in values):
        raise ValueError(f"{owner}: scale_factor must be positive, got {scale_factor!r}")
    return None, (tuple(float(v) for v in scale_factor) if isinstance(scale_factor, (tuple, list))
                  else float(scale_factor))


def resample_geometry(in_shape, size, scale_factor, mode, align_corners, recompute_scale_factor, owner: str):
    """Check an interpolation against ``in_shape``; returns ``(out_sizes, scales)``, ``scales`` holding
    the scale factor PyTorch's kernels use per axis (``None``: ``S / O``)."""
    size, scale_factor = check_interpolate(size, scale_factor, mode, align_corners, recompute_scale_factor, owner)
    in_shape = tuple(in_shape)
    d = len(in_shape) - 2
    if d not in (1, 2, 3):
        raise expected_input(owner, "(N, C, L), (N, C, H, W) or (N, C, D, H, W)", in_shape)
    if LINEAR_MODES.get(mode, d) != d:
        raise expected_batched_input(owner, f"{expected_layout(LINEAR_MODES[mode])} for mode={mode!r}", in_shape,
                                     LINEAR_MODES[mode] + 2)
    given = size if size is not None else scale_factor
    values = _per_axis(given, d)
    if len(values) != d:
        name = "size" if size is not None else "scale_factor"
        raise ShapeError(f"{owner}: {name} must have one entry per spatial axis of input {tuple(in_shape)}, "
                         f"got {given!r}")
    if size is not None:
        out, scales = values, (None,) * d
    else:
        out = tuple(math.floor(float(n) * f) for n, f in zip(in_shape[2:], values))
        scales = (None,) * d if recompute_scale_factor or mode == "area" else values
    if any(o < 1 for o in out):
        raise ShapeError(f"{owner}: output sizes must be >= 1, got {out} for input {tuple(in_shape)}")
    return out, scales


def source_scale(n_in: int, n_out: int, scale, align_corners: bool, dtype=np.float64):
    """Input pixels per output step (PyTorch's ``area_pixel_compute_scale``), in ``dtype``."""
    ct = np.dtype(dtype).type
    if align_corners:
        return ct(n_in - 1) / ct(n_out - 1) if n_out > 1 else ct(0)
    return ct(1.0 / scale) if scale is not None else ct(n_in) / ct(n_out)


def axis_taps(n_in: int, n_out: int, scale, mode: str, align_corners: bool, dtype=np.float64):
    """The taps of one axis: ``index`` ``(K, O)`` and ``weight`` ``(K, O)`` (``None`` for one tap of weight 1).

    Source coordinates are computed in ``dtype`` (the input's, as PyTorch's kernels do), rounded once:
    PyTorch's compiled ``r * (o + 0.5) - 0.5`` is a fused multiply-add, so in float32 the product
    and the difference are taken in float64 (where both are exact) and rounded to float32 after.
    """
    r = np.float64(source_scale(n_in, n_out, scale, align_corners, dtype))   # a value of dtype
    o = np.arange(n_out, dtype=np.float64)                              # (O,)
    corner = (r * o).astype(dtype)                                      # (O,) o * r
    centre = np.maximum((r * (o + 0.5) - 0.5).astype(dtype), 0)         # (O,) (o + 0.5) * r - 0.5, clamped at 0
    if mode == "nearest":
        index = np.floor(corner.astype(np.float32))                    # (O,)
        return np.minimum(index.astype(np.int64), n_in - 1)[None], None
    if mode == "nearest-exact":
        index = np.floor((centre.astype(np.float64) + 0.5).astype(np.float32))
        return np.minimum(index.astype(np.int64), n_in - 1)[None], None
    if n_out == n_in:                                                   # linear: PyTorch copies the axis
        return np.arange(n_in)[None], None
    x = corner if align_corners else centre                             # (O,) source coordinates
    i0 = np.minimum(np.floor(x.astype(np.float32)).astype(np.int64), n_in - 1)
    t = np.clip(x - i0, 0, 1).astype(dtype)                             # (O,) weight of the right neighbour
    i1 = i0 + (i0 < n_in - 1)
    return np.stack([i0, i1]), np.stack([1 - t, t])                     # (2, O) each


COMPILED_RUN = 16
"""The compiled path resamples an axis (``fast/resample.py``) when the memory after it holds at
least this many values: a batch-last ``(C, H, W, N)`` along ``W`` from a batch of 16."""


def _compiled_axis(a: np.ndarray, index, weight, axis: int, size_out: int, adjoint: bool):
    """``resample_axis`` (or its adjoint) by the kernels of ``fast/resample.py`` on ``a``'s memory
    seen as ``(A, S, B)``, the result in ``a``'s layout; ``None`` where they do not apply (NumPy
    alone, another backend, memory that is not one dense block, rows ``B`` under ``COMPILED_RUN``)."""
    memory = dense_memory(a) if a.size and fast.applies(a) else None   # C order or batch-last
    if memory is None:
        return None
    order = tuple(range(a.ndim)) if memory is a else tuple(range(1, a.ndim)) + (0,)   # memory's axes
    m = order.index(axis)
    inner = math.prod(memory.shape[m + 1:])
    if inner < COMPILED_RUN:
        return None
    outer = math.prod(memory.shape[:m])
    shape = memory.shape[:m] + (size_out,) + memory.shape[m + 1:]
    out = np.zeros(shape, dtype=a.dtype) if adjoint else np.empty(shape, dtype=a.dtype)
    taps = np.ones((1, len(index[0])), dtype=a.dtype) if weight is None else weight.astype(a.dtype)   # (K, O)
    kernels = fast.kernels("resample")
    kernel = kernels.resample_backward if adjoint else kernels.resample_forward
    kernel(memory.reshape(outer, memory.shape[m], inner), np.ascontiguousarray(index, dtype=np.int64), taps,
           out.reshape(outer, size_out, inner))
    return out.transpose(np.argsort(order))                             # (..., size_out, ...), a's layout


def resample_axis(a: np.ndarray, index, weight, axis: int) -> np.ndarray:
    """``out[..., o, ...] = sum_k weight[k, o] * a[..., index[k, o], ...]``, in ``a``'s layout.

    ``index`` and ``weight`` are the host arrays of ``axis_taps``; the weights move to ``a``'s device.
    """
    out = _compiled_axis(a, index, weight, axis, len(index[0]), adjoint=False)
    if out is not None:
        return out
    if weight is None:
        return take_axis(a, index[0], axis)
    w = namespace(a).asarray(weight.astype(a.dtype)).reshape((len(weight), -1) + (1,) * (a.ndim - axis - 1))   # (K, O, 1, ...)
    out = take_axis(a, index[0], axis) * w[0]                           # (..., O, ...)
    for k in range(1, len(index)):
        out += take_axis(a, index[k], axis) * w[k]
    return out


def resample_axis_adjoint(g: np.ndarray, index, weight, axis: int, n_in: int) -> np.ndarray:
    """The adjoint of ``resample_axis``: each tap's weighted gradient added back to the pixel it read."""
    gx = _compiled_axis(g, index, weight, axis, n_in, adjoint=True)
    if gx is not None:
        return gx
    if weight is None:
        return take_axis_adjoint(g, index[0], axis, n_in)
    w = namespace(g).asarray(weight.astype(g.dtype)).reshape((len(weight), -1) + (1,) * (g.ndim - axis - 1))   # (K, O, 1, ...)
    total = take_axis_adjoint(g * w[0], index[0], axis, n_in)          # (..., S, ...)
    for k in range(1, len(index)):
        total = total + take_axis_adjoint(g * w[k], index[k], axis, n_in)
    return total


# ------------------------------------------------------------------------------------- the op
def interpolate(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False, owner: str | None = None) -> Tensor:
    """Resample ``(N, C, *S)`` to ``size`` or by ``scale_factor``, as ``torch.nn.functional.interpolate``.

    Args:
        x: the input ``(N, C, *S)`` with 1 to 3 spatial axes.
        size: the output's spatial size, an int (every axis) or one int per axis; exactly one of
            ``size`` and ``scale_factor`` is given (default ``None``).
        scale_factor: the output-to-input size ratio, a number or one per axis: ``O = floor(S * scale_factor)``
            (default ``None``).
        mode: ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'`` (3-D input), ``'bilinear'`` (4-D),
            ``'trilinear'`` (5-D) or ``'area'`` (adaptive average pooling to the output size).
        align_corners: linear modes only: align the corner pixels' centres, ``x = o * (S - 1) / (O - 1)``
            (default ``None``: ``False``).
        recompute_scale_factor: with ``scale_factor``, resample at ``S / O`` of the rounded output size
            rather than at the given factor (default ``None``: the given factor, as PyTorch).
        antialias: must be ``False`` (default); PyTorch's anti-aliased down-sampling is not supported.
        owner: the layer name that error messages start with (default ``interpolate``).

    Shape: ``(N, C, *S) -> (N, C, *O)``, ``O = size`` or ``floor(S * scale_factor)``.

    >>> interpolate(np.array([[[0.0, 1.0]]]), scale_factor=2, mode="linear").data.tolist()
    [[[0.0, 0.25, 0.75, 1.0]]]
    """
    owner = owner or "interpolate"
    x = as_tensor(x)
    if antialias:
        raise ValueError(f"{owner}: antialias=True is not supported")
    out_sizes, scales = resample_geometry(x.shape, size, scale_factor, mode, align_corners,
                                          recompute_scale_factor, owner)
    d = x.ndim - 2
    lead = x.shape[:2]
    widest = tuple(max(n, o) for n, o in zip(x.shape[2:], out_sizes))  # bounds every axis-by-axis intermediate
    check_bytes(owner, 2 * math.prod(lead + widest) * x.data.itemsize, f"its output {lead + out_sizes}", x.shape)
    if mode == "area":
        return adaptive_avg_pool(x, d, out_sizes, owner)
    taps = [axis_taps(n, o, s, mode, bool(align_corners), x.dtype) for n, o, s in zip(x.shape[2:], out_sizes, scales)]
    out = x.data                                                        # (N, C, *S)
    for a, (index, weight) in enumerate(taps):
        out = resample_axis(out, index, weight, 2 + a)                  # axis a: S_a -> O_a

    def backward(g):
        for a in reversed(range(d)):
            index, weight = taps[a]
            g = resample_axis_adjoint(g, index, weight, 2 + a, x.shape[2 + a])   # axis a: O_a -> S_a
        return (g,)                                                     # (N, C, *S)
    return Tensor.from_op(out, (x,), backward, f"interpolate_{mode}")


def resample_receptive_field(rf: ReceptiveField, in_shape, out_sizes, scales, mode: str,
                             align_corners: bool) -> ReceptiveField:
    """The receptive field of a resampling: an envelope with a fractional jump.

    Per axis the jump is the source step ``r`` (``source_scale``) and output ``o`` is centred at
    ``start + o * r``; the size is the smallest that keeps every input pixel with a nonzero
    weight in every output's window (computed from the real taps, so a copy or an integer
    down-sampling by ``nearest`` is exact). ``'area'`` follows ``AdaptiveAvgPool``.
    """
    sizes = tuple(in_shape[2:])
    if mode == "area":
        kernel, stride, pad_lo = zip(*(adaptive_window(n, o) for n, o in zip(sizes, out_sizes)))
        return rf.through_window(kernel, stride, pad_lo, (1,) * len(sizes))
    size, jump, start = [], [], []
    for n, o, s, rf_size, rf_jump, rf_start in zip(sizes, out_sizes, scales, rf.size, rf.jump, rf.start):
        index, weight = axis_taps(n, o, s, mode, align_corners)         # (K, O)
        r = float(source_scale(n, o, s, align_corners)) or n            # one output: any step
        live = np.ones(index.shape, dtype=bool) if weight is None else weight != 0
        step = np.arange(o) * r                                         # (O,) centre offsets
        lo = (np.where(live, index, np.inf).min(axis=0) - step).min()   # nearest read pixel below a centre
        hi = (np.where(live, index, -np.inf).max(axis=0) - step).max()
        size.append(round(float(rf_size + (hi - lo) * rf_jump), 12))   # rounded: no float noise in summaries
        jump.append(round(float(rf_jump * r), 12))
        start.append(round(float(rf_start + (hi + lo) / 2 * rf_jump), 12))
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


# ------------------------------------------------------------------------------------- layers
@register_layer(example=lambda: (Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)))
class Upsample(Module):
    """Resampling layer: ``interpolate`` with fixed ``size`` or ``scale_factor``, ``mode`` and ``align_corners``.

    Shape: ``(N, C, *S) -> (N, C, *O)``, ``O = size`` or ``floor(S * scale_factor)``; no parameters
    and no MACs (interpolation is not counted, like pooling). Receptive field: see
    ``resample_receptive_field`` (an envelope: up-sampling makes the jump fractional).

    Args:
        size: the output's spatial size, an int (every axis) or one int per axis; exactly one of
            ``size`` and ``scale_factor`` is given (default ``None``).
        scale_factor: the output-to-input size ratio, a number or one per axis: ``O = floor(S * scale_factor)``
            (default ``None``).
        mode: ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'`` (3-D input), ``'bilinear'`` (4-D),
            ``'trilinear'`` (5-D) or ``'area'`` (adaptive average pooling to the output size).
        align_corners: linear modes only: align the corner pixels' centres, ``x = o * (S - 1) / (O - 1)``
            (default ``None``: ``False``).
        recompute_scale_factor: with ``scale_factor``, resample at ``S / O`` of the rounded output size
            rather than at the given factor (default ``None``: the given factor, as PyTorch).

    >>> Upsample(scale_factor=2, mode="nearest").output_shape((1, 8, 5, 7))
    (1, 8, 10, 14)
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor = check_interpolate(size, scale_factor, mode, align_corners,
                                                         recompute_scale_factor, type(self).__name__)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def _geometry(self, in_shape):
        return resample_geometry(tuple(in_shape), self.size, self.scale_factor, self.mode, self.align_corners,
                                 self.recompute_scale_factor, self._describe())

    def forward(self, x) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor, owner=self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:2]) + self._geometry(in_shape)[0]

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        out_sizes, scales = self._geometry(in_shape)
        return resample_receptive_field(rf, in_shape, out_sizes, scales, self.mode, bool(self.align_corners))

    def extra_repr(self) -> str:
        text = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        text += f", mode={self.mode!r}"
        if self.align_corners is not None:
            text += f", align_corners={self.align_corners}"
        return text + (f", recompute_scale_factor={self.recompute_scale_factor}"
                       if self.recompute_scale_factor is not None else "")


@register_layer(example=lambda: (UpsamplingNearest2d(scale_factor=2), (2, 3, 3, 4)))
class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` for ``(N, C, H, W)`` (PyTorch's older name).

    Args:
        size: the output's ``(H_out, W_out)``, or one int for both; exactly one of ``size`` and
            ``scale_factor`` is given (default ``None``).
        scale_factor: the output-to-input size ratio, a number or one per axis (default ``None``).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``.

    Example:
        >>> UpsamplingNearest2d(scale_factor=2)(np.array([[[[1.0, 2.0]]]])).numpy().tolist()
        [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")

    def _geometry(self, in_shape):
        if len(in_shape) != 4:
            raise expected_batched_input(self._describe(), expected_layout(2), in_shape, 4)
        return super()._geometry(in_shape)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._geometry(x.shape)
        return super().forward(x)


@register_layer(example=lambda: (UpsamplingBilinear2d(size=(5, 7)), (2, 3, 3, 4)))
class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)`` (PyTorch's older name).

    Args:
        size: the output's ``(H_out, W_out)``, or one int for both; exactly one of ``size`` and
            ``scale_factor`` is given (default ``None``).
        scale_factor: the output-to-input size ratio, a number or one per axis (default ``None``).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``.

    Example:
        >>> UpsamplingBilinear2d(scale_factor=2)(np.array([[[[0.0, 3.0]]]])).numpy().tolist()
        [[[[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]]]]
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
