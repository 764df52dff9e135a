"""Shape ops with PyTorch's names, each with its backward: ``st.cat``, ``st.split``, ``st.permute``, ...

Views (``reshape``, ``transpose``, ``permute``, ``unsqueeze``, ``squeeze``, ``expand``, indexing),
joining (``cat``, ``stack``) and splitting (``split``, ``chunk``). The ``Tensor`` methods of the
same names delegate here. ``dim`` follows PyTorch: negative counts from the end, and a dim out of
range raises an ``AxisError`` (both an ``IndexError``, as in PyTorch, and a ``ValueError``).
"""

from __future__ import annotations

from itertools import accumulate, pairwise
from typing import Sequence

import numpy as np

from . import backend as _backend
from .checks import as_int, is_int
from .errors import ShapeError, shape_str
from .tensor import Tensor, as_tensor, unbroadcast
from .tensor_ops import _dim, _grad, _tensors


def _inverse(axes) -> tuple:
    """The permutation that undoes ``axes`` (``np.argsort`` in plain Python ints)."""
    return tuple(sorted(range(len(axes)), key=lambda i: axes[i]))


def _bounds(sizes) -> list:
    """Where each of pieces of ``sizes`` ends, but the last: the split points of ``xp.split``."""
    return list(accumulate(sizes))[:-1]


def dims_of(dims) -> tuple:
    """``f(0, 2, 1)`` and ``f((0, 2, 1))`` alike."""
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else tuple(dims)


# ------------------------------------------------------------------------------------------ views
def reshape(x: Tensor, shape) -> Tensor:
    old = x.shape
    return Tensor.from_op(x.data.reshape(shape), (x,), lambda g: (g.reshape(old),), "reshape")


