"""DataLoader and datasets: the seed contract, exact resume, drop_last, lazy vs array paths, splits."""

from __future__ import annotations

import json

import numpy as np
import pytest

import strided as st
from strided.data import ArrayDataset, ArrayLoader, ConcatDataset, DataLoader, Dataset, Subset, random_split
from strided.errors import ShapeError

N, B = 10, 4


def arrays(n=N):
    x = np.arange(n * 16, dtype=np.float32).reshape(n, 1, 4, 4)       # example i holds 16i .. 16i+15
    return x, np.arange(n) % 3


class LazyDataset(Dataset):
    """Examples made one at a time, as a dataset reading files would (no get_batch)."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.calls = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.calls += 1
        return self.x[i], int(self.y[i])


def add_noise(x, rng):
    return x + rng.random()            # one draw per batch: exposes which generator the batch got


def expected_epoch(x, y, seed, epoch, shuffle=True, drop_last=False, transform=add_noise):
    """The contract written out: order from default_rng([seed, e]), transform rng default_rng([seed, e, b, 1])."""
    order = np.random.default_rng([seed, epoch]).permutation(len(x)) if shuffle else np.arange(len(x))
    count = len(x) // B if drop_last else -(-len(x) // B)
    out = []
    for b in range(count):
        index = order[b * B:(b + 1) * B]
        xb = x[index] if transform is None else transform(x[index], np.random.default_rng([seed, epoch, b, 1]))
        out.append((xb, y[index]))
    return out


def assert_batches_equal(got, want):
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


def test_epochs_follow_the_seed_contract():
    x, y = arrays()
    loader = DataLoader((x, y), batch_size=B, shuffle=True, seed=11, transform=add_noise)
    for epoch in range(3):
        got = list(loader)
        assert_batches_equal(got, expected_epoch(x, y, 11, epoch))
        assert loader.state_dict() == {"seed": 11, "epoch": epoch + 1, "batch": 0}
    assert got[0][0].dtype == np.float32 and got[0][1].dtype == np.int64
    assert [b[0].shape for b in got] == [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]


def test_same_seed_same_batches_other_seed_other_order():
    x, _ = arrays(50)
    a = [yb.tolist() for yb in (yb for _, yb in DataLoader((x, np.arange(50)), batch_size=8, shuffle=True, seed=3))]
    b = [yb.tolist() for yb in (yb for _, yb in DataLoader((x, np.arange(50)), batch_size=8, shuffle=True, seed=3))]
    c = [yb.tolist() for yb in (yb for _, yb in DataLoader((x, np.arange(50)), batch_size=8, shuffle=True, seed=4))]
    assert a == b and a != c
    assert sorted(sum(a, [])) == list(range(50))                         # a permutation: each example once


def test_without_shuffle_order_is_sequential():
    x, y = arrays()
    got = list(DataLoader((x, y), batch_size=B, seed=0))
    assert_batches_equal(got, expected_epoch(x, y, 0, 0, shuffle=False, transform=None))


@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_from_every_batch_position_equals_the_uninterrupted_run(drop_last):
    x, y = arrays()
    epochs = 3

    def run(loader, batches):
        out = []
        while len(out) < batches:
            for batch in loader:
                out.append(batch)
                if len(out) == batches:
                    break
        return out

    reference = DataLoader((x, y), batch_size=B, shuffle=True, drop_last=drop_last, seed=5, transform=add_noise)
    per_epoch = len(reference)
    total = epochs * per_epoch
    states, uninterrupted = [reference.state_dict()], []
    for _ in range(epochs):
        for batch in reference:
            uninterrupted.append(batch)
            states.append(reference.state_dict())
    want = sum((expected_epoch(x, y, 5, e, drop_last=drop_last) for e in range(epochs)), [])
    assert_batches_equal(uninterrupted, want)
    for k, state in enumerate(states):
        assert state["epoch"] == k // per_epoch and state["batch"] == k % per_epoch
        resumed = DataLoader((x, y), batch_size=B, shuffle=True, drop_last=drop_last, transform=add_noise)  # other seed
        resumed.load_state_dict(json.loads(json.dumps(state)))
        assert_batches_equal(run(resumed, total - k), want[k:])


def test_a_loop_left_early_continues_at_the_next_batch():
    x, y = arrays()
    loader = DataLoader((x, y), batch_size=B, shuffle=True, seed=2)
    first = next(iter(loader))
    assert loader.state_dict() == {"seed": 2, "epoch": 0, "batch": 1}
    rest = list(loader)
    assert_batches_equal([first] + rest, expected_epoch(x, y, 2, 0, transform=None))
    assert loader.state_dict()["epoch"] == 1


def test_len_and_drop_last():
    x, y = arrays()
    assert len(DataLoader((x, y), batch_size=B)) == 3
    dropped = DataLoader((x, y), batch_size=B, drop_last=True, seed=0)
    assert len(dropped) == 2
    assert [len(yb) for _, yb in dropped] == [4, 4]
    assert len(DataLoader((x[:3], y[:3]), batch_size=B, drop_last=True)) == 0
    empty = DataLoader((x[:3], y[:3]), batch_size=B, drop_last=True, seed=0)
    assert list(empty) == [] and empty.state_dict()["epoch"] == 1         # an empty epoch still ends


def test_lazy_and_array_paths_give_the_same_batches():
    x, y = arrays()
    lazy = LazyDataset(x, y)
    got = list(DataLoader(lazy, batch_size=B, shuffle=True, seed=9, transform=add_noise))
    assert lazy.calls == N                                               # one __getitem__ per example
    assert_batches_equal(got, list(DataLoader((x, y), batch_size=B, shuffle=True, seed=9, transform=add_noise)))
    assert got[0][0].shape == (4, 1, 4, 4) and got[0][1].shape == (4,)    # stacked, not one example
    assert got[0][0].dtype == np.float32 and got[0][1].dtype == np.int64


def test_a_given_collate_receives_the_examples():
    x, y = arrays()
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return np.stack([s[0] for s in samples]) * 2, np.array([s[1] for s in samples])

    got = list(DataLoader(ArrayDataset(x, y), batch_size=B, collate=collate, seed=0))
    assert seen == [4, 4, 2]
    np.testing.assert_array_equal(got[0][0], x[:4] * 2)


def test_float_targets_and_integer_images():
    x = np.arange(6 * 3, dtype=np.float64).reshape(6, 3)
    targets = np.linspace(0, 1, 12).reshape(6, 2)
    xb, yb = next(iter(DataLoader((x, targets), batch_size=4, seed=0)))
    assert xb.dtype == np.float32 and yb.dtype == np.float32 and yb.shape == (4, 2)
    np.testing.assert_allclose(yb, targets[:4].astype(np.float32))
    images = np.full((4, 1, 2, 2), 255, np.uint8)
    xb, _ = next(iter(DataLoader((images, np.zeros(4, int)), batch_size=4, seed=0,
                                 transform=st.data.transforms.ToFloat())))
    assert xb.dtype == np.float32 and np.all(xb == 1.0)


def test_seed_none_draws_from_the_default_generator():
    x, y = arrays()
    st.manual_seed(123)
    a = DataLoader((x, y), shuffle=True)
    st.manual_seed(123)
    b = DataLoader((x, y), shuffle=True)
    c = DataLoader((x, y), shuffle=True)
    assert a.seed == b.seed != c.seed
    assert isinstance(a.seed, int) and a.state_dict()["seed"] == a.seed


def test_load_state_dict_checks_its_input():
    x, y = arrays()
    loader = DataLoader((x, y), batch_size=B, seed=0)
    with pytest.raises(KeyError, match="missing keys \\['batch'\\]"):
        loader.load_state_dict({"seed": 0, "epoch": 1})
    with pytest.raises(KeyError, match="unexpected keys \\['rng'\\]"):
        loader.load_state_dict({"seed": 0, "epoch": 1, "batch": 0, "rng": 1})
    with pytest.raises(ValueError, match="batch must lie in \\[0, 3\\]"):
        loader.load_state_dict({"seed": 0, "epoch": 1, "batch": 4})
    with pytest.raises(TypeError, match="epoch"):
        loader.load_state_dict({"seed": 0, "epoch": True, "batch": 0})
    loader.load_state_dict({"seed": 0, "epoch": 1, "batch": 3})          # the end of epoch 1
    assert loader.state_dict() == {"seed": 0, "epoch": 2, "batch": 0}


def test_loader_argument_errors():
    x, y = arrays()
    with pytest.raises(ShapeError, match="same length, got 10 and 9"):
        DataLoader((x, y[:9]))
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader((x, y), batch_size=0.5)
    with pytest.raises(TypeError, match="seed"):
        DataLoader((x, y), seed=1.5)
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42)
    with pytest.raises(TypeError, match="use DataLoader"):
        ArrayLoader(LazyDataset(x, y), y)


def test_array_dataset_examples_and_batches():
    x, y = arrays()
    ds = ArrayDataset(x, y, classes=["a", "b", "c"])
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi, x[4])
    assert yi == 1 and isinstance(yi, int) and ds.classes == ("a", "b", "c")
    xb, yb = ds[np.array([7, 2])]
    np.testing.assert_array_equal(xb, x[[7, 2]])
    np.testing.assert_array_equal(yb, y[[7, 2]])
    assert ds[-1][1] == y[-1]
    with pytest.raises(IndexError, match="out of range"):
        ds[10]


def test_subset_and_concat_gather_the_right_examples():
    x, y = arrays()
    a, b = ArrayDataset(x[:6], y[:6]), ArrayDataset(x[6:], y[6:])
    both = ConcatDataset([a, b])
    assert len(both) == 10 and (a + b).cumulative_sizes.tolist() == [6, 10]
    for i in range(10):
        np.testing.assert_array_equal(both[i][0], x[i])
    xb, yb = both.get_batch(np.array([9, 0, 6, 5]))                        # across the boundary, in order
    np.testing.assert_array_equal(xb, x[[9, 0, 6, 5]])
    np.testing.assert_array_equal(yb, y[[9, 0, 6, 5]])
    sub = Subset(both, [8, 1, 3])
    np.testing.assert_array_equal(sub[0][0], x[8])
    np.testing.assert_array_equal(sub.get_batch(np.array([2, 0]))[0], x[[3, 8]])
    assert not hasattr(Subset(LazyDataset(x, y), [0]), "get_batch")
    lazy = list(DataLoader(Subset(LazyDataset(x, y), [8, 1, 3]), batch_size=2, seed=0))
    fast = list(DataLoader(sub, batch_size=2, seed=0))
    assert_batches_equal(lazy, fast)


@pytest.mark.parametrize("n, lengths", [(10, [0.7, 0.3]), (10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]),
                                        (101, [0.1] * 10), (10, [3, 7])])
def test_random_split_lengths_match_pytorch(n, lengths):
    torch = pytest.importorskip("torch", reason="needs PyTorch (the oracle): pip install torch==2.13.0")
    want = [len(part) for part in torch.utils.data.random_split(range(n), lengths,
                                                                generator=torch.Generator().manual_seed(0))]
    x, y = arrays(n)
    parts = random_split(ArrayDataset(x, y), lengths, seed=1)
    assert [len(p) for p in parts] == want
    together = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(together, np.random.default_rng(1).permutation(n))   # disjoint, all covered


def test_random_split_refuses_bad_lengths():
    x, y = arrays()
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ArrayDataset(x, y), [4, 5])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ArrayDataset(x, y), [0.5, 0.4])


def test_set_epoch_starts_that_epoch_afresh():
    x, y = arrays()
    loader = DataLoader((x, y), batch_size=B, shuffle=True, seed=2)
    next(iter(loader))
    loader.set_epoch(4)
    assert loader.state_dict() == {"seed": 2, "epoch": 4, "batch": 0}
    assert_batches_equal(list(loader), expected_epoch(x, y, 2, 4, transform=None))
