"""Metrics accumulated over batches: counts are summed, ratios taken once at the end.

Every metric keeps integer counts (or a loss sum weighted by batch size), so the value over an
epoch is exact whatever the batch sizes: never an average of per-batch averages.

Class metrics read ``outputs (N, C, *d)`` (scores, logits or probabilities; class axis 1, as the
losses take them) and integer ``targets (N, *d)``; rows are ``(M, C)`` with ``M = N * prod(d)``.
Targets below 0 (cross-entropy's ``ignore_index=-100``) are left out. A metric ``applies`` only
to such pairs: with float targets (regression) fit and evaluate skip class metrics.

>>> import numpy as np
>>> scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
>>> accuracy(scores, np.array([1, 1, 1]))
0.6666666666666666
>>> confusion_matrix(np.array([1, 1, 1]), scores.argmax(axis=1), num_classes=2).tolist()
[[0, 0], [1, 2]]
"""

from __future__ import annotations

import re

import numpy as np

from .. import backend as _backend


def is_class_target(outputs: np.ndarray, targets: np.ndarray) -> bool:
    """True when ``targets`` are integer class indices for ``outputs (N, C, *d)``.

    Args:
        outputs: the model's outputs ``(N, C, *d)``.
        targets: the targets.

    Example:
        >>> is_class_target(np.zeros((4, 3)), np.array([0, 2, 1, 0]))    # (N, C), (N,) ints
        True
        >>> is_class_target(np.zeros((4, 3)), np.zeros((4, 3)))          # float targets
        False
    """
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if targets.dtype.kind not in "iu" or outputs.ndim != targets.ndim + 1 or outputs.ndim < 1:
        return False
    if targets.ndim == 0:
        return True                                                   # one unbatched example: (C,), ()
    return outputs.shape[0] == targets.shape[0] and outputs.shape[2:] == targets.shape[1:]


