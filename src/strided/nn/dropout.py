"""Dropout: zero values (or whole channels) with probability ``p`` in training, scale the rest by ``1/(1-p)``.

* ``dropout``: each value on its own (Srivastava et al., 2014).
* ``dropout1d/2d/3d``: each channel of each example as a whole, one Bernoulli draw per ``(n, c)``
  (Tompson et al., 2015: neighbouring activations of a feature map are correlated, so dropping
  single values regularises little).
* ``alpha_dropout``: for self-normalising (SELU) networks (Klambauer et al., 2017); dropped values
  are set to SELU's negative saturation and an affine correction keeps mean 0 and variance 1.

Randomness comes only from the ``rng`` passed (a module's own generator); in evaluation every
variant is the identity.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import namespace
from ..checks import as_number
from ..errors import expected_input
from ..tensor import Tensor, as_tensor
from ..windows import batch_last
from .activation import _aligned
from .draws import make_rng
from .helpers import SPATIAL_NAMES
from .module import Module
from .registry import register_layer


def check_p(p, owner: str) -> float:
    """The dropout probability: a number in ``[0, 1]``."""
    p = as_number(p, "p", owner)
    if not 0 <= p <= 1:
        raise ValueError(f"{owner}: p must be in [0, 1], got {p!r}")
    return p


def dropout(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Inverted dropout; the identity when ``training`` is false or ``p == 0``.

    Each value is zeroed with probability ``p`` and the others scaled by ``1/(1-p)``, so the
    expected output equals the input.

    Args:
        x: the input, any shape.
        p: the probability of zeroing a value, in ``[0, 1]``.
        training: drop (``True``) or return ``x`` as it is (``False``).
        rng: the only source of randomness: a ``numpy.random.Generator`` (used as is), an int seed
            (a new generator) or ``None`` (the library's default generator, ``st.manual_seed``).

    Shape: any, unchanged.

    Example:
        >>> dropout(np.ones(4), 0.5, training=False).numpy().tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p!r}")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    xp = namespace(x.data)
    if p == 1:
        keep = xp.zeros(x.shape, dtype=x.dtype)
    else:                                                               # drawn on the host, the same on every device
        keep = xp.asarray((make_rng(rng).random(x.shape, dtype=np.float32) >= p).astype(x.dtype) / (1 - p))
    keep = _aligned(keep, x.data)                                       # one copy, then the products match
    return Tensor.from_op(in_layout_product(x.data, keep), (x,), lambda g: (in_layout_product(g, keep),), "dropout")


def in_layout_product(a, mask):
    """``a * mask`` in ``a``'s memory order: a batch-last input (a convolution's output) keeps
    its layout, so the next convolution reads it without a transposing copy."""
    xp = namespace(a)
    return xp.multiply(a, mask, out=xp.empty_like(a, dtype=xp.result_type(a, mask)))


# Input ranks each channel dropout accepts, by number of spatial axes: batched (N, C, *S) and unbatched
# (C, *S), except 2-D, where PyTorch reads a 3-D input as (N, C, L) (deprecated): refused here.
FEATURE_RANKS = {1: (2, 3), 2: (4,), 3: (4, 5)}


def _check_feature_input(shape, ndim: int, owner: str) -> None:
    if len(shape) not in FEATURE_RANKS[ndim]:
        names = SPATIAL_NAMES[ndim]
        expected = f"(N, C, {names})" + (f" or (C, {names})" if ndim != 2 else "")
        hint = (" (a 3-D input is ambiguous: use Dropout1d for (N, C, L), or add the batch axis to (C, H, W))"
                if ndim == 2 and len(shape) == 3 else "")
        raise expected_input(owner, expected + hint, shape)


def feature_dropout(x, p: float, training: bool, rng, ndim: int, owner: str) -> Tensor:
    """Zero each channel of each example with probability ``p``, one draw per ``(n, c)`` (per ``c``
    for an unbatched input), and scale the kept channels by ``1/(1-p)``.

    Shape: ``(N, C, *S)`` or ``(C, *S)`` with ``len(S) == ndim``, unchanged; the mask is
    ``(N, C, 1, ..., 1)`` and broadcasts over the spatial axes.
    """
    p = check_p(p, owner)
    x = as_tensor(x)
    _check_feature_input(x.shape, ndim, owner)
    if not training or p == 0:
        return x
    lead = x.shape[:x.ndim - ndim]                                      # (N, C) or (C,)
    xp = namespace(x.data)
    if p == 1:
        keep = xp.zeros(lead, dtype=x.dtype)
    else:                                                               # drawn on the host, the same on every device
        keep = xp.asarray((make_rng(rng).random(lead, dtype=np.float32) >= p).astype(x.dtype) / (1 - p))
    if len(lead) == 2 and batch_last(x.data):                           # memory (C, *S, N): the mask as (C, N)
        keep = xp.ascontiguousarray(keep.T).T                           # (N, C), N the contiguous axis
    keep = keep.reshape(lead + (1,) * ndim)                             # (N, C, 1, ..., 1)
    return Tensor.from_op(in_layout_product(x.data, keep), (x,), lambda g: (in_layout_product(g, keep),),
                          f"dropout{ndim}d")


def dropout1d(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Channel dropout of ``(N, C, L)`` or ``(C, L)``; see ``feature_dropout``. Shape: unchanged.

    Args:
        x: the input ``(N, C, L)`` or ``(C, L)``.
        p: the probability of zeroing a channel.
        training: drop, or return ``x`` as it is.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator).

    Example:
        >>> dropout1d(np.ones((1, 4, 3)), 0.5, rng=0).shape
        (1, 4, 3)
    """
    return feature_dropout(x, p, training, rng, 1, "dropout1d")


