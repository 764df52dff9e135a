"""Schedules made of schedules: ``SequentialLR`` (one after another) and ``ChainedScheduler`` (together)."""

from __future__ import annotations

import bisect

from ...checks import is_int
from .base import LRScheduler, check_optimizer
from .plateau import ReduceLROnPlateau


def check_schedulers(schedulers, optimizer, owner: str) -> list:
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{owner}: expected at least one scheduler, got none")
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{owner}: schedulers[{i}] is a ReduceLROnPlateau, whose step needs a metric")
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{owner}: schedulers[{i}] is a {type(scheduler).__name__}, not an LRScheduler")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{owner}: schedulers[{i}] ({type(scheduler).__name__}) belongs to another optimizer")
    return schedulers


class _Composite(LRScheduler):
    """State of a schedule made of schedules: its own attributes plus each part's ``state_dict``."""

    def state_dict(self) -> dict:
        parts = self.__dict__.pop("_schedulers")
        try:
            state = super().state_dict()
        finally:
            self._schedulers = parts
        state["_schedulers"] = [s.state_dict() for s in parts]
        return state

    def prepare_state_dict(self, state_dict: dict):
        commit = super().prepare_state_dict(state_dict)       # the parts' list has the right length
        parts = [scheduler.prepare_state_dict(saved) for scheduler, saved in zip(self._schedulers,
                                                                                  state_dict["_schedulers"])]

        def load():
            commit()
            for part in parts:
                part()
        return load

    def _load(self, state: dict) -> None:
        state = dict(state)
        state.pop("_schedulers")
        super()._load(state)


class SequentialLR(_Composite):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted from its
    base learning rate at the milestone), and so on: ``len(milestones) == len(schedulers) - 1``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        schedulers: the schedulers to run in turn, all on ``optimizer``.
        milestones: the steps at which the next scheduler takes over, ``len(schedulers) - 1`` of them.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # warm = LinearLR(opt, start_factor=0.1, total_iters=5); cos = CosineAnnealingLR(opt, T_max=95)
    >>> # sched = SequentialLR(opt, [warm, cos], milestones=[5])
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        owner = "SequentialLR"
        check_optimizer(optimizer, owner)
        schedulers = check_schedulers(schedulers, optimizer, owner)
        milestones = list(milestones)
        if not all(is_int(m) for m in milestones):
            raise TypeError(f"{owner}: milestones must be ints, got {milestones!r}")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{owner}: expected {len(schedulers) - 1} milestones for {len(schedulers)} "
                             f"schedulers, got {len(milestones)}")
        self._schedulers = schedulers
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:           # undo the parts' construction steps
            group["lr"] = group["initial_lr"]
        self._undo(self)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo(self, scheduler) -> None:
        """Step every part (and their parts) back one epoch: their construction stepped them."""
        for part in scheduler._schedulers:
            if hasattr(part, "_schedulers"):
                self._undo(part)
            else:
                part.last_epoch -= 1

    def step(self) -> None:
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)                     # restart from its base (closed form)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step every scheduler in ``schedulers`` at each ``step()``: their factors multiply.

    Args:
        schedulers: the schedulers stepped together, all on one optimizer.
        optimizer: that optimizer (default ``None``: the schedulers').

    >>> # sched = ChainedScheduler([ConstantLR(opt, factor=0.1, total_iters=2), ExponentialLR(opt, 0.9)])
    """

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler: expected at least one scheduler, got none")
        optimizer = optimizer or schedulers[0].optimizer
        self._schedulers = check_schedulers(schedulers, optimizer, "ChainedScheduler")
        self.optimizer = optimizer
        self._last_lr = self._group_lrs()

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._group_lrs()
