"""The ``Window``: where a layer's sliding window goes over one input size, resolved once.

A convolution, a pooling layer or a locally-connected layer is described by its arguments
(``kernel_size``, ``stride``, ``dilation``, ``padding`` in any accepted form); for a given input
size those resolve to one frozen value, ``Window``, that the op, its backward, the static rules
and the analysis all read: kernel, stride, dilation, ``(lo, hi)`` pads, input and output sizes,
and what follows from them (the kernel's extent, whether the windows tile the padded input, the
strided slice of each kernel tap, the receptive-field step). A transposed convolution resolves
to a ``TransposedWindow``, whose ``adjoint`` is the ``Window`` of the convolution it transposes.

``resolve_window`` and ``resolve_transposed_window`` are the only two places where arguments
become geometry; ``check_window`` checks a constructor's arguments without any input size.
Layers resolve on every call with the same few shapes, so each resolver remembers its answer
per distinct arguments (told apart by ``repr``: ``2``, ``2.0`` and ``True`` stay distinct and
the last two are rejected every time); errors are raised each time, never remembered.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..checks import as_tuple
from .receptive_field import ReceptiveField
from .sizes import (explicit_padding, kernel_extent, resolve_padding, transposed_window_output_shape,
                    window_output_shape, window_overhang)

Pads = tuple[tuple[int, int], ...]

REMEMBER_AT_MOST = 4096
"""Distinct argument lists each resolver remembers; the memory is emptied when it is full."""


def _remembered(resolve):
    """``resolve``, computed once per distinct geometric arguments (resolvers are pure).

    The key is the positional arguments; ``owner`` and ``in_shape`` only name things in error
    messages, never change a resolved value, and are left out of it.
    """
    memory: dict = {}

    @functools.wraps(resolve)
    def remembered(*args, owner: str = "window", in_shape=None):
        key = repr(args)
        try:
            return memory[key]
        except KeyError:
            pass
        value = resolve(*args, owner=owner, in_shape=in_shape)
        if len(memory) >= REMEMBER_AT_MOST:
            memory.clear()
        memory[key] = value
        return value
    return remembered


@dataclass(frozen=True)
class _Geometry:
    """The fields every resolved window has: tuples with one entry per spatial axis."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: Pads
    in_sizes: tuple[int, ...]
    out_sizes: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @functools.cached_property
    def extent(self) -> tuple[int, ...]:
        """Input pixels one window spans per axis, ``dilation * (kernel - 1) + 1``."""
        return tuple(kernel_extent(k, d) for k, d in zip(self.kernel, self.dilation))

    @property
    def pad_lo(self) -> tuple[int, ...]:
        return tuple(lo for lo, _ in self.pads)


