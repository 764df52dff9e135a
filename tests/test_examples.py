"""The example scripts (``examples/``) in their short versions: they run, and they learn.

The full-length runs (digits 20 epochs, MNIST-1D 3 seeds x 6,000 steps, Fashion-MNIST LeNet-5 and
the deeper CNN on 60,000 images, strided and PyTorch) are run by hand; here each script trains
for a few steps on real data and its test accuracy must clear a bar well above chance (10% for
all three data sets), which a script that does not learn (wrong labels, broken augmentation,
a PyTorch mirror that diverges) would not reach. A data set that is not installed skips its
tests with the reason.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
CHANCE = 0.10


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (its ``main(argv)`` returns the figures it prints)."""
    spec = importlib.util.spec_from_file_location(f"strided_example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str) -> str:
    """Run ``python examples/<name>.py args`` in a fresh process, as a user would; its output."""
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, f"{name}.py"), *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def needs_sklearn():
    pytest.importorskip("sklearn", reason="the digits data set comes from scikit-learn: pip install scikit-learn")


def needs_mnist1d():
    try:
        from mnist1d.data import make_dataset  # noqa: F401
    except ImportError:
        pytest.skip("MNIST-1D needs the mnist1d package: pip install mnist1d")


@functools.lru_cache(maxsize=None)
def fashion_mnist_missing() -> str | None:
    """Why Fashion-MNIST cannot be read here (the loader's message names the folders and files), or None."""
    try:
        st.data.fashion_mnist()
    except FileNotFoundError as error:
        return str(error)
    return None


def needs_fashion_mnist():
    missing = fashion_mnist_missing()
    if missing:
        pytest.skip(f"Fashion-MNIST is not installed: {missing}")


# ----------------------------------------------------------------------------------- digits
def test_digits_lenet5_learns_in_three_epochs():
    needs_sklearn()
    result = load_example("digits").main(["--epochs", "3", "--quiet"])
    assert result["model"] == "lenet5" and len(result["history"]) == 3
    assert result["test_accuracy"] > 0.5                   # ~0.93 after 3 epochs; chance is 0.10


def test_digits_cnn_learns_in_two_epochs():
    needs_sklearn()
    result = load_example("digits").main(["--model", "digits_cnn", "--epochs", "2", "--quiet"])
    assert result["test_accuracy"] > 0.5


def test_digits_runs_as_a_script():
    needs_sklearn()
    out = run_script("digits", "--epochs", "1", "--limit", "200", "--quiet")
    assert "test accuracy" in out and "wall time" in out


# ----------------------------------------------------------------------------------- MNIST-1D
def test_mnist1d_learns_in_a_few_epochs():
    needs_mnist1d()
    result = load_example("mnist_1d").main(["--seeds", "0", "--epochs", "5", "--log-every", "0"])
    (run,) = result["runs"]
    assert run["steps"] == 5 * 40                           # 4,000 signals in batches of 100
    assert run["test_accuracy"] > 3 * CHANCE                # ~0.75 after 200 steps


@pytest.mark.slow
def test_mnist1d_runs_as_a_script_and_averages_seeds():
    """As a script, from its own folder: ``mnist_1d.py`` must not hide the ``mnist1d`` package it imports."""
    needs_mnist1d()
    out = run_script("mnist_1d", "--seeds", "0", "1", "--epochs", "1", "--log-every", "0")
    assert "seed 0: test accuracy" in out and "seed 1: test accuracy" in out
    assert "mean test accuracy over 2 seed(s)" in out


# ----------------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_lenet5_strided_learns():
    needs_fashion_mnist()
    result = load_example("fashion_mnist").main(["--side", "strided", "--limit", "4000", "--epochs", "1", "--quiet"])
    assert (result["n_train"], result["n_test"], result["epochs"]) == (4000, 4000, 1)
    assert result["test_accuracy"] > 3 * CHANCE
    assert result["images_per_s"] > 0 and result["wall_s"] > 0


@pytest.mark.slow
def test_fashion_mnist_deep_strided_learns():
    needs_fashion_mnist()
    result = load_example("fashion_mnist").main(["--model", "deep", "--side", "strided", "--limit", "2000",
                                                 "--epochs", "1", "--quiet"])
    assert result["test_accuracy"] > 3 * CHANCE


@needs_torch
@pytest.mark.parametrize("name", ["lenet5", "deep"])
def test_fashion_mnist_torch_networks_mirror_strided(name):
    """Same parameter names and shapes, and with strided's weights loaded, the same outputs (eval and train mode)."""
    example = load_example("fashion_mnist")
    ours, theirs = example.strided_model(name, seed=0), example.torch_model(name)
    state = ours.state_dict()
    assert {k: tuple(np.shape(v)) for k, v in state.items()} == {k: tuple(v.shape) for k, v in
                                                                  theirs.state_dict().items()}
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    x = np.random.default_rng(1).standard_normal((4, 1, 28, 28)).astype(np.float32)
    for train in (False, True):
        ours.train(train)
        theirs.train(train)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours(x).data, expected, rtol=1e-4, atol=1e-5)


@needs_torch
def test_fashion_mnist_lenet5_torch_side_learns_and_tracks_strided():
    """The PyTorch side trains on the same batches from the same weights: its first-epoch loss is strided's."""
    needs_fashion_mnist()
    example = load_example("fashion_mnist")
    threads = torch.get_num_threads()
    try:
        theirs = example.main(["--side", "torch", "--limit", "3000", "--epochs", "2", "--quiet", "--torch-threads", "1"])
    finally:
        torch.set_num_threads(threads)
    ours = example.main(["--side", "strided", "--limit", "3000", "--epochs", "2", "--quiet"])
    assert theirs["test_accuracy"] > 3 * CHANCE
    loss_ours, loss_theirs = ours["history"][0]["train_loss"], theirs["history"][0]["train_loss"]
    assert abs(loss_ours - loss_theirs) < 0.02 * loss_theirs, (loss_ours, loss_theirs)


@needs_torch
@pytest.mark.slow
def test_fashion_mnist_both_sides_in_fresh_processes():
    needs_fashion_mnist()
    results = load_example("fashion_mnist").main(["--limit", "3000", "--epochs", "2", "--quiet",
                                                  "--torch-threads", "1"])
    assert set(results) == {"strided", "torch"}
    for side in ("strided", "torch"):
        (run,) = results[side]
        assert run["side"] == side and run["n_train"] == 3000
        assert run["test_accuracy"] > 2 * CHANCE