def transpose(x: Tensor, axes) -> Tensor:
    """NumPy's transpose (``Tensor.transpose``): output axis ``i`` is input axis ``axes[i]``, unchecked."""
    out = x.data.transpose(axes)                                        # raises on axes that are no permutation
    inverse = _inverse([int(a) % x.ndim for a in axes]) if axes else ()  # negative axes count from the end
    return Tensor.from_op(out, (x,), lambda g: (g.transpose(inverse),), "transpose")


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` with NumPy's indexing; repeated fancy indices accumulate their gradients."""
    if isinstance(index, Tensor):
        index = index.data.astype(np.int64)
    shape, dtype = x.shape, x.data.dtype
    backend = _backend.backend_of(x.data)

    def backward(g):
        full = backend.xp.zeros(shape, dtype=dtype)                     # (*S)
        backend.add_at(full, index, g)                                  # handles repeated fancy indices
        return (full,)
    return Tensor.from_op(backend.xp.asarray(x.data[index]), (x,), backward, "getitem")


def permute(input, dims) -> Tensor:
    """The axes of ``input`` reordered: output axis ``i`` is input axis ``dims[i]``.

    Args:
        input: a ``Tensor`` or an array.
        dims: a permutation of its axes.

    Shape: ``(S_0, ..., S_k) -> (S_dims[0], ..., S_dims[k])``.

    Example:
        >>> permute(np.zeros((2, 3, 4)), (2, 0, 1)).shape
        (4, 2, 3)
    """
    x = as_tensor(input)
    dims = tuple(dims)
    if len(dims) != x.ndim:
        raise ValueError(f"permute: expected {x.ndim} dims for a {shape_str(x.shape)} tensor, got {dims}")
    axes = tuple(_dim(a, x.ndim, "permute") for a in dims)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} repeat an axis; expected a permutation of {tuple(range(x.ndim))}")
    inverse = _inverse(axes)
    return Tensor.from_op(x.data.transpose(axes), (x,), lambda g: (g.transpose(inverse),), "permute")


def unsqueeze(input, dim: int) -> Tensor:
    """A new axis of size 1 at ``dim`` (``-1`` appends one). Shape: ``(*S) -> (*S[:dim], 1, *S[dim:])``.

    Args:
        input: a ``Tensor`` or an array.
        dim: where the new axis goes.

    Example:
        >>> unsqueeze(np.zeros((2, 3)), 1).shape
        (2, 1, 3)
    """
    x = as_tensor(input)
    d = _dim(dim, x.ndim, "unsqueeze", extra=1)
    shape = x.shape
    return Tensor.from_op(_backend.namespace(x.data).expand_dims(x.data, d), (x,), lambda g: (g.reshape(shape),),
                          "unsqueeze")


def squeeze(input, dim=None) -> Tensor:
    """The axes of size 1 removed: all of them, or those of ``dim`` (an int or a tuple) that have
    size 1 (others are kept, as in PyTorch).

    Args:
        input: a ``Tensor`` or an array.
        dim: an axis or a tuple of axes to remove (``None``: every axis of size 1).

    Example:
        >>> squeeze(np.zeros((1, 3, 1))).shape
        (3,)
    """
    x = as_tensor(input)
    shape = x.shape
    if dim is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(sorted({a for a in (_dim(d, x.ndim, "squeeze") for d in dims) if x.ndim and shape[a] == 1}))
    return Tensor.from_op(_backend.namespace(x.data).squeeze(x.data, axes), (x,), lambda g: (g.reshape(shape),),
                          "squeeze")


def expand(input, *sizes) -> Tensor:
    """``input`` broadcast to ``sizes`` without copying, as ``Tensor.expand``: ``-1`` keeps an axis,
    new axes go in front, and only axes of size 1 grow.

    Args:
        input: a ``Tensor`` or an array.
        *sizes: the new sizes (ints, or one tuple); ``-1`` keeps an axis.

    Shape: ``(*S) -> sizes``.

    >>> expand(Tensor([[1.0], [2.0]]), -1, 3).shape
    (2, 3)
    """
    x = as_tensor(input)
    sizes = dims_of(sizes)
    if len(sizes) < x.ndim or not all(is_int(s) and s >= -1 for s in sizes):
        raise ValueError(f"expand: expected at least {x.ndim} sizes, each an int >= 0 or -1 (keep), "
                         f"for a {shape_str(x.shape)} tensor, got {sizes}")
    lead = len(sizes) - x.ndim
    if any(s == -1 for s in sizes[:lead]):
        raise ValueError(f"expand: -1 is not allowed for the new leading axes, got {sizes}")
    target = tuple(int(s) for s in sizes[:lead]) + tuple(
        n if s == -1 else int(s) for n, s in zip(x.shape, sizes[lead:]))
    for n, s in zip(x.shape, target[lead:]):
        if n != 1 and n != s:
            raise ShapeError(f"expand: a {shape_str(x.shape)} tensor cannot grow to {shape_str(target)}: "
                             f"only axes of size 1 grow")
    shape = x.shape
    return Tensor.from_op(_backend.namespace(x.data).broadcast_to(x.data, target), (x,),
                          lambda g: (unbroadcast(g, shape),), "expand")


# ------------------------------------------------------------------------------------------ joining
def _sequence(tensors, owner: str) -> list:
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence) or not tensors:
        raise TypeError(f"{owner}: expected a non-empty sequence of tensors, got {type(tensors).__name__}")
    return _tensors(*tensors, owner=owner, names=[f"tensors[{i}]" for i in range(len(tensors))])


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along the existing axis ``dim``, as ``torch.cat``.

    Args:
        tensors: a sequence of tensors or arrays.
        dim: the axis joined along.

    Shape: ``(*, n_i, *)`` for each input, all other axes equal -> ``(*, sum(n_i), *)``.

    >>> cat([Tensor(np.zeros((2, 3))), Tensor(np.ones((1, 3)))]).shape
    (3, 3)
    """
    ts = _sequence(tensors, "cat")
    first = ts[0].shape
    if len(first) == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    d = _dim(dim, len(first), "cat")
    for t in ts:
        if len(t.shape) != len(first) or t.shape[:d] != first[:d] or t.shape[d + 1:] != first[d + 1:]:
            expected = shape_str(first[:d] + ("*",) + first[d + 1:])
            raise ShapeError(f"cat: expected tensors of shape {expected} (equal on every axis but dim={dim}), "
                             f"got {', '.join(shape_str(u.shape) for u in ts)}")
    xp = _backend.namespace(ts[0].data)
    out = xp.concatenate([t.data for t in ts], axis=d)                  # (*, sum n_i, *)
    bounds = _bounds([t.shape[d] for t in ts])

    def backward(g):
        return tuple(_grad(piece, t) for piece, t in zip(xp.split(g, bounds, axis=d), ts))   # views of g
    return Tensor.from_op(out, tuple(ts), backward, "cat")


def stack(tensors, dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new axis ``dim``, as ``torch.stack``.

    Args:
        tensors: a sequence of equally shaped tensors or arrays.
        dim: where the new axis goes.

    Shape: ``k`` inputs ``(*S)`` -> ``(*S[:dim], k, *S[dim:])``.

    Example:
        >>> stack([np.zeros((2, 3)), np.ones((2, 3))], dim=1).shape
        (2, 2, 3)
    """
    ts = _sequence(tensors, "stack")
    shapes = {t.shape for t in ts}
    if len(shapes) != 1:
        raise ShapeError(f"stack: expected tensors of equal shape, got {', '.join(shape_str(t.shape) for t in ts)}")
    d = _dim(dim, ts[0].ndim, "stack", extra=1)
    xp = _backend.namespace(ts[0].data)
    out = xp.stack([t.data for t in ts], axis=d)                        # (*S[:d], k, *S[d:])

    def backward(g):
        pieces = xp.moveaxis(g, d, 0)                                   # (k, *S), a view
        return tuple(_grad(piece, t) for piece, t in zip(pieces, ts))
    return Tensor.from_op(out, tuple(ts), backward, "stack")


def _narrow(x: Tensor, d: int, start: int, stop: int) -> Tensor:
    """``x`` restricted to ``start:stop`` on axis ``d`` (a view); the gradient is zero elsewhere."""
    index = (slice(None),) * d + (slice(start, stop),)
    xp = _backend.namespace(x.data)

    def backward(g):
        gx = xp.zeros(x.shape, dtype=g.dtype)                           # (*S)
        gx[index] = g
        return (gx,)
    return Tensor.from_op(x.data[index], (x,), backward, "split")


def _splittable(value, owner: str) -> Tensor:
    x = as_tensor(value)
    if x.ndim == 0:
        raise ShapeError(f"{owner}: a zero-dimensional tensor has no axis to split")
    return x


def split(tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``tensor`` along ``dim``, as ``torch.split``: of ``split_size_or_sections`` each (the
    last one smaller when the size does not divide), or of the listed sizes, which must add up.

    Args:
        tensor: a ``Tensor`` or an array.
        split_size_or_sections: the size of every piece (an int) or the list of their sizes.
        dim: the axis split.

    >>> [p.shape for p in split(Tensor(np.zeros((5, 2))), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    x = _splittable(tensor, "split")
    d = _dim(dim, x.ndim, "split")
    n = x.shape[d]
    if is_int(split_size_or_sections):
        size = as_int(split_size_or_sections, "split_size", "split")
        sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
    elif isinstance(split_size_or_sections, Sequence) and all(is_int(s) and s >= 0 for s in split_size_or_sections):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sections {list(sizes)} must add up to the size {n} of dim {dim} "
                             f"of a {shape_str(x.shape)} tensor")
    else:
        raise TypeError(f"split: split_size_or_sections must be a positive int or a sequence of non-negative ints, "
                        f"got {split_size_or_sections!r}")
    starts = list(accumulate([0] + sizes))
    return tuple(_narrow(x, d, a, b) for a, b in pairwise(starts))


def chunk(input, chunks: int, dim: int = 0) -> tuple:
    """``chunks`` pieces along ``dim`` (fewer when the size is small), each ``ceil(n / chunks)`` long
    but the last, as ``torch.chunk``.

    Args:
        input: a ``Tensor`` or an array.
        chunks: the number of pieces wanted.
        dim: the axis split.

    Example:
        >>> [t.shape for t in chunk(np.zeros((5, 2)), 2)]
        [(3, 2), (2, 2)]
    """
    x = _splittable(input, "chunk")
    chunks = as_int(chunks, "chunks", "chunk")
    d = _dim(dim, x.ndim, "chunk")
    n = x.shape[d]
    if n == 0:
        return tuple(_narrow(x, d, 0, 0) for _ in range(chunks))
    return split(x, -(-n // chunks), d)


__all__ = ["reshape", "transpose", "getitem", "permute", "unsqueeze", "squeeze", "expand", "cat", "stack", "split",
           "chunk", "dims_of"]
