"""3x3 convolution at stride 1 by Winograd's minimal filtering F(4x4, 3x3), compiled by Numba.

A 3x3 convolution computes each 4x4 tile of outputs from a 6x6 tile of inputs. Winograd's
F(4x4, 3x3) (Lavin and Gray, 2016) does it with 36 multiplications per input-output channel
pair instead of 144: with the published transform matrices ``B`` (6x6), ``G`` (6x3) and ``A``
(6x4), a tile's output is ``A^T [(G g G^T) * (B^T d B)] A``. Summed over input channels, the
elementwise product becomes 36 independent matrix products, one per point of the 6x6 transform
grid, each ``(C_out, C_in) @ (C_in, tiles)``: the convolution's arithmetic drops to a quarter
and stays in the BLAS, while the transforms (a few additions per value) are compiled.

The two gradients are the same three steps transposed, with the same transforms:

* weight: ``gW = G^T [sum over tiles (A gY A^T) (B^T d B)^T] G``: 36 products ``(C_out, tiles) @
  (tiles, C_in)`` of the transformed output gradient with the transformed input (``Gy @ V^T``);
* input: ``gX`` = the tiles ``B [U^T (A gY A^T)] B^T`` added back onto the input grid, where
  neighbouring 6x6 tiles overlap by two rows and columns (``U^T @ Gy``).

Every buffer is batch-last (``(C, H, W, N)``, see ``windows``), so the transforms
(``winograd_tiles``) run along the batch, vectorised, one tile position at a time, or for a batch
under ``PHASE_BATCH`` along rows of tiles (``winograd_phases``, ``phase_runs``); the transformed
arrays are ``(36, C, T)`` with ``T = tiles_h * tiles_w * N`` (tile row, tile column, example). A
short batch in inference (a single image above all) has no batch to run along:
``channels_last_form`` sees it channels-last, ``(N, H, W, C)`` as ``N`` channels of a batch of
``C``, so the same kernels run along the channels (ResNet-18 at batch 1, same process
alternated: 22.2-23.1 -> 18.8-19.7 ms). The tiles go a chunk at a time (``CHUNK_BYTES`` of
transformed values): transformed, multiplied and transformed back while in cache (ResNet-20's
16-channel layers at batch 128, forward and backward: 15.0-15.5 ms whole, 11.7-12.3 ms in 4 MB
chunks; 1.5 MB chunks since, see ``chunks``). Padding is never materialised: a tile's values
outside the input read as zero. F(4x4, 3x3) multiplies rounding errors by the transforms' entries
(up to 5 and 1/24): in float32 the output differs from the direct sum by about 1e-6 of the
values' scale, well inside the parity tests' float32 tolerance.

``winograd_form`` plugs into ``nn.conv.conv`` as one of its forms (``winograd_fits`` says when).
"""

from __future__ import annotations

import weakref

import numpy as np

from ..tensor import is_grad_enabled
from ..threads import blas_kernels
from ..windows import channel_buffer, from_channel_major
from .gram import plane_gram
from .split import run_parts
from .winograd_chunks import SPLIT_ROWS, buffer_view, chunk_runs, chunks, even_runs, row_phases, split_parts
from .winograd_phases import PhaseRuns
from .winograd_tiles import TILE, BatchRuns, input_transform, output_transform

MIN_BATCH = 8                              # each transform's run: shorter runs lose (batch 4: 0.5x)
WIDE_CHANNELS = 32                         # from here the products saved pay for the transforms
NARROW_CHANNELS = 16                       # from here too with a batch of at least ``narrow_batch()``:
NARROW_BATCH = 64                          # ... with AVX2 BLAS kernels
NARROW_BATCH_AVX512 = 16                   # ... with OpenBLAS's AVX-512 ones, slower on im2col's narrow products
AVX512_BLAS_KERNELS = ("skylakex", "cooperlake", "sapphirerapids")
ONE_TILE_TRAINING = 32                     # one tile a side gains from this batch in training (any in inference)
SHORT_CHANNELS = 64                        # a batch under MIN_BATCH (``channels_last_form``): this many channels,
SHORT_TILES = 4                            # ... this many tiles a side
SHORT_MACS = 50_000_000                    # ... and this much im2col work (multiply-adds, the whole batch)
PHASE_BATCH = 64                           # under this batch, with at least PHASE_TILES tiles a row,
PHASE_TILES = 4                            # ... the transforms run along rows of tiles (``phase_runs``)
WEIGHT_ROWS = 4                            # channels-last products with fewer than C / WEIGHT_ROWS rows stream U
GRAM_CHANNELS = 64                         # from here the weight gradient's sums take ``gram.plane_gram``

