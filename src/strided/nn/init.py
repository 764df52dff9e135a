"""Weight initialisation: PyTorch's ``torch.nn.init`` (the draws layers and models make for their
own parameters: ``draws.py``).

Every public function fills a ``Parameter``, ``Tensor`` or NumPy array **in place** and returns
it, with PyTorch's names, arguments and formulas. Random ones take ``generator=``: a
``numpy.random.Generator``, an int seed, or ``None`` for the library's default generator
(``st.manual_seed`` seeds it)::

    >>> import strided as st
    >>> layer = st.nn.Conv2d(3, 16, 3, rng=0)
    >>> _ = st.nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu", generator=0)
    >>> _ = st.nn.init.zeros_(layer.bias)
    >>> st.nn.init.calculate_gain("leaky_relu", 0.2) == (2 / (1 + 0.2 ** 2)) ** 0.5
    True

Gains and fans (``calculate_gain``, ``_calculate_fan_in_and_fan_out``) live in ``init_fan.py``,
the in-place plumbing in ``init_fill.py``; both are reachable from here as in PyTorch.

``make_rng`` (from ``draws.py``) turns ``generator=`` into a Generator. Under ``nn.meta()`` the
in-place functions leave a meta tensor (``shape_only.meta_array``: one zero seen with strides 0)
as it is, so a model built for analysis allocates nothing.

Devices: the in-place functions fill a tensor on any device (CPU or GPU). Random values are drawn
on the host generator, so a seed gives the same weights on every device, and then copied to the
tensor's device.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import backend_of
from ..checks import as_int, as_number
from .draws import make_rng
from .init_fan import _calculate_correct_fan, _calculate_fan_in_and_fan_out, _kaiming_std, calculate_gain  # noqa: F401
from .init_fill import _array, _draw_dtype, _fill, _skips_meta


@_skips_meta
def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b).

    Args:
        tensor: the Parameter, Tensor or float array to fill in place (a meta tensor is left as is).
        a: the lower bound (default 0.0).
        b: the upper bound (default 1.0).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = uniform_(np.zeros((2, 3), dtype=np.float32), -1.0, 1.0, generator=0)
        >>> bool(w.min() >= -1.0 and w.max() < 1.0), w.shape
        (True, (2, 3))
    """
    array = _array(tensor, "uniform_")
    a, b = as_number(a, "a", "uniform_"), as_number(b, "b", "uniform_")
    draw = make_rng(generator).random(array.shape, dtype=_draw_dtype(array))
    draw *= b - a
    draw += a
    return _fill(tensor, draw, "uniform_")


