"""Smooth element-wise activations, each with its backward: GELU, SiLU, Mish, Softplus and the
exponential-linear family (ELU, SELU, CELU). The piecewise-linear ones are in ``activation.py``.

Each is stable for large ``|x|``: sigmoids come from ``exp(-|x|)``, softplus from
``max(x, 0) + log1p(exp(-|x|))``, the exponential branch of ELU from ``min(x, 0)``, and the exact
GELU from ``erfc`` (``strided.special``), relatively accurate far into the left tail. Values and
gradients follow PyTorch's formulas, the kinks included (ELU's family takes the negative branch
at 0; Softplus is the identity, gradient 1, where ``beta * x > threshold``).
"""

from __future__ import annotations

import math

import numpy as np  # noqa: F401  (the doctests use np)

from ..backend import namespace
from ..checks import as_number
from ..special import erfc
from ..tensor import Tensor, as_tensor
from .activation import EXAMPLE_SHAPE, Elementwise, _aligned, _compiled, check_inplace
from .activation_sigmoid import exp_minus_abs, sigmoid_from, stable_sigmoid
from .module import Module
from .registry import register_layer

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
GELU_TANH_CUBIC = 0.044715
GELU_APPROXIMATIONS = ("none", "tanh")


def gelu(x, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``, ``Phi`` the standard normal distribution function.

    ``approximate='tanh'``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` instead (BERT/GPT-2).

    Args:
        x: the input.
        approximate: ``'none'`` (the exact form, with erf) or ``'tanh'``.

    Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in gelu(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [-0.1587, 0.0, 0.8413]
    """
    approximate = check_approximate(approximate, "gelu")
    x = as_tensor(x)
    a = x.data
    xp = namespace(a)
    if approximate == "tanh":
        t = xp.tanh(SQRT_2_OVER_PI * (a + GELU_TANH_CUBIC * (a * a * a)))    # (*)
        out = 0.5 * a * (1 + t)

        def backward(g):
            inner_slope = SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_CUBIC * (a * a))   # d inner / dx
            return (g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * inner_slope),)
        return Tensor.from_op(out, (x,), backward, "gelu_tanh")

    cdf = 0.5 * erfc(-SQRT_HALF * a)                                    # (*) Phi(x)
    out = a * cdf
    return Tensor.from_op(out, (x,), lambda g: (g * (cdf + a * (INV_SQRT_2PI * xp.exp(-0.5 * (a * a)))),), "gelu")


def check_approximate(approximate, owner: str) -> str:
    if not isinstance(approximate, str) or approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"{owner}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def silu(x, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish) ``x * sigmoid(x)``. Shape: any, unchanged.

    Args:
        x: the input.
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> [round(v, 4) for v in silu(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [-0.2689, 0.0, 0.7311]
    """
    check_inplace(inplace, "silu")
    x = as_tensor(x)
    a = x.data
    e = exp_minus_abs(a)
    out = _compiled("silu_forward", a, e)                               # one pass on the compiled path
    s = None                                                            # NumPy's: the sigmoid, kept
    if out is None:
        s = sigmoid_from(e, a, overwrite=True)                          # written over e
        out = a * s
        e = None

    def backward(g):
        g = _aligned(g, a)
        gx = _compiled("silu_backward", g, a, e) if s is None and g.dtype == a.dtype else None
        if gx is None:
            sig = sigmoid_from(e, a) if s is None else s
            gx = g * sig * (1 + a * (1 - sig))
        return (gx,)
    return Tensor.from_op(out, (x,), backward, "silu")


def mish(x, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))`` (Misra, 2019). Shape: any, unchanged.

    Args:
        x: the input.
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> [round(v, 4) for v in mish(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [-0.3034, 0.0, 0.8651]
    """
    check_inplace(inplace, "mish")
    x = as_tensor(x)
    a = x.data
    xp = namespace(a)
    t = xp.tanh(xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a))))       # (*) tanh(softplus(x))
    out = a * t
    return Tensor.from_op(out, (x,), lambda g: (g * (t + a * stable_sigmoid(a) * (1 - t * t)),), "mish")


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold`` (PyTorch's
    linear region, gradient 1 there). ``beta`` may be negative, not 0. Shape: any, unchanged.

    Args:
        x: the input.
        beta: the sharpness (not 0).
        threshold: above ``beta x > threshold`` the output is ``x``.

    Example:
        >>> [round(v, 4) for v in softplus(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [0.3133, 0.6931, 1.3133]
    """
    beta, threshold = check_softplus(beta, threshold, "softplus")
    x = as_tensor(x)
    xp = namespace(x.data)
    z = beta * x.data                                                   # (*)
    linear = z > threshold                                              # (*) rare: a masked copy, not a select
    out = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta      # (*) no overflow for any z
    xp.copyto(out, x.data, where=linear)

    def backward(g):
        gx = g * stable_sigmoid(z)
        xp.copyto(gx, g, where=linear)
        return (gx,)
    return Tensor.from_op(out, (x,), backward, "softplus")


def check_softplus(beta, threshold, owner: str) -> tuple[float, float]:
    beta = as_number(beta, "beta", owner)
    if beta == 0:
        raise ValueError(f"{owner}: beta must not be 0, got {beta}")
    return beta, as_number(threshold, "threshold", owner)


def elu(x, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit: ``x`` where positive, ``alpha (exp(x) - 1)`` elsewhere.

    Args:
        x: the input.
        alpha: the negative saturation value.
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in elu(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [-0.6321, 0.0, 1.0]
    """
    alpha = as_number(alpha, "alpha", "elu")
    check_inplace(inplace, "elu")
    return _elu(as_tensor(x), alpha, 1.0, 1.0, "elu")


def selu(x, inplace: bool = False) -> Tensor:
    """Scaled ELU ``scale * elu(x, alpha)`` with the self-normalising constants of Klambauer et al.

    Args:
        x: the input.
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in selu(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [-1.1113, 0.0, 1.0507]
    """
    check_inplace(inplace, "selu")
    return _elu(as_tensor(x), SELU_ALPHA, SELU_SCALE, 1.0, "selu")


def celu(x, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Continuously differentiable ELU: ``x`` where positive, ``alpha (exp(x / alpha) - 1)`` elsewhere.

    Args:
        x: the input.
        alpha: the scale of the negative part (not 0).
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in celu(np.array([-1.0, 0.0, 1.0])).numpy().tolist()]
        [-0.6321, 0.0, 1.0]
    """
    alpha = check_celu_alpha(alpha, "celu")
    check_inplace(inplace, "celu")
    return _elu(as_tensor(x), alpha, 1.0, 1 / alpha, "celu")


def check_celu_alpha(alpha, owner: str) -> float:
    alpha = as_number(alpha, "alpha", owner)
    if alpha == 0:
        raise ValueError(f"{owner}: alpha must not be 0 (the input is divided by it), got {alpha}")
    return alpha


def _elu(x: Tensor, alpha: float, scale: float, input_scale: float, op: str) -> Tensor:
    """``scale * x`` where ``x > 0``, ``scale * alpha * (exp(input_scale * x) - 1)`` where ``x <= 0``.

    Both branches without a select (NumPy's ``where`` costs 3.5-4 ns a value on a mask of random
    signs): ``scale * max(x, 0) + scale * alpha * expm1(min(x, 0) * input_scale)``, one of the two
    terms exactly 0; the gradient's slope likewise. ``fmin`` makes the exponent 0 at NaN, so the
    gradient there is ``scale * g``, as PyTorch's (the output stays NaN).
    """
    xp = namespace(x.data)
    negative_in = xp.fmin(x.data, 0) * input_scale                      # (*) the exponent, never overflowing
    out = xp.expm1(negative_in)
    out *= scale * alpha
    out += scale * xp.maximum(x.data, 0)

    def backward(g):
        negative = x.data <= 0
        slope = xp.exp(negative_in)
        slope *= scale * alpha * input_scale
        slope *= negative                                               # (*) the exponential's slope where x <= 0
        slope += scale * ~negative                                      # (*) scale elsewhere
        return (g * slope,)
    return Tensor.from_op(out, (x,), backward, op)


@register_layer(example=lambda: (GELU(), EXAMPLE_SHAPE))
class GELU(Module):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate='tanh'`` for the tanh form.

    Args:
        approximate: ``'none'`` (exact, with the error function) or ``'tanh'`` (the faster approximation).

    Shape: any, unchanged.

    >>> GELU()(np.array([-1.0, 0.0, 1.0], dtype=np.float32)).data.round(4)
    array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = check_approximate(approximate, "GELU")

    def forward(self, x) -> Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


@register_layer(example=lambda: (SiLU(), EXAMPLE_SHAPE))
class SiLU(Elementwise):
    """Sigmoid linear unit (swish) ``x * sigmoid(x)``. Shape: any, unchanged.

    Args:
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> [round(v, 4) for v in SiLU()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-0.2384, 0.0, 1.7616]
    """

    def forward(self, x) -> Tensor:
        return silu(x)


@register_layer(example=lambda: (Mish(), EXAMPLE_SHAPE))
class Mish(Elementwise):
    """``x * tanh(softplus(x))``. Shape: any, unchanged.

    Args:
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> [round(v, 4) for v in Mish()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-0.2525, 0.0, 1.944]
    """

    def forward(self, x) -> Tensor:
        return mish(x)


@register_layer(example=lambda: (Softplus(beta=2.0, threshold=1.0), EXAMPLE_SHAPE))
class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold`` (defaults 1 and 20).

    Args:
        beta: the sharpness; larger approaches ReLU (default 1, not 0).
        threshold: where ``beta x > threshold`` the output is ``x`` itself (default 20).

    Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in Softplus()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [0.1269, 0.6931, 2.1269]
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = check_softplus(beta, threshold, "Softplus")

    def forward(self, x) -> Tensor:
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


@register_layer(example=lambda: (ELU(alpha=0.5), EXAMPLE_SHAPE))
class ELU(Elementwise):
    """Exponential linear unit with ``alpha`` (default 1). Shape: any, unchanged.

    Args:
        alpha: the value negative inputs saturate to, ``-alpha`` (default 1).
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> [round(v, 4) for v in ELU()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-0.8647, 0.0, 2.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = as_number(alpha, "alpha", "ELU")

    def forward(self, x) -> Tensor:
        return elu(x, self.alpha)

    def extra_repr(self) -> str:
        return self._with_inplace(f"alpha={self.alpha}")


@register_layer(example=lambda: (SELU(), EXAMPLE_SHAPE))
class SELU(Elementwise):
    """Scaled ELU with fixed ``alpha ~ 1.6733``, ``scale ~ 1.0507`` (self-normalising networks).

    Args:
        inplace: accepted for PyTorch compatibility, never acted on.

    Shape: any, unchanged.

    Example:
        >>> [round(v, 4) for v in SELU()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-1.5202, 0.0, 2.1014]
    """

    def forward(self, x) -> Tensor:
        return selu(x)


@register_layer(example=lambda: (CELU(alpha=2.0), EXAMPLE_SHAPE))
class CELU(Elementwise):
    """Continuously differentiable ELU with ``alpha`` (default 1, never 0). Shape: any, unchanged.

    Args:
        alpha: the scale of the negative part (default 1, not 0).
        inplace: accepted for PyTorch compatibility, never acted on.

    Example:
        >>> [round(v, 4) for v in CELU()(np.array([-2.0, 0.0, 2.0])).numpy().tolist()]
        [-0.8647, 0.0, 2.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = check_celu_alpha(alpha, "CELU")

    def forward(self, x) -> Tensor:
        return celu(x, self.alpha)

    def extra_repr(self) -> str:
        return self._with_inplace(f"alpha={self.alpha}")
