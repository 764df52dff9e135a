"""k-max pooling over sequences (Kalchbrenner, Grefenstette and Blunsom, ACL 2014).

Lecture 003 lists it among the poolings "without a kernel": each channel of ``(N, C, L)`` is
replaced by its ``k`` largest values, kept in the order in which they occur in the sequence, so
the output length is ``k`` whatever ``L`` is (sentences of different lengths give feature maps of
one size) and the relative order of the strongest features survives.

Ties are broken deterministically: among equal values the earliest positions win. The
selection is a stable sort of ``-x`` (equal keys keep their input order), and the gradient of
each output flows to the one input position it was copied from, nowhere else.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (the doctests use np)

from .. import backend as _backend
from ..checks import as_int
from ..errors import expected_input
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .module import Module
from .registry import register_layer


def _check_k(k, owner: str) -> int:
    return as_int(k, "k", owner)


def kmax_geometry(in_shape, k: int, owner: str) -> tuple[int, ...]:
    """Validate ``(N, C, L)`` (or unbatched ``(C, L)``, like the other poolings) against ``k`` and
    return the output shape ``(N, C, k)`` (or ``(C, k)``)."""
    in_shape = tuple(in_shape)
    if len(in_shape) not in (2, 3):
        raise expected_input(owner, "(N, C, L) or (C, L)", in_shape)
    if in_shape[-1] < k:
        raise expected_input(owner, f"(N, C, L) with L >= k = {k}", in_shape)
    return in_shape[:-1] + (k,)


def kmax_pool1d(x, k: int, owner: str | None = None) -> Tensor:
    """The ``k`` largest values of each channel over the last axis, in their original order.

    Ties: among equal values the earliest positions are selected.

    Args:
        x: the input ``(N, C, L)`` or ``(C, L)``.
        k: how many values to keep, ``1 <= k <= L``.
        owner: the name error messages give.

    Shape: ``(N, C, L) -> (N, C, k)`` (or ``(C, L) -> (C, k)``); requires ``1 <= k <= L``.

    >>> kmax_pool1d(np.array([[[3., 1., 4., 1., 5., 9., 2.]]], dtype=np.float32), 3).data
    array([[[4., 5., 9.]]], dtype=float32)
    """
    owner = owner or "kmax_pool1d"
    k = _check_k(k, owner)
    x = as_tensor(x)
    kmax_geometry(x.shape, k, owner)
    xp = _backend.namespace(x.data)
    order = xp.argsort(-x.data, axis=-1, kind="stable")                 # (N, C, L): largest first, ties by position
    where = xp.sort(order[..., :k], axis=-1)                            # (N, C, k): chosen positions, in order
    out = xp.take_along_axis(x.data, where, axis=-1)                    # (N, C, k)

    def backward(g):
        gx = xp.zeros(x.shape, dtype=g.dtype)                           # (N, C, L)
        _backend.backend_of(gx).put_along_axis(gx, where, g, -1)         # positions are distinct within a row
        return (gx,)
    return Tensor.from_op(out, (x,), backward, "kmax_pool1d")


@register_layer(example=lambda: (KMaxPool1d(1), (2, 3, 7)))
class KMaxPool1d(Module):
    """k-max pooling over ``(N, C, L)``: the ``k`` largest values per channel, in sequence order.

    Args:
        k: how many values each channel keeps (at least 1, at most the input length).

    Shape: ``(N, C, L) -> (N, C, k)`` for any ``L >= k``.

    The receptive field of every output is the whole sequence (which positions are kept depends on
    the data), declared like a global pooling (``through_global``). That is exact for the first
    output; the ``(size, jump, start)`` model has no way to say "all outputs see everything" (it
    would need ``jump = 0``), so for ``k > 1`` layers after this one over-count their field. The
    registered example uses ``k = 1`` because the contract test measures fields as sliding
    windows; ``k > 1`` is tested in test_kmax.

    >>> KMaxPool1d(2)(np.array([[[1., 3., 2., 0., 5.]]])).data
    array([[[3., 5.]]], dtype=float32)
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = _check_k(k, f"{type(self).__name__}(k={k!r})")

    def forward(self, x) -> Tensor:
        return kmax_pool1d(x, self.k, self._describe())

    def output_shape(self, in_shape):
        return kmax_geometry(in_shape, self.k, self._describe())

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        kmax_geometry(in_shape, self.k, self._describe())
        return rf.through_global(tuple(in_shape[-1:]))

    def extra_repr(self) -> str:
        return f"k={self.k}"


__all__ = ["kmax_pool1d", "kmax_geometry", "KMaxPool1d"]
