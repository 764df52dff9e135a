"""Receptive fields drawn from the static rule: the region of the input that one unit sees.

``summary`` gives every layer's receptive field (Araujo et al., Distill 2019) as ``size``,
``jump`` and ``start`` per spatial axis, in input pixel indices (the first pixel's centre is 0).
Unit ``u`` of a layer is centred at ``start + u * jump`` and sees the pixels
``[centre - (size - 1) / 2, centre + (size - 1) / 2]``; where that hangs into padding it is
clipped to the input. No forward pass is run: a zoo model is built shape-only (``meta=True``),
a run folder's model from its ``config.json``.

- ``receptive_field_box(model, input_shape, layer, unit)``: that region (``RFBox``).
- ``plot_receptive_field``: the box on an image (resized to the input, with strided's
  ``F.interpolate``) or on a blank canvas.
- ``receptive_field_sizes`` / ``plot_receptive_field_sizes``: the size per layer of a whole model
  (VGG-16 reaches 212 pixels before its classifier, AlexNet 195).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .common import COLORS, new_figure, resize_image, show_image


# ----------------------------------------------------------------------------------- models
def build_for_geometry(model, input_shape=None):
    """``(module, input_shape)`` for the static rules. ``model``: a ``Module`` (``input_shape`` required),
    a zoo name (built shape-only for ``input_shape``: its ``in_channels`` and ``input_size`` follow it),
    a run folder (its model shape-only; ``input_shape`` defaults to the run's) or a spec string."""
    from ..nn import Module
    shape = None if input_shape is None else tuple(int(s) for s in input_shape)
    if isinstance(model, Module):
        if shape is None:
            raise ValueError("receptive field: give input_shape (C, H, W) for a module")
        return model, shape
    name = os.fspath(model)
    from ..models import create_model, list_models
    if name in list_models():
        if shape is None:
            raise ValueError(f"receptive field: give the input shape for {name!r} (e.g. --input 3x224x224)")
        from ..train.job import factory_kwargs
        kwargs = {k: v for k, v in factory_kwargs(name, shape, 1).items() if k != "num_classes"}
        return create_model(name, meta=True, **kwargs), shape
    if os.path.isdir(name):
        from ..train.job import build_model
        from ..train.runs import read_config
        config = read_config(name)
        run_shape = tuple(int(s) for s in config["input_shape"])
        net = build_model(config["model"], run_shape, len(config["classes"]), built_meta=True)
        return net, shape or run_shape
    if any(ch in name for ch in " -"):
        if shape is None:
            raise ValueError(f"receptive field: give the input shape for the spec {name!r}")
        from ..nn import from_spec, meta
        with meta():
            return from_spec(name, shape), shape
    create_model(name)                                  # raises, with the closest names
    raise AssertionError("unreachable")


def spatial_rows(model, input_shape) -> list:
    """``summary``'s rows whose output keeps spatial axes and whose receptive field is known."""
    from ..analysis import summary
    net, shape = build_for_geometry(model, input_shape)
    rows = summary(net, (1,) + tuple(shape)).rows
    return [r for r in rows if r.receptive_field is not None and len(r.output_shape) == len(shape) + 1]


# ----------------------------------------------------------------------------------- one unit
@dataclass(frozen=True)
class RFBox:
    """The input region one unit sees, per spatial axis: ``lo``/``hi`` inclusive pixel indices,
    unclipped (may hang outside the input into padding) and ``clipped`` to ``[0, n - 1]``."""

    layer: str
    unit: tuple[int, ...]
    size: tuple[float, ...]
    jump: tuple[float, ...]
    start: tuple[float, ...]
    input_sizes: tuple[int, ...]
    lo: tuple[int, ...]
    hi: tuple[int, ...]

    @property
    def centre(self) -> tuple[float, ...]:
        return tuple(s + u * j for s, u, j in zip(self.start, self.unit, self.jump))

    @property
    def clipped(self) -> tuple[tuple[int, int], ...]:
        """``(lo, hi)`` per axis within the input (inclusive)."""
        return tuple((max(lo, 0), min(hi, n - 1)) for lo, hi, n in zip(self.lo, self.hi, self.input_sizes))

    @property
    def slices(self) -> tuple[slice, ...]:
        """Index the input's spatial axes with these to get the pixels the unit sees."""
        return tuple(slice(lo, hi + 1) for lo, hi in self.clipped)

    def describe(self) -> str:
        names = {1: ("positions",), 2: ("rows", "columns"), 3: ("depth", "rows", "columns")}.get(
            len(self.lo), tuple(f"axis {a}" for a in range(len(self.lo))))
        axes = "; ".join(f"{name} {lo}..{hi}" + (f" (unclipped {ulo}..{uhi})" if (lo, hi) != (ulo, uhi) else "")
                         for name, (lo, hi), ulo, uhi in zip(names, self.clipped, self.lo, self.hi))
        fmt = lambda v: "x".join(f"{x:g}" for x in v)             # noqa: E731
        return (f"{self.layer} unit {tuple(self.unit)}: receptive field {fmt(self.size)}, jump {fmt(self.jump)}, "
                f"start {fmt(self.start)}; {axes}")


def box_from_field(layer: str, rf, unit, input_sizes) -> RFBox:
    """The ``RFBox`` of ``unit`` for a layer with receptive field ``rf`` (``ReceptiveField``) over ``input_sizes``."""
    unit = tuple(int(u) for u in unit)
    lo, hi = [], []
    for size, jump, start, u in zip(rf.size, rf.jump, rf.start, unit):
        centre = start + u * jump
        lo.append(math.floor(centre - (size - 1) / 2 + 1e-9))      # exact for integer fields, an envelope otherwise
        hi.append(math.ceil(centre + (size - 1) / 2 - 1e-9))
    return RFBox(layer, unit, tuple(rf.size), tuple(rf.jump), tuple(rf.start), tuple(int(n) for n in input_sizes),
                 tuple(lo), tuple(hi))


def _find_row(rows, layer):
    if layer is None:
        return rows[-1]
    for row in rows:
        if row.name == layer:
            return row
    names = ", ".join(r.name for r in rows)
    raise ValueError(f"receptive field: no layer {layer!r} with a spatial output and a known receptive field; "
                     f"layers: {names}")


def parse_unit(text) -> tuple[int, ...]:
    """``'3,4'`` -> ``(3, 4)``; ints and tuples pass."""
    if isinstance(text, str):
        try:
            return tuple(int(v) for v in text.replace("x", ",").split(","))
        except ValueError:
            raise ValueError(f"--unit: expected indices like 3,4, got {text!r}") from None
    if isinstance(text, (int, np.integer)):
        return (int(text),)
    return tuple(int(v) for v in text)


def receptive_field_box(model, input_shape=None, layer: str | None = None, unit=None) -> RFBox:
    """The region of the input that unit ``unit`` (output spatial indices; default the centre unit) of
    ``layer`` (a ``summary`` row name; default the last layer with a spatial output) sees.

    ``model``: a ``Module``, a zoo name, a run folder or a spec string (``build_for_geometry``);
    ``input_shape``: ``(C, *spatial)`` without the batch axis.

    Args:
        model: a ``Module``, a zoo name, a run folder or a spec string.
        input_shape: ``(C, *spatial)`` without the batch axis.
        layer: a ``summary`` row name (default: the last layer with a spatial output).
        unit: output spatial indices (default: the centre unit).

    >>> receptive_field_box("vgg16", (3, 224, 224), "features.30", (0, 0)).clipped   # doctest: +SKIP
    ((0, 121), (0, 121))
    """
    net, shape = build_for_geometry(model, input_shape)
    row = _find_row(spatial_rows(net, shape), layer)
    out = row.output_shape[2:]
    unit = tuple(n // 2 for n in out) if unit is None else parse_unit(unit)
    if len(unit) != len(out) or any(not 0 <= u < n for u, n in zip(unit, out)):
        raise ValueError(f"receptive field: unit {unit} is outside {row.name}'s output of "
                         f"{'x'.join(map(str, out))} positions")
    return box_from_field(row.name, row.receptive_field, unit, shape[1:])


# ----------------------------------------------------------------------------------- drawing
def _canvas(image, sizes):
    """The picture under the box: ``image`` resized to ``sizes`` (``(h, w)``), or a blank grey canvas."""
    if image is None:
        return np.full(tuple(sizes), 0.93, np.float32)
    if isinstance(image, (str, os.PathLike)):
        from .common import load_image
        image = load_image(image)
    return np.clip(resize_image(np.asarray(image, np.float32), sizes), 0, 1)


def draw_box(ax, box: RFBox, alpha: float = 0.28):
    """The clipped box on ``ax`` (pixel ``(i, j)`` at data ``(j, i)``): a tinted fill, a solid edge and a
    cross at the unit's centre."""
    from matplotlib.patches import Rectangle
    (r0, r1), (c0, c1) = box.clipped
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, facecolor=COLORS["box"], alpha=alpha,
                           edgecolor="none", gid="rf-fill", zorder=2))
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, edgecolor=COLORS["box"],
                           linewidth=2, gid="rf-box", zorder=3))
    cy, cx = box.centre
    ax.plot([cx], [cy], marker="+", markersize=9, color=COLORS["box"], gid="rf-centre", zorder=4)


