"""Tiles laid out as one picture: per-tile normalisation, colour maps, and the mosaic with gaps.

Pure NumPy (matplotlib is needed only for a named colour map): the filter grids and the
feature-map grids are built here as one RGBA array, so what a figure shows is exactly this
array, drawn with nearest-neighbour sampling.

Layout: ``n`` tiles of ``(h, w)`` in ``rows x cols`` cells, row by row; a ``gap`` of pixels in
``gap_color`` separates neighbours and surrounds the whole grid, so every tile is enclosed by
gap pixels (tests find the tiles that way). Cells past ``n`` are gap colour.

>>> image = mosaic(np.zeros((3, 2, 2, 4)), cols=2, gap=1, gap_color=(1, 1, 1, 1))
>>> image.shape                                 # 2 rows: 2*2 + 3 gaps; 2 cols: 2*2 + 3 gaps
(7, 7, 4)
>>> grid_shape(10), grid_shape(3, cols=5)
((3, 4), (1, 3))
"""

from __future__ import annotations

import math

import numpy as np


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """``(rows, cols)`` for ``n`` tiles: ``cols`` given (at most ``n``), else ``ceil(sqrt(n))`` columns."""
    n = max(int(n), 1)
    cols = min(int(cols), n) if cols else math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def normalize_each(values: np.ndarray, constant: float = 0.5) -> np.ndarray:
    """Each ``values[i]`` scaled to ``[0, 1]`` by its own minimum and maximum (a constant tile: ``constant``).

    Shape: ``(n, *tile) -> (n, *tile)`` float64.

    >>> normalize_each(np.array([[1.0, 3.0], [5.0, 5.0]]))
    array([[0. , 1. ],
           [0.5, 0.5]])
    """
    values = np.asarray(values, np.float64)
    flat = values.reshape(len(values), -1)                                 # (n, size)
    low, high = flat.min(axis=1), flat.max(axis=1)                          # (n,)
    span = high - low
    scaled = (flat - low[:, None]) / np.where(span > 0, span, 1)[:, None]
    scaled[span == 0] = constant
    return scaled.reshape(values.shape)


def normalize_all(values: np.ndarray, constant: float = 0.5) -> np.ndarray:
    """All tiles scaled to ``[0, 1]`` by the common minimum and maximum (all equal: ``constant``). Shape: unchanged."""
    values = np.asarray(values, np.float64)
    low, high = float(values.min()), float(values.max())
    return np.full(values.shape, float(constant)) if high == low else (values - low) / (high - low)


def colorize(values: np.ndarray, cmap: str = "gray") -> np.ndarray:
    """Values in ``[0, 1]`` through a matplotlib colour map. Shape: ``(*s) -> (*s, 4)`` RGBA in ``[0, 1]``."""
    values = np.asarray(values, np.float64)
    if cmap == "gray":                                                     # no matplotlib needed
        return np.concatenate([np.repeat(values[..., None], 3, axis=-1), np.ones(values.shape + (1,))], axis=-1)
    from .common import require_matplotlib
    colormaps = require_matplotlib().colormaps
    return np.asarray(colormaps[cmap](values), np.float64)


def rgb_tiles(values: np.ndarray) -> np.ndarray:
    """RGB tiles as RGBA. Shape: ``(n, 3, h, w)`` in ``[0, 1]`` -> ``(n, h, w, 4)``."""
    rgb = np.moveaxis(np.asarray(values, np.float64), 1, -1)               # (n, h, w, 3)
    return np.concatenate([rgb, np.ones(rgb.shape[:-1] + (1,))], axis=-1)


def mosaic(tiles: np.ndarray, cols: int | None = None, gap: int = 1, gap_color=(1.0, 1.0, 1.0, 1.0),
           upscale: int = 1) -> np.ndarray:
    """The RGBA tiles in a grid with ``gap`` pixels between and around them.

    Shape: ``tiles (n, h, w, 4)`` -> ``(rows*h + (rows+1)*gap, cols*w + (cols+1)*gap, 4)`` with
    ``(rows, cols) = grid_shape(n, cols)``; tile ``i`` sits at row ``i // cols``, column ``i % cols``,
    its top-left pixel at ``(gap + r*(h+gap), gap + c*(w+gap))``. ``upscale``: each tile pixel
    becomes ``upscale x upscale`` pixels first (``h``, ``w`` above are then the enlarged sizes), so
    the gaps stay thin next to small tiles.
    """
    tiles = np.asarray(tiles, np.float64)
    if tiles.ndim != 4 or tiles.shape[-1] != 4:
        raise ValueError(f"mosaic: expected RGBA tiles (n, h, w, 4), got {tiles.shape}")
    if upscale > 1:
        tiles = np.repeat(np.repeat(tiles, upscale, axis=1), upscale, axis=2)   # (n, h*k, w*k, 4)
    n, h, w, _ = tiles.shape
    rows, cols = grid_shape(n, cols)
    image = np.empty((rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap, 4))
    image[...] = np.asarray(gap_color, np.float64)
    for i in range(n):
        top, left = gap + (i // cols) * (h + gap), gap + (i % cols) * (w + gap)
        image[top:top + h, left:left + w] = tiles[i]
    return image


def tile_centers(n: int, tile: tuple[int, int], cols: int | None = None, gap: int = 1, upscale: int = 1):
    """``(ys, xs)``: the centre of each tile in mosaic pixel coordinates (for labels). Shape: ``(n,), (n,)``."""
    rows, cols = grid_shape(n, cols)
    i = np.arange(n)
    h, w = tile[0] * upscale, tile[1] * upscale
    return gap + (i // cols) * (h + gap) + (h - 1) / 2, gap + (i % cols) * (w + gap) + (w - 1) / 2


def wrap_title(text: str, width_inches: float, fontsize: float = 8) -> str:
    """``text``'s lines wrapped to what fits ``width_inches`` at ``fontsize`` points (about 0.55 em a character)."""
    import textwrap
    chars = max(20, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def draw_mosaic(ax, image: np.ndarray, title: str | None = None, fontsize: float = 8) -> None:
    """Draw a mosaic on ``ax`` pixel for pixel (nearest sampling, square pixels, no ticks or frame); the
    title is wrapped to the figure's width."""
    ax.imshow(image, interpolation="nearest", resample=False)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(wrap_title(title, ax.figure.get_figwidth() - 0.2, fontsize), fontsize=fontsize)


__all__ = ["grid_shape", "normalize_each", "normalize_all", "colorize", "rgb_tiles", "mosaic", "tile_centers",
           "draw_mosaic", "wrap_title"]
