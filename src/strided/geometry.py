"""Integer shape arithmetic shared by the ops (at run time) and the analysis (statically).

Every formula about sizes lives here once:

* output size of a sliding window: ``floor((W - d(F-1) - 1 + P_lo + P_hi) / S) + 1``;
* the padding modes ``'valid'``, ``'same'`` (any stride), ``'full'``, ``'causal'``, an int,
  a tuple of ints (one per axis) or a tuple of ``(lo, hi)`` pairs (one per axis);
* output size of a transposed convolution: ``(W - 1)S - P_lo - P_hi + d(F-1) + output_padding + 1``;
* the receptive-field recurrence of Araujo et al. (Distill, 2019), and its transposed form.

Coordinates for receptive fields are pixel indices of the network input: the centre of the
first input pixel is 0.0, so ``start`` is the index of the centre of the first output's window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import ShapeError

PADDING_MODES = ("valid", "same", "full", "causal")


_REMEMBERED: dict = {}
_REMEMBER_AT_MOST = 4096


def remembered(rule, *args):
    """``rule(*args)``, computed once per distinct ``args`` (the rules it serves are pure).

    Layers call their geometry rule on every forward pass with the same few shapes; this keeps
    the validation and arithmetic off the per-call path. Arguments are told apart by ``repr``,
    so ``2``, ``2.0`` and ``True`` stay distinct (the rule rejects the last two every time).
    Errors are raised each time, never stored.
    """
    key = (rule, repr(args))
    try:
        return _REMEMBERED[key]
    except KeyError:
        pass
    value = rule(*args)
    if len(_REMEMBERED) >= _REMEMBER_AT_MOST:
        _REMEMBERED.clear()
    _REMEMBERED[key] = value
    return value


def as_tuple(value, ndim: int, name: str, owner: str, minimum: int = 1) -> tuple[int, ...]:
    """Normalise an int or a sequence of ``ndim`` ints to a tuple, each at least ``minimum``.

    >>> as_tuple(3, 2, "kernel_size", "Conv2d")
    (3, 3)
    """
    if isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be an int or a tuple of {ndim} ints, got {value!r}")
    if isinstance(value, int):
        values = (value,) * ndim
    elif isinstance(value, Sequence) and len(value) == ndim and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{owner}: {name} must be an int or a tuple of {ndim} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value!r}")
    return values


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: tuple[int, int] = (0, 0),
                     dilation: int = 1) -> int:
    """Length of a sliding-window output along one axis.

    ``floor((size - dilation*(kernel-1) - 1 + pad_lo + pad_hi) / stride) + 1``; may be < 1 when
    the window does not fit (callers turn that into an error).

    >>> conv_output_size(227, 11, stride=4)
    55
    >>> conv_output_size(32, 5, padding=(2, 2))
    32
    """
    lo, hi = padding
    return (size - dilation * (kernel - 1) - 1 + lo + hi) // stride + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Padding that gives ``ceil(size / stride)`` outputs; an odd total puts the extra at the end.

    This is TensorFlow/Keras' rule; for stride 1 it equals PyTorch's ``padding='same'``.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int], owner: str) -> tuple[tuple[int, int], ...]:
    """Turn any accepted ``padding`` into one ``(lo, hi)`` pair per spatial axis.

    ``sizes`` are the input's spatial sizes (only ``'same'`` with stride > 1 depends on them).
    """
    ndim = len(kernel)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * ndim
        if mode == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation))
        if mode == "full":
            return tuple((d * (k - 1), d * (k - 1)) for k, d in zip(kernel, dilation))
        if mode == "causal":
            if ndim != 1:
                raise ValueError(f"{owner}: padding='causal' is defined for 1-D input only, got {ndim}-D "
                                 f"spatial input")
            return ((dilation[0] * (kernel[0] - 1), 0),)
        raise ValueError(f"{owner}: unknown padding mode {padding!r}; expected one of "
                         f"{', '.join(repr(m) for m in PADDING_MODES)}, an int, or a tuple")
    return explicit_padding(padding, ndim, owner)


def explicit_padding(padding, ndim: int, owner: str) -> tuple[tuple[int, int], ...]:
    """``(lo, hi)`` pairs from an int, ``ndim`` ints, or ``ndim`` pairs; all non-negative."""
    def bad():
        return TypeError(f"{owner}: padding must be a mode string, an int, a tuple of {ndim} ints or "
                         f"a tuple of {ndim} (lo, hi) pairs, got {padding!r}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if is_int(padding):
        pairs = ((padding, padding),) * ndim
    elif isinstance(padding, Sequence) and len(padding) == ndim:
        if all(is_int(p) for p in padding):
            pairs = tuple((p, p) for p in padding)
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
                        in_shape=None) -> tuple[int, ...]:
    """Spatial output sizes of a sliding window, raising a ``ShapeError`` when one is below 1."""
    out = tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(sizes, kernel, stride, pads, dilation))
    if any(o < 1 for o in out):
        got = f" (input {tuple(in_shape)})" if in_shape is not None else ""
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
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

    >>> conv_transpose_output_size(16, 4, stride=2, padding=(1, 1))
    32
    >>> conv_transpose_output_size(4, 3, stride=2, padding=(1, 1), output_padding=1)
    8
    """
    lo, hi = padding
    return (size - 1) * stride - lo - hi + dilation * (kernel - 1) + output_padding + 1


