"""Learned filters and feature maps: what the PNGs show, read back with Pillow.

Oracles: filters set by hand to known patterns (ramps, edges, constants, pure colours), whose
normalised values are written out here; feature maps of a convolution with hand-set Dirac
kernels, whose outputs are the input, its negation and zero (computed here with NumPy); the
viridis colour map inverted by a lookup table; tiles and panels counted by the gaps between them.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.cli import main
from viz_run import axes_box, cells, read_rgb, require_viz, sample, tiny_run

require_viz()

from strided.viz.filters import GAP_COLOR, plot_filters  # noqa: E402
from strided.viz.maps import capture, plot_activations  # noqa: E402

GAP = np.round(np.array(GAP_COLOR[:3]) * 255).astype(int)


def filter_cells(path):
    image = read_rgb(path)
    is_gap = (np.abs(image - GAP).max(axis=2) <= 2)
    ys, xs = np.nonzero(is_gap)
    image, is_gap = image[ys.min():ys.max() + 1, xs.min():xs.max() + 1], is_gap[ys.min():ys.max() + 1,
                                                                                  xs.min():xs.max() + 1]
    return image, cells(image, is_gap)


def conv_with(weight):
    weight = np.asarray(weight, np.float32)
    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], bias=False, rng=0)
    layer.weight.data[...] = weight
    return layer


def test_one_grey_tile_per_filter_following_its_values(tmp_path):
    ramp = np.arange(9.0).reshape(3, 3)                                   # 0..8: black to white, row by row
    edge = np.array([[-1.0, 0, 1]] * 3)                                   # vertical edge: black | grey | white
    weight = np.stack([ramp, edge, np.full((3, 3), 0.3), -ramp, ramp * 2 + 5])[:, None]   # (5, 1, 3, 3)
    fig = plot_filters(conv_with(weight), path=tmp_path / "f.png")
    image, boxes = filter_cells(tmp_path / "f.png")
    assert len(boxes) == 5 and fig.strided_grid == {"tiles": 5, "grid": (2, 3), "mode": "single"}
    expected = [ramp / 8, (edge + 1) / 2, np.full((3, 3), 0.5), 1 - ramp / 8, ramp / 8]   # each to its own range
    for box, values in zip(boxes, expected):
        pixels = sample(image, box, (3, 3))                                # (3, 3, 3) RGB
        assert (pixels.max(axis=2) - pixels.min(axis=2)).max() <= 1       # grey
        np.testing.assert_allclose(pixels[..., 0], values * 255, atol=2)
    tops = sorted({b[0] for b in boxes})
    assert len(tops) == 2 and [b[0] for b in boxes] == [tops[0]] * 3 + [tops[1]] * 2   # 3 per row, row by row


def test_pairs_are_rows_of_filters_normalised_per_filter(tmp_path):
    # 3 filters over 2 input channels: channel 0 holds 0..3, channel 1 holds 4..7 (+ 10 per filter)
    weight = np.arange(8.0).reshape(1, 2, 2, 2) + 10 * np.arange(3.0)[:, None, None, None]   # (3, 2, 2, 2)
    fig = plot_filters(weight, path=tmp_path / "p.png")
    image, boxes = filter_cells(tmp_path / "p.png")
    assert len(boxes) == 6 and fig.strided_grid["grid"] == (3, 2) and fig.strided_grid["mode"] == "pairs"
    lefts = sorted({b[2] for b in boxes})
    for k, box in enumerate(boxes):
        o, i = divmod(k, 2)
        assert box[2] == lefts[i]                                          # column = input channel
        values = np.arange(4.0).reshape(2, 2) + 4 * i                      # the filter's 0..7 scaled to [0, 1]
        np.testing.assert_allclose(sample(image, box, (2, 2))[..., 1], values / 7 * 255, atol=2)


def test_rgb_filters_and_averaged_channels(tmp_path):
    weight = np.zeros((2, 3, 2, 2))
    weight[0, 0], weight[0, 2] = 1, -1                                     # red high, green middle, blue low
    weight[1, :2], weight[1, 2] = -1, 1                                    # blue only
    plot_filters(weight, path=tmp_path / "rgb.png")
    image, boxes = filter_cells(tmp_path / "rgb.png")
    assert len(boxes) == 2
    np.testing.assert_allclose(sample(image, boxes[0], (2, 2)).reshape(-1, 3), [[255, 128, 0]] * 4, atol=2)
    np.testing.assert_allclose(sample(image, boxes[1], (2, 2)).reshape(-1, 3), [[0, 0, 255]] * 4, atol=2)
    # 40 x 8 pairs is more than 256: one tile per filter, its input channels averaged
    many = np.zeros((40, 8, 3, 3))
    many[:, :, :, 2] = np.arange(8.0)[None, :, None]                       # mean over inputs: right column 3.5
    fig = plot_filters(many, path=tmp_path / "mean.png")
    image, boxes = filter_cells(tmp_path / "mean.png")
    assert len(boxes) == 40 and fig.strided_grid["mode"] == "mean"
    for box in boxes[:3]:
        np.testing.assert_allclose(sample(image, box, (3, 3))[..., 0], [[0, 0, 255]] * 3, atol=2)


def test_default_layer_is_the_first_convolution_and_names_are_checked():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.Conv2d(4, 8, 3, rng=1))
    assert plot_filters(model).strided_grid["tiles"] == 4
    assert plot_filters(model, layer="2").strided_grid == {"tiles": 32, "grid": (8, 4), "mode": "pairs"}
    with pytest.raises(ValueError, match=r"1 \(ReLU\) has no convolution filters.*convolutions: 0, 2"):
        plot_filters(model, layer="1")
    with pytest.raises(ValueError, match="no layer '3'"):
        plot_filters(model, layer="3")
    with pytest.raises(ValueError, match="3-D kernels"):
        plot_filters(np.zeros((2, 1, 3, 3, 3)))


# ----------------------------------------------------------------------------------- feature maps
def dirac_model(channels: int = 3):
    """Conv2d(1, channels, 3, padding=1): channel 0 copies the input, 1 negates it, the others give 0."""
    conv = nn.Conv2d(1, channels, 3, padding=1, bias=False, rng=0)
    conv.weight.data[...] = 0
    conv.weight.data[0, 0, 1, 1], conv.weight.data[1, 0, 1, 1] = 1, -1
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))


def viridis_values(pixels: np.ndarray) -> np.ndarray:
    """Pixels of the viridis map back to values in [0, 1] (nearest of 256 entries)."""
    from matplotlib import colormaps
    table = colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255   # (256, 3)
    distance = ((pixels[..., None, :] - table) ** 2).sum(axis=-1)
    return distance.argmin(axis=-1) / 255


def test_capture_is_the_hooked_output_and_leaves_no_hook():
    model = dirac_model()
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 8)).astype(np.float32)
    conv_out = capture(model, x, "0")
    relu_out = capture(model, x, "1")                                  # ReLU fused with the pool when unhooked
    np.testing.assert_array_equal(conv_out[:, 0], x[:, 0])
    np.testing.assert_array_equal(conv_out[:, 1], -x[:, 0])
    np.testing.assert_array_equal(relu_out[:, :2], np.maximum(np.concatenate([x, -x], axis=1), 0))
    assert capture(model, x, "2").shape == (2, 3, 3, 4)
    assert all(m._hooks is None for m in model.modules()) and model.training


def test_one_panel_per_channel_equal_to_the_output(tmp_path):
    model = dirac_model(channels=5)
    yy, xx = np.mgrid[0:6, 0:8]
    x = (xx + 8 * yy).astype(np.float32)[None, None] - 20                  # a ramp from -20 to 27
    fig = plot_activations(model, x, "0", path=tmp_path / "a.png")
    assert "0 (Conv2d): output 1x5x6x8" in fig._suptitle.get_text()
    image = read_rgb(tmp_path / "a.png")
    top, bottom, left, right = axes_box(fig, fig.axes[-1])
    grid = image[top:bottom, left:right]
    boxes = cells(grid, (grid >= 250).all(axis=2))                         # panels between white gaps
    assert len(boxes) == 5 and fig.strided_grid["grid"] == (2, 3)
    expected = [(x[0, 0] + 20) / 47, (27 - x[0, 0]) / 47, None, None, None]   # each channel to its own range
    for box, values in zip(boxes, expected):
        shown = viridis_values(sample(grid, box, (6, 8)).astype(float))
        np.testing.assert_allclose(shown, 0 if values is None else values, atol=2 / 255)   # constant: dark


def test_one_dimensional_maps_are_strips(tmp_path):
    conv = nn.Conv1d(1, 4, 1, bias=False, rng=0)
    conv.weight.data[:, 0, 0] = [1, 2, -1, 0]
    x = np.linspace(-1, 1, 20, dtype=np.float32)[None, None]
    fig = plot_activations(nn.Sequential(conv), x, "0", path=tmp_path / "s.png")
    image = read_rgb(tmp_path / "s.png")
    top, bottom, left, right = axes_box(fig, fig.axes[-1])
    grid = image[top:bottom, left:right]
    boxes = cells(grid, (grid >= 250).all(axis=2))
    assert len(boxes) == 4 and len({b[2] for b in boxes}) == 1            # one column of strips
    ramp = np.linspace(0, 1, 20)
    for box, values in zip(boxes, [ramp, ramp, ramp[::-1], np.zeros(20)]):
        np.testing.assert_allclose(viridis_values(sample(grid, box, (1, 20)).astype(float))[0], values, atol=0.01)


# ----------------------------------------------------------------------------------- the commands
def test_filters_and_activations_commands(tmp_path_factory, tmp_path, capsys):
    from strided.data.sources import load_data
    run = tiny_run(tmp_path_factory)                                      # conv3-4 maxpool conv3-8 ...: layers 0 and 3
    capsys.readouterr()
    assert main(["filters", str(run), "--out", str(tmp_path / "f.png")]) == 0
    image, boxes = filter_cells(tmp_path / "f.png")
    assert len(boxes) == 4                                                 # the first convolution: 4 filters
    weight = st.load(str(run / "checkpoint.npz"))["model"]["0.weight"][:, 0]   # (4, 3, 3) as trained
    for box, w in zip(boxes, weight):
        scaled = (w - w.min()) / (w.max() - w.min())
        np.testing.assert_allclose(sample(image, box, (3, 3))[..., 0], scaled * 255, atol=2)
    assert main(["filters", str(run), "--layer", "3", "--out", str(tmp_path / "f2.png")]) == 0
    assert len(filter_cells(tmp_path / "f2.png")[1]) == 8 * 4              # 8 filters over 4 channels: pairs
    out = capsys.readouterr().out
    assert "0 (Conv2d), weight 4x1x3x3" in out and "3 (Conv2d), weight 8x4x3x3: 32 tiles in 8x4, pairs" in out
    assert main(["activations", str(run), "test:3", "--layer", "3", "--out", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "3 on test example 3 (true class" in out and "output 1x8x16x16, 8 panels" in out
    np.save(tmp_path / "one.npy", load_data("digits").test.x[3])           # the same example on its own scale
    assert main(["activations", str(run), str(tmp_path / "one.npy"), "--layer", "3"]) == 0
    assert (run / "activations-3.png").is_file()
    assert read_rgb(run / "activations-3.png").shape == read_rgb(tmp_path / "a.png").shape
    capsys.readouterr()
    assert main(["activations", str(run), "test:100000"]) == 2
    assert "360 examples" in capsys.readouterr().err


def test_commands_without_matplotlib_name_the_extra(tmp_path_factory, monkeypatch, capsys):
    run = str(tiny_run(tmp_path_factory))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for argv in (["filters", run], ["activations", run, "test:0"], ["plot", run], ["confusion", run],
                 ["errors", run], ["report", run]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"strided {argv[0]}: error:") and 'pip install "strided[viz]"' in err
