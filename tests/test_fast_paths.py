"""The speed paths of issue 6, each against PyTorch (float64) on both sides of its branch.

* batch-last layout: a convolution's output is a view of its ``(C_out, *O, N)`` product; pooling,
  padding and the element-wise ops keep that layout; gradients arriving batch-last or plain;
* ``col2im`` by assignment where the windows tile the grid, by addition elsewhere;
* max-pool backward by assignment where the windows tile the input, by addition elsewhere,
  with the first-maximum tie rule in both;
* ``memory.keep_freed_memory`` (glibc malloc settings): never applied at import, keeps freed
  arrays once called, defers to the user's malloc tuning; the training entry points call it;
* convolution keeps its padded input, not its columns, and unfolds again for the weight gradient;
* convolution unfolds and folds its windows in cache-sized blocks of output positions (one
  block, whole rows, parts of a row, single positions), 1-D to 3-D;
* batch norm on the ``(C, M)`` rows of the batch-last buffer, in cache-sized row blocks (one or
  several), from batch-last or plain inputs and gradients.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import strided as st
from strided import windows
from strided.nn import functional as F
from oracle import TF, check_against_torch, needs_torch, torch


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


def test_relu_sum_and_shortcut_gradients_keep_the_batch_last_layout():
    """A gradient arriving in plain order leaves relu, sum (global pooling) and the option-A
    shortcut in their input's batch-last layout, so the convolutions below need no copy."""
    from strided.models.resnet_cifar import zero_pad_shortcut
    rng = np.random.default_rng(11)
    x = st.Tensor(batch_last_copy(rng.standard_normal((3, 4, 6, 6))), requires_grad=True, dtype=np.float64)
    plain = rng.standard_normal((3, 4, 6, 6))
    for op in (F.relu, lambda t: zero_pad_shortcut(t, 8, 2)):
        x.grad = None
        y = op(x)
        assert windows.batch_last(y.data)
        y.backward(np.ascontiguousarray(rng.standard_normal(y.shape)))
        assert windows.batch_last(x.grad)
    x.grad = None
    x.mean(axis=(2, 3)).backward(np.ones((3, 4)))
    assert windows.batch_last(x.grad)
    np.testing.assert_allclose(x.grad, np.full(plain.shape, 1 / 36))
    x.grad = None
    F.relu(x).backward(plain)
    np.testing.assert_array_equal(x.grad, plain * (x.data > 0))


@needs_torch
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


@needs_torch
def test_pointwise_and_grouped_convs_on_batch_last_inputs():
    rng = np.random.default_rng(2)
    x = batch_last_copy(rng.standard_normal((3, 4, 6, 5)))
    check_against_torch(lambda x, w: F.conv2d(x, w), lambda x, w: TF.conv2d(x, w), [x, (6, 4, 1, 1)])
    check_against_torch(lambda x, w: F.conv2d(x, w, padding=1, groups=2),
                        lambda x, w: TF.conv2d(x, w, padding=1, groups=2), [x, (4, 2, 3, 3)])
    check_against_torch(lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), [x])


# --------------------------------------------------------------------------------------- col2im
@needs_torch
@pytest.mark.parametrize("size, kernel, stride", [
    (8, 2, 2),        # windows tile the grid: assignment
    (9, 2, 2),        # a remainder row/column no window touches: zero-filled buffer
    (9, 3, 2),        # overlapping windows: accumulation
])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled folds
def test_conv_input_gradient_both_col2im_branches(size, kernel, stride):
    check_against_torch(lambda x, w: F.conv2d(x, w, stride=stride), lambda x, w: TF.conv2d(x, w, stride=stride),
                        [(2, 3, size, size), (4, 3, kernel, kernel)])


@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled folds
def test_col2im_tiling_matches_accumulation():
    rng = np.random.default_rng(3)
    padded, kernel, stride, dil, out = (2, 3, 8, 6), (2, 3), (2, 3), (1, 1), (4, 2)
    cols = rng.standard_normal((1, 3 * 6, 8 * 2)).astype(np.float32)
    window = st.geometry.Window(kernel, stride, dil, ((0, 0), (0, 0)), padded[2:], out)
    fast = windows.col2im(cols, padded[:2], window)
    slow = np.zeros(padded, np.float32)                                 # by hand: add each window back
    c6 = cols.reshape(3, 2, 3, 4, 2, 2)                                 # (C, *K, *O, N)
    for i in range(2):
        for j in range(3):
            slow[:, :, i::2, j::3] += c6[:, i, j].transpose(3, 0, 1, 2)
    np.testing.assert_allclose(fast, slow)


# --------------------------------------------------------------------------------------- max pool
@needs_torch
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


