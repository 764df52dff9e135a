"""OneCycleLR (Smith & Topin, 2018): warm up to ``max_lr``, anneal far below, cycling momentum
the other way, stepped once per batch as in PyTorch."""

from __future__ import annotations

import math

from ..optimizer import check_flag, check_number
from .base import LRScheduler, check_count, check_optimizer, per_group


def anneal_cos(start: float, end: float, pct: float) -> float:
    """From ``start`` (pct 0) to ``end`` (pct 1) along half a cosine."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The 1cycle policy over ``total_steps`` (or ``epochs * steps_per_epoch``) steps.

    With ``initial_lr = max_lr / div_factor`` and ``min_lr = initial_lr / final_div_factor``,
    phases end at step ``pct_start * total_steps - 1`` and ``total_steps - 1``:

    * two phases: ``initial_lr -> max_lr -> min_lr``;
    * ``three_phase=True``: ``initial_lr -> max_lr -> initial_lr`` (the second ends at
      ``2 * pct_start * total_steps - 2``), then ``-> min_lr``;

    each along ``anneal_strategy`` (``'cos'`` or ``'linear'``). With ``cycle_momentum`` the
    optimizer's ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam family) runs the other way,
    ``max_momentum -> base_momentum -> max_momentum`` (stays at ``max_momentum`` in the third
    phase). ``max_lr``, ``base_momentum``, ``max_momentum`` may be lists, one per group.
    Stepping past ``total_steps`` raises ``ValueError``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this sets.
        max_lr: the peak learning rate, a number or one per group.
        total_steps: the number of steps of the cycle, or ``None`` to give ``epochs`` and ``steps_per_epoch``.
        epochs: with ``steps_per_epoch``, the cycle's length when ``total_steps`` is ``None``.
        steps_per_epoch: batches per epoch (with ``epochs``).
        pct_start: the share of the cycle spent going up.
        anneal_strategy: ``'cos'`` or ``'linear'``.
        cycle_momentum: move the momentum (or beta1) the opposite way.
        base_momentum: the lowest momentum, a number or one per group.
        max_momentum: the highest momentum, a number or one per group.
        div_factor: ``initial_lr = max_lr / div_factor``.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``.
        three_phase: come back down to ``initial_lr`` before annealing to ``min_lr``.
        last_epoch: the index of the last step: -1 starts the schedule; another value resumes one (each group then
            needs its ``initial_lr``).

    >>> # sched = OneCycleLR(opt, max_lr=0.1, total_steps=len(loader) * epochs); sched.step() per batch
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        owner = "OneCycleLR"
        check_optimizer(optimizer, owner)
        if total_steps is not None:
            self.total_steps = check_count(total_steps, "total_steps", owner)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (check_count(epochs, "epochs", owner)
                                * check_count(steps_per_epoch, "steps_per_epoch", owner))
        else:
            raise ValueError(f"{owner}: give total_steps, or both epochs and steps_per_epoch")
        pct_start = check_number(pct_start, "pct_start", owner, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        div_factor = check_number(div_factor, "div_factor", owner)
        final_div_factor = check_number(final_div_factor, "final_div_factor", owner)
        up = float(pct_start * self.total_steps) - 1
        if check_flag(three_phase, "three_phase", owner):
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2, "start_lr": "max_lr",
                 "end_lr": "initial_lr", "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"}]
        else:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"}]
        max_lrs = per_group("max_lr", optimizer, max_lr, owner)
        if last_epoch == -1:
            for top, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = check_flag(cycle_momentum, "cycle_momentum", owner)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{owner}: cycle_momentum=True needs an optimizer with momentum or betas, "
                                 f"got {type(optimizer).__name__}")
            self.use_beta1 = "betas" in optimizer.defaults
            highs = per_group("max_momentum", optimizer, max_momentum, owner)
            lows = per_group("base_momentum", optimizer, base_momentum, owner)
            if last_epoch == -1:
                for high, low, group in zip(highs, lows, optimizer.param_groups):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, past total_steps={self.total_steps}")
        anneal = anneal_cos if self.anneal_strategy == "cos" else anneal_linear
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, anneal(group[phase["start_momentum"]],
                                                         group[phase["end_momentum"]], pct))
                    break
                start = end
        return lrs
