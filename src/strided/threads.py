"""How many threads the matrix products use: ``st.set_num_threads(n)`` / ``st.get_num_threads()``.

strided's matrix products run in the BLAS that NumPy loads (OpenBLAS in NumPy's wheels), which
starts one thread per CPU of the machine. On an idle machine two threads beat one by 20-30%; on a
busy one the BLAS's spinning threads fight the other work, and a LeNet-5 training step ran ten
times slower with two threads than with one (issue 18). These two functions play the part of
``torch.set_num_threads`` / ``torch.get_num_threads``, through threadpoolctl, which finds the
BLAS libraries loaded in the process and calls their own thread-count functions.

threadpoolctl is optional (``pip install "strided[fast]"``). Without it ``get_num_threads``
reads what the BLAS starts with (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``, else the CPU count), and ``set_num_threads`` raises ``ImportError`` naming
the extra; setting ``OPENBLAS_NUM_THREADS`` before starting Python works without it.

``set_num_threads(n)`` also sets how many threads strided's own compiled kernels share their work
over (``own_threads``; Winograd's tile chunks, batch normalisation's channels and an inference max
pool's channels, ``fast.split``): one unless it is called, as PyTorch's intra-op threads cover
its own kernels and its BLAS alike. Those threads need the cores the BLAS's idle threads would
spin on: OpenBLAS keeps its threads spinning for 2^28 cycles (0.1-0.2 s here) after every
product run on them, so a kernel split over two threads right after a product ran slower than
on one (ResNet-20's 16-channel Winograd forward, 5.48 against 4.72 ms). With more than one thread ``set_num_threads`` therefore shortens that spin
to ``2^OPENBLAS_SPIN`` cycles (``OPENBLAS_THREAD_TIMEOUT``, which OpenBLAS reads again through its
own ``openblas_read_env`` and applies when its threads restart), unless the variable was set
before: then it is left as set.

Nothing happens at import: the BLAS is only touched when ``set_num_threads`` is called, and the
setting holds for the rest of the process (every BLAS library loaded at that moment).
"""

from __future__ import annotations

import ctypes
import functools
import numbers
import os

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")   # read by the BLAS at load, in order
SPIN_VAR = "OPENBLAS_THREAD_TIMEOUT"     # log2 of the cycles OpenBLAS's idle threads spin (its default 28)
OPENBLAS_SPIN = 20                         # ... once strided splits its own work: LeNet-5's step, whose
#   products follow each other within microseconds, alternated in one process (ms): 28 -> 2.83, 20 -> 2.83,
#   16 -> 2.87, 12 -> 3.00, 4 -> 3.03 (every product then wakes sleeping threads)
EXTRA_HINT = 'threadpoolctl, which strided uses to set the BLAS\'s threads: pip install "strided[fast]"'


def _threadpoolctl(owner: str):
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError(f"strided.{owner} needs {EXTRA_HINT} (or set OPENBLAS_NUM_THREADS before starting "
                          f"Python)") from None
    return threadpoolctl


def _blas_pools(threadpoolctl) -> list[dict]:
    """threadpoolctl's description of each BLAS library loaded in this process."""
    return [pool for pool in threadpoolctl.threadpool_info() if pool.get("user_api") == "blas"]


