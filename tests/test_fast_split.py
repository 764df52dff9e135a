"""Work shared over strided's own threads (``fast/split.py``): Winograd's chunks
(``fast/winograd_chunks.py``) and batch normalisation's channel rows (``fast/norm.py``).

With two threads (``threads._own_threads``, as ``st.set_num_threads(2)`` sets it) and small
chunks, the form's forward and both gradients equal PyTorch's in float64, for both kinds of
transform kernels and the channels-last form; the split really happens (``run_parts`` is
called with two parts), computes the same bits run after run, and its forward the same bits as
one thread. Batch normalisation split by channel rows gives the bits of one thread, forward
and backward, and equals PyTorch in float64. The chunk plans are checked against their rules by
brute force: every tile once, and no two tiles of one phase given to different parts touch a
common input position. A forked child of a process with a pool makes its own.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import strided as st
from strided import fast, threads, windows
from strided.nn import conv as conv_module
from oracle import needs_torch, torch

pytestmark = needs_torch
if not fast.available():
    pytest.skip('the compiled path needs Numba: pip install "strided[fast]"', allow_module_level=True)
from strided.fast import split, winograd, winograd_chunks  # noqa: E402  (imports Numba)
from test_fast_winograd import run_form, scaled_error, torch_conv, torch_reference  # noqa: E402


@pytest.fixture
def two_threads(monkeypatch):
    """strided's own threads at two, every chunk small enough to share, and a record of the splits."""
    monkeypatch.setattr(threads, "_own_threads", 2)
    monkeypatch.setattr(winograd_chunks, "SPLIT_MACS", 10**12)
    calls = []
    real = split.run_parts

    def recording(work, parts):
        calls.append(parts)
        return real(work, parts)
    monkeypatch.setattr(winograd, "run_parts", recording)
    return calls


@pytest.fixture(params=["batch runs", "phase runs"])
def runs(request, monkeypatch):
    phased = request.param == "phase runs"
    monkeypatch.setattr(winograd, "phase_runs", lambda n, tiles_w: phased)
    return request.param


@pytest.mark.parametrize("n, c_in, c_out, h, w, chunk_tiles", [
    (3, 4, 5, 17, 23, 1),                    # 5x6 tiles with partial ones: one tile a chunk
    (2, 3, 2, 16, 16, 3),                    # 4x4 tiles, chunks of three
    (3, 2, 3, 9, 10, 2),                     # 3x3 tiles: too few rows to split the backward
])
def test_split_chunks_match_torch_float64(two_threads, runs, monkeypatch, n, c_in, c_out, h, w, chunk_tiles):
    monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", 36 * max(c_in, c_out) * n * 8 * chunk_tiles)
    monkeypatch.setattr(winograd_chunks, "MIN_CHUNK_COLUMNS", 1)
    rng = np.random.default_rng(3)
    x, wt = rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, 3, 3))
    g = rng.standard_normal((n, c_out, h, w))
    for actual, want in zip(run_form(x, wt, g, 1), torch_reference(x, wt, g, 1)):
        assert scaled_error(actual, want) < 1e-10
    tiles_h = -(-h // 4)
    assert two_threads == ([2, 2, 2] if tiles_h >= winograd_chunks.SPLIT_ROWS else [2])   # forward, two phases


@pytest.mark.parametrize("need_x, need_w", [(True, False), (False, True)])
def test_split_backward_of_one_gradient_matches_torch_float64(two_threads, runs, monkeypatch, need_x, need_w):
    monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", 36 * 4 * 2 * 8)        # one tile a chunk
    monkeypatch.setattr(winograd_chunks, "MIN_CHUNK_COLUMNS", 1)
    rng = np.random.default_rng(6)
    x, wt, g = rng.standard_normal((2, 3, 16, 13)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 16, 13))
    _, gx, gw = run_form(x, wt, g, 1, need_x=need_x, need_w=need_w)
    _, want_x, want_w = torch_reference(x, wt, g, 1)
    assert (gx is None) != need_x and (gw is None) != need_w
    assert scaled_error(gx if need_x else gw, want_x if need_x else want_w) < 1e-10
    assert two_threads == [2, 2, 2]


