"""A small training run (a CNN with two kinds of dropout, Adam, a per-batch OneCycleLR, shuffled
batches with a random transform) for the resume tests, importable and runnable as a script.

``python tests/resume_worker.py OUT [--resume]`` trains with a checkpoint in OUT every 2 steps,
printing ``step N`` after each step (flushed), and writes the final parameters and history to
``OUT/final.npz``. With ``--resume`` it continues from ``OUT/checkpoint.npz`` when that exists.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import strided as st
from strided import nn
from strided.nn import functional as F

EPOCHS, BATCH, SEED = 4, 8, 7


def data():
    """72 training and 16 validation examples ``(1, 6, 6)``, 4 classes from the signs of two half sums."""
    rng = np.random.default_rng(123)
    x = rng.standard_normal((88, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64) + 2 * (x[:, 0, 3:].sum(axis=(1, 2)) > 0)
    return (x[:72], y[:72]), (x[72:], y[72:])


def noise(x, rng):
    """The loader's random transform: Gaussian noise from the batch's own generator."""
    return x + np.float32(0.1) * rng.standard_normal(x.shape, dtype=np.float32)


class FunctionalDropout(nn.Module):
    """Dropout through ``F.dropout`` without an ``rng``: it draws from the library's default generator,
    which no module holds (only the checkpoint's ``default_generator`` entry restores it)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)


def build():
    """Model, optimizer, schedule: one Dropout2d with its own generator, one functional dropout."""
    st.manual_seed(2024)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, rng=1), nn.ReLU(), nn.Dropout2d(0.2, rng=np.random.default_rng(5)),   # (N, 4, 4, 4)
        nn.Flatten(), nn.Linear(64, 16, rng=2), nn.ReLU(), FunctionalDropout(0.3), nn.Linear(16, 4, rng=3))
    optimizer = st.optim.Adam(model.parameters(), lr=0.01)
    scheduler = st.optim.OneCycleLR(optimizer, max_lr=0.05, total_steps=EPOCHS * 9)
    return model, optimizer, scheduler


def make_loader(train, loader_class=None):
    loader_class = loader_class or st.data.DataLoader
    return loader_class(train, batch_size=BATCH, shuffle=True, seed=SEED, transform=noise)


def run(out, resume=False, callbacks=(), loader_class=None, every=2, **kwargs):
    """Train (or continue) the run whose checkpoints live in ``out``; returns ``(model, history)``."""
    model, optimizer, scheduler = build()
    train, val = data()
    path = os.path.join(out, "checkpoint.npz")
    history = st.train.fit(
        model, make_loader(train, loader_class), val, optimizer=optimizer, scheduler=scheduler, epochs=EPOCHS,
        callbacks=[st.train.Checkpoint(out, every_n_steps=every), *callbacks],
        resume_from=path if resume and os.path.exists(path) else None, progress=False,
        log=kwargs.pop("log", None), **kwargs)
    return model, history


def without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def main(argv) -> int:
    out, resume = argv[0], "--resume" in argv
    marker = st.train.LambdaCallback(on_batch_end=lambda step, logs: print(f"step {step}", flush=True))
    model, history = run(out, resume, callbacks=[marker])
    st.save({"params": model.state_dict(), "history": without_time(history)}, os.path.join(out, "final.npz"))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