def dropout2d(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Channel dropout of ``(N, C, H, W)``; see ``feature_dropout``. Shape: unchanged.

    Args:
        x: the input ``(N, C, H, W)``.
        p: the probability of zeroing a feature map.
        training: drop, or return ``x`` as it is.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator).

    Example:
        >>> dropout2d(np.ones((1, 4, 2, 2)), 0.5, training=False).numpy().tolist() == np.ones((1, 4, 2, 2)).tolist()
        True
    """
    return feature_dropout(x, p, training, rng, 2, "dropout2d")


def dropout3d(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Channel dropout of ``(N, C, D, H, W)`` or ``(C, D, H, W)``; see ``feature_dropout``. Shape: unchanged.

    Args:
        x: the input ``(N, C, D, H, W)`` or ``(C, D, H, W)``.
        p: the probability of zeroing a channel.
        training: drop, or return ``x`` as it is.
        rng: the mask's generator, seed or ``None``.

    Example:
        >>> dropout3d(np.ones((1, 4, 2, 2, 2)), 0.5, rng=0).shape
        (1, 4, 2, 2, 2)
    """
    return feature_dropout(x, p, training, rng, 3, "dropout3d")


SELU_SATURATION = 1.7580993408473766
"""``-lim_{x -> -inf} selu(x) = scale * alpha`` of SELU: a dropped unit of alpha dropout is set to minus this."""


def alpha_dropout(x, p: float = 0.5, training: bool = False, rng=None) -> Tensor:
    """Alpha dropout (Klambauer et al., 2017), as ``torch.nn.functional.alpha_dropout`` (whose
    ``training`` defaults to ``False``, as here).

    Each value is kept with probability ``1 - p``, else set to ``-alpha`` (``SELU_SATURATION``); then
    ``a * value + a * alpha * p`` with ``a = ((1 - p) * (1 + p * alpha^2)) ** -0.5``, which keeps a
    zero-mean unit-variance input so. Shape: any, unchanged.

    Args:
        x: the input, any shape.
        p: the probability of dropping a value.
        training: drop (default ``False``, as PyTorch's functional form), or return ``x``.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator).

    Example:
        >>> alpha_dropout(np.ones(3), 0.5).numpy().tolist()
        [1.0, 1.0, 1.0]
    """
    p = check_p(p, "alpha_dropout")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    xp = namespace(x.data)
    if p == 1:
        return Tensor.from_op(xp.zeros_like(x.data), (x,), lambda g: (xp.zeros_like(g),), "alpha_dropout")
    alpha = SELU_SATURATION
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    keep = make_rng(rng).random(x.shape, dtype=np.float32) >= p         # (*), True where kept, drawn on the host
    scale = xp.asarray((keep * a).astype(x.dtype))                      # (*), a or 0
    shift = xp.asarray(np.where(keep, a * alpha * p, a * alpha * (p - 1)).astype(x.dtype))   # (*), host mask
    return Tensor.from_op(x.data * scale + shift, (x,), lambda g: (g * scale,), "alpha_dropout")


