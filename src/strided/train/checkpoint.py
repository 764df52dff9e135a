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
``load_checkpoint`` reads through ``st.load``, which checks every array against the SHA-256
stored with it; ``restore_state`` checks the model, optimizer, schedule and generator parts
before it changes any; ``fit`` refuses to resume from non-finite weights
(``NonFiniteCheckpoint``) unless ``allow_nonfinite=True``.
"""

from __future__ import annotations

import os

import numpy as np

from .. import backend as _backend
from .. import random as st_random
from ..io import load, save
from ..io.serialization import MAX_BYTES
from .errors import NonFiniteLoss


class NonFiniteCheckpoint(ValueError):
    """A checkpoint holds NaN or infinite parameters (or optimizer buffers): resuming would train on
    from them. ``fit(resume_from=..., allow_nonfinite=True)`` (``strided train --resume
    --allow-nonfinite``) resumes anyway. ``names``: the entries at fault; ``path``: the file.

    Args:
        message: the error message.
        names: the entries holding NaN or infinite values.
        path: the checkpoint file, or ``None``.

    Example:
        >>> error = NonFiniteCheckpoint("weight is NaN", names=["weight"], path="run/checkpoint.npz")
        >>> isinstance(error, ValueError), error.names
        (True, ['weight'])
    """

    def __init__(self, message: str, names=(), path: str | None = None):
        super().__init__(message)
        self.names, self.path = list(names), path

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
    prepare_generators(model, saved)()


def _checked_generator_state(generator: np.random.Generator, saved, where: str) -> dict:
    """``saved`` as a state for ``generator``'s bit generator, tried on a fresh one of its kind first."""
    state = plain(saved)
    trial = type(generator.bit_generator)()
    try:
        trial.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ValueError(f"load_checkpoint: the saved state of {where} is not a {type(trial).__name__} state "
                         f"({type(error).__name__}: {error})") from None
    if plain(trial.state) != state:
        raise ValueError(f"load_checkpoint: the saved state of {where} does not round-trip; it is malformed")
    return state


def prepare_generators(model, saved) -> "callable":
    """Check ``saved`` generator states against ``model``'s generators; returns the function that sets them."""
    current = {names[0]: generator for names, generator in model_generators(model)}
    if not isinstance(saved, list) or not all(
            isinstance(e, dict) and isinstance(e.get("names"), list) and e["names"] for e in saved):
        raise ValueError(f"load_checkpoint: malformed generator states: {saved!r:.100}")
    saved_names = [entry["names"][0] for entry in saved]
    if sorted(map(str, saved_names)) != sorted(current) or len(set(saved_names)) != len(saved_names):
        raise ValueError(f"load_checkpoint: the checkpoint has random generators at {sorted(map(str, saved_names))}, "
                         f"the model at {sorted(current)}; is it the same architecture?")
    states = [(current[entry["names"][0]], _checked_generator_state(current[entry["names"][0]], entry.get("state"),
                                                                    entry["names"][0])) for entry in saved]

    def commit():
        for generator, state in states:
            generator.bit_generator.state = state
    return commit


def non_finite_parameters(model) -> list[str]:
    """Names of the parameters and buffers holding a NaN or an infinity (checked where they live)."""
    def finite(a) -> bool:
        return bool(_backend.namespace(a).isfinite(a).all())
    bad = [name for name, p in model.named_parameters() if not finite(p.data)]
    return bad + [name for name, b in model.named_buffers() if np.issubdtype(b.dtype, np.floating) and not finite(b)]


def on_host(node):
    """``node`` with every array of a device (a GPU) copied to the host; dicts, lists and tuples walked,
    host arrays and everything else kept as they are.

    Args:
        node: a state dict (or any nest of dicts, lists and tuples of arrays and values).

    Example:
        >>> host = np.zeros(2)
        >>> on_host({"w": host, "n": 3})["w"] is host
        True
    """
    if isinstance(node, dict):
        return type(node)((key, on_host(value)) for key, value in node.items())
    if isinstance(node, list):
        return [on_host(value) for value in node]
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
        return tuple(on_host(value) for value in node)
    if not hasattr(node, "shape") or isinstance(node, np.generic):
        return node
    backend = _backend.backend_of(node)
    return node if backend is _backend.CPU else backend.to_host(node)