def transposed_window_output_shape(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                                   pads: Sequence[tuple[int, int]], dilation: Sequence[int],
                                   output_padding: Sequence[int], owner: str, in_shape=None) -> tuple[int, ...]:
    """Spatial output sizes of a transposed convolution, raising a ``ShapeError`` when one is below 1."""
    out = tuple(conv_transpose_output_size(n, k, s, p, d, op)
                for n, k, s, p, d, op in zip(sizes, kernel, stride, pads, dilation, output_padding))
    if any(o < 1 for o in out):
        got = f" (input {tuple(in_shape)})" if in_shape is not None else ""
        raise ShapeError(f"{owner}: padding {tuple(pads)} crops the whole output{got}; expected output sizes "
                         f">= 1 per axis, got {out}")
    return out


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one activation, per spatial axis (Araujo et al., Distill 2019).

    ``size``: input pixels seen by one output; ``jump``: input pixels between neighbouring
    outputs (the effective stride); ``start``: input index of the centre of the first output's
    window (the first input pixel's centre is 0.0; negative when the window hangs into padding).
    """

    size: tuple[float, ...]
    jump: tuple[float, ...]
    start: tuple[float, ...]

    @classmethod
    def identity(cls, ndim: int) -> "ReceptiveField":
        """The receptive field of the input itself: one pixel, jump 1, first centre 0."""
        return cls((1,) * ndim, (1,) * ndim, (0.0,) * ndim)

    def through_window(self, kernel: Sequence[int], stride: Sequence[int], pad_lo: Sequence[int],
                       dilation: Sequence[int]) -> "ReceptiveField":
        """The recurrence for a sliding-window layer.

        ``size' = size + (k_eff - 1) * jump``, ``jump' = jump * stride``,
        ``start' = start + ((k_eff - 1) / 2 - pad_lo) * jump``, with ``k_eff = d(k-1)+1``.
        """
        keff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        return ReceptiveField(
            tuple(r + (k - 1) * j for r, k, j in zip(self.size, keff, self.jump)),
            tuple(j * s for j, s in zip(self.jump, stride)),
            tuple(st + ((k - 1) / 2 - p) * j for st, k, p, j in zip(self.start, keff, pad_lo, self.jump)),
        )

    def through_transposed_window(self, kernel: Sequence[int], stride: Sequence[int], pad_lo: Sequence[int],
                                  dilation: Sequence[int]) -> "ReceptiveField":
        """The recurrence for a transposed convolution (an up-sampling window).

        Output ``o`` sums the inputs ``i`` with ``i*stride <= o + pad_lo <= i*stride + k_eff - 1``,
        i.e. the input interval ``[(o + pad_lo - k_eff + 1) / stride, (o + pad_lo) / stride]``:
        ``size' = size + (k_eff - 1) / stride * jump``, ``jump' = jump / stride``,
        ``start' = start + (pad_lo - (k_eff - 1) / 2) / stride * jump``, with ``k_eff = d(k-1)+1``.
        For ``stride > 1`` the jump is fractional (outputs are denser than inputs) and the field is
        the envelope: with dilation 1 the inputs that move an output are exactly the pixels inside
        it, with dilation > 1 a subset of them. For ``stride == 1`` it is exact, equal to
        ``through_window`` with padding ``k_eff - 1 - pad_lo`` (a transposed convolution at stride
        1 is a convolution with the flipped kernel).
        """
        keff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        return ReceptiveField(
            tuple(r + (k - 1) / s * j for r, k, s, j in zip(self.size, keff, stride, self.jump)),
            tuple(j / s for j, s in zip(self.jump, stride)),
            tuple(st + (p - (k - 1) / 2) / s * j for st, k, p, s, j in zip(self.start, keff, pad_lo, stride,
                                                                            self.jump)),
        )

    def through_global(self, sizes: Sequence[int]) -> "ReceptiveField":
        """A layer that sees its whole spatial input (global pooling, flatten before a dense layer)."""
        return self.through_window(sizes, sizes, (0,) * len(sizes), (1,) * len(sizes))

    @staticmethod
    def merge(fields: Sequence["ReceptiveField"]) -> "ReceptiveField":
        """Branches that are added or concatenated: the largest field, the common jump, the first start.

        Branches of a residual or multi-branch block share their jump when their outputs align.
        """
        size = tuple(max(vals) for vals in zip(*(f.size for f in fields)))
        jump = tuple(max(vals) for vals in zip(*(f.jump for f in fields)))
        start = tuple(min(vals) for vals in zip(*(f.start for f in fields)))
        return ReceptiveField(size, jump, start)


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive integers without floating point."""
    return -(-a // b)


def adaptive_bins(size: int, out: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(starts, ends)`` of the ``out`` bins that adaptive pooling averages over one axis.

    Bin ``i`` spans ``[floor(i * size / out), ceil((i + 1) * size / out))`` (PyTorch's rule):
    bins cover the axis, neighbours may overlap by one pixel, and ``out > size`` repeats pixels.

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


__all__ = [
    "PADDING_MODES", "as_tuple", "conv_output_size", "same_padding", "resolve_padding",
    "explicit_padding", "window_output_shape", "conv_transpose_output_size",
    "transposed_window_output_shape", "ReceptiveField", "ceil_div", "explain_output_size",
    "adaptive_bins", "adaptive_window", "concat_shape",
]


def explain_output_size(size: int, kernel: int, stride: int = 1, padding=0, dilation: int = 1) -> tuple[int, str]:
    """The output size along one axis and the formula with the numbers filled in.

    ``padding`` is an int, a ``(lo, hi)`` pair or a mode string. Raises a ``ShapeError`` that
    says why when the window does not fit (output below 1).

    >>> explain_output_size(227, 11, 4)[1]
    'floor((227 + 0 + 0 - 1*(11 - 1) - 1) / 4) + 1 = 55'
    """
    owner = "output size"
    for name, value in (("input size", size), ("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == 2:
        padding = (tuple(padding),)
    (lo, hi), = resolve_padding(padding, (size,), (kernel,), (stride,), (dilation,), owner)
    out = conv_output_size(size, kernel, stride, (lo, hi), dilation)
    text = f"floor(({size} + {lo} + {hi} - {dilation}*({kernel} - 1) - 1) / {stride}) + 1 = {out}"
    if out < 1:
        extent = dilation * (kernel - 1) + 1
        raise ShapeError(f"{owner}: impossible geometry: {text}; the kernel spans {extent} pixels but the padded "
                         f"input has only {size + lo + hi}")
    return out, text
