"""strided: convolutional neural networks from first principles on NumPy.

>>> import strided as st
>>> x = st.Tensor([[1.0, -2.0]], requires_grad=True)
"""

from . import analysis, geometry, models, nn, optim
from .analysis import summary
from .errors import ShapeError
from .io import load, save
from .tensor import Tensor, is_grad_enabled, no_grad

__version__ = "0.1.0"

__all__ = ["Tensor", "summary", "analysis", "no_grad", "is_grad_enabled", "nn", "optim", "models", "geometry", "save", "load", "ShapeError",
           "__version__"]
