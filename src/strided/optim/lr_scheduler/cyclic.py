"""Schedules that cycle: ``CyclicLR`` (Smith, 2017) and ``CosineAnnealingWarmRestarts`` (SGDR,
Loshchilov & Hutter, 2017), as PyTorch steps them."""

from __future__ import annotations

import math
import types

from ...checks import as_number
from ..optimizer import check_flag, check_number
from .base import LRScheduler, check_count, check_optimizer, per_group


class CyclicLR(LRScheduler):
    """The learning rate goes from ``base_lr`` up to ``max_lr`` over ``step_size_up`` steps and back
    over ``step_size_down`` (default: the same), one step per batch; the cycle's height is scaled
    by ``mode``: ``'triangular'`` (1), ``'triangular2'`` (halved each cycle), ``'exp_range'``
    (``gamma ** iteration``), or by ``scale_fn(x)`` of the cycle number or iteration
    (``scale_mode``). With ``cycle_momentum`` the momentum (or beta1) moves the opposite way
    between ``max_momentum`` and ``base_momentum``. ``state_dict()`` leaves ``scale_fn`` out.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        base_lr: the lowest learning rate, a number or one per group.
        max_lr: the highest learning rate, a number or one per group.
        step_size_up: steps from ``base_lr`` up to ``max_lr``.
        step_size_down: steps back down (default ``None``: ``step_size_up``).
        mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'`` (ignored with ``scale_fn``).
        gamma: the ``'exp_range'`` factor per iteration.
        scale_fn: a function of the cycle number or the iteration giving the cycle's height, or ``None``.
        scale_mode: what ``scale_fn`` receives: ``'cycle'`` or ``'iterations'``.
        cycle_momentum: move the momentum (or beta1) the opposite way.
        base_momentum: the lowest momentum, a number or one per group.
        max_momentum: the highest momentum, a number or one per group.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = CyclicLR(opt, base_lr=0.001, max_lr=0.1, step_size_up=500)
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up: int = 2000, step_size_down: int | None = None,
                 mode: str = "triangular", gamma: float = 1.0, scale_fn=None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9, last_epoch: int = -1):
        owner = "CyclicLR"
        check_optimizer(optimizer, owner)
        base_lrs = per_group("base_lr", optimizer, base_lr, owner)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = per_group("max_lr", optimizer, max_lr, owner)
        up = check_number(step_size_up, "step_size_up", owner)
        down = up if step_size_down is None else check_number(step_size_down, "step_size_down", owner)
        if up + down <= 0:
            raise ValueError(f"{owner}: step_size_up + step_size_down must be > 0")
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"{owner}: mode must be 'triangular', 'triangular2' or 'exp_range' (or give "
                             f"scale_fn), got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{owner}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode, self.gamma = mode, as_number(gamma, "gamma", owner)
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = check_flag(cycle_momentum, "cycle_momentum", owner)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{owner}: cycle_momentum=True needs an optimizer with momentum or betas, "
                                 f"got {type(optimizer).__name__}")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = per_group("base_momentum", optimizer, base_momentum, owner)
            self.max_momentums = per_group("max_momentum", optimizer, max_momentum, owner)
            if last_epoch == -1:
                for high, low, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def scale_fn(self, x: float) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        if self.mode == "exp_range":
            return self.gamma ** x
        return 1.0

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle                # position in the cycle, [0, 1)
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * height * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for low, high, group in zip(self.base_momentums, self.max_momentums, self.optimizer.param_groups):
                self._set_momentum(group, high - (high - low) * height * scale)
        return lrs

    def state_dict(self) -> dict:
        custom = self.__dict__.pop("_scale_fn_custom")
        try:
            state = super().state_dict()
        finally:
            self._scale_fn_custom = custom
        keep = custom is not None and not isinstance(custom, types.FunctionType)
        state["_scale_fn_custom"] = dict(vars(custom)) if keep else None
        return state

    def _load(self, state: dict) -> None:
        state = dict(state)
        attributes = state.pop("_scale_fn_custom", None)
        super()._load(state)
        if attributes is not None and self._scale_fn_custom is not None:
            vars(self._scale_fn_custom).update(attributes)


class CosineAnnealingWarmRestarts(LRScheduler):
    """``lr = eta_min + (b - eta_min) (1 + cos(pi T_cur / T_i)) / 2``, restarting (``T_cur = 0``)
    after ``T_i`` epochs; the first period is ``T_0``, each next ``T_mult`` times longer.

    ``step(epoch)`` may be given a fractional epoch (``epoch + i / iters`` per batch), as in PyTorch.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        T_0: the length of the first period, in epochs.
        T_mult: the factor each next period's length grows by (an int >= 1).
        eta_min: the lowest learning rate.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_0 = self.T_i = check_count(T_0, "T_0", "CosineAnnealingWarmRestarts")
        self.T_mult = check_count(T_mult, "T_mult", "CosineAnnealingWarmRestarts")
        self.eta_min = as_number(eta_min, "eta_min", "CosineAnnealingWarmRestarts")
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or go to ``epoch`` (a number, fractions allowed)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        else:
            epoch = as_number(epoch, "epoch", "CosineAnnealingWarmRestarts")
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch!r}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._group_lrs()