@_skips_meta
def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std^2).

    Args:
        tensor: the Parameter, Tensor or float array to fill in place (a meta tensor is left as is).
        mean: the mean (default 0.0).
        std: the standard deviation, >= 0 (default 1.0).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = normal_(np.zeros((100, 100), dtype=np.float32), std=0.1, generator=0)
        >>> round(float(w.std()), 2)
        0.1
    """
    array = _array(tensor, "normal_")
    mean, std = as_number(mean, "mean", "normal_"), as_number(std, "std", "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std!r}")
    draw = make_rng(generator).standard_normal(array.shape, dtype=_draw_dtype(array))
    draw *= std
    draw += mean
    return _fill(tensor, draw, "normal_")


@_skips_meta
def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """Fill with N(mean, std^2) truncated to ``[a, b]`` (exact, by rejection).

    When ``[a, b]`` holds most of the mass, out-of-range draws are redrawn from the normal;
    otherwise candidates are drawn uniformly on ``[a, b]`` and accepted with probability
    ``exp(-(x - mean)^2 / (2 std^2))`` relative to the density's peak on ``[a, b]``.

    Args:
        tensor: the Parameter, Tensor or float array to fill in place (a meta tensor is left as is).
        mean: the mean of the normal before truncation (default 0.0).
        std: its standard deviation, > 0 (default 1.0).
        a: the lower cut-off, in the values' units, not in stds (default -2.0).
        b: the upper cut-off, > ``a`` (default 2.0).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = trunc_normal_(np.zeros((50, 50)), std=1.0, a=-0.5, b=0.5, generator=0)
        >>> bool(abs(w).max() <= 0.5)
        True
    """
    owner = "trunc_normal_"
    array = _array(tensor, owner)
    mean, std = as_number(mean, "mean", owner), as_number(std, "std", owner)
    a, b = as_number(a, "a", owner), as_number(b, "b", owner)
    if not std > 0 or not a < b:
        raise ValueError(f"{owner}: needs std > 0 and a < b, got std={std!r}, a={a!r}, b={b!r}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("trunc_normal_: mean is more than 2 std from [a, b]; drawing may be slow", stacklevel=2)
    rng = make_rng(generator)

    def cdf(x):
        return (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0)))) / 2.0

    out = np.empty(array.shape)                                          # float64 while drawing
    flat = out.reshape(-1)
    todo = np.arange(flat.size)                                          # indices still to fill
    if cdf(b) - cdf(a) > 0.3:
        while todo.size:
            draw = mean + std * rng.standard_normal(todo.size)
            inside = (draw >= a) & (draw <= b)
            flat[todo[inside]] = draw[inside]
            todo = todo[~inside]
    else:
        peak = min(max(mean, a), b)                                      # the density's mode on [a, b]
        log_peak = -0.5 * ((peak - mean) / std) ** 2
        while todo.size:
            draw = rng.uniform(a, b, todo.size)
            accept = np.log(rng.random(todo.size)) <= -0.5 * ((draw - mean) / std) ** 2 - log_peak
            flat[todo[accept]] = draw[accept]
            todo = todo[~accept]
    return _fill(tensor, out, owner)


@_skips_meta
def constant_(tensor, val: float):
    """Fill with ``val``.

    Args:
        tensor: the Parameter, Tensor or float array to fill in place (a meta tensor is left as is).
        val: the value every element takes.

    Example:
        >>> constant_(np.zeros(3), 0.5).tolist()
        [0.5, 0.5, 0.5]
    """
    return _fill(tensor, as_number(val, "val", "constant_"), "constant_")


@_skips_meta
def ones_(tensor):
    """Fill with 1.

    Args:
        tensor: the Parameter, Tensor or float array to fill in place (a meta tensor is left as is).

    Example:
        >>> ones_(np.zeros(2)).tolist()
        [1.0, 1.0]
    """
    return _fill(tensor, 1.0, "ones_")


@_skips_meta
def zeros_(tensor):
    """Fill with 0.

    Args:
        tensor: the Parameter, Tensor or float array to fill in place (a meta tensor is left as is).

    Example:
        >>> zeros_(np.ones(2)).tolist()
        [0.0, 0.0]
    """
    return _fill(tensor, 0.0, "zeros_")


@_skips_meta
def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the diagonal of a rectangle).

    Args:
        tensor: the 2-D Parameter, Tensor or float array to fill in place (a meta tensor is left as is).

    Example:
        >>> eye_(np.zeros((2, 3))).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    array = _array(tensor, "eye_")
    if array.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got shape {array.shape}")
    return _fill(tensor, backend_of(array).xp.eye(*array.shape), "eye_")


@_skips_meta
def dirac_(tensor, groups: int = 1):
    """Fill a 3-, 4- or 5-D conv weight with the Dirac delta: the convolution keeps its input's
    channels (per group, as many as fit), reading only the kernel's centre.

    Args:
        tensor: the 3-, 4- or 5-D weight ``(out, in, *kernel)`` to fill in place (a meta tensor is left as is).
        groups: the number of groups; ``out`` must be divisible by it (default 1).

    Example:
        >>> dirac_(np.zeros((2, 2, 3), dtype=np.float32))[:, :, 1].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    array = _array(tensor, "dirac_")
    groups = as_int(groups, "groups", "dirac_")
    if array.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: expected a 3-, 4- or 5-D tensor, got shape {array.shape}")
    if array.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({array.shape[0]}) must be divisible by groups={groups}")
    per_group = array.shape[0] // groups
    centre = tuple(size // 2 for size in array.shape[2:])
    array[...] = 0
    for g in range(groups):
        for d in range(min(per_group, array.shape[1])):
            array[(g * per_group + d, d) + centre] = 1
    return tensor


@_skips_meta
def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot & Bengio (2010): U(-a, a), ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Args:
        tensor: the weight, at least 2-D ``(out, in, *kernel)``, to fill in place (a meta tensor is left as is).
        gain: the scale factor, e.g. ``calculate_gain('relu')`` (default 1.0).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = xavier_uniform_(np.zeros((4, 4)), generator=np.random.default_rng(0))
        >>> w.shape, bool(np.abs(w).max() <= np.sqrt(6 / 8))
        ((4, 4), True)
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * as_number(gain, "gain", "xavier_uniform_") * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


@_skips_meta
def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot & Bengio (2010): N(0, std^2), ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Args:
        tensor: the weight, at least 2-D ``(out, in, *kernel)``, to fill in place (a meta tensor is left as is).
        gain: the scale factor, e.g. ``calculate_gain('relu')`` (default 1.0).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = xavier_normal_(np.zeros((200, 300), dtype=np.float32), generator=0)
        >>> round(float(w.std()), 2)  # sqrt(2 / (200 + 300))
        0.06
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, as_number(gain, "gain", "xavier_normal_") * math.sqrt(2.0 / (fan_in + fan_out)),
                   generator)