@register_layer(example=lambda: (Dropout(0.5, rng=0), (4, 6)))
class Dropout(Module):
    """Dropout with probability ``p`` in training mode; the identity in eval mode.

    In training every value is zeroed with probability ``p`` and the kept ones are scaled by
    ``1/(1-p)`` (inverted dropout), so evaluation needs no rescaling.

    Args:
        p: the probability of zeroing a value, in ``[0, 1]`` (default 0.5).
        rng: the generator of the masks, fixed at construction: a ``numpy.random.Generator`` (used
            as is, shared with whoever else draws from it), an int seed (a new generator of this
            layer's own) or ``None`` (the library's default generator, seeded by ``st.manual_seed``).

    Shape: any, unchanged.

    Example:
        >>> sorted(set(Dropout(0.5, rng=0)(np.ones((4, 6))).data.ravel().tolist()))
        [0.0, 2.0]
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p = p
        self.rng = make_rng(rng)

    def forward(self, x) -> Tensor:
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _DropoutNd(Module):
    """Shared body of ``Dropout1d/2d/3d``; ``ndim`` is the number of spatial axes."""

    ndim = 0

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = check_p(p, type(self).__name__)
        self.rng = make_rng(rng)

    def forward(self, x) -> Tensor:
        return feature_dropout(x, self.p, self.training, self.rng, self.ndim, self._describe())

    def output_shape(self, in_shape):
        _check_feature_input(tuple(in_shape), self.ndim, self._describe())
        return tuple(in_shape)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@register_layer(example=lambda: (Dropout1d(0.5, rng=0), (4, 6, 5)))
class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` (or ``(C, L)``) with probability ``p`` in training, scale
    the rest by ``1/(1-p)``; the identity in eval mode. PyTorch's ``nn.Dropout1d``. Shape: unchanged.

    Args:
        p: the probability of zeroing a channel.
        rng: the masks' generator: a ``numpy.random.Generator``, an int seed or ``None`` (the default).

    Example:
        >>> y = Dropout1d(0.5, rng=0)(np.ones((2, 8, 3))).data
        >>> bool((y == y[:, :, :1]).all()), sorted(set(y.ravel().tolist()))   # whole channels, 0 or 1/(1-p)
        (True, [0.0, 2.0])
    """
    ndim = 1


@register_layer(example=lambda: (Dropout2d(0.5, rng=0), (3, 6, 2, 3)))
class Dropout2d(_DropoutNd):
    """Zero whole feature maps of ``(N, C, H, W)`` with probability ``p`` in training (one draw per
    ``(n, c)``), scale the rest by ``1/(1-p)``; the identity in eval mode. PyTorch's
    ``nn.Dropout2d``, except that a 3-D input, which PyTorch reads as ``(N, C, L)`` with a
    deprecation warning, is refused. Shape: unchanged.

    Args:
        p: the probability of zeroing a feature map (default 0.5).
        rng: the generator of the masks: a ``numpy.random.Generator`` (used as is), an int seed (a
            new generator) or ``None`` (the library's default generator).

    Example:
        >>> drop = Dropout2d(0.5, rng=0)
        >>> y = drop(np.ones((1, 4, 2, 2))).numpy()                  # whole channels zeroed, the rest doubled
        >>> sorted(set(y.ravel().tolist())), bool((y.min(axis=(2, 3)) == y.max(axis=(2, 3))).all())
        ([0.0, 2.0], True)
        >>> drop.eval()(np.ones((1, 4, 2, 2))).shape               # evaluation mode: the identity
        (1, 4, 2, 2)
    """
    ndim = 2


@register_layer(example=lambda: (Dropout3d(0.5, rng=0), (2, 6, 2, 2, 3)))
class Dropout3d(_DropoutNd):
    """Zero whole channels of ``(N, C, D, H, W)`` (or ``(C, D, H, W)``) with probability ``p`` in
    training, scale the rest by ``1/(1-p)``; the identity in eval mode. PyTorch's ``nn.Dropout3d``.
    Shape: unchanged.

    Args:
        p: the probability of zeroing a channel.
        rng: a generator, an int seed or ``None`` for the masks.

    Example:
        >>> drop = Dropout3d(0.5, rng=0)
        >>> y = drop(np.ones((1, 4, 2, 2, 2))).numpy()                  # whole channels zeroed, the rest doubled
        >>> sorted(set(y.ravel().tolist())), bool((y.min(axis=(2, 3, 4)) == y.max(axis=(2, 3, 4))).all())
        ([0.0, 2.0], True)
        >>> drop.eval()(np.ones((1, 4, 2, 2, 2))).shape               # evaluation mode: the identity
        (1, 4, 2, 2, 2)
    """
    ndim = 3


