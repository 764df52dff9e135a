"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a momentum schedule, as ``torch.optim.NAdam``."""

from __future__ import annotations

from ..backend import namespace
from .adam import check_adam_group, decay, moments, zero_moments
from .optimizer import Optimizer, check_number


class NAdam(Optimizer):
    """At step ``t``, with ``mu_t = b1 (1 - 0.5 * 0.96 ** (t * momentum_decay))`` and
    ``P_t = mu_1 ... mu_t`` (the state's ``mu_product``)::

        m = b1 m + (1-b1) g,   v = b2 v + (1-b2) g^2,   d = sqrt(v / (1 - b2^t)) + eps
        p -= lr (1 - mu_t) / (1 - P_t) * g / d  +  lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d

    ``weight_decay`` is L2 (added to ``g``), or AdamW's ``p *= 1 - lr * weight_decay`` with
    ``decoupled_weight_decay=True``. State: ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``.

    Args:
        params: the parameters or parameter groups (see ``Optimizer``).
        lr: the learning rate (default 2e-3).
        betas: ``(b1, b2)``, the decays of the running averages.
        eps: the denominator's stabiliser.
        weight_decay: the decay rate (L2 unless ``decoupled_weight_decay``).
        momentum_decay: the ``momentum_decay`` of ``mu_t`` (default 4e-3).
        decoupled_weight_decay: AdamW's decoupled decay ``p *= 1 - lr * weight_decay`` instead of L2.
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = NAdam(model.parameters(), lr=2e-3)
    """

    state_keys = {"step": ("count", True), "mu_product": ("number", True), "exp_avg": ("param", True),
                  "exp_avg_sq": ("param", True)}

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _check_group(self, group):
        check_adam_group(group, "NAdam", ("maximize", "decoupled_weight_decay"))
        check_number(group["momentum_decay"], "momentum_decay", "NAdam")

    def _update(self, param, grad, state, group):
        lr, (b1, b2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        if not state:
            zero_moments(param, state)
            state["mu_product"] = 1.0
        state["step"] += 1
        t = state["step"]
        g = decay(param, grad, group, group["decoupled_weight_decay"])
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        product = state["mu_product"]
        m, v = moments(g, state, b1, b2)
        denom = namespace(param.data).sqrt(v / (1 - b2 ** t)) + eps
        param.data -= (lr * (1.0 - mu) / (1.0 - product)) * g / denom
        param.data -= (lr * mu_next / (1.0 - product * mu_next)) * m / denom
