"""ReLU, clipping (``hardtanh``, ``relu6``), the leaky ReLU, the hard swish, the sigmoid and SiLU
compiled by Numba: one pass over the array's memory.

NumPy's ``maximum`` and ``clip`` against a scalar bound take a loop that is not vectorised:
``np.maximum(x, 0)`` on 47,500 float32 values took 15.4 us against 3.3 us for the same call
against an array of zeros, and 611 us on 2,000,000 values. The backward's ``g * (out > 0)``
multiplies by a boolean mask, a casting loop (12.6 us on 47,500 values). Here each is one
vectorised loop over the flat memory of arrays that lie in the same order (C order or
batch-last, ``flat_memory``): 2.0 us and 134 us for the ReLU above. ``np.where``, the NumPy
path's leaky ReLU, takes about 3 ns a value on this kind of machine (142 us for 47,500 values).

The sigmoid and SiLU take ``e = exp(-|x|)`` from NumPy (its ``exp`` is vectorised; Numba's, without
SVML, calls ``expf`` a value at a time: 4.4 ms for 2M float32 values against 0.7 ms) and do the rest
in one pass: ``s = (1 if x >= 0 else e) / (1 + e)``, the NumPy path's formula, so the bits agree.
SiLU's training step on 2M float32 values: 4.9 ms in NumPy's passes (13.1 with ``np.where``).

PyTorch's rules, as the NumPy path: NaN passes the forward unchanged; the ReLU's backward stops the
gradient where its output is at most 0 (a NaN passes its gradient through), the clip's passes it
strictly inside the bounds only (a NaN gets none, as PyTorch's vectorised loop does). A stopped
gradient is ``g * 0``, as the NumPy path's multiplication by the mask gives it: a NaN or an
infinity in the incoming gradient stays NaN there (PyTorch writes 0).
"""

from __future__ import annotations

import numba

from ..backend import dense_memory


def flat_memory(*arrays):
    """The arrays' memory as 1-D views when all are dense and lie in the same order (their strides
    equal), else ``None``: the kernels then pair up the right elements by walking memory.

    Shape: each ``(*S)`` -> ``(prod(S),)``.
    """
    first = arrays[0]
    flats = []
    for a in arrays:
        if a.shape != first.shape or a.strides != first.strides:
            return None
        memory = dense_memory(a)
        if memory is None:
            return None
        flats.append(memory.reshape(-1))                               # a view: the memory is C-contiguous
    return flats


@numba.njit(cache=True)
def clip_forward(x, low, high, out):
    """``out = min(max(x, low), high)``, NaN kept; ``low`` and ``high`` in ``x``'s dtype. Shape: ``x``,
    ``out`` ``(M,)``."""
    for i in range(x.shape[0]):
        v = x[i]
        if v < low:
            v = low
        elif v > high:
            v = high
        out[i] = v


@numba.njit(cache=True)
def clip_backward(g, ref, low, high, out):
    """``out = g`` where ``low < ref < high``, else ``g * 0``. Shape: ``g``, ``ref``, ``out`` ``(M,)``."""
    zero = g.dtype.type(0)
    for i in range(g.shape[0]):
        r = ref[i]
        out[i] = g[i] if (r > low) & (r < high) else g[i] * zero


@numba.njit(cache=True)
def relu_forward(x, out):
    """``out = max(x, 0)``, NaN kept. Shape: ``x``, ``out`` ``(M,)``."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = zero if v < zero else v


@numba.njit(cache=True)
def relu_backward(g, out_ref, out):
    """``out = g * 0`` where the ReLU's output ``out_ref <= 0``, else ``g``. Shape: all ``(M,)``."""
    zero = g.dtype.type(0)
    for i in range(g.shape[0]):
        out[i] = g[i] * zero if out_ref[i] <= zero else g[i]


@numba.njit(cache=True)
def leaky_relu_forward(x, slope, out):
    """``out = x`` where ``x > 0``, else ``x * slope`` (NaN kept). Shape: ``x``, ``out`` ``(M,)``."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > zero else v * slope


@numba.njit(cache=True)
def leaky_relu_backward(g, x, slope, out):
    """``out = g`` where ``x > 0``, else ``g * slope``. Shape: all ``(M,)``."""
    zero = x.dtype.type(0)
    for i in range(g.shape[0]):
        out[i] = g[i] if x[i] > zero else g[i] * slope


@numba.njit(cache=True, error_model="numpy")   # no ZeroDivisionError branch: vectorised
def hardswish_forward(x, out):
    """``out = x * min(max(x + 3, 0), 6) / 6`` in the NumPy path's order (NaN kept). Shape: ``(M,)``."""
    zero, three, six = x.dtype.type(0), x.dtype.type(3), x.dtype.type(6)
    for i in range(x.shape[0]):
        xi = x[i]
        c = xi + three
        c = zero if c < zero else c                                     # np.clip: NaN stays NaN
        c = six if c > six else c
        out[i] = xi * c / six


@numba.njit(cache=True, error_model="numpy")
def hardswish_backward(g, x, out):
    """``out = g * s``, ``s`` 0 up to -3 (included), ``x / 3 + 1/2`` below 3, else 1 (NaN at a NaN
    input, as PyTorch). Shape: all ``(M,)``."""
    zero, one, three, half = x.dtype.type(0), x.dtype.type(1), x.dtype.type(3), x.dtype.type(0.5)
    for i in range(g.shape[0]):
        xi = x[i]
        middle = xi / three + half
        s = zero if xi <= -three else (one if xi >= three else middle)
        out[i] = g[i] * s


@numba.njit(cache=True, error_model="numpy")   # no ZeroDivisionError branch: vectorised
def sigmoid_forward(x, e, out):
    """``out = sigmoid(x)`` from ``e = exp(-|x|)``: ``1 / (1 + e)`` where ``x >= 0``, else
    ``e / (1 + e)`` (NaN kept). Shape: all ``(M,)``."""
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for i in range(x.shape[0]):
        ei = e[i]                                                       # loaded first: the pick is a select, vectorised
        out[i] = (one if x[i] >= zero else ei) / (one + ei)


@numba.njit(cache=True)
def sigmoid_backward(g, s, out):
    """``out = g * s * (1 - s)``, ``s`` the sigmoid's output. Shape: all ``(M,)``."""
    one = s.dtype.type(1)
    for i in range(g.shape[0]):
        out[i] = g[i] * s[i] * (one - s[i])


@numba.njit(cache=True, error_model="numpy")   # no ZeroDivisionError branch: vectorised
def silu_forward(x, e, out):
    """``out = x * sigmoid(x)`` from ``e = exp(-|x|)`` (see ``sigmoid_forward``). Shape: all ``(M,)``."""
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for i in range(x.shape[0]):
        xi, ei = x[i], e[i]                                             # loaded first: the pick is a select
        out[i] = xi * ((one if xi >= zero else ei) / (one + ei))


@numba.njit(cache=True, error_model="numpy")   # no ZeroDivisionError branch: vectorised
def silu_backward(g, x, e, out):
    """``out = g * s * (1 + x (1 - s))``, ``s = sigmoid(x)`` from ``e = exp(-|x|)``. Shape: all ``(M,)``."""
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for i in range(g.shape[0]):
        xi, ei = x[i], e[i]                                             # loaded first: the pick is a select
        s = (one if xi >= zero else ei) / (one + ei)
        out[i] = g[i] * s * (one + xi * (one - s))
