"""Feature maps: every channel of one layer's output for one input, captured by a forward hook.

``capture(model, x, layer)`` registers a forward hook on the module called ``layer``, runs the
whole model once (evaluation mode, no graph) and removes the hook: the output is what that
module returned inside the real forward pass, fused neighbours and all (a hooked module is never
fused, ``nn.run_chain``), not a re-run of a slice of the model. ``plot_activations`` draws it as
a grid with one panel per channel, row by row (channel ``c`` at row ``c // cols``, column
``c % cols``), in the ``viridis`` colour map, each panel scaled to its own range (``scale='channel'``)
or all to the layer's (``scale='layer'``), with the input beside it. A constant channel (all
zeros after a ReLU: a dead unit) is drawn dark.

Output layouts: ``(N, C, H, W)`` gives ``C`` panels of ``H x W``; ``(N, C, L)`` (1-D) gives ``C``
strips of ``1 x L`` in one column; ``(N, F)`` (a dense layer) one strip of ``F`` values.
"""

from __future__ import annotations

import numpy as np

from .common import GRAY, SEQUENTIAL, new_figure, save_figure
from .filters import named_layer
from .mosaic import colorize, draw_mosaic, grid_shape, mosaic, normalize_all, normalize_each, wrap_title

GAP_COLOR = (1.0, 1.0, 1.0, 1.0)
"""The gap between panels: white, which ``viridis`` never reaches."""
SCALES = ("channel", "layer")


def _dims(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def _array(output) -> np.ndarray:
    if isinstance(output, (tuple, list)):                                  # several outputs: the first
        output = output[0]
    return np.array(getattr(output, "data", output))                       # a copy: later layers may not touch it


def capture(model, x, layer: str) -> np.ndarray:
    """The output of the module named ``layer`` when ``model`` runs on ``x`` (a batch), through a forward hook.

    Runs in evaluation mode without recording a graph (the model's modes are restored after);
    a module applied several times in one forward pass gives its first output.

    Args:
        model: the model to run.
        x: a batch as the model takes it.
        layer: the name of the module whose output is returned (``named_modules()``).

    >>> import numpy as np
    >>> from strided import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    >>> capture(model, np.ones((1, 1, 8, 8)), "1").shape
    (1, 4, 6, 6)
    """
    from ..train.evaluation import eval_mode
    module = named_layer(model, layer)
    seen = []
    with eval_mode(model), module.register_forward_hook(lambda m, args, output: seen.append(_array(output))):
        model(x)
    if not seen:
        raise ValueError(f"{layer} ({type(module).__name__}) was not called by {type(model).__name__}'s forward")
    return seen[0]


def activation_tiles(maps: np.ndarray, scale: str = "channel", cmap: str = SEQUENTIAL) -> tuple[np.ndarray, int | None]:
    """``(tiles, cols)``: one example's layer output as RGBA panels and the grid's column count.

    Shape: ``(C, H, W)`` -> ``(C, H, W, 4)``; ``(C, L)`` -> ``(C, 1, L, 4)``, one column;
    ``(F,)`` -> ``(1, 1, F, 4)``.
    """
    if scale not in SCALES:
        raise ValueError(f"activations: scale must be one of {SCALES}, got {scale!r}")
    maps = np.asarray(maps, np.float64)
    cols = None
    if maps.ndim == 1:
        maps, cols = maps[None, None, :], 1                               # (1, 1, F)
    elif maps.ndim == 2:
        maps, cols = maps[:, None, :], 1                                  # (C, 1, L)
    elif maps.ndim != 3:
        raise ValueError(f"activations: expected one example's output (C, H, W), (C, L) or (F,), got "
                         f"{_dims(maps.shape)} (3-D feature maps: pass a 2-D slice)")
    scaled = normalize_each(maps, constant=0.0) if scale == "channel" else normalize_all(maps, constant=0.0)
    return colorize(scaled, cmap), cols


def _input_picture(x: np.ndarray):
    """One input example ``(C, H, W)`` as something ``imshow`` shows (grey, or RGB for 3 channels);
    ``None`` for 1-D inputs."""
    if x.ndim != 3:
        return None
    picture = x if x.shape[0] == 3 else x[:1]
    picture = normalize_all(picture)
    return picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)


