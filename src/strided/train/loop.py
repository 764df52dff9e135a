"""``fit``: the training loop, with metrics, schedules, callbacks, checkpoints and exact resume.

One step: ``zero_grad``, forward, loss (a NaN or infinite loss stops here: ``NonFiniteLoss``),
backward, ``optimizer.step()``, then the bookkeeping (a per-batch schedule step, the running
metrics, the counters, a note of every generator's state, the ``on_batch_end`` callbacks). An
epoch ends with validation, the schedule step (per epoch, or on a monitored value for
``ReduceLROnPlateau``), the history row, the log line and the ``on_epoch_end`` callbacks.

The updates of a step and of an epoch's end run in a critical section: a Ctrl-C (SIGINT) that
arrives there is held until the section is done. So whenever the interrupt lands, the model,
optimizer and schedule are those after the last completed step, the run knows which batch comes
next and the generators' states noted then; ``fit`` saves exactly that through its
``Checkpoint`` callbacks and raises ``TrainingInterrupted``. The handler is installed only for
the duration of ``fit``, only from the main thread and only where SIGINT has Python's default
handler; the previous one is put back.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np

from .. import backend as _backend
from .. import random as st_random
from ..checks import as_int
from ..data.loader import batch_to_device
from ..nn.functional import cross_entropy
from ..optim.lr_scheduler import CyclicLR, OneCycleLR, ReduceLROnPlateau
from .callbacks import Checkpoint, ordered
from .checkpoint import (NonFiniteCheckpoint, load_checkpoint, model_generators, non_finite_entries, plain,
                         prepare_restore, save_checkpoint, training_state)
from ..distributed.training import add_metric_set, fit_sync
from .data import as_loader
from .errors import NonFiniteLoss, TrainingInterrupted
from .evaluation import _values, evaluate, model_device
from .metrics import MetricSet
from .progress import _NoBar, bar_text, epoch_line, progress_bar

INTERVALS = ("epoch", "batch", "metric")


class InterruptGuard:
    """Holds SIGINT while ``critical()`` sections run; raises ``KeyboardInterrupt`` when the last one ends."""

    def __init__(self):
        self.depth, self.pending, self.previous = 0, False, None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
        return False

    def _handler(self, signum, frame):
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def critical(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:          # only when the section completed
            self.pending = False
            raise KeyboardInterrupt


def _interval(scheduler, interval):
    if scheduler is None:
        return None
    if interval is None:
        if isinstance(scheduler, ReduceLROnPlateau):
            return "metric"
        return "batch" if isinstance(scheduler, (OneCycleLR, CyclicLR)) else "epoch"
    if interval not in INTERVALS:
        raise ValueError(f"fit: scheduler_interval must be one of {INTERVALS} or None, got {interval!r}")
    if (interval == "metric") != isinstance(scheduler, ReduceLROnPlateau):
        raise ValueError(f"fit: scheduler_interval='metric' is for ReduceLROnPlateau (stepped with a monitored "
                         f"value), got {type(scheduler).__name__} with {interval!r}")
    return interval


def _move_optimizer_state(optimizer, device) -> None:
    """Move the arrays of ``optimizer.state`` (momentum and moment buffers) to ``device``, in place."""
    state = getattr(optimizer, "state", None)
    if not isinstance(state, dict):
        return
    for entry in state.values():
        if isinstance(entry, dict):
            for key, value in entry.items():
                if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
                    entry[key] = _backend.to_device(value, device)


class Run:
    """One call of ``fit``: what it trains with, where it is, and what callbacks see (``callback.run``).

    Position: ``epoch`` (epochs completed), ``batch`` (the next batch of the current epoch),
    ``step`` (optimizer steps so far), all as of the last completed step; ``history``: the
    rows of completed epochs; ``stop_training``: set it to end after the current epoch.

    Args:
        model: the model trained.
        optimizer: its optimizer.
        scheduler: the learning-rate scheduler, or ``None``.
        loss: ``loss(outputs, targets)``, the batch mean.
        loader: the training ``DataLoader``.
        val_loader: the validation ``DataLoader``, or ``None``.
        metrics: the ``MetricSet`` accumulated per epoch.
        callbacks: the ``Callback`` objects called at each event.
        epochs: the epoch count to reach.
        scheduler_interval: ``'epoch'`` or ``'batch'``.
        scheduler_monitor: the history key given to ``ReduceLROnPlateau.step``.
        val_name: the prefix of the validation columns.
        progress: show a progress bar per epoch.
        log: the function printing messages, or ``None``.
        config: the caller's own settings, saved in checkpoints.
        device: the device the model computes on (``None``: its first parameter's); every batch
            is moved there before the forward pass.

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> from strided.train import Callback
        >>> class Where(Callback):
        ...     def on_train_end(self, logs=None):
        ...         print(self.run.epoch, self.run.step, len(self.run.history))
        >>> _ = fit(model, (x, y), optimizer=opt, epochs=2, batch_size=2, seed=0, log=None, callbacks=[Where()])
        2 4 2
    """

    def __init__(self, model, optimizer, scheduler, loss, loader, val_loader, metrics, callbacks, epochs, *,
                 scheduler_interval, scheduler_monitor, val_name, progress, log, config, device=None):
        self.model, self.optimizer, self.scheduler, self.loss = model, optimizer, scheduler, loss
        self.loader, self.val_loader, self.metric_specs = loader, val_loader, metrics
        self.callbacks, self.epochs = ordered(callbacks), epochs
        self.interval, self.monitor = scheduler_interval, scheduler_monitor
        self.val_name, self.progress, self.config = val_name, progress, dict(config or {})
        self.device = model_device(model, device, "fit")                 # moves the model when device is given
        if device is not None:
            _move_optimizer_state(optimizer, self.device)                # buffers of earlier steps follow the model
        self.log = log if log is not None else (lambda *args: None)
        self.train_metrics = MetricSet(metrics)
        self.epoch = self.batch = self.step = 0
        self.begun, self.epoch_lr, self.stop_training = False, float(optimizer.param_groups[0]["lr"]), False
        self.history: list[dict] = []
        self._generators = [generator for _, generator in model_generators(model)]
        self._sync = fit_sync()                          # None on one process; else data-parallel (distributed/)
        if self._sync is not None:
            self.callbacks = self._sync.prepare(self)    # shards the loader; only rank 0 prints and checkpoints
        for callback in self.callbacks:
            callback.set_run(self)
        self._mark()

    # ------------------------------------------------------------------------------- state
    def _mark(self) -> None:
        """Note the states that move inside a step's forward pass: generators and loader positions."""
        self._noted = {
            "loader": self.loader.state_dict() if hasattr(self.loader, "state_dict") else None,
            "val_loader": (self.val_loader.state_dict() if hasattr(self.val_loader, "state_dict") else None),
            "generators": [g.bit_generator.state for g in self._generators],
            "default_generator": st_random.get_rng_state(),
        }

    def _callback_key(self, index: int, callback) -> str:
        return f"{index}:{type(callback).__name__}"

    def state_dict(self) -> dict:
        """The run's checkpoint as of the last completed step (see ``strided.train.checkpoint``)."""
        noted = self._noted
        generators = [{"names": names, "state": state}
                      for (names, _), state in zip(model_generators(self.model), noted["generators"])]
        return training_state(
            self.model, self.optimizer, scheduler=self.scheduler, loader_state=noted["loader"],
            val_loader_state=noted["val_loader"], generators=generators, default_generator=noted["default_generator"],
            position={"epoch": self.epoch, "batch": self.batch, "step": self.step, "lr": self.epoch_lr,
                      "begun": self.begun, "batches_per_epoch": len(self.loader)},
            history=self.history, metrics=self.train_metrics.state_dict() if self.batch else None,
            callbacks={self._callback_key(i, c): c.state_dict() for i, c in enumerate(self.callbacks)},
            stopped=self.stop_training, config=self.config)

    def save(self, path) -> str:
        """Write ``state_dict()`` to ``path`` (atomic; refused while a parameter is not finite)."""
        return save_checkpoint(path, self.state_dict(), model=self.model)

    def resume(self, path, allow_nonfinite: bool = False) -> None:
        """Continue from a checkpoint: restore every state and the position.

        Everything is checked before the model, optimizer or schedule change; a checkpoint with
        NaN or infinite weights is refused (``NonFiniteCheckpoint``) unless ``allow_nonfinite``.
        """
        state = load_checkpoint(path)
        if not allow_nonfinite:
            bad = non_finite_entries(state)
            if bad:
                raise NonFiniteCheckpoint(
                    f"fit: {path} holds NaN or infinite values in {', '.join(bad[:5])}"
                    f"{f' and {len(bad) - 5} more' if len(bad) > 5 else ''}: resuming would train on from them; "
                    f"resume from an earlier checkpoint, or pass allow_nonfinite=True to resume anyway", bad, path)
        try:
            position = state["position"]
            epoch, batch, step = (as_int(position[k], k, "fit: the checkpoint's position", minimum=0)
                                  for k in ("epoch", "batch", "step"))
            epoch_lr, begun = float(position["lr"]), bool(position["begun"])
            history = [plain(row) for row in state["history"]]
            if not all(isinstance(row, dict) for row in history):
                raise TypeError("history rows must be dicts")
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"fit: {path} has a malformed position or history ({type(error).__name__}: "
                             f"{error})") from None
        if batch:                                   # mid-epoch: the loader must continue where it was
            if state.get("loader") is None or not hasattr(self.loader, "load_state_dict"):
                raise ValueError(f"fit: {path} was saved in the middle of an epoch, but the training loader "
                                 f"{'has' if state.get('loader') is None else 'takes'} no state; use "
                                 f"strided.data.DataLoader")
            if int(position["batches_per_epoch"]) != len(self.loader):
                raise ValueError(f"fit: {path} was saved in the middle of an epoch of {position['batches_per_epoch']} "
                                 f"batches, but this training loader has {len(self.loader)} per epoch; resume with "
                                 f"the same data and batch_size")
        restore = prepare_restore(state, self.model, self.optimizer, self.scheduler)
        self._restore_parts(state)                   # loaders, metrics, callbacks: all or none
        restore()                                    # checked: cannot fail
        self.model.to(self.device)                   # the saved host arrays compute where the run does
        _move_optimizer_state(self.optimizer, self.device)
        self.epoch, self.batch, self.step = epoch, batch, step
        self.epoch_lr, self.begun = epoch_lr, begun
        self.history = history
        self.stop_training = bool(state["stopped"])
        self._mark()
        self.log(f"resumed from {path} after {self.epoch} epochs and {self.step} steps "
                 f"(epoch {self.epoch + 1} continues at batch {self.batch + 1})")

    def _restore_parts(self, state: dict) -> None:
        """Load the metrics', loaders' and callbacks' states; if one refuses, put back those already loaded."""
        loads = []
        if state.get("metrics") is not None:
            loads.append((self.train_metrics, state["metrics"]))
        for name, loader in (("loader", self.loader), ("val_loader", self.val_loader)):
            saved = state.get(name)
            if saved is not None and hasattr(loader, "load_state_dict") and hasattr(loader, "state_dict"):
                loads.append((loader, plain(saved)))
        saved_callbacks = state.get("callbacks") or {}
        for index, callback in enumerate(self.callbacks):
            key = self._callback_key(index, callback)
            if key in saved_callbacks:
                loads.append((callback, plain(saved_callbacks[key])))
        done = []
        try:
            for target, saved in loads:
                before = target.state_dict()
                target.load_state_dict(saved)
                done.append((target, before))
        except Exception as error:
            for target, before in reversed(done):
                target.load_state_dict(before)
            raise ValueError(f"fit: the checkpoint's state of {type(target).__name__} does not load "
                             f"({type(error).__name__}: {error}); nothing was restored") from error

    # ------------------------------------------------------------------------------- the loop
    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def train(self, guard: InterruptGuard) -> list[dict]:
        self._call("on_train_begin", {"epochs": self.epochs})
        while self.epoch < self.epochs and not self.stop_training:
            self._epoch(guard)
        self._call("on_train_end", {"history": self.history})
        return self.history

    def _epoch(self, guard: InterruptGuard) -> None:
        number, count = self.epoch + 1, len(self.loader)
        if not self.begun:
            with guard.critical():
                self.epoch_lr, self.begun = float(self.optimizer.param_groups[0]["lr"]), True
                self.train_metrics.reset()
                self._call("on_epoch_begin", number, {})
        started = time.perf_counter()
        self._clock = [started, 0]                       # start, examples trained this epoch (images/s)
        self.model.train()
        bar = progress_bar(count, f"epoch {number}/{self.epochs}", self.progress, initial=self.batch)
        try:
            if self.batch < count:
                for b, (x, y) in enumerate(self.loader, start=self.batch):
                    self._step(guard, bar, number, b, count, x, y)
        finally:
            bar.close()
        train_seconds, seen = time.perf_counter() - started, self._clock[1]
        train_logs = self.train_metrics.compute(scalars_only=True)
        val_logs = {}
        if self.val_loader is not None:
            val_logs = (evaluate(self.model, self.val_loader, self.loss, self.metric_specs) if self._sync is None
                        else self._sync.evaluate(self.model, self.val_loader, self.loss, self.metric_specs))
        with guard.critical():
            row = {"epoch": number, "lr": self.epoch_lr}
            row.update({f"train_{k}": float(v) for k, v in train_logs.items()})
            row.update({f"{self.val_name}_{k}": float(v) for k, v in val_logs.items() if getattr(v, "ndim", 0) == 0})
            row["seconds"] = time.perf_counter() - started
            self._schedule_epoch(row)
            self.history.append(row)
            self.epoch, self.batch, self.begun = self.epoch + 1, 0, False
            self.train_metrics.reset()
            self._mark()
            self.log(epoch_line(row, self.epochs, self.val_name, seen / train_seconds if seen else None))
            self._call("on_epoch_end", number, row)

    def _step(self, guard, bar, number: int, b: int, count: int, x, y) -> None:
        self.optimizer.zero_grad()
        x_on, y_on = batch_to_device((x, y), self.device)      # the loader's host batch, moved to the model
        outputs = self.model(x_on)
        loss = self.loss(outputs, y_on)
        value, batch_metrics = float(loss.item()), None
        if self._sync is not None:                       # the global batch's mean loss and metric counts
            value, batch_metrics = self._sync.step(value, self.metric_specs, _values(outputs), y)
        if not math.isfinite(value):
            self._non_finite(value, number, b, count)
        loss.backward()
        with guard.critical():
            self.optimizer.step()
            if self.interval == "batch":
                self.scheduler.step()
            if batch_metrics is None:
                self.train_metrics.update(value, _values(outputs), y)          # read on the host
            else:
                add_metric_set(self.train_metrics, batch_metrics)
            self.batch, self.step = b + 1, self.step + 1
            self._mark()
            size = len(y) if getattr(y, "ndim", 1) else 1
            size = size if batch_metrics is None else batch_metrics.loss.count
            self._clock[1] += size
            if not isinstance(bar, _NoBar):
                rate = self._clock[1] / max(time.perf_counter() - self._clock[0], 1e-9)
                text = bar_text(self.train_metrics.compute(scalars_only=True), rate)
                bar.set_postfix_str(text, refresh=b + 1 == count)        # tqdm redraws at most every 0.1 s
            bar.update()
            self._call("on_batch_end", self.step, {"epoch": number, "batch": b + 1, "loss": value, "size": size,
                                                   "lr": float(self.optimizer.param_groups[0]["lr"])})

    def _schedule_epoch(self, row: dict) -> None:
        if self.interval == "epoch":
            self.scheduler.step()
        elif self.interval == "metric":
            if self.monitor not in row:
                raise ValueError(f"fit: scheduler_monitor {self.monitor!r} is not among the logged values "
                                 f"{sorted(row)}")
            self.scheduler.step(row[self.monitor])

    def checkpoint_paths(self) -> list[str]:
        return [c.path for c in self.callbacks if isinstance(c, Checkpoint) and os.path.exists(c.path)]

    def _non_finite(self, value: float, number: int, b: int, count: int):
        paths = self.checkpoint_paths()
        where = f"epoch {number}, step {self.step + 1} (batch {b + 1} of {count})"
        if getattr(self._sync, "bad_ranks", None):
            where += f" on rank {', '.join(map(str, self._sync.bad_ranks))} of {self._sync.group.world_size}"
        kept = (f"; the last good checkpoint is {paths[0]}" if paths else "; no checkpoint was written")
        raise NonFiniteLoss(f"fit: the loss is {value} at {where}: training stopped before this step's update"
                            f"{kept}", number, self.step + 1, paths[0] if paths else None)

    def interrupted(self) -> TrainingInterrupted:
        """Save through the ``Checkpoint`` callbacks (the state after the last completed step), say how to resume."""
        saved = None
        for callback in self.callbacks:
            if isinstance(callback, Checkpoint):
                try:
                    saved = callback.save()
                except NonFiniteLoss as error:
                    self.log(str(error))
        where = f"epoch {self.epoch + 1} after step {self.step}"
        if saved:
            message = f"interrupted in {where}: saved {saved}; resume with fit(..., resume_from={saved!r})"
        else:
            message = (f"interrupted in {where}; no checkpoint saved (give fit checkpoint_dir=... or a "
                       f"Checkpoint callback to keep one)")
        self.log(message)
        return TrainingInterrupted(message, saved, self.history)


