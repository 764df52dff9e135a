"""`st.viz.KERNELS`, `apply_kernel` and `strided kernels`: image kernels through strided's convolution.

Oracles: SciPy's `correlate2d(mode='same')` (zero borders) for the arrays, a synthetic image whose
one vertical edge is where we put it, and the rendered PNG read back pixel by pixel at positions
taken from the figure's own axes transform.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import strided as st
from strided.cli import main
from strided.viz import common
from strided.viz.kernels import KERNELS, apply_kernel, get_kernel, kernel_name, plot_kernel, plot_kernels

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

EDGE = 12                    # the synthetic image is dark left of column 12, bright from column 12 on


def edge_image(h: int = 24, w: int = 24) -> np.ndarray:
    """Zeros, then ones from column EDGE to w - 6, then zeros again: one rising and one falling vertical edge."""
    x = np.zeros((h, w))
    x[:, EDGE:w - 6] = 1.0
    return x


def test_every_kernel_is_cross_correlation_with_zero_borders():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(0)
    gray, colour = rng.random((17, 23)), rng.random((11, 14, 3))
    for name, k in KERNELS.items():
        np.testing.assert_allclose(apply_kernel(gray, name), signal.correlate2d(gray, k, mode="same"), atol=1e-12)
        out = apply_kernel(colour, name)
        assert out.shape == colour.shape
        for c in range(3):                                               # per channel
            np.testing.assert_allclose(out[..., c], signal.correlate2d(colour[..., c], k, mode="same"), atol=1e-12)
    for shape in [(2, 2), (1, 4), (4, 3), (5, 5)]:                       # even sizes: scipy's alignment too
        k = rng.standard_normal(shape)
        np.testing.assert_allclose(apply_kernel(gray, k), signal.correlate2d(gray, k, mode="same"), atol=1e-12)
    # not image processing's convolution: that flips the kernel, and Sobel's sign with it
    np.testing.assert_allclose(apply_kernel(gray, "sobel-x"), -signal.convolve2d(gray, KERNELS["sobel-right"],
                                                                                 mode="same"), atol=1e-12)


def test_kernel_values_names_and_aliases():
    assert kernel_name("sobel-x") == "sobel-right" and kernel_name("Sobel_Y") == "sobel-bottom"
    assert kernel_name("left sobel") == "sobel-left" and kernel_name("blur") == "box-blur"
    np.testing.assert_array_equal(KERNELS["sobel-right"], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(KERNELS["sobel-left"], -KERNELS["sobel-right"])
    np.testing.assert_array_equal(KERNELS["sobel-top"], -KERNELS["sobel-bottom"])
    np.testing.assert_array_equal(KERNELS["sobel-bottom"], KERNELS["sobel-right"].T)
    assert KERNELS["box-blur"].sum() == pytest.approx(1) and KERNELS["gaussian-blur"][1, 1] == 0.25
    assert KERNELS["laplacian"].sum() == 0 and KERNELS["outline"][1, 1] == 8 and KERNELS["sharpen"][1, 1] == 5
    with pytest.raises(ValueError, match="unknown kernel 'sobel-z'.*sobel-x"):
        get_kernel("sobel-z")
    with pytest.raises(ValueError, match="2-D array"):
        apply_kernel(np.zeros((4, 4)), np.ones(3))
    assert not KERNELS["identity"].flags.writeable


def test_sobel_x_peaks_on_the_vertical_edge():
    x = edge_image()
    y = apply_kernel(x, "sobel-x")
    rows, cols = np.nonzero(y == y.max())
    assert set(cols) == {EDGE - 1, EDGE} and y.max() == 4          # (1 + 2 + 1) * (1 - 0) across the rising edge
    assert np.all(y[1:-1, :EDGE - 1] == 0)                          # flat dark region: no response
    assert y[5, 24 - 6] == -4 and y[5, 24 - 7] == -4                # the falling edge answers negatively
    assert np.abs(apply_kernel(x, "sobel-y")[1:-1]).max() == 0      # no horizontal edge inside the image


def panel_colours(fig, ax, image_shape, row: int) -> np.ndarray:
    """The rendered colour at the centre of every pixel (row, j) of the image shown on ax: (W, 3)."""
    png = common.figure_to_array(fig)
    out = []
    for j in range(image_shape[1]):
        r, c = common.data_to_pixel(ax, j, row)
        out.append(png[r, c])
    return np.array(out, dtype=int)


def check_edge_picture(png: np.ndarray, fig) -> None:
    """In the output panel the reddest pixels are the rising edge's columns, the falling edge's the bluest,
    and the flat dark region is white (0 on the diverging map)."""
    ax = fig.axes[2]
    colours = []
    for j in range(24):
        r, c = common.data_to_pixel(ax, j, 8)
        colours.append(png[r, c])
    colours = np.array(colours, dtype=int)
    redness = colours[:, 0] - colours[:, 2]
    assert set(np.flatnonzero(redness == redness.max())) == {EDGE - 1, EDGE}
    assert redness.max() > 50 and redness.min() < -50              # the ends of the diverging map
    assert set(np.flatnonzero(redness == redness.min())) == {24 - 7, 24 - 6}
    assert np.all(colours[2:EDGE - 2] > 240)                         # white where the response is 0
    r, c = common.data_to_pixel(fig.axes[0], EDGE + 2, 8)            # the input panel shows the image itself
    assert np.all(png[r, c] > 240)
    r, c = common.data_to_pixel(fig.axes[0], 3, 8)
    assert np.all(png[r, c] < 15)


def test_sobel_x_picture_shows_the_edge(tmp_path):
    x = edge_image()
    fig = plot_kernel(x, "sobel-x")
    path = common.save_figure(fig, tmp_path / "sobel.png")
    png = common.read_png(path)
    assert png.shape[:2] == common.figure_to_array(fig).shape[:2]
    check_edge_picture(png, fig)
    assert "sobel-x (sobel-right)" in fig.axes[1].get_title()
    texts = [t.get_text() for t in fig.axes[1].texts]                # the kernel's values, annotated row by row
    assert texts == ["-1", "0", "1", "-2", "0", "2", "-1", "0", "1"]


def test_kernels_command_draws_the_same_picture(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray((edge_image() * 255).astype(np.uint8)).save(tmp_path / "edge.png")
    out = tmp_path / "out.png"
    assert main(["kernels", str(tmp_path / "edge.png"), "--kernel", "sobel-x", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    fig = plot_kernel(common.load_image(tmp_path / "edge.png"), "sobel-x")   # the layout the command used
    check_edge_picture(common.read_png(out), fig)


def test_identity_panel_repeats_the_input_in_the_all_grid(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.random((10, 16, 3))
    fig = plot_kernels(x)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:4] == ["input", "identity", "box-blur (x 1/9)", "gaussian-blur (x 1/16)"]
    assert len([ax for ax in fig.axes if ax.images and ax.get_title()]) == 1 + len(KERNELS)
    png = common.figure_to_array(fig)
    src, ident = fig.axes[0], fig.axes[1]
    for i, j in [(0, 0), (4, 7), (9, 15)]:
        a = png[common.data_to_pixel(src, j, i)]
        b = png[common.data_to_pixel(ident, j, i)]
        np.testing.assert_allclose(a, np.round(x[i, j] * 255), atol=2)
        np.testing.assert_allclose(a, b, atol=1)
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray((x * 255).astype(np.uint8)).save(tmp_path / "c.png")
    assert main(["kernels", str(tmp_path / "c.png"), "--kernel", "all", "--out", str(tmp_path / "all.png")]) == 0
    assert common.read_png(tmp_path / "all.png").shape[:2] == png.shape[:2]


def test_kernel_weights_on_the_command_line(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray((edge_image() * 255).astype(np.uint8)).save(tmp_path / "edge.png")
    out = tmp_path / "w.png"
    assert main(["kernels", str(tmp_path / "edge.png"), "--kernel=-1,0,1;-2,0,2;-1,0,1", "--out", str(out)]) == 0
    fig = plot_kernel(common.load_image(tmp_path / "edge.png"), KERNELS["sobel-right"])
    check_edge_picture(common.read_png(out), fig)
    assert main(["kernels", str(tmp_path / "edge.png"), "--kernel", "1,2;3"]) == 2
    assert "same number of weights" in capsys.readouterr().err
    assert main(["kernels", str(tmp_path / "nothing.png"), "--kernel", "sobel-x"]) == 2
    assert "neither an image file nor a photo name" in capsys.readouterr().err


def test_photos_by_name():
    pytest.importorskip("sklearn")
    china = common.load_image("china")
    assert china.shape == (427, 640, 3) and china.dtype == np.float32 and 0 <= china.min() < china.max() <= 1
    assert common.load_image("china", gray=True).shape == (427, 640)
    pytest.importorskip("skimage")
    camera = common.load_image("camera")
    assert camera.shape == (512, 512)
    assert common.load_image("camera", gray=False).shape == (512, 512, 3)
    assert common.load_image("chelsea").shape == (300, 451, 3)


def test_without_matplotlib_the_commands_name_the_viz_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)                    # import matplotlib -> ImportError
    assert main(["kernels", "china", "--kernel", "sobel-x", "--out", str(tmp_path / "k.png")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "strided[viz]"' in err and "matplotlib" in err
    with pytest.raises(ImportError, match=r"strided\[viz\]"):
        st.viz.plot_kernel(edge_image(), "sobel-x")
    assert not (tmp_path / "k.png").exists()
    np.testing.assert_array_equal(apply_kernel(edge_image(), "identity"), edge_image())   # arrays need no extra
