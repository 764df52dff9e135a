"""``st.manual_seed``: one library-wide generator for layers built without ``rng``.

The oracle is ``numpy.random.default_rng(seed)`` (what the seeded default generator must draw)
and fresh processes (a script run twice must print the same weights; without a seed, not).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import strided as st
from strided import nn

random_module = st.random


@pytest.fixture(autouse=True)
def restore_default_generator():
    """Leave the default generator as the test found it (other tests expect fresh entropy)."""
    saved = {name: getattr(random_module, name) for name in ("_initial_seed", "_manual", "_pid")}
    generator = random_module._generator
    state = None if generator is None else generator.bit_generator.state
    yield
    for name, value in saved.items():
        setattr(random_module, name, value)
    if state is not None:
        generator.bit_generator.state = state


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_manual_seed_returns_the_default_generator_seeded_like_default_rng():
    g = st.manual_seed(0)
    assert isinstance(g, np.random.Generator)
    np.testing.assert_array_equal(g.random(5), np.random.default_rng(0).random(5))
    assert st.manual_seed(123) is g                     # one generator, re-seeded in place
    np.testing.assert_array_equal(g.standard_normal(4), np.random.default_rng(123).standard_normal(4))
    assert st.initial_seed() == 123


def test_seed_then_build_gives_the_same_weights_and_consecutive_builds_differ():
    st.manual_seed(0)
    first = weights(nn.Conv2d(3, 8, 3))
    second = weights(nn.Conv2d(3, 8, 3))
    st.manual_seed(0)
    again = weights(nn.Conv2d(3, 8, 3))
    assert_same(first, again)
    assert not np.array_equal(first[0], second[0])


def test_layers_draw_what_default_rng_would_give_them():
    """Built without rng after manual_seed(s) == built with rng=np.random.default_rng(s)."""
    st.manual_seed(5)
    ours = nn.Linear(6, 3)
    expected = nn.Linear(6, 3, rng=np.random.default_rng(5))
    assert_same(weights(ours), weights(expected))


def test_explicit_rng_or_seed_wins_and_does_not_consume_the_default_stream():
    st.manual_seed(1)
    explicit = nn.Linear(4, 2, rng=42)
    after = nn.Linear(4, 2)
    assert_same(weights(explicit), weights(nn.Linear(4, 2, rng=42)))
    st.manual_seed(1)
    assert_same(weights(after), weights(nn.Linear(4, 2)))


def test_dropout_follows_the_seed_even_when_built_before_it():
    drop = nn.Dropout(0.5)                       # holds the default generator
    x = np.ones((4, 16), dtype=np.float32)
    st.manual_seed(7)
    first = drop(x).data
    st.manual_seed(7)
    np.testing.assert_array_equal(drop(x).data, first)
    st.manual_seed(7)
    np.testing.assert_array_equal(st.nn.functional.dropout(x, 0.5).data, first)    # the functional form too
    assert 0 < (first == 0).sum() < first.size


def test_training_run_is_reproducible_after_manual_seed():
    def run():
        st.manual_seed(3)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))
        opt = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = np.random.default_rng(0).standard_normal((16, 5)).astype(np.float32)
        y = np.arange(16) % 2
        for _ in range(5):
            opt.zero_grad()
            st.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return weights(model)

    assert_same(run(), run())


def test_rng_state_round_trip_and_seed_replay(tmp_path):
    st.manual_seed(11)
    st.save({"rng": st.get_rng_state()}, tmp_path / "rng.npz")
    expected = st.random.default_generator().random(3)
    st.set_rng_state(st.load(tmp_path / "rng.npz")["rng"])
    np.testing.assert_array_equal(st.random.default_generator().random(3), expected)
    chosen = st.seed()                                   # fresh entropy, returned
    drawn = st.random.default_generator().random(2)
    assert st.initial_seed() == chosen
    st.manual_seed(chosen)
    np.testing.assert_array_equal(st.random.default_generator().random(2), drawn)


def test_a_forked_child_that_never_seeded_gets_fresh_entropy():
    random_module._manual = False
    random_module._pid = -1                              # as if created in another (parent) process
    g = st.random.default_generator()
    assert random_module._pid == os.getpid() and st.random.default_generator() is g
    st.manual_seed(2)
    random_module._pid = -1                              # manually seeded: a child keeps the stream
    state = g.bit_generator.state
    st.random.default_generator()
    assert g.bit_generator.state == state


def test_manual_seed_checks_its_argument():
    with pytest.raises(TypeError, match="manual_seed: seed must be a non-negative int"):
        st.manual_seed(1.5)
    with pytest.raises(ValueError, match="manual_seed: seed"):
        st.manual_seed(-1)


SCRIPT = """
import strided as st
{seed}
print(st.nn.Conv2d(1, 2, 3).weight.data.ravel()[:4].tolist(), st.nn.Linear(2, 2).weight.data.ravel().tolist())
"""


def run_script(seed_line):
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(seed=seed_line)], capture_output=True, text=True,
                            check=True, timeout=120)
    return result.stdout


def test_fresh_processes_repeat_with_manual_seed_and_differ_without():
    assert run_script("st.manual_seed(0)") == run_script("st.manual_seed(0)")
    assert run_script("") != run_script("")


def test_import_creates_no_generator():
    out = subprocess.run([sys.executable, "-c", "import strided; print(strided.random._generator is None)"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "True"
