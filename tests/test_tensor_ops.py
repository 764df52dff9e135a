"""The tensor ops of ``st`` (``cat``, ``clamp``, ``where``, ``permute``, ...) against PyTorch in float64.

Each op's forward and the gradient of every input are compared with ``torch`` through
``check_against_torch``; ties (``clamp`` at its bounds, ``maximum``/``minimum`` of equal values)
are built in on purpose. Argument errors and dtypes need no torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from oracle import check_against_torch, needs_torch, torch


def signed(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def positive(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


# ------------------------------------------------------------------------------------------ element-wise
@needs_torch
@pytest.mark.parametrize("name, x", [("exp", signed((2, 3))), ("log", positive((2, 3))), ("sqrt", positive((2, 3))),
                                     ("abs", np.array([[-1.5, 0.0, 2.0], [0.5, -0.25, 0.0]]))])
def test_unary_functions_and_methods(name, x):
    check_against_torch(getattr(st, name), getattr(torch, name), [x])
    check_against_torch(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [x])


@needs_torch
@pytest.mark.parametrize("exponent", [2, 3, 0, 1, -1, 0.5, 2.5])
def test_pow_tensor_to_a_number(exponent):
    x = positive((3, 4)) if exponent in (0.5, 2.5) else np.array([[0.0, 1.5, -2.0], [0.5, -0.5, 3.0]])
    if exponent == -1:
        x = signed((2, 3)) + 3.0
    check_against_torch(lambda a: st.pow(a, exponent), lambda a: torch.pow(a, exponent), [x])
    check_against_torch(lambda a: a.pow(exponent), lambda a: a.pow(exponent), [x])
    check_against_torch(lambda a: a ** exponent, lambda a: a ** exponent, [x])


@needs_torch
@pytest.mark.parametrize("base", [2.0, 0.5, 0.0])
def test_pow_number_to_a_tensor(base):
    e = np.array([[0.0, 1.0, 2.5], [-0.5, 3.0, 0.25]]) if base else np.array([[0.0, 1.0, 2.5], [0.5, 3.0, 0.0]])
    check_against_torch(lambda a: st.pow(base, a), lambda a: torch.pow(base, a), [e])
    check_against_torch(lambda a: base ** a, lambda a: base ** a, [e])


@needs_torch
def test_pow_tensor_to_a_tensor_broadcast_with_zero_base_and_zero_exponent():
    x = np.array([[0.0, 2.0, 1.5], [0.5, 0.0, 3.0]])
    e = np.array([0.0, 2.0, 1.0])                                       # 0 ** 0 and 0 ** 2: gradients 0 as in torch
    check_against_torch(st.pow, torch.pow, [x, e])
    check_against_torch(lambda a, b: a ** b, lambda a, b: a ** b, [positive((2, 1, 3)), signed((4, 1))])


TIES = np.array([[-2.0, -1.0, -0.5, 0.0], [0.5, 1.0, 1.5, 3.0]])        # values exactly at the bounds -1 and 1


@needs_torch
@pytest.mark.parametrize("lo, hi", [(-1.0, 1.0), (-1.0, None), (None, 1.0), (1.0, 1.0), (1.0, -1.0), (0, 2)])
def test_clamp_with_number_bounds_passes_the_gradient_at_the_bounds(lo, hi):
    check_against_torch(lambda a: st.clamp(a, lo, hi), lambda a: torch.clamp(a, lo, hi), [TIES])
    check_against_torch(lambda a: a.clamp(min=lo, max=hi), lambda a: a.clamp(min=lo, max=hi), [TIES])
    check_against_torch(lambda a: st.clip(a, lo, hi), lambda a: torch.clip(a, lo, hi), [TIES])


@needs_torch
def test_clamp_with_tensor_bounds_routes_gradients_like_torch():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    lo = np.array([1.0, 1.0, 1.0, 4.0, 4.0, 6.0])                        # ties with x, and min > max
    hi = np.array([3.0, 3.0, 3.0, 3.0, 4.0, 5.0])
    check_against_torch(lambda a, b, c: st.clamp(a, b, c), lambda a, b, c: torch.clamp(a, b, c), [x, lo, hi])
    check_against_torch(lambda a, b: st.clamp(a, min=b), lambda a, b: torch.clamp(a, min=b), [x, lo])
    check_against_torch(lambda a, c: st.clamp(a, max=c), lambda a, c: torch.clamp(a, max=c), [x, hi])


@needs_torch
def test_clamp_with_broadcast_tensor_bounds():
    check_against_torch(lambda a, b, c: a.clamp(b, c), lambda a, b, c: a.clamp(b, c),
                        [signed((2, 3, 4), 1), signed((3, 1), 2) - 1.0, signed((4,), 3) + 1.0])


def test_clamp_needs_a_bound_and_keeps_float32():
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        st.clamp(st.Tensor([1.0]))
    x = st.Tensor([0.5, 2.0], requires_grad=True)
    y = st.clamp(x, np.float64(0.0), np.float64(1.0))                    # NumPy scalars do not upcast
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])


@needs_torch
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_split_ties_and_broadcast(name):
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    b = np.array([[1.0, 0.0, 4.0], [0.0, -1.0, 2.0]])                    # three ties
    check_against_torch(getattr(st, name), getattr(torch, name), [a, b])
    check_against_torch(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b])
    check_against_torch(getattr(st, name), getattr(torch, name), [signed((2, 1, 3)), np.array([[0.5, 0.0, -0.5]])])


@needs_torch
def test_where_with_broadcasting_and_a_number():
    cond = np.random.default_rng(4).random((2, 3, 4)) < 0.5
    tc = torch.from_numpy(cond)
    check_against_torch(lambda a, b: st.where(cond, a, b), lambda a, b: torch.where(tc, a, b),
                        [(2, 3, 4), (3, 1)])
    check_against_torch(lambda a: st.where(cond, a, 0.0), lambda a: torch.where(tc, a, 0.0), [(3, 4)])
    check_against_torch(lambda a, b: a.where(cond, b), lambda a, b: a.where(tc, b), [(2, 3, 4), (4,)])
    check_against_torch(lambda a, b: st.where(st.Tensor(cond), a, b), lambda a, b: torch.where(tc, a, b),
                        [(2, 3, 4), (2, 3, 4)])


@needs_torch
@pytest.mark.parametrize("a_shape, b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
                                              ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_function_and_method(a_shape, b_shape):
    check_against_torch(st.matmul, torch.matmul, [a_shape, b_shape])
    check_against_torch(lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), [a_shape, b_shape])


# ------------------------------------------------------------------------------------------ joining
@needs_torch
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_cat(dim):
    shapes = [tuple(n + i if a == dim % 3 else n for a, n in enumerate((2, 3, 4))) for i in range(3)]
    check_against_torch(lambda *xs: st.cat(xs, dim=dim) * st.cat(xs, dim), lambda *xs: torch.cat(xs, dim=dim) ** 2,
                        shapes)


@needs_torch
@pytest.mark.parametrize("dim", [0, 1, 3, -1, -4])
def test_stack(dim):
    check_against_torch(lambda *xs: st.stack(list(xs), dim) ** 2, lambda *xs: torch.stack(xs, dim) ** 2,
                        [(2, 3, 4)] * 3)


def test_cat_and_stack_errors_name_the_op_and_the_shapes():
    a, b = st.Tensor(np.zeros((2, 3))), st.Tensor(np.zeros((3, 4)))
    with pytest.raises(st.ShapeError, match=r"cat: expected tensors of shape \(\*, 3\).*\(2, 3\), \(3, 4\)"):
        st.cat([a, b], dim=0)
    with pytest.raises(st.ShapeError, match=r"cat: expected tensors of shape \(2, \*\)"):
        st.cat([a, b], dim=1)
    with pytest.raises(st.ShapeError, match=r"stack: expected tensors of equal shape"):
        st.stack([a, b])
    with pytest.raises(IndexError, match=r"cat: dim 2 is out of range for a 2-d tensor \(expected -2 to 1\)"):
        st.cat([a, a], dim=2)
    with pytest.raises(ValueError):                                      # the same error is a ValueError too
        st.stack([a, a], dim=-4)
    with pytest.raises(TypeError, match="cat: expected a non-empty sequence of tensors, got Tensor"):
        st.cat(a)
    with pytest.raises(TypeError, match="dim must be an int"):
        st.cat([a, a], dim=1.0)
    with pytest.raises(st.ShapeError, match="zero-dimensional"):
        st.cat([st.Tensor(1.0), st.Tensor(2.0)])


def test_cat_promotes_dtypes_and_gives_each_gradient_its_own():
    a = st.Tensor(np.ones((1, 2), np.float32), requires_grad=True)
    b = st.Tensor(np.ones((2, 2)), requires_grad=True)                  # float64
    y = st.cat([a, b])
    assert y.dtype == np.float64
    (y * 3.0).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, np.full((1, 2), 3.0))


# ------------------------------------------------------------------------------------------ splitting
def weighted_cat(pieces, dim):
    """Each piece scaled differently, so that every piece's gradient is distinguishable."""
    return [p * float(i + 1) for i, p in enumerate(pieces)], dim


