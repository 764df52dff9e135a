"""Keep freed array memory in the process for reuse (glibc ``mallopt``), instead of handing it back.

A training step allocates and frees the same large arrays every step (column matrices,
activations, gradients: megabytes each). With glibc's defaults the biggest ones are ``mmap``-ed
and unmapped each time, and the heap is trimmed whenever enough of its top is free, so every
step pays the kernel to map and zero those pages again (page faults): measured on LeNet-5 at
batch 64, about 40% of the step. ``keep_freed_memory()`` tells glibc to serve large arrays from
the heap and not to trim it, so a step reuses the pages of the previous one. Peak memory does
not grow (the same arrays are live at the peak); the process just keeps its peak once reached.

It runs once when ``strided`` is imported, on Linux with glibc only, unless the environment
already sets a glibc malloc tunable (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_MMAP_MAX_``, ``MALLOC_TOP_PAD_``, ``GLIBC_TUNABLES``) or ``STRIDED_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4          # glibc's mallopt parameter numbers
USER_TUNABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_",
                 "GLIBC_TUNABLES")
TRIM_THRESHOLD = 1 << 30      # trim the heap only when 1 GiB at its top is free
TOP_PAD = 64 << 20            # grow the heap 64 MiB at a time

_applied: bool | None = None


def keep_freed_memory(force: bool = False) -> bool:
    """Ask glibc to keep freed memory for reuse; ``True`` when the setting is in effect.

    Does nothing (returns ``False``) off Linux/glibc, when the user tuned malloc through the
    environment, or when ``STRIDED_KEEP_FREED_MEMORY=0``; ``force=True`` ignores those two.
    """
    global _applied
    if _applied is not None and not force:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    if not force and (os.environ.get("STRIDED_KEEP_FREED_MEMORY", "1") == "0"
                      or any(v in os.environ for v in USER_TUNABLES)):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):      # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in
             ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))
    _applied = ok
    return ok
