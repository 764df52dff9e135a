"""strided: convolutional neural networks from first principles on NumPy.

>>> import strided as st
>>> x = st.Tensor([[1.0, -2.0]], requires_grad=True)
"""

# Import changes no process-wide state: the allocator setting for training is an explicit call,
# st.memory.keep_freed_memory(), made by `strided train`, strided.train and the benchmarks (see memory.py).
from . import analysis, data, geometry, memory, models, nn, optim  # noqa: E402
from . import backend, cuda  # noqa: E402  (array backends: NumPy always, CuPy for device="cuda" on first use)
from . import fast  # noqa: E402  (the compiled path: Numba kernels where installed, st.fast.path())
from . import random  # noqa: E402  (the default generator: st.manual_seed)
from .backend import Device as device  # noqa: E402
from .analysis import summary  # noqa: E402
from .errors import ShapeError  # noqa: E402
from .io import load, save  # noqa: E402
from .nn.fusion import optimize_for_inference  # noqa: E402  (batch norms folded, weights frozen)
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state  # noqa: E402
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad  # noqa: E402
from .tensor import as_tensor  # noqa: E402
from .tensor_ops import abs, clamp, clip, exp, log, matmul, maximum, minimum, pow, sqrt, where  # noqa: E402,A004
from .tensor_shape import cat, chunk, expand, permute, split, squeeze, stack, unsqueeze  # noqa: E402
from .threads import get_num_threads, set_num_threads  # noqa: E402  (BLAS threads, through threadpoolctl)

__version__ = "0.1.0"

# Imported on first use (st.train, st.onnx, st.viz, st.distributed), which keeps `import strided` fast:
# train: fit, evaluate, predict, metrics, callbacks, checkpoints; distributed: data-parallel over MPI (mpi4py only
# under a launcher); onnx: load / info / export (the onnx package only when a model is read); viz: pictures
# (matplotlib and Pillow only when one is drawn).
_LAZY = ("train", "distributed", "onnx", "viz")

from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:                   # type checkers see them as ordinary submodules
    from . import distributed, onnx, train, viz  # noqa: F401


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'strided' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = ["Tensor", "summary", "analysis", "data", "train", "no_grad", "enable_grad", "optimize_for_inference", "is_grad_enabled", "nn", "optim", "models", "distributed", "geometry", "memory", "onnx", "viz", "save", "load",
           "ShapeError", "__version__",
           "random", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "as_tensor", "abs", "clamp", "clip", "exp", "log", "matmul", "maximum", "minimum", "pow", "sqrt", "where",
           "cat", "chunk", "expand", "permute", "split", "squeeze", "stack", "unsqueeze",
           "get_num_threads", "set_num_threads", "backend", "cuda", "device", "fast"]
