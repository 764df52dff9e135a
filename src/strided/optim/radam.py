"""RAdam (Liu et al., 2020): Adam with the variance of its adaptive step rectified, as ``torch.optim.RAdam``."""

from __future__ import annotations

import math

from ..backend import namespace
from .adam import check_adam_group, decay, moments, zero_moments
from .optimizer import Optimizer


class RAdam(Optimizer):
    """With ``rho_inf = 2 / (1 - b2) - 1`` and ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``::

        m = b1 m + (1-b1) g,   v = b2 v + (1-b2) g^2,   m_hat = m / (1 - b1^t)
        rho_t > 5:  r = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
                    p -= lr * m_hat * r * sqrt(1 - b2^t) / (sqrt(v) + eps)
        otherwise:  p -= lr * m_hat                    (plain momentum SGD while v is unreliable)

    ``weight_decay`` is L2, or AdamW's ``p *= 1 - lr * weight_decay`` with
    ``decoupled_weight_decay=True``. State: ``step``, ``exp_avg``, ``exp_avg_sq``.

    Args:
        params: the parameters or parameter groups (see ``Optimizer``).
        lr: the learning rate (default 1e-3).
        betas: ``(b1, b2)``, the decays of the running averages.
        eps: the denominator's stabiliser.
        weight_decay: the decay rate (L2 unless ``decoupled_weight_decay``).
        decoupled_weight_decay: AdamW's decoupled decay ``p *= 1 - lr * weight_decay`` instead of L2.
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = RAdam(model.parameters(), lr=1e-3)
    """

    state_keys = {"step": ("count", True), "exp_avg": ("param", True), "exp_avg_sq": ("param", True)}

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _check_group(self, group):
        check_adam_group(group, "RAdam", ("maximize", "decoupled_weight_decay"))

    def _update(self, param, grad, state, group):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        if not state:
            zero_moments(param, state)
        state["step"] += 1
        t = state["step"]
        g = decay(param, grad, group, group["decoupled_weight_decay"])
        m, v = moments(g, state, b1, b2)
        correction2 = 1 - b2 ** t
        m_hat = m / (1 - b1 ** t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            param.data -= m_hat * lr * (math.sqrt(correction2) / (namespace(param.data).sqrt(v) + eps)) * rect
        else:
            param.data -= m_hat * lr
