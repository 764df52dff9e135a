"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as PyTorch implements them."""

from __future__ import annotations

import math

from ..backend import namespace
from .optimizer import Optimizer, check_betas, check_flag, check_number


def check_adam_group(group: dict, owner: str, flags=("maximize",)) -> None:
    """The checks shared by the Adam family: ``lr``, ``eps``, ``weight_decay`` >= 0, betas in [0, 1)."""
    for name in ("lr", "eps", "weight_decay"):
        check_number(group[name], name, owner)
    group["betas"] = check_betas(group["betas"], owner)
    for name in flags:
        check_flag(group[name], name, owner)


def moments(grad, state, b1: float, b2: float):
    """Update and return ``(exp_avg, exp_avg_sq)``: ``m += (1-b1)(g - m)``, ``v = b2 v + (1-b2) g^2``."""
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m += (1 - b1) * (grad - m)          # torch's lerp
    v *= b2
    v += (1 - b2) * grad * grad
    return m, v


def decay(param, grad, group: dict, decoupled: bool):
    """Weight decay: decoupled ``p *= 1 - lr*wd`` (returns ``grad``), or L2 (returns ``grad + wd*p``)."""
    wd = group["weight_decay"]
    if not wd:
        return grad
    if decoupled:
        param.data *= 1 - group["lr"] * wd
        return grad
    return grad + wd * param.data


def zero_moments(param, state: dict) -> None:
    xp = namespace(param.data)
    state["step"] = 0
    state["exp_avg"] = xp.zeros_like(param.data)
    state["exp_avg_sq"] = xp.zeros_like(param.data)


class Adam(Optimizer):
    """``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.

    ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2, coupled), as ``torch.optim.Adam``;
    with ``decoupled_weight_decay=True`` it is AdamW's ``p *= 1 - lr * weight_decay`` instead.
    ``amsgrad=True`` divides by the running maximum of ``v`` (Reddi et al., 2018).
    State: ``step``, ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq``).

    Args:
        params: the parameters to optimise: an iterable of ``Parameter``s (``model.parameters()``) or of
            dicts ``{'params': [...], 'lr': ...}``, groups with their own hyper-parameters.
        lr: the learning rate (default 1e-3).
        betas: ``(b1, b2)``, the decays of the gradient's and the squared gradient's running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: the decay rate: L2 (added to the gradient), or decoupled with ``decoupled_weight_decay``.
        amsgrad: divide by the running maximum of ``v`` (AMSGrad).
        maximize: maximise the objective instead (the gradient is negated); keyword-only.
        decoupled_weight_decay: AdamW's decoupled decay ``p *= 1 - lr * weight_decay`` instead of L2.

    >>> # opt = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    """

    state_keys = {"step": ("count", True), "exp_avg": ("param", True), "exp_avg_sq": ("param", True),
                  "max_exp_avg_sq": ("param", False)}

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group):
        check_adam_group(group, type(self).__name__, ("amsgrad", "maximize", "decoupled_weight_decay"))

    def _update(self, param, grad, state, group):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        xp = namespace(param.data)
        g = decay(param, grad, group, group["decoupled_weight_decay"])
        if not state:
            zero_moments(param, state)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(param.data)
        state["step"] += 1
        t = state["step"]
        m, v = moments(g, state, b1, b2)
        if group["amsgrad"]:
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = xp.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
        param.data -= (lr / (1 - b1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam update.

    Args:
        params: the parameters or parameter groups, as for ``Adam``.
        lr: the learning rate (default 1e-3).
        betas: ``(b1, b2)``, the decays of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: the decoupled decay rate (default 1e-2).
        amsgrad: divide by the running maximum of ``v`` (AMSGrad).
        maximize: maximise the objective instead (the gradient is negated); keyword-only.

    >>> # opt = AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