@needs_torch
def test_max_pool_one_tap_window():
    check_against_torch(lambda x: F.max_pool2d(x, 1, 2), lambda x: TF.max_pool2d(x, 1, 2), [(2, 2, 5, 5)])


@needs_torch
@pytest.mark.parametrize("padding, stride", [(1, 1), (0, 2)])
@pytest.mark.parametrize("c_in, c_out", [(2, 4), (4, 2)])             # folding; stride 1: flipped
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled folds
def test_conv_with_frozen_weight_or_frozen_input(padding, stride, c_in, c_out):
    """Either gradient alone: the folded backward unfolds the kept padded input again, the
    flipped one multiplies the kept input's columns; a frozen weight keeps nothing."""
    rng = np.random.default_rng(6)
    x = batch_last_copy(rng.standard_normal((3, c_in, 7, 7)))
    w = rng.standard_normal((c_out, c_in, 3, 3))
    g = rng.standard_normal(F.conv2d(x, w, padding=padding, stride=stride).shape)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    TF.conv2d(tx, tw, padding=padding, stride=stride).backward(torch.tensor(g))
    for x_grad, w_grad in ((True, False), (False, True)):
        xs, ws = st.Tensor(x, requires_grad=x_grad), st.Tensor(w, requires_grad=w_grad)
        F.conv2d(xs, ws, padding=padding, stride=stride).backward(g)
        got, want = (xs.grad, tx.grad) if x_grad else (ws.grad, tw.grad)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)     # float32 tensors


# --------------------------------------------------------------------------------------- column blocks
@pytest.mark.parametrize("out_sizes, n, column_bytes, budget", [
    ((7, 5), 3, 8, 1 << 20),      # everything in one block
    ((7, 5), 3, 8, 300),          # runs of whole rows
    ((7, 5), 3, 8, 60),           # parts of a row
    ((7, 5), 3, 8, 1),            # single positions (a position is larger than the budget)
    ((3, 4, 5), 2, 4, 100),       # 3-D: runs along the middle axis
    ((11,), 4, 4, 50),
])
def test_column_blocks_partition_the_columns_in_order(out_sizes, n, column_bytes, budget):
    blocks = windows.column_blocks(out_sizes, n, column_bytes, budget)
    seen = np.zeros(int(np.prod(out_sizes)) * n, dtype=int)
    position_index = np.arange(int(np.prod(out_sizes))).reshape(out_sizes)
    stop = 0
    for block in blocks:
        assert block.columns.start == stop                              # contiguous and in order
        stop = block.columns.stop
        positions = position_index[block.positions].ravel()
        expected = (positions[:, None] * n + np.arange(n)).ravel()      # (*O, N) order, whole batch
        np.testing.assert_array_equal(np.arange(block.columns.start, block.columns.stop), expected)
        seen[block.columns] += 1
        width = block.columns.stop - block.columns.start
        assert width * column_bytes <= budget or width == n             # over budget only as one position
    assert stop == seen.size and (seen == 1).all()


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("block_bytes", [64, 1 << 10])              # single positions; partial rows
@pytest.mark.parametrize("weight_shape, x_shape, kwargs", [
    ((4, 3, 3, 3), (2, 3, 7, 6), dict(padding=1)),                      # overlapping windows: accumulation
    ((4, 3, 2, 2), (2, 3, 8, 6), dict(stride=2)),                       # tiling windows: assignment
    ((4, 3, 3, 2), (2, 3, 9, 8), dict(stride=(2, 3), dilation=(2, 1), padding=(2, 1))),
    ((6, 2, 3, 3), (2, 4, 6, 5), dict(padding="same", groups=2)),
    ((4, 1, 3, 3), (2, 4, 6, 5), dict(padding=1, groups=4)),            # depthwise
    ((3, 2, 3), (2, 2, 13), dict(stride=2, padding="causal")),
    ((3, 2, 2, 3, 2), (2, 2, 4, 5, 4), dict(padding=(1, 0, 1), dilation=(1, 2, 1))),
    # stride 1 and C_in >= C_out: the input gradient is a convolution of the output gradient
    ((3, 4, 3, 3), (2, 4, 7, 6), dict(padding=1)),
    ((4, 3, 2, 2), (2, 6, 7, 6), dict(padding="same", dilation=(3, 1), groups=2)),   # uneven sides
    ((2, 2, 3), (2, 2, 11), dict(padding="causal", dilation=2)),
    ((2, 3, 2, 3, 2), (2, 3, 4, 5, 4), dict(padding=(1, 2, 0))),
])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled folds
def test_blocked_convolution_against_torch(monkeypatch, block_bytes, weight_shape, x_shape, kwargs):
    monkeypatch.setattr(windows, "COLUMN_BLOCK_BYTES", block_bytes)
    d = len(weight_shape) - 2
    st_conv, torch_conv = getattr(F, f"conv{d}d"), getattr(TF, f"conv{d}d")
    torch_kwargs = dict(kwargs)
    if kwargs.get("padding") == "causal":                               # torch has no causal mode
        torch_kwargs["padding"] = 0
        pad_left = (weight_shape[-1] - 1) * kwargs.get("dilation", 1)
        torch_fn = lambda x, w, b: torch_conv(TF.pad(x, (pad_left, 0)), w, b, **torch_kwargs)
    else:
        torch_fn = lambda x, w, b: torch_conv(x, w, b, **torch_kwargs)
    check_against_torch(lambda x, w, b: st_conv(x, w, b, **kwargs), torch_fn,
                        [x_shape, weight_shape, (weight_shape[0],)])


