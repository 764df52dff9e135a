"""Embedding: a lookup table of learned vectors, indexed by integer arrays (token ids).

The forward pass is a row gather, ``weight[indices]``; the backward pass scatters the output
gradient back onto the rows it came from, adding where an index repeats (``np.add.at``). The row
``padding_idx`` is returned like any other but gets no gradient, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from .. import backend as _backend
from ..checks import as_int, is_int
from ..errors import ShapeError, shape_str
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .draws import make_rng, normal
from .module import Cost, Module, Parameter
from .registry import register_layer


def as_indices(indices, num_embeddings: int, owner: str) -> np.ndarray:
    """``indices`` as an integer array with every value in ``[0, num_embeddings)``, on the device
    it came on (lists and NumPy arrays on the host).

    A float array or a ``Tensor`` (always floating) raises a ``TypeError``, a value out of range an
    ``IndexError``; both name ``owner``.
    """
    if isinstance(indices, Tensor):
        raise TypeError(f"{owner}: expected an integer index array, got a {indices.dtype} Tensor "
                        f"(pass the indices as a NumPy integer array)")
    array = _backend.namespace(indices).asarray(indices)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{owner}: expected an integer index array, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_embeddings):
        raise IndexError(f"{owner}: indices must be in [0, {num_embeddings}), got values from {array.min()} "
                         f"to {array.max()} in input {shape_str(array.shape)}")
    return array


def as_padding_idx(padding_idx, num_embeddings: int, owner: str):
    """``None``, or ``padding_idx`` in ``[-num_embeddings, num_embeddings)`` as a row in ``[0, num_embeddings)``."""
    if padding_idx is None:
        return None
    if not is_int(padding_idx):
        raise TypeError(f"{owner}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{owner}: padding_idx must be in [-{num_embeddings}, {num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings


def embedding(input, weight, padding_idx=None, *, scale_grad_by_freq: bool = False,
              owner: str = "embedding") -> Tensor:
    """The rows of ``weight`` at integer ``input``, as ``torch.nn.functional.embedding``.

    ``padding_idx``: that row's gradient stays zero. ``scale_grad_by_freq``: each row's gradient
    is divided by how often its index occurs in ``input``. (PyTorch's ``max_norm``, which
    rescales rows of the weight in place during the forward pass, is not offered.)

    Args:
        input: integer indices, any shape.
        weight: the table ``(num_embeddings, embedding_dim)``.
        padding_idx: a row whose gradient stays zero, or ``None``.
        scale_grad_by_freq: divide each row's gradient by its index's count in ``input``.
        owner: the name error messages give.

    Shape: ``input (*)`` integers, ``weight (num_embeddings, embedding_dim)`` -> ``(*, embedding_dim)``.

    Example:
        >>> embedding(np.array([[2, 0]]), np.arange(6.0).reshape(3, 2)).numpy().tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """
    w = as_tensor(weight)
    if w.ndim != 2:
        raise ShapeError(f"{owner}: expected weight (num_embeddings, embedding_dim), got {shape_str(w.shape)}")
    num, dim = w.shape
    idx = as_indices(input, num, owner)
    padding_idx = as_padding_idx(padding_idx, num, owner)
    backend = _backend.backend_of(w.data)
    if type(idx) is not type(w.data):
        if _backend.backend_of(idx) is _backend.CPU:                    # host indices join the table's device
            idx = backend.from_host(idx, backend.device_of(w.data))
        else:
            _backend.common_backend(owner, (idx, w.data), ("input", "weight"))
    xp = backend.xp
    out = w.data[idx]                                                   # (*I, D)

    def backward(g):
        flat = idx.reshape(-1)                                          # (M,)
        gm = g.reshape(-1, dim)                                         # (M, D)
        if scale_grad_by_freq:
            gm = gm / xp.bincount(flat, minlength=num)[flat, None]      # (M, D), each divided by its count
        gw = xp.zeros((num, dim), dtype=g.dtype)                        # (num, D)
        backend.add_at(gw, flat, gm)                                    # repeated indices add up
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)
    return Tensor.from_op(out, (w,), backward, "embedding")


@register_layer(example=lambda: (Embedding(10, 3, rng=0), (2, 5)))
class Embedding(Module):
    """A table of ``num_embeddings`` learned vectors of ``embedding_dim``, PyTorch's ``nn.Embedding``.

    ``weight`` ``(num_embeddings, embedding_dim)`` is drawn from N(0, 1) (PyTorch's default), the
    row ``padding_idx`` (negative counts from the end) set to zero; that row gets no gradient.
    The input is an integer array of any shape (not a ``Tensor``, which is always floating).
    ``scale_grad_by_freq`` and ``rng`` are keyword-only (PyTorch's fourth positional argument is
    ``max_norm``, which is not offered).

    Args:
        num_embeddings: the number of rows (the vocabulary size).
        embedding_dim: the length of each vector.
        padding_idx: a row set to zero that gets no gradient (negative counts from the end), or ``None``.
        scale_grad_by_freq: divide each row's gradient by how often its index occurs in the batch.
        rng: the generator of the initial weights (N(0, 1)): a ``numpy.random.Generator`` (used as
            is), an int seed (a new generator) or ``None`` (the library's default generator).

    Shape: ``(*)`` integers -> ``(*, embedding_dim)``.

    >>> Embedding(10, 4, rng=0)(np.array([[1, 2, 2], [0, 9, 3]])).shape
    (2, 3, 4)
    """

    converts_raw_input = False                                          # the input is an index array

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, *,
                 scale_grad_by_freq: bool = False, rng=None):
        super().__init__()
        owner = type(self).__name__
        self.num_embeddings = as_int(num_embeddings, "num_embeddings", owner)
        self.embedding_dim = as_int(embedding_dim, "embedding_dim", owner)
        self.padding_idx = as_padding_idx(padding_idx, self.num_embeddings, owner)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        weight = normal((self.num_embeddings, self.embedding_dim), 1.0, make_rng(rng))   # N(0, 1)
        if self.padding_idx is not None and weight.flags.writeable:     # not shape-only (nn.meta())
            weight[self.padding_idx] = 0
        self.weight = Parameter(weight)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None,
                        scale_grad_by_freq: bool = False) -> "Embedding":
        """An ``Embedding`` holding a copy of ``embeddings`` ``(num, dim)`` (float32, or float64 if
        given so), trained only when ``freeze`` is false; the padding row is kept as given."""
        embeddings = _backend.to_host(getattr(embeddings, "data", embeddings))   # built on the host, like any layer
        if embeddings.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: expected embeddings (num_embeddings, embedding_dim), "
                             f"got {shape_str(embeddings.shape)}")
        module = cls(*embeddings.shape, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq, rng=0)
        dtype = np.float64 if embeddings.dtype == np.float64 else np.float32
        module.weight = Parameter(np.array(embeddings, dtype=dtype), requires_grad=not freeze, dtype=dtype)
        return module

    def forward(self, input) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, scale_grad_by_freq=self.scale_grad_by_freq,
                         owner=self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape) + (self.embedding_dim,)

    def cost(self, in_shape):
        """The table's values; a lookup multiplies nothing (0 MACs)."""
        return Cost(self.num_embeddings * self.embedding_dim, 0)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        """Unchanged: each output vector comes from its own index (an index array has no spatial axes
        in the ``(N, C, *S)`` sense; a sequence ``(N, L)`` keeps its positions one to one)."""
        return rf

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        text += "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return text + (", scale_grad_by_freq=True" if self.scale_grad_by_freq else "")


__all__ = ["embedding", "Embedding", "as_indices"]
