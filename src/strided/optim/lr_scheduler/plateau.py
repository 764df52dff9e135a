"""ReduceLROnPlateau: divide the learning rate when a watched metric stops improving."""

from __future__ import annotations

import math

from ...checks import as_number
from ..optimizer import check_number
from .base import LRScheduler, check_count, check_optimizer, per_group


class ReduceLROnPlateau(LRScheduler):
    """``step(metric)`` once per epoch; after more than ``patience`` epochs without improvement,
    ``lr = max(lr * factor, min_lr)`` (skipped when that changes ``lr`` by at most ``eps``), then
    ``cooldown`` epochs during which bad epochs are not counted.

    Improvement (``mode='min'``; ``'max'`` mirrors it): ``metric < best * (1 - threshold)`` with
    ``threshold_mode='rel'``, ``metric < best - threshold`` with ``'abs'``. ``min_lr`` may be a
    list, one per group.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        mode: ``'min'`` (the metric should fall, a loss) or ``'max'`` (rise, an accuracy).
        factor: the learning rate's multiplier on a plateau, below 1.
        patience: epochs without improvement tolerated before reducing.
        threshold: the smallest change that counts as an improvement.
        threshold_mode: ``'rel'`` (relative to the best) or ``'abs'``.
        cooldown: epochs after a reduction during which bad epochs are not counted.
        min_lr: the lowest learning rate, a number or one per group.
        eps: a reduction smaller than this is skipped.

    >>> # sched = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=3); sched.step(val_loss)
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        owner = "ReduceLROnPlateau"
        self.optimizer = check_optimizer(optimizer, owner)
        self.factor = check_number(factor, "factor", owner, 0.0, 1.0, high_open=True)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = [check_number(v, "min_lr", owner) for v in per_group("min_lr", optimizer, min_lr, owner)]
        else:
            self.default_min_lr = check_number(min_lr, "min_lr", owner)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.patience = check_count(patience, "patience", owner, minimum=0)
        self.cooldown = check_count(cooldown, "cooldown", owner, minimum=0)
        self.eps = check_number(eps, "eps", owner)
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.threshold = as_number(threshold, "threshold", owner)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = self._group_lrs()
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics) -> None:
        """Record this epoch's metric (a number) and reduce the learning rates if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0                 # bad epochs in cooldown are not counted
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} groups, min_lr "
                                   f"was given for {len(self.min_lrs)}; update min_lrs")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, low in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, low)
            if old - new > self.eps:
                group["lr"] = new