# The transform matrices of F(4, 3) (Lavin and Gray, 2016); the kernels below spell them out.
B_T = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], dtype=np.float64)
# G g G^T for all 36 points at once: row 6*xi + nu, column 3*a + b holds G[xi, a] * G[nu, b].
# As one product of every filter, 512x512 filters took 3.3 ms (two products in float64: 19.7 ms).
G_KRON = np.kron(G, G)


def winograd_fits(x_shape, weight_shape, window, groups: int, training: bool = False) -> bool:
    """Whether a 2-D convolution takes ``winograd_form``: a 3x3 kernel at stride 1 and dilation 1 in
    one group, where the measured step (forward and both gradients when ``training``, else the
    forward) is faster than the im2col forms.

    The transforms run along the batch, so a batch under ``MIN_BATCH`` never gains that way (in
    inference it runs them along the channels instead, ``channels_last_form``). From it,
    layers of at least ``WIDE_CHANNELS`` input and output channels gain whose outputs fill at least
    75% of their 4x4 tiles, with two tiles a side, or one (in training from ``ONE_TILE_TRAINING``
    examples). Layers of ``NARROW_CHANNELS`` gain only from
    ``narrow_batch()`` examples: their products are small next to the transforms. Measured
    (batch-last float32, forward and backward with ``CHUNK_BYTES`` chunks; strided's im2col time
    over this form's; the AVX2 kernels unless said):

    * training, ResNet-20 at batch 128: 16 channels at 32x32 1.12-1.18x, 32 at 16x16 1.64x, 64 at
      8x8 2.1x. Batch 16 (the U-Net): 16 channels at 64x64 0.80x, 16 to 32 at 32x32 0.99x, 32 at
      32x32 1.18x, 64 at 16x16 1.54x, 128 at 8x8 1.5x; 16 channels at 32x32: batch 32 1.03x, 64
      1.07x. Batch 32: 64 channels at 32x32 1.87x, 128 at 16x16 2.15x; batch 8, 64 at 16x16 1.11x;
      batch 4 0.52x.
    * one tile a side (4x4 outputs), training, measured with the chunk floor of 128 columns
      (without it, 256 channels at batch 16 measured 0.6x): batch 16,
      32 channels 1.67x, 64 1.44x, 128 -> 256 1.27x, 256 1.49x, 512 1.36x; batch 32, 128 channels
      1.48x; batch 12, 256 channels 1.03x; batch 8: 64 channels 1.18x, 256 0.87x, 512 0.70x.
      Measured again on later code, whose im2col forms had become faster (hence a batch of 32),
      under OpenBLAS's AVX-512 kernels: batch 16, 32 channels 1.33x (a 0.2 ms layer, left to
      im2col), 64 0.94x, 128 0.79x, 128 -> 256 0.69x, 256 0.76x, 512 0.72x; batch 24, 256 channels
      0.77x; batch 32, 64 channels 1.17x, 128 -> 256 1.11x, 512 1.09x; under the AVX2 kernels
      (``OPENBLAS_CORETYPE=Haswell``) the same way: batch 16, 128 channels 0.82x, 128 -> 256
      0.71x, 256 0.76x, 512 0.82x; batch 32, 256 channels 1.21x. The U-Net's training step (its
      two 4x4 layers at batch 16), alternated in one process: 175.3 -> 168.7 ms median.
      Inference: batch 32, 256 channels 2.07x; 64, 512 channels 2.2x; batch 16: 32 channels
      0.88x, 128 1.03x, 256 1.42x, 512 1.04x; batch 8: 128 channels 0.76x, 256 0.95x. Again
      under AVX-512 (the weight's transform kept between calls, as in an evaluation loop): batch
      16, 32 channels 1.42x, 64 1.71x, 128 1.67x, 256 1.97x, 512 1.46x; batch 8, 64 channels
      1.22x, 128 1.31x, 256 1.57x; batch 32, 128 channels 1.90x, 256 2.50x.
    * inference: ResNet-18 at batch 32: 64 channels at 56x56 1.55x, 128 at 28x28 2.4x, 256 at
      14x14 1.84x, 512 at 7x7 1.29x; VGG-11 at batch 256 2.2-3.2x (512 at 4x4 2.2x); ResNet-20 at
      batch 128, 16 channels at 32x32 1.16x.
    * a batch under ``MIN_BATCH`` in inference takes ``channels_last_form`` (the transforms along
      the channels) from ``SHORT_CHANNELS`` channels, ``SHORT_TILES`` tiles a side and
      ``SHORT_MACS`` of im2col's multiply-adds over the batch (below it the form's 36 small
      products and five calls cost as much as they save). Against strided's im2col: batch 1, 64
      channels at 112x112 1.54-1.7x, at 56x56 1.88x (116 M multiply-adds); 128 at 28x28 1.9x; 256
      at 14x14 1.21x; 512 at 7x7 (two tiles a side: the products read 36 filter values a pair for
      4 tiles) 0.24x; at 38 M: 64 channels at 32x32 1.06-1.59x, 128 at 16x16 1.06x; 64 -> 128 at
      16x16 (19 M) 1.0x; 32 channels 1.0-1.17x, 16 at 128x128 0.69x. Batch 2: 64 at 56x56 1.41x,
      128 at 28x28 1.86x, 256 at 14x14 1.43x, 64 at 32x32 1.09x, 512 at 7x7 0.48x, 32 at 32x32
      0.8x. Batch 4: 1.14x, 1.74x, 1.66x, 1.23x, 0.82x, 0.86x. Batch 7: 64 at 56x56 1.18x (the
      batch-last form 0.73x), 128 at 28x28 1.68x. At batch 8 the two forms tie (64 at 56x56 9.2
      against 9.8 ms, 128 at 28x28 5.5 against 5.6), at 16 the batch-last form wins (64 at 32x32
      4.1 against 6.7 ms).
    """
    if not (groups == 1 and tuple(weight_shape[2:]) == (3, 3) and window.stride == (1, 1)
            and window.dilation == (1, 1) and len(x_shape) == 4):
        return False
    ho, wo = window.out_sizes
    tiles_h, tiles_w = tiles_along(ho), tiles_along(wo)
    filled = ho * wo / (TILE * tiles_h * TILE * tiles_w)
    channels, batch = min(weight_shape[0], x_shape[1]), x_shape[0]
    if 1 <= batch < MIN_BATCH and not training:
        macs = batch * ho * wo * 9 * weight_shape[0] * weight_shape[1]
        return (filled >= 0.75 and channels >= SHORT_CHANNELS and min(tiles_h, tiles_w) >= SHORT_TILES
                and macs >= SHORT_MACS)
    if batch < MIN_BATCH or filled < 0.75:
        return False
    if training and min(tiles_h, tiles_w) < 2 and batch < ONE_TILE_TRAINING:
        return False
    return channels >= WIDE_CHANNELS or (channels >= NARROW_CHANNELS and batch >= narrow_batch())


