"""Receptive-field pictures: `st.viz.receptive_field_box`, `plot_receptive_field`, `plot_receptive_field_sizes`
and `strided rf`.

Oracles: the gradient of one unit with respect to the input of a real network whose weights,
biases and inputs are all positive (so no ReLU hides a pixel and every pixel the unit reads
moves it): its non-zero support is the receptive field clipped to the input; the published
receptive fields of VGG-16 (212) and AlexNet (195); the rendered PNG read back pixel by pixel.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.cli import main
from strided.viz import common
from strided.viz.receptive import (plot_receptive_field, plot_receptive_field_sizes, receptive_field_box,
                                   receptive_field_sizes)

SHAPE = (1, 30, 26)                  # (C, H, W): not square, so rows and columns cannot be swapped unnoticed


def positive_model():
    """Padded, strided, pooled, dilated and even-kernel layers; every weight and bias in [0.1, 1]."""
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),                      # 0, 1
        nn.AvgPool2d(2),                                               # 2
        nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(),            # 3, 4   strided and padded
        nn.Conv2d(3, 2, 3, dilation=2, padding=2), nn.ReLU(),          # 5, 6   dilated
        nn.Conv2d(2, 1, 2),                                            # 7      an even kernel
    ).double()
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data[...] = rng.uniform(0.1, 1.0, p.shape)
    return model


def gradient_support(model, layer: str, unit) -> np.ndarray:
    """Pixels of the input whose gradient of ``layer``'s output at ``unit`` (channel 0) is non-zero: (H, W) bool."""
    module = dict(model.named_modules())[layer]
    seen = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append(out))
    x = st.Tensor(np.random.default_rng(1).uniform(0.5, 1.0, (1,) + SHAPE), requires_grad=True)
    try:
        model(x)
    finally:
        handle.remove()
    seen[0][(0, 0) + tuple(unit)].backward()
    return np.asarray(x.grad)[0, 0] != 0


def box_mask(box) -> np.ndarray:
    mask = np.zeros(SHAPE[1:], bool)
    mask[box.slices] = True
    return mask


@pytest.mark.parametrize("layer, units, exact", [
    ("0", [(0, 0), (29, 25), (7, 11)], True),              # a padded 3x3: clipped at the corners
    ("2", [(0, 0), (14, 12), (5, 3)], True),               # average pooling: jump 2
    ("3", [(0, 0), (7, 6), (3, 2)], True),                 # stride 2 after the pool, padded: jump 4
    ("5", [(0, 0), (7, 6), (4, 3)], False),                # dilated: the bounding box (taps may leave holes)
    ("7", [(0, 0), (6, 5), (3, 2)], False),                # an even kernel: a half-pixel start
])
def test_box_is_the_support_of_the_gradient(layer, units, exact):
    model = positive_model()
    for unit in units:
        box = receptive_field_box(model, SHAPE, layer, unit)
        support = gradient_support(model, layer, unit)
        rows, cols = np.nonzero(support)
        assert box.clipped == ((rows.min(), rows.max()), (cols.min(), cols.max())), (layer, unit)
        if exact:
            np.testing.assert_array_equal(support, box_mask(box))
    corner = receptive_field_box(model, SHAPE, "3", (0, 0))
    assert corner.lo[0] < 0 and corner.clipped[0][0] == 0           # this one does hang into the padding


def test_box_on_a_blank_canvas_matches_the_pixels(tmp_path):
    model = positive_model()
    for layer, unit in [("3", (0, 0)), ("5", (4, 3)), ("0", (29, 25))]:
        box = receptive_field_box(model, SHAPE, layer, unit)
        fig = plot_receptive_field(model, SHAPE, layer, unit)
        png = common.read_png(common.save_figure(fig, tmp_path / f"rf{layer}.png"))
        ax = fig.axes[0]
        tinted = np.zeros(SHAPE[1:], bool)
        for i in range(SHAPE[1]):
            for j in range(SHAPE[2]):
                r, c = common.data_to_pixel(ax, j + 0.3, i + 0.3)   # off the centre's cross, inside pixel (i, j)
                tinted[i, j] = np.abs(png[r, c].astype(int) - round(0.93 * 255)).max() > 8
        np.testing.assert_array_equal(tinted, box_mask(box), err_msg=f"{layer} {unit}")
        assert f"rows {box.clipped[0][0]}..{box.clipped[0][1]}" in ax.get_title()


