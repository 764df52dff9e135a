"""The main job: LeNet-5 trained on scikit-learn's real handwritten digits, end to end, with ``fit``.

Writes ``checkpoint.npz`` (after every epoch, atomically: the whole training state, so
``resume=True`` continues exactly) and ``metrics.json`` (strict JSON) into ``out_dir``. The same
seed gives the same numbers: the seed fixes the weights (``default_rng(seed)``), the shuffling
and the augmentation (the ``DataLoader``'s ``(seed, epoch, batch)`` streams); the train/test
split is fixed independently.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from .. import __version__
from ..checks import as_int
from ..data import load_digits_split, random_shift
from ..memory import keep_freed_memory
from ..models import create_model
from ..optim import SGD, CosineAnnealingLR
from .callbacks import Checkpoint
from .checkpoint import CHECKPOINT
from .data import as_loader
from .evaluation import evaluate
from .loop import fit
from .records import write_json

METRICS = "metrics.json"


def run_digits_job(epochs: int = 20, batch_size: int = 32, lr: float = 0.02, momentum: float = 0.9,
                   weight_decay: float = 5e-4, shift: int = 2, seed: int = 0, out_dir: str = "runs/lenet5-digits",
                   resume: bool = False, progress: bool | None = None, log=print, stop_after: int | None = None,
                   checkpoint_every: int | None = None) -> dict:
    """Train LeNet-5 on the digits (upsampled to 32x32); returns the metrics written to ``metrics.json``.

    ``shift``: training images are translated by up to this many pixels (of 32) each batch.
    ``stop_after``: end after this many epochs of the ``epochs``-long schedule (as an interrupted
    run would; ``resume=True`` then continues from the checkpoint). ``checkpoint_every``: also
    checkpoint every this many steps. Raises ``NonFiniteLoss`` if the loss diverges and
    ``TrainingInterrupted`` on Ctrl-C (after saving the checkpoint).
    """
    epochs, batch_size = as_int(epochs, "epochs", "train"), as_int(batch_size, "batch_size", "train")
    seed = as_int(seed, "seed", "train", minimum=0)
    if not lr > 0:
        raise ValueError(f"train: lr must be positive, got {lr!r}")
    config = {"model": "lenet5", "data": "sklearn digits 8x8 -> 32x32", "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
              "shift": shift, "seed": seed, "optimizer": "SGD", "schedule": "cosine"}
    keep_freed_memory()   # once per run, explicitly (import never does it): see strided/memory.py
    os.makedirs(out_dir, exist_ok=True)
    checkpoint_path = os.path.join(out_dir, CHECKPOINT)

    data = load_digits_split(size=32)
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=32, seed=np.random.default_rng(seed))
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    loader = as_loader((data.x_train, data.y_train), batch_size, True, seed, "train",
                       transform=lambda x, rng: random_shift(x, shift, rng))
    checkpoint = Checkpoint(out_dir, monitor="test_accuracy", mode="max", every_n_steps=checkpoint_every)
    resume_from = checkpoint_path if resume and os.path.exists(checkpoint_path) else None

    log(f"LeNet-5 on scikit-learn digits: {len(data.y_train)} train / {len(data.y_test)} test images, "
        f"{model.num_parameters():,} parameters, seed {seed}")
    started = time.perf_counter()
    history = fit(model, loader, (data.x_test, data.y_test), optimizer=optimizer, scheduler=scheduler,
                  epochs=epochs if stop_after is None else min(epochs, stop_after), callbacks=[checkpoint],
                  val_name="test", val_batch_size=512, progress=progress, log=log, resume_from=resume_from,
                  config=config)
    final = evaluate(model, (data.x_test, data.y_test), batch_size=512)
    metrics = {
        "config": config,
        "history": history,
        "final": {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
                  "train_seconds": time.perf_counter() - started},
        "environment": {"strided": __version__, "numpy": np.__version__, "python": platform.python_version()},
    }
    write_json(metrics, os.path.join(out_dir, METRICS))
    log(f"test accuracy {final['accuracy']:.4f}; wrote {checkpoint_path} and {os.path.join(out_dir, METRICS)}")
    return metrics