def fit(model, train, val=None, *, optimizer, loss=cross_entropy, epochs: int, scheduler=None,
        scheduler_interval: str | None = None, scheduler_monitor: str | None = None, callbacks=(),
        metrics=("accuracy",), batch_size: int = 32, val_batch_size: int | None = None, shuffle: bool = True,
        seed=None, progress: bool | None = None, log=print, checkpoint_dir=None, checkpoint_every: int | None = None,
        resume_from=None, allow_nonfinite: bool = False, val_name: str = "val",
        config: dict | None = None, device=None) -> list[dict]:
    """Train ``model`` on ``train`` for ``epochs`` epochs; returns the history, one dict per epoch.

    ``train``, ``val``: a ``DataLoader``, a dataset or an ``(x, y)`` tuple (wrapped in a
    ``DataLoader`` with ``batch_size``, ``shuffle`` and ``seed``; ``val`` in order, batches of
    ``val_batch_size``). ``loss(outputs, targets)``: any loss returning the batch mean
    (cross-entropy by default; ``F.mse_loss`` with float targets for regression). ``metrics``:
    names or ``Metric`` objects (``strided.train.metrics``); class metrics are skipped for float
    targets. A history row: ``epoch`` (from 1), ``lr`` (group 0's at the epoch's start),
    ``train_loss``, ``train_<metric>``, ``<val_name>_loss``, ``<val_name>_<metric>``, ``seconds``.

    ``scheduler``: stepped per epoch, per batch (``scheduler_interval='batch'``; the default for
    ``OneCycleLR`` and ``CyclicLR``), or for ``ReduceLROnPlateau`` with the logged value
    ``scheduler_monitor`` (default ``'<val_name>_loss'``, or ``'train_loss'`` without ``val``).
    ``callbacks``: ``Callback`` objects (``strided.train.callbacks``). ``checkpoint_dir``: adds a
    ``Checkpoint`` there (every epoch, every ``checkpoint_every`` steps, ``best.npz`` on the best
    validation loss). ``resume_from``: a checkpoint file (or its folder) to continue from, exactly:
    the same seed and arguments give the same final weights as a run never interrupted; a
    checkpoint holding NaN or infinite weights is refused (``NonFiniteCheckpoint``, a
    ``ValueError``) unless ``allow_nonfinite=True``.
    ``progress``: a tqdm bar per epoch (``None``: when stdout is a terminal); ``log``: the
    function that prints the per-epoch line and messages (``None``: silent).

    ``device``: where to train: ``"cpu"``, ``"cuda"`` or ``"cuda:1"`` (the model is moved there
    first, ``model.to(device)``; build the optimizer before or after, it holds the same
    parameters); ``None``: the model's own device, that of its first parameter. Each batch of
    the loader (host NumPy arrays) is moved there just before the forward pass; the loss,
    metrics, history and progress are read on the host, and checkpoints hold host arrays, so a
    run saved on one device resumes on another.

    Raises ``NonFiniteLoss`` when the loss becomes NaN or infinite (the model keeps the weights
    of before that step, the checkpoints are never overwritten with non-finite weights) and
    ``TrainingInterrupted`` (a ``KeyboardInterrupt``) on Ctrl-C, after saving a checkpoint.

    ``fit`` leaves the process's allocator alone; a script that owns its process can call
    ``strided.memory.keep_freed_memory()`` first (``strided train`` does).

    Args:
        model: the ``Module`` to train (in place).
        train: the training data: a ``DataLoader``, a dataset or an ``(x, y)`` tuple of arrays.
        val: the validation data, in the same forms, or ``None``.
        optimizer: an optimizer over ``model.parameters()`` (keyword-only, as every argument after ``val``).
        loss: ``loss(outputs, targets)`` returning the batch mean (default ``cross_entropy``).
        epochs: the number of epochs to reach (a resumed run continues up to it).
        scheduler: a learning-rate scheduler, or ``None``.
        scheduler_interval: ``'epoch'`` or ``'batch'`` (``None``: ``'batch'`` for ``OneCycleLR`` and
            ``CyclicLR``, else ``'epoch'``).
        scheduler_monitor: the history key ``ReduceLROnPlateau`` is stepped with.
        callbacks: ``Callback`` objects (``strided.train.callbacks``).
        metrics: metric names (``'accuracy'``, ``'top5'``, ...) or ``Metric`` objects.
        batch_size: the batch size when ``train`` is not a ``DataLoader``.
        val_batch_size: the validation batch size (``None``: ``batch_size``).
        shuffle: shuffle the training data each epoch (when ``train`` is not a ``DataLoader``).
        seed: the loader's seed, an int (``None``: drawn from the default generator).
        progress: a tqdm bar per epoch (``None``: when stdout is a terminal).
        log: the function printing the per-epoch line and messages (``None``: silent).
        checkpoint_dir: a folder for ``checkpoint.npz`` and ``best.npz``, or ``None``.
        checkpoint_every: also save every this many optimizer steps (``None``: per epoch only).
        resume_from: a checkpoint file or folder to continue from, or ``None``.
        allow_nonfinite: resume even from a checkpoint holding NaN or infinite weights.
        val_name: the prefix of the validation columns of the history (default ``'val'``).
        config: the caller's own settings, saved in checkpoints (a JSON-able dict).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` (the model is moved there), or ``None``: the model's device.

    Example:
        >>> import numpy as np
        >>> import strided as st
        >>> x, y = np.array([[0.0, 1.0], [1.0, 0.0]] * 4, dtype=np.float32), np.array([1, 0] * 4)
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> optimizer = st.optim.SGD(model.parameters(), lr=0.5)
        >>> history = fit(model, (x, y), optimizer=optimizer, epochs=20, batch_size=4, seed=0, log=None)
        >>> len(history), history[-1]["epoch"], history[-1]["train_accuracy"]
        (20, 20, 1.0)
    """
    epochs = as_int(epochs, "epochs", "fit", minimum=0)
    if optimizer is None:
        raise TypeError("fit: optimizer is required (e.g. optimizer=st.optim.SGD(model.parameters(), lr=0.01))")
    if not callable(loss):
        raise TypeError(f"fit: loss must be callable as loss(outputs, targets), got {loss!r}")
    loader = as_loader(train, batch_size, shuffle, seed, "fit", "train")
    val_loader = None if val is None else as_loader(val, val_batch_size or batch_size, False, 0, "fit", "val")
    interval = _interval(scheduler, scheduler_interval)
    monitor = scheduler_monitor or (f"{val_name}_loss" if val is not None else "train_loss")
    callbacks = list(callbacks)
    if checkpoint_dir is not None:
        callbacks.append(Checkpoint(checkpoint_dir, monitor=f"{val_name}_loss" if val is not None else None,
                                    mode="min", every_n_steps=checkpoint_every))
    run = Run(model, optimizer, scheduler, loss, loader, val_loader, metrics, callbacks, epochs,
              scheduler_interval=interval, scheduler_monitor=monitor, val_name=val_name, progress=progress, log=log,
              config=config, device=device)
    if resume_from is not None:
        run.resume(os.fspath(resume_from), allow_nonfinite=allow_nonfinite)
    with InterruptGuard() as guard:
        try:
            return run.train(guard)
        except KeyboardInterrupt:
            raise run.interrupted() from None


__all__ = ["fit", "Run", "InterruptGuard"]
