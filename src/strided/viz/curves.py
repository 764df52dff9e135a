"""Training curves and the confusion matrix.

``plot_history(history)`` draws, per epoch, the loss, the accuracy and the learning rate of a
history as ``st.train.fit`` returns it (a list of rows ``{"epoch", "lr", "train_loss",
"train_accuracy", "val_loss", "val_accuracy", ...}``; a run's ``metrics.json`` holds the same
list, its validation part named ``test``). Every ``*_loss`` column goes to the loss panel, every
``*accuracy`` column (``top5_accuracy`` too, dashed) to the accuracy panel, whose axis is fixed
to ``[0, 1]`` so that runs compare at a glance; ``lr`` to the third. Training is blue, the
validation part orange. A history without accuracy (regression) has no accuracy panel.

``plot_confusion(matrix, classes)`` draws the counts (rows: true class, columns: predicted),
each cell labelled with its count, shaded by the count's share of its row (so a rare class
reads as clearly as a common one), with the per-class recall beside each row.
"""

from __future__ import annotations

import numpy as np

from .common import new_figure, save_figure

COLORS = {"train": "#1f77b4", "other": "#ff7f0e", "lr": "#2ca02c"}


def history_columns(history) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(epochs, {column: values})`` from a list of rows (or a dict of equal-length lists); values are float
    arrays with NaN where a row lacks the column. Epochs: the rows' ``epoch``, else 1, 2, ..."""
    if isinstance(history, dict):
        if "history" in history and isinstance(history["history"], list):    # a metrics.json document
            history = history["history"]
        else:
            lengths = {len(v) for v in history.values()}
            if len(lengths) > 1:
                raise ValueError(f"plot_history: the columns have different lengths {sorted(lengths)}")
            n = lengths.pop() if lengths else 0
            history = [{k: v[i] for k, v in history.items()} for i in range(n)]
    rows = list(history)
    if not rows:
        raise ValueError("plot_history: the history is empty (no epoch finished)")
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if all(v is None or isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values):
            columns[name] = np.array([np.nan if v is None else float(v) for v in values])
    epochs = columns.pop("epoch", np.arange(1, len(rows) + 1, dtype=np.float64))
    return epochs, columns


def _style(name: str) -> dict:
    part = name.split("_", 1)[0]
    return {"color": COLORS["train"] if part == "train" else COLORS["other"],
            "linestyle": "--" if "top" in name else "-", "marker": "o", "markersize": 3.5, "linewidth": 1.8,
            "label": name}


def plot_history(history, path=None, title: str | None = None):
    """Loss, accuracy and learning rate per epoch (see the module's docstring); returns the ``Figure``.

    ``history``: ``fit``'s list of rows, a ``metrics.json`` document or a dict of columns.
    Each line's data are the history's values, in the panels ``loss``, ``accuracy`` and ``lr``
    (the figure's ``strided_panels`` maps these names to their axes).

    Args:
        history: ``fit``'s list of rows, a ``metrics.json`` document, or a dict of columns.
        path: a file to save the figure to (optional).
        title: the figure's title.

    >>> rows = [{"epoch": 1, "train_loss": 1.0, "lr": 0.1}, {"epoch": 2, "train_loss": 0.5, "lr": 0.05}]
    >>> sorted(plot_history(rows).strided_panels)                      # doctest: +SKIP
    ['loss', 'lr']
    """
    epochs, columns = history_columns(history)
    panels = {
        "loss": [n for n in columns if n.endswith("_loss") or n == "loss"],
        "accuracy": [n for n in columns if n.endswith("accuracy")],
        "lr": [n for n in columns if n == "lr"],
    }
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        raise ValueError(f"plot_history: no loss, accuracy or lr columns in the history (it has {sorted(columns)})")
    for names in panels.values():                                         # training first, then the others
        names.sort(key=lambda n: (not n.startswith("train"), "top" in n, n))
    fig = new_figure(4.0 * len(panels), 3.4)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel, names) in zip(axes, panels.items()):
        for name in names:
            style = _style(name) if panel != "lr" else {"color": COLORS["lr"], "marker": "o", "markersize": 3.5,
                                                        "linewidth": 1.8, "label": "learning rate"}
            ax.plot(epochs, columns[name], **style)
        ax.set_xlabel("epoch")
        ax.set_title({"loss": "loss", "accuracy": "accuracy", "lr": "learning rate (at the epoch's start)"}[panel],
                     fontsize=10)
        ax.grid(True, alpha=0.3)
        if panel == "accuracy":
            ax.set_ylim(0, 1)
        else:
            top = np.nanmax([np.nanmax(columns[n]) for n in names])
            ax.set_ylim(0, top * 1.08 if np.isfinite(top) and top > 0 else 1)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        if panel != "lr":
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.strided_panels = {panel: ax for ax, panel in zip(axes, panels)}
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_confusion(matrix, classes=None, path=None, title: str | None = None):
    """The confusion matrix (rows: true class, columns: predicted) with class names; returns the ``Figure``.

    Each cell shows its count (matrices of up to 30 classes), shaded by its share of the row;
    the row's recall is written at its right. The title gives the accuracy (trace / total).

    Args:
        matrix: ``(K, K)`` counts, rows the true class.
        classes: the class names.
        path: a file to save the figure to (optional).
        title: the figure's title (default: the accuracy).

    Example:
        >>> len(plot_confusion(np.array([[5, 1], [2, 7]]), classes=["cat", "dog"]).axes)   # doctest: +SKIP
        1
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"plot_confusion: expected a square matrix, got shape {matrix.shape}")
    k = len(matrix)
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"plot_confusion: {len(names)} class names for a {k}x{k} matrix")
    totals = matrix.sum(axis=1)                                            # (K,) examples per true class
    share = matrix / np.maximum(totals, 1)[:, None]                        # (K, K) row fractions
    size = min(12.0, max(4.5, 0.55 * k + 2.5))
    fig = new_figure(size + 0.8, size)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8 if k <= 12 else 6,
                        color="white" if share[i, j] > 0.5 else "#202020", gid=f"count {i} {j}")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right" if max(
        map(len, names)) > 2 else "center", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    recall = np.diag(matrix) / np.maximum(totals, 1)
    for i in range(k):
        ax.annotate(f"{recall[i]:.0%}", (k - 0.5, i), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=7, color="#404040", annotation_clip=False, gid=f"recall {i}")
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else float("nan")
    ax.set_title(title or f"confusion matrix: {total} examples, accuracy {accuracy:.2%}\n"
                          f"(cells: counts, shaded by share of the row; right: recall)", fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig


__all__ = ["plot_history", "plot_confusion", "history_columns"]
