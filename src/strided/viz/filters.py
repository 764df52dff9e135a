"""Learned filters: a grid of a convolution's kernels, each normalised to its own range.

``plot_filters(model_or_layer)`` draws the weights of a convolution (by default the model's
first one) as tiles, read straight from the layer's ``weight`` ``(C_out, C_in/groups, *kernel)``:

- every **filter** (one output channel: all its input channels and taps) is scaled to
  ``[0, 1]`` by its own minimum and maximum, so black is its most negative weight and white its
  most positive; filters are comparable in pattern, not in magnitude;
- ``channels='rgb'`` (the default when the filter has 3 input channels, an RGB input layer): one
  colour tile per filter, its three input channels as red, green and blue;
- ``channels='pairs'`` (the default for other inputs when ``C_out * C_in <= 256``): one grey tile
  per (output, input) pair, a row per output channel and a column per input channel, so a row
  is one filter (with one input channel: a square grid of filters);
- ``channels='mean'`` (the default above 256 pairs): one grey tile per filter, its input
  channels averaged, so deep layers stay readable.

1-D kernels ``(C_out, C_in, K)`` are drawn as ``1 x K`` strips; 3-D kernels are refused (take a
slice). Tiles are separated (and surrounded) by a gap of light blue, a colour no grey or
normalised tile is confused with at the borders of the grey modes.
"""

from __future__ import annotations

import numpy as np

from .common import new_figure, save_figure
from .mosaic import colorize, draw_mosaic, grid_shape, mosaic, normalize_each, rgb_tiles, tile_centers

CHANNEL_MODES = ("auto", "rgb", "pairs", "mean")
MAX_PAIRS = 256
"""Above this many (output, input) pairs, ``channels='auto'`` averages each filter's input channels."""
GAP_COLOR = (0.78, 0.85, 0.95, 1.0)
"""The gap between tiles: light blue, distinct from every grey."""


