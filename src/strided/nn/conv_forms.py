"""The forms of a convolution: the ways ``nn.conv.conv`` computes one call, each with its backward.

A form ``form(x, weight, window, groups)`` runs the forward product and returns it as
``(G, Cout/G, P*N)`` (the channel-major buffer of the batch-last output, see ``windows``) with
its backward, which holds only what it reads. ``conv`` picks one per call:

* ``pointwise_form``: a 1x1 kernel at stride 1 without padding; the input is its own column
  matrix, so no window is ever copied;
* ``folding_form``: any geometry; the backward unfolds the padded input's windows again for the
  weight gradient and folds ``W^T @ gY`` back onto the padded grid for the input gradient;
* ``flipped_form``: stride 1 with at least as many input as output channels (training); the
  input gradient is a convolution of the output gradient with the spatially flipped kernel, and
  the same windows of the output gradient give the weight gradient (no fold, no padded copy kept).

The forward of the windowed forms multiplies the weight matrix of each group by the windows of
the padded input in im2col's column order ``(C/G * prod(K), prod(O) * N)``, for the whole batch
at once, one cache-sized block of output positions at a time (``blocked_matmul``).

On the compiled path (``strided.fast``) two more forms live with their kernels: depthwise
convolution (``fast/depthwise.py``, when ``depthwise_fits``) and, for 3x3 inference at stride 1,
Winograd's F(4x4, 3x3) (``fast/winograd.py``, chosen by its measured ``winograd_fits``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import fast
from ..backend import CPU, namespace
from ..geometry import Window
from ..windows import (COLUMN_BLOCK_BYTES, column_blocks, from_channel_major, gather_block, grouped_matmul, pad, to_batch_last,
                       to_channel_major, unpad, window_columns)
from .blocked_matmul import add_gram, blocked_fold, blocked_product, blocked_weight_grad, widest

# form(x, weight, window, groups) -> (out_m (G, Cout/G, P*N), backward(g, gm) -> (gx, gw)), where g is
# the output gradient (N, Cout, *O) batch-last and gm its (G, Cout/G, P*N) view; None for a frozen side.

def pointwise_form(x, weight, window: Window, groups: int):
    """1x1 at stride 1 without padding: ``Y = W @ X``, ``gW = gY @ X^T``, ``gX = W^T @ gY`` on the
    channel-major ``(G, C/G, P*N)`` layout (free for a batch-last input); keeps ``X`` for ``gW``."""
    w = weight.data.reshape(groups, weight.shape[0] // groups, -1)    # (G, Cout/G, Cin/G)
    x_cols = to_channel_major(x.data, groups)                         # (G, Cin/G, P*N)
    out_m = grouped_matmul(w, x_cols)                                 # (G, Cout/G, P*N)
    kept = x_cols if weight.requires_grad else None

    def backward(g, gm):
        gx = gw = None
        if weight.requires_grad:
            gw = namespace(gm).zeros(w.shape, dtype=namespace(gm).result_type(gm, kept))   # (G, Cout/G, Cin/G)
            add_gram(gw, gm, kept)
            gw = gw.reshape(weight.shape)                               # (Cout, Cin/G, 1, ...)
        if x.requires_grad:
            gx_m = grouped_matmul(w.swapaxes(-1, -2), gm)                  # (G, Cin/G, P*N)
            gx = from_channel_major(gx_m, x.shape[0], window.in_sizes)     # (N, Cin, *S), batch-last view
        return gx, gw
    return out_m, backward


def folding_form(x, weight, window: Window, groups: int):
    """Any geometry. ``gW = gY @ im2col(padded)^T`` unfolds the kept padded input's windows again;
    ``gX`` folds ``W^T @ gY`` back onto the padded grid and crops it (``col2im``, by blocks).
    Keeps the padded input only when the weight needs a gradient."""
    n, c_in = x.shape[:2]
    w = weight.data.reshape(groups, weight.shape[0] // groups, -1)    # (G, Cout/G, Cin/G*K)
    out_m, _, windows, blocks = unfolded_product(x, w, window, groups)
    kept = windows if weight.requires_grad else None                   # (Cin, *K, *O, N), a view of the padded input

    def backward(g, gm):
        gx = gw = None
        if weight.requires_grad:
            gw = blocked_weight_grad(gm, kept, blocks, groups, w.shape[-1]).reshape(weight.shape)
        if x.requires_grad:
            grid = blocked_fold(w, gm, blocks, (n, c_in), window, groups)   # (Cin, *Sp, N)
            d = window.ndim
            gxp = grid.transpose((d + 1,) + tuple(range(d + 1)))            # (N, Cin, *Sp), batch-last view
            gx = unpad(gxp, window.pads)                                    # (N, Cin, *S), a view
        return gx, gw
    return out_m, backward


def depthwise_fits(x_shape, weight_shape, groups: int) -> bool:
    """Whether the depthwise kernel applies and pays: one input channel per filter (``groups == C_in``)
    and a batch of two or more. The kernel vectorises along the batch, so a single image runs it
    one element at a time: at batch 1 the NumPy form measured 1.1-2x faster (LeNet-5's first layer
    44 -> 21 us, MobileNetV2's 144-channel 24x24 layer 279 -> 242 us); from batch 2 the kernel wins
    or ties on MobileNetV2's layers."""
    return groups == x_shape[1] and weight_shape[1] == 1 and x_shape[0] >= 2


def flipped_form_fits(window: Window, in_channels: int, out_channels: int) -> bool:
    """Whether ``flipped_form`` applies and is the faster way for this layer.

    It needs stride 1 and no side padded by more than ``dilation * (K - 1)``; it wins when the
    input has at least as many channels as the output (measured on ResNet-20's layers: 1.6x at
    32 and 64 channels, even at 16; LeNet's 6 -> 16 layer folds 2.4x faster).
    """
    return (all(s == 1 for s in window.stride) and in_channels >= out_channels
            and all(max(lo, hi) <= e - 1 for (lo, hi), e in zip(window.pads, window.extent)))


def flipped_form(x, weight, window: Window, groups: int):
    """Stride 1: both gradients from the windows of the output gradient (``flipped_gradients``).
    Keeps the unpadded input's columns (a view of the batch-last input) only for ``gW``."""
    w = weight.data.reshape(groups, weight.shape[0] // groups, -1)    # (G, Cout/G, Cin/G*K)
    out_m, xb, _, _ = unfolded_product(x, w, window, groups)
    x_cols = to_channel_major(xb, groups) if weight.requires_grad else None   # (G, Cin/G, P*N)

    def backward(g, gm):
        gx_m, gw = flipped_gradients(weight.data, x_cols, g, window, groups)
        return from_channel_major(gx_m, x.shape[0], window.in_sizes), gw    # (N, Cin, *S), batch-last view
    return out_m, backward


def unfolded_product(x, w, window: Window, groups: int):
    """The forward of the windowed forms, ``W @ im2col(pad(x))`` by column blocks.

    Returns the product ``(G, Cout/G, P*N)``, the batch-last input ``(N, Cin, *S)``, the windows
    of the padded input ``(Cin, *K, *O, N)`` (a view) and the column blocks.
    """
    xb = to_batch_last(x.data)                                          # (N, Cin, *S), a copy only if not batch-last
    padded = pad(xb, window.pads)                                       # (N, Cin, *Sp), batch-last
    windows = window_columns(padded, window)                            # (Cin, *K, *O, N), a view
    blocks = column_blocks(window.out_sizes, x.shape[0], w.shape[-1] * groups * padded.itemsize)
    return blocked_product(w, windows, blocks, groups), xb, windows, blocks


def flipped_gradients(weight, x_cols, g, window: Window, groups: int):
    """Both gradients of a stride-1 convolution from the windows of its output gradient.

    ``gX = conv(pad(gY, d(K-1) - lo, d(K-1) - hi), W flipped in space, in and out channels
    swapped per group)``: each window of ``gY`` gathers every output its input position fed, so
    there is no fold and ``gX`` lands contiguous in the batch-last layout. The same windows give
    the weight gradient, ``gW[o, i, k] = sum_q x[i, q] * window[o, K-1-k, q]``: one gather per
    block serves both products, and the input is multiplied as it is (no windows of it).

    Shape: ``weight`` ``(Cout, Cin/G, *K)``, ``x_cols`` ``(G, Cin/G, prod(S) * N)`` or ``None``
    (no weight gradient), ``g`` ``(N, Cout, *O)`` batch-last -> ``gX`` ``(G, Cin/G, prod(S) * N)``
    and ``gW`` ``(Cout, Cin/G, *K)`` or ``None``.
    """
    xp = namespace(g)
    c_out, cin_g = weight.shape[:2]
    kernel, d = window.kernel, window.ndim
    flip = (slice(None), slice(None)) + (slice(None, None, -1),) * d
    wt = weight[flip].reshape((groups, c_out // groups, cin_g) + kernel).swapaxes(1, 2)
    wt = xp.ascontiguousarray(wt).reshape(groups, cin_g, -1)          # (G, Cin/G, Cout/G*K)
    # the windows of the output gradient, padded so that there is one per input position
    back = Window(kernel, (1,) * d, window.dilation, tuple((e - 1 - lo, e - 1 - hi) for e, (lo, hi) in
                                                           zip(window.extent, window.pads)),
                  window.out_sizes, window.in_sizes)
    gp = pad(g, back.pads)                                              # (N, Cout, *(S + d(K-1)))
    windows = window_columns(gp, back)                                  # (Cout, *K, *S, N)
    blocks = column_blocks(window.in_sizes, g.shape[0], wt.shape[-1] * groups * gp.itemsize)
    dtype = xp.result_type(wt, gp)
    gx_m = xp.empty((groups, cin_g, blocks[-1].columns.stop), dtype=dtype)   # (G, Cin/G, prod(S)*N)
    # the weight gradient accumulates as (G, Cout/G*K, Cin/G): that product order measured 10-15% faster
    gwt = None if x_cols is None else xp.zeros((groups, wt.shape[-1], cin_g), dtype=dtype)
    buffer = xp.empty(wt.shape[-1] * groups * widest(blocks), dtype=gp.dtype)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cout/G*K, m)
        xp.matmul(wt, cols, out=gx_m[..., block.columns])               # (G, Cin/G, m)
        if gwt is not None:
            add_gram(gwt, cols, x_cols[..., block.columns])             # (G, Cout/G*K, Cin/G)
    gw = None
    if gwt is not None:
        taps_last = xp.moveaxis(gwt.reshape((groups, c_out // groups) + kernel + (cin_g,)), -1, 2)
        gw = taps_last[(slice(None),) * 3 + (slice(None, None, -1),) * d]   # (G, Cout/G, Cin/G, *K), unflipped
        gw = xp.ascontiguousarray(gw).reshape(weight.shape)            # (Cout, Cin/G, *K)
    return gx_m, gw


def single_image_inference(x, weight, bias, window: Window):
    """The forward of one image without gradients, ``W @ im2col(pad(x)) + b`` in four NumPy calls,
    or ``None`` where it does not apply (another backend, mixed dtypes, a column matrix above one
    block, a 3x3 layer that Winograd's batch-1 form takes on the compiled path). ``conv``'s dtype, form and memory bookkeeping costs about as much as the product at
    batch 1: LeNet-5's two layers took 25 and 26 us through it, 17 and 19 us this way. Called by the layers
    with their checked ``window``; one group, so ``conv`` would take the folding (or, for a 1x1
    kernel, the pointwise) form and multiply the same matrices.

    Shape: ``x`` ``(1, C_in, *S)``, ``weight`` ``(C_out, C_in, *K)``, ``bias`` ``(C_out,)`` or
    ``None`` -> ``(1, C_out, *O)``, C-contiguous (which at batch 1 is also batch-last).
    """
    if (type(x) is not np.ndarray or type(weight) is not np.ndarray or x.dtype != weight.dtype
            or bias is not None and (type(bias) is not np.ndarray or bias.dtype != x.dtype)):
        return None
    if (window.kernel == (3, 3) and window.stride == (1, 1) and fast.applies(x, weight)    # cheap tests first
            and fast.kernels("winograd").winograd_fits(x.shape, weight.shape, window, 1)):
        return None                                                     # conv takes Winograd's batch-1 form
    c_out = weight.shape[0]
    rows = weight.size // c_out
    if rows * math.prod(window.out_sizes) * x.itemsize > COLUMN_BLOCK_BYTES:
        return None
    columns = window_columns(pad(x, window.pads), window).reshape(rows, -1)   # (C_in*K, P), copied
    out = CPU.xp.matmul(weight.reshape(c_out, rows), columns)                # (C_out, P); CPU.xp: profilers count it
    if bias is not None:
        out += bias[:, None]
    return out.reshape((1, c_out) + window.out_sizes)
