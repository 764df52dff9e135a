"""Refusing an allocation that cannot fit, before making it.

A convolution, transposed convolution, pooling, interpolation, padding or dense layer whose
output, padded copy or column buffer would need more memory than the machine has would
otherwise run for seconds and then die in NumPy (or be killed by the kernel once overcommitted
pages are touched). Each of them adds up the bytes its forward pass will allocate from the
shapes alone and calls ``check_bytes`` first, which raises an ``AllocationError`` naming the
layer, the input shape, what it would allocate and how many bytes, against the memory
available.

The fast path stays fast: below ``CHECK_ABOVE_BYTES`` nothing is read. Above it the limit is
``MemAvailable`` from ``/proc/meminfo`` (Linux), else the physical memory
(``os.sysconf``), else ``FALLBACK_LIMIT_BYTES``.

>>> import numpy as np
>>> from strided import nn
>>> nn.ConvTranspose2d(1, 1, 3, stride=10**6)(np.zeros((1, 1, 100, 100)))   # doctest: +ELLIPSIS
Traceback (most recent call last):
...
strided.nn.allocation.AllocationError: ConvTranspose2d(1, 1, kernel_size=(3, 3), stride=(1000000, 1000000)): input (1, 1, 100, 100) needs ...
"""

from __future__ import annotations

import os

from ..errors import shape_str

CHECK_ABOVE_BYTES = 1 << 28
"""Allocations up to 256 MiB are not checked: no file is read on the everyday path."""

FALLBACK_LIMIT_BYTES = 1 << 40
"""The limit (1 TiB) where neither ``/proc/meminfo`` nor ``os.sysconf`` says how much memory there is."""


class AllocationError(MemoryError, ValueError):
    """An op would allocate more memory than is available; raised before allocating anything.

    Both a ``MemoryError`` (what NumPy would have raised, late) and a ``ValueError`` (a user
    mistake in the shapes or arguments: the command line reports it in one line).

    Example:
        >>> issubclass(AllocationError, MemoryError) and issubclass(AllocationError, ValueError)
        True
    """


def available_bytes() -> tuple[int, str]:
    """``(bytes, where the figure comes from)``: ``MemAvailable``, else physical memory, else the fallback."""
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "physical memory"
    except (AttributeError, ValueError, OSError):
        return FALLBACK_LIMIT_BYTES, "the fixed limit strided.nn.allocation.FALLBACK_LIMIT_BYTES"


def format_bytes(n: int) -> str:
    """``12,884,901,888 bytes (12.0 GiB)``.

    >>> format_bytes(3 << 30)
    '3,221,225,472 bytes (3.0 GiB)'
    """
    value, unit = float(n), "bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if value < 1024:
            break
    return f"{n:,} bytes ({value:.1f} {unit})"


def check_bytes(owner: str, nbytes: int, what: str, in_shape) -> None:
    """Raise an ``AllocationError`` when ``nbytes`` (Python int arithmetic, no overflow) would not fit.

    ``what`` says what the bytes are for (``"the output (1, 16, 100000, 100000)"``); the message
    names ``owner`` and ``in_shape`` too.
    """
    if nbytes <= CHECK_ABOVE_BYTES:
        return
    limit, source = available_bytes()
    if nbytes > limit:
        raise AllocationError(f"{owner}: input {shape_str(tuple(in_shape))} needs {format_bytes(nbytes)} for "
                              f"{what}, more than the {format_bytes(limit)} available ({source}); use a smaller "
                              f"batch, input or geometry")


__all__ = ["AllocationError", "available_bytes", "check_bytes", "format_bytes", "CHECK_ABOVE_BYTES"]
