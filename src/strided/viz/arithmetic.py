"""Convolution arithmetic drawn from the resolved geometry (lecture 000; Dumoulin & Visin's guide).

Every picture reads one resolved value, never its own arithmetic: a convolution's ``Window``
(``resolve_window``: kernel, stride, dilation, ``(lo, hi)`` pads for any padding mode, output
sizes, and ``taps``-style positions ``o * stride + k * dilation`` in the padded input) or a
transposed convolution's ``TransposedWindow`` (``resolve_transposed_window``: the ``grid`` the
footprints land on and the ``crop`` that leaves the output).

- ``plot_conv_arithmetic``: the padded input (padding cells grey and hatched), the taps of one
  window (orange, its extent outlined), the centre of every window position (dots), and the
  output grid with that window's cell highlighted and linked to it.
- ``plot_transposed_arithmetic``: the input grid and the grid its cells spread onto, ``stride``
  apart (dots where each input cell's footprint is centred), one input cell's footprint in
  orange, and the cells that ``padding`` crops grey and hatched.
- ``save_conv_gif``: one frame per output cell (per input cell for the transposed form).

Artists carry a ``gid`` naming their role (``input-cell``, ``padding-cell``, ``window-tap``,
``window-outline``, ``window-centres``, ``output-cell``; transposed: ``input-cell``,
``footprint-tap``, ``input-landing``, ``output-cell``, ``cropped-cell``), so a test can count
them. A one-number size draws a square input, as the guide does; one-dimensional geometry (a
``(n,)`` size, ``'causal'`` padding) is drawn on one row. Cell ``(r, c)`` covers
``[c, c + 1] x [r, r + 1]`` in its axes' data coordinates, row 0 at the top.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..geometry import TransposedWindow, Window, resolve_transposed_window, resolve_window
from .common import COLORS, figure_to_array, new_figure, save_gif

MAX_FRAMES = 256
"""The most frames ``save_conv_gif`` writes (one per output cell)."""


# ----------------------------------------------------------------------------------- resolving
def _sizes(input_size, padding) -> tuple[int, ...]:
    """An int is a square input (a row for 'causal' padding); a sequence is kept."""
    if isinstance(input_size, (int, np.integer)) and not isinstance(input_size, bool):
        causal = isinstance(padding, str) and padding.lower() == "causal"
        return (int(input_size),) if causal else (int(input_size),) * 2
    return tuple(int(n) for n in input_size)


def conv_window(input_size, kernel, stride=1, padding=0, dilation=1) -> Window:
    """The ``Window`` of a convolution over ``input_size`` (an int: square; see the module's docstring)."""
    return resolve_window(_sizes(input_size, padding), kernel, stride, dilation, padding, owner="conv arithmetic")


def transposed_window(input_size, kernel, stride=1, padding=0, dilation=1, output_padding=0) -> TransposedWindow:
    """The ``TransposedWindow`` of a transposed convolution over ``input_size`` (an int: square)."""
    return resolve_transposed_window(_sizes(input_size, padding), kernel, stride, dilation, padding, output_padding,
                                     owner="transposed conv arithmetic")


def _axes2(w) -> dict:
    """The geometry per drawn axis, ``(rows, columns)``: a 1-D window gets a trivial row axis."""
    lift = (lambda t, v: (v,) + tuple(t)) if w.ndim == 1 else (lambda t, v: tuple(t))
    if w.ndim > 2:
        raise ValueError(f"conv arithmetic draws 1-D and 2-D geometry, got {w.ndim}-D sizes {w.in_sizes}")
    return {"kernel": lift(w.kernel, 1), "stride": lift(w.stride, 1), "dilation": lift(w.dilation, 1),
            "pads": lift(w.pads, (0, 0)), "in": lift(w.in_sizes, 1), "out": lift(w.out_sizes, 1)}


def _position(position, out: Sequence[int]) -> tuple[int, int]:
    """A flat index (row-major) or an ``(r, c)`` pair (one int for a row) into a grid of ``out`` cells."""
    if isinstance(position, (int, np.integer)):
        if not 0 <= int(position) < out[0] * out[1]:
            raise ValueError(f"position {position} is outside the {out[0]}x{out[1]} grid")
        return divmod(int(position), out[1])
    r, c = position
    if not (0 <= r < out[0] and 0 <= c < out[1]):
        raise ValueError(f"position {tuple(position)} is outside the {out[0]}x{out[1]} grid")
    return int(r), int(c)


# ----------------------------------------------------------------------------------- drawing helpers
def _cell(ax, r, c, gid, face, hatch=None, edge=None, lw=0.8, zorder=1):
    from matplotlib.patches import Rectangle
    patch = Rectangle((c, r), 1, 1, facecolor=face, edgecolor=edge or COLORS["edge"], linewidth=lw,
                      hatch=hatch, gid=gid, zorder=zorder)
    ax.add_patch(patch)
    return patch


def _frame(ax, rows: int, cols: int, title: str) -> None:
    ax.set_xlim(-0.2, cols + 0.2)
    ax.set_ylim(rows + 0.2, -0.2)                  # row 0 at the top
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def _figure(left_cols: int, right_cols: int, rows_l: int, rows_r: int, cell: float):
    """Two axes side by side, cell sizes equal in both, room for two-line titles and a caption."""
    gap, top_in, bottom_in = 1.5, 0.75, 0.65
    grids = cell * (left_cols + right_cols + gap + 0.8)
    fig = new_figure(max(grids + 0.4, 6.0), cell * (max(rows_l, rows_r) + 0.4) + top_in + bottom_in)
    W, H = fig.get_size_inches()

    def rect(x0_in, cols, rows):
        return [x0_in / W, 1 - (top_in + cell * (rows + 0.4)) / H, cell * (cols + 0.4) / W, cell * (rows + 0.4) / H]
    x_left = (W - grids) / 2
    ax_in = fig.add_axes(rect(x_left, left_cols, rows_l))
    ax_out = fig.add_axes(rect(x_left + cell * (left_cols + gap + 0.4), right_cols, rows_r))
    return fig, ax_in, ax_out


def _link(fig, ax_from, xy_from, ax_to, xy_to):
    from matplotlib.patches import ConnectionPatch
    fig.add_artist(ConnectionPatch(xyA=xy_from, coordsA=ax_from.transData, xyB=xy_to, coordsB=ax_to.transData,
                                   arrowstyle="->", color=COLORS["window"], linewidth=1.5, gid="link", zorder=5))


def _dims(sizes) -> str:
    return "x".join(str(int(s)) for s in sizes)


def _pads_text(pads) -> str:
    """``(1,1)`` when every axis has the same pads, else one pair per axis."""
    pairs = [f"({lo},{hi})" for lo, hi in pads]
    return pairs[0] if len(set(pairs)) == 1 else ", ".join(pairs)


# ----------------------------------------------------------------------------------- convolution
def plot_conv_arithmetic(input_size, kernel, stride=1, padding=0, dilation=1, *, position=0, cell: float = 0.42):
    """Draw a convolution's arithmetic for ``input_size`` (int: square; ``(n,)``: a row; ``(h, w)``)
    with the window of output cell ``position`` (flat row-major index or ``(r, c)``) highlighted.

    Args:
        input_size: an int (square), ``(n,)`` (a row) or ``(h, w)``.
        kernel: kernel size (int or per axis).
        stride: stride (int or per axis).
        padding: an int, per axis, ``(lo, hi)`` pairs, or a padding name (``'same'``, ``'valid'``,
            ``'full'``, ``'causal'``).
        dilation: dilation (int or per axis).
        position: the output cell whose window is highlighted (flat row-major index or ``(r, c)``).
        cell: inches per grid cell.

    Shape: padded ``P = n + lo + hi`` cells per axis, ``out = floor((P - d(k-1) - 1) / s) + 1``
    output cells; window ``o`` reads padded cells ``o * s + t * d`` for taps ``t < k``.
    Returns the matplotlib ``Figure`` (``fig.axes[0]`` the input, ``fig.axes[1]`` the output).

    >>> fig = plot_conv_arithmetic(5, 3, stride=2, padding=1)        # doctest: +SKIP
    """
    w = conv_window(input_size, kernel, stride, padding, dilation)
    return draw_window(w, position, padding_label=padding, cell=cell)


def draw_window(w: Window, position=0, padding_label=None, cell: float = 0.42):
    """``plot_conv_arithmetic`` for a resolved ``Window``."""
    g = _axes2(w)
    (lo_r, hi_r), (lo_c, hi_c) = g["pads"]
    (n_r, n_c), (o_r, o_c) = g["in"], g["out"]
    P_r, P_c = n_r + lo_r + hi_r, n_c + lo_c + hi_c
    pr, pc = _position(position, (o_r, o_c))
    fig, ax_in, ax_out = _figure(P_c, o_c, P_r, o_r, cell)
    for r in range(P_r):
        for c in range(P_c):
            pad = not (lo_r <= r < lo_r + n_r and lo_c <= c < lo_c + n_c)
            _cell(ax_in, r, c, "padding-cell" if pad else "input-cell", COLORS["padding" if pad else "input"],
                  hatch="///" if pad else None)
    (k_r, k_c), (s_r, s_c), (d_r, d_c) = g["kernel"], g["stride"], g["dilation"]
    r0, c0 = pr * s_r, pc * s_c                                   # the window's first tap, padded coordinates
    for t_r in range(k_r):
        for t_c in range(k_c):
            r, c = r0 + t_r * d_r, c0 + t_c * d_c
            pad = not (lo_r <= r < lo_r + n_r and lo_c <= c < lo_c + n_c)
            _cell(ax_in, r, c, "window-tap", COLORS["window"], hatch="///" if pad else None, zorder=2)
    e_r, e_c = d_r * (k_r - 1) + 1, d_c * (k_c - 1) + 1
    from matplotlib.patches import Rectangle
    ax_in.add_patch(Rectangle((c0, r0), e_c, e_r, fill=False, edgecolor=COLORS["box"], linewidth=2.5,
                              gid="window-outline", zorder=3))
    centres_r = [o * s_r + e_r / 2 for o in range(o_r)]
    centres_c = [o * s_c + e_c / 2 for o in range(o_c)]
    xs = [c for _ in centres_r for c in centres_c]
    ys = [r for r in centres_r for _ in centres_c]
    ax_in.plot(xs, ys, linestyle="none", marker="o", markersize=4, color=COLORS["active"], gid="window-centres",
               zorder=4)
    for r in range(o_r):
        for c in range(o_c):
            active = (r, c) == (pr, pc)
            _cell(ax_out, r, c, "output-cell", COLORS["active" if active else "output"])
    pads = _pads_text(w.pads)
    mode = f"'{padding_label}' = " if isinstance(padding_label, str) else ""
    _frame(ax_in, P_r, P_c, f"input {_dims(w.in_sizes)}, padding {mode}{pads}\n-> padded {_dims(w.padded_sizes)}")
    _frame(ax_out, o_r, o_c, f"output {_dims(w.out_sizes)}")
    _link(fig, ax_in, (c0 + e_c / 2, r0 + e_r / 2), ax_out, (pc + 0.5, pr + 0.5))
    _caption(fig, "kernel {}, stride {}, dilation {}: out = floor((W + P_lo + P_hi - d*(F - 1) - 1) / S) + 1", (
        w.kernel, w.stride, w.dilation), [f"floor(({n} + {lo} + {hi} - {d}*({k} - 1) - 1) / {s}) + 1 = {o}" for
                                          n, (lo, hi), d, k, s, o in zip(w.in_sizes, w.pads, w.dilation, w.kernel,
                                                                         w.stride, w.out_sizes)])
    return fig


def _caption(fig, head: str, settings, formulas) -> None:
    """One line of settings (one value when every axis has the same) and the filled-in formula per axis."""
    values = [str(v[0]) if len(set(v)) == 1 else _dims(v) for v in settings]
    if len(set(formulas)) == 1:
        lines = [formulas[0] + (" (each axis)" if len(formulas) > 1 else "")]
    else:
        lines = [f"{axis}: {f}" for axis, f in zip(("rows", "columns") if len(formulas) == 2 else ("size",), formulas)]
    fig.text(0.5, 0.02, "\n".join([head.format(*values)] + lines), ha="center", va="bottom", fontsize=8)


# ----------------------------------------------------------------------------------- transposed
def plot_transposed_arithmetic(input_size, kernel, stride=1, padding=0, dilation=1, output_padding=0, *,
                               position=0, cell: float = 0.42):
    """Draw a transposed convolution: each input cell spreads a ``kernel`` footprint onto the grid,
    ``stride`` apart; ``padding`` crops the grid to the output. Input cell ``position`` (flat or
    ``(r, c)``) is highlighted with its footprint.

    Args:
        input_size: an int (square), ``(n,)`` or ``(h, w)``.
        kernel: kernel size.
        stride: stride (spacing of the input pixels' footprints).
        padding: pixels cropped from each end of the output.
        dilation: dilation.
        output_padding: pixels added at the high end.
        position: the input cell whose footprint is highlighted.
        cell: inches per grid cell.

    Shape: grid ``(n - 1) s + d(k - 1) + 1`` cells per axis (more with ``output_padding``), output
    ``(n - 1) s - lo - hi + d(k - 1) + output_padding + 1``. Returns the ``Figure``.

    Example:
        >>> len(plot_transposed_arithmetic(3, 3, stride=2).axes)         # doctest: +SKIP
        2
    """
    t = transposed_window(input_size, kernel, stride, padding, dilation, output_padding)
    return draw_transposed(t, position, cell=cell)


def draw_transposed(t: TransposedWindow, position=0, cell: float = 0.42):
    """``plot_transposed_arithmetic`` for a resolved ``TransposedWindow``."""
    g = _axes2(t)
    grid = ((1,) + tuple(t.grid)) if t.ndim == 1 else tuple(t.grid)
    crop = (((0, 0),) + tuple(t.crop)) if t.ndim == 1 else tuple(t.crop)
    (n_r, n_c), (G_r, G_c) = g["in"], grid
    (k_r, k_c), (s_r, s_c), (d_r, d_c) = g["kernel"], g["stride"], g["dilation"]
    (cl_r, ch_r), (cl_c, ch_c) = crop
    pr, pc = _position(position, (n_r, n_c))
    fig, ax_in, ax_out = _figure(n_c, G_c, n_r, G_r, cell)
    for r in range(n_r):
        for c in range(n_c):
            _cell(ax_in, r, c, "input-cell", COLORS["window" if (r, c) == (pr, pc) else "input"])
    for r in range(G_r):
        for c in range(G_c):
            cut = not (cl_r <= r < G_r - ch_r and cl_c <= c < G_c - ch_c)
            _cell(ax_out, r, c, "cropped-cell" if cut else "output-cell", COLORS["padding" if cut else "output"],
                  hatch="///" if cut else None)
    r0, c0 = pr * s_r, pc * s_c
    for t_r in range(k_r):
        for t_c in range(k_c):
            r, c = r0 + t_r * d_r, c0 + t_c * d_c
            cut = not (cl_r <= r < G_r - ch_r and cl_c <= c < G_c - ch_c)
            _cell(ax_out, r, c, "footprint-tap", COLORS["window"], hatch="///" if cut else None, zorder=2)
    e_r, e_c = d_r * (k_r - 1) + 1, d_c * (k_c - 1) + 1
    from matplotlib.patches import Rectangle
    ax_out.add_patch(Rectangle((cl_c, cl_r), G_c - cl_c - ch_c, G_r - cl_r - ch_r, fill=False,
                               edgecolor=COLORS["active"], linewidth=2.5, gid="output-outline", zorder=3))
    xs = [i * s_c + e_c / 2 for _ in range(n_r) for i in range(n_c)]
    ys = [i * s_r + e_r / 2 for i in range(n_r) for _ in range(n_c)]
    ax_out.plot(xs, ys, linestyle="none", marker="o", markersize=4, color="#3182bd", gid="input-landing", zorder=4)
    _frame(ax_in, n_r, n_c, f"input {_dims(t.in_sizes)}")
    _frame(ax_out, G_r, G_c, f"grid {_dims(t.grid)}, cropped by padding {_pads_text(t.pads)}\n"
                             f"-> output {_dims(t.out_sizes)}")
    _link(fig, ax_in, (pc + 0.5, pr + 0.5), ax_out, (c0 + e_c / 2, r0 + e_r / 2))
    _caption(fig, "transposed: kernel {}, stride {}, dilation {}: out = (W - 1)*S - P_lo - P_hi + d*(F - 1) + "
                  "output_padding + 1", (t.kernel, t.stride, t.dilation),
             [f"({n} - 1)*{s} - {lo} - {hi} + {d}*({k} - 1) + {op} + 1 = {o}" for n, s, (lo, hi), d, k, op, o in
              zip(t.in_sizes, t.stride, t.pads, t.dilation, t.kernel, t.output_padding, t.out_sizes)])
    return fig


# ----------------------------------------------------------------------------------- animation
def conv_frames(input_size, kernel, stride=1, padding=0, dilation=1, *, transposed: bool = False,
                output_padding=0, cell: float = 0.42) -> list[np.ndarray]:
    """The GIF's frames, ``(H, W, 3)`` uint8: one per output cell in row-major order (per input cell
    when ``transposed``), each the arithmetic drawing with that window highlighted."""
    if transposed:
        geometry = transposed_window(input_size, kernel, stride, padding, dilation, output_padding)
        positions, draw = geometry.in_sizes, lambda p: draw_transposed(geometry, p, cell=cell)
    else:
        geometry = conv_window(input_size, kernel, stride, padding, dilation)
        positions, draw = geometry.out_sizes, lambda p: draw_window(geometry, p, padding_label=padding, cell=cell)
    count = int(np.prod(positions))
    if count > MAX_FRAMES:
        raise ValueError(f"conv arithmetic GIF: {count} positions ({_dims(positions)}) is more than {MAX_FRAMES} "
                         f"frames; draw a smaller input")
    return [figure_to_array(draw(p)) for p in range(count)]


def save_conv_gif(path, input_size, kernel, stride=1, padding=0, dilation=1, *, transposed: bool = False,
                  output_padding=0, duration_ms: int = 700, cell: float = 0.42) -> str:
    """Write the animated GIF of the kernel sliding (``conv_frames``) to ``path`` with Pillow; returns it.

    Args:
        path: the GIF file to write.
        input_size: as ``plot_conv_arithmetic``'s.
        kernel: kernel size.
        stride: stride.
        padding: as ``plot_conv_arithmetic``'s.
        dilation: dilation.
        transposed: animate a transposed convolution (one frame per input cell).
        output_padding: with ``transposed``: pixels added at the high end.
        duration_ms: milliseconds per frame.
        cell: inches per grid cell.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "conv.gif")
        >>> os.path.basename(save_conv_gif(path, 5, 3, stride=2))        # doctest: +SKIP
        'conv.gif'
    """
    frames = conv_frames(input_size, kernel, stride, padding, dilation, transposed=transposed,
                         output_padding=output_padding, cell=cell)
    return save_gif(frames, path, duration_ms=duration_ms)


__all__ = ["plot_conv_arithmetic", "plot_transposed_arithmetic", "draw_window", "draw_transposed", "conv_window",
           "transposed_window", "conv_frames", "save_conv_gif", "MAX_FRAMES"]