@register_layer(example=lambda: (AlphaDropout(0.3, rng=0), (4, 6)))
class AlphaDropout(Module):
    """Alpha dropout with probability ``p`` in training mode (see ``alpha_dropout``), for SELU
    networks; the identity in eval mode. PyTorch's ``nn.AlphaDropout``. Shape: any, unchanged.

    Args:
        p: the probability of dropping a value.
        rng: the masks' generator: a ``numpy.random.Generator``, an int seed or ``None`` (the default).

    Example:
        >>> AlphaDropout(0.5, rng=0)(np.ones((2, 3))).shape
        (2, 3)
        >>> AlphaDropout(0.5, rng=0).eval()(np.ones(3)).numpy().tolist()    # evaluation mode: the identity
        [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = check_p(p, type(self).__name__)
        self.rng = make_rng(rng)

    def forward(self, x) -> Tensor:
        return alpha_dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def stochastic_depth(x, p: float, mode: str = "row", training: bool = True, rng=None) -> Tensor:
    """Drop whole examples ("row") or the whole batch ("batch") with probability ``p``, scale the rest by ``1/(1-p)``.

    Huang et al. (2016), as ``torchvision.ops.stochastic_depth``: meant for the residual branch of
    a block, so that a dropped example passes on the block's input alone. The identity when
    ``training`` is false or ``p == 0``; ``rng`` (a ``numpy.random.Generator`` or seed) is the only
    source of randomness.

    Args:
        x: the input ``(N, *)``, the output of a residual branch.
        p: the probability of dropping.
        mode: ``"row"`` (one draw per example) or ``"batch"`` (one for all).
        training: drop, or return ``x`` as it is.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator).

    Shape: ``(N, *)``, unchanged; the mask is ``(N, 1, ..., 1)`` ("row") or ``(1, ..., 1)`` ("batch").

    Example:
        >>> stochastic_depth(np.ones((4, 3)), 0.5, training=False).numpy().tolist()   # evaluation: the identity
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    if not 0 <= p <= 1 or mode not in ("row", "batch"):
        raise ValueError(f"stochastic_depth: expected p in [0, 1] and mode 'row' or 'batch', got {p!r} and {mode!r}")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    mask_shape = ((x.shape[0],) if mode == "row" else (1,)) + (1,) * (x.ndim - 1)
    survival = 1.0 - p
    keep = (make_rng(rng).random(mask_shape) < survival).astype(x.dtype)     # (N, 1, ..., 1): 1 kept, 0 dropped
    if survival > 0:
        keep /= x.dtype.type(survival)
    keep = namespace(x.data).asarray(keep)                              # drawn on the host, moved to x's device
    return Tensor.from_op(x.data * keep, (x,), lambda g: (g * keep,), "stochastic_depth")


@register_layer(example=lambda: (StochasticDepth(0.5, rng=0), (8, 3, 2, 2)))
class StochasticDepth(Module):
    """Stochastic depth (``torchvision.ops.StochasticDepth``): see ``stochastic_depth``.

    Args:
        p: probability of dropping an example's branch (``mode="row"``) or the whole batch's (``"batch"``).
        mode: ``"row"`` (EfficientNet's) or ``"batch"``.
        rng: generator or seed for the masks.

    Shape: ``(N, *)``, unchanged; the identity in evaluation.

    >>> layer = StochasticDepth(0.5, rng=0)
    >>> y = layer(np.ones((6, 2, 3))).data
    >>> sorted(set(y.ravel().tolist())), bool((y == y[:, :1, :1]).all())   # whole examples, 0 or 1/(1-p)
    ([0.0, 2.0], True)
    """

    def __init__(self, p: float, mode: str = "row", rng=None):
        super().__init__()
        p = as_number(p, "p", "StochasticDepth")
        if not 0 <= p <= 1:
            raise ValueError(f"StochasticDepth: p must be in [0, 1], got {p!r}")
        if mode not in ("row", "batch"):
            raise ValueError(f"StochasticDepth: mode must be 'row' or 'batch', got {mode!r}")
        self.p, self.mode = p, mode
        self.rng = make_rng(rng)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self.output_shape(x.shape)
        return stochastic_depth(x, self.p, self.mode, self.training, self.rng)

    def output_shape(self, in_shape):
        if len(in_shape) < 1:
            raise expected_input(self._describe(), "(N, *)", in_shape)
        return tuple(in_shape)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
