"""Checkpoints: the whole state of a training run in one file, written atomically.

A checkpoint (``st.save``'s ``.npz``: arrays plus JSON, no pickle) holds everything the next
step depends on, so a run resumed from it continues bit for bit as the uninterrupted run would:

- ``model`` (parameters and buffers), ``optimizer``, ``scheduler`` (or ``None``);
- ``loader`` (and ``val_loader``): the loader's ``state_dict()`` (``{"seed", "epoch", "batch"}``:
  the next batch it produces) or ``None`` for a loader without one;
- ``generators``: the state of every ``numpy.random.Generator`` a module of the model holds
  (each ``Dropout``'s ``rng``: found by walking ``model.named_modules()``), shared generators
  stored once, with every ``module.attribute`` name that holds them;
- ``default_generator``: the state of the library's default generator (``st.get_rng_state``);
- ``position``: ``epoch`` (epochs completed), ``batch`` (the next batch of the epoch in progress),
  ``step`` (optimizer steps so far), and what ``fit`` needs to finish that epoch alike (``lr`` at
  its start, ``begun``, ``batches_per_epoch``); ``history`` (one row per completed epoch),
  ``metrics`` (the running counts of the epoch in progress), ``callbacks`` (their states),
  ``stopped`` (an early stop was decided), ``config`` (the caller's own settings).

``save_checkpoint`` refuses a model with a NaN or infinite parameter (``NonFiniteLoss``): the
last good file is never replaced by a broken one. The file is replaced by an atomic rename, so
a process killed mid-write (even by SIGKILL) leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os

import numpy as np

from .. import random as st_random
from ..io import load, save
from .errors import NonFiniteLoss

FORMAT = "strided-train/1"
CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"


def plain(node):
    """Loaded ``OrderedDict``s (and tuples) back to plain dicts and lists, as NumPy's generator states want."""
    if isinstance(node, dict):
        return {key: plain(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(plain(value) for value in node)
    return node


def model_generators(model) -> list[tuple[list[str], np.random.Generator]]:
    """Every ``numpy.random.Generator`` held by a module of ``model``: ``[(names, generator)]``.

    ``names`` are ``module.attribute`` paths (``classifier.2.rng``); a generator shared by
    several modules appears once, with all its names.
    """
    found: dict[int, tuple[list[str], np.random.Generator]] = {}
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                name = f"{prefix}.{attr}" if prefix else attr
                found.setdefault(id(value), ([], value))[0].append(name)
    return list(found.values())


def generator_states(model) -> list[dict]:
    """``[{"names": [...], "state": bit_generator.state}]`` for ``model_generators(model)``."""
    return [{"names": names, "state": generator.bit_generator.state} for names, generator in model_generators(model)]


def restore_generators(model, saved: list[dict]) -> None:
    """Set each generator of ``model`` to its saved state; the names must match the model's."""
    current = {names[0]: generator for names, generator in model_generators(model)}
    saved_names = [entry["names"][0] for entry in saved]
    if sorted(saved_names) != sorted(current):
        raise ValueError(f"load_checkpoint: the checkpoint has random generators at {sorted(saved_names)}, "
                         f"the model at {sorted(current)}; is it the same architecture?")
    for entry in saved:
        current[entry["names"][0]].bit_generator.state = plain(entry["state"])


def non_finite_parameters(model) -> list[str]:
    """Names of the parameters and buffers holding a NaN or an infinity."""
    bad = [name for name, p in model.named_parameters() if not np.isfinite(p.data).all()]
    return bad + [name for name, b in model.named_buffers()
                  if np.issubdtype(b.dtype, np.floating) and not np.isfinite(b).all()]


def training_state(model, optimizer, *, scheduler=None, loader_state=None, val_loader_state=None, generators=None,
                   default_generator=None, position: dict | None = None, history=(), metrics=None, callbacks=None,
                   stopped: bool = False, config=None) -> dict:
    """The dictionary a checkpoint holds (see the module's docstring); generator states default to now.

    ``position``: ``{"epoch", "batch", "step"}`` and whatever else the loop needs to continue.
    """
    return {
        "format": FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "loader": loader_state,
        "val_loader": val_loader_state,
        "generators": generator_states(model) if generators is None else generators,
        "default_generator": st_random.get_rng_state() if default_generator is None else default_generator,
        "position": dict(position or {"epoch": 0, "batch": 0, "step": 0}),
        "history": [dict(row) for row in history],
        "metrics": metrics,
        "callbacks": callbacks or {},
        "stopped": bool(stopped),
        "config": config or {},
    }


def save_checkpoint(path, state: dict, model=None) -> str:
    """Write ``state`` (from ``training_state``) to ``path`` atomically; returns the path.

    With ``model`` given, refuses (``NonFiniteLoss``) to write while a parameter is NaN or infinite.
    """
    if model is not None:
        bad = non_finite_parameters(model)
        if bad:
            raise NonFiniteLoss(f"save_checkpoint: not writing {path}: {', '.join(bad[:5])} "
                                f"{'is' if len(bad) == 1 else 'are'} not finite; the previous checkpoint is kept")
    save(state, path)
    return os.fspath(path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (a folder means its ``checkpoint.npz``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"load_checkpoint: {path} is not a training checkpoint (format {found!r}, "
                         f"expected {FORMAT!r}); for weights alone use model.load_state_dict(st.load(path))")
    return state


def restore_state(state: dict, model, optimizer=None, scheduler=None) -> None:
    """Load a checkpoint's model, optimizer, scheduler and random generators (model's and default) in place."""
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        if state.get("scheduler") is None:
            raise ValueError("load_checkpoint: the run has a scheduler but the checkpoint has none")
        scheduler.load_state_dict(plain(state["scheduler"]))
    restore_generators(model, state["generators"])
    st_random.set_rng_state(plain(state["default_generator"]))


__all__ = ["CHECKPOINT", "BEST", "training_state", "save_checkpoint", "load_checkpoint", "restore_state",
           "model_generators", "generator_states", "restore_generators", "non_finite_parameters"]
