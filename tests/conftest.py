"""Shared test fixtures."""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--fuzz", type=int, nargs="?", const=1_000_000, default=None, metavar="N",
                     help="property-based tests (test_fuzz_ops.py): N examples per test (1,000,000 without N) "
                          "instead of the bounded default")


@pytest.fixture(autouse=True)
def keep_strided_own_threads(monkeypatch):
    """Each test ends with strided's own thread count as it found it (one): a command run in
    process sets it (``strided train`` takes the BLAS's count), and the tests after it would
    otherwise run the split kernels. Tests of the split set it themselves."""
    from strided import threads
    monkeypatch.setattr(threads, "_own_threads", threads.own_threads())


@pytest.fixture(scope="module")
def single_threaded_torch():
    """Run torch on one thread for a module: tiny torch calls are slowest when their threads
    fight other processes for the two cores. Without PyTorch there is nothing to do."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=["numpy", "numba"])
def compute_path(request):
    """Run a test once on NumPy alone and once on the compiled kernels (``strided.fast``); the
    Numba run skips, with the reason, where Numba is not installed."""
    from strided import fast
    if request.param == "numba" and not fast.available():
        pytest.skip('the compiled path needs Numba: pip install "strided[fast]"')
    with fast.using(request.param == "numba"):
        yield request.param
