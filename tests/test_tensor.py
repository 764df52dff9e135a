"""The autograd engine: small ops against PyTorch, graph bookkeeping, modes and dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from oracle import assert_close, check_against_torch, needs_torch, torch

def positive(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


# ------------------------------------------------------------------------------------------ element-wise
BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((3, 1), (1, 5)),
    ((2, 3), ()),
    ((), (2, 3)),
    ((1, 1), (2, 3)),
]
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@needs_torch
@pytest.mark.parametrize("a_shape, b_shape", BROADCAST_PAIRS)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_ops_with_broadcasting(op, a_shape, b_shape):
    fn = BINARY[op]
    b = positive(b_shape, 1) if op == "div" else b_shape     # keep divisors away from zero
    check_against_torch(fn, fn, [a_shape, b], seed=1)


SIGNED = positive((3, 4), 2) * np.where(np.random.default_rng(3).random((3, 4)) < 0.5, -1, 1)
POSITIVE = positive((3, 4), 2)


@needs_torch
@pytest.mark.parametrize("name, fn, x", [
    ("radd", lambda a: 2.5 + a, SIGNED),
    ("rsub", lambda a: 2.5 - a, SIGNED),
    ("rmul", lambda a: 2.5 * a, SIGNED),
    ("rdiv", lambda a: 2.5 / a, SIGNED),
    ("add_scalar", lambda a: a + 1.5, SIGNED),
    ("sub_scalar", lambda a: a - 1.5, SIGNED),
    ("mul_scalar", lambda a: a * -3.0, SIGNED),
    ("div_scalar", lambda a: a / 4.0, SIGNED),
    ("neg", lambda a: -a, SIGNED),
    ("pow2", lambda a: a ** 2, SIGNED),
    ("pow3", lambda a: a ** 3, SIGNED),
    ("pow_half", lambda a: a ** 0.5, POSITIVE),
    ("pow_minus1", lambda a: a ** -1, SIGNED),
    ("pow_minus1.5", lambda a: a ** -1.5, POSITIVE),
    ("exp", lambda a: a.exp(), SIGNED),
    ("log", lambda a: a.log(), POSITIVE),
    ("sqrt", lambda a: a.sqrt(), POSITIVE),
    ("abs", lambda a: a.abs(), SIGNED),
])
def test_unary_ops(name, fn, x):
    check_against_torch(fn, fn, [x], seed=2)


@needs_torch
def test_rmatmul_with_an_array_on_the_left():
    a = np.random.default_rng(3).standard_normal((2, 3))
    check_against_torch(lambda b: a @ b, lambda b: torch.from_numpy(a) @ b, [(3, 4)])


# ------------------------------------------------------------------------------------------ matmul
@needs_torch
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
])
def test_matmul(a_shape, b_shape):
    check_against_torch(lambda a, b: a @ b, torch.matmul, [a_shape, b_shape], seed=4)


@needs_torch
def test_matmul_module_function_with_one_constant_operand():
    w = st.Tensor(np.random.default_rng(5).standard_normal((4, 2)), dtype=np.float64)   # no grad
    check_against_torch(lambda a: st.tensor.matmul(a, w), lambda a: a @ torch.from_numpy(w.data), [(3, 4)])
    assert w.grad is None


# ------------------------------------------------------------------------------------------ shapes
@needs_torch
@pytest.mark.parametrize("name, st_fn, th_fn", [
    ("reshape", lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6)),
    ("reshape_tuple", lambda a: a.reshape((3, -1)), lambda a: a.reshape((3, -1))),
    ("view", lambda a: a.view(-1), lambda a: a.view(-1)),
    ("flatten", lambda a: a.flatten(), lambda a: a.flatten(1)),
    ("flatten0", lambda a: a.flatten(0), lambda a: a.flatten(0)),
    ("transpose_reverse", lambda a: a.transpose(), lambda a: a.permute(2, 1, 0)),
    ("transpose_axes", lambda a: a.transpose(1, 2, 0), lambda a: a.permute(1, 2, 0)),
    ("permute_tuple", lambda a: a.permute((2, 0, 1)), lambda a: a.permute(2, 0, 1)),
    ("T", lambda a: a.T, lambda a: a.permute(2, 1, 0)),
])
def test_shape_ops(name, st_fn, th_fn):
    check_against_torch(lambda a: st_fn(a) * st_fn(a), lambda a: th_fn(a) * th_fn(a), [(2, 3, 4)], seed=6)


# ------------------------------------------------------------------------------------------ reductions
@needs_torch
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (-1, -2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, axis, keepdims):
    def th(a):
        if axis is None:
            out = getattr(a, op)()
            return out.reshape((1, 1, 1)) if keepdims else out
        return getattr(a, op)(dim=axis, keepdim=keepdims)
    check_against_torch(lambda a: getattr(a, op)(axis=axis, keepdims=keepdims), th, [(2, 3, 4)], seed=7)


@needs_torch
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_max(axis, keepdims):
    def th(a):
        out = a.amax(dim=tuple(range(a.ndim)) if axis is None else axis, keepdim=keepdims)
        return out
    check_against_torch(lambda a: a.max(axis=axis, keepdims=keepdims), th, [(2, 3, 4)], seed=8)


@needs_torch
@pytest.mark.parametrize("axis", [None, 1])
def test_max_with_ties_shares_the_gradient_like_amax(axis):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [5.0, 1.0, 5.0, 5.0]])
    check_against_torch(lambda a: a.max(axis=axis), lambda a: a.amax(dim=(0, 1) if axis is None else axis), [x])


# ------------------------------------------------------------------------------------------ indexing
@needs_torch
@pytest.mark.parametrize("name, index", [
    ("int", 1),
    ("slice", (slice(1, None), slice(None, None, 2))),
    ("ellipsis", (Ellipsis, 1)),
    ("negative", (-1, slice(None), -2)),
    ("newaxis", (None, slice(0, 2))),
    ("fancy_repeated", [0, 0, 2, 0]),
    ("fancy_pairs_repeated", ([0, 0, 1, 1], [2, 2, 0, 2])),
    ("fancy_inner_axis", (slice(None), [1, 1, 1, 0])),
    ("fancy_2d_index", (np.array([[0, 1], [1, 0]]),)),
    ("mixed", (slice(0, 2), [2, 2], slice(1, 3))),
])
def test_getitem(name, index):
    th_index = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in index) \
        if isinstance(index, tuple) else index
    check_against_torch(lambda a: a[index], lambda a: a[th_index], [(3, 4, 5)], seed=9)


@needs_torch
def test_getitem_boolean_mask():
    mask = np.array([True, False, True])
    check_against_torch(lambda a: a[mask], lambda a: a[torch.from_numpy(mask)], [(3, 4)], seed=10)


@needs_torch
def test_getitem_with_a_tensor_index_repeated():
    idx = st.Tensor([2, 0, 2, 2])
    check_against_torch(lambda a: a[idx], lambda a: a[torch.tensor([2, 0, 2, 2])], [(3, 4)], seed=11)


# ------------------------------------------------------------------------------------------ graphs
@needs_torch
def test_fan_out_uses_accumulate():
    # x is used three times; its gradient is the sum of the three paths
    def fn(x, w):
        return (x * x) @ w + x.exp() @ w - (x / 2.0) @ w
    check_against_torch(fn, fn, [(3, 4), (4, 2)], seed=12)


def test_fan_out_closed_form():
    x = st.Tensor([1.0, -2.0, 3.0], requires_grad=True, dtype=np.float64)
    (x * 3 + x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, 3 + 2 * np.array([1.0, -2.0, 3.0]) + 1)


@needs_torch
def test_residual_connections():
    # y = f(x) + x twice in a row, with weights shared between the blocks
    def st_block(x, w):
        return st.nn.functional.tanh(x @ w) + x

    def th_block(x, w):
        return torch.tanh(x @ w) + x
    check_against_torch(lambda x, w: st_block(st_block(x, w), w) * st_block(x, w),
                        lambda x, w: th_block(th_block(x, w), w) * th_block(x, w), [(3, 4), (4, 4)], seed=13)


@needs_torch
def test_diamond_graph_topological_order():
    # a feeds b and c, which are then combined: a's gradient must be complete before it is passed on
    def fn(x):
        a = x * 2.0
        b = a.exp()
        c = a * a
        d = b * c + a
        return (d * b).sum() + c.mean()
    check_against_torch(fn, fn, [(2, 3)], seed=14)


def test_deep_chain_does_not_recurse():
    # 3000 nodes: an iterative topological sort is needed (Python's recursion limit is 1000)
    x = st.Tensor([1.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 3000], rtol=1e-10)


def test_leaf_without_requires_grad_gets_no_gradient():
    a = st.Tensor([1.0, 2.0], requires_grad=True)
    b = st.Tensor([3.0, 4.0])
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])
    assert b.grad is None


def test_gradients_accumulate_over_separate_backward_calls():
    a = st.Tensor([1.0, 2.0], requires_grad=True)
    (a * 3.0).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0 + 2.0, 3.0 + 4.0])
    a.zero_grad()
    assert a.grad is None


def test_detach_cuts_the_graph():
    a = st.Tensor([1.0, 2.0], requires_grad=True)
    d = (a * 2.0).detach()
    assert not d.requires_grad
    (a * d).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 4.0])      # d treated as a constant


# ------------------------------------------------------------------------------------------ no_grad
def test_no_grad_records_nothing():
    a = st.Tensor([1.0, 2.0], requires_grad=True)
    with st.no_grad():
        assert not st.is_grad_enabled()
        y = (a * a).sum() + a.exp().mean()
        z = st.nn.functional.conv1d(a.reshape(1, 1, 2), st.Tensor(np.ones((1, 1, 1), np.float32), requires_grad=True))
    assert st.is_grad_enabled()
    for out in (y, z):
        assert not out.requires_grad
        assert out._parents == () and out._backward is None
    with pytest.raises(RuntimeError):
        y.backward()
    assert a.grad is None


def test_no_grad_restores_state_after_an_exception_and_nests():
    with pytest.raises(ZeroDivisionError):
        with st.no_grad():
            1 / 0
    assert st.is_grad_enabled()
    with st.no_grad():
        with st.no_grad():
            pass
        assert not st.is_grad_enabled()
    assert st.is_grad_enabled()


# ------------------------------------------------------------------------------------------ backward errors
def test_backward_on_non_scalar_without_grad_raises():
    y = st.Tensor([1.0, 2.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match="single value"):
        y.backward()


def test_backward_with_wrong_grad_shape_raises():
    y = st.Tensor([1.0, 2.0], requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"\(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_a_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (st.Tensor([1.0]) * 2.0).backward()


def test_backward_on_a_single_element_non_scalar_is_allowed():
    x = st.Tensor([[3.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[6.0]])


# ------------------------------------------------------------------------------------------ retain_graph
@needs_torch
def test_retain_graph_allows_a_second_backward_that_accumulates():
    x_np = np.array([0.5, -1.0, 2.0])
    x = st.Tensor(x_np, requires_grad=True, dtype=np.float64)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    tx = torch.tensor(x_np, requires_grad=True)
    ty = (tx.exp() * tx).sum()
    ty.backward(retain_graph=True)
    ty.backward()
    assert_close(first * 2, x.grad, what="doubled gradient")
    assert_close(x.grad, tx.grad.numpy(), what="gradient vs torch")


@needs_torch
def test_second_backward_without_retain_graph_raises_like_torch():
    x = st.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])     # the first pass stands, nothing half-added
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx * tx).sum()
    ty.backward()
    with pytest.raises(RuntimeError):
        ty.backward()


# ------------------------------------------------------------------------------------------ dtypes
def test_data_is_float32_by_default():
    assert st.Tensor([1, 2, 3]).dtype == np.float32
    assert st.Tensor(np.arange(4.0)).dtype == np.float64           # a float64 array keeps its dtype (issue 11)
    assert st.Tensor(np.arange(4.0, dtype=np.float32)).dtype == np.float32
    assert st.Tensor(np.arange(4)).dtype == np.float32               # ints become float32
    assert st.Tensor(2.5).dtype == np.float32
    assert st.Tensor([1.0], dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError):
        st.Tensor([1, 2], dtype=np.int64)


def test_float32_gradients_are_float32():
    x = st.Tensor(np.random.default_rng(15).standard_normal((3, 4)), requires_grad=True, dtype=np.float32)
    w = st.Tensor(np.random.default_rng(16).standard_normal((4, 2)), requires_grad=True, dtype=np.float32)
    y = ((x @ w).exp() / 3.0 + 1.0).sqrt().mean()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32


SCALAR_OPS = {
    "mul": lambda x, s: x * s, "rmul": lambda x, s: s * x, "add": lambda x, s: x + s, "radd": lambda x, s: s + x,
    "sub": lambda x, s: x - s, "rsub": lambda x, s: s - x, "div": lambda x, s: x / s, "rdiv": lambda x, s: s / x,
    "pow": lambda x, s: x ** s,
}


@pytest.mark.parametrize("scalar", [2.5, np.float64(2.5), 3], ids=["float", "np.float64", "int"])
@pytest.mark.parametrize("op", sorted(SCALAR_OPS))
def test_python_scalars_do_not_upcast_float32(op, scalar):
    x = st.Tensor([1.0, 2.0, 4.0], requires_grad=True)
    y = SCALAR_OPS[op](x, scalar)
    assert isinstance(y, st.Tensor)
    assert y.dtype == np.float32, f"{op} with {type(scalar).__name__} gave {y.dtype}"
    y.sum().backward()
    assert x.grad.dtype == np.float32
    expected = SCALAR_OPS[op](np.array([1.0, 2.0, 4.0]), float(scalar))
    np.testing.assert_allclose(y.data, expected, rtol=1e-6)


def test_mean_of_float32_stays_float32_and_correct():
    x = st.Tensor(np.full((1000,), 0.1), requires_grad=True, dtype=np.float32)
    m = x.mean()
    assert m.dtype == np.float32
    np.testing.assert_allclose(m.item(), 0.1, rtol=1e-5)
    m.backward()
    np.testing.assert_allclose(x.grad, np.full(1000, 1e-3), rtol=1e-6)
