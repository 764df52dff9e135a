"""What ``fit`` needs to train data-parallel: one step's global loss and metrics, and sharded evaluation.

``fit_sync(model)`` returns ``None`` on one process (``fit`` then runs exactly as before), and
otherwise a ``FitSync``:

- ``step(loss_value, metric_specs, outputs, targets)``: every rank's loss and metric counts of
  this step, summed in one all-reduce before ``backward``: the global mean loss (the same value,
  so the same ``NonFiniteLoss`` decision, on every rank; the message names the ranks whose loss
  was not finite) and a ``MetricSet`` of the global batch, which ``fit`` adds to its running
  metrics. Training metrics and checkpoints are therefore those of one process.
- ``evaluate(model, loader, loss, metrics)``: each rank evaluates its contiguous part of the
  data; the metric counts are summed over ranks.

Metric states are counts (sums of losses times examples, correct predictions, confusion matrices),
so adding them over ranks is exact.
"""

from __future__ import annotations

import numpy as np

from .comm import init


def _metric_entries(metric_set) -> list[tuple[object, str]]:
    return [(metric, name) for metric in [metric_set.loss] + metric_set.metrics for name in metric.state_names]


def reduce_metric_set(metric_set, group=None):
    """Sum ``metric_set``'s counts over every rank, in place (one all-reduce); returns it.

    A confusion matrix that one rank never filled (``None``) is taken as zeros of the others' size.

    Args:
        metric_set: the ``MetricSet`` whose counts are summed.
        group: the ``ProcessGroup`` (``None``: ``init()``).

    Example:
        >>> from strided.train.metrics import MetricSet
        >>> metrics = MetricSet(("accuracy",))
        >>> metrics.update(0.5, np.array([[0.9, 0.1]]), np.array([0]))
        >>> reduce_metric_set(metrics).compute()             # one process: unchanged
        {'loss': 0.5, 'accuracy': 1.0}
    """
    group = group or init()
    if group.world_size == 1:
        return metric_set
    entries = _metric_entries(metric_set)
    shapes = np.array([np.size(getattr(m, n)) if getattr(m, n) is not None else 0 for m, n in entries], np.int64)
    group.comm.Allreduce(group.in_place, shapes_max := shapes.copy(), op=group.op("max"))
    values = []
    for (metric, name), size in zip(entries, shapes_max):
        value = getattr(metric, name)
        flat = np.zeros(int(size)) if value is None else np.asarray(value, dtype=np.float64).reshape(-1)
        values.append(flat)
    flat = np.concatenate(values) if values else np.zeros(0)                    # (total entries,)
    group.comm.Allreduce(group.in_place, flat, op=group.op("sum"))
    offset = 0
    for (metric, name), size in zip(entries, shapes_max):
        size = int(size)
        part, offset = flat[offset:offset + size], offset + size
        old = getattr(metric, name)
        if isinstance(old, np.ndarray) or (old is None and size > 1):
            side = int(round(np.sqrt(size)))
            shape = old.shape if isinstance(old, np.ndarray) else (side, side)
            setattr(metric, name, np.rint(part).astype(np.int64).reshape(shape))
        elif isinstance(old, (int, np.integer)) and not isinstance(old, bool):
            setattr(metric, name, int(round(float(part[0]))))
        else:
            setattr(metric, name, float(part[0]))
    return metric_set


def add_metric_set(into, other) -> None:
    """Add ``other``'s counts to ``into`` (two ``MetricSet``s of the same metrics)."""
    for (metric, name), (source, _) in zip(_metric_entries(into), _metric_entries(other)):
        value, extra = getattr(metric, name), getattr(source, name)
        if extra is None:
            continue
        setattr(metric, name, np.array(extra, copy=True) if value is None else value + extra)


