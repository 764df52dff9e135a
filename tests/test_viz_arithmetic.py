"""Convolution arithmetic pictures (`st.viz.plot_conv_arithmetic`, `plot_transposed_arithmetic`, the GIF)
and `strided shape --draw/--gif/--transposed`.

Oracles: literal loops over window positions (which padded cells each window reads, how many
windows fit), hand-worked pads for the padding modes, PyTorch's transposed convolution for
output sizes, and the rendered pictures read back: the colour of every cell, sampled at
positions taken from the figure's own axes transform, classified by the nearest diagram colour.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from strided.cli import main
from strided.viz import common
from strided.viz.arithmetic import (conv_frames, conv_window, draw_window, plot_conv_arithmetic, plot_transposed_arithmetic,
                                    save_conv_gif)

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

# (input, kernel, stride, padding, dilation, pads per drawn axis (rows, columns), padded sizes)
CASES = [
    (5, 3, 2, 1, 1, ((1, 1), (1, 1)), (7, 7)),                  # the guide's "padding 1, stride 2"
    (7, 3, 1, 0, 2, ((0, 0), (0, 0)), (7, 7)),                  # dilation 2: extent 5, holes between taps
    ((6, 5), 3, 2, "same", 1, ((0, 1), (1, 1)), (7, 7)),        # 'same' at stride 2: ceil(n/2) outputs, extra pad high
    (4, 3, 1, "full", 1, ((2, 2), (2, 2)), (8, 8)),             # every partial overlap
    ((6,), 3, 1, "causal", 2, ((0, 0), (4, 0)), (1, 10)),       # 1-D, one row: pad only the past
]


def positions(padded: int, kernel: int, stride: int, dilation: int) -> list[int]:
    """First padded index of every window that fits: a literal loop, not the formula."""
    out, start = [], 0
    while start + dilation * (kernel - 1) < padded:
        out.append(start)
        start += stride
    return out


def artists(fig, gid):
    return [a for ax in fig.axes for a in list(ax.patches) + list(ax.lines) if a.get_gid() == gid]


def classify(png, ax, r, c, names=("input", "padding", "window")) -> str:
    """The diagram colour nearest to the median of a small patch inside cell (r, c), off its centre
    (where a window-centre dot may sit) and between hatch lines."""
    pr, pc = common.data_to_pixel(ax, c + 0.28, r + 0.28)
    patch = png[pr - 3:pr + 4, pc - 3:pc + 4].reshape(-1, 3).astype(float)
    colour = np.median(patch, axis=0)
    palette = {n: np.array([int(common.COLORS[n][i:i + 2], 16) for i in (1, 3, 5)]) for n in names}
    return min(palette, key=lambda n: np.abs(palette[n] - colour).sum())


def expected_cells(pads, sizes, taps):
    """'window' for every padded cell a tap of the window reads, else 'padding' / 'input'."""
    (lo_r, _), (lo_c, _) = pads
    n_r, n_c = sizes

    def kind(r, c):
        if (r, c) in taps:
            return "window"
        return "input" if lo_r <= r < lo_r + n_r and lo_c <= c < lo_c + n_c else "padding"
    return kind


@pytest.mark.parametrize("size, k, s, padding, d, pads, padded", CASES)
def test_cells_taps_and_windows_are_counted_and_coloured(size, k, s, padding, d, pads, padded):
    sizes = (1,) + tuple(size) if isinstance(size, tuple) and len(size) == 1 else (
        tuple(size) if isinstance(size, tuple) else (size, size))
    ks = (1, k) if sizes[0] == 1 and isinstance(size, tuple) else (k, k)
    ss = (1, s) if ks[0] == 1 else (s, s)
    starts = [positions(p, kk, st_, d if kk > 1 else 1) for p, kk, st_ in zip(padded, ks, ss)]
    outs = tuple(len(v) for v in starts)
    last = outs[0] * outs[1] - 1                                         # highlight the last window
    fig = plot_conv_arithmetic(size, k, s, padding, d, position=last)
    assert len(artists(fig, "input-cell")) == sizes[0] * sizes[1]
    assert len(artists(fig, "padding-cell")) == padded[0] * padded[1] - sizes[0] * sizes[1]
    assert len(artists(fig, "output-cell")) == outs[0] * outs[1]
    assert len(artists(fig, "window-tap")) == ks[0] * ks[1]
    centres, = artists(fig, "window-centres")
    extent = [d * (kk - 1) + 1 if kk > 1 else 1 for kk in ks]
    assert sorted(set(centres.get_xdata())) == [p + extent[1] / 2 for p in starts[1]]
    assert sorted(set(centres.get_ydata())) == [p + extent[0] / 2 for p in starts[0]]
    r0, c0 = starts[0][-1], starts[1][-1]
    taps = {(r0 + a * (d if ks[0] > 1 else 1), c0 + b * d) for a in range(ks[0]) for b in range(ks[1])}
    kind = expected_cells(pads, sizes, taps)
    png = common.figure_to_array(fig)
    ax_in, ax_out = fig.axes[:2]
    seen = {(r, c): classify(png, ax_in, r, c) for r in range(padded[0]) for c in range(padded[1])}
    assert seen == {(r, c): kind(r, c) for r in range(padded[0]) for c in range(padded[1])}
    out_seen = {(r, c): classify(png, ax_out, r, c, ("output", "active")) for r in range(outs[0])
                for c in range(outs[1])}
    assert [rc for rc, v in out_seen.items() if v == "active"] == [(outs[0] - 1, outs[1] - 1)]


def test_gif_has_one_frame_per_output_position(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    path = save_conv_gif(tmp_path / "conv.gif", 5, 3, stride=2, padding=1)
    with Image.open(path) as gif:
        assert gif.n_frames == 9
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    for p, frame in enumerate(frames):
        fig = draw_window(conv_window(5, 3, 2, 1, 1), p)                     # the layout of frame p
        ax_in, ax_out = fig.axes[:2]
        active = [(r, c) for r in range(3) for c in range(3)
                  if classify(frame, ax_out, r, c, ("output", "active")) == "active"]
        assert active == [divmod(p, 3)]
        r0, c0 = 2 * (p // 3), 2 * (p % 3)
        window = {(r, c) for r in range(7) for c in range(7) if classify(frame, ax_in, r, c) == "window"}
        assert window == {(r0 + a, c0 + b) for a in range(3) for b in range(3)}
    assert len(conv_frames(4, 2, stride=2)) == 4


@pytest.mark.parametrize("n, k, s, p, op, d", [(3, 3, 2, 1, 0, 1), (3, 3, 2, 1, 1, 1), ((2, 3), 2, 2, 0, 0, 1),
                                               (3, 2, 1, 0, 0, 2)])
def test_transposed_spreads_inputs_stride_apart_and_crops(n, k, s, p, op, d):
    torch = pytest.importorskip("torch")
    sizes = tuple(n) if isinstance(n, tuple) else (n, n)
    out = torch.nn.functional.conv_transpose2d(torch.zeros(1, 1, *sizes), torch.zeros(1, 1, k, k), stride=s,
                                               padding=p, output_padding=op, dilation=d).shape[2:]
    footprint = [(i - 1) * s + d * (k - 1) + 1 for i in sizes]            # where the footprints land, uncropped
    grid = [max(f, p + o) for f, o in zip(footprint, out)]
    fig = plot_transposed_arithmetic(n, k, s, p, d, op, position=sizes[0] * sizes[1] - 1)
    assert len(artists(fig, "input-cell")) == sizes[0] * sizes[1]
    assert len(artists(fig, "output-cell")) == out[0] * out[1]
    assert len(artists(fig, "cropped-cell")) == grid[0] * grid[1] - out[0] * out[1]
    assert len(artists(fig, "footprint-tap")) == k * k
    landing, = artists(fig, "input-landing")
    xs = sorted(set(landing.get_xdata()))
    assert len(landing.get_xdata()) == sizes[0] * sizes[1] and np.allclose(np.diff(xs), s)   # stride apart
    png = common.figure_to_array(fig)
    ax_out = fig.axes[1]
    kept = {(r, c) for r in range(grid[0]) for c in range(grid[1])
            if classify(png, ax_out, r, c, ("output", "padding", "window")) in ("output",)}
    r0, c0 = (sizes[0] - 1) * s, (sizes[1] - 1) * s
    taps = {(r0 + a * d, c0 + b * d) for a in range(k) for b in range(k)}
    expect = {(r, c) for r in range(p, p + out[0]) for c in range(p, p + out[1])} - taps
    assert kept == expect


def test_shape_command_draws_and_animates(tmp_path, capsys):
    png, gif = tmp_path / "a.png", tmp_path / "a.gif"
    assert main(["shape", "--input", "5", "--kernel", "3", "--stride", "2", "--padding", "1", "--draw", str(png),
                 "--gif", str(gif)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "3" and lines[2:] == [f"wrote {png}", f"wrote {gif}"]
    np.testing.assert_array_equal(common.read_png(png), common.figure_to_array(plot_conv_arithmetic(5, 3, 2, 1)))
    Image = pytest.importorskip("PIL.Image")
    with Image.open(gif) as g:
        assert g.n_frames == 9
    assert main(["shape", "--input", "6x5", "--kernel", "3", "--stride", "2", "--padding", "same", "--draw",
                 str(png)]) == 0
    assert capsys.readouterr().out.splitlines()[2] == "3x3"
    assert len(artists(plot_conv_arithmetic((6, 5), 3, 2, "same"), "padding-cell")) == 7 * 7 - 30


def test_shape_transposed_prints_pytorchs_size_and_draws(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    gif = tmp_path / "t.gif"
    assert main(["shape", "--input", "3", "--kernel", "3", "--stride", "2", "--padding", "1", "--transposed",
                 "--output-padding", "1", "--draw", str(tmp_path / "t.png"), "--gif", str(gif)]) == 0
    out = capsys.readouterr().out.splitlines()
    expect = torch.nn.ConvTranspose1d(1, 1, 3, stride=2, padding=1, output_padding=1)(torch.zeros(1, 1, 3)).shape[-1]
    assert out[0] == ("output = (W - 1)*S - P_lo - P_hi + d*(F - 1) + output_padding + 1 = "
                      f"(3 - 1)*2 - 1 - 1 + 1*(3 - 1) + 1 + 1 = {expect}") and out[1] == str(expect)
    Image = pytest.importorskip("PIL.Image")
    with Image.open(gif) as g:
        assert g.n_frames == 9                                          # one per input cell
    assert main(["shape", "--input", "3", "--kernel", "3", "--padding", "same", "--transposed"]) == 2
    assert "crops its output" in capsys.readouterr().err
    assert main(["shape", "--input", "3x3x3", "--kernel", "2", "--draw", str(tmp_path / "x.png")]) == 2
    assert "1-D and 2-D" in capsys.readouterr().err


def test_without_matplotlib_shape_still_prints_but_drawing_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["shape", "--input", "5", "--kernel", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3"
    assert main(["shape", "--input", "5", "--kernel", "3", "--draw", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("strided shape: error:") and 'pip install "strided[viz]"' in err
    assert not (tmp_path / "a.png").exists()
    monkeypatch.delitem(sys.modules, "matplotlib")
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert main(["shape", "--input", "5", "--kernel", "3", "--gif", str(tmp_path / "a.gif")]) == 2
    assert 'pip install "strided[viz]"' in capsys.readouterr().err
