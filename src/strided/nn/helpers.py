"""Checks and descriptions shared by the layer families (convolution, pooling, local, transposed, ...).

Unbatched inputs follow PyTorch: convolution (plain, transposed, depthwise, separable,
locally-connected), pooling (max, average, Lp, adaptive, k-max, unpooling), padding and pixel
shuffling also take one example ``(C, *S)`` (rank ``ndim + 1``) and return it without a batch
axis: the op runs on ``x[None]`` (``add_batch_axis``) and drops the axis again
(``drop_batch_axis``), both differentiable views; their static rules accept the same shapes
(``as_batched``). Layers whose statistics or layout need the batch axis (batch and group
normalisation, local response normalisation, interpolation, global pooling) refuse it, their
message ending with ``BATCH_HINT`` when the input has one axis too few.
"""

from __future__ import annotations

import numpy as np

from ..checks import as_int
from ..errors import ShapeError, expected_input, shape_str
from ..tensor import Tensor

SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}

BATCH_HINT = "; add a batch axis: x[None]"
"""Ending of the wrong-rank message of a layer that has no unbatched form, when an axis is missing."""


def expected_batched_input(owner: str, expected: str, in_shape, batched_rank: int) -> ShapeError:
    """``errors.expected_input`` for a layer without an unbatched form; an input one axis short of
    ``batched_rank`` gets ``BATCH_HINT`` at the end."""
    hint = BATCH_HINT if len(in_shape) == batched_rank - 1 else ""
    return ShapeError(f"{owner}: expected input {expected}, got {shape_str(tuple(in_shape))}{hint}")


def expected_layout(ndim: int, channels="C", unbatched: bool = False) -> str:
    """``(N, 3, H, W)`` style description of the input a ``ndim``-D layer wants; with ``unbatched``,
    also its one-example form: ``(N, 3, H, W) or (3, H, W)``."""
    batched = f"(N, {channels}, {SPATIAL_NAMES[ndim]})"
    return f"{batched} or ({channels}, {SPATIAL_NAMES[ndim]})" if unbatched else batched


def describe_layout(ndim: int, in_shape, channels="C") -> str:
    """``expected_layout`` for a layer that accepts unbatched input, given the wrong ``in_shape``:
    the unbatched form is mentioned unless ``in_shape`` already has the batched rank."""
    return expected_layout(ndim, channels, unbatched=len(in_shape) != ndim + 2)


def check_spatial_sizes(owner: str, in_shape, ndim: int, channels="C") -> None:
    """Refuse an empty spatial axis (a windowed op's input): PyTorch refuses it for a non-empty batch,
    and strided whatever the batch (PyTorch skips some of its checks for a batch of 0)."""
    if 0 in tuple(in_shape)[-ndim:]:
        raise expected_input(owner, describe_layout(ndim, in_shape, channels) + " with no empty spatial axis",
                             in_shape)


def as_batched(in_shape, ndim: int) -> tuple:
    """``(1, C, *S)`` for an unbatched ``(C, *S)`` (rank ``ndim + 1``), else ``in_shape`` as a tuple."""
    in_shape = tuple(in_shape)
    return (1,) + in_shape if len(in_shape) == ndim + 1 else in_shape


def add_batch_axis(x, ndim: int):
    """``(x[None], True)`` for an unbatched tensor ``(C, *S)`` (rank ``ndim + 1``), else ``(x, False)``."""
    if x.ndim == ndim + 1:
        return x.unsqueeze(0), True
    return x, False


def drop_batch_axis(result, added: bool = True):
    """The result of an op run on ``x[None]``, without that batch axis (when ``added``): a tensor
    through a differentiable view, an index array by indexing, a tuple item by item."""
    if not added:
        return result
    if isinstance(result, tuple):
        return tuple(drop_batch_axis(r) for r in result)
    if not isinstance(result, Tensor):                                  # an index array (NumPy or CuPy)
        return result[0]
    return result.reshape(result.shape[1:])


def _shape_of(value) -> tuple:
    """The shape of an array of any backend, or of nested lists and numbers (``np.shape``)."""
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(value))


def check_param_shape(value, shape, name: str, owner: str) -> None:
    """A weight, bias or statistic (tensor or array, or ``None``) of exactly ``shape``, else a
    ``ShapeError`` naming ``owner`` and both shapes (before NumPy would fail on it later)."""
    if value is None:
        return
    got = _shape_of(getattr(value, "data", value))
    if got != tuple(shape):
        raise ShapeError(f"{owner}: expected {name} {shape_str(shape)}, got {shape_str(got)}")


def check_channels(owner: str, in_channels, out_channels, groups=1) -> tuple[int, int, int]:
    """Channel counts of a convolution-like layer: positive ints, both divisible by ``groups``.

    Returns them as plain ints.
    """
    in_channels = as_int(in_channels, "in_channels", owner)
    out_channels = as_int(out_channels, "out_channels", owner)
    groups = as_int(groups, "groups", owner)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{owner}: in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                         f"be divisible by groups ({groups})")
    return in_channels, out_channels, groups


def check_weight_rank(weight, d: int, owner: str, layout: str) -> None:
    """A ``d``-D op's weight has ``d + 2`` axes, ``layout`` naming the first two (``C_out, C_in/groups``)."""
    shape = _shape_of(getattr(weight, "data", weight))
    if len(shape) != d + 2:
        raise ShapeError(f"{owner}: expected weight ({layout}, {SPATIAL_NAMES[d]}), got {shape_str(shape)}")


def describe_settings(module, leading, defaults: dict) -> str:
    """``extra_repr`` text: the ``leading`` parts, then each setting that differs from its default."""
    parts = list(leading) + [f"{key}={getattr(module, key)!r}" for key, default in defaults.items()
                             if getattr(module, key) != default]
    if getattr(module, "bias", None) is None:
        parts.append("bias=False")
    return ", ".join(parts)