@_skips_meta
def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """He et al. (2015): U(-bound, bound), ``bound = gain * sqrt(3 / fan)``, ``gain =
    calculate_gain(nonlinearity, a)`` and ``fan`` the ``mode`` fan. A zero-element tensor is left
    as is (with a warning).

    Args:
        tensor: the weight, at least 2-D ``(out, in, *kernel)``, to fill in place (a meta tensor is left as is).
        a: the negative slope of the rectifier after this layer, for ``'leaky_relu'`` (default 0).
        mode: ``'fan_in'`` (keeps the forward pass's variance) or ``'fan_out'`` (the backward pass's)
            (default ``'fan_in'``).
        nonlinearity: the nonlinearity's name, as ``calculate_gain`` takes it (default ``'leaky_relu'``).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = kaiming_uniform_(np.zeros((64, 3)), nonlinearity='relu', generator=np.random.default_rng(0))
        >>> bool(np.abs(w).max() <= np.sqrt(6 / 3))
        True
    """
    if 0 in _array(tensor, "kaiming_uniform_").shape:
        warnings.warn("kaiming_uniform_: initializing a zero-element tensor is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


@_skips_meta
def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """He et al. (2015): N(0, std^2), ``std = gain / sqrt(fan)`` (see ``kaiming_uniform_``).

    Args:
        tensor: the weight, at least 2-D ``(out, in, *kernel)``, to fill in place (a meta tensor is left as is).
        a: the negative slope of the rectifier after this layer, for ``'leaky_relu'`` (default 0).
        mode: ``'fan_in'`` (keeps the forward pass's variance) or ``'fan_out'`` (the backward pass's)
            (default ``'fan_in'``).
        nonlinearity: the nonlinearity's name, as ``calculate_gain`` takes it (default ``'leaky_relu'``).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = kaiming_normal_(np.zeros((100, 200), dtype=np.float32), generator=0)
        >>> round(float(w.std()), 2)  # sqrt(2 / 200)
        0.1
    """
    if 0 in _array(tensor, "kaiming_normal_").shape:
        warnings.warn("kaiming_normal_: initializing a zero-element tensor is a no-op", stacklevel=2)
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


@_skips_meta
def orthogonal_(tensor, gain: float = 1, generator=None):
    """Saxe et al. (2013): a (semi-)orthogonal matrix times ``gain``, the tensor seen as
    ``(shape[0], rest)``: the Q of a Gaussian matrix's QR, its columns' signs fixed by R's diagonal.

    Args:
        tensor: the tensor, at least 2-D, to fill in place (a meta tensor is left as is).
        gain: the scale factor (default 1).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = orthogonal_(np.zeros((3, 3)), generator=0)
        >>> bool(np.allclose(w @ w.T, np.eye(3)))
        True
    """
    array = _array(tensor, "orthogonal_")
    if array.ndim < 2:
        raise ValueError(f"orthogonal_: expected a tensor with at least 2 dimensions, got shape {array.shape}")
    if array.size == 0:
        return tensor
    rows = array.shape[0]
    cols = array.size // rows
    flat = make_rng(generator).standard_normal((rows, cols))            # (rows, cols)
    if rows < cols:
        flat = flat.T                                                    # (cols, rows): QR of the tall one
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))                                             # unique: R's diagonal positive
    if rows < cols:
        q = q.T
    return _fill(tensor, (as_number(gain, "gain", "orthogonal_") * q).reshape(array.shape), "orthogonal_")


@_skips_meta
def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """Martens (2010): a 2-D tensor from N(0, std^2) with ``ceil(sparsity * rows)`` zeros per column.

    Args:
        tensor: the 2-D tensor to fill in place (a meta tensor is left as is).
        sparsity: the fraction of each column set to zero, in ``[0, 1]``.
        std: the standard deviation of the nonzero values (default 0.01).
        generator: a Generator, an int seed, or ``None`` for the library's default generator
            (default ``None``).

    Example:
        >>> w = sparse_(np.zeros((10, 4)), sparsity=0.3, generator=0)
        >>> (w == 0).sum(axis=0).tolist()
        [3, 3, 3, 3]
    """
    array = _array(tensor, "sparse_")
    if array.ndim != 2:
        raise ValueError(f"sparse_: expected a 2-D tensor, got shape {array.shape}")
    rng = make_rng(generator)
    rows, cols = array.shape
    zeros = math.ceil(as_number(sparsity, "sparsity", "sparse_") * rows)
    values = normal_(np.empty(array.shape, array.dtype), 0.0, std, rng)    # drawn and zeroed on the host
    for col in range(cols):
        values[rng.permutation(rows)[:zeros], col] = 0
    return _fill(tensor, values, "sparse_")


__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_", "make_rng"]
