"""RMSprop (Hinton, lecture 6e), with PyTorch's momentum and centered variants."""

from __future__ import annotations

from ..backend import namespace
from .optimizer import Optimizer, check_flag, check_number


class RMSprop(Optimizer):
    """``v = alpha v + (1-alpha) g^2`` (``g`` with ``weight_decay * p`` added), then

    * ``centered``: ``a = alpha a + (1-alpha) g`` and the divisor is ``sqrt(v - a^2) + eps``,
      otherwise ``sqrt(v) + eps``;
    * ``momentum > 0``: ``buf = momentum buf + g / divisor``, ``p -= lr buf``; else
      ``p -= lr g / divisor``.

    State: ``step``, ``square_avg`` (and ``momentum_buffer``, ``grad_avg``).

    Args:
        params: the parameters to optimise: an iterable of ``Parameter``s (``model.parameters()``) or of
            dicts ``{'params': [...], 'lr': ...}``, groups with their own hyper-parameters.
        lr: the learning rate (default 1e-2).
        alpha: the decay of the squared gradient's running average.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty: ``weight_decay * p`` added to the gradient (0: none).
        momentum: the momentum factor (0: none).
        centered: divide by the estimated variance of the gradient rather than its second moment.
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = RMSprop(model.parameters(), lr=1e-2, alpha=0.99, momentum=0.9, centered=True)
    """

    state_keys = {"step": ("count", True), "square_avg": ("param", True), "momentum_buffer": ("param", False),
                  "grad_avg": ("param", False)}

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize))

    def _check_group(self, group):
        for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            check_number(group[name], name, "RMSprop")
        check_flag(group["centered"], "centered", "RMSprop")
        check_flag(group["maximize"], "maximize", "RMSprop")

    def _update(self, param, grad, state, group):
        alpha, momentum, wd = group["alpha"], group["momentum"], group["weight_decay"]
        xp = namespace(param.data)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(param.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param.data)
        state["step"] += 1
        g = grad + wd * param.data if wd else grad
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            a = state.setdefault("grad_avg", xp.zeros_like(param.data))
            a += (1 - alpha) * (g - a)
            avg = xp.sqrt(v - a * a)
        else:
            avg = xp.sqrt(v)
        avg += group["eps"]
        if momentum > 0:
            buf = state.setdefault("momentum_buffer", xp.zeros_like(param.data))
            buf *= momentum
            buf += g / avg
            param.data -= group["lr"] * buf
        else:
            param.data -= group["lr"] * (g / avg)
