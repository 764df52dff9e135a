"""The sliding-window primitive shared by convolution and every pooling op.

Spatial axes are the last ``d`` axes of an array ``(N, C, *spatial)``. A window position is
an output index ``o`` (per axis) and a kernel offset ``k``; it reads the padded input at
``o * stride + k * dilation``. Three ways of walking the windows are offered:

* ``window_columns`` + ``column_blocks`` + ``gather_block`` / ``scatter_block``: the windows as
  one strided view in column order, copied (or folded back) one cache-sized block of output
  positions at a time, for BLAS products that never need the whole column matrix (convolution);
* ``im2col`` / ``col2im``: all windows copied into one matrix at once (locally-connected
  layers);
* ``Window.taps``: for each kernel offset, the strided slice of the padded input that it
  touches for every output at once, so pooling and ``col2im`` loop over the few kernel
  offsets, never over batch elements or output pixels.

Every function takes the geometry as one resolved ``geometry.Window``.

Memory layout. Arrays keep PyTorch's logical shape ``(N, C, *S)``, but the column matrices
order their columns position-major, example-minor (``(*O, N)``), and a convolution's output is
its matrix product ``(C_out, *O, N)`` seen through a transposed view: a *batch-last* array
(``batch_last``). Element-wise ops keep the layout (NumPy allocates outputs in the inputs'
memory order) and so do the backward passes (a gradient is allocated in its tensor's layout),
pooling and padding allocate in it (``empty_like_layout``), so between layers no transpose is
copied, and every strided window slice has the batch as a long contiguous inner
axis. For ``N = 1`` the layout is plain C order.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple, Sequence

import numpy as np

from . import fast
from .backend import backend_of, namespace
from .geometry import Window

Pads = Sequence[tuple[int, int]]


def batch_last(x: np.ndarray) -> bool:
    """Whether ``x`` ``(N, C, *S)`` lies in memory as a C-contiguous ``(C, *S, N)`` (see the module notes)."""
    return x.ndim >= 2 and x.transpose(tuple(range(1, x.ndim)) + (0,)).flags.c_contiguous


def to_batch_last(x: np.ndarray) -> np.ndarray:
    """``x`` ``(N, C, *S)`` itself when batch-last, else a batch-last copy (same shape and values)."""
    if batch_last(x):
        return x
    moved = tuple(range(1, x.ndim)) + (0,)
    return namespace(x).ascontiguousarray(x.transpose(moved)).transpose((x.ndim - 1,) + tuple(range(x.ndim - 1)))


def empty_like_layout(like: np.ndarray, shape: Sequence[int], dtype=None) -> np.ndarray:
    """An uninitialised array of ``shape`` (same rank as ``like``) in ``like``'s memory order."""
    return namespace(like).empty_like(like, dtype=dtype, shape=tuple(shape))


