"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's rule)."""

from __future__ import annotations

import math

from ..backend import namespace
from .optimizer import Optimizer, check_flag, check_number


class SGD(Optimizer):
    """``p -= lr * d``, where ``g = grad + weight_decay * p`` and

    * no momentum: ``d = g``;
    * momentum: ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` at the first step),
      ``d = buf``, or ``d = g + momentum * buf`` with ``nesterov=True``.

    ``maximize=True`` ascends (the gradient is negated). State: ``momentum_buffer``.

    Args:
        params: the parameters to optimise: an iterable of ``Parameter``s (``model.parameters()``) or of
            dicts ``{'params': [...], 'lr': ...}``, groups with their own hyper-parameters.
        lr: the learning rate (default 1e-3).
        momentum: the momentum factor (0: plain SGD; 0.9 is usual).
        dampening: the share of the gradient left out of the momentum buffer.
        weight_decay: L2 penalty: ``weight_decay * p`` added to the gradient (0: none).
        nesterov: Nesterov momentum (needs momentum > 0 and no dampening).
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    """

    state_keys = {"momentum_buffer": ("param", False)}

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _check_group(self, group):
        for name in ("lr", "momentum", "weight_decay"):
            check_number(group[name], name, "SGD")
        dampening = check_number(group["dampening"], "dampening", "SGD", low=-math.inf)
        if check_flag(group["nesterov"], "nesterov", "SGD") and (group["momentum"] <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        check_flag(group["maximize"], "maximize", "SGD")

    def _update(self, param, grad, state, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        g = grad + wd * param.data if wd else grad
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = namespace(param.data).array(g, dtype=param.data.dtype, copy=True)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        param.data -= lr * g
