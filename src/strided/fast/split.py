"""Work shared over strided's own threads (``st.set_num_threads``, ``threads.own_threads``).

The BLAS runs a large product on every core, but much of a step runs on one: the compiled
kernels around the products (Winograd's tile transforms, batch normalisation), and products
too small to gain from the BLAS's threads (the 36 plane products of ResNet-20's 16-channel
Winograd layer took the same time on one OpenBLAS thread as on two). ``run_parts`` runs such
work as independent parts, one on the calling thread and the others on a pool of Python threads;
the kernels release the GIL (Numba's ``nogil``) and so does NumPy's matrix product, so the parts
run at once. ``over_rows`` shares a kernel's rows that way: batch normalisation's channels, and the
channels of an inference max pool's NumPy maxima (``np.maximum`` releases the GIL too).

The pool is made at the first split (nothing at import) and kept for the process; its threads
sleep between splits. A child forked from a process that had made it (``multiprocessing``'s
default start on Linux) gets none of its threads, so the child makes its own at its first split
(with the parent's pool it would wait for ever on work no thread takes). Parts are given out in
a fixed order, each to its own thread, so a split computes the same bits on every run.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..threads import own_threads

SPLIT_ROW_VALUES = 2**17                   # ``over_rows``: values from which a split pays for its hand-off
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_pool_pid = 0                              # the process that made ``_pool``


def split_threads() -> int:
    """Threads a split runs on: ``own_threads()`` (one unless ``st.set_num_threads`` says more)."""
    return own_threads()


def run_parts(work, parts: int) -> None:
    """``work(i)`` for ``i`` in ``range(parts)``: part 0 on the calling thread, the others on the
    pool, all at once; returns when every part is done, raising the first part's error."""
    if parts <= 1:
        work(0)
        return
    futures = [_workers(parts - 1).submit(work, i) for i in range(1, parts)]
    try:
        work(0)
    finally:
        errors = [future.exception() for future in futures]             # waits for every part
    for error in errors:
        if error is not None:
            raise error


def over_rows(kernel, rows: int, row_values: int, *args) -> None:
    """``kernel(*args)``, whose every array argument with ``rows`` rows (first axis) is worked on
    row by row, as ``split_threads()`` calls on consecutive blocks of rows where the arrays hold
    at least ``SPLIT_ROW_VALUES`` values (``rows * row_values``); else one call. Each row is
    computed whole by one thread: the same bits as one call. Array arguments of other lengths
    and scalars go to every call as they are."""
    parts = min(split_threads(), rows) if rows * row_values >= SPLIT_ROW_VALUES else 1
    if parts <= 1:
        kernel(*args)
        return
    bounds = [rows * i // parts for i in range(parts + 1)]

    def block(part):
        first, end = bounds[part], bounds[part + 1]
        kernel(*(a[first:end] if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == rows else a for a in args))
    run_parts(block, parts)


def _workers(count: int) -> ThreadPoolExecutor:
    """The pool, grown to at least ``count`` threads; a new one in a forked child."""
    global _pool, _pool_size, _pool_lock, _pool_pid
    if _pool_pid != os.getpid():                                        # first use, or a fork's child: the
        _pool_lock, _pool, _pool_size, _pool_pid = threading.Lock(), None, 0, os.getpid()   # threads stayed behind
    with _pool_lock:
        if _pool is None or _pool_size < count:
            previous, _pool, _pool_size = _pool, ThreadPoolExecutor(count, thread_name_prefix="strided-split"), count
            if previous is not None:
                previous.shutdown(wait=False)
        return _pool
