"""Oracles for the op tests: PyTorch (float64) and central differences.

``check_against_torch`` runs one strided function and one PyTorch function on the same
float64 inputs and compares the forward output and the gradient of every floating input for a
random upstream gradient, in about three lines per case::

    check_against_torch(lambda x, w, b: F.conv2d(x, w, b, stride=2),
                        lambda x, w, b: TF.conv2d(x, w, b, stride=2),
                        inputs=[(2, 3, 7, 7), (4, 3, 3, 3), (4,)])

``check_gradients`` compares strided's own backward with central differences of its forward
(no PyTorch), and ``numerical_grad`` is the central-difference primitive behind it.

PyTorch is optional: without it ``torch`` and ``TF`` here are ``None``, a test that needs it is
marked ``@needs_torch`` (a whole module that does: ``pytest.importorskip("torch", reason=TORCH_REASON)``)
and is reported as skipped, and everything else runs.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytest

import strided as st

TORCH_REASON = "needs PyTorch (the oracle): pip install torch==2.13.0"


def optional_torch():
    """The ``torch`` module, or ``None`` where PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


torch = optional_torch()
TF = None if torch is None else torch.nn.functional
# the base class of PyTorch reference networks defined at a test module's top level; without PyTorch a
# plain ``object``, so the module still imports (the tests that build them are skipped)
TorchModule = object if torch is None else torch.nn.Module
needs_torch = pytest.mark.skipif(torch is None, reason=TORCH_REASON)


def require_torch():
    """``torch``, or a skip of the running test where PyTorch is not installed."""
    if torch is None:
        pytest.skip(TORCH_REASON)
    return torch

RTOL = 1e-10
ATOL = 1e-10


class Const:
    """An input passed as is to both functions, never differentiated (labels, index arrays).

    strided gets the NumPy array, PyTorch gets ``torch.from_numpy`` of it.
    """

    def __init__(self, value):
        self.value = np.asarray(value)


def make_inputs(inputs: Sequence, seed: int = 0) -> list:
    """Shapes become standard-normal float64 arrays; arrays are copied as float64; ``None`` and
    ``Const`` stay as they are."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in inputs:
        if spec is None or isinstance(spec, Const):
            out.append(spec)
        elif isinstance(spec, tuple) and all(isinstance(n, int) for n in spec):
            out.append(rng.standard_normal(spec))
        else:
            out.append(np.array(spec, dtype=np.float64))
    return out


def _to_strided(value):
    if value is None:
        return None
    if isinstance(value, Const):
        return value.value
    return st.Tensor(value, dtype=np.float64, requires_grad=True)


def _to_torch(value):
    if value is None:
        return None
    if isinstance(value, Const):
        return torch.from_numpy(value.value.copy())
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what="value"):
    """``np.testing.assert_allclose`` with shapes checked too, and a label in the message."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != oracle {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def check_against_torch(st_fn: Callable, torch_fn: Callable, inputs: Sequence, kwargs: dict | None = None,
                        torch_kwargs: dict | None = None, seed: int = 0, rtol: float = RTOL,
                        atol: float = ATOL, grad: bool = True):
    """Compare ``st_fn(*inputs, **kwargs)`` with ``torch_fn(*inputs, **torch_kwargs)``.

    Args:
        inputs: per argument, a shape (standard-normal float64 values), an array (used as
            given, in float64), ``None`` (passed as ``None``) or ``Const(array)`` (not
            differentiated).
        kwargs: keyword arguments for ``st_fn``; ``torch_kwargs`` defaults to the same.
        grad: also compare the gradient of every floating input (weights and biases included)
            for a random upstream gradient of the output's shape.

    Returns ``(strided_output, torch_output)`` as NumPy arrays for further checks.
    """
    require_torch()
    kwargs = kwargs or {}
    torch_kwargs = kwargs if torch_kwargs is None else torch_kwargs
    arrays = make_inputs(inputs, seed)
    st_in = [_to_strided(a) for a in arrays]
    th_in = [_to_torch(a) for a in arrays]

    st_out = st_fn(*st_in, **kwargs)
    th_out = torch_fn(*th_in, **torch_kwargs)
    assert isinstance(st_out, st.Tensor), f"strided returned {type(st_out).__name__}, expected a Tensor"
    assert st_out.dtype == np.float64, f"float64 inputs gave a {st_out.dtype} output"
    th_np = th_out.detach().numpy()
    assert_close(st_out.data, th_np, rtol, atol, "forward")
    if not grad:
        return st_out.data, th_np

    upstream = np.random.default_rng(seed + 1).standard_normal(th_np.shape)
    st_out.backward(upstream.copy())
    th_out.backward(torch.from_numpy(upstream.copy()))
    for i, (s, t) in enumerate(zip(st_in, th_in)):
        if not isinstance(s, st.Tensor):
            continue
        expected = np.zeros(s.shape) if t.grad is None else t.grad.numpy()
        assert s.grad is not None, f"input {i}: strided gave no gradient"
        assert s.grad.dtype == np.float64, f"input {i}: gradient dtype {s.grad.dtype}"
        assert_close(s.grad, expected, rtol, atol, f"gradient of input {i} {tuple(s.shape)}")
    return st_out.data, th_np


def numerical_grad(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every entry of ``array``.

    ``array`` is perturbed in place (and restored), so ``f`` must read it afresh each call:
    ``(f(a + eps e_i) - f(a - eps e_i)) / (2 eps)`` per entry.
    """
    assert array.dtype == np.float64, "central differences need float64"
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, array), "array must be contiguous so it can be perturbed in place"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(fn: Callable, inputs: Sequence, seed: int = 0, eps: float = 1e-6, rtol: float = 1e-6,
                    atol: float = 1e-8, params: Sequence[st.Tensor] = ()):
    """strided's backward of ``fn(*tensors)`` against central differences of its forward.

    The output is contracted with a fixed random ``R`` (``sum(out * R)``) so the whole
    Jacobian is exercised, not only its column sums. ``inputs`` are as in
    ``check_against_torch``; ``params`` are extra float64 tensors (a model's parameters) whose
    gradients are checked as well.
    """
    arrays = make_inputs(inputs, seed)
    tensors = [_to_strided(a) for a in arrays]
    leaves = [t for t in tensors if isinstance(t, st.Tensor)] + list(params)
    for leaf in leaves:
        assert leaf.dtype == np.float64, "gradient checks run in float64"
        leaf.grad = None

    out = fn(*tensors)
    weights = np.random.default_rng(seed + 1).standard_normal(out.shape)
    out.backward(weights.copy())

    def value() -> float:
        with st.no_grad():
            return float(np.sum(fn(*tensors).data * weights))

    for i, leaf in enumerate(leaves):
        numeric = numerical_grad(value, leaf.data, eps)
        assert leaf.grad is not None, f"leaf {i}: no gradient"
        assert_close(leaf.grad, numeric, rtol, atol, f"gradient of leaf {i} {tuple(leaf.shape)}")
    return out