@dataclass(frozen=True)
class Window(_Geometry):
    """A sliding window over the last ``ndim`` axes, resolved for one input size.

    Output position ``o`` (per axis) reads the padded input at ``o * stride + k * dilation`` for
    every kernel tap ``k``. The data are padded by ``pads`` (overhang included), so the taps,
    ``padded_sizes`` and ``tiles`` need no special case. Build one with ``resolve_window``.

    Args:
        kernel: the kernel size per axis.
        stride: the step between two windows per axis.
        dilation: the spacing between kernel taps per axis (1: none).
        pads: the ``(lo, hi)`` padding per axis, ``overhang`` included in ``hi``.
        in_sizes: the input's spatial sizes.
        out_sizes: the output's spatial sizes.
        overhang: empty, or per axis how much of the high pad is not padding the user asked for but
            the reach of ``ceil_mode``'s last, partial window past it (``declared_pads`` are the pads
            without it) (default ``()``).

    Shape: ``(N, C, *in_sizes) -> (N, C', *out_sizes)``, per axis
    ``out = floor((in + lo + hi - dilation * (kernel - 1) - 1) / stride) + 1`` (with the overhang
    in ``hi``; see ``conv_output_size`` for the ``ceil_mode`` rule in the declared pads).

    >>> w = resolve_window((7,), 3, 2, 1, "same")
    >>> w.pads, w.out_sizes, w.extent, w.tiles
    (((1, 1),), (4,), (3,), False)
    >>> c = resolve_window((6,), 3, 2, 1, 0, True)
    >>> c.out_sizes, c.pads, c.overhang, c.declared_pads
    ((3,), ((0, 1),), (1,), ((0, 0),))
    """

    overhang: tuple[int, ...] = ()

    @functools.cached_property
    def declared_pads(self) -> Pads:
        """``pads`` without the ``overhang``: the padding the arguments asked for."""
        if not self.overhang:
            return self.pads
        return tuple((lo, hi - v) for (lo, hi), v in zip(self.pads, self.overhang))

    @functools.cached_property
    def padded_sizes(self) -> tuple[int, ...]:
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.in_sizes, self.pads))

    @property
    def padded(self) -> bool:
        """Whether any side of any axis is padded."""
        return any(lo or hi for lo, hi in self.pads)

    @functools.cached_property
    def pointwise(self) -> bool:
        """A 1x1 kernel at stride 1 without padding: every output reads exactly its own pixel."""
        return all(k == 1 for k in self.kernel) and all(s == 1 for s in self.stride) and not self.padded

    @functools.cached_property
    def tiles(self) -> bool:
        """Whether the windows cover every padded position exactly once (no overlap, no gap): each
        window is contiguous, neighbours abut (or there is one window) and the last one ends the axis."""
        return all((k == 1 or d == 1) and (o == 1 or s == k) and (o - 1) * s + k == n for n, k, s, d, o in
                   zip(self.padded_sizes, self.kernel, self.stride, self.dilation, self.out_sizes))

    @functools.cached_property
    def taps(self) -> tuple[tuple[tuple[int, ...], tuple], ...]:
        """For each kernel tap ``k`` in scan order: ``(k, index)``, where ``xp[index]`` is
        ``(N, C, *out_sizes)`` with ``xp[index][..., o] == xp[..., o * stride + k * dilation]``
        for a padded input ``xp``."""
        return tuple((k, (Ellipsis,) + tuple(slice(ki * di, ki * di + si * (oi - 1) + 1, si) for ki, si, di, oi
                                             in zip(k, self.stride, self.dilation, self.out_sizes)))
                     for k in itertools.product(*(range(n) for n in self.kernel)))

    @functools.cached_property
    def tap_slices(self) -> tuple[tuple, ...]:
        """The indices of ``taps`` alone, in the same order."""
        return tuple(index for _, index in self.taps)

    @functools.cached_property
    def tap_inside(self) -> tuple:
        """For each tap of ``taps``: ``None`` when every window reads an input position there, else a
        bool array ``(*out_sizes)``, True where that window's tap reads the input (not the padding,
        ``ceil_mode``'s overhang included). Max pooling uses it so that padded positions never win.

        Example:
            >>> [None if m is None else m.tolist() for m in resolve_window((3,), 2, 1, 1, 1).tap_inside]
            [[False, True, True, True], [True, True, True, False]]
        """
        inside = []
        for k, _ in self.taps:
            axes = []
            for a, (ki, si, di, oi, n, (lo, _)) in enumerate(zip(k, self.stride, self.dilation, self.out_sizes,
                                                                  self.in_sizes, self.pads)):
                position = np.arange(oi) * si + ki * di - lo                # (O_a,): input index read, per window
                axes.append((position >= 0) & (position < n))
            if all(axis.all() for axis in axes):
                inside.append(None)
                continue
            mask = np.ones(self.out_sizes, dtype=bool)
            for a, axis in enumerate(axes):
                mask &= axis.reshape((-1,) + (1,) * (self.ndim - a - 1))    # broadcast along axis a
            inside.append(mask)
        return tuple(inside)

    def receptive_field(self, rf: ReceptiveField) -> ReceptiveField:
        """The receptive field of an output, given that of the input (``ReceptiveField.through_window``)."""
        return rf.through_window(self.kernel, self.stride, self.pad_lo, self.dilation)


@dataclass(frozen=True)
class TransposedWindow(_Geometry):
    """A transposed convolution's geometry, resolved for one input size.

    Every input pixel spreads a kernel footprint onto an output grid, ``stride`` apart; ``grid``
    is the full extent of the footprints (more where ``output_padding`` reaches past it), and the
    output is that grid cropped by ``crop``: ``pads`` at the low end, the rest at the high end.
    Build one with ``resolve_transposed_window``.

    Args:
        kernel: the kernel size per axis.
        stride: the step between two windows per axis.
        dilation: the spacing between kernel taps per axis (1: none).
        pads: the ``(lo, hi)`` pixels cropped from the footprints' grid, per axis.
        in_sizes: the input's spatial sizes.
        out_sizes: the output's spatial sizes.
        output_padding: pixels added at the high end, per axis.

    Shape: ``(N, C, *in_sizes) -> (N, C', *out_sizes)``, per axis
    ``out = (in - 1) * stride - lo - hi + dilation * (kernel - 1) + output_padding + 1``.

    >>> t = resolve_transposed_window((4,), 3, 2, 1, 1, 1)
    >>> t.out_sizes, t.grid, t.crop, t.adjoint.out_sizes
    ((8,), (9,), ((1, 0),), (4,))
    """

    output_padding: tuple[int, ...]

    @property
    def grid(self) -> tuple[int, ...]:
        """Sizes of the grid the footprints land on before cropping."""
        return tuple(max((n - 1) * s + kernel_extent(k, d), lo + o) for n, s, k, d, (lo, _), o in
                     zip(self.in_sizes, self.stride, self.kernel, self.dilation, self.pads, self.out_sizes))

    @property
    def crop(self) -> Pads:
        """``(lo, hi)`` cut from each axis of the grid to leave the output."""
        return tuple((lo, g - lo - o) for g, (lo, _), o in zip(self.grid, self.pads, self.out_sizes))

    @property
    def adjoint(self) -> Window:
        """The unpadded convolution from the grid back to the input: this layer is its adjoint."""
        return Window(self.kernel, self.stride, self.dilation, ((0, 0),) * self.ndim, self.grid, self.in_sizes)

    def receptive_field(self, rf: ReceptiveField) -> ReceptiveField:
        """``ReceptiveField.through_transposed_window``: exact at stride 1, an envelope above."""
        return rf.through_transposed_window(self.kernel, self.stride, self.pad_lo, self.dilation)


