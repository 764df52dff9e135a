"""Schedules that multiply the learning rate: lambda, step, multi-step, constant, linear,
exponential, polynomial and cosine, each PyTorch's formula (chainable form and closed form).

Written with ``b`` for a group's ``base_lr`` (its ``initial_lr``) and ``e`` for ``last_epoch``.
"""

from __future__ import annotations

import bisect
import math
import types
from collections import Counter
from typing import Mapping

from ...checks import as_number, is_int
from ..optimizer import check_number
from .base import LRScheduler, check_count


class LambdaLR(LRScheduler):
    """``lr = b * lr_lambda(e)``; ``lr_lambda`` is a function or one per group.

    ``state_dict()`` leaves the functions out (``None``), as PyTorch does; a callable object's
    attributes (its ``__dict__``) are saved instead.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        lr_lambda: a function of the epoch giving the factor of the base rate, or a list, one per group.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = LambdaLR(opt, lambda epoch: 0.95 ** epoch)
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        groups = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ValueError(f"LambdaLR: expected {groups} lr_lambdas (one per group), got {len(lambdas)}")
        if not all(callable(f) for f in lambdas):
            raise TypeError("LambdaLR: lr_lambda must be a function or a list of functions")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        lambdas = self.__dict__.pop("lr_lambdas")
        try:
            state = super().state_dict()
        finally:
            self.lr_lambdas = lambdas
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(vars(f)) for f in lambdas]
        return state

    def _load(self, state: dict) -> None:
        state = dict(state)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super()._load(state)
        for f, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(f).update(attributes)


class MultiplicativeLR(LambdaLR):
    """``lr = lr * lr_lambda(e)`` at every step after construction (a factor per step, not a total).

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        lr_lambda: a function of the epoch giving the factor of each step, or a list, one per group.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = MultiplicativeLR(opt, lambda epoch: 0.95)
    """

    def get_lr(self):
        if not self._is_initial:
            return [group["lr"] * f(self.last_epoch) for f, group in zip(self.lr_lambdas, self.optimizer.param_groups)]
        return self._group_lrs()


class StepLR(LRScheduler):
    """``lr = b * gamma ** (e // step_size)``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        step_size: epochs between two decays.
        gamma: the factor of each decay.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = StepLR(opt, step_size=30, gamma=0.1)
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = check_count(step_size, "step_size", "StepLR")
        self.gamma = as_number(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """``lr = b * gamma ** (number of milestones <= e)``; a milestone listed twice counts twice.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        milestones: the epochs at which the rate decays.
        gamma: the factor of each decay.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        milestones = list(milestones)
        if not all(is_int(m) for m in milestones):
            raise TypeError(f"MultiStepLR: milestones must be ints, got {milestones!r}")
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = as_number(gamma, "gamma", "MultiStepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect.bisect_right(milestones, self.last_epoch) for base in self.base_lrs]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["milestones"] = dict(self.milestones)
        return state

    def prepare_state_dict(self, state_dict: dict):
        commit = super().prepare_state_dict(state_dict)
        saved = state_dict["milestones"]
        if not isinstance(saved, Mapping) or not all(is_int(k) and is_int(v) and v > 0 for k, v in saved.items()):
            raise TypeError(f"MultiStepLR.load_state_dict: milestones must map int epochs to int counts, "
                            f"got {saved!r:.80}")
        milestones = Counter({int(k): int(v) for k, v in saved.items()})

        def load():
            commit()
            self.milestones = milestones
        return load


class ConstantLR(LRScheduler):
    """``lr = b * factor`` until ``e`` reaches ``total_iters``, then ``b``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        factor: the multiplier during the first ``total_iters`` epochs.
        total_iters: how many epochs the factor applies.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    Example:
        >>> import strided as st
        >>> optimizer = st.optim.SGD(st.nn.Linear(1, 1, rng=0).parameters(), lr=0.3)
        >>> scheduler = ConstantLR(optimizer, factor=0.5, total_iters=2)
        >>> lrs = []
        >>> for epoch in range(3):
        ...     lrs.append(round(optimizer.param_groups[0]["lr"], 4))
        ...     optimizer.step()
        ...     scheduler.step()
        >>> lrs
        [0.15, 0.15, 0.3]
    """

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        self.factor = check_number(factor, "factor", "ConstantLR", 0.0, 1.0)
        self.total_iters = check_count(total_iters, "total_iters", "ConstantLR", minimum=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._group_lrs()]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [lr * (1.0 / self.factor) for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """``lr = b * (start_factor + (end_factor - start_factor) * min(e, total_iters) / total_iters)``:
    a linear warm-up (or decay) of the factor over ``total_iters`` steps.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        start_factor: the multiplier at the start.
        end_factor: the multiplier from ``total_iters`` on.
        total_iters: the steps of the linear change.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = LinearLR(opt, start_factor=0.1, total_iters=5)
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1):
        self.start_factor = check_number(start_factor, "start_factor", "LinearLR", 0.0, 1.0)
        if self.start_factor == 0:
            raise ValueError("LinearLR: start_factor must be > 0 and <= 1, got 0.0")
        self.end_factor = check_number(end_factor, "end_factor", "LinearLR", 0.0, 1.0)
        self.total_iters = check_count(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._group_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * fraction)
                for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """``lr = b * gamma ** e``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        gamma: the factor of every epoch.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = as_number(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """``lr = b * (1 - min(e, total_iters) / total_iters) ** power``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        total_iters: the steps until the rate reaches 0.
        power: the polynomial's degree.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    Example:
        >>> import strided as st
        >>> optimizer = st.optim.SGD(st.nn.Linear(1, 1, rng=0).parameters(), lr=0.4)
        >>> scheduler = PolynomialLR(optimizer, total_iters=4, power=1.0)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(round(optimizer.param_groups[0]["lr"], 4))
        ...     optimizer.step()
        ...     scheduler.step()
        >>> lrs
        [0.4, 0.3, 0.2, 0.1, 0.0]
    """

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = check_count(total_iters, "total_iters", "PolynomialLR")
        self.power = as_number(power, "power", "PolynomialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        factor = ((1.0 - self.last_epoch / self.total_iters) / (1.0 - (self.last_epoch - 1) / self.total_iters)
                  ) ** self.power
        return [lr * factor for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (b - eta_min) * (1 + cos(pi * e / T_max)) / 2`` (SGDR without restarts;
    computed step to step from the current ``lr`` as PyTorch does).

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        T_max: the steps of the half cosine (from the base rate to ``eta_min``).
        eta_min: the lowest learning rate.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = CosineAnnealingLR(opt, T_max=100)
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = check_count(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = as_number(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and e > 0:
            return [low + (base - low) * (1 + math.cos(e * math.pi / T)) / 2 for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:       # leaving the trough, where the ratio below is 0/0
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._group_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - low) + low for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]
