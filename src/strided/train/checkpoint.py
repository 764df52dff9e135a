"""Checkpoints: everything needed to resume a run, written atomically after every epoch."""

from __future__ import annotations

import os

from ..io import load, save


def save_checkpoint(path, model, optimizer, epoch: int, history: list, scheduler=None, rng=None,
                    config: dict | None = None) -> None:
    """Write model, optimizer (and scheduler) state, the epoch, the history and the shuffle RNG state.

    The file is replaced atomically: a crash mid-write keeps the previous checkpoint.
    """
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "history": history,
        "rng": rng.bit_generator.state if rng is not None else None,
        "config": config or {},
    }
    save(state, path)


def load_checkpoint(path, model, optimizer=None, scheduler=None, rng=None) -> dict:
    """Restore the states saved by ``save_checkpoint`` in place; returns the whole checkpoint dict."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    state = load(path)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if rng is not None and state.get("rng") is not None:
        rng.bit_generator.state = _plain(state["rng"])
    return state


def _plain(node):
    """Loaded OrderedDicts back to plain dicts (NumPy's bit-generator state wants dicts)."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    return node