@_remembered
def resolve_window(in_sizes: Sequence[int], kernel, stride, dilation, padding, ceil_mode=False, *,
                   owner: str = "window", in_shape=None) -> Window:
    """Check a sliding window's arguments against ``in_sizes`` and resolve its ``Window``.

    ``kernel``, ``stride`` and ``dilation`` are ints or one int per axis (``stride=None`` means
    the kernel, pooling's default); ``padding`` is anything ``resolve_padding`` accepts;
    ``ceil_mode`` (a ``bool``, pooling's option) rounds the output sizes up as PyTorch does, the
    last window's reach past the padded input then going into ``pads`` and ``overhang``. Raises
    a ``ShapeError`` naming ``owner`` (and ``in_shape``) when the kernel does not fit.

    Args:
        in_sizes: the input's spatial sizes.
        kernel: an int or one per axis.
        stride: an int or one per axis (``None``: the kernel).
        dilation: an int or one per axis.
        padding: anything ``resolve_padding`` accepts.
        ceil_mode: pooling's rounding up of output sizes.
        owner: the name used in error messages.
        in_shape: the whole input shape, for error messages.

    Example:
        >>> resolve_window((5, 5), 3, 1, 1, 0).out_sizes      # in_sizes, kernel, stride, dilation, padding
        (3, 3)
    """
    in_sizes = tuple(int(n) for n in in_sizes)
    d = len(in_sizes)
    kernel = as_tuple(kernel, d, "kernel_size", owner)
    stride = kernel if stride is None else as_tuple(stride, d, "stride", owner)
    dilation = as_tuple(dilation, d, "dilation", owner)
    check_ceil_mode(ceil_mode, owner)
    pads = resolve_padding(padding, in_sizes, kernel, stride, dilation, owner)
    out = window_output_shape(in_sizes, kernel, stride, pads, dilation, owner, in_shape, ceil_mode)
    overhang = tuple(window_overhang(n, k, s, p, dl, o) for n, k, s, p, dl, o in
                     zip(in_sizes, kernel, stride, pads, dilation, out)) if ceil_mode else ()
    if not any(overhang):
        return Window(kernel, stride, dilation, pads, in_sizes, out)
    pads = tuple((lo, hi + v) for (lo, hi), v in zip(pads, overhang))
    return Window(kernel, stride, dilation, pads, in_sizes, out, overhang)


def check_ceil_mode(ceil_mode, owner: str) -> bool:
    """``ceil_mode`` must be a ``bool`` (``0``/``1`` and strings are refused with a ``TypeError``).

    Args:
        ceil_mode: the value to check.
        owner: the name used in error messages.

    Example:
        >>> check_ceil_mode(True, "MaxPool2d")
        True
        >>> check_ceil_mode(1, "MaxPool2d")
        Traceback (most recent call last):
            ...
        TypeError: MaxPool2d: ceil_mode must be a bool, got 1
    """
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{owner}: ceil_mode must be a bool, got {ceil_mode!r}")
    return bool(ceil_mode)