@needs_torch
@pytest.mark.parametrize("size, dim", [(2, 0), (2, 1), (3, -1), ([1, 3], 1), ([2, 0, 2], -1), (5, 1)])
def test_split(size, dim):
    def ours(x):
        return st.cat(*weighted_cat(st.split(x, size, dim), dim))

    def theirs(x):
        return torch.cat([p * float(i + 1) for i, p in enumerate(torch.split(x, size, dim))], dim)
    check_against_torch(ours, theirs, [(3, 4, 4)])
    assert [p.shape for p in st.Tensor(np.zeros((3, 4, 4))).split(size, dim)] == \
        [tuple(p.shape) for p in torch.zeros(3, 4, 4).split(size, dim)]


@needs_torch
def test_a_piece_left_unused_gets_a_zero_gradient():
    check_against_torch(lambda x: x.split(2, 1)[1] * 2.0, lambda x: x.split(2, 1)[1] * 2.0, [(2, 5)])


@needs_torch
@pytest.mark.parametrize("n, chunks", [(6, 3), (5, 4), (5, 2), (7, 7), (2, 5), (0, 3)])
def test_chunk_sizes_and_gradients_like_torch(n, chunks):
    ours = [p.shape for p in st.chunk(st.Tensor(np.zeros((2, n))), chunks, dim=-1)]
    assert ours == [tuple(p.shape) for p in torch.chunk(torch.zeros(2, n), chunks, dim=-1)]
    if n:
        check_against_torch(lambda x: st.cat([p * float(i + 1) for i, p in enumerate(x.chunk(chunks, 1))], 1),
                            lambda x: torch.cat([p * float(i + 1) for i, p in enumerate(x.chunk(chunks, 1))], 1),
                            [(2, n)])


