"""The main job: LeNet-5 trained on scikit-learn's real handwritten digits, end to end.

Writes ``checkpoint.npz`` (after every epoch, atomically) and ``metrics.json`` into
``out_dir``. The same seed gives the same numbers: the seed fixes the weights and the
shuffling; the train/test split is fixed independently.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

from .. import __version__
from ..checks import as_int
from ..data import ArrayLoader, load_digits_split, random_shift
from ..io.atomic import atomic_path
from ..memory import keep_freed_memory
from ..models import create_model
from ..optim import SGD, CosineAnnealingLR
from .checkpoint import load_checkpoint, save_checkpoint
from .loop import evaluate, fit

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"


def write_json_atomic(obj, path: str) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as handle:
            json.dump(obj, handle, indent=2)


def run_digits_job(epochs: int = 20, batch_size: int = 32, lr: float = 0.02, momentum: float = 0.9,
                   weight_decay: float = 5e-4, shift: int = 2, seed: int = 0, out_dir: str = "runs/lenet5-digits",
                   resume: bool = False, progress: bool = True, log=print, stop_after: int | None = None) -> dict:
    """Train LeNet-5 on the digits (upsampled to 32x32); returns the metrics written to ``metrics.json``.

    ``shift``: training images are translated by up to this many pixels (of 32) each batch.
    ``stop_after``: end after this many epochs of the ``epochs``-long schedule (as an interrupted
    run would; ``resume=True`` then continues from the checkpoint).
    """
    epochs, batch_size = as_int(epochs, "epochs", "train"), as_int(batch_size, "batch_size", "train")
    if lr <= 0:
        raise ValueError(f"train: lr must be positive, got {lr!r}")
    config = {"model": "lenet5", "data": "sklearn digits 8x8 -> 32x32", "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
              "shift": shift, "seed": seed, "optimizer": "SGD", "schedule": "cosine"}
    keep_freed_memory()   # once per run, explicitly (import never does it): see strided/memory.py
    os.makedirs(out_dir, exist_ok=True)
    checkpoint_path = os.path.join(out_dir, CHECKPOINT)

    data = load_digits_split(size=32)
    rng = np.random.default_rng(seed)
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=32, seed=rng)
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    loader = ArrayLoader(data.x_train, data.y_train, batch_size=batch_size, shuffle=True, rng=rng,
                         transform=lambda x, g: random_shift(x, shift, g))

    start_epoch, history = 0, []
    if resume and os.path.exists(checkpoint_path):
        state = load_checkpoint(checkpoint_path, model, optimizer, scheduler, rng)
        start_epoch, history = int(state["epoch"]), [dict(row) for row in state["history"]]
        log(f"resumed from {checkpoint_path} after epoch {start_epoch}")

    log(f"LeNet-5 on scikit-learn digits: {len(data.y_train)} train / {len(data.y_test)} test images, "
        f"{model.num_parameters():,} parameters, seed {seed}")
    started = time.perf_counter()

    def checkpoint(epoch, rows):
        save_checkpoint(checkpoint_path, model, optimizer, epoch, rows, scheduler, rng, config)

    fit(model, optimizer, loader, (data.x_test, data.y_test), epochs, scheduler, progress=progress,
        on_epoch_end=checkpoint, start_epoch=start_epoch, history=history, log=log, stop_after=stop_after)
    final = evaluate(model, data.x_test, data.y_test)
    metrics = {
        "config": config,
        "history": history,
        "final": {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
                  "train_seconds": time.perf_counter() - started},
        "environment": {"strided": __version__, "numpy": np.__version__, "python": platform.python_version()},
    }
    write_json_atomic(metrics, os.path.join(out_dir, METRICS))
    log(f"test accuracy {final['accuracy']:.4f}; wrote {checkpoint_path} and {os.path.join(out_dir, METRICS)}")
    return metrics
