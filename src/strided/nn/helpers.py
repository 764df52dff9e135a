"""Checks and descriptions shared by the layer families (convolution, pooling, local, transposed, ...)."""

from __future__ import annotations

import numpy as np

from ..checks import as_int
from ..errors import ShapeError, shape_str

SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def expected_layout(ndim: int, channels="C") -> str:
    """``(N, 3, H, W)`` style description of the input a ``ndim``-D layer wants."""
    return f"(N, {channels}, {SPATIAL_NAMES[ndim]})"


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
    shape = np.shape(getattr(weight, "data", weight))
    if len(shape) != d + 2:
        raise ShapeError(f"{owner}: expected weight ({layout}, {SPATIAL_NAMES[d]}), got {shape_str(shape)}")


def describe_settings(module, leading, defaults: dict) -> str:
    """``extra_repr`` text: the ``leading`` parts, then each setting that differs from its default."""
    parts = list(leading) + [f"{key}={getattr(module, key)!r}" for key, default in defaults.items()
                             if getattr(module, key) != default]
    if getattr(module, "bias", None) is None:
        parts.append("bias=False")
    return ", ".join(parts)