def test_split_and_chunk_errors():
    x = st.Tensor(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"split: sections \[2, 2\] must add up to the size 5 of dim 0"):
        st.split(x, [2, 2])
    with pytest.raises(ValueError, match="split_size must be a positive int, got 0"):
        st.split(x, 0)
    with pytest.raises(TypeError, match="split_size_or_sections must be"):
        st.split(x, 1.5)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive int"):
        st.chunk(x, 0)
    with pytest.raises(IndexError, match="split: dim 2 is out of range"):
        x.split(1, dim=2)
    with pytest.raises(st.ShapeError, match="zero-dimensional"):
        st.Tensor(1.0).chunk(1)


# ------------------------------------------------------------------------------------------ views
@needs_torch
@pytest.mark.parametrize("dims", [(2, 0, 1), (0, 1, 2), (-1, 0, -2), (1, 0, 2)])
def test_permute(dims):
    check_against_torch(lambda x: st.permute(x, dims) ** 2, lambda x: torch.permute(x, dims) ** 2, [(2, 3, 4)])
    check_against_torch(lambda x: x.permute(*dims) ** 2, lambda x: x.permute(*dims) ** 2, [(2, 3, 4)])


def test_permute_errors():
    x = st.Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"permute: expected 3 dims for a \(2, 3, 4\) tensor, got \(0, 1\)"):
        x.permute(0, 1)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0, 1\) repeat an axis"):
        x.permute(0, 0, 1)
    with pytest.raises(IndexError, match="permute: dim 3 is out of range"):
        x.permute(0, 1, 3)


