"""The speed paths of issue 6, each against PyTorch (float64) on both sides of its branch.

* batch-last layout: a convolution's output is a view of its ``(C_out, *O, N)`` product; pooling,
  padding and the element-wise ops keep that layout; gradients arriving batch-last or plain;
* ``col2im`` by assignment where the windows tile the grid, by addition elsewhere;
* max-pool backward by assignment where the windows tile the input, by addition elsewhere,
  with the first-maximum tie rule in both;
* ``memory.keep_freed_memory`` (glibc malloc settings) and its opt-out.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import strided as st
from strided import windows
from strided.nn import functional as F
from oracle import check_against_torch


def batch_last_copy(a: np.ndarray) -> np.ndarray:
    """The same values in a batch-last memory layout."""
    return windows.to_batch_last(np.ascontiguousarray(a))


# --------------------------------------------------------------------------------------- layout
def test_conv_output_is_a_batch_last_view_and_layout_is_kept():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    y = F.conv2d(x, w, padding=1).data
    assert windows.batch_last(y) and not y.flags.c_contiguous
    assert windows.batch_last(F.relu(y).data)
    assert windows.batch_last(F.max_pool2d(y, 2).data)
    assert windows.batch_last(windows.pad(y, ((1, 1), (1, 1))))
    m = windows.to_channel_major(y)
    assert np.shares_memory(m, y)                                       # free for a batch-last input
    back = windows.from_channel_major(m, 4, (9, 9))
    np.testing.assert_array_equal(back, y)
    plain = np.ascontiguousarray(y)
    np.testing.assert_array_equal(windows.to_channel_major(plain), m)   # a copy for a plain input


@pytest.mark.parametrize("batch_last_input", [False, True])
def test_lenet_like_chain_against_torch(batch_last_input):
    """conv -> relu -> pool -> conv -> relu -> pool -> flatten: the gradient reaches the last conv
    in plain C order (from the flatten) and the first in batch-last order (from the pool)."""
    def st_fn(x, w1, b1, w2, b2):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=2)), 2)
        return F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2).flatten()

    def torch_fn(x, w1, b1, w2, b2):
        h = TF.max_pool2d(TF.relu(TF.conv2d(x, w1, b1, padding=2)), 2)
        return TF.max_pool2d(TF.relu(TF.conv2d(h, w2, b2)), 2).flatten(1)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 12, 12))
    inputs = [batch_last_copy(x) if batch_last_input else x, (4, 2, 5, 5), (4,), (6, 4, 3, 3), (6,)]
    check_against_torch(st_fn, torch_fn, inputs)


def test_pointwise_and_grouped_convs_on_batch_last_inputs():
    rng = np.random.default_rng(2)
    x = batch_last_copy(rng.standard_normal((3, 4, 6, 5)))
    check_against_torch(lambda x, w: F.conv2d(x, w), lambda x, w: TF.conv2d(x, w), [x, (6, 4, 1, 1)])
    check_against_torch(lambda x, w: F.conv2d(x, w, padding=1, groups=2),
                        lambda x, w: TF.conv2d(x, w, padding=1, groups=2), [x, (4, 2, 3, 3)])
    check_against_torch(lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), [x])


# --------------------------------------------------------------------------------------- col2im
@pytest.mark.parametrize("size, kernel, stride", [
    (8, 2, 2),        # windows tile the grid: assignment
    (9, 2, 2),        # a remainder row/column no window touches: zero-filled buffer
    (9, 3, 2),        # overlapping windows: accumulation
])
def test_conv_input_gradient_both_col2im_branches(size, kernel, stride):
    check_against_torch(lambda x, w: F.conv2d(x, w, stride=stride), lambda x, w: TF.conv2d(x, w, stride=stride),
                        [(2, 3, size, size), (4, 3, kernel, kernel)])


def test_col2im_tiling_matches_accumulation():
    rng = np.random.default_rng(3)
    padded, kernel, stride, dil, out = (2, 3, 8, 6), (2, 3), (2, 3), (1, 1), (4, 2)
    cols = rng.standard_normal((1, 3 * 6, 8 * 2)).astype(np.float32)
    fast = windows.col2im(cols, padded, kernel, stride, dil, out)
    slow = np.zeros(padded, np.float32)                                 # by hand: add each window back
    c6 = cols.reshape(3, 2, 3, 4, 2, 2)                                 # (C, *K, *O, N)
    for i in range(2):
        for j in range(3):
            slow[:, :, i::2, j::3] += c6[:, i, j].transpose(3, 0, 1, 2)
    np.testing.assert_allclose(fast, slow)


# --------------------------------------------------------------------------------------- max pool
@pytest.mark.parametrize("size, kernel, stride, padding", [
    (8, 2, 2, 0),     # tiles: assignment
    (7, 2, 2, 0),     # last row/column unused: zero-filled buffer
    (7, 3, 2, 1),     # overlapping and padded: accumulation
])
@pytest.mark.parametrize("batch_last_input", [False, True])
def test_max_pool_both_backward_branches(size, kernel, stride, padding, batch_last_input):
    x = np.random.default_rng(4).standard_normal((3, 2, size, size))
    x = batch_last_copy(x) if batch_last_input else x
    check_against_torch(lambda x: F.max_pool2d(x, kernel, stride, padding),
                        lambda x: TF.max_pool2d(x, kernel, stride, padding), [x])


@pytest.mark.parametrize("shape, kernel, stride", [((2, 3, 4, 4), 2, 2), ((2, 3, 5, 5), 3, 2)])
def test_max_pool_ties_go_to_the_first_maximum(shape, kernel, stride):
    x = st.Tensor(batch_last_copy(np.ones(shape, np.float32)), requires_grad=True)
    y = F.max_pool2d(x, kernel, stride)
    g = np.arange(1, y.data.size + 1, dtype=np.float32).reshape(y.shape)
    y.backward(g)
    expected = np.zeros(shape, np.float32)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            expected[:, :, i * stride, j * stride] += g[:, :, i, j]     # the window's first position
    np.testing.assert_array_equal(x.grad, expected)


def test_max_pool_one_tap_window():
    check_against_torch(lambda x: F.max_pool2d(x, 1, 2), lambda x: TF.max_pool2d(x, 1, 2), [(2, 2, 5, 5)])


# --------------------------------------------------------------------------------------- memory
def test_keep_freed_memory_is_applied_and_can_be_turned_off():
    from strided import memory
    if sys.platform.startswith("linux") and not any(v in os.environ for v in memory.USER_TUNABLES) \
            and os.environ.get("STRIDED_KEEP_FREED_MEMORY", "1") != "0":
        assert memory.keep_freed_memory() in (True, False)              # glibc: True; musl: False
    code = "import strided.memory as m, strided; print(m._applied)"
    env = dict(os.environ, STRIDED_KEEP_FREED_MEMORY="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_training_step_same_with_and_without_batch_last_input():
    """A LeNet-5 step from a plain and from a batch-last batch gives the same parameters."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=4)
    results = []
    for data in (x, batch_last_copy(x)):
        model = st.models.create_model("lenet5", input_size=28, seed=0)
        opt = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            st.nn.CrossEntropyLoss()(model(st.Tensor(data)), y).backward()
            opt.step()
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert torch is not None
