"""``LRScheduler``: the base of the learning-rate schedules, stepped as PyTorch's are.

A schedule computes each group's next ``lr`` in ``get_lr()`` (usually from the group's current
``lr``: "chainable", so schedules compose and a learning rate set by hand is carried on) and,
where it has one, in closed form from ``base_lrs`` (``_get_closed_form_lr``), which
``SequentialLR`` uses to restart a schedule at its milestone. Construction performs step 0 and
records each group's ``initial_lr``.
"""

from __future__ import annotations

import copy
from typing import Mapping

import numpy as np

from ...checks import as_int, is_int
from ..optimizer import Optimizer, conforms


def check_count(value, name: str, owner: str, minimum: int = 1) -> int:
    """An int (``as_int``'s rule: no bool, float or string) of at least ``minimum``."""
    if not is_int(value):
        as_int(value, name, owner, minimum)                  # raises its TypeError
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value!r}")
    return int(value)


def per_group(name: str, optimizer: Optimizer, value, owner: str) -> list:
    """One value per parameter group: a scalar repeated, or a list/tuple of the right length."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{owner}: {name} has {len(value)} values, the optimizer has "
                             f"{len(optimizer.param_groups)} parameter groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def check_optimizer(optimizer, owner: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: expected an Optimizer, got {type(optimizer).__name__}")
    return optimizer


class LRScheduler:
    """Sets every group's ``lr`` on each ``step()`` (call it after ``optimizer.step()``).

    ``last_epoch=-1`` starts a schedule; another value resumes one, and then needs each group's
    ``initial_lr`` (restored with the optimizer's state). ``get_last_lr()`` returns the learning
    rates it last set; ``state_dict()`` holds everything but the optimizer.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    Example:
        >>> import numpy as np
        >>> import strided as st
        >>> class Halve(st.optim.LRScheduler):
        ...     def get_lr(self):
        ...         return [group["initial_lr"] / 2 ** self.last_epoch for group in self.optimizer.param_groups]
        >>> optimizer = st.optim.SGD([st.nn.Parameter(np.zeros(1))], lr=0.1)
        >>> scheduler = Halve(optimizer)
        >>> optimizer.step(); scheduler.step(); scheduler.get_last_lr()
        [0.05]
    """

    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        owner = type(self).__name__
        self.optimizer = check_optimizer(optimizer, owner)
        last_epoch = check_count(last_epoch, "last_epoch", owner, minimum=-1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{owner}: param_groups[{i}] has no 'initial_lr', needed to resume at "
                                   f"last_epoch={last_epoch}; load the optimizer's state first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for ``self.last_epoch`` (already advanced)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (or iteration, for per-batch schedules) and set the groups' ``lr``."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates this schedule set last, one per parameter group."""
        return list(self._last_lr)

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute but the optimizer (numbers, lists, dicts: ``st.save`` stores it)."""
        return {key: copy.deepcopy(value) for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (load the optimizer's state too: it holds the ``lr``).

        Checked before anything changes: the same attributes as this schedule's own state, each
        like its current value (numbers for numbers, strings for strings, lists of the same
        length); a refused state (``TypeError``/``ValueError`` naming the attribute) changes nothing.
        """
        self.prepare_state_dict(state_dict)()

    def prepare_state_dict(self, state_dict: dict):
        """Check ``state_dict`` as ``load_state_dict`` does, changing nothing; returns the function that loads it."""
        state = checked_state(state_dict, self.state_dict(), f"{type(self).__name__}.load_state_dict")
        return lambda: self._load(state)

    def _load(self, state: dict) -> None:
        """Write a checked state (subclasses turn back what their ``state_dict`` stored in another form)."""
        self.__dict__.update(state)


COUNTERS = ("last_epoch", "_step_count")


def _plain_copy(value, where: str):
    """A copy of a saved value made of ``None``, flags, numbers, strings, lists, tuples and dicts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biuf":
        return np.asarray(value).item()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_copy(v, where) for v in value)
    if isinstance(value, Mapping):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            raise TypeError(f"{where}: keys must be str or int, got {list(value)!r:.80}")
        return {k: _plain_copy(v, where) for k, v in value.items()}
    raise TypeError(f"{where}: expected numbers, strings, lists or dicts, got {type(value).__name__} {value!r:.60}")


def checked_state(saved, own: dict, owner: str) -> dict:
    """``saved`` checked against a schedule's own ``state_dict()`` ``own`` (see ``conforms``); a plain copy."""
    if not isinstance(saved, Mapping):
        raise TypeError(f"{owner}: expected a dict (from state_dict()), got {type(saved).__name__}")
    missing = [k for k in own if k not in saved]
    unexpected = [str(k) for k in saved if k not in own]
    if missing or unexpected:
        parts = ([f"lacks {', '.join(missing)}"] if missing else []) + (
            [f"has unknown {', '.join(unexpected)}"] if unexpected else [])
        raise ValueError(f"{owner}: the state {' and '.join(parts)} (is it the state of this kind of schedule?)")
    state = {}
    for key, current in own.items():
        value = _plain_copy(saved[key], f"{owner}: {key}")
        if not conforms(value, current) or key in COUNTERS and not (isinstance(value, int)
                                                                      and not isinstance(value, bool)):
            raise TypeError(f"{owner}: {key} must be like {current!r:.60}, got {value!r:.60}")
        state[key] = value
    return state