@needs_torch
@pytest.mark.parametrize("weight_shape, kwargs, as_convolution", [
    ((3, 4, 3, 3), dict(padding=1), True),
    ((4, 4, 3, 3), dict(padding="valid"), True),
    ((3, 4, 3, 3), dict(padding=3), False),                             # padded beyond the kernel's reach
    ((3, 4, 3, 3), dict(padding=1, stride=2), False),
    ((6, 4, 3, 3), dict(padding=1), False),                             # more outputs than inputs: folded
])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled folds
def test_input_gradient_path_choice(monkeypatch, weight_shape, kwargs, as_convolution):
    from strided.nn import conv_forms

    def forbidden(*args, **kwargs):
        raise AssertionError("the other input-gradient path was expected")
    other = "blocked_fold" if as_convolution else "flipped_gradients"
    monkeypatch.setattr(conv_forms, other, forbidden)
    check_against_torch(lambda x, w: F.conv2d(x, w, **kwargs), lambda x, w: TF.conv2d(x, w, **kwargs),
                        [(2, 4, 6, 7), weight_shape])


# --------------------------------------------------------------------------------------- batch norm
@needs_torch
@pytest.mark.parametrize("block_bytes", [1 << 18, 64])               # one block; one row per block
@pytest.mark.parametrize("batch_last_input", [False, True])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_row_blocks_and_layouts(monkeypatch, block_bytes, batch_last_input, training, affine):
    from strided.nn import norm
    monkeypatch.setattr(norm, "ROW_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 4, 3)) * 2 + 1
    x = batch_last_copy(x) if batch_last_input else x
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    params = [(3,), (3,)] if affine else [None, None]

    def st_fn(x, w, b):
        return F.batch_norm(x, mean.copy(), var.copy(), w, b, training=training)

    def torch_fn(x, w, b):
        return TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b, training=training)
    check_against_torch(st_fn, torch_fn, [x] + params)
    if batch_last_input:
        assert windows.batch_last(st_fn(st.Tensor(x), None, None).data)   # the layout is kept


@needs_torch
def test_batch_norm_running_stats_with_several_row_blocks(monkeypatch):
    from strided.nn import norm
    monkeypatch.setattr(norm, "ROW_BLOCK_BYTES", 64)
    rng = np.random.default_rng(8)
    x = batch_last_copy(rng.standard_normal((6, 4, 3, 3)))
    ours, theirs = st.nn.BatchNorm2d(4, momentum=0.3).double(), torch.nn.BatchNorm2d(4, momentum=0.3).double()
    for _ in range(2):
        ours(st.Tensor(x))
        theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_float32_statistics_of_an_offset_input():
    """Float32 input far from zero: the variance is taken around the mean (two passes over a
    cached block), so it does not cancel; checked against float64."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((64, 2, 16, 16)) + 300).astype(np.float32)
    y = F.batch_norm(st.Tensor(batch_last_copy(x)), None, None, training=True).data
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x64.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-3)


# --------------------------------------------------------------------------------------- memory
# Each check runs in a fresh interpreter: the allocator setting is process-wide and cannot be undone.
ARRAY_MB = 200
RSS_PROBE = """
import json, os, sys
import numpy as np

def rss():      # resident set size, bytes
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

