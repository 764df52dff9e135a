"""Shared test fixtures."""

from __future__ import annotations

import pytest


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