@needs_torch
@pytest.mark.parametrize("dim", [0, 1, 3, -1, -4])
def test_unsqueeze(dim):
    check_against_torch(lambda x: st.unsqueeze(x, dim) ** 2, lambda x: torch.unsqueeze(x, dim) ** 2, [(2, 3, 4)])
    check_against_torch(lambda x: x.unsqueeze(dim) * 2.0, lambda x: x.unsqueeze(dim) * 2.0, [(2, 3, 4)])


@needs_torch
@pytest.mark.parametrize("dim", [None, 0, 2, -1, 1, (0, 3), (0, 1, -2)])
def test_squeeze(dim):
    def th(x):
        return torch.squeeze(x) if dim is None else torch.squeeze(x, dim)
    check_against_torch(lambda x: st.squeeze(x, dim) ** 2, lambda x: th(x) ** 2, [(1, 3, 1, 1)])
    check_against_torch(lambda x: x.squeeze(dim) ** 2, lambda x: th(x) ** 2, [(1, 3, 1, 1)])


def test_unsqueeze_and_squeeze_errors():
    x = st.Tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"unsqueeze: dim 3 is out of range for a 2-d tensor \(expected -3 to 2\)"):
        x.unsqueeze(3)
    with pytest.raises(IndexError, match="squeeze: dim -3 is out of range"):
        x.squeeze(-3)


@needs_torch
@pytest.mark.parametrize("shape, sizes", [((3, 1), (3, 4)), ((3, 1), (-1, 4)), ((1, 3), (2, 5, 3)),
                                          ((3,), (2, 2, -1)), ((2, 1, 1), (2, 3, 4)), ((1,), (0,))])
def test_expand(shape, sizes):
    check_against_torch(lambda x: x.expand(*sizes) * 2.0, lambda x: x.expand(*sizes) * 2.0, [shape])
    check_against_torch(lambda x: st.expand(x, sizes) * 2.0, lambda x: x.expand(sizes) * 2.0, [shape])


def test_expand_errors():
    x = st.Tensor(np.zeros((3, 1)))
    with pytest.raises(st.ShapeError, match=r"expand: a \(3, 1\) tensor cannot grow to \(4, 2\)"):
        x.expand(4, 2)
    with pytest.raises(ValueError, match="-1 is not allowed for the new leading axes"):
        x.expand(-1, 3, 2)
    with pytest.raises(ValueError, match="expected at least 2 sizes"):
        x.expand(3)
    np.testing.assert_array_equal(x.expand_as(st.Tensor(np.ones((2, 3, 5)))).shape, (2, 3, 5))


# ------------------------------------------------------------------------------------------ dtypes and casts
@pytest.mark.parametrize("op", [
    lambda x: st.clamp(x, 0.0, 1.0), lambda x: st.maximum(x, 0.5), lambda x: st.where(x.data > 0, x, 0.0),
    lambda x: st.cat([x, x], 1), lambda x: st.stack([x, x]), lambda x: x.split(1, 1)[0], lambda x: x.permute(1, 0),
    lambda x: x.unsqueeze(0), lambda x: x.expand(3, 2, 2), lambda x: st.pow(x, 2), lambda x: 2.0 ** x,
    lambda x: st.matmul(x, np.ones((2, 2))), lambda x: st.exp(x) + st.sqrt(st.abs(x)) * st.log(st.abs(x) + 1.0),
])
def test_float32_ops_stay_float32_with_float32_gradients(op):
    x = st.Tensor(np.array([[0.25, -1.0], [2.0, 0.5]]), requires_grad=True, dtype=np.float32)
    y = op(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_to_float_and_double_cast_with_a_gradient_in_the_input_dtype():
    x = st.Tensor(np.array([0.1, 0.2]), requires_grad=True, dtype=np.float32)
    y = x.double()
    assert y.dtype == np.float64 and x.to(np.float32) is x and x.to("cpu") is x
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert y.float().dtype == np.float32 and x.to(y).dtype == np.float64
    with pytest.raises(TypeError, match="Tensor.to: dtype must be float32 or float64 .* got int64"):
        x.to(np.int64)
    with pytest.raises(RuntimeError, match="Tensor.to: .*no backend serves 'mps'"):
        x.to("mps")
