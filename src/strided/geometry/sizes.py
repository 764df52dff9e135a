"""Output sizes of sliding and transposed windows, padding modes, adaptive bins, concatenated shapes."""

from __future__ import annotations

from typing import Sequence

from ..checks import as_int, is_int
from ..errors import ShapeError

PADDING_MODES = ("valid", "same", "full", "causal")


def kernel_extent(kernel: int, dilation: int = 1) -> int:
    """Input pixels a dilated kernel spans along one axis: ``dilation * (kernel - 1) + 1``.

    Args:
        kernel: the kernel size.
        dilation: the spacing of its taps.

    >>> kernel_extent(3, dilation=2)
    5
    """
    return dilation * (kernel - 1) + 1


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: tuple[int, int] = (0, 0),
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Length of a sliding-window output along one axis.

    ``floor((size - dilation*(kernel-1) - 1 + pad_lo + pad_hi) / stride) + 1``; may be < 1 when
    the window does not fit (callers turn that into an error).

    With ``ceil_mode`` (pooling's option) the division rounds up, so a last, partial window may
    reach past the padded input, then PyTorch's rule drops that window again when it would start
    at or past ``size + pad_lo`` (entirely in the high padding): every window starts inside the
    input or the low padding.

    Args:
        size: the input length along the axis.
        kernel: the kernel size (before dilation).
        stride: the step between two windows.
        padding: the ``(lo, hi)`` pixels added at the two ends.
        dilation: the spacing of the kernel taps (1: none).
        ceil_mode: round up (pooling's ``ceil_mode``).

    >>> conv_output_size(227, 11, stride=4)
    55
    >>> conv_output_size(32, 5, padding=(2, 2))
    32
    >>> conv_output_size(6, 3, 2), conv_output_size(6, 3, 2, ceil_mode=True)
    (2, 3)
    >>> conv_output_size(5, 2, 2, padding=(1, 1), ceil_mode=True)   # a 4th window would start in the padding
    3
    """
    lo, hi = padding
    reach = size + lo + hi - kernel_extent(kernel, dilation)
    if not ceil_mode:
        return reach // stride + 1
    out = -(-reach // stride) + 1
    if (out - 1) * stride >= size + lo:                                 # the last window starts in the high padding
        out -= 1
    return out


def window_overhang(size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int, out: int) -> int:
    """How far ``out`` windows reach past the padded input's high end along one axis (0 when they fit).

    Only ``ceil_mode`` makes this positive: ``(out - 1) * stride + dilation*(kernel-1) + 1 - (size + lo + hi)``.

    Args:
        size: the input length along the axis.
        kernel: the kernel size (before dilation).
        stride: the step between two windows.
        padding: the ``(lo, hi)`` pixels added at each end.
        dilation: the spacing between kernel taps (1: none).
        out: the number of windows (``conv_output_size``'s, with or without ``ceil_mode``).

    >>> window_overhang(6, 3, 2, (0, 0), 1, 3)
    1
    """
    lo, hi = padding
    return max(0, (out - 1) * stride + kernel_extent(kernel, dilation) - (size + lo + hi))


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Padding that gives ``ceil(size / stride)`` outputs; an odd total puts the extra at the end.

    This is TensorFlow/Keras' rule; for stride 1 it equals PyTorch's ``padding='same'``.

    Args:
        size: the input length.
        kernel: the kernel size.
        stride: the stride.
        dilation: the dilation.

    Example:
        >>> same_padding(5, 3, stride=2, dilation=1)
        (1, 1)
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_extent(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int], owner: str) -> tuple[tuple[int, int], ...]:
    """Turn any accepted ``padding`` into one ``(lo, hi)`` pair per spatial axis.

    ``sizes`` are the input's spatial sizes (only ``'same'`` with stride > 1 depends on them).

    Args:
        padding: an int, a tuple of ints, a tuple of ``(lo, hi)`` pairs, or ``'valid'``, ``'same'``,
            ``'full'``, ``'causal'``.
        sizes: the input's spatial sizes.
        kernel: the kernel size per axis.
        stride: the stride per axis.
        dilation: the dilation per axis.
        owner: the name used in error messages.

    Example:
        >>> resolve_padding("same", (5,), (3,), (1,), (1,), "Conv1d")
        ((1, 1),)
    """
    ndim = len(kernel)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * ndim
        if mode == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation))
        if mode == "full":
            return tuple((kernel_extent(k, d) - 1,) * 2 for k, d in zip(kernel, dilation))
        if mode == "causal":
            if ndim != 1:
                raise ValueError(f"{owner}: padding='causal' is defined for 1-D input only, got {ndim}-D "
                                 f"spatial input")
            return ((kernel_extent(kernel[0], dilation[0]) - 1, 0),)
        raise ValueError(f"{owner}: unknown padding mode {padding!r}; expected one of "
                         f"{', '.join(repr(m) for m in PADDING_MODES)}, an int, or a tuple")
    return explicit_padding(padding, ndim, owner)


def explicit_padding(padding, ndim: int, owner: str) -> tuple[tuple[int, int], ...]:
    """``(lo, hi)`` pairs from an int, ``ndim`` ints, or ``ndim`` pairs; all non-negative.

    Args:
        padding: an int, ``ndim`` ints, or ``ndim`` ``(lo, hi)`` pairs.
        ndim: the number of spatial axes.
        owner: the name used in error messages.

    Example:
        >>> explicit_padding(((0, 1), (2, 3)), 2, "Conv2d")
        ((0, 1), (2, 3))
    """
    def bad():
        return TypeError(f"{owner}: padding must be a mode string, an int, a tuple of {ndim} ints or "
                         f"a tuple of {ndim} (lo, hi) pairs, got {padding!r}")

    if is_int(padding):
        pairs = ((int(padding), int(padding)),) * ndim
    elif isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == ndim:
        if all(is_int(p) for p in padding):
            pairs = tuple((int(p), int(p)) for p in padding)
        elif all(isinstance(p, Sequence) and len(p) == 2 and all(is_int(v) for v in p) for p in padding):
            pairs = tuple((int(p[0]), int(p[1])) for p in padding)
        else:
            raise bad()
    else:
        raise bad()
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{owner}: padding must be non-negative, got {padding!r}")
    return pairs


def window_output_shape(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                        pads: Sequence[tuple[int, int]], dilation: Sequence[int], owner: str,
                        in_shape=None, ceil_mode: bool = False) -> tuple[int, ...]:
    """Spatial output sizes of a sliding window, raising a ``ShapeError`` when one is below 1.

    Args:
        sizes: the input's spatial sizes.
        kernel: the kernel size per axis.
        stride: the stride per axis.
        pads: one ``(lo, hi)`` pair per axis (``resolve_padding``'s result).
        dilation: the dilation per axis.
        owner: the name used in error messages.
        in_shape: the whole input shape, quoted in the error message (default ``None``: not quoted).
        ceil_mode: round the number of windows up, as pooling's ``ceil_mode`` (default ``False``).

    Example:
        >>> window_output_shape((32, 32), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), "Conv2d")
        (32, 32)
    """
    out = tuple(conv_output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(sizes, kernel, stride, pads, dilation))
    if any(o < 1 for o in out):
        got = f" (input {tuple(in_shape)})" if in_shape is not None else ""
        span = tuple(kernel_extent(k, d) for k, d in zip(kernel, dilation))
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(sizes, pads))
        raise ShapeError(f"{owner}: kernel extent {span} is larger than the padded input {padded}{got}; "
                         f"expected padded size >= kernel extent on every axis")
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: tuple[int, int] = (0, 0),
                               dilation: int = 1, output_padding: int = 0) -> int:
    """Length of a transposed convolution's output along one axis (PyTorch's ``ConvTranspose``).

    ``(size - 1)*stride - pad_lo - pad_hi + dilation*(kernel-1) + output_padding + 1``: every
    input pixel spreads a kernel footprint ``stride`` apart, the full grid is then cropped by the
    padding and extended at the high end by ``output_padding``. With symmetric padding ``p`` this
    is PyTorch's ``(size-1)*stride - 2p + dilation*(kernel-1) + output_padding + 1``; it inverts
    ``conv_output_size`` (same kernel, stride, padding, dilation) when
    ``output_padding = (size_in + lo + hi - dilation*(kernel-1) - 1) % stride``. May be < 1 when
    the padding eats the whole grid (callers turn that into an error).

    Args:
        size: the input length along the axis.
        kernel: the kernel size.
        stride: the spacing of the input pixels' footprints.
        padding: the ``(lo, hi)`` pixels cropped from the two ends.
        dilation: the spacing of the kernel taps.
        output_padding: pixels added at the high end (to pick one of the sizes a strided convolution
            maps to the same output).

    >>> conv_transpose_output_size(16, 4, stride=2, padding=(1, 1))
    32
    >>> conv_transpose_output_size(4, 3, stride=2, padding=(1, 1), output_padding=1)
    8
    """
    lo, hi = padding
    return (size - 1) * stride - lo - hi + kernel_extent(kernel, dilation) + output_padding


def transposed_window_output_shape(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                                   pads: Sequence[tuple[int, int]], dilation: Sequence[int],
                                   output_padding: Sequence[int], owner: str, in_shape=None) -> tuple[int, ...]:
    """Spatial output sizes of a transposed convolution, raising a ``ShapeError`` when one is below 1.

    Args:
        sizes: the input's spatial sizes.
        kernel: the kernel size per axis.
        stride: the stride per axis.
        pads: one ``(lo, hi)`` pair per axis, cropped from the full output.
        dilation: the dilation per axis.
        output_padding: pixels added at the high end, per axis.
        owner: the name used in error messages.
        in_shape: the whole input shape, quoted in the error message (default ``None``: not quoted).

    Example:
        >>> transposed_window_output_shape((4,), (3,), (2,), ((1, 1),), (1,), (1,), "ConvTranspose1d")
        (8,)
    """
    out = tuple(conv_transpose_output_size(n, k, s, p, d, op)
                for n, k, s, p, d, op in zip(sizes, kernel, stride, pads, dilation, output_padding))
    if any(o < 1 for o in out):
        got = f" (input {tuple(in_shape)})" if in_shape is not None else ""
        raise ShapeError(f"{owner}: padding {tuple(pads)} crops the whole output{got}; expected output sizes "
                         f">= 1 per axis, got {out}")
    return out


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive integers without floating point.

    Args:
        a: the numerator.
        b: the (positive) denominator.

    Example:
        >>> ceil_div(7, 2)
        4
    """
    return -(-a // b)


def adaptive_bins(size: int, out: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(starts, ends)`` of the ``out`` bins that adaptive pooling averages over one axis.

    Bin ``i`` spans ``[floor(i * size / out), ceil((i + 1) * size / out))`` (PyTorch's rule):
    bins cover the axis, neighbours may overlap by one pixel, and ``out > size`` repeats pixels.

    Args:
        size: the input length along the axis.
        out: the number of bins (the output length).

    >>> adaptive_bins(7, 3)
    ((0, 2, 4), (3, 5, 7))
    """
    starts = tuple(i * size // out for i in range(out))
    ends = tuple(ceil_div((i + 1) * size, out) for i in range(out))
    return starts, ends


def adaptive_window(size: int, out: int) -> tuple[int, float, float]:
    """``(kernel, stride, pad_lo)`` of the sliding window that stands in for adaptive bins.

    Exact when the bins are a regular sliding window (equal sizes, equal steps: ``size``
    divisible by ``out``, ``7 -> 3``, global pooling, the identity). Otherwise an approximation
    for receptive-field analysis: the kernel is the largest bin, the stride the mean step
    ``size / out`` and ``pad_lo`` places window ``i``'s centre at ``(i + 1/2) * size / out - 1/2``,
    within half a pixel of the true bin centre, so errors do not grow along the axis.

    Args:
        size: the input length along the axis.
        out: the number of bins (the output length).

    >>> adaptive_window(6, 2), adaptive_window(7, 3), adaptive_window(10, 4)
    ((3, 3, 0), (3, 2, 0), (3, 2.5, 0.25))
    """
    starts, ends = adaptive_bins(size, out)
    sizes = {e - s for s, e in zip(starts, ends)}
    steps = {b - a for a, b in zip(starts, starts[1:])}
    kernel = max(sizes)
    if len(sizes) == 1 and len(steps) <= 1:
        return kernel, (steps.pop() if steps else kernel), 0
    stride = size / out
    return kernel, stride, (kernel - stride) / 2


def concat_shape(shapes: Sequence[Sequence[int]], dim: int, owner: str) -> tuple[int, ...]:
    """Shape of ``shapes`` joined along ``dim``: equal everywhere else, summed along ``dim``.

    Args:
        shapes: the shapes of the tensors to join, all of the same rank.
        dim: the axis to join along (negative counts from the end).
        owner: the name used in error messages.

    >>> concat_shape([(2, 3, 4, 4), (2, 5, 4, 4)], 1, "concat")
    (2, 8, 4, 4)
    """
    if not shapes:
        raise ValueError(f"{owner}: expected at least one tensor to concatenate, got none")
    rank = len(shapes[0])
    if not -rank <= dim < rank:
        raise ShapeError(f"{owner}: dim {dim} is out of range for inputs of rank {rank}, got shapes "
                         f"{', '.join(str(tuple(s)) for s in shapes)}")
    axis = dim % rank
    rest = [tuple(s[:axis]) + tuple(s[axis + 1:]) for s in shapes]
    if any(len(s) != rank for s in shapes) or len(set(rest)) > 1:
        raise ShapeError(f"{owner}: expected shapes that agree on every axis but {axis}, got "
                         f"{', '.join(str(tuple(s)) for s in shapes)}")
    return tuple(shapes[0][:axis]) + (sum(s[axis] for s in shapes),) + tuple(shapes[0][axis + 1:])


def explain_output_size(size: int, kernel: int, stride: int = 1, padding=0, dilation: int = 1) -> tuple[int, str]:
    """The output size along one axis and the formula with the numbers filled in.

    ``padding`` is an int, a ``(lo, hi)`` pair or a mode string. Raises a ``ShapeError`` that
    says why when the window does not fit (output below 1).

    Args:
        size: the input length.
        kernel: the kernel size.
        stride: the step between windows.
        padding: an int, ``(lo, hi)``, or ``'valid'``, ``'same'``, ``'full'``, ``'causal'``.
        dilation: the spacing of the kernel taps.

    >>> explain_output_size(227, 11, 4)[1]
    'floor((227 + 0 + 0 - 1*(11 - 1) - 1) / 4) + 1 = 55'
    """
    owner = "output size"
    size, kernel, stride, dilation = (as_int(value, name, owner) for name, value in (
        ("input size", size), ("kernel", kernel), ("stride", stride), ("dilation", dilation)))
    if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == 2:
        padding = (tuple(padding),)
    (lo, hi), = resolve_padding(padding, (size,), (kernel,), (stride,), (dilation,), owner)
    out = conv_output_size(size, kernel, stride, (lo, hi), dilation)
    text = f"floor(({size} + {lo} + {hi} - {dilation}*({kernel} - 1) - 1) / {stride}) + 1 = {out}"
    if out < 1:
        extent = kernel_extent(kernel, dilation)
        raise ShapeError(f"{owner}: impossible geometry: {text}; the kernel spans {extent} pixels but the padded "
                         f"input has only {size + lo + hi}")
    return out, text