def _threads_from_env() -> int:
    """What the BLAS starts with: the first thread variable holding a positive int, else the CPU count."""
    for var in THREAD_VARS:
        try:
            value = int(os.environ.get(var, ""))
        except ValueError:
            continue
        if value > 0:
            return value
    return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads the BLAS behind NumPy's matrix products uses (the most of any BLAS loaded).

    With threadpoolctl it asks the BLAS; without it, it reads the thread variables the BLAS read at
    load (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) or the CPU count.

    Example:
        >>> get_num_threads() >= 1
        True
    """
    try:
        import threadpoolctl
    except ImportError:
        return _threads_from_env()
    pools = _blas_pools(threadpoolctl)
    return max(pool["num_threads"] for pool in pools) if pools else _threads_from_env()


def set_num_threads(n: int) -> None:
    """Make every BLAS loaded in this process (NumPy's) use ``n`` threads, for the rest of the process,
    and strided's own compiled kernels share their work over ``n`` threads (``own_threads``; with
    ``n > 1`` OpenBLAS's idle spin is shortened, see the module's docstring).

    ``n`` is a positive int; ``1`` suits a machine busy with other work (no spinning threads).
    Raises ``TypeError``/``ValueError`` for anything else, and ``ImportError`` naming the
    ``strided[fast]`` extra where threadpoolctl is not installed.

    Args:
        n: the number of threads, a positive int.

    Example:
        >>> previous = get_num_threads()
        >>> set_num_threads(1)
        >>> get_num_threads()
        1
        >>> set_num_threads(previous)  # restore
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):      # NumPy ints are Integral too
        raise TypeError(f"strided.set_num_threads: expected a positive int, got {n!r} ({type(n).__name__})")
    if n < 1:
        raise ValueError(f"strided.set_num_threads: expected a positive int (1 or more threads), got {n}")
    threadpoolctl = _threadpoolctl("set_num_threads")
    if not _blas_pools(threadpoolctl):
        raise RuntimeError("strided.set_num_threads: threadpoolctl found no BLAS library loaded in this process "
                           "(NumPy's is loaded by import numpy); nothing to set")
    # the limit is applied when this object is made and kept until restored; it is never restored here
    threadpoolctl.threadpool_limits(limits=int(n), user_api="blas")
    global _own_threads
    _own_threads = int(n)
    if n > 1 and SPIN_VAR not in os.environ:
        _shorten_openblas_spin(threadpoolctl)


_own_threads = 1                            # set by ``set_num_threads``


def own_threads() -> int:
    """How many threads strided's own compiled kernels split their work over: the last
    ``set_num_threads``, else one (``fast.split``).

    Example:
        >>> own_threads() >= 1
        True
    """
    return _own_threads


def _shorten_openblas_spin(threadpoolctl) -> None:
    """Make each OpenBLAS loaded spin ``2^OPENBLAS_SPIN`` cycles before its idle threads sleep:
    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` again (``openblas_read_env``, the variable set only
    for that call) and takes it when its threads start, so they are stopped
    (``blas_thread_shutdown_``) and the next product starts them afresh with the thread count
    set. A BLAS without those functions is left as it is."""
    for controller in threadpoolctl.ThreadpoolController().lib_controllers:
        if controller.internal_api != "openblas":
            continue
        library = ctypes.CDLL(controller.filepath)
        if not (hasattr(library, "openblas_read_env") and hasattr(library, "blas_thread_shutdown_")):
            continue
        os.environ[SPIN_VAR] = str(OPENBLAS_SPIN)
        try:
            library.openblas_read_env()
        finally:
            del os.environ[SPIN_VAR]
        library.blas_thread_shutdown_()


def blas_kernels() -> str:
    """The kernel family the BLAS behind NumPy chose when it loaded, lower case (OpenBLAS:
    ``'skylakex'`` for its AVX-512 kernels, ``'haswell'`` for AVX2, ...; ``OPENBLAS_CORETYPE``
    overrides its choice), or ``''`` where it is unknown (no threadpoolctl, a BLAS that does not
    say). Fixed for the life of the process; asked once.

    Example:
        >>> isinstance(blas_kernels(), str)
        True
    """
    return _blas_kernels()


@functools.cache
def _blas_kernels() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return ""
    pools = _blas_pools(threadpoolctl)
    pools = [pool for pool in pools if "numpy" in str(pool.get("filepath", ""))] or pools   # NumPy's own first
    names = {str(pool.get("architecture") or "").lower() for pool in pools}
    return names.pop() if len(names) == 1 else ""


__all__ = ["get_num_threads", "own_threads", "set_num_threads"]