def training_state(model, optimizer, *, scheduler=None, loader_state=None, val_loader_state=None, generators=None,
                   default_generator=None, position: dict | None = None, history=(), metrics=None, callbacks=None,
                   stopped: bool = False, config=None) -> dict:
    """The dictionary a checkpoint holds (see the module's docstring); generator states default to now.

    The model's and optimizer's arrays are host NumPy arrays whatever device they train on.

    ``position``: ``{"epoch", "batch", "step"}`` and whatever else the loop needs to continue.

    Args:
        model: the model whose parameters and buffers are saved.
        optimizer: its optimizer (state and groups).
        scheduler: the scheduler, or ``None``.
        loader_state: the training loader's ``state_dict()``, or ``None``.
        val_loader_state: the validation loader's ``state_dict()``, or ``None``.
        generators: the states of the model's generators (``None``: taken now).
        default_generator: the default generator's state (``None``: taken now).
        position: ``{"epoch", "batch", "step"}`` and whatever else the loop needs.
        history: the rows of the completed epochs.
        metrics: the running counts of the epoch in progress, or ``None``.
        callbacks: the callbacks' states, by name.
        stopped: an early stop was decided.
        config: the caller's own settings.

    Example:
        >>> import strided as st
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> state = training_state(model, st.optim.SGD(model.parameters(), lr=0.1))
        >>> state["format"], state["position"]
        ('strided-train/1', {'epoch': 0, 'batch': 0, 'step': 0})
    """
    return {
        "format": FORMAT,
        "model": on_host(model.state_dict()),                                        # host arrays: loads anywhere
        "optimizer": on_host(optimizer.state_dict()) if optimizer is not None else None,
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

    Args:
        path: the file written.
        state: the dictionary from ``training_state``.
        model: the model whose parameters are checked to be finite first, or ``None``.

    Example:
        >>> import strided as st
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> state = training_state(model, st.optim.SGD(model.parameters(), lr=0.1))
        >>> path = save_checkpoint(os.path.join(folder, "checkpoint.npz"), state, model)
        >>> os.path.basename(path)
        'checkpoint.npz'
    """
    if model is not None:
        bad = non_finite_parameters(model)
        if bad:
            raise NonFiniteLoss(f"save_checkpoint: not writing {path}: {', '.join(bad[:5])} "
                                f"{'is' if len(bad) == 1 else 'are'} not finite; the previous checkpoint is kept")
    save(state, path)
    return os.fspath(path)


def load_checkpoint(path, *, max_bytes: int | None = MAX_BYTES) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (a folder means its ``checkpoint.npz``).

    Through ``st.load``: a damaged file (a checksum, a size or its structure wrong) is a
    ``ValueError`` naming it; ``max_bytes`` as there.

    Args:
        path: a checkpoint file, or a folder holding ``checkpoint.npz``.
        max_bytes: the largest file accepted (``None``: no limit), as ``st.load``.

    Example:
        >>> import strided as st
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> _ = save_checkpoint(os.path.join(folder, "checkpoint.npz"), training_state(model, None))
        >>> dict(load_checkpoint(folder)["position"])    # a folder means its checkpoint.npz
        {'epoch': 0, 'batch': 0, 'step': 0}
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    state = load(path, max_bytes=max_bytes)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"load_checkpoint: {path} is not a training checkpoint (format {found!r}, "
                         f"expected {FORMAT!r}); for weights alone use model.load_state_dict(st.load(path))")
    return state


PARTS = ("model", "optimizer", "scheduler", "generators", "default_generator")


def prepare_restore(state: dict, model, optimizer=None, scheduler=None):
    """Check every part ``restore_state`` would load (model, optimizer, scheduler, generators), changing
    nothing; returns the function that loads them all."""
    if not isinstance(state, dict) or any(part not in state for part in PARTS):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"load_checkpoint: expected a checkpoint with {', '.join(PARTS)}, got {found}")
    steps = [model.prepare_state_dict(state["model"])]
    if optimizer is not None and state["optimizer"] is not None:
        steps.append(optimizer.prepare_state_dict(state["optimizer"]))
    if scheduler is not None:
        if state["scheduler"] is None:
            raise ValueError("load_checkpoint: the run has a scheduler but the checkpoint has none")
        steps.append(scheduler.prepare_state_dict(plain(state["scheduler"])))
    steps.append(prepare_generators(model, state["generators"]))
    default = _checked_generator_state(st_random.default_generator(), state["default_generator"],
                                       "the default generator")
    steps.append(lambda: st_random.set_rng_state(default))

    def commit():
        for step in steps:
            step()
    return commit


def restore_state(state: dict, model, optimizer=None, scheduler=None) -> None:
    """Load a checkpoint's model, optimizer, scheduler and random generators (model's and default) in place.

    Every part is checked first; a part that does not fit raises before any part is changed.

    Args:
        state: a checkpoint's dictionary (from ``load_checkpoint``).
        model: the model loaded in place.
        optimizer: the optimizer loaded in place, or ``None``.
        scheduler: the scheduler loaded in place, or ``None``.

    Example:
        >>> import strided as st
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> state = training_state(model, None)
        >>> other = st.nn.Linear(2, 2, rng=1)
        >>> restore_state(state, other)
        >>> bool(np.array_equal(other.weight.numpy(), model.weight.numpy()))
        True
    """
    prepare_restore(state, model, optimizer, scheduler)()


def non_finite_entries(state: dict) -> list[str]:
    """Names of the model entries (``model.features.0.weight``) and optimizer buffers
    (``optimizer.state.3.exp_avg``) of a checkpoint that hold a NaN or an infinity."""
    bad = []
    for key, value in (state.get("model") or {}).items():
        array = np.asarray(value)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad.append(f"model.{key}")
    for index, entry in ((state.get("optimizer") or {}).get("state") or {}).items():
        for key, value in (entry.items() if isinstance(entry, dict) else ()):
            array = np.asarray(value) if isinstance(value, (np.ndarray, float)) else None
            if array is not None and array.dtype.kind == "f" and not np.isfinite(array).all():
                bad.append(f"optimizer.state.{index}.{key}")
    return bad


__all__ = ["CHECKPOINT", "BEST", "training_state", "save_checkpoint", "load_checkpoint", "restore_state",
           "prepare_restore", "model_generators", "generator_states", "restore_generators", "prepare_generators",
           "non_finite_parameters", "non_finite_entries", "NonFiniteCheckpoint", "on_host"]
