"""strided: convolutional neural networks from first principles on NumPy.

>>> import strided as st
>>> x = st.Tensor([[1.0, -2.0]], requires_grad=True)
"""

# Import changes no process-wide state: the allocator setting for training is an explicit call,
# st.memory.keep_freed_memory(), made by `strided train`, strided.train and the benchmarks (see memory.py).
from . import analysis, geometry, memory, models, nn, optim  # noqa: E402
from .analysis import summary  # noqa: E402
from .errors import ShapeError  # noqa: E402
from .io import load, save  # noqa: E402
from .tensor import Tensor, is_grad_enabled, no_grad  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Tensor", "summary", "analysis", "no_grad", "is_grad_enabled", "nn", "optim", "models", "geometry", "memory", "save", "load",
           "ShapeError", "__version__"]
