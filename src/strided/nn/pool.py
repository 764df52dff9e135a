"""What max and average pooling share (``max_pool.py``, ``avg_pool.py``; global pooling:
``global_pool.py``): the checked ``Window`` of a pooling call, the memory check, the
half-kernel padding rule and the ``_PoolNd`` layer base.

Windowed pooling walks the kernel taps (``Window.taps``) over the padded input. PyTorch's
options: ``dilation``, ``ceil_mode`` (the output sizes round up; the last window may then reach
past the padded input, and the resolved ``Window`` pads the data that far), and a ``padding`` of
at most half the kernel (the padding asked for: ``ceil_mode``'s overhang is not counted).
"""

from __future__ import annotations

import math

from ..errors import expected_input
from ..geometry import ReceptiveField, Window, check_ceil_mode, check_window, explicit_padding, resolve_window
from ..tensor import Tensor, is_grad_enabled
from ..windows import batch_last
from . import allocation
from .allocation import check_bytes
from .helpers import check_spatial_sizes, describe_layout
from .module import Module


def pool_window(in_shape, ndim: int, kernel_size, stride, padding, dilation, ceil_mode, owner: str) -> Window:
    """Check a pooling call against ``in_shape`` (``(N, C, *S)`` or unbatched ``(C, *S)``) and
    resolve its ``Window``.

    ``stride=None`` means the kernel size; no side may be padded by more than half the kernel
    (the padding asked for: ``ceil_mode``'s overhang is not counted).
    """
    if len(in_shape) not in (ndim + 1, ndim + 2):
        raise expected_input(owner, describe_layout(ndim, in_shape), in_shape)
    check_spatial_sizes(owner, in_shape, ndim)
    window = resolve_window(in_shape[-ndim:], kernel_size, stride, dilation, padding, ceil_mode, owner=owner,
                            in_shape=in_shape)
    _check_half_kernel(window.declared_pads, window.kernel, padding, owner)
    return window


def check_pool_bytes(owner: str, x, window: Window, copies: int) -> None:
    """Refuse a pooling whose ``copies`` padded-size buffers and output would not fit in memory."""
    planes = x.data.size // max(1, math.prod(window.in_sizes))          # N * C
    nbytes = planes * (copies * math.prod(window.padded_sizes) + math.prod(window.out_sizes)) * x.data.itemsize
    if nbytes > allocation.CHECK_ABOVE_BYTES:                          # below it nothing to check: no message built
        check_bytes(owner, nbytes, f"its padded input {x.shape[:2] + window.padded_sizes} and output "
                    f"{x.shape[:2] + window.out_sizes}", x.shape)


def _check_half_kernel(pads, kernel, padding, owner: str) -> None:
    if any(max(lo, hi) > k // 2 for (lo, hi), k in zip(pads, kernel)):
        raise ValueError(f"{owner}: padding must be at most half the kernel size {kernel}, got {padding!r}")


def _compiled_pays(x: Tensor) -> bool:
    """Whether a 2-D pooling of ``x`` gains from the compiled kernels: in training (the backward
    pass gains most) and on a batch-last buffer with ``N > 1``; an inference in C order (batch 1)
    stays on NumPy's strided maxima and sums, as fast there (measured on ResNet's stem)."""
    return (x.requires_grad and is_grad_enabled()) or (x.shape[0] > 1 and batch_last(x.data))


class _PoolNd(Module):
    """Shared body of the windowed pooling layers (``ndim`` set by each subclass)."""

    ndim = 0

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size, self.stride, self.dilation = check_window(self.ndim, kernel_size, stride, dilation,
                                                                    padding, name)
        if not isinstance(padding, str):                                # a mode's amounts depend on the input size
            _check_half_kernel(explicit_padding(padding, self.ndim, name), self.kernel_size, padding, name)
        self.padding = padding
        self.ceil_mode = check_ceil_mode(ceil_mode, name)

    def window(self, in_shape) -> Window:
        """The geometry this layer resolves to for an input of ``in_shape`` (checked as a forward pass would)."""
        return pool_window(tuple(in_shape), self.ndim, self.kernel_size, self.stride, self.padding, self.dilation,
                           self.ceil_mode, self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim]) + self.window(in_shape).out_sizes   # (N, C, *O) or (C, *O)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def extra_repr(self) -> str:
        defaults = {"padding": 0, "dilation": (1,) * self.ndim, "ceil_mode": False, "return_indices": False,
                    "count_include_pad": True, "divisor_override": None}
        return ", ".join([f"kernel_size={self.kernel_size}", f"stride={self.stride}"] + [
            f"{key}={getattr(self, key)!r}" for key, default in defaults.items()
            if key in self.__dict__ and getattr(self, key) != default])
