"""Adagrad (Duchi et al., 2011) and Adadelta (Zeiler, 2012), as ``torch.optim`` implements them."""

from __future__ import annotations

from ..backend import namespace
from .optimizer import Optimizer, check_flag, check_number


class Adagrad(Optimizer):
    """``s += g^2``, ``p -= clr * g / (sqrt(s) + eps)`` with ``clr = lr / (1 + (t - 1) lr_decay)``.

    ``g`` has ``weight_decay * p`` added; ``s`` starts at ``initial_accumulator_value``. As in
    PyTorch the state (``step``, ``sum``) exists from construction, before the first step. (A
    group's own ``initial_accumulator_value`` is honoured; PyTorch fills every group's ``sum``
    from the constructor's value.)

    Args:
        params: the parameters to optimise: an iterable of ``Parameter``s (``model.parameters()``) or of
            dicts ``{'params': [...], 'lr': ...}``, groups with their own hyper-parameters.
        lr: the learning rate (default 1e-2).
        lr_decay: the decay of the learning rate per step.
        weight_decay: L2 penalty: ``weight_decay * p`` added to the gradient (0: none).
        initial_accumulator_value: the starting value of the sum of squared gradients.
        eps: added to the denominator for numerical stability.
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = Adagrad(model.parameters(), lr=1e-2)
    """

    state_keys = {"step": ("count", True), "sum": ("param", True)}

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def _check_group(self, group):
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_number(group[name], name, "Adagrad")
        check_flag(group["maximize"], "maximize", "Adagrad")

    @staticmethod
    def _fresh_state(param, group) -> dict:
        return {"step": 0, "sum": namespace(param.data).full_like(param.data, group["initial_accumulator_value"])}

    def _init_state(self, param, group):
        self.state[id(param)] = self._fresh_state(param, group)

    def _update(self, param, grad, state, group):
        if not state:                       # e.g. dropped by load_state_dict
            state.update(self._fresh_state(param, group))
        state["step"] += 1
        wd = group["weight_decay"]
        g = grad + wd * param.data if wd else grad
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        param.data -= clr * (g / (namespace(param.data).sqrt(s) + group["eps"]))


class Adadelta(Optimizer):
    """``v = rho v + (1-rho) g^2``, ``d = sqrt(u + eps) / sqrt(v + eps) * g``,
    ``u = rho u + (1-rho) d^2``, ``p -= lr d`` (``g`` with ``weight_decay * p`` added).

    State: ``step``, ``square_avg`` (``v``), ``acc_delta`` (``u``).

    Args:
        params: the parameters to optimise: an iterable of ``Parameter``s (``model.parameters()``) or of
            dicts ``{'params': [...], 'lr': ...}``, groups with their own hyper-parameters.
        lr: a scale of the update (default 1.0).
        rho: the decay of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty: ``weight_decay * p`` added to the gradient (0: none).
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = Adadelta(model.parameters())        # lr=1.0, rho=0.9, eps=1e-6
    """

    state_keys = {"step": ("count", True), "square_avg": ("param", True), "acc_delta": ("param", True)}

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _check_group(self, group):
        for name in ("lr", "eps", "weight_decay"):
            check_number(group[name], name, "Adadelta")
        check_number(group["rho"], "rho", "Adadelta", 0.0, 1.0)
        check_flag(group["maximize"], "maximize", "Adadelta")

    def _update(self, param, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        xp = namespace(param.data)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)
            state["acc_delta"] = xp.zeros_like(param.data)
        state["step"] += 1
        wd = group["weight_decay"]
        g = grad + wd * param.data if wd else grad
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * g * g
        delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g
        u *= rho
        u += (1 - rho) * delta * delta
        param.data -= group["lr"] * delta
