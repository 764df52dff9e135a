"""The padding op: constant (zero), reflection, replication and circular, with PyTorch's ``pad`` convention.

``pad(x, pad, mode, value)`` takes PyTorch's flat tuple, last axis first:
``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the last two,
``(left, right, top, bottom, front, back)`` the last three. A negative amount crops.
``pad_axes`` is the same op with one ``(lo, hi)`` pair per axis in natural order (first axis
first), the form the layers (``ConstantPad2d``, ``ReflectionPad2d``, ...: ``padding_layers.py``)
and ``Conv*d(padding_mode=...)`` use.

Every mode is a map from output positions to input positions, axis by axis. ``constant`` copies
the kept part of the input into a buffer filled with ``value`` (its backward crops the gradient);
the other modes gather each axis through an index array (``pad_index``) with ``take_axis``, and
their backward is the adjoint, ``take_axis_adjoint``: the gradient of every output position is
added to the input position it copied, one axis at a time in reverse order. Interpolation
(``upsample.py``) uses the same two primitives.

Output position ``j`` of an axis of size ``S`` padded by ``(lo, hi)`` stands at input position
``i = j - lo`` (PyTorch's semantics, negative pads included):

* ``reflect``: ``i`` mirrored at the edges without repeating them (``dcb|abcd|cba``); each pad
  must be less than ``S``;
* ``replicate``: ``i`` clamped to ``[0, S - 1]`` (``aaa|abcd|ddd``);
* ``circular``: the kept part (after the negative pads crop) repeated periodically
  (``bcd|abcd|abc``); each pad can wrap around at most once (at most the kept size).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import backend_of, namespace
from ..checks import as_number, is_int
from ..errors import ShapeError, expected_input
from ..tensor import Tensor, as_tensor
from ..windows import batch_last, empty_like_layout, unpad
from ..windows import pad as fill_pad
from .allocation import check_bytes
from .helpers import SPATIAL_NAMES

PAD_MODES = ("constant", "reflect", "replicate", "circular")
CONV_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


# ------------------------------------------------------------------------------------- gather by index
def take_axis(a: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """``a`` gathered along ``axis`` by ``index`` (``out[..., j, ...] = a[..., index[j], ...]``), in ``a``'s layout.

    ``index`` is a small host (NumPy) integer array, moved to ``a``'s device for the gather.
    Returns ``a`` itself when ``index`` is ``0, 1, ..., S - 1``.
    Shape: ``(..., S, ...) -> (..., len(index), ...)``.
    """
    if len(index) == a.shape[axis] and np.array_equal(index, np.arange(len(index))):
        return a
    out = empty_like_layout(a, a.shape[:axis] + (len(index),) + a.shape[axis + 1:])
    src, dst = a, out
    if axis > 0 and not a.flags.c_contiguous and batch_last(a):        # gather on the contiguous (C, *S, N) views
        move = tuple(range(1, a.ndim)) + (0,)
        src, dst, axis = a.transpose(move), out.transpose(move), axis - 1
    backend = backend_of(a)
    backend.take(src, backend.xp.asarray(index), axis, dst)
    return out


def take_axis_adjoint(g: np.ndarray, index: np.ndarray, axis: int, size: int) -> np.ndarray:
    """The adjoint of ``take_axis``: ``gx[..., i, ...] = sum of g[..., j, ...] over j with index[j] == i``.

    Vectorised as one segmented sum: the positions are sorted by the index they read (no sort for
    a non-decreasing index: replication, interpolation), and each run of equal indices is summed
    in order, one gather of the runs' ``k``-th members at a time (``K`` gathers for runs of at
    most ``K``); the sums land on their (distinct) input positions. ``np.add.reduceat`` did the
    same sums about 10x slower (an Upsample's backward on 32x64x64x64 float32: 20 ms a call
    against 2-3 ms), the same order of additions. ``index`` is a host integer array (its sorting
    and run-finding stay on the host).
    Shape: ``(..., len(index), ...) -> (..., size, ...)``.
    """
    xp = namespace(g)
    if len(index) == size and np.array_equal(index, np.arange(size)):
        return g
    if len(index) == 0:
        return xp.zeros_like(g, shape=g.shape[:axis] + (size,) + g.shape[axis + 1:])
    order = None if np.all(index[1:] >= index[:-1]) else np.argsort(index, kind="stable")
    ordered = index if order is None else index[order]                 # (J,) non-decreasing
    gs = g if order is None else take_axis(g, order, axis)              # (..., J, ...) in that order
    starts = np.flatnonzero(np.diff(ordered, prepend=-1))              # (U,) first position of each run
    lengths = np.diff(starts, append=len(ordered))                      # (U,) run lengths
    sums = take_axis(gs, starts, axis)                                  # (..., U, ...) each run's first member
    for k in range(1, int(lengths.max())):                              # then its k-th, added in order
        longer = lengths > k                                            # (U,) the runs that have one
        member = take_axis(gs, starts[longer] + k, axis)                # (..., U_k, ...)
        if longer.all():
            sums += member
        else:
            sums[(slice(None),) * axis + (xp.asarray(np.flatnonzero(longer)),)] += member   # distinct runs
    targets = ordered[starts]                                           # (U,) distinct, increasing
    if len(targets) == size:                                            # every input position was read
        return sums
    gx = xp.zeros_like(g, shape=g.shape[:axis] + (size,) + g.shape[axis + 1:])
    gx[(slice(None),) * axis + (xp.asarray(targets),)] = sums
    return gx


# ------------------------------------------------------------------------------------- the op
def check_mode(mode, owner: str, modes=PAD_MODES, name: str = "mode") -> str:
    """``mode`` if it is one of ``modes``, else a ``ValueError`` listing them."""
    if not isinstance(mode, str) or mode not in modes:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(repr(m) for m in modes)}, got {mode!r}")
    return mode


def padded_sizes(sizes, pads, mode: str, owner: str) -> tuple[int, ...]:
    """The padded sizes ``S + lo + hi``, after PyTorch's limits for ``mode`` (``ShapeError`` otherwise)."""
    out = []
    for n, (lo, hi) in zip(sizes, pads):
        size = n + lo + hi
        kept = n - max(-lo, 0) - max(-hi, 0)                          # what negative pads leave of the input
        where = f"padding {(lo, hi)} of an axis of size {n}"
        if kept < 0 or size < (0 if mode == "constant" else 1):
            raise ShapeError(f"{owner}: {where} crops more than the axis holds")
        if mode != "constant" and n < 1:
            raise ShapeError(f"{owner}: {mode} padding needs a non-empty axis, got {where}")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ShapeError(f"{owner}: reflect padding must be less than the input size on each side, got {where}")
        if mode == "circular" and max(lo, hi) > kept:
            raise ShapeError(f"{owner}: circular padding wraps around at most once, so each pad must be at "
                             f"most the kept size {kept}, got {where}")
        out.append(size)
    return tuple(out)


def pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """The input position each output position of one axis copies, for a non-constant ``mode``.

    Shape: ``(n + lo + hi,)``, values in ``[0, n)``. The limits are checked by ``padded_sizes``.
    """
    i = np.arange(n + lo + hi) - lo                                     # (O,) output positions in input coordinates
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "reflect":
        i = np.abs(i)                                                   # one fold at each edge suffices (pads < n)
        return np.where(i > n - 1, 2 * (n - 1) - i, i)
    start = max(-lo, 0)                                                 # circular: the kept part, repeated
    kept = n - start - max(-hi, 0)
    return start + (np.arange(n + lo + hi) - max(lo, 0)) % kept


def pad_axes(x, pads, mode: str = "constant", value: float = 0.0, owner: str = "pad") -> Tensor:
    """Pad the last ``len(pads)`` axes of ``x``, axis ``a`` by ``pads[a] = (lo, hi)`` (negative crops).

    Shape: ``(*, *S) -> (*, *(S + lo + hi))``, in ``x``'s memory layout.
    """
    x = as_tensor(x)
    d = len(pads)
    lead = x.ndim - d
    sizes = padded_sizes(x.shape[lead:], pads, mode, owner)
    check_bytes(owner, math.prod(x.shape[:lead] + sizes) * x.data.itemsize, f"its output {x.shape[:lead] + sizes}",
                x.shape)
    if mode == "constant":
        keep = (Ellipsis,) + tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape[lead:], pads))
        grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
        out = fill_pad(x.data[keep], grow, value)                       # (*, *(S + lo + hi))
        cropped = any(lo < 0 or hi < 0 for lo, hi in pads)

        def backward(g):
            gk = unpad(g, grow)                                         # (*, *kept), a view
            if not cropped:
                return (gk,)
            gx = namespace(g).zeros_like(x.data, dtype=g.dtype)         # (*, *S), in the input's layout
            gx[keep] = gk
            return (gx,)
        return Tensor.from_op(out, (x,), backward, "pad")

    index = [pad_index(n, lo, hi, mode) for n, (lo, hi) in zip(x.shape[lead:], pads)]
    out = x.data
    for a, idx in enumerate(index):                                     # one axis at a time
        out = take_axis(out, idx, lead + a)                             # (*, S'_0.., S'_a, S_a+1..)

    def backward(g):
        for a in reversed(range(d)):                                    # the adjoint of each gather, last first
            g = take_axis_adjoint(g, index[a], lead + a, x.shape[lead + a])
        return (g,)
    return Tensor.from_op(out, (x,), backward, f"pad_{mode}")