def narrow_batch() -> int:
    """The batch from which ``NARROW_CHANNELS`` layers gain: it depends on the BLAS's kernels, which
    set im2col's speed. 16 channels at batch 16, training, im2col time over this form's, same
    process: OpenBLAS's AVX-512 kernels 64x64 1.18-1.29x, 32 -> 16 channels 1.06-1.20x, 16 -> 32
    at 32x32 1.51x, batch 32 at 32x32 1.33x, batch 8 0.80-0.84x; with ``OPENBLAS_CORETYPE=Haswell``
    (AVX2), the same session 0.86x, 0.83-0.92x, 1.07x, 1.01-1.22x. A (16, 144) @ (144, 16384)
    product took 0.83 ms on the AVX-512 kernels against 0.51 ms on the AVX2 ones; the transforms
    are the same code either way."""
    return NARROW_BATCH_AVX512 if blas_kernels() in AVX512_BLAS_KERNELS else NARROW_BATCH


def tiles_along(size: int) -> int:
    """How many 4x4 tiles cover ``size`` outputs along one axis (the last one may be partial)."""
    return -(-size // TILE)


# ------------------------------------------------------------------------------------------ the form

def weight_transform(w: np.ndarray) -> np.ndarray:
    """``U[6*xi + nu] = (G g G^T)[xi, nu]`` per filter pair: one product with ``G (x) G``.

    Shape: ``w`` ``(K, C, 3, 3)`` -> ``(36, K, C)``, in ``w``'s dtype.
    """
    k, c = w.shape[:2]
    return (G_KRON.astype(w.dtype) @ w.reshape(k * c, 9).T).reshape(36, k, c)    # (36, 9) @ (9, K*C)


_KEPT_TRANSFORMS: dict[int, tuple] = {}     # id(frozen weight) -> (weakref to it, its read-only transform)
_CHECKED_TRANSFORMS: dict[int, tuple] = {}  # id(writeable weight) -> (weakref, a copy of its values, transform)


def weight_transform_of(w: np.ndarray, reuse: bool = False) -> np.ndarray:
    """``weight_transform(w)``, computed once for a frozen ``w`` (``nn.fusion.freeze``): a read-only
    array that owns its memory cannot change, so its transform is kept until ``w`` is freed.

    A writeable ``w`` is transformed at every call (a 512x512 layer's transform takes about 3.7 ms,
    as much as its batch-1 product), unless ``reuse`` (a call that gives ``w`` no gradient: an
    inference loop over weights that do not change between calls). Then its transform is kept with
    a copy of its values, and reused while ``w`` holds the same bits: the comparison reads ``w``
    and the copy (a 256x256 layer's 0.07 ms against 0.9 ms for its transform), and any change to
    ``w`` (an optimizer step, an assignment) computes it afresh. The copy and the transform cost
    five times ``w``'s memory until ``w`` is freed.

    Shape: ``w`` ``(K, C, 3, 3)`` -> ``(36, K, C)``.
    """
    if w.base is not None:                                              # a view: its base may change
        return weight_transform(w)
    key = id(w)
    if not w.flags.writeable:
        kept = _KEPT_TRANSFORMS.get(key)
        if kept is not None and kept[0]() is w:
            return kept[1]
        return _keep(_KEPT_TRANSFORMS, w, (weight_transform(w),))
    if not reuse:
        return weight_transform(w)
    kept = _CHECKED_TRANSFORMS.get(key)
    if kept is not None and kept[0]() is w and kept[1].shape == w.shape and kept[1].dtype == w.dtype:
        bits = np.dtype(f"u{w.itemsize}")                               # bit for bit: NaN equals itself
        if np.array_equal(kept[1].view(bits), w.view(bits)):
            return kept[2]
    return _keep(_CHECKED_TRANSFORMS, w, (w.copy(), weight_transform(w)))


def _keep(table: dict, w: np.ndarray, values: tuple) -> np.ndarray:
    """Record ``values`` (the transform last) for ``w`` in ``table`` until ``w`` is freed; return
    the transform, read-only."""
    key = id(w)
    values[-1].flags.writeable = False
    table[key] = (weakref.ref(w, lambda _, key=key: table.pop(key, None)),) + values
    return values[-1]


def weight_grad_transform(du: np.ndarray) -> np.ndarray:
    """``gW = G^T dU G`` per filter pair (the transpose of ``weight_transform``).

    Shape: ``du`` ``(36, K, C)`` -> ``(K, C, 3, 3)``.
    """
    k, c = du.shape[1:]
    return (du.reshape(36, k * c).T @ G_KRON.astype(du.dtype)).reshape(k, c, 3, 3)  # (K*C, 36) @ (36, 9)


def channels_last_form(x, weight, window):
    """A short batch without gradients: the transforms run along the channels instead of the batch.

    The images go channels-last, ``(N, H, W, C)``, seen by the kernels as ``N`` channels of a
    batch of ``C``: each tile position's channels are one contiguous run, and the transformed
    arrays come out ``(36, N, T, C)``, so the 36 products are ``V (N*T, C) @ U^T (C, K)``. With
    few rows (fewer than ``C / WEIGHT_ROWS``: 256 channels at 14x14 have 16 tiles) OpenBLAS runs
    that orientation 1.3-2x slower than ``U (K, C) @ V^T (C, N*T)``, which streams ``U`` past a
    small packed ``V^T``; there the form multiplies so and copies the transposed result into
    place (36 planes, 256 channels, 16 rows: 1.27 -> 0.63 ms). The output ``(N, Ho, Wo, K)`` is
    copied back to batch-last. Chunks as ``winograd_form``.

    Shape: ``x`` ``(N, C_in, H, W)``, ``weight`` ``(C_out, C_in, 3, 3)`` -> ``(1, C_out, Ho*Wo*N)``.
    """
    n, c_in = x.shape[:2]
    (ph, _), (pw, _) = window.pads
    ho, wo = window.out_sizes
    tiles_w = tiles_along(wo)
    tiles = tiles_along(ho) * tiles_w
    x_nhwc = np.ascontiguousarray(x.data.transpose(0, 2, 3, 1))         # (N, H, W, C): channels-last
    dtype = x_nhwc.dtype
    u = weight_transform_of(weight.data, reuse=True)                    # (36, K, C)
    c_out = u.shape[1]
    y = np.empty((n, ho, wo, c_out), dtype=dtype)                       # (N, Ho, Wo, K)
    runs = chunks(tiles, 36 * max(c_in, c_out) * n * dtype.itemsize, n, u.nbytes)
    parts = split_parts(c_in, c_out, n * runs[0][1], len(runs))
    runs = even_runs(runs, parts)
    streams_u = WEIGHT_ROWS * n * runs[0][1] < min(c_in, c_out)        # few rows: M^T = U @ V^T, then M
    columns = n * max(count for _, count in runs)
    buffers = [(np.empty(36 * c_in * columns, dtype=dtype), np.empty(36 * c_out * columns, dtype=dtype),
                np.empty(36 * c_out * columns, dtype=dtype) if streams_u else None) for _ in range(parts)]

    def forward_chunks(part):                                           # every ``parts``-th chunk
        v_flat, m_flat, m_t_flat = buffers[part]
        for first, count in runs[part::parts]:
            v = input_transform(x_nhwc, ph, pw, tiles_w, first, buffer_view(v_flat, (36, n, count * c_in)))
            v = v.reshape(36, n * count, c_in)                          # (36, N*T, C)
            m = buffer_view(m_flat, (36, n * count, c_out))             # (36, N*T, K)
            if streams_u:
                m_t = np.matmul(u, v.transpose(0, 2, 1), out=buffer_view(m_t_flat, (36, c_out, n * count)))
                m[...] = m_t.transpose(0, 2, 1)                         # (36, K, N*T) -> (36, N*T, K)
            else:
                np.matmul(v, u.transpose(0, 2, 1), out=m)               # V @ U^T
            output_transform(m.reshape(36, n, count * c_out), tiles_w, first, y)
    run_parts(forward_chunks, parts)
    buffers.clear()
    out = np.ascontiguousarray(y.transpose(3, 1, 2, 0))                 # (K, Ho, Wo, N): batch-last
    return out.reshape(1, c_out, ho * wo * n)


def phase_runs(n: int, tiles_w: int) -> bool:
    """Whether the batch-last form takes ``PhaseRuns``: a batch under ``PHASE_BATCH`` (shorter
    runs along it) and at least ``PHASE_TILES`` tiles a row (runs that many times longer). The
    figures are in ``winograd_phases``."""
    return n < PHASE_BATCH and tiles_w >= PHASE_TILES


def winograd_form(x, weight, window, groups: int):
    """``nn.conv``'s form for a 3x3 convolution at stride 1 by F(4x4, 3x3) (``winograd_fits``).

    Returns the forward product ``(1, C_out, P*N)`` and its backward ``(g, gm) -> (gx, gw)``.
    The tiles go ``CHUNK_BYTES`` of transformed values at a time (``chunks``): each chunk is
    transformed, multiplied and transformed back while it is still in cache. The transforms run
    along the batch (``BatchRuns``), or for a short batch along rows of tiles (``PhaseRuns``).
    Keeps the batch-last input (a view) only when the weight needs a gradient, and transforms it
    again for ``gW``. A batch under ``MIN_BATCH`` that needs no gradient goes to
    ``channels_last_form``. With more than one of strided's own threads the chunks are shared
    out (``winograd_chunks.split_parts``, ``row_phases``).
    """
    n, c_in = x.shape[:2]
    if n < MIN_BATCH and not (is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
        return channels_last_form(x, weight, window), lambda g, gm: (None, None)  # no gradient to give
    (ph, _), (pw, _) = window.pads
    ho, wo = window.out_sizes
    tiles_h, tiles_w = tiles_along(ho), tiles_along(wo)
    grids = (PhaseRuns if phase_runs(n, tiles_w) else BatchRuns)((ph, pw), tiles_h, tiles_w, n)
    x_buf = channel_buffer(x.data)                                      # (C, H, W, N), a view if batch-last
    dtype = x_buf.dtype
    u = weight_transform_of(weight.data, reuse=not (is_grad_enabled() and weight.requires_grad))   # (36, K, C)
    c_out = u.shape[1]
    runs = chunk_runs(grids, 36 * max(c_in, c_out) * n * dtype.itemsize, u.nbytes)
    longest = runs[0][1] * n                                            # columns of the longest chunk
    v_flat = np.empty(36 * c_in * longest, dtype=dtype)
    m_flat = np.empty(36 * c_out * longest, dtype=dtype)
    out_shape = (c_out, ho, wo, n)
    x_grid, y_grid = grids.input_grid(x_buf), grids.output_grid(out_shape, dtype)
    parts = split_parts(c_in, c_out, longest, len(runs))
    buffers = [(v_flat, m_flat)] + [(np.empty_like(v_flat), np.empty_like(m_flat)) for _ in range(parts - 1)]

    def forward_chunks(part):                                           # every ``parts``-th chunk: tiles apart
        v_flat, m_flat = buffers[part]
        for first, count in runs[part::parts]:
            v = grids.input(x_grid, first, buffer_view(v_flat, (36, c_in, count * n)))
            m = np.matmul(u, v, out=buffer_view(m_flat, (36, c_out, count * n)))       # (36, K, chunk)
            grids.output(m, first, y_grid)
    run_parts(forward_chunks, parts)
    del v_flat, m_flat
    buffers.clear()
    x_grid = None
    out = grids.output_result(y_grid, out_shape)                        # (K, Ho, Wo, N)
    y_grid = None
    kept = x_buf if weight.requires_grad else None

    def backward(g, gm):
        g_grid = grids.grad_output_grid(np.ascontiguousarray(gm).reshape(out_shape))   # from (K, Ho, Wo, N)
        x_grid = None if kept is None else grids.input_grid(kept)
        gx_grid = grids.grad_input_grid(x_buf.shape, dtype) if x.requires_grad else None
        parts = split_parts(c_in, c_out, longest, len(runs)) if tiles_h >= SPLIT_ROWS else 1
        sums = [np.zeros((36, c_out, c_in), dtype=dtype) if x_grid is not None else None  # (36, K, C) a part
                for _ in range(parts)]
        buffers = [(np.empty(36 * c_out * longest, dtype=dtype), np.empty(36 * c_in * longest, dtype=dtype))
                   for _ in range(parts)]                               # Gy, and V again then dV

        def backward_chunks(part, part_runs):
            gy_flat, v_flat = buffers[part]
            du, product = sums[part], None                              # product: one chunk's (36, K, C), BLAS
            for first, count in part_runs:
                gy = grids.grad_output(g_grid, first, buffer_view(gy_flat, (36, c_out, count * n)))
                if x_grid is not None:
                    v = grids.input(x_grid, first, buffer_view(v_flat, (36, c_in, count * n)))
                    if max(c_in, c_out) >= GRAM_CHANNELS:               # du += Gy @ V^T, (36, K, C)
                        plane_gram(gy, v, du, True)
                    else:
                        product = np.matmul(gy, v.transpose(0, 2, 1), out=product)
                        du += product
                if gx_grid is not None:
                    dv = np.matmul(u.transpose(0, 2, 1), gy, out=buffer_view(v_flat, (36, c_in, count * n)))
                    grids.grad_input(dv, first, gx_grid)

        if parts == 1:
            backward_chunks(0, runs)
        else:                                                           # tile rows of one parity at once
            for phase in row_phases(tiles_h, tiles_w, runs[0][1], parts):
                run_parts(lambda part, phase=phase: backward_chunks(part, phase[part]), parts)
        du = sums[0]
        for other in sums[1:] if du is not None else ():
            du += other                                                 # in the parts' order: the same bits
        gw = None if du is None else weight_grad_transform(du)         # (K, C, 3, 3)
        gx = None
        if gx_grid is not None:
            gx_buf = grids.grad_input_result(gx_grid, x_buf.shape)      # (C, H, W, N)
            gx = from_channel_major(gx_buf.reshape(1, c_in, -1), n, window.in_sizes)   # (N, C, H, W), batch-last
        return gx, gw
    return out.reshape(1, c_out, -1), backward
