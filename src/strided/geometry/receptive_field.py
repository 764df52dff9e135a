"""The receptive-field recurrence of Araujo et al. (Distill, 2019), and its transposed form.

Coordinates are pixel indices of the network input: the centre of the first input pixel is
0.0, so ``start`` is the index of the centre of the first output's window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .sizes import kernel_extent


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one activation, per spatial axis (Araujo et al., Distill 2019).

    Args:
        size: input pixels seen by one output, per axis.
        jump: input pixels between neighbouring outputs (the effective stride), per axis.
        start: input index of the centre of the first output's window, per axis (the first input
            pixel's centre is 0.0; negative when the window hangs into padding).

    Example:
        >>> ReceptiveField.identity(2).through_window((3, 3), (2, 2), (1, 1), (1, 1))
        ReceptiveField(size=(3, 3), jump=(2, 2), start=(0.0, 0.0))
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
        keff = [kernel_extent(k, d) for k, d in zip(kernel, dilation)]
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
        keff = [kernel_extent(k, d) for k, d in zip(kernel, dilation)]
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
