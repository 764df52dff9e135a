"""A run report: one self-contained HTML page about a trained run folder.

``write_report(run_dir)`` writes ``report.html``: the result (accuracy, top-k, loss, measured now
on the run's test examples), the configuration (``config.json``), the model's summary table
(``st.summary`` at the run's input shape), the training curves, the confusion matrix, the first
convolution's filters, sample predictions and the most confident mistakes. Pictures are PNGs
embedded as ``data:image/png;base64`` URIs and the style sheet is inline: the page loads no
other file and runs no script, so it can be mailed or archived as one file.

The model runs once over the test examples (``predict``'s logits); the confusion matrix,
accuracies, loss, sample predictions and mistakes all come from those logits. When the data set
is not available any more, the page says so and keeps the sections that need no data.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os

import numpy as np

STYLE = """
body { font-family: -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc;
       padding-bottom: 0.2em; margin-top: 1.6em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; } th { background: #f0f4f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary caption { text-align: left; font-weight: bold; padding: 4px 0; }
.result td:first-child { font-weight: bold; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.4em 0.8em; }
ul.totals { font-size: 0.85em; color: #444; }
"""


def figure_png(fig, dpi: int | None = None) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def embed(fig, alt: str, caption: str | None = None) -> str:
    """A ``<figure>`` with the figure as an embedded base64 PNG."""
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">{text}</figure>'


def _table(rows, cls: str = "") -> str:
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def scores(logits: np.ndarray, y: np.ndarray, k: int) -> dict:
    """Accuracy, top-``k`` accuracy, mean cross-entropy and the confusion matrix from ``logits (N, K)``."""
    shifted = logits - logits.max(axis=1, keepdims=True)                    # (N, K)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    predicted = logits.argmax(axis=1)
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]                   # (N, k)
    matrix = np.zeros((logits.shape[1], logits.shape[1]), np.int64)
    np.add.at(matrix, (y, predicted), 1)                                      # rows true, columns predicted
    return {"accuracy": float(np.mean(predicted == y)), f"top{k}": float(np.mean((top == y[:, None]).any(axis=1))),
            "loss": float(-log_p[np.arange(len(y)), y].mean()), "confusion_matrix": matrix}


def _sections(run, examples, samples: int) -> list[str]:
    from ..analysis import summary
    from ..train.evaluation import predict, softmax
    from .curves import plot_confusion, plot_history
    from .examples import plot_misclassified, plot_predictions
    from .filters import conv_layers, plot_filters
    config, model, classes = run.config, run.model, list(run.config["classes"])
    parts = []
    # result
    rows = [("model", config["model"]), ("data", config["data"]), ("weights", run.weights),
            ("parameters", f"{model.num_parameters():,}"),
            ("epochs", f"{len(run.history)} of {config.get('epochs', '?')}")]
    final = (run.metrics or {}).get("final") or {}
    if "train_seconds" in final:
        rows.append(("training time", f"{final['train_seconds']:.1f} s"))
    logits = None
    if isinstance(examples, str):
        parts.append(_note(examples))
    else:
        logits = predict(model, examples.x, output="logits")                   # (N, K)
        k = min(5, len(classes))
        result = scores(logits, examples.y, k)
        rows = [(f"{examples.split} accuracy", f"{result['accuracy']:.4f}"),
                (f"{examples.split} top-{k} accuracy", f"{result[f'top{k}']:.4f}"),
                (f"{examples.split} loss", f"{result['loss']:.4f}"),
                (f"{examples.split} examples", f"{len(examples.y):,} ({examples.source})")] + rows
    parts.insert(0, "<h2>Result</h2>" + _table(rows, "result"))
    parts.append("<h2>Configuration</h2>" + _table((k, json.dumps(v) if not isinstance(v, str) else v)
                                                    for k, v in config.items()))
    shape = (1,) + tuple(config["input_shape"])
    parts.append(f"<h2>Model</h2><p>st.summary at input {'x'.join(map(str, shape))}</p>"
                 + summary(model, shape).to_html())
    parts.append("<h2>Training curves</h2>" + (embed(plot_history(run.history), "training curves",
                                                      "loss, accuracy and learning rate per epoch")
                                                if run.history else _note("no epoch recorded yet")))
    if logits is not None:
        parts.append("<h2>Confusion matrix</h2>" + embed(plot_confusion(result["confusion_matrix"], classes),
                                                         "confusion matrix", f"the run's {examples.split} examples"))
    convs = conv_layers(model)
    if convs:
        name = convs[0][0]
        parts.append("<h2>Filters</h2>" + embed(plot_filters(model, layer=name), f"filters of {name}",
                                                f"the learned filters of {name}, the first convolution"))
    if logits is not None:
        probabilities = softmax(logits)
        shown = examples.images if examples.images.ndim == 4 else None
        parts.append("<h2>Sample predictions</h2>" + embed(
            plot_predictions(model, examples.x, examples.y, classes, samples, shown, probabilities=probabilities),
            "sample predictions", f"the first {min(samples, len(examples.y))} {examples.split} examples"))
        parts.append("<h2>Most confident mistakes</h2>" + embed(
            plot_misclassified(model, examples.x, examples.y, classes, samples, shown, probabilities=probabilities),
            "misclassified examples", "wrong predictions, the most confident first"))
    return parts


def report_html(run, examples, samples: int = 16) -> str:
    """The page for ``run`` (``viz.runs.RunView``) and its ``examples`` (``RunExamples``, or a string saying why
    there are none)."""
    from .. import __version__
    config = run.config
    title = f"{config['model']} on {config['data']}"
    body = "\n".join(_sections(run, examples, samples))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}: strided run report</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">run folder {html.escape(os.path.abspath(run.run_dir))}; "
            f"written by strided {html.escape(__version__)}</p>\n{body}\n</body></html>\n")


def write_report(run_dir, path=None, best: bool = False, samples: int = 16, split: str = "test") -> str:
    """Write the run's report (default ``RUN_DIR/report.html``) atomically; returns its path.

    Args:
        run_dir: a run folder written by ``strided train``.
        path: the HTML file (default ``RUN_DIR/report.html``).
        best: use ``best.npz`` rather than the last checkpoint.
        samples: how many misclassified examples to show.
        split: ``'test'`` or ``'train'``.

    Example:
        >>> # write_report("runs/lenet5")                # after `strided train ...`: runs/lenet5/report.html
        >>> import tempfile
        >>> write_report(tempfile.mkdtemp(), samples=0)
        Traceback (most recent call last):
            ...
        ValueError: report: samples must be at least 1, got 0
    """
    from ..io.atomic import atomic_path
    from .runs import open_run, run_examples
    if samples < 1:
        raise ValueError(f"report: samples must be at least 1, got {samples}")
    run = open_run(run_dir, best=best)
    try:
        examples = run_examples(run.config, split)
    except (OSError, ImportError, ValueError) as error:      # the data set moved or its package is gone
        examples = f"the run's data set could not be loaded ({error}); sections that need it are left out"
    page = report_html(run, examples, samples)
    path = os.fspath(path) if path is not None else os.path.join(os.fspath(run_dir), "report.html")
    with atomic_path(path, ".html") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(page)
    return path


__all__ = ["write_report", "report_html", "figure_png", "embed", "scores"]
