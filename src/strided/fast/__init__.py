"""The compiled path: kernels of our own, compiled by Numba, where the NumPy path is memory-bound.

``pip install "strided[fast]"`` adds Numba. With it, the ops below run a compiled kernel of
their own instead of a sequence of NumPy calls; without it (``pip install strided``) every op
runs on NumPy alone and gives the same results within float32 rounding. The parity tests run
on both paths, and every benchmark figure says which path produced it (``path()``).

The kernels work on the batch-last buffers of ``windows`` (``(C, *S, N)``, the batch innermost)
one channel at a time, on the calling thread (``PARALLEL``). Where one exists:

* depthwise convolution (``groups == in_channels``, 2-D; also a one-channel input's first layer):
  forward and both gradients, straight on the input, no window copies (``fast/depthwise.py``);
* the fold of convolution's backward (blocked ``col2im``, 1-D and 2-D): all taps of a channel
  while its part of the grid is in cache (``fast/windows.py``);
* batch normalisation, forward (with the fused ReLU) and backward: each channel row read two or
  three times while it is in cache, sums in float64 (``fast/norm.py``);
* 2-D max and average pooling, forward and backward: windows read in place, no padded copy, the
  max-pool winners recorded in the forward (``fast/pool.py``);
* ReLU, clipping (``hardtanh``, ``relu6``) and the leaky ReLU, forward and backward: one
  vectorised pass over the memory where NumPy's loop against a scalar bound is not vectorised and
  ``np.where`` is slow (``fast/elementwise.py``);
* 3x3 convolution at stride 1, in training and inference, by Winograd's F(4x4, 3x3): tile
  transforms of our own around 36 BLAS products a quarter of im2col's size (``fast/winograd.py``),
  along the batch (``fast/winograd_tiles.py``) or, for a short batch, along rows of tiles
  (``fast/winograd_phases.py``);
* the weight gradients whose output is narrow (``C_out`` by ``C_in`` times the taps, summed over
  every position): 4x4 blocks of dot products instead of the BLAS (``fast/gram.py``).

Switching: ``st.fast.set_enabled(False)`` (or ``with st.fast.disabled():``) runs NumPy alone;
``STRIDED_FAST=0`` in the environment starts a process that way. Nothing is compiled or imported
at ``import strided``: Numba is imported by the first op that uses a kernel, and each kernel is
compiled on its first call for its dtype and cached on disk (``cache=True``), so later processes
load it in milliseconds. Only NumPy arrays take the compiled path (a CuPy array never does).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os

import numpy as np

EXTRA_HINT = 'Numba, which the compiled path needs: pip install "strided[fast]"'

_available: bool | None = None          # is Numba importable? found once, without importing it
_enabled: bool | None = None            # None: not decided yet (decided on first use)

COMPILED_FROM = 4096
"""The size from which the element-wise kernels (and ``erfc``'s) run: below it NumPy's call is
cheaper than the kernel's dispatch (a ReLU of 1,176 values, LeNet-5's at batch 1: 1.9 us against
2.8 us; even at 4,096; 8,192: 4.3 against 3.2 us)."""

PARALLEL = False
"""Whether the kernels split their channels over threads (Numba's ``prange``). Off, as measured on
2 cores: each kernel runs between two BLAS products, whose OpenBLAS threads keep spinning after
them, and a parallel kernel waited for a core. ResNet-20's training step (batch 128) took 777 ms
with 2 Numba threads (OpenMP layer), 343-371 ms with passive or work-queue threads, 307 ms serial
(NumPy alone: 473 ms); MobileNetV2's 1,019 ms / 377-425 ms / 381 ms (NumPy: 894 ms); LeNet-5's
7.9 ms / - / 4.5 ms (NumPy: 4.4 ms)."""


def available() -> bool:
    """Whether Numba is installed (looked up once, without importing it)."""
    global _available
    if _available is None:
        _available = importlib.util.find_spec("numba") is not None
    return _available


def enabled() -> bool:
    """Whether ops take their compiled kernels: Numba is installed, ``STRIDED_FAST`` is not ``0``
    and ``set_enabled(False)`` was not called.

    Example:
        >>> enabled() in (True, False)
        True
    """
    global _enabled
    if _enabled is None:
        _enabled = available() and os.environ.get("STRIDED_FAST", "1").strip() not in ("0", "false", "no", "off")
    return _enabled


def set_enabled(flag: bool) -> None:
    """Use the compiled kernels (``True``) or NumPy alone (``False``) from now on, process-wide.

    Raises ``ImportError`` naming the ``strided[fast]`` extra when ``True`` is asked without Numba,
    and ``TypeError`` for anything but a bool.
    """
    global _enabled
    if not isinstance(flag, (bool, np.bool_)):
        raise TypeError(f"strided.fast.set_enabled: expected True or False, got {flag!r} ({type(flag).__name__})")
    if flag and not available():
        raise ImportError(f"strided.fast.set_enabled(True) needs {EXTRA_HINT}")
    _enabled = bool(flag)


@contextlib.contextmanager
def using(flag: bool):
    """Run a block on the compiled path (``True``) or on NumPy alone (``False``), then restore.

    Example:
        >>> with using(False):
        ...     path()
        'numpy'
    """
    before = enabled()
    set_enabled(flag)
    try:
        yield
    finally:
        set_enabled(before)


def disabled():
    """``using(False)``: a block computed by NumPy alone."""
    return using(False)


def path() -> str:
    """Which path computes now: ``'numba'`` (the compiled kernels) or ``'numpy'``."""
    return "numba" if enabled() else "numpy"


def applies(*arrays) -> bool:
    """Whether the compiled path is on and can take these arrays (NumPy arrays of float32 or
    float64; a CuPy array, an integer or a complex array stays on the array-namespace path)."""
    if not enabled():
        return False
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype not in _FLOATS:
            return False
    return True


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def kernels(family: str):
    """The kernel module of one op family (``'depthwise'``, ...), imported (and Numba with it) on
    first use."""
    module = _kernel_modules.get(family)
    if module is None:                                                  # importlib's lookup costs ~2 us a call
        module = _kernel_modules[family] = importlib.import_module(f".{family}", __name__)
    return module


_kernel_modules: dict = {}


__all__ = ["available", "enabled", "set_enabled", "using", "disabled", "path", "applies", "kernels"]
