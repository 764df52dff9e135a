"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's rule)."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class SGD(Optimizer):
    """``p -= lr * d``, where ``g = grad + weight_decay * p`` and

    * no momentum: ``d = g``;
    * momentum: ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` at the first step),
      ``d = buf``, or ``d = g + momentum * buf`` with ``nesterov=True``.

    >>> # opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be non-negative, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for param, grad in self._params_with_grad(group):
                g = grad + wd * param.data if wd else grad
                if momentum:
                    state = self.state.setdefault(id(param), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(g, dtype=param.data.dtype, copy=True)
                    else:
                        buf *= momentum
                        buf += (1 - group["dampening"]) * g
                    g = g + momentum * buf if group["nesterov"] else buf
                param.data -= lr * g