def _dims(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def _has_filters(module) -> bool:
    weight = getattr(module, "_parameters", {}).get("weight")
    return weight is not None and weight.data.ndim in (3, 4)


def conv_layers(model) -> list[tuple[str, object]]:
    """``[(name, module)]`` of the convolutions in ``model`` (``Conv1d``/``Conv2d`` and their depthwise and
    pointwise forms), in ``named_modules`` order; other layers with a 3-D or 4-D ``weight`` (an ONNX
    import's) when there is no such convolution."""
    from ..nn.conv import _ConvNd
    named = list(model.named_modules())
    convs = [(n, m) for n, m in named if isinstance(m, _ConvNd) and _has_filters(m)]
    return convs or [(n, m) for n, m in named if _has_filters(m)]


def named_layer(model, name: str):
    """The module called ``name`` in ``model.named_modules()``; a ``ValueError`` listing the names otherwise."""
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    import difflib
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ValueError(f"{type(model).__name__} has no layer {name!r}{hint} (layers: {', '.join(names)})")


def resolve_filters(model_or_layer, layer: str | None = None) -> tuple[str, np.ndarray]:
    """``(label, weight)``: the filters to draw from a model (``layer`` by name, default its first convolution),
    a layer with a ``weight``, or an array ``(C_out, C_in, *kernel)``."""
    if isinstance(model_or_layer, np.ndarray) or not hasattr(model_or_layer, "named_modules"):
        weight = np.asarray(getattr(model_or_layer, "data", model_or_layer))
        return "filters", weight
    if layer is not None:
        module = named_layer(model_or_layer, layer)
        if not _has_filters(module):
            convs = ", ".join(n for n, _ in conv_layers(model_or_layer)) or "none"
            raise ValueError(f"{layer} ({type(module).__name__}) has no convolution filters (a 3-D or 4-D weight); "
                             f"convolutions: {convs}")
        return f"{layer} ({type(module).__name__})", np.asarray(module.weight.data)
    if _has_filters(model_or_layer) and not any(True for _ in model_or_layer.children()):
        return type(model_or_layer).__name__, np.asarray(model_or_layer.weight.data)
    convs = conv_layers(model_or_layer)
    if not convs:
        raise ValueError(f"{type(model_or_layer).__name__} has no convolution to draw the filters of")
    name, module = convs[0]
    return f"{name} ({type(module).__name__})", np.asarray(module.weight.data)


def filter_tiles(weight, channels: str = "auto") -> tuple[np.ndarray, int, str]:
    """``(tiles, cols, mode)``: the RGBA tiles of ``weight``, the grid's column count and the mode used.

    Shape: ``weight (C_out, C_in, kH, kW)`` (or ``(C_out, C_in, K)``: ``kH = 1``) -> ``tiles (n, kH, kW, 4)``
    with ``n = C_out`` (``'rgb'``, ``'mean'``, or ``'pairs'`` with ``C_in = 1``) or ``C_out * C_in``
    (``'pairs'``, row-major: tile ``o * C_in + i`` is output ``o``, input ``i``).
    """
    w = np.asarray(weight, np.float64)
    if w.ndim == 3:
        w = w[:, :, None, :]                                               # (C_out, C_in, 1, K)
    if w.ndim != 4:
        raise ValueError(f"filters: expected a weight (C_out, C_in, kH, kW) or (C_out, C_in, K), got "
                         f"{_dims(w.shape)}" + (" (3-D kernels: pass a 2-D slice, e.g. weight[:, :, d])"
                                                if w.ndim == 5 else ""))
    if channels not in CHANNEL_MODES:
        raise ValueError(f"filters: channels must be one of {CHANNEL_MODES}, got {channels!r}")
    n_out, n_in = w.shape[:2]
    if channels == "auto":
        channels = "rgb" if n_in == 3 else "pairs" if n_out * n_in <= MAX_PAIRS else "mean"
    if channels == "rgb":
        if n_in != 3:
            raise ValueError(f"filters: channels='rgb' needs 3 input channels, the weight has {n_in}")
        return rgb_tiles(normalize_each(w)), None, "rgb"                   # (C_out, kH, kW, 4)
    if channels == "mean" and n_in > 1:
        return colorize(normalize_each(w.mean(axis=1))), None, "mean"      # (C_out, kH, kW, 4)
    scaled = normalize_each(w)                                             # per filter: (C_out, C_in, kH, kW)
    tiles = colorize(scaled.reshape((n_out * n_in,) + w.shape[2:]))        # (C_out*C_in, kH, kW, 4)
    return (tiles, n_in, "pairs") if n_in > 1 else (tiles, None, "single")


MODE_TEXT = {"rgb": "input channels as red, green, blue", "mean": "input channels averaged",
             "pairs": "a row per output channel, a column per input channel", "single": "one tile per filter"}


def plot_filters(model_or_layer, layer: str | None = None, path=None, channels: str = "auto",
                 cols: int | None = None, title: str | None = None, scale: float | None = None):
    """A grid of a convolution's filters (see the module's docstring); returns the ``Figure``, saved to ``path``.

    ``model_or_layer``: a model (``layer`` names the convolution; default the first one), a
    convolution layer, or a weight array. ``cols``: columns of the grid (not for ``'pairs'`` with
    several input channels, whose rows are filters). ``scale``: screen pixels per weight (default:
    the grid fills about 600 pixels). The figure's ``strided_grid`` says what it shows: ``tiles``,
    ``grid`` ``(rows, cols)``, ``mode``.

    Args:
        model_or_layer: a model, a convolution layer, or a weight array.
        layer: with a model: the convolution's name (default: the first one).
        path: a file to save the figure to (optional).
        channels: how input channels are shown (``'auto'``, ``'rgb'``, ``'pairs'``, ...; see the module
            docstring).
        cols: columns of the grid.
        title: the figure's title.
        scale: screen pixels per weight (default: about 600 pixels for the grid).

    >>> from strided import nn
    >>> fig = plot_filters(nn.Conv2d(1, 6, 5, rng=0))    # doctest: +SKIP
    """
    label, weight = resolve_filters(model_or_layer, layer)
    tiles, pair_cols, mode = filter_tiles(weight, channels)
    grid_cols = pair_cols or cols
    rows, ncols = grid_shape(len(tiles), grid_cols)
    tile = tiles.shape[1:3]
    cells = max(rows * (tile[0] + 1), ncols * (tile[1] + 1))                 # the grid in weights (gaps ~1)
    scale = float(scale) if scale else min(40.0, max(4.0, 600.0 / cells))
    upscale = max(1, round(scale / 3))                                        # gaps of about 3 screen pixels
    image = mosaic(tiles, grid_cols, gap=1, gap_color=GAP_COLOR, upscale=upscale)   # (H, W, 4)
    height, width = image.shape[:2]
    pixel = scale / upscale                                                   # screen pixels per mosaic pixel
    labelled = mode == "pairs" and pair_cols is not None
    fig = new_figure(max(4.6, width * pixel / 100 + (0.8 if labelled else 0.3)),
                     height * pixel / 100 + (1.2 if labelled else 0.7))
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
    heading = title or f"{label}: weight {_dims(weight.shape)}"
    draw_mosaic(ax, image, f"{heading}\n{MODE_TEXT[mode]}; each filter scaled to its own range (black min, white max)"
                if mode != "rgb" else f"{heading}\n{MODE_TEXT[mode]}; each filter scaled to its own range")
    if labelled:                                                           # tick labels: output rows, input columns
        n_out, n_in = weight.shape[:2]
        ys, _ = tile_centers(n_out * n_in, tile, n_in, upscale=upscale)
        _, xs = tile_centers(n_in, tile, n_in, upscale=upscale)
        step_y, step_x = max(1, -(-n_out // 16)), max(1, -(-n_in // 16))
        ax.set_yticks(ys[::n_in][::step_y], [str(o) for o in range(0, n_out, step_y)], fontsize=7)
        ax.set_xticks(xs[::step_x], [str(i) for i in range(0, n_in, step_x)], fontsize=7)
        ax.tick_params(length=0, pad=2)
        ax.set_ylabel("output channel", fontsize=8)
        ax.set_xlabel("input channel", fontsize=8)
    fig.strided_grid = {"tiles": len(tiles), "grid": (rows, ncols), "mode": mode}
    if path is not None:
        save_figure(fig, path)
    return fig


__all__ = ["plot_filters", "filter_tiles", "resolve_filters", "conv_layers", "named_layer", "CHANNEL_MODES",
           "MAX_PAIRS", "GAP_COLOR"]
