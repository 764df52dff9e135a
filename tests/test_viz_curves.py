"""Training curves, the confusion matrix and the misclassified examples: what the figures and PNGs show.

Oracles: histories written here (the lines' data must be theirs, and the accuracy line's pixel
extent must move by the axis height times the change written here); a confusion matrix written
here (cell labels and shading); a linear model with hand-set weights whose predictions are
computed here with NumPy (which examples are wrong, and how confidently); the run's own
``strided eval`` JSON for the commands.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from strided import nn
from strided.cli import main
from viz_run import axes_box, read_rgb, require_viz, tiny_run

require_viz()

from strided.viz.curves import COLORS, plot_confusion, plot_history  # noqa: E402
from strided.viz.examples import misclassified, plot_misclassified, plot_predictions  # noqa: E402


def history(acc_start: float, epochs: int = 4, val: str = "val"):
    acc = np.linspace(acc_start, 0.8, epochs)
    return [{"epoch": e + 1, "lr": 0.1 / (e + 1), "train_loss": 2.0 - 0.4 * e, "train_accuracy": float(acc[e]),
             f"{val}_loss": 1.8 - 0.3 * e, f"{val}_accuracy": float(acc[e]) - 0.05, "seconds": 1.0}
            for e in range(epochs)]


def test_lines_carry_the_history():
    rows = history(0.2)
    fig = plot_history(rows)
    panels = fig.strided_panels
    assert list(panels) == ["loss", "accuracy", "lr"]
    lines = {line.get_label(): line for ax in panels.values() for line in ax.get_lines()}
    assert set(lines) == {"train_loss", "val_loss", "train_accuracy", "val_accuracy", "learning rate"}
    for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        np.testing.assert_array_equal(lines[name].get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(lines[name].get_ydata(), [r[name] for r in rows])
    np.testing.assert_allclose(lines["learning rate"].get_ydata(), [r["lr"] for r in rows])
    assert lines["train_loss"] in panels["loss"].get_lines() and panels["accuracy"].get_ylim() == (0, 1)
    assert lines["train_accuracy"].get_color() == COLORS["train"] and lines["val_accuracy"].get_color() == COLORS["other"]
    # a run's metrics.json names its validation part "test"; a regression history has no accuracy panel
    doc = {"history": history(0.3, val="test")}
    assert {line.get_label() for line in plot_history(doc).strided_panels["accuracy"].get_lines()} == {
        "train_accuracy", "test_accuracy"}
    rows = [{"epoch": 1, "train_loss": 0.5, "lr": 0.1}, {"epoch": 2, "train_loss": 0.25, "lr": 0.1}]
    assert list(plot_history(rows).strided_panels) == ["loss", "lr"]
    with pytest.raises(ValueError, match="empty"):
        plot_history([])


def accuracy_extent(path, fig):
    """Top and bottom pixel rows of the training-accuracy line (its blue) inside the accuracy panel."""
    image = read_rgb(path)
    top, bottom, left, right = axes_box(fig, fig.strided_panels["accuracy"])
    panel = image[top + 2:bottom - 2, left + 2:right - 2]
    blue = np.array([0x1f, 0x77, 0xb4])
    rows = np.flatnonzero((np.abs(panel - blue).max(axis=2) <= 12).any(axis=1))
    return rows.min() + top + 2, rows.max() + top + 2, bottom - top


def test_pixel_extent_follows_the_data(tmp_path):
    fig_a = plot_history(history(0.2), tmp_path / "a.png")            # accuracy 0.2 -> 0.8
    fig_b = plot_history(history(0.5), tmp_path / "b.png")            # accuracy 0.5 -> 0.8
    top_a, low_a, height = accuracy_extent(tmp_path / "a.png", fig_a)
    top_b, low_b, _ = accuracy_extent(tmp_path / "b.png", fig_b)
    assert abs(top_a - top_b) <= 1                                     # both end at 0.8 on the fixed [0, 1] axis
    assert abs((low_a - low_b) - 0.3 * height) <= 3                   # 0.3 of the axis lower
    assert abs(((low_a - top_a) - (low_b - top_b)) - 0.3 * height) <= 3


def test_confusion_cells_equal_the_counts(tmp_path):
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    fig = plot_confusion(matrix, ["cat", "dog", "bird"], tmp_path / "c.png")
    ax = fig.axes[0]
    counts = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("count")}
    assert counts == {f"count {i} {j}": str(matrix[i, j]) for i in range(3) for j in range(3)}
    for t in ax.texts:
        if (t.get_gid() or "").startswith("count"):
            i, j = map(int, t.get_gid().split()[1:])
            assert t.get_position() == (j, i)                            # row: true class, column: predicted
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert "accuracy 84.00%" in ax.get_title()                           # 21 of 25
    # shading: darker where the row's share is larger (sampled off the cell's centre, away from the label)
    image = read_rgb(tmp_path / "c.png")
    fig.canvas.draw()
    height = fig.canvas.get_width_height()[1]
    share = matrix / matrix.sum(axis=1, keepdims=True)
    lightness = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            x, y = ax.transData.transform((j - 0.35, i - 0.35))
            lightness[i, j] = image[int(round(height - y)), int(round(x))].sum()
    order = np.argsort(share.ravel(), kind="stable")
    assert np.all(np.diff(lightness.ravel()[order]) <= 3)             # more share, never lighter
    assert lightness[2, 2] < lightness[0, 1] < lightness[0, 2]


def linear_case():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 12)).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3, rng=0))
    model[1].weight.data[...] = weight
    model[1].bias.data[...] = 0
    x = rng.standard_normal((40, 1, 3, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    logits = x.reshape(40, 12).astype(np.float64) @ weight.T.astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return model, x, y, p


def test_misclassified_grid_shows_only_wrong_predictions_most_confident_first(tmp_path):
    model, x, y, p = linear_case()
    predicted = p.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y)
    expected = wrong[np.argsort(-p[wrong, predicted[wrong]], kind="stable")]
    found = misclassified(model, x, y)
    np.testing.assert_array_equal(found["index"], expected)
    np.testing.assert_array_equal(found["predicted"], predicted[expected])
    np.testing.assert_allclose(found["probability"], p[expected, predicted[expected]], rtol=1e-5)
    names = ["zero", "one", "two"]
    images = np.random.default_rng(1).random((40, 1, 3, 4))
    fig = plot_misclassified(model, x, y, names, count=5, images=images, path=tmp_path / "e.png")
    assert [i for _, i in fig.strided_panels] == list(expected[:5])
    assert f"{len(wrong)} of 40 examples misclassified" in fig._suptitle.get_text()
    for ax, i in fig.strided_panels:
        title = ax.get_title()
        assert title == f"{names[predicted[i]]} ({p[i, predicted[i]]:.0%})\ntrue: {names[y[i]]}"
        assert predicted[i] != y[i]
        np.testing.assert_allclose(ax.get_images()[0].get_array(), images[i, 0])   # the panel is that example
    assert len([ax for ax in fig.axes if ax.get_images()]) == 5


def test_sample_predictions_mark_right_and_wrong(tmp_path):
    model, x, y, p = linear_case()
    fig = plot_predictions(model, x, y, count=12, path=tmp_path / "p.png")
    assert [i for _, i in fig.strided_panels] == list(range(12))
    for ax, i in fig.strided_panels:
        right = p[i].argmax() == y[i]
        assert ax.title.get_color() == ("#2ca02c" if right else "#d62728")


def test_plot_confusion_and_errors_commands(tmp_path_factory, tmp_path, capsys):
    run = tiny_run(tmp_path_factory)
    capsys.readouterr()
    assert main(["eval", str(run), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["plot", str(run), "--out", str(tmp_path / "curves.png")]) == 0
    assert "2 epochs: loss, accuracy, lr" in capsys.readouterr().out
    assert main(["confusion", str(run), "--out", str(tmp_path / "conf.png")]) == 0
    assert f"360 examples, accuracy {report['accuracy']:.4f}" in capsys.readouterr().out
    wrong = 360 - sum(report["confusion_matrix"][i][i] for i in range(10))
    assert main(["errors", str(run), "--count", "5"]) == 0
    out = capsys.readouterr().out
    assert f"{min(5, wrong)} of the {wrong} misclassified test examples" in out
    for name in ("curves.png", "conf.png"):
        assert read_rgb(tmp_path / name).std() > 10
    assert read_rgb(run / "errors.png").std() > 10
