"""Keep freed array memory in the process for reuse (glibc ``mallopt``), instead of handing it back.

A training step allocates and frees the same large arrays every step (column matrices,
activations, gradients: megabytes each). With glibc's defaults the biggest ones are ``mmap``-ed
and unmapped each time, and the heap is trimmed whenever enough of its top is free, so every
step pays the kernel to map and zero those pages again (page faults): measured on LeNet-5 at
batch 64, about 40% of the step. ``keep_freed_memory()`` tells glibc to serve large arrays from
the heap (no ``mmap``), to trim it only when 1 GiB at its top is free, and to grow it 64 MiB at a
time, so a step reuses the pages of the previous one. Peak memory does not grow (the same arrays
are live at the peak); the process just keeps its peak once reached.

This changes the C allocator of the whole process, so the library never does it on its own:
``import strided`` changes no process-wide state. It is an explicit call,
``strided.memory.keep_freed_memory()``, made by the programs that own their process and spend
it training or running models: the ``strided`` command line (``strided train``), the digits
job behind it (``strided.train.run_digits_job``) and the benchmark workers. The library's
``fit`` leaves it to the script that owns the process: call it once before training.

It works on Linux with glibc only, and does nothing when the environment already sets a glibc
malloc tunable (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_MMAP_MAX_``,
``MALLOC_TOP_PAD_``, ``GLIBC_TUNABLES``): the user's own settings win unless ``force=True``.
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

_applied: bool | None = None     # None: never called (import does not call it)


def keep_freed_memory(force: bool = False) -> bool:
    """Ask glibc to keep freed memory for reuse; ``True`` when the setting is in effect.

    Does nothing (returns ``False``) off Linux/glibc, or when the user tuned malloc through the
    environment (a ``MALLOC_*_`` variable or ``GLIBC_TUNABLES``, see ``USER_TUNABLES``), unless
    ``force=True``. The first call decides; later calls return its answer (``force=True`` applies
    the setting again). Never called at import: see the module docstring for who calls it.

    Args:
        force: apply the setting even when the user tuned malloc through the environment.

    Example:
        >>> keep_freed_memory()  # doctest: +SKIP
        True
    """
    global _applied
    if _applied is not None and not force:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    if not force and any(v in os.environ for v in USER_TUNABLES):
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
