"""Callbacks: code that ``fit`` runs at the start and end of training, of each epoch and of each step.

A callback subclasses ``Callback`` and overrides the hooks it needs. ``fit`` sets ``self.run``
(the ``Run``: ``model``, ``optimizer``, ``scheduler``, ``history``, ``epoch``, ``step``,
``log``, ``stop_training``) before ``on_train_begin``. Epochs are numbered from 1, as printed
and in the history; ``step`` counts optimizer steps from 1. ``on_epoch_end`` receives the
epoch's history row (already in ``run.history``: keys a callback adds there are kept).

A callback with state that must survive a resume (a best value, a patience counter) returns it
from ``state_dict()`` and takes it back in ``load_state_dict()``; checkpoints hold it.
``Checkpoint`` callbacks run after all the others, so the state they save includes the others'.

>>> class PrintLoss(Callback):
...     def on_epoch_end(self, epoch, logs):
...         print(epoch, round(logs["train_loss"], 2))
"""

from __future__ import annotations

import math
import os

import numpy as np

from .checkpoint import BEST, CHECKPOINT, on_host
from .records import write_csv, write_json


class Callback:
    """Base class: every hook does nothing. ``run`` is set by ``fit``.

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> class StepCounter(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         logs["steps"] = self.run.step        # kept in the history row
        >>> history = fit(model, (x, y), optimizer=opt, epochs=2, batch_size=2, seed=0, log=None,
        ...               callbacks=[StepCounter()])
        >>> [row["steps"] for row in history]
        [2, 4]
    """

    run = None

    def set_run(self, run) -> None:
        self.run = run

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict | None = None) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def check_mode(mode: str, monitor: str, owner: str) -> str:
    """``'min'`` or ``'max'``; ``'auto'``: ``'max'`` for accuracies, precision, recall and F1, else ``'min'``."""
    if mode == "auto":
        return "max" if any(word in monitor for word in ("acc", "precision", "recall", "f1")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{owner}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


class _Monitor:
    """Tracks the best value of ``monitor``: improvement means beating it by more than ``min_delta``."""

    def __init__(self, monitor: str, mode: str, min_delta: float, owner: str):
        if not isinstance(monitor, str):
            raise TypeError(f"{owner}: monitor must be the name of a logged value (e.g. 'val_loss'), got {monitor!r}")
        if not min_delta >= 0:
            raise ValueError(f"{owner}: min_delta must be >= 0, got {min_delta!r}")
        self.monitor, self.min_delta, self.owner = monitor, min_delta, owner
        self.mode = check_mode(mode, monitor, owner)
        self.best, self.best_epoch, self.warned = (math.inf if self.mode == "min" else -math.inf), 0, False

    def value(self, logs: dict, run) -> float | None:
        if self.monitor not in logs:
            if not self.warned and run is not None:
                run.log(f"{self.owner}: '{self.monitor}' is not among the logged values "
                        f"{sorted(k for k in logs if np.ndim(logs[k]) == 0)}; it is ignored")
            self.warned = True
            return None
        return float(logs[self.monitor])

    def improved(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])