def torch_pairs(flat) -> tuple[tuple[int, int], ...]:
    """PyTorch's flat ``(left, right, top, bottom, ...)`` (last axis first) as ``(lo, hi)`` pairs, first axis first."""
    return tuple((flat[2 * i], flat[2 * i + 1]) for i in reversed(range(len(flat) // 2)))


def pad(x, pad, mode: str = "constant", value=None) -> Tensor:
    """PyTorch's ``F.pad``: pad the last ``len(pad) // 2`` axes, ``pad`` listing ``(lo, hi)`` from the last axis.

    ``mode``: ``'constant'`` (with ``value``, default 0; any input rank, negative amounts crop),
    ``'reflect'``, ``'replicate'`` or ``'circular'`` (the last 1, 2 or 3 axes of an input
    ``(N, C, *S)`` or ``(C, *S)``; see the module notes for their limits).

    Args:
        x: the input, a ``Tensor`` or an array.
        pad: ``(lo, hi)`` amounts from the last axis backwards: ``(left, right, top, bottom, ...)``.
        mode: ``'constant'``, ``'reflect'`` (mirror without the edge), ``'replicate'`` (repeat the
            edge) or ``'circular'`` (wrap around).
        value: the fill of ``'constant'`` (``None``: 0).

    Shape: ``(*, S_1, ..., S_k) -> (*, S_1 + lo_1 + hi_1, ..., S_k + lo_k + hi_k)``.

    >>> pad(np.arange(4.0).reshape(1, 1, 4), (2, 1), mode="reflect").data.tolist()
    [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]]
    """
    owner = "pad"
    x = as_tensor(x)
    if not isinstance(pad, (tuple, list)) or not all(is_int(p) for p in pad):
        raise TypeError(f"{owner}: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise ValueError(f"{owner}: pad must have an even length ((lo, hi) per axis, last axis first), got {pad!r}")
    check_mode(mode, owner)
    k = len(pad) // 2
    if mode == "constant":
        if k > x.ndim:
            raise expected_input(owner, f"at least {k} axes for pad={tuple(pad)!r}", x.shape)
    else:
        if value is not None and value != 0:
            raise ValueError(f"{owner}: mode={mode!r} takes no value, got value={value!r}")
        if k not in SPATIAL_NAMES or x.ndim not in (k + 1, k + 2):
            raise expected_input(owner, f"(N, C, *S) or (C, *S) with {len(pad)} pad values for mode={mode!r} "
                                        "(2, 4 or 6 values pad the last 1, 2 or 3 axes)", x.shape)
    value = 0.0 if value is None else as_number(value, "value", owner)
    if k == 0:
        return x
    return pad_axes(x, torch_pairs(tuple(int(p) for p in pad)), mode, value, owner)