def plot_receptive_field(model, input_shape=None, layer: str | None = None, unit=None, image=None,
                         size: float = 5.0):
    """The receptive field of one unit as a box on ``image`` (an array, a file or a photo name,
    resized to the input's ``H x W``) or a blank canvas; returns the ``Figure`` (``fig.axes[0]``
    shows the input, pixel ``(i, j)`` at data ``(j, i)``).

    Args:
        model: a ``Module``, a zoo name, a run folder or a spec string.
        input_shape: ``(C, *spatial)`` without the batch axis.
        layer: a ``summary`` row name (default: the last layer with a spatial output).
        unit: output spatial indices (default: the centre unit).
        image: an array, a file or a photo name drawn under the box (default: a blank canvas).
        size: the figure's size in inches.

    Example:
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, rng=0))
        >>> len(plot_receptive_field(model, (1, 16, 16)).axes)           # doctest: +SKIP
        1
    """
    net, shape = build_for_geometry(model, input_shape)
    box = receptive_field_box(net, shape, layer, unit)
    if len(box.input_sizes) != 2:
        raise ValueError(f"receptive field: drawing needs a 2-D input, got {len(box.input_sizes)}-D {shape}")
    h, w = box.input_sizes
    fig = new_figure(size * max(w / h, 0.6), size * max(h / w, 0.6) + 0.6)
    ax = fig.add_axes([0.04, 0.03, 0.92, 0.83])
    show_image(ax, _canvas(image, (h, w)), vmin=0, vmax=1)
    draw_box(ax, box)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    fmt = lambda v: "x".join(f"{x:g}" for x in v)                 # noqa: E731
    (r0, r1), (c0, c1) = box.clipped
    clipped = " (clipped)" if box.clipped != tuple(zip(box.lo, box.hi)) else ""
    ax.set_title(f"{box.layer}, unit {tuple(box.unit)}: field {fmt(box.size)}, jump {fmt(box.jump)}\n"
                 f"rows {r0}..{r1}, columns {c0}..{c1} of {h}x{w}{clipped}", fontsize=9)
    return fig


