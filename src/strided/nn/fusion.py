"""Running a chain of layers, with the pairs that have a faster joint form fused.

``Sequential`` and the residual blocks run their layers through ``run_chain``. Two pairs are
recognised (exact layer types only, so a subclass with its own ``forward`` is never bypassed):

* ``BatchNorm{1,2,3}d`` then ``ReLU``: one op, ``batch_norm(..., relu=True)``, which applies the
  maximum while each block of rows is in the cache and masks the gradient the same way;
* ``ReLU`` then ``MaxPool{1,2,3}d``: the pool runs first and the ReLU after it, on the pooled
  values only. The maximum commutes with the ReLU, and so do the gradients, ties included: a
  window whose maximum is positive routes to the same first maximum either way, and a window
  whose maximum is at most 0 gets no gradient either way (the ReLU's gradient at 0 is 0).

The static rules (``walk``, ``summary``) still see every layer; only the arithmetic is shared.
"""

from __future__ import annotations

from .activation import ReLU
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .pool import MaxPool1d, MaxPool2d, MaxPool3d

BATCH_NORMS = (BatchNorm1d, BatchNorm2d, BatchNorm3d)
MAX_POOLS = (MaxPool1d, MaxPool2d, MaxPool3d)


def run_chain(modules, x):
    """Apply ``modules`` in order to ``x``, fusing the pairs listed in the module notes."""
    modules = list(modules)
    i = 0
    while i < len(modules):
        layer = modules[i]
        after = modules[i + 1] if i + 1 < len(modules) else None
        if type(after) is ReLU and type(layer) in BATCH_NORMS:
            x = layer(x, relu=True)
            i += 2
        elif type(layer) is ReLU and type(after) in MAX_POOLS:
            x = layer(after(x))
            i += 2
        else:
            x = layer(x)
            i += 1
    return x