{setup}
before = rss()
a = np.empty({mb} << 20, dtype=np.uint8)
a.fill(1)       # touch every page
during = rss()
del a
after = rss()
print(json.dumps({{"applied": applied, "before": before, "during": during, "after": after}}))
"""


def _malloc_probe(setup: str, env_changes: dict | None = None) -> dict:
    """Run ``setup``, then allocate, fill and free a ``ARRAY_MB`` array in a fresh interpreter;
    the RSS before, during and after, and ``applied`` as ``setup`` left it."""
    from strided import memory
    env = {k: v for k, v in os.environ.items() if k not in memory.USER_TUNABLES}   # the user's own malloc tuning off
    env.update(env_changes or {})
    code = RSS_PROBE.format(setup=setup, mb=ARRAY_MB)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    import json
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["during"] - result["before"] > 0.75 * (ARRAY_MB << 20), result    # the probe sees the array
    return result


needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS is read from /proc (Linux only)")


@needs_linux
def test_import_leaves_the_allocator_alone():
    """Importing strided (and its nn and models) changes no malloc setting: a freed 200 MB array
    goes back to the system, as in any Python process."""
    r = _malloc_probe("import strided, strided.nn, strided.models, strided.memory\n"
                      "applied = strided.memory._applied")
    assert r["applied"] is None                                          # never called at import
    assert r["after"] - r["before"] < 50 << 20, r                        # the memory was given back


@needs_linux
def test_keep_freed_memory_keeps_freed_arrays():
    """After the explicit call the same freed array stays in the process (so the probe above can
    tell the two apart)."""
    r = _malloc_probe("import strided.memory\napplied = strided.memory.keep_freed_memory()")
    if not r["applied"]:
        pytest.skip("keep_freed_memory() returned False here (no glibc mallopt)")
    assert r["after"] - r["before"] > 0.75 * (ARRAY_MB << 20), r        # kept for reuse


def test_keep_freed_memory_defers_to_the_users_malloc_tuning():
    """With a glibc malloc tunable in the environment it does nothing, unless forced."""
    code = ("import platform, sys, strided.memory as m\n"
            "print(m.keep_freed_memory(), m.keep_freed_memory(), m.keep_freed_memory(force=True), "
            "sys.platform.startswith('linux') and platform.libc_ver()[0] == 'glibc')")
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_=str(128 << 20))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    plain, again, forced, glibc = out.stdout.split()
    assert (plain, again) == ("False", "False")
    if glibc == "True":
        assert forced == "True"


def test_train_entry_points_call_keep_freed_memory(monkeypatch):
    """``strided train`` (the command line) makes the call; other commands and the library's ``fit`` do not."""
    import strided.cli
    import strided.memory
    import strided.train.loop
    calls = []
    monkeypatch.setattr(strided.memory, "keep_freed_memory", lambda force=False: calls.append("cli") or True)
    monkeypatch.setattr(strided.cli, "_train", lambda args: 0)
    assert strided.cli.main(["models"]) == 0 and calls == []
    assert strided.cli.main(["train"]) == 0 and calls == ["cli"]
    model = st.models.create_model("lenet5", input_size=28, seed=0)
    opt = st.optim.SGD(model.parameters(), lr=0.1)
    data = (np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64))
    assert strided.train.loop.fit(model, data, optimizer=opt, epochs=0, progress=False, log=lambda *a: None) == []
    assert calls == ["cli"]


@needs_torch
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


# --------------------------------------------------------------------------------------- batch-1 overhead
@pytest.mark.parametrize("layout", ["plain", "batch_last", "strided"])
def test_window_view_on_every_memory_layout(layout):
    """The window view (built on the dense buffer, or by as_strided for other memory) against
    a literal loop over windows, and it is read-only."""
    rng = np.random.default_rng(12)
    base = rng.standard_normal((3, 2, 9, 16))
    x = {"plain": base, "batch_last": batch_last_copy(base), "strided": base[:, :, :, ::2]}[layout]
    kernel, stride, dilation = (2, 3), (2, 1), (1, 2)
    out = tuple((n - dl * (k - 1) - 1) // s + 1 for n, k, s, dl in zip(x.shape[2:], kernel, stride, dilation))
    window = st.geometry.Window(kernel, stride, dilation, ((0, 0), (0, 0)), x.shape[2:], out)
    view = windows.window_view(x, window)
    assert not view.flags.writeable
    for ki in range(2):
        for kj in range(3):
            for oi in range(out[0]):
                for oj in range(out[1]):
                    np.testing.assert_array_equal(view[:, :, ki, kj, oi, oj],
                                                  x[:, :, oi * 2 + ki, oj + 2 * kj])


@pytest.mark.parametrize("small_bytes", [0, 1 << 30])                 # border strips; zero fill
@pytest.mark.parametrize("batch_last_input", [False, True])
def test_pad_both_ways_same_values_and_layout(monkeypatch, small_bytes, batch_last_input):
    monkeypatch.setattr(windows, "SMALL_PAD_BYTES", small_bytes)
    x = np.random.default_rng(13).standard_normal((2, 3, 4, 5))
    x = batch_last_copy(x) if batch_last_input else x
    pads = ((1, 2), (0, 3))
    out = windows.pad(x, pads)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0)) + pads))
    assert windows.batch_last(out) == batch_last_input
    np.testing.assert_array_equal(windows.pad(x, pads, value=-np.inf),
                                  np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=-np.inf))