def receptive_field_sizes(model, input_shape=None, changed_only: bool = True) -> list[tuple[str, str, tuple, tuple]]:
    """``[(layer, type, size, jump)]`` per layer with a spatial output (``changed_only``: only where the
    field changes, i.e. the convolutions and poolings, not the activations after them).

    Args:
        model: a ``Module``, a zoo name, a run folder or a spec string.
        input_shape: ``(C, *spatial)`` without the batch axis.
        changed_only: only the layers where the field changes.

    Example:
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, rng=0))
        >>> receptive_field_sizes(model, (1, 16, 16))                    # (name, type, size, jump)
        [('0', 'Conv2d', (3, 3), (1, 1)), ('2', 'MaxPool2d', (4, 4), (2, 2)), ('3', 'Conv2d', (8, 8), (2, 2))]
    """
    rows, out, last = spatial_rows(model, input_shape), [], None
    for row in rows:
        rf = row.receptive_field
        key = (tuple(rf.size), tuple(rf.jump))
        if not changed_only or key != last:
            out.append((row.name, row.type, tuple(rf.size), tuple(rf.jump)))
        last = key
    return out


def plot_receptive_field_sizes(model, input_shape=None, title: str | None = None):
    """Receptive-field size per layer (bars, ``gid='rf-size'``, heights the first spatial axis's sizes)
    with the jump written above each bar and the input size as a dashed line; returns the ``Figure``.

    Args:
        model: a ``Module``, a zoo name, a run folder or a spec string.
        input_shape: ``(C, *spatial)`` without the batch axis.
        title: the figure's title.

    Example:
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, rng=0))
        >>> len(plot_receptive_field_sizes(model, (1, 16, 16)).axes)     # doctest: +SKIP
        1
    """
    net, shape = build_for_geometry(model, input_shape)
    data = receptive_field_sizes(net, shape)
    fig = new_figure(max(5.0, 0.38 * len(data) + 1.5), 4.2)
    ax = fig.add_axes([0.1, 0.3, 0.86, 0.6])
    heights = [size[0] for _, _, size, _ in data]
    bars = ax.bar(range(len(data)), heights, color=COLORS["input"], edgecolor=COLORS["edge"])
    for bar, (_, _, size, jump) in zip(bars, data):
        bar.set_gid("rf-size")
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{size[0]:g}\n/{jump[0]:g}", ha="center",
                va="bottom", fontsize=6)
    ax.axhline(shape[1], color=COLORS["box"], linestyle="--", linewidth=1, gid="input-size")
    ax.set_xticks(range(len(data)))
    ax.set_xticklabels([f"{name} ({kind})" for name, kind, _, _ in data], rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("receptive field (pixels)")
    ax.set_ylim(0, max(heights + [shape[1]]) * 1.2)
    name = title or (model if isinstance(model, str) else type(net).__name__)
    ax.set_title(f"{os.path.basename(os.fspath(name)) if isinstance(name, str) else name}: receptive field per layer "
                 f"(input {'x'.join(map(str, shape))}; label: size / jump; dashed: input size)", fontsize=9)
    return fig


__all__ = ["RFBox", "build_for_geometry", "spatial_rows", "box_from_field", "receptive_field_box", "parse_unit",
           "plot_receptive_field", "receptive_field_sizes", "plot_receptive_field_sizes", "draw_box"]