def class_rows(outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (M, C), labels (M,))`` from ``outputs (N, C, *d)``, ``targets (N, *d)``; ignored labels dropped.

    Args:
        outputs: class scores ``(N, C, *d)``.
        targets: class indices ``(N, *d)``.

    Example:
        >>> rows, labels = class_rows(np.zeros((2, 3, 5)), np.zeros((2, 5), np.int64))   # (N, C, L), (N, L)
        >>> rows.shape, labels.shape
        ((10, 3), (10,))
    """
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if not is_class_target(outputs, targets):
        raise ValueError(f"metrics: expected outputs (N, C, *d) and integer targets (N, *d), got outputs "
                         f"{outputs.shape} and targets {targets.shape} of dtype {targets.dtype}")
    if targets.ndim == 0:
        outputs, targets = outputs[None], targets[None]
    rows = np.moveaxis(outputs, 1, -1).reshape(-1, outputs.shape[1])   # (M, C)
    labels = targets.reshape(-1).astype(np.int64)                       # (M,)
    keep = labels >= 0
    if labels.size and labels.max() >= rows.shape[1]:
        raise ValueError(f"metrics: a target is {int(labels.max())} but the outputs have {rows.shape[1]} classes")
    return (rows, labels) if keep.all() else (rows[keep], labels[keep])


class Metric:
    """A quantity accumulated over batches: ``reset()``, ``update(outputs, targets)``, ``compute()``.

    ``compute()`` returns ``{name: value}`` (several entries for some metrics); ``state_dict()``
    and ``load_state_dict()`` carry the counts through a checkpoint taken mid-epoch.

    Example:
        >>> class MeanAbsError(Metric):
        ...     state_names = ("total", "count")
        ...     def reset(self):
        ...         self.total, self.count = 0.0, 0
        ...     def applies(self, outputs, targets):
        ...         return True
        ...     def update(self, outputs, targets):
        ...         self.total += float(np.abs(outputs - targets).sum())
        ...         self.count += len(targets)
        ...     def compute(self):
        ...         return {"mae": self.total / self.count}
        >>> metric = MeanAbsError()
        >>> metric.update(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
        >>> metric.compute()
        {'mae': 0.25}
    """

    state_names: tuple[str, ...] = ()

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def applies(self, outputs: np.ndarray, targets: np.ndarray) -> bool:
        return is_class_target(outputs, targets)

    def update(self, outputs: np.ndarray, targets: np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> dict:
        raise NotImplementedError

    @property
    def updated(self) -> bool:
        return bool(getattr(self, "count", 0))

    def state_dict(self) -> dict:
        return {name: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
                for name, value in ((n, getattr(self, n)) for n in self.state_names)}

    def load_state_dict(self, state: dict) -> None:
        for name in self.state_names:
            value = state[name]
            setattr(self, name, np.array(value, copy=True) if isinstance(value, np.ndarray) else value)


class MeanLoss(Metric):
    """The mean loss per example: ``sum(batch_mean * batch_size) / examples``.

    Example:
        >>> metric = MeanLoss()
        >>> metric.update_loss(1.0, 3)
        >>> metric.update_loss(2.0, 1)
        >>> metric.compute()
        {'loss': 1.25}
    """

    state_names = ("total", "count")

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def applies(self, outputs, targets) -> bool:
        return False

    def update_loss(self, value: float, count: int) -> None:
        self.total += float(value) * int(count)
        self.count += int(count)

    def compute(self) -> dict:
        return {"loss": self.total / self.count if self.count else float("nan")}


class Accuracy(Metric):
    """Share of rows whose highest score is the target class.

    Example:
        >>> metric = Accuracy()
        >>> metric.update(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
        >>> metric.update(np.array([[0.3, 0.7], [0.6, 0.4]]), np.array([1, 0]))
        >>> metric.compute()
        {'accuracy': 0.75}
    """

    state_names = ("correct", "count")

    def reset(self) -> None:
        self.correct, self.count = 0, 0

    def update(self, outputs, targets) -> None:
        rows, labels = class_rows(outputs, targets)
        self.correct += int((rows.argmax(axis=1) == labels).sum())
        self.count += len(labels)

    def compute(self) -> dict:
        return {"accuracy": self.correct / self.count if self.count else float("nan")}


class TopKAccuracy(Metric):
    """Share of rows whose target is among the ``k`` highest scores (``k >= C``: every row).

    Args:
        k: how many of the highest scores may hold the target.

    Example:
        >>> metric = TopKAccuracy(k=2)
        >>> metric.update(np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]), np.array([1, 0]))
        >>> metric.compute()
        {'top2_accuracy': 0.5}
    """

    state_names = ("correct", "count")

    def __init__(self, k: int = 5):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"TopKAccuracy: k must be a positive int, got {k!r}")
        self.k = int(k)
        super().__init__()

    def reset(self) -> None:
        self.correct, self.count = 0, 0

    def update(self, outputs, targets) -> None:
        rows, labels = class_rows(outputs, targets)
        if self.k >= rows.shape[1]:
            hits = np.ones(len(labels), dtype=bool)
        else:
            target_score = rows[np.arange(len(labels)), labels]                  # (M,)
            hits = (rows > target_score[:, None]).sum(axis=1) < self.k           # fewer than k strictly above
        self.correct += int(hits.sum())
        self.count += len(labels)

    def compute(self) -> dict:
        return {f"top{self.k}_accuracy": self.correct / self.count if self.count else float("nan")}


class ConfusionMatrix(Metric):
    """Counts ``(C, C)``: row = target class, column = predicted class (scikit-learn's layout).

    Args:
        num_classes: ``C``, or ``None``: grown to the largest label seen + 1.

    Example:
        >>> metric = ConfusionMatrix(num_classes=2)
        >>> metric.update(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
        >>> metric.compute()['confusion_matrix'].tolist()
        [[1, 0], [1, 1]]
    """

    state_names = ("matrix", "count")

    def __init__(self, num_classes: int | None = None):
        self.num_classes = num_classes
        super().__init__()

    def reset(self) -> None:
        self.matrix = None if self.num_classes is None else np.zeros((self.num_classes,) * 2, dtype=np.int64)
        self.count = 0

    def update(self, outputs, targets) -> None:
        rows, labels = class_rows(outputs, targets)
        classes = rows.shape[1] if self.num_classes is None else self.num_classes
        if self.matrix is None:
            self.matrix = np.zeros((classes, classes), dtype=np.int64)
        self.matrix += confusion_matrix(labels, rows.argmax(axis=1), self.matrix.shape[0])
        self.count += len(labels)

    def compute(self) -> dict:
        return {"confusion_matrix": self.matrix}


class PrecisionRecallF1(ConfusionMatrix):
    """Precision, recall and F1 from the accumulated confusion matrix.

    ``average=None``: per-class arrays ``precision``, ``recall``, ``f1``, ``support``;
    ``'macro'`` (the mean over classes present in targets or predictions, as scikit-learn),
    ``'weighted'`` (by support) or ``'micro'``: scalars. ``report`` picks the entries.
    A ratio with a zero denominator counts as 0 (scikit-learn's ``zero_division``).

    Args:
        average: ``None`` (per class), ``'macro'``, ``'weighted'`` or ``'micro'``.
        report: which of ``'precision'``, ``'recall'``, ``'f1'``, ``'support'`` to report.
        num_classes: ``C``, or ``None``: from the labels seen.

    Example:
        >>> metric = PrecisionRecallF1()
        >>> metric.update(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
        >>> {name: round(float(value), 4) for name, value in metric.compute().items()}
        {'precision': 0.75, 'recall': 0.75, 'f1': 0.6667}
    """

    def __init__(self, average: str | None = "macro", report=("precision", "recall", "f1"), num_classes=None):
        if average not in (None, "macro", "micro", "weighted"):
            raise ValueError(f"PrecisionRecallF1: average must be None, 'macro', 'micro' or 'weighted', "
                             f"got {average!r}")
        self.average, self.report = average, tuple(report)
        super().__init__(num_classes)

    def compute(self) -> dict:
        values = precision_recall_f1(self.matrix, self.average)
        return {name: values[name] for name in self.report + (("support",) if self.average is None else ())}


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts ``(C, C)`` of (target, prediction) pairs; ``C`` defaults to the largest label + 1.

    Args:
        targets: the true class indices.
        predictions: the predicted class indices.
        num_classes: ``C``, or ``None``: the largest label + 1.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])).tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    targets, predictions = np.asarray(targets).ravel(), np.asarray(predictions).ravel()
    if num_classes is None:
        num_classes = int(max(targets.max(initial=-1), predictions.max(initial=-1))) + 1
    flat = targets.astype(np.int64) * num_classes + predictions.astype(np.int64)        # (M,)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)


def precision_recall_f1(matrix: np.ndarray, average: str | None = "macro") -> dict:
    """``{precision, recall, f1, support}`` from a confusion matrix (rows: targets, columns: predictions).

    Args:
        matrix: a ``(C, C)`` confusion matrix.
        average: ``None`` (per class), ``'macro'``, ``'weighted'`` or ``'micro'``.

    Example:
        >>> scores = precision_recall_f1(np.array([[2, 0], [1, 1]]))
        >>> {name: round(value, 4) for name, value in scores.items()}
        {'precision': 0.8333, 'recall': 0.75, 'f1': 0.7333, 'support': 4}
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(matrix).astype(np.float64)                                  # (C,)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)              # (C,), (C,)
    if average == "micro":
        p = r = f = float(tp.sum() / matrix.sum()) if matrix.sum() else 0.0
        return {"precision": p, "recall": r, "f1": f, "support": int(support.sum())}
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)                                 # 2tp / (2tp + fp + fn)
    if average is None:
        return {"precision": precision, "recall": recall, "f1": f1, "support": support}
    if average == "weighted":
        weights = support / support.sum() if support.sum() else np.zeros(len(support))
    else:                                                                    # macro over classes that occur
        present = (predicted + support) > 0
        weights = present / present.sum() if present.any() else np.zeros(len(support))
    return {"precision": float(precision @ weights), "recall": float(recall @ weights),
            "f1": float(f1 @ weights), "support": int(support.sum())}


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Share of rows whose highest score is the target: ``outputs (N, C, *d)``, ``targets (N, *d)``.

    Args:
        outputs: class scores ``(N, C, *d)``.
        targets: class indices ``(N, *d)``.

    Example:
        >>> outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        >>> accuracy(outputs, np.array([0, 1, 1]))
        0.6666666666666666
    """
    metric = Accuracy()
    metric.update(outputs, targets)
    return metric.compute()["accuracy"]


def top_k_accuracy(outputs: np.ndarray, targets: np.ndarray, k: int = 5) -> float:
    """Share of rows whose target is among the ``k`` highest scores.

    Args:
        outputs: class scores ``(N, C, *d)``.
        targets: class indices ``(N, *d)``.
        k: how many of the highest scores may hold the target.

    Example:
        >>> outputs = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])
        >>> top_k_accuracy(outputs, np.array([1, 0]), k=2)
        0.5
    """
    metric = TopKAccuracy(k)
    metric.update(outputs, targets)
    return metric.compute()[f"top{k}_accuracy"]


_TOP_K = re.compile(r"^top_?(\d+)(_accuracy)?$")


def make_metric(spec) -> Metric:
    """A ``Metric`` from itself or a name: ``'accuracy'``, ``'top5'`` (any k; also ``'top5_accuracy'``),
    ``'confusion_matrix'``, ``'precision'``, ``'recall'``, ``'f1'`` (macro), ``'per_class'``
    (per-class precision, recall, F1 and support).

    Args:
        spec: a ``Metric`` (returned as is) or a metric's name.

    Example:
        >>> type(make_metric("top3")).__name__, make_metric("top3").k
        ('TopKAccuracy', 3)
    """
    if isinstance(spec, Metric):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"metrics: expected a Metric or a name, got {type(spec).__name__}")
    match = _TOP_K.match(spec)
    if match:
        return TopKAccuracy(int(match.group(1)))
    if spec in ("precision", "recall", "f1"):
        return PrecisionRecallF1("macro", report=(spec,))
    makers = {"accuracy": Accuracy, "confusion_matrix": ConfusionMatrix,
              "per_class": lambda: PrecisionRecallF1(None)}
    if spec not in makers:
        raise ValueError(f"metrics: unknown metric {spec!r}; expected a Metric or one of "
                         f"{sorted(makers) + ['precision', 'recall', 'f1', 'top<k>']}")
    return makers[spec]()


class MetricSet:
    """The mean loss and a list of metrics, updated together; reports only the metrics that applied.

    Args:
        specs: metric names or ``Metric`` objects (one alone is accepted too).

    Example:
        >>> metrics = MetricSet(('accuracy', 'top5'))
        >>> metrics.update(0.5, np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
        >>> metrics.compute()
        {'loss': 0.5, 'accuracy': 0.5, 'top5_accuracy': 1.0}
    """

    def __init__(self, specs=("accuracy",)):
        specs = (specs,) if isinstance(specs, (str, Metric)) else tuple(specs or ())
        self.loss = MeanLoss()
        self.metrics = [make_metric(spec) for spec in specs]

    def reset(self) -> None:
        self.loss.reset()
        for metric in self.metrics:
            metric.reset()

    def update(self, loss_value: float, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Add one batch: its mean loss (weighted by the batch's examples) and its outputs.

        Arrays on a device (a GPU) are read on the host: counts are kept there.
        """
        outputs, targets = _backend.to_host(outputs), np.asarray(_backend.to_host(targets))
        self.loss.update_loss(loss_value, len(targets) if targets.ndim else 1)
        for metric in self.metrics:
            if metric.applies(outputs, targets):
                metric.update(outputs, targets)

    def compute(self, scalars_only: bool = False) -> dict:
        result = dict(self.loss.compute())
        for metric in self.metrics:
            if metric.updated:
                result.update(metric.compute())
        if scalars_only:
            result = {k: v for k, v in result.items() if np.ndim(v) == 0}
        return result

    def state_dict(self) -> list:
        return [self.loss.state_dict()] + [metric.state_dict() for metric in self.metrics]

    def load_state_dict(self, state: list) -> None:
        for metric, entry in zip([self.loss] + self.metrics, state):
            metric.load_state_dict(entry)


__all__ = ["Metric", "MeanLoss", "Accuracy", "TopKAccuracy", "ConfusionMatrix", "PrecisionRecallF1", "MetricSet",
           "accuracy", "top_k_accuracy", "confusion_matrix", "precision_recall_f1", "make_metric",
           "is_class_target", "class_rows"]
