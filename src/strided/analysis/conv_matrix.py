"""The convolution as its explicit matrix: ``M @ x.ravel() == layer(x).ravel()`` for one example.

A convolution is a linear map, and lecture 000 (equation 6) writes it as a banded (Toeplitz;
doubly block Toeplitz in 2-D) matrix. ``conv_matrix`` builds that matrix for any convolution
(1-D/2-D/3-D, stride, padding, dilation, groups), for locally-connected layers (the same band
structure with unshared values) and for transposed convolution (the transpose of the matching
convolution's matrix). Bias is excluded: the layer computes ``M @ x + b``.

Each layer says where its weights sit through its ``matrix_entries`` rule (``strided.toeplitz``,
built from the same windowing primitive the ops use); this module fills in the values, as a
sparse or dense matrix or as symbolic labels. Rows are the output's ``(C_out, *O)`` raveled,
columns the input's ``(C_in, *S)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, shape_str


def _entries(layer, input_shape):
    """The layer's ``toeplitz.MatrixEntries`` for one example of ``input_shape``, from its own rule."""
    rule = getattr(layer, "matrix_entries", None)
    if rule is None:
        raise TypeError(f"conv_matrix: expected a convolution, transposed convolution or locally-connected layer, "
                        f"got {type(layer).__name__} (it has no matrix_entries rule)")
    return rule(_check_input(layer, input_shape))


def _check_input(layer, input_shape):
    shape = tuple(int(v) for v in input_shape)
    if len(shape) >= 1 and shape[0] == 1 and len(shape) == layer.ndim + 2:
        shape = shape[1:]
    if len(shape) != layer.ndim + 1:
        raise ShapeError(f"conv_matrix: {layer._describe()} takes one example of shape (C, *spatial) with "
                         f"{layer.ndim} spatial axes, got {shape_str(tuple(input_shape))}")
    return shape


def conv_matrix(layer, input_shape, sparse: bool | None = None):
    """The matrix ``M`` with ``M @ x.ravel() == (layer(x) - bias).ravel()`` for one example ``x``.

    ``input_shape`` is ``(C, *S)`` (or ``(1, C, *S)``). Returns a ``scipy.sparse`` CSR matrix
    when SciPy is installed (``sparse=None``) or asked for (``sparse=True``), else a dense array.

    Args:
        layer: a convolution, transposed convolution or locally-connected layer (any dimension, stride,
            padding, dilation, groups).
        input_shape: ``(C, *spatial)`` without the batch axis.
        sparse: ``True``: a ``scipy.sparse`` CSR matrix; ``False``: a dense array; ``None``: sparse when
            SciPy is installed.

    Shape: ``(C_out * prod(O), C_in * prod(S))``.

    >>> from strided import nn
    >>> conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)
    >>> conv_matrix(conv, (1, 4), sparse=False).shape
    (4, 4)
    """
    rows, cols, weight_index, shape = _entries(layer, input_shape)
    values = layer.weight.data.ravel()[weight_index]
    if sparse is None or sparse:
        try:
            from scipy.sparse import csr_matrix
        except ImportError:
            if sparse:
                raise ImportError("conv_matrix(sparse=True) needs SciPy: pip install scipy") from None
        else:
            return csr_matrix((values, (rows, cols)), shape=shape)
    dense = np.zeros(shape, dtype=layer.weight.data.dtype)
    np.add.at(dense, (rows, cols), values)                             # a copying padding repeats positions
    return dense


def conv_matrix_labels(layer, input_shape, name: str = "W") -> np.ndarray:
    """The matrix with symbolic entries: ``'W1'`` ... for the weight taps, ``'0'`` elsewhere
    (``'W1+W3'`` where a reflect/replicate/circular padding makes two taps read one pixel).

    Weights are numbered 1, 2, ... in the order of ``layer.weight.ravel()``.

    Args:
        layer: as for ``conv_matrix``.
        input_shape: ``(C, *spatial)`` without the batch axis.
        name: the weight symbol (``'W'`` gives ``W1``, ``W2``, ...).

    Example:
        >>> from strided import nn
        >>> print(format_matrix(conv_matrix_labels(nn.Conv1d(1, 1, 3, padding=1), (1, 4))))
        [W2 W3 0  0 ]
        [W1 W2 W3 0 ]
        [0  W1 W2 W3]
        [0  0  W1 W2]
    """
    rows, cols, weight_index, shape = _entries(layer, input_shape)
    labels = np.full(shape, "0", dtype=object)
    for r, c, i in zip(rows, cols, weight_index):                      # a copying padding sums several weights
        labels[r, c] = f"{name}{i + 1}" if labels[r, c] == "0" else f"{labels[r, c]}+{name}{i + 1}"
    return labels


def format_matrix(labels) -> str:
    """A matrix of strings or numbers as aligned rows in brackets.

    Args:
        labels: a 2-D array of strings (``conv_matrix_labels``'s result).

    Example:
        >>> print(format_matrix([["a", "bb"], ["c", "d"]]))
        [a  bb]
        [c  d ]
    """
    cells = [[str(v) for v in row] for row in np.asarray(labels, dtype=object)]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join("[" + " ".join(c.ljust(width) for c in row) + "]" for row in cells)
