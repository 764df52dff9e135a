"""The training loop: one epoch of SGD steps, evaluation, and ``fit`` over many epochs."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..nn.functional import cross_entropy
from ..tensor import no_grad
from .progress import progress_bar


def train_epoch(model, optimizer, loader, loss_fn: Callable = cross_entropy, desc: str = "train",
                progress: bool = True) -> dict:
    """One pass over ``loader``: forward, loss, backward, step. Returns mean loss and accuracy."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = progress_bar(len(loader), desc, progress)
    try:
        for x, y in loader:
            optimizer.zero_grad()
            logits = model(x)                                          # (B, classes), in the model's dtype
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.data.argmax(axis=1) == y).sum())
            seen += len(y)
            bar.update()
            bar.set_postfix_str(f"loss {total_loss / seen:.4f}")
    finally:
        bar.close()
    return {"loss": total_loss / seen, "accuracy": correct / seen}


def evaluate(model, x: np.ndarray, y: np.ndarray, loss_fn: Callable = cross_entropy, batch_size: int = 512) -> dict:
    """Mean loss and accuracy over ``(x, y)`` in eval mode, without recording a graph."""
    model.eval()
    total_loss, correct = 0.0, 0
    with no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            logits = model(xb)
            total_loss += loss_fn(logits, yb).item() * len(yb)
            correct += int((logits.data.argmax(axis=1) == yb).sum())
    return {"loss": total_loss / len(x), "accuracy": correct / len(x)}


def fit(model, optimizer, loader, test_data, epochs: int, scheduler=None, loss_fn: Callable = cross_entropy,
        progress: bool = True, on_epoch_end: Callable | None = None, start_epoch: int = 0,
        history: list | None = None, log: Callable = print, stop_after: int | None = None) -> list[dict]:
    """Train for ``epochs`` (continuing from ``start_epoch``), evaluating on ``test_data = (x, y)``.

    After each epoch a row ``{epoch, lr, train_loss, train_accuracy, test_loss, test_accuracy,
    seconds}`` is appended to ``history``, printed with ``log``, and passed to ``on_epoch_end``
    (where checkpoints are written). ``stop_after`` ends the loop early after that epoch while
    keeping the schedule of ``epochs``. Returns the history.

    ``fit`` leaves the process's allocator alone; a script that owns its process can call
    ``strided.memory.keep_freed_memory()`` first (``strided train`` does), so that the large
    arrays of each step reuse the pages of the previous one.
    """
    history = [] if history is None else history
    last = epochs if stop_after is None else min(epochs, stop_after)
    for epoch in range(start_epoch, last):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train = train_epoch(model, optimizer, loader, loss_fn, f"epoch {epoch + 1}/{epochs}", progress)
        test = evaluate(model, *test_data, loss_fn=loss_fn)
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
               "test_loss": test["loss"], "test_accuracy": test["accuracy"],
               "seconds": time.perf_counter() - started}
        history.append(row)
        log(f"epoch {row['epoch']:3d}/{epochs}  lr {lr:.4g}  train loss {row['train_loss']:.4f} "
            f"acc {row['train_accuracy']:.4f}  test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.4f}  "
            f"({row['seconds']:.1f}s)")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    return history