class FitSync:
    """``fit``'s collectives over the ranks of ``group`` (see the module docstring)."""

    def __init__(self, group):
        self.group = group

    def prepare(self, run) -> list:
        """Make ``run`` (a ``fit`` Run) data-parallel; returns the callbacks this rank runs.

        The training loader (a ``DataLoader`` made for one process) is given this rank's part of
        every global batch; a model not yet wrapped is wrapped in ``DistributedDataParallel``; on
        ranks other than 0 the log and progress bar are silent and ``Checkpoint`` callbacks (files)
        are left out (they run last, so the other callbacks keep their checkpoint keys).
        """
        from ..train.callbacks import Checkpoint
        from .ddp import DistributedDataParallel
        loader, world = run.loader, self.group.world_size
        if getattr(loader, "num_replicas", None) == 1 and hasattr(loader, "set_replicas"):
            loader.set_replicas(world, self.group.rank)
        if getattr(loader, "num_replicas", None) != world:
            raise ValueError(f"fit: {world} ranks train together, but the training loader "
                             f"{'is not a strided.data.DataLoader' if not hasattr(loader, 'num_replicas') else f'is split for {loader.num_replicas} ranks'}; "
                             f"give fit a DataLoader (or a dataset or arrays), it gives each rank its part")
        if not isinstance(run.model, DistributedDataParallel):
            run.model = DistributedDataParallel(run.model, group=self.group)
        if self.group.rank == 0:
            return run.callbacks
        run.log, run.progress = (lambda *args: None), False
        return [c for c in run.callbacks if not isinstance(c, Checkpoint)]

    def step(self, loss_value: float, metric_specs, outputs: np.ndarray, targets) -> tuple[float, object]:
        """The global mean loss of this step (NaN when any rank's is not finite: ``bad_ranks`` names
        them) and the ``MetricSet`` of the global batch."""
        from ..train.metrics import MetricSet
        finite = bool(np.isfinite(loss_value))
        batch = MetricSet(metric_specs)
        batch.update(loss_value if finite else 0.0, outputs, targets)
        flags = np.empty(self.group.world_size)                              # (R,) 1 where finite
        self.group.comm.Allgather(np.array([float(finite)]), flags)
        reduce_metric_set(batch, self.group)
        self.bad_ranks = [r for r in range(self.group.world_size) if not flags[r]]
        value = float("nan") if self.bad_ranks else batch.loss.total / max(batch.loss.count, 1)
        return value, batch

    def evaluate(self, model, loader, loss, metrics) -> dict:
        from ..data.loader import batch_to_device
        from ..train.evaluation import _values, eval_mode, model_device
        from ..train.metrics import MetricSet
        results = MetricSet(metrics)
        dataset = getattr(loader, "dataset", None)
        if dataset is None:
            raise TypeError(f"data-parallel evaluation needs a DataLoader over a dataset, got {type(loader).__name__}")
        from ..data import DataLoader
        part = DataLoader(dataset, batch_size=loader.batch_size, shuffle=False, seed=0, collate=loader.collate,
                          transform=None)
        n, r, w = len(dataset), self.group.rank, self.group.world_size
        start, stop = n * r // w, n * (r + 1) // w
        device = model_device(model)
        with eval_mode(model):
            for first in range(start, stop, part.batch_size):
                index = np.arange(first, min(first + part.batch_size, stop))       # (B,)
                x, y = _gather(part, index)
                x_on, y_on = batch_to_device((x, y), device)                   # the loader's transfer
                outputs = model(x_on)
                value = float(loss(outputs, y_on).item()) if loss is not None else float("nan")
                results.update(value, _values(outputs), y)
        reduce_metric_set(results, self.group)
        out = results.compute()
        if loss is None:
            out.pop("loss")
        return out


def _gather(loader, index: np.ndarray):
    dataset = loader.dataset
    if loader.collate is None and hasattr(dataset, "get_batch"):
        return dataset.get_batch(index)
    from ..data.loader import default_collate
    return (loader.collate or default_collate)([dataset[int(i)] for i in index])


def fit_sync(model=None, group=None) -> FitSync | None:
    """``None`` on one process; a ``FitSync`` when several ranks train together.

    Args:
        model: the model trained (not read here: ``fit`` wraps it when training starts).
        group: the ``ProcessGroup`` (``None``: ``init()``).

    Example:
        >>> fit_sync() is None               # one process: fit needs no synchronisation
        True
    """
    group = group or init()
    return None if group.world_size == 1 else FitSync(group)


__all__ = ["fit_sync", "FitSync", "reduce_metric_set", "add_metric_set"]