def plot_activations(model, x, layer: str, path=None, index: int = 0, scale: str = "channel",
                     cols: int | None = None, title: str | None = None, image=None):
    """Every channel of ``layer``'s output for example ``index`` of the batch ``x``; returns the ``Figure``.

    ``x``: a batch ``(N, *input_shape)`` as the model takes it (normalised as in training);
    ``image``: the same example on its display scale (``(C, H, W)`` in ``[0, 1]``), drawn beside
    the maps (default: ``x[index]`` scaled to its range). The title gives the layer's name, type
    and output shape. The figure's ``strided_grid`` holds ``tiles``, ``grid`` and the captured
    ``output`` (the whole batch's).

    Args:
        model: the model to run.
        x: a batch ``(N, *input_shape)``, normalised as in training.
        layer: the name of the module whose output is drawn.
        path: a file to save the figure to (optional).
        index: which example of the batch.
        scale: ``'channel'``: each map on its own range; otherwise one range for all.
        cols: columns of the grid.
        title: the figure's title.
        image: the example on its display scale ``(C, H, W)`` in ``[0, 1]``, drawn beside the maps.

    >>> from strided import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 8, 3, rng=0), nn.ReLU())
    >>> fig = plot_activations(model, np.ones((1, 1, 16, 16)), "1")    # doctest: +SKIP
    """
    x = np.asarray(getattr(x, "data", x))
    if x.ndim < 2:
        raise ValueError(f"activations: x must be a batch (N, *input_shape), got {_dims(x.shape)}")
    index = int(index)
    if not 0 <= index < len(x):
        raise ValueError(f"activations: index {index} is outside the batch of {len(x)}")
    output = capture(model, x, layer)
    module = named_layer(model, layer)
    tiles, strip_cols = activation_tiles(output[index], scale)
    grid_cols = strip_cols or cols
    rows, ncols = grid_shape(len(tiles), grid_cols)
    tile = tiles.shape[1:3]
    cells = max(rows * (tile[0] + 1), ncols * (tile[1] + 1))
    screen = min(24.0, max(2.0, 560.0 / cells))                           # screen pixels per value
    upscale = max(1, round(screen / 2))                                    # gaps of about 2 screen pixels
    grid = mosaic(tiles, grid_cols, gap=1, gap_color=GAP_COLOR, upscale=upscale)   # (H, W, 4)
    pixel = screen / upscale
    picture = _input_picture(np.asarray(image, np.float64) if image is not None else x[index])
    side = 1.9 if picture is not None else 0.0
    height, width = grid.shape[0] * pixel / 100, grid.shape[1] * pixel / 100
    fig = new_figure(max(5.0, width + side + 0.4), max(height, 1.2) + 0.9)
    fig.set_layout_engine("constrained")
    if picture is not None:
        panes = fig.add_gridspec(1, 2, width_ratios=[side, max(width, 2.5)])
        ax_input = fig.add_subplot(panes[0])
        ax_input.imshow(picture, cmap=GRAY if picture.ndim == 2 else None, interpolation="nearest")
        ax_input.set_xticks([])
        ax_input.set_yticks([])
        ax_input.set_title(f"input {_dims(x.shape[1:])}", fontsize=8)
        ax = fig.add_subplot(panes[1])
    else:
        ax = fig.add_subplot()
    how = "each channel scaled to its own range" if scale == "channel" else "one scale for the whole layer"
    what = (f"{output.shape[-1]} units in one strip" if output.ndim == 2 else
            f"{len(tiles)} channels" + (" (one strip each)" if output.ndim == 3 else ", row by row"))
    heading = title or f"{layer} ({type(module).__name__}): output {_dims(output.shape)}"
    draw_mosaic(ax, grid)
    fig.suptitle(wrap_title(f"{heading}\n{what}; {how} (viridis: dark low, yellow high); values "
                            f"{output[index].min():.3g} to {output[index].max():.3g}", fig.get_figwidth() - 0.2, 8),
                 fontsize=8)
    fig.strided_grid = {"tiles": len(tiles), "grid": (rows, ncols), "output": output, "upscale": upscale}
    if path is not None:
        save_figure(fig, path)
    return fig


__all__ = ["capture", "plot_activations", "activation_tiles", "SCALES"]
