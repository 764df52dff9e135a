"""Resampling transforms on NCHW batches: ``Resize`` and ``RandomRotation`` (with ``rotate``).

They are re-exported by ``strided.data.transforms``, where the other transforms live; every
transform is a callable ``transform(x_batch, rng) -> x_batch``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..checks import as_tuple
from ..errors import expected_input
from ..nn.upsample import interpolate

RESIZE_MODES = ("nearest", "nearest-exact", "bilinear", "area")
ROTATE_MODES = ("nearest", "bilinear")


def check_images(x, owner: str) -> np.ndarray:
    """``x`` as an array of shape ``(N, C, H, W)``, or a ``ShapeError`` naming ``owner``."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise expected_input(owner, "images (N, C, H, W)", x.shape)
    return x


def as_float(x: np.ndarray) -> np.ndarray:
    """Floating arrays as they are (float32 stays float32), anything else as float32."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)


class Resize:
    """Resample every image to ``size`` (an int for a square, or ``(height, width)``).

    ``mode``: ``'nearest'`` or ``'bilinear'`` (also ``'nearest-exact'``, ``'area'``), with
    PyTorch's ``F.interpolate`` definitions (``align_corners=False``): strided's own
    ``nn.functional.interpolate`` runs on the whole batch. Unlike torchvision's ``Resize``, an
    int is the output's height and width, not its shorter side. Draws nothing from ``rng``.

    Args:
        size: an int (square) or ``(height, width)``.
        mode: ``'nearest'``, ``'bilinear'``, ``'nearest-exact'`` or ``'area'``.

    Shape: ``(N, C, H, W) -> (N, C, size_h, size_w)``.

    Example:
        >>> Resize(4)(np.ones((1, 1, 2, 2))).shape
        (1, 1, 4, 4)
    """

    def __init__(self, size, mode: str = "nearest"):
        self.size = as_tuple(size, 2, "size", "Resize")
        if mode not in RESIZE_MODES:
            raise ValueError(f"Resize: mode must be one of {RESIZE_MODES}, got {mode!r}")
        self.mode = mode

    def __call__(self, x, rng=None) -> np.ndarray:
        x = as_float(check_images(x, repr(self)))
        if tuple(x.shape[2:]) == self.size:
            return x
        return interpolate(x, size=self.size, mode=self.mode).data         # (N, C, size_h, size_w)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, mode={self.mode!r})"


def _sample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str, fill: float) -> np.ndarray:
    """Read every image at its own real-valued positions; outside the image the value is ``fill``.

    ``x (N, C, H, W)``; ``rows``, ``cols`` ``(N, H', W')`` -> ``(N, C, H', W')``. Bilinear reads
    the four neighbours, each outside one counting as ``fill`` (the image extended by ``fill``).
    """
    n, c, h, w = x.shape
    xt = x.transpose(0, 2, 3, 1)                                       # (N, H, W, C)
    batch = np.arange(n)[:, None, None]                                # (N, 1, 1)
    if mode == "nearest":
        taps = [(np.floor(rows + 0.5), np.floor(cols + 0.5), np.ones_like(rows))]
    else:
        r0, c0 = np.floor(rows), np.floor(cols)                        # (N, H', W')
        fr, fc = rows - r0, cols - c0
        taps = [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]
    out = np.zeros(rows.shape + (c,), np.float64)                       # (N, H', W', C)
    for r, q, weight in taps:
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)                # (N, H', W')
        values = xt[batch, np.clip(r, 0, h - 1).astype(np.intp), np.clip(q, 0, w - 1).astype(np.intp)]
        out += np.where(inside, weight, 0.0)[..., None] * values         # (N, H', W', C)
        if fill:
            out += (np.where(inside, 0.0, weight) * fill)[..., None]
    return out.transpose(0, 3, 1, 2)                                   # (N, C, H', W')


def rotate(x, angles, mode: str = "bilinear", fill: float = 0.0) -> np.ndarray:
    """Rotate image ``i`` by ``angles[i]`` degrees counter-clockwise (as displayed) about its centre.

    The centre is ``((H - 1) / 2, (W - 1) / 2)``; each output pixel reads the input at its
    position rotated back, by ``mode`` (``'bilinear'`` or ``'nearest'``), the image extended by
    ``fill``: the definition of ``scipy.ndimage.rotate(reshape=False, mode='grid-constant')``
    (order 1 or 0) and of PIL's ``Image.rotate`` direction.

    Args:
        x: the images.
        angles: one angle in degrees per image, or one for all (broadcast to ``(N,)``).
        mode: the interpolation, ``'bilinear'`` or ``'nearest'`` (default ``'bilinear'``).
        fill: the value read outside the image (default 0.0).

    Shape: ``x (N, C, H, W)``, ``angles (N,)`` -> ``(N, C, H, W)``, ``x``'s float dtype.

    Example:
        >>> rotate(np.arange(9.0).reshape(1, 1, 3, 3), np.array([90.0]), mode="nearest")[0, 0].tolist()
        [[2.0, 5.0, 8.0], [1.0, 4.0, 7.0], [0.0, 3.0, 6.0]]
    """
    x = as_float(check_images(x, "rotate"))
    if mode not in ROTATE_MODES:
        raise ValueError(f"rotate: mode must be one of {ROTATE_MODES}, got {mode!r}")
    n, _, h, w = x.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(angles, np.float64), (n,)))[:, None, None]   # (N, 1, 1)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = (np.arange(h) - cy)[None, :, None]                            # (1, H, 1) output row offsets
    dx = (np.arange(w) - cx)[None, None, :]                            # (1, 1, W) output column offsets
    cos, sin = np.cos(theta), np.sin(theta)
    rows = cy + dx * sin + dy * cos                                    # (N, H, W) source rows
    cols = cx + dx * cos - dy * sin                                    # (N, H, W) source columns
    return _sample(x, rows, cols, mode, float(fill)).astype(x.dtype, copy=False)


class RandomRotation:
    """Rotate each image by its own angle drawn uniformly from ``[-degrees, degrees]`` (or ``(lo, hi)``).

    Angles: ``rng.uniform(lo, hi, size=N)``, then ``rotate(x, angles, mode, fill)`` (counter-clockwise,
    about the centre, corners filled with ``fill``). Meant for small angles (digits: 10-15 degrees).

    Args:
        degrees: the largest angle: angles are drawn from ``[-degrees, degrees]`` (or a ``(lo, hi)``
            range).
        mode: ``'bilinear'`` or ``'nearest'`` sampling.
        fill: the value of the corners rotated in from outside.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> RandomRotation(10)(np.ones((2, 1, 5, 5)), np.random.default_rng(0)).shape
        (2, 1, 5, 5)
    """

    def __init__(self, degrees, mode: str = "bilinear", fill: float = 0.0):
        if isinstance(degrees, numbers.Real) and not isinstance(degrees, bool):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be non-negative, got {degrees!r}")
            degrees = (-float(degrees), float(degrees))
        elif (isinstance(degrees, (tuple, list)) and len(degrees) == 2
              and all(isinstance(d, numbers.Real) and not isinstance(d, bool) for d in degrees)
              and degrees[0] <= degrees[1]):
            degrees = (float(degrees[0]), float(degrees[1]))
        else:
            raise TypeError(f"RandomRotation: degrees must be a number or a (lo, hi) pair with lo <= hi, "
                            f"got {degrees!r}")
        if mode not in ROTATE_MODES:
            raise ValueError(f"RandomRotation: mode must be one of {ROTATE_MODES}, got {mode!r}")
        self.degrees, self.mode, self.fill = degrees, mode, float(fill)

    def __call__(self, x, rng) -> np.ndarray:
        x = check_images(x, repr(self))
        angles = rng.uniform(self.degrees[0], self.degrees[1], size=len(x))       # (N,)
        return rotate(x, angles, self.mode, self.fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, mode={self.mode!r})"


__all__ = ["Resize", "RandomRotation", "rotate", "check_images"]