class Checkpoint(Callback):
    """Write the whole training state to ``dir/checkpoint.npz`` after every epoch (and every
    ``every_n_steps`` optimizer steps), and to ``dir/best.npz`` when ``monitor`` improves.

    Each write is atomic (a temporary file renamed over the old one) and refused while a
    parameter is NaN or infinite, so the files always hold a good, complete state:
    ``fit(..., resume_from=dir)`` continues from ``checkpoint.npz`` exactly. ``monitor=None``
    writes no ``best.npz``. On Ctrl-C, ``fit`` saves ``checkpoint.npz`` through this callback.

    Args:
        dir: the folder written to (created if needed).
        monitor: the history key whose best value writes ``best.npz`` (``None``: no ``best.npz``).
        mode: ``'max'`` (higher is better, an accuracy) or ``'min'`` (a loss).
        every_n_steps: also write every this many optimizer steps (``None``: per epoch only).
        min_delta: the smallest change that counts as an improvement.

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = fit(model, (x, y), optimizer=opt, epochs=1, seed=0, log=None,
        ...         callbacks=[Checkpoint(folder, monitor="train_loss", mode="min")])
        >>> sorted(os.listdir(folder))
        ['best.npz', 'checkpoint.npz']
    """

    def __init__(self, dir, monitor: str | None = "val_accuracy", mode: str = "max", every_n_steps: int | None = None,
                 min_delta: float = 0.0):
        self.dir = os.fspath(dir)
        self.monitor = None if monitor is None else _Monitor(monitor, mode, min_delta, "Checkpoint")
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int)
                                          or every_n_steps < 1):
            raise ValueError(f"Checkpoint: every_n_steps must be a positive int or None, got {every_n_steps!r}")
        self.every_n_steps = every_n_steps
        self.last_saved: str | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.dir, CHECKPOINT)

    @property
    def best_path(self) -> str:
        return os.path.join(self.dir, BEST)

    def save(self, path: str | None = None) -> str:
        """Write the run's state now (default: ``checkpoint.npz``); returns the path written."""
        path = self.path if path is None else path
        self.run.save(path)
        self.last_saved = path
        return path

    def on_batch_end(self, step, logs=None) -> None:
        if self.every_n_steps and step % self.every_n_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None) -> None:
        better = False
        if self.monitor is not None:
            value = self.monitor.value(logs or {}, self.run)
            better = self.monitor.improved(value)
            if better:
                self.monitor.best, self.monitor.best_epoch = value, epoch
        self.save()
        if better:
            self.run.save(self.best_path)

    def state_dict(self) -> dict:
        return {} if self.monitor is None else self.monitor.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.monitor is not None and state:
            self.monitor.load_state_dict(state)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode``: ``'min'``, ``'max'`` or ``'auto'`` (``'max'`` for accuracies). ``restore_best=True``
    loads the best epoch's weights into the model when training ends (they are kept in memory,
    and in checkpoints).

    Args:
        monitor: the history key watched (default ``'val_loss'``).
        patience: epochs without improvement before stopping.
        mode: ``'min'``, ``'max'`` or ``'auto'``.
        min_delta: the smallest change that counts as an improvement.
        restore_best: load the best epoch's weights when training ends.

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> stop = EarlyStopping(monitor="train_accuracy", patience=0)
        >>> history = fit(model, (x, y), optimizer=opt, epochs=5, seed=0, log=None, callbacks=[stop])
        >>> len(history) < 5
        True
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "auto", min_delta: float = 0.0,
                 restore_best: bool = False):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.tracker = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.patience, self.restore_best = patience, restore_best
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None

    def on_epoch_end(self, epoch, logs=None) -> None:
        value = self.tracker.value(logs or {}, self.run)
        if self.tracker.improved(value):
            self.tracker.best, self.tracker.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = {k: np.array(v, copy=True)                    # host copies, as checkpoints
                                     for k, v in on_host(self.run.model.state_dict()).items()}
            return
        self.wait += 1
        if self.wait >= self.patience and value is not None:
            self.stopped_epoch = epoch
            self.run.stop_training = True
            self.run.log(f"early stopping after epoch {epoch}: {self.tracker.monitor} has not improved for "
                         f"{self.wait} epochs (best {self.tracker.best:.4g} at epoch {self.tracker.best_epoch})")

    def on_train_end(self, logs=None) -> None:
        if self.restore_best and self.best_weights is not None:
            self.run.model.load_state_dict(self.best_weights)
            device = getattr(self.run, "device", None)
            if device is not None:
                self.run.model.to(device)                                   # back where the run computes

    def state_dict(self) -> dict:
        return {**self.tracker.state_dict(), "wait": self.wait, "stopped_epoch": self.stopped_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.load_state_dict(state)
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else dict(weights)


class CSVLogger(Callback):
    """Rewrite ``path`` as CSV from the whole history after every epoch (atomically; a resumed
    run therefore never duplicates or loses rows).

    Args:
        path: the CSV file written.

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> path = os.path.join(folder, "history.csv")
        >>> _ = fit(model, (x, y), optimizer=opt, epochs=2, seed=0, log=None, callbacks=[CSVLogger(path)])
        >>> open(path).readline().strip()
        'epoch,lr,train_loss,train_accuracy,seconds'
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def on_epoch_end(self, epoch, logs=None) -> None:
        write_csv(self.run.history, self.path)


class JSONLogger(Callback):
    """Rewrite ``path`` after every epoch with ``{"history": [...]}`` (plus ``extra``) as strict JSON:
    NaN as ``null``, infinities as ``"inf"``/``"-inf"``; atomic.

    Args:
        path: the JSON file written.
        extra: more keys written next to ``"history"``, or ``None``.

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> import json
        >>> path = os.path.join(folder, "history.json")
        >>> _ = fit(model, (x, y), optimizer=opt, epochs=2, seed=0, log=None,
        ...         callbacks=[JSONLogger(path, extra={"model": "linear"})])
        >>> saved = json.load(open(path))
        >>> saved["model"], len(saved["history"])
        ('linear', 2)
    """

    def __init__(self, path, extra: dict | None = None):
        self.path, self.extra = os.fspath(path), dict(extra or {})

    def on_epoch_end(self, epoch, logs=None) -> None:
        write_json({**self.extra, "history": self.run.history}, self.path)


class LRMonitor(Callback):
    """Record learning rates: each group's at every epoch's start (added to the epoch's row as
    ``lr_group{i}`` when there are several groups), and with ``interval='step'`` after every step
    in ``self.steps`` as ``(step, [lr, ...])``.

    Args:
        interval: ``'epoch'`` (at every epoch's start) or ``'step'`` (after every step too).

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> monitor = LRMonitor(interval="step")
        >>> _ = fit(model, (x, y), optimizer=opt, epochs=1, batch_size=2, seed=0, log=None, callbacks=[monitor])
        >>> monitor.epochs, monitor.steps
        ([(1, [0.1])], [(1, [0.1]), (2, [0.1])])
    """

    def __init__(self, interval: str = "epoch"):
        if interval not in ("epoch", "step"):
            raise ValueError(f"LRMonitor: interval must be 'epoch' or 'step', got {interval!r}")
        self.interval = interval
        self.epochs: list[tuple[int, list[float]]] = []
        self.steps: list[tuple[int, list[float]]] = []

    def _lrs(self) -> list[float]:
        return [float(group["lr"]) for group in self.run.optimizer.param_groups]

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epochs.append((epoch, self._lrs()))

    def on_epoch_end(self, epoch, logs=None) -> None:
        lrs = self.epochs[-1][1] if self.epochs else self._lrs()
        if logs is not None and len(lrs) > 1:
            logs.update({f"lr_group{i}": lr for i, lr in enumerate(lrs)})

    def on_batch_end(self, step, logs=None) -> None:
        if self.interval == "step":
            self.steps.append((step, self._lrs()))

    def state_dict(self) -> dict:
        return {"epochs": [[e, list(v)] for e, v in self.epochs], "steps": [[s, list(v)] for s, v in self.steps]}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = [(int(e), [float(x) for x in v]) for e, v in state["epochs"]]
        self.steps = [(int(s), [float(x) for x in v]) for s, v in state["steps"]]


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Args:
        **hooks: ``on_<event>=function`` for the events of ``Callback`` (``on_epoch_end``, ...).

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> seen = []
        >>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
        >>> _ = fit(model, (x, y), optimizer=opt, epochs=2, seed=0, log=None, callbacks=[callback])
        >>> seen
        [1, 2]
    """

    def __init__(self, **hooks):
        names = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_end")
        unknown = sorted(set(hooks) - set(names))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {unknown}; expected some of {list(names)}")
        for name, function in hooks.items():
            setattr(self, name, function)


def ordered(callbacks) -> list[Callback]:
    """The user's callbacks in their order, ``Checkpoint``s moved last (they save the others' state)."""
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"fit: callbacks must be Callback instances, got {type(callback).__name__}")
    return [c for c in callbacks if not isinstance(c, Checkpoint)] + [c for c in callbacks if isinstance(c, Checkpoint)]


__all__ = ["Callback", "Checkpoint", "EarlyStopping", "CSVLogger", "JSONLogger", "LRMonitor", "LambdaCallback"]