def test_split_gives_the_same_bits_every_run_and_its_forward_those_of_one_thread(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    wt, g = rng.standard_normal((16, 16, 3, 3)).astype(np.float32), rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    monkeypatch.setattr(threads, "_own_threads", 1)
    alone = run_form(x, wt, g, 1)
    monkeypatch.setattr(threads, "_own_threads", 2)
    first, second = run_form(x, wt, g, 1), run_form(x, wt, g, 1)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert np.array_equal(first[0], alone[0])
    for shared, one in zip(first[1:], alone[1:]):           # sums in another order: float32 rounding
        assert scaled_error(shared, one.astype(np.float64)) < 1e-5


@pytest.mark.parametrize("n, c_in, c_out, h, chunk_tiles", [(1, 5, 4, 24, 5), (3, 3, 6, 9, 1), (2, 4, 4, 13, 2)])
def test_split_channels_last_form_matches_torch_float64(two_threads, monkeypatch, n, c_in, c_out, h, chunk_tiles):
    monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", 36 * max(c_in, c_out) * n * 8 * chunk_tiles)
    monkeypatch.setattr(winograd_chunks, "MIN_CHUNK_COLUMNS", 1)
    rng = np.random.default_rng(5)
    x, wt = rng.standard_normal((n, c_in, h, h)), rng.standard_normal((c_out, c_in, 3, 3))
    window = conv_module.conv_window(x.shape, wt.shape, 1, 1, 1, 1, "conv2d")
    out_m, _ = winograd.winograd_form(st.Tensor(x), st.Tensor(wt), window, 1)
    out = windows.from_channel_major(out_m, n, window.out_sizes)
    assert scaled_error(out, torch_conv(torch.tensor(x), torch.tensor(wt), 1).numpy()) < 1e-10
    assert two_threads == [2]


@pytest.mark.parametrize("tiles_h, tiles_w, step, parts", [(8, 8, 5, 2), (5, 6, 2, 2), (4, 3, 9, 3), (7, 1, 1, 2)])
def test_row_phases_cover_every_tile_once_and_parts_never_touch(tiles_h, tiles_w, step, parts):
    phases = winograd_chunks.row_phases(tiles_h, tiles_w, step, parts)
    tiles = [first + i for phase in phases for part in phase for first, count in part for i in range(count)]
    assert sorted(tiles) == list(range(tiles_h * tiles_w))
    for phase in phases:
        footprints = []                                    # each part's input rows and columns (6x6 a tile)
        for part in phase:
            assert all(count <= step and (first % tiles_w) + count <= tiles_w for first, count in part)
            footprints.append({(4 * (t // tiles_w) + a, 4 * (t % tiles_w) + b)
                               for first, count in part for t in range(first, first + count)
                               for a in range(6) for b in range(6)})
        for i in range(parts):
            for j in range(i + 1, parts):
                assert not footprints[i] & footprints[j]


@pytest.mark.parametrize("runs, parts", [([(0, 170), (170, 26)], 2), ([(0, 5), (5, 5), (10, 3)], 2),
                                          ([(0, 2), (2, 1)], 4), ([(0, 4)], 1)])
def test_even_runs_cover_the_tiles_in_a_multiple_of_parts(runs, parts):
    tiles = runs[-1][0] + runs[-1][1]
    cut = winograd_chunks.even_runs(runs, parts)
    assert [t for first, count in cut for t in range(first, first + count)] == list(range(tiles))
    assert max(count for _, count in cut) <= max(count for _, count in runs)
    assert len(cut) % parts == 0 or len(cut) == tiles
    assert max(c for _, c in cut) - min(c for _, c in cut) <= 1


def test_run_parts_runs_every_part_and_raises_a_parts_error():
    seen = []
    split.run_parts(seen.append, 3)
    assert sorted(seen) == [0, 1, 2]

    def failing(part):
        if part == 1:
            raise ValueError("part 1 failed")
        seen.append(part)
    with pytest.raises(ValueError, match="part 1 failed"):
        split.run_parts(failing, 2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_run_parts_in_a_forked_child_of_a_process_with_a_pool():
    """The parent's pool threads do not exist in a fork's child: the child must make its own
    rather than wait for ever (an alarm ends the child if it hangs)."""
    split.run_parts(lambda part: None, 2)                               # the parent's pool exists
    pid = os.fork()
    if pid == 0:                                                        # the child: exit 0 only when both parts ran
        signal.alarm(10)
        seen = []
        split.run_parts(seen.append, 2)
        os._exit(0 if sorted(seen) == [0, 1] else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    seen = []
    split.run_parts(seen.append, 2)                                     # the parent's pool still works
    assert sorted(seen) == [0, 1]


def test_split_parts_follow_the_threads_and_the_product_size(monkeypatch):
    monkeypatch.setattr(threads, "_own_threads", 1)
    assert winograd_chunks.split_parts(16, 16, 640, 13) == 1
    monkeypatch.setattr(threads, "_own_threads", 2)
    assert winograd_chunks.split_parts(16, 16, 640, 13) == 2
    assert winograd_chunks.split_parts(16, 16, 640, 1) == 1                     # one chunk: nothing to share
    limit = winograd_chunks.SPLIT_MACS
    assert winograd_chunks.split_parts(64, 64, limit // 4096, 4) == 2
    assert winograd_chunks.split_parts(64, 64, limit // 4096 + 1, 4) == 1      # a product the BLAS shares


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_rows_split_give_the_bits_of_one_thread(monkeypatch, training):
    calls = []
    real = split.run_parts
    monkeypatch.setattr(split, "run_parts", lambda work, parts: calls.append(parts) or real(work, parts))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 12, 8, 8)).astype(np.float32) * 3 + 1
    g = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for own in (1, 2):
        monkeypatch.setattr(threads, "_own_threads", own)
        monkeypatch.setattr(split, "SPLIT_ROW_VALUES", 1)
        layer = st.nn.BatchNorm2d(12)
        layer.weight.data[:] = rng.standard_normal(12).astype(np.float32) if own == 1 else results[0][3]
        layer.train(training)
        xs = st.Tensor(windows.to_batch_last(x), requires_grad=True)
        out = st.nn.functional.relu(layer(xs))
        out.backward(st.Tensor(g))
        results.append((out.data.copy(), xs.grad.copy(), layer.weight.grad.copy(), layer.weight.data.copy()))
    assert calls and set(calls) == {2}                       # the rows were split, and only with two threads
    for one, two in zip(results[0], results[1]):
        assert np.array_equal(one, two)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(results[0][3], dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(12, dtype=torch.float64, requires_grad=True)
    mean, var = (None, None) if training else (torch.zeros(12, dtype=torch.float64), torch.ones(12, dtype=torch.float64))
    yt = torch.relu(torch.nn.functional.batch_norm(xt, mean, var, wt, bt, training=True if training else False, eps=1e-5))
    yt.backward(torch.tensor(g, dtype=torch.float64))
    for ours, want in [(results[1][0], yt), (results[1][1], xt.grad), (results[1][2], wt.grad)]:
        assert scaled_error(ours, want.detach().numpy()) < 1e-5