@_remembered
def resolve_transposed_window(in_sizes: Sequence[int], kernel, stride, dilation, padding, output_padding, *,
                              owner: str = "window", in_shape=None) -> TransposedWindow:
    """Check a transposed convolution's arguments against ``in_sizes`` and resolve its geometry.

    ``padding`` crops the output (ints or ``(lo, hi)`` pairs; the mode strings are refused),
    ``output_padding`` extends its high end and must be smaller than the stride or the dilation
    on every axis (PyTorch's rule).

    Args:
        in_sizes: the input's spatial sizes.
        kernel: an int or one per axis.
        stride: an int or one per axis.
        dilation: an int or one per axis.
        padding: an int, one per axis, or ``(lo, hi)`` pairs: cropped from the output.
        output_padding: added at the high end of each axis (smaller than the stride or the dilation).
        owner: the name used in error messages.
        in_shape: the whole input shape, for error messages.

    Example:
        >>> resolve_transposed_window((4,), 3, 2, 1, 1, 1).out_sizes   # ..., padding, output_padding
        (8,)
    """
    in_sizes = tuple(int(n) for n in in_sizes)
    d = len(in_sizes)
    kernel, stride, dilation = check_window(d, kernel, stride, dilation, None, owner)
    output_padding = check_output_padding(output_padding, stride, dilation, owner)
    pads = transposed_padding(padding, d, owner)
    out = transposed_window_output_shape(in_sizes, kernel, stride, pads, dilation, output_padding, owner, in_shape)
    return TransposedWindow(kernel, stride, dilation, pads, in_sizes, out, output_padding)


def check_window(ndim: int, kernel, stride, dilation, padding, owner: str, transposed: bool = False):
    """A constructor's check, before any input size is known: ``(kernel, stride, dilation)`` as
    tuples of ``ndim`` positive ints (``stride=None`` means the kernel), and ``padding`` valid
    (``None`` skips it). Returns the three tuples.

    Args:
        ndim: the number of spatial axes.
        kernel: an int or one per axis.
        stride: an int, one per axis, or ``None`` (the kernel size).
        dilation: an int or one per axis.
        padding: the padding to check (a mode string, ints or ``(lo, hi)`` pairs), or ``None`` to skip it.
        owner: the name used in error messages.
        transposed: check ``padding`` as a transposed convolution's crop (no mode strings) (default ``False``).

    Example:
        >>> check_window(2, kernel=3, stride=None, dilation=1, padding=0, owner="MaxPool2d")
        ((3, 3), (3, 3), (1, 1))
    """
    kernel = as_tuple(kernel, ndim, "kernel_size", owner)
    stride = kernel if stride is None else as_tuple(stride, ndim, "stride", owner)
    dilation = as_tuple(dilation, ndim, "dilation", owner)
    if padding is not None:
        transposed_padding(padding, ndim, owner) if transposed else check_padding(padding, ndim, owner)
    return kernel, stride, dilation


def check_padding(padding, ndim: int, owner: str) -> None:
    """Refuse a ``padding`` that no input size could make valid (an unknown mode, a wrong type).

    Args:
        padding: a mode string (``'valid'``, ``'same'``, ``'full'``, ``'causal'``), an int, ``ndim`` ints
            or ``ndim`` ``(lo, hi)`` pairs.
        ndim: the number of spatial axes.
        owner: the name used in error messages.

    Example:
        >>> check_padding(-1, 2, "Conv2d")
        Traceback (most recent call last):
            ...
        ValueError: Conv2d: padding must be non-negative, got -1
    """
    if isinstance(padding, str):
        # sizes only matter to 'same' with stride > 1, so any will do for the check
        resolve_padding(padding, (1,) * ndim, (1,) * ndim, (1,) * ndim, (1,) * ndim, owner)
    else:
        explicit_padding(padding, ndim, owner)


def transposed_padding(padding, ndim: int, owner: str) -> Pads:
    """``(lo, hi)`` pairs from an int, ``ndim`` ints or ``ndim`` pairs; the mode strings are refused.

    ``'same'``, ``'valid'``, ... describe how a convolution pads its input; a transposed
    convolution's ``padding`` crops its output instead, so only explicit amounts make sense.
    """
    if isinstance(padding, str):
        raise TypeError(f"{owner}: padding must be an int, a tuple of {ndim} ints or a tuple of {ndim} "
                        f"(lo, hi) pairs (a transposed convolution crops its output by it; padding modes "
                        f"are not defined), got {padding!r}")
    return explicit_padding(padding, ndim, owner)


def check_output_padding(output_padding, stride, dilation, owner: str) -> tuple[int, ...]:
    """PyTorch's rule: per axis, ``output_padding`` is smaller than the stride or the dilation."""
    output_padding = as_tuple(output_padding, len(stride), "output_padding", owner, minimum=0)
    for op, s, d in zip(output_padding, stride, dilation):
        if not (op < s or op < d):
            raise ValueError(f"{owner}: output_padding must be smaller than stride or dilation on every axis, "
                             f"got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    return output_padding