SMALL_PAD_BYTES = 1 << 16
"""Below this size ``pad`` zero-fills the whole output and copies the interior (two NumPy calls):
at batch 1 the call overhead of filling each border strip separately is the larger cost."""


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the last ``len(pads)`` axes of ``x`` by ``(lo, hi)`` each with ``value``, keeping its layout.

    Shape: ``(*lead, *S) -> (*lead, *(S + lo + hi))``. Returns ``x`` itself when nothing is padded.
    """
    geometry = _pad_geometry(x.shape, pads if type(pads) is tuple else tuple(map(tuple, pads)))
    if geometry is None:                                                # nothing padded
        return x
    shape, interior = geometry
    xp = namespace(x)
    if value == 0 and x.nbytes < SMALL_PAD_BYTES:                       # few calls beat few bytes here
        # in x's memory order: plain zeros when that is C order (zeros_like costs a Python call more)
        out = xp.zeros(shape, dtype=x.dtype) if x.flags.c_contiguous else xp.zeros_like(x, shape=shape)
        out[interior] = x
        return out
    out = xp.empty_like(x, shape=shape)                                 # in x's memory order
    # fill only the border strips, then copy the interior once
    for axis, (lo, hi) in enumerate(pads):
        ax = x.ndim - len(pads) + axis
        if lo:
            out[(slice(None),) * ax + (slice(0, lo),)] = value
        if hi:
            out[(slice(None),) * ax + (slice(out.shape[ax] - hi, None),)] = value
    out[interior] = x
    return out


@functools.lru_cache(maxsize=256)
def _pad_geometry(in_shape: tuple[int, ...], pads: Pads):
    """``(padded shape, interior index)`` of ``pad``, or ``None`` when nothing is padded; remembered
    because batch-1 inference pays for this per call (the key is two small tuples)."""
    if not any(lo or hi for lo, hi in pads):
        return None
    d = len(pads)
    shape = in_shape[:-d] + tuple(n + lo + hi for n, (lo, hi) in zip(in_shape[-d:], pads))
    interior = (Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_shape[-d:], pads))
    return shape, interior


def unpad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Inverse of ``pad``: drop ``(lo, hi)`` from each of the last ``len(pads)`` axes (a view)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    d = len(pads)
    return x[(Ellipsis,) + tuple(slice(lo, n - hi) for n, (lo, hi) in zip(x.shape[-d:], pads))]


def window_view(padded: np.ndarray, window: Window) -> np.ndarray:
    """A read-only strided view of all windows of the padded input, without copying.

    Shape: ``(N, C, *Sp) -> (N, C, *K, *O)`` with ``view[n, c, *k, *o] == padded[n, c, *(o*s + k*d)]``.
    The view is the backend's ``as_strided`` (on the CPU built straight on the dense buffer).
    """
    d = window.ndim
    lead_strides = padded.strides[:-d]
    axis_strides = padded.strides[-d:]
    shape = padded.shape[:-d] + window.kernel + window.out_sizes
    strides = lead_strides + tuple(a * di for a, di in zip(axis_strides, window.dilation)) + tuple(
        a * si for a, si in zip(axis_strides, window.stride))
    return backend_of(padded).as_strided(padded, shape, strides)


def im2col(padded: np.ndarray, window: Window, groups: int = 1) -> np.ndarray:
    """Copy every window into one column matrix per group: rows are kernel taps, columns are
    (output position, example) pairs, so a whole batch is one BLAS product per group.

    Shape: ``(N, C, *Sp) -> (G, C/G * prod(K), prod(O) * N)``; row ``(c, *k)``, column
    ``(*o, n)`` holds ``padded[n, c, *(o*stride + k*dilation)]``. From a batch-last ``padded``
    every copied run is ``N`` contiguous values.
    """
    n, c = padded.shape[:2]
    cols = namespace(padded).ascontiguousarray(window_columns(padded, window))   # (C, *K, *O, N), one copy
    return cols.reshape(groups, (c // groups) * math.prod(window.kernel), math.prod(window.out_sizes) * n)


# ------------------------------------------------------------------------- blocked im2col / col2im
COLUMN_BLOCK_BYTES = 4 << 20
"""Target size of one block of columns: small enough to stay in this kind of machine's last-level
cache between the copy that fills it and the matrix product that reads it (measured on the
ResNet-20 and LeNet-5 convolutions; 1-4 MiB all did well, a whole 75 MB column matrix ran at half
the speed)."""


class ColumnBlock(NamedTuple):
    """A block of output positions whose columns are one contiguous range of the column matrix.

    ``positions`` holds one slice per output axis; ``columns`` is the block's range of column
    indices ``(*O, N)`` flattened, so ``cols[..., columns]`` are exactly its columns.
    """

    positions: tuple[slice, ...]
    columns: slice


def column_blocks(out_sizes: Sequence[int], n: int, column_bytes: int,
                  budget: int | None = None) -> list[ColumnBlock]:
    """Split the output positions ``*O`` into blocks of about ``budget`` bytes of columns.

    A block fixes the leading output axes, takes a run of the next one and all of the rest, so its
    columns are contiguous in the ``(*O, N)`` order (the batch is never split). ``column_bytes`` is
    the size of one column (rows times item size). At least one position per block.
    """
    budget = COLUMN_BLOCK_BYTES if budget is None else budget
    return list(_column_blocks(tuple(out_sizes), n, column_bytes, budget))


@functools.lru_cache(maxsize=256)
def _column_blocks(out_sizes: tuple[int, ...], n: int, column_bytes: int, budget: int) -> tuple[ColumnBlock, ...]:
    """``column_blocks``, remembered: a pure function of small ints, asked once per convolution call."""
    out_sizes = tuple(int(o) for o in out_sizes)
    d = len(out_sizes)
    positions = math.prod(out_sizes)
    if positions * n * column_bytes <= budget:                         # the usual small case: one block
        return (ColumnBlock(tuple(slice(0, o) for o in out_sizes), slice(0, positions * n)),)

    def index_bytes(axis):                  # one index of `axis`, all later axes whole
        return n * column_bytes * math.prod(out_sizes[axis + 1:])

    # the outermost axis one of whose indices fits; a single position when none does
    axis = next((a for a in range(d) if index_bytes(a) <= budget), d - 1)
    run = max(1, min(out_sizes[axis], budget // index_bytes(axis)))
    per_index = n * math.prod(out_sizes[axis + 1:])                    # columns per index of `axis`
    rest = tuple(slice(0, o) for o in out_sizes[axis + 1:])
    blocks = []
    for lead in itertools.product(*(range(o) for o in out_sizes[:axis])):
        base = _flat_start(lead, out_sizes) * n                        # first column of (*lead, 0, ..., 0)
        for start in range(0, out_sizes[axis], run):
            stop = min(start + run, out_sizes[axis])
            positions = tuple(slice(i, i + 1) for i in lead) + (slice(start, stop),) + rest
            blocks.append(ColumnBlock(positions, slice(base + start * per_index, base + stop * per_index)))
    return tuple(blocks)


def _flat_start(lead: tuple[int, ...], out_sizes: tuple[int, ...]) -> int:
    """Flat position index of ``(*lead, 0, ..., 0)`` in C order over ``out_sizes``."""
    flat = 0
    for i, o in zip(lead, out_sizes):
        flat = flat * o + i
    return flat * math.prod(out_sizes[len(lead):])


def window_columns(padded: np.ndarray, window: Window) -> np.ndarray:
    """All windows of a padded input as a read-only view in the column order of ``im2col``.

    Shape: ``(N, C, *Sp) -> (C, *K, *O, N)``; copying it to a contiguous array and reshaping gives
    ``im2col``'s matrix, copying a ``ColumnBlock`` of it gives that block's columns.
    """
    view = window_view(padded, window)                                      # (N, C, *K, *O)
    return view.transpose(tuple(range(1, 2 + 2 * window.ndim)) + (0,))  # (C, *K, *O, N)


def gather_block(windows: np.ndarray, block: ColumnBlock, buffer: np.ndarray, groups: int = 1) -> np.ndarray:
    """Copy one block's columns out of ``window_columns`` into (the front of) ``buffer``.

    Shape: ``(C, *K, *O, N) -> (G, C/G * prod(K), block columns)``; ``buffer`` is flat and at
    least as large as the biggest block.
    """
    d = len(block.positions)
    part = windows[(slice(None),) * (1 + d) + block.positions]          # (C, *K, *Ob, N)
    out = buffer[:part.size].reshape(part.shape)
    namespace(out).copyto(out, part)
    rows = part.shape[0] * math.prod(part.shape[1:1 + d])
    return out.reshape(groups, rows // groups, -1)


def scatter_block(grid: np.ndarray, cols: np.ndarray, block: ColumnBlock, window: Window, accumulate: bool) -> None:
    """Adjoint of ``gather_block``: add (or, where windows never overlap, assign) one block's
    columns back onto the padded grid.

    Shape: ``cols`` ``(G, C/G * prod(K), block columns)`` onto ``grid`` ``(C, *Sp, N)`` (batch-last
    buffer), in place.
    """
    c = grid.shape[0]
    sizes = tuple(p.stop - p.start for p in block.positions)
    if _fast_fold_fits(grid, cols, window):                             # the compiled fold (fast/windows.py)
        first = tuple(p.start for p in block.positions)
        _fast_fold(grid, cols, window, first, sizes, accumulate)
        return
    cols = cols.reshape((c,) + window.kernel + sizes + (grid.shape[-1],))   # (C, *K, *Ob, N)
    for k in itertools.product(*(range(n) for n in window.kernel)):
        index = (slice(None),) + tuple(
            slice(p.start * s + ki * dl, (p.stop - 1) * s + ki * dl + 1, s)
            for p, ki, s, dl in zip(block.positions, k, window.stride, window.dilation)) + (slice(None),)
        if accumulate:
            grid[index] += cols[(slice(None),) + k]
        else:
            grid[index] = cols[(slice(None),) + k]


def col2im(cols: np.ndarray, lead: tuple[int, int], window: Window) -> np.ndarray:
    """Adjoint of ``im2col``: add every window's values back onto the padded input grid.

    Shape: ``(G, C/G * prod(K), prod(O) * N)`` (or any array of the same layout) -> ``(N, C, *Sp)``
    with ``lead = (N, C)``, batch-last: the sums accumulate in a ``(C, *Sp, N)`` buffer where each
    kernel offset's slab of ``cols`` lands without a transpose. One strided add per kernel
    offset, or a plain copy when the windows tile the grid exactly.
    """
    n, c = lead
    d = window.ndim
    cols = cols.reshape((c,) + window.kernel + window.out_sizes + (n,))  # (C, *K, *O, N)
    bl_shape = (c,) + window.padded_sizes + (n,)
    tiles = window.tiles
    xp = namespace(cols)
    out = xp.empty(bl_shape, dtype=cols.dtype) if tiles else xp.zeros(bl_shape, dtype=cols.dtype)   # (C, *Sp, N)
    if _fast_fold_fits(out, cols, window):                              # the compiled fold (fast/windows.py)
        _fast_fold(out, cols, window, (0,) * d, window.out_sizes, not tiles)
        return out.transpose((d + 1,) + tuple(range(d + 1)))            # (N, C, *Sp), batch-last
    for k, index in window.taps:
        index = (slice(None),) + index[1:] + (slice(None),)             # (C, *O, N) slice of the buffer
        if tiles:
            out[index] = cols[(slice(None),) + k]
        else:
            out[index] += cols[(slice(None),) + k]
    return out.transpose((d + 1,) + tuple(range(d + 1)))                # (N, C, *Sp), batch-last


def _fast_fold_fits(grid, cols, window: Window) -> bool:
    """Whether the compiled fold takes this grid ``(C, *Sp, N)`` and these columns: NumPy float
    arrays of one dtype, a C-contiguous grid, 1-D or 2-D windows, nothing empty."""
    return (window.ndim <= 2 and fast.applies(grid, cols) and grid.dtype == cols.dtype
            and grid.flags.c_contiguous and grid.size > 0 and cols.size > 0)


def _fast_fold(grid, cols, window: Window, first, sizes, accumulate: bool) -> None:
    """Fold columns ``(.., (*Ob, N))`` of the block of output positions starting at ``first``
    (``sizes`` of them per axis) onto ``grid`` ``(C, *Sp, N)`` with the compiled kernel, in place."""
    c, n = grid.shape[0], grid.shape[-1]
    lift = (1,) * (2 - window.ndim)                                     # 1-D as a 2-D window of height 1
    kernel, stride, dilation = lift + window.kernel, lift + window.stride, lift + window.dilation
    first, sizes = (0,) * len(lift) + tuple(first), lift + tuple(sizes)
    grid_2d = grid.reshape((c,) + lift + grid.shape[1:])                # (C, HP, WP, N), a view
    cols_2d = cols.reshape((c * kernel[0] * kernel[1],) + sizes + (n,))  # (C*KH*KW, OH, OW, N)
    fast.kernels("windows").scatter_windows(grid_2d, cols_2d, kernel[0], kernel[1], first[0], first[1],
                                            stride[0], stride[1], dilation[0], dilation[1], accumulate)


def to_channel_major(x: np.ndarray, groups: int = 1) -> np.ndarray:
    """Group the channels first and merge position and example: the column layout of ``im2col``.

    Shape: ``(N, C, *S) -> (G, C/G, prod(S) * N)``; free (a view) when ``x`` is batch-last.
    """
    n, c = x.shape[:2]
    m = namespace(x).ascontiguousarray(x.transpose(tuple(range(1, x.ndim)) + (0,)))   # (C, *S, N)
    return m.reshape(groups, c // groups, -1)


def channel_buffer(x: np.ndarray) -> np.ndarray:
    """``x`` as its batch-last buffer, the layout the compiled kernels read.

    Shape: ``(N, C, *S) -> (C, *S, N)``; a view when ``x`` is batch-last, else one copy.
    """
    return to_channel_major(x)[0].reshape(x.shape[1:] + x.shape[:1])


def from_channel_major(m: np.ndarray, n: int, spatial: Sequence[int]) -> np.ndarray:
    """Inverse of ``to_channel_major`` as a view: ``(G, C/G, prod(S) * N) -> (N, C, *S)``, batch-last."""
    c = m.shape[0] * m.shape[1]
    d = len(spatial)
    return m.reshape((c,) + tuple(spatial) + (n,)).transpose((d + 1,) + tuple(range(d + 1)))


def grouped_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for stacks of per-group matrices; one plain 2-D BLAS product when there is one group.

    Shape: ``(G, m, k) @ (G, k, p) -> (G, m, p)``.
    """
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return namespace(a).matmul(a, b)
