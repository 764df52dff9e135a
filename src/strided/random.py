"""The library's default random generator, and ``manual_seed`` to make a script reproducible.

Layers, dropout, the data loader and ``nn.init`` draw from the ``rng``/``seed``/``generator``
they are given. Given nothing, they draw from one default ``numpy.random.Generator``, made from
fresh OS entropy the first time it is needed (never at import), so runs differ, as before.
``manual_seed(seed)`` re-seeds that generator in place, as ``torch.manual_seed`` does::

    >>> import strided as st
    >>> g = st.manual_seed(0)                  # the default generator, now seeded
    >>> a = st.nn.Linear(3, 2)                 # the same weights every time this script runs
    >>> b = st.nn.Linear(3, 2)                 # differs from a: the stream has moved on
    >>> c = st.nn.Linear(3, 2, rng=1)          # an explicit rng or seed always wins

After ``manual_seed(s)`` the default generator draws exactly what ``np.random.default_rng(s)``
draws. Because it is re-seeded in place, modules built earlier that hold it (``Dropout``) follow
the new seed too. A process forked before ``manual_seed`` was ever called gets fresh entropy of
its own instead of repeating its parent's stream.
"""

from __future__ import annotations

import copy
import os

import numpy as np

from .checks import as_int

_generator: np.random.Generator | None = None
_initial_seed: int | None = None
_manual = False          # seeded by manual_seed (True) or from OS entropy (False)
_pid: int | None = None  # the process that seeded it from entropy


def _reseed(seed: int, manual: bool) -> np.random.Generator:
    global _generator, _initial_seed, _manual, _pid
    state = np.random.PCG64(seed).state           # what np.random.default_rng(seed) starts from
    if _generator is None:
        _generator = np.random.Generator(np.random.PCG64(seed))
    else:
        _generator.bit_generator.state = state    # in place: holders of the object follow
    _initial_seed, _manual, _pid = seed, manual, os.getpid()
    return _generator


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().entropy)


def default_generator() -> np.random.Generator:
    """The default ``numpy.random.Generator`` (made from OS entropy on first use).

    Example:
        >>> isinstance(default_generator(), np.random.Generator)
        True
    """
    if _generator is None or (not _manual and _pid != os.getpid()):
        _reseed(_fresh_seed(), manual=False)
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the default generator with ``seed`` (a non-negative int) and return it.

    As ``torch.manual_seed`` returns its default ``torch.Generator``, this returns the default
    ``numpy.random.Generator``: the same object every call, which every layer built without
    ``rng`` draws from. ``st.manual_seed(0).random()`` equals ``np.random.default_rng(0).random()``.

    Args:
        seed: a non-negative int.

    Example:
        >>> state = get_rng_state()
        >>> round(float(manual_seed(0).random()), 4)
        0.637
        >>> set_rng_state(state)
    """
    return _reseed(as_int(seed, "seed", "manual_seed", minimum=0), manual=True)


def seed() -> int:
    """Seed the default generator from fresh OS entropy; returns that seed (as ``torch.seed``).

    Example:
        >>> state = get_rng_state()
        >>> seed() == initial_seed()
        True
        >>> set_rng_state(state)
    """
    value = _fresh_seed()
    _reseed(value, manual=True)
    return value


def initial_seed() -> int:
    """The seed the default generator started from (``manual_seed(initial_seed())`` replays a run).

    Example:
        >>> state = get_rng_state()
        >>> _ = manual_seed(7)
        >>> initial_seed()
        7
        >>> set_rng_state(state)
    """
    default_generator()
    return _initial_seed


def get_rng_state() -> dict:
    """A copy of the default generator's state (``bit_generator.state``, a dict; ``st.save`` stores it).

    Example:
        >>> state = get_rng_state()
        >>> first = default_generator().random()
        >>> set_rng_state(state)
        >>> bool(default_generator().random() == first)
        True
    """
    return copy.deepcopy(default_generator().bit_generator.state)


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``: the default generator continues from there.

    Args:
        state: a dict from ``get_rng_state``.

    Example:
        >>> state = get_rng_state()
        >>> a = default_generator().integers(100, size=3).tolist()
        >>> set_rng_state(state)
        >>> default_generator().integers(100, size=3).tolist() == a
        True
    """
    global _manual
    default_generator().bit_generator.state = dict(state)
    _manual = True


__all__ = ["manual_seed", "seed", "initial_seed", "default_generator", "get_rng_state", "set_rng_state"]
