"""Grids of examples with the model's predictions: sample predictions, and the misclassified ones.

``misclassified(model, x, y)`` runs ``st.train.predict`` once and returns the wrong predictions,
**most confident first** (the mistakes the model is surest of are the telling ones; ties by
index). ``plot_misclassified`` draws the first ``count`` of them; ``plot_predictions`` draws the
first ``count`` examples whatever the outcome, right ones titled in green, wrong ones in red.

Each panel is one example: ``images`` on their display scale (``(N, C, H, W)`` in ``[0, 1]``: the
data set before normalisation; grey for one channel, RGB for three, the first channel
otherwise), or ``x`` itself scaled per example to its range; 1-D signals ``(N, C, L)`` are drawn as
lines. Titles: ``predicted (probability)`` over ``true: name``.
"""

from __future__ import annotations

import math

import numpy as np

from .common import GRAY, new_figure, save_figure
from .mosaic import normalize_all

RIGHT, WRONG = "#2ca02c", "#d62728"


def _names(classes, k: int) -> list[str]:
    return [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]


def predictions(model, x, batch_size: int = 256, probabilities=None) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted (N,) int64, probability (N,))``: the most probable class of each example and its probability
    (from ``probabilities`` ``(N, K)`` when given, without running the model)."""
    from ..train.evaluation import predict
    if probabilities is None:
        probabilities = predict(model, np.asarray(x), batch_size=batch_size, output="probabilities")   # (N, K)
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"predictions: the model gives outputs of shape {probabilities.shape[1:]}, not class "
                         f"scores (N, K)")
    predicted = probabilities.argmax(axis=1)
    return predicted.astype(np.int64), probabilities[np.arange(len(predicted)), predicted]


def misclassified(model, x, y, batch_size: int = 256, probabilities=None) -> dict:
    """The wrong predictions of ``model`` on ``(x, y)``, most confident first (``probabilities``: the model's,
    ``(N, K)``, if already computed).

    Returns ``{"index": (M,), "predicted": (M,), "probability": (M,), "true": (M,)}``: the indices
    into ``x`` of the ``M`` misclassified examples, sorted by the probability of the wrong class
    (descending, ties by index), with what was predicted and what was true.

    Args:
        model: the classifier.
        x: inputs as the model takes them.
        y: the true classes.
        batch_size: examples per forward pass.
        probabilities: the model's ``(N, K)`` probabilities, if already computed.

    Example:
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, rng=0))
        >>> x = np.random.default_rng(0).normal(size=(6, 1, 2, 2)).astype(np.float32)
        >>> wrong = misclassified(model, x, np.array([0, 1, 2, 0, 1, 2]))
        >>> wrong["index"].tolist(), wrong["predicted"].tolist(), wrong["true"].tolist()
        ([1, 4, 3, 2, 0], [2, 2, 1, 1, 2], [1, 1, 0, 2, 0])
    """
    y = np.asarray(y).astype(np.int64)
    predicted, probability = predictions(model, x, batch_size, probabilities)
    wrong = np.flatnonzero(predicted != y)                                 # (M,) ascending
    order = wrong[np.argsort(-probability[wrong], kind="stable")]
    return {"index": order, "predicted": predicted[order], "probability": probability[order], "true": y[order]}


def _panel_picture(example: np.ndarray):
    """``(H, W)`` grey, ``(H, W, 3)`` RGB, or ``None`` for a 1-D signal (drawn as lines)."""
    if example.ndim != 3:
        return None
    picture = example if example.shape[0] == 3 else example[:1]
    picture = np.clip(picture, 0, 1)
    return picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)


def plot_examples(x, true, predicted, probability, classes=None, images=None, indices=None, path=None,
                  title: str | None = None, cols: int | None = None):
    """A grid of examples ``x[indices]`` with their predictions; returns the ``Figure`` (one axes per example,
    in ``strided_panels`` with the index each shows)."""
    x = np.asarray(x)
    indices = np.arange(len(x)) if indices is None else np.asarray(indices, np.int64)
    k = int(max(np.max(true) if len(true) else 0, np.max(predicted) if len(predicted) else 0)) + 1
    names = _names(classes, k)
    n = len(indices)
    cols = min(int(cols), max(n, 1)) if cols else min(8, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    fig = new_figure(1.45 * cols + 0.2, 1.75 * rows + (0.5 if title else 0.1))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    panels = []
    for ax, i, t, p, q in zip(axes, indices, true, predicted, probability):
        if images is not None:
            shown = np.asarray(images[i], np.float64)
        else:
            shown = normalize_all(x[i])
        picture = _panel_picture(shown)
        if picture is None:                                                 # a 1-D signal: a line per channel
            signal = np.asarray(x[i] if images is None else images[i])
            for channel in signal.reshape(-1, signal.shape[-1]):
                ax.plot(channel, linewidth=1)
        else:
            ax.imshow(picture, cmap=GRAY if picture.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        good = int(p) == int(t)
        ax.set_title(f"{names[int(p)]} ({q:.0%})\ntrue: {names[int(t)]}", fontsize=7,
                     color=RIGHT if good else WRONG)
        for spine in ax.spines.values():
            spine.set_edgecolor(RIGHT if good else WRONG)
            spine.set_linewidth(1.5)
        panels.append((ax, int(i)))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.strided_panels = panels
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_misclassified(model, x, y, classes=None, count: int = 16, images=None, path=None,
                       batch_size: int = 256, cols: int | None = None, probabilities=None):
    """The ``count`` most confident mistakes of ``model`` on ``(x, y)``; returns the ``Figure``.

    ``x``: inputs as the model takes them; ``images``: the same examples on their display scale
    (optional, see the module's docstring); ``classes``: names. The title says how many of how many
    examples are wrong. The figure's ``strided_panels`` lists ``(axes, index into x)``.

    Args:
        model: the classifier.
        x: inputs as the model takes them.
        y: the true classes.
        classes: the class names (default ``None``: the class numbers).
        count: how many mistakes to show, the most confident first (default 16).
        images: the same examples on their display scale (default ``None``: ``x`` itself).
        path: a file to save the figure to (default ``None``: not saved).
        batch_size: examples per forward pass (default 256).
        cols: columns of the grid (default ``None``: up to 8).
        probabilities: the model's ``(N, K)`` probabilities on ``x``, if already computed (default ``None``).

    Example:
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, rng=0))
        >>> x = np.random.default_rng(0).normal(size=(6, 1, 2, 2)).astype(np.float32)
        >>> len(plot_misclassified(model, x, np.array([0, 1, 2, 0, 1, 2])).axes)     # doctest: +SKIP
        5
    """
    if count < 1:
        raise ValueError(f"plot_misclassified: count must be at least 1, got {count}")
    wrong = misclassified(model, x, y, batch_size, probabilities)
    shown = {key: value[:count] for key, value in wrong.items()}
    total = len(wrong["index"])
    heading = (f"{total} of {len(x)} examples misclassified ({total / len(x):.1%}); "
               + (f"the {len(shown['index'])} most confident mistakes" if total else "none to show"))
    return plot_examples(x, shown["true"], shown["predicted"], shown["probability"], classes, images,
                         shown["index"], path, heading, cols)


def plot_predictions(model, x, y, classes=None, count: int = 16, images=None, path=None, batch_size: int = 256,
                     cols: int | None = None, probabilities=None):
    """The first ``count`` examples of ``(x, y)`` with the model's prediction (green right, red wrong).

    Args:
        model: the classifier.
        x: inputs as the model takes them.
        y: the true classes.
        classes: the class names.
        count: how many examples to show.
        images: the same examples on their display scale (optional).
        path: a file to save the figure to (optional).
        batch_size: examples per forward pass.
        cols: columns of the grid.
        probabilities: the model's ``(N, K)`` probabilities, if already computed.

    Example:
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, rng=0))
        >>> x = np.random.default_rng(0).normal(size=(6, 1, 2, 2)).astype(np.float32)
        >>> len(plot_predictions(model, x, np.array([0, 1, 2, 0, 1, 2]), count=4).axes)     # doctest: +SKIP
        4
    """
    x, y = np.asarray(x)[:count], np.asarray(y)[:count].astype(np.int64)
    predicted, probability = predictions(model, x, batch_size,
                                         None if probabilities is None else np.asarray(probabilities)[:count])
    right = int((predicted == y).sum())
    return plot_examples(x, y, predicted, probability, classes, None if images is None else images[:count],
                         None, path, f"the first {len(x)} examples: {right} predicted right", cols)


__all__ = ["misclassified", "predictions", "plot_misclassified", "plot_predictions", "plot_examples"]