def test_box_drawn_on_an_image(tmp_path):
    model = positive_model()
    image = np.random.default_rng(2).uniform(0.2, 0.8, SHAPE[1:]).astype(np.float32)   # the input's own size
    box = receptive_field_box(model, SHAPE, "3", (3, 2))
    fig = plot_receptive_field(model, SHAPE, "3", (3, 2), image=image)
    png = common.figure_to_array(fig)
    ax = fig.axes[0]
    tint = np.array([int(common.COLORS["box"][i:i + 2], 16) for i in (1, 3, 5)])
    inside = box_mask(box)
    for i, j in [(0, 0), (29, 25), (12, 9), (box.clipped[0][0] + 1, box.clipped[1][0] + 1)]:
        r, c = common.data_to_pixel(ax, j + 0.3, i + 0.3)
        grey = image[i, j] * 255
        expect = 0.72 * grey + 0.28 * tint if inside[i, j] else np.full(3, grey)
        np.testing.assert_allclose(png[r, c], expect, atol=4)


def test_vgg16_and_alexnet_sizes_come_out_of_the_plotted_data(tmp_path):
    for name, top in [("vgg16", 212), ("alexnet", 195)]:
        fig = plot_receptive_field_sizes(name, (3, 224, 224))
        bars = [p for p in fig.axes[0].patches if p.get_gid() == "rf-size"]
        heights = [b.get_height() for b in bars]
        assert max(heights) == heights[-1] == top
        assert heights == sorted(heights)                          # a plain chain: the field only grows
        names = [t.get_text().split(" ")[0] for t in fig.axes[0].get_xticklabels()]
        assert names == [row[0] for row in receptive_field_sizes(name, (3, 224, 224))]
    vgg = receptive_field_sizes("vgg16", (3, 224, 224))
    assert len(vgg) == 13 + 5 and vgg[0][2] == (3, 3) and vgg[-1][3] == (32, 32)   # 13 convs, 5 pools


def test_rf_command(tmp_path, capsys):
    out = tmp_path / "rf.png"
    assert main(["rf", "vgg16", "--input", "3x224x224", "--layer", "features.16", "--unit", "0,3",
                 "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # pool3 of VGG-16: field 44, jump 8, first centre 3.5 -> rows 3.5 -/+ 21.5, columns 27.5 -/+ 21.5
    assert lines[0] == ("features.16 unit (0, 3): receptive field 44x44, jump 8x8, start 3.5x3.5; "
                        "rows 0..25 (unclipped -18..25); columns 6..49")
    assert lines[1] == f"wrote {out}" and common.read_png(out).shape[2] == 3
    sizes = tmp_path / "sizes.png"
    assert main(["rf", "alexnet", "--input", "3x224x224", "--sizes", "--out", str(sizes)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[:4] == ["features.12", "MaxPool2d", "size", "195x195"] and sizes.exists()
    assert main(["rf", "vgg16", "--input", "3x224x224", "--layer", "features.99"]) == 2
    assert "no layer 'features.99'" in capsys.readouterr().err
    assert main(["rf", "vgg16", "--input", "3x224x224", "--layer", "features.30", "--unit", "7,0"]) == 2
    assert "outside features.30's output of 7x7" in capsys.readouterr().err


def test_rf_of_a_run_folder_and_on_a_photo(tmp_path, capsys):
    run = tmp_path / "run"
    spec = "conv3-4 maxpool FC-10"
    assert main(["train", spec, "--epochs", "1", "--limit", "60", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["rf", str(run), "--layer", "2", "--unit", "0,5", "--out", str(tmp_path / "r.png")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    expect = receptive_field_box(nn.from_spec(spec, (1, 32, 32)), (1, 32, 32), "2", (0, 5))
    assert line == expect.describe() and "rows 0..2 (unclipped -1..2); columns 9..12" in line
    pytest.importorskip("sklearn")
    assert main(["rf", "lenet5", "--input", "1x32x32", "--image", "china", "--out", str(tmp_path / "c.png")]) == 0
    png = common.read_png(tmp_path / "c.png")
    assert png.std() > 20                                            # a photo under the box, not a blank canvas


def test_without_matplotlib_rf_names_the_viz_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["rf", "vgg16", "--input", "3x224x224", "--out", str(tmp_path / "rf.png")]) == 2
    assert 'pip install "strided[viz]"' in capsys.readouterr().err
    box = receptive_field_box("vgg16", (3, 224, 224), "features.30", (3, 3))    # the geometry needs no extra
    assert box.size == (212, 212) and box.clipped == ((6, 217), (6, 217))      # centre 15.5 + 3 * 32 = 111.5
