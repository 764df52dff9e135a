"""Local response normalisation across channels (Krizhevsky, Sutskever and Hinton, 2012, section 3.3).

Each activation is divided by a power of the energy of its neighbours along the channel axis
("lateral inhibition"), at every spatial position separately::

    b_c = a_c / (k + s * sum_{j = c - lo}^{c + hi} a_j^2) ** beta

with ``lo = size // 2``, ``hi = (size - 1) // 2`` and channels outside ``[0, C)`` counted as 0.
Two conventions for ``s`` exist, and they differ by a factor of ``size``:

* PyTorch (and Caffe): ``s = alpha / size``, an average of the squares. This is the default, and
  it matches ``torch.nn.functional.local_response_norm`` exactly (window and zero padding
  included: for an even ``size`` the window reaches one channel further down than up).
* The 2012 paper: ``s = alpha``, a plain sum (``paper_alpha=True``). The paper's constants are
  ``k = 2, n = size = 5, alpha = 1e-4, beta = 0.75`` (``LocalResponseNorm.alexnet()``); with
  PyTorch's convention the same layer needs ``alpha = 5e-4``.

The sum over ``size`` neighbouring channels walks the ``size`` taps of a 1-D ``Window`` over
the channels (moved to the last axis), and the backward pass adds back through the same
slices: no loop over examples, positions or channels.
"""

from __future__ import annotations

from ..backend import namespace
from ..checks import as_int, as_number
from ..geometry import resolve_window
from ..tensor import Tensor, as_tensor
from ..windows import pad, unpad
from .helpers import expected_batched_input
from .module import Module
from .registry import register_layer


def channel_window(size: int) -> tuple[int, int]:
    """Channels ``(below, above)`` the centre that a window of ``size`` channels covers (PyTorch's rule)."""
    return size // 2, (size - 1) // 2


def _check_settings(size, alpha, beta, k, owner: str) -> None:
    as_int(size, "size", owner)
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        as_number(value, name, owner)


def _check_input(shape, owner: str) -> None:
    if len(shape) < 3:
        raise expected_batched_input(owner, "(N, C, *spatial) with at least one spatial axis", shape, 3)


def local_response_norm(x, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                        paper_alpha: bool = False, owner: str | None = None) -> Tensor:
    """Normalise each activation by its ``size`` neighbouring channels; see the module docstring.

    ``b = a / (k + s * sum_window a^2) ** beta`` with ``s = alpha / size`` (PyTorch, default) or
    ``s = alpha`` (``paper_alpha=True``, Krizhevsky et al. 2012).

    Args:
        x: the activations ``(N, C, *S)``.
        size: the number of neighbouring channels in the window, the channel itself included.
        alpha: the scale of the sum of squares (default ``1e-4``), divided by ``size`` unless ``paper_alpha``.
        beta: the exponent (default 0.75).
        k: the additive constant (default 1.0).
        paper_alpha: scale the sum by ``alpha`` rather than ``alpha / size`` (default ``False``: PyTorch's).
        owner: the layer name that error messages start with (default ``local_response_norm``).

    Shape: ``(N, C, *S)``, unchanged (at least one spatial axis, as in PyTorch).

    Example:
        >>> import numpy as np
        >>> local_response_norm(np.ones((1, 4, 2, 2)), size=3).shape
        (1, 4, 2, 2)
    """
    owner = owner or "local_response_norm"
    _check_settings(size, alpha, beta, k, owner)
    x = as_tensor(x)
    _check_input(x.shape, owner)
    c = x.shape[1]
    scale = alpha if paper_alpha else alpha / size
    window = resolve_window((c,), size, 1, 1, (channel_window(size),), owner=owner)   # over the channel axis
    pads = window.pads
    xp = namespace(x.data)

    def window_sum(a):
        """``out[:, c] = sum_{j=c-lo}^{c+hi} a[:, j]`` (zero outside), channels moved last and back."""
        ap = pad(xp.moveaxis(a, 1, -1), pads)                           # (N, *S, C + size - 1)
        total = xp.zeros(ap.shape[:-1] + (c,), dtype=a.dtype)           # (N, *S, C)
        for _, index in window.taps:
            total += ap[index]
        return xp.moveaxis(total, -1, 1)                                # (N, C, *S)

    def window_sum_adjoint(t):
        """Transpose of ``window_sum``: ``out[:, j] = sum of t[:, c] over the windows c that contain j``."""
        tm = xp.moveaxis(t, 1, -1)                                      # (N, *S, C)
        gp = xp.zeros(tm.shape[:-1] + (c + size - 1,), dtype=t.dtype)   # (N, *S, C + size - 1)
        for _, index in window.taps:
            gp[index] += tm
        return xp.moveaxis(unpad(gp, pads), -1, 1)                      # (N, C, *S)

    a = x.data
    denom = k + scale * window_sum(a * a)                               # (N, C, *S)
    inv = denom ** -beta                                                # (N, C, *S)
    out = a * inv                                                       # (N, C, *S)

    def backward(g):
        # d b_c / d a_j = [c == j] * inv_c - 2 * scale * beta * a_c * inv_c / denom_c * a_j * [j in window(c)]
        inner = g * out / denom                                         # (N, C, *S): g_c * a_c * inv_c / denom_c
        gx = g * inv - (2 * scale * beta) * a * window_sum_adjoint(inner)
        return (xp.ascontiguousarray(gx, dtype=a.dtype),)
    return Tensor.from_op(out, (x,), backward, "local_response_norm")


@register_layer(example=lambda: (LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0), (2, 5, 4)))
class LocalResponseNorm(Module):
    """Local response normalisation across channels, PyTorch's ``nn.LocalResponseNorm``.

    ``b_c = a_c / (k + alpha / size * sum_{j in window(c)} a_j^2) ** beta``; with
    ``paper_alpha=True`` the sum is scaled by ``alpha`` itself, as written in Krizhevsky et al.
    (2012), whose constants ``LocalResponseNorm.alexnet()`` returns.

    Args:
        size: the number of neighbouring channels in the window, the channel itself included.
        alpha: the scale of the sum of squares (default ``1e-4``), divided by ``size`` unless ``paper_alpha``.
        beta: the exponent (default 0.75).
        k: the additive constant (default 1.0).
        paper_alpha: scale the sum by ``alpha`` rather than ``alpha / size`` (default ``False``: PyTorch's).

    Shape: ``(N, C, *S)``, unchanged.

    >>> import numpy as np
    >>> LocalResponseNorm(5)(np.ones((1, 8, 3, 3))).shape
    (1, 8, 3, 3)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 paper_alpha: bool = False):
        super().__init__()
        _check_settings(size, alpha, beta, k, type(self).__name__)
        self.size, self.alpha, self.beta, self.k = int(size), alpha, beta, k
        self.paper_alpha = bool(paper_alpha)

    @classmethod
    def alexnet(cls) -> "LocalResponseNorm":
        """The paper's layer: ``k = 2, n = 5, alpha = 1e-4, beta = 0.75``, alpha not divided by ``n``."""
        return cls(5, alpha=1e-4, beta=0.75, k=2.0, paper_alpha=True)

    def forward(self, x) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.paper_alpha, self._describe())

    def output_shape(self, in_shape):
        _check_input(tuple(in_shape), self._describe())
        return tuple(in_shape)

    def extra_repr(self) -> str:
        text = f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
        return text + (", paper_alpha=True" if self.paper_alpha else "")


__all__ = ["local_response_norm", "channel_window", "LocalResponseNorm"]
