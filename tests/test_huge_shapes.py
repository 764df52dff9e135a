"""Huge shapes are refused before anything is allocated (issue 15, item 9; ``nn/allocation.py``).

The inputs are zero-stride views (``np.broadcast_to``): a ``(1, 3, 100000, 100000)`` input costs
nothing, so a layer that allocated first would die in NumPy (or be killed); every test here
returning at all shows the check came first. The memory available is fixed by the tests
(``available_bytes`` patched to 16 GiB) so the outcome does not depend on the machine, except in
the one test of the real limit, whose shape needs more than any machine has. The oracle of the
byte count is the output's size worked out by hand: the message states at least that many bytes.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.nn import allocation
from strided.nn import functional as F
from strided.nn.allocation import AllocationError

LIMIT = 16 << 30
HUGE = (1, 3, 100000, 100000)


@pytest.fixture
def sixteen_gib(monkeypatch):
    monkeypatch.setattr(allocation, "available_bytes", lambda: (LIMIT, "the test's limit"))


def zeros_view(shape, dtype=np.float32):
    """A read-only array of ``shape`` that occupies no memory."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def needed_bytes(message: str) -> int:
    return int(re.search(r"needs ([\d,]+) bytes", message).group(1).replace(",", ""))


# name the error must start with, the call, the output shape worked out by hand
CASES = {
    "Conv2d": ("Conv2d(3, 16", lambda: nn.Conv2d(3, 16, 3)(zeros_view(HUGE)), (1, 16, 99998, 99998)),
    "conv2d": ("conv2d", lambda: F.conv2d(zeros_view(HUGE), zeros_view((16, 3, 3, 3))), (1, 16, 99998, 99998)),
    "Conv3d": ("Conv3d(3, 4", lambda: nn.Conv3d(3, 4, 3, padding=1)(zeros_view((1, 3, 3000, 3000, 3000))),
               (1, 4, 3000, 3000, 3000)),
    "Conv1d wide": ("Conv1d(3, 100000", lambda: nn.Conv1d(3, 100000, 3)(zeros_view((64, 3, 100000))),
                    (64, 100000, 99998)),
    "DepthwiseConv2d": ("DepthwiseConv2d(3", lambda: nn.DepthwiseConv2d(3, 3)(zeros_view(HUGE)), (1, 3, 99998, 99998)),
    "ConvTranspose2d": ("ConvTranspose2d(3, 16", lambda: nn.ConvTranspose2d(3, 16, 3)(zeros_view(HUGE)),
                        (1, 16, 100002, 100002)),
    "ConvTranspose2d stride": ("ConvTranspose2d(1, 1", lambda: nn.ConvTranspose2d(1, 1, 3, stride=10**6)(
        zeros_view((1, 1, 100, 100))), (1, 1, 99000003, 99000003)),
    "MaxPool2d": ("MaxPool2d(", lambda: nn.MaxPool2d(3, 1, 1)(zeros_view(HUGE)), (1, 3, 100000, 100000)),
    "AvgPool2d": ("AvgPool2d(", lambda: nn.AvgPool2d(2)(zeros_view(HUGE)), (1, 3, 50000, 50000)),
    "LPPool2d": ("LPPool2d(", lambda: nn.LPPool2d(2, 3, stride=1)(zeros_view(HUGE)), (1, 3, 99998, 99998)),
    "AdaptiveAvgPool2d": ("AdaptiveAvgPool2d(", lambda: nn.AdaptiveAvgPool2d(100000)(zeros_view((1, 3, 10, 10))),
                          (1, 3, 100000, 100000)),
    "AdaptiveMaxPool2d": ("AdaptiveMaxPool2d(", lambda: nn.AdaptiveMaxPool2d(100000)(zeros_view((1, 3, 10, 10))),
                          (1, 3, 100000, 100000)),
    "MaxUnpool2d": ("max_unpool2d", lambda: F.max_unpool2d(zeros_view((1, 3, 1, 1)), np.zeros((1, 3, 1, 1), np.int64),
                                                           100000), (1, 3, 100000, 100000)),
    "Linear": ("linear", lambda: F.linear(zeros_view((10**6, 1000)), zeros_view((10**6, 1000))), (10**6, 10**6)),
    "Linear module": ("Linear(in_features=4", lambda: nn.Linear(4, 3)(zeros_view((10**10, 4))), (10**10, 3)),
    "interpolate": ("interpolate", lambda: F.interpolate(zeros_view((1, 3, 1000, 1000)), scale_factor=100),
                    (1, 3, 100000, 100000)),
    "Upsample bilinear": ("Upsample(", lambda: nn.Upsample(scale_factor=100, mode="bilinear")(
        zeros_view((1, 3, 1000, 1000))), (1, 3, 100000, 100000)),
    "pad reflect": ("pad", lambda: F.pad(zeros_view(HUGE), (1, 1, 1, 1), mode="reflect"), (1, 3, 100002, 100002)),
    "ZeroPad2d": ("ZeroPad2d(", lambda: nn.ZeroPad2d(100000)(zeros_view((1, 3, 10, 10))), (1, 3, 200010, 200010)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_huge_shapes_are_refused_before_allocating(case, sixteen_gib):
    prefix, call, out_shape = CASES[case]
    with pytest.raises(AllocationError) as info:
        call()
    message = str(info.value)
    assert message.startswith(prefix), message
    assert needed_bytes(message) >= math.prod(out_shape) * 4 > LIMIT  # at least the float32 output
    assert "16.0 GiB" in message and "the test's limit" in message
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)


def test_the_real_limit_refuses_a_shape_no_machine_holds():
    """Without patching: 3.8 * 10**16 bytes is more than any machine's memory (or the 1 TiB fallback)."""
    with pytest.raises(AllocationError, match=r"^Conv2d\(3, 16, kernel_size=\(3, 3\), padding=1\): input "
                                              r"\(50000, 3, 100000, 100000\) needs [\d,]+ bytes \(33.8 PiB\)"):
        nn.Conv2d(3, 16, 3, padding=1)(zeros_view((50000,) + HUGE[1:]))


def test_sizes_under_the_limit_run(sixteen_gib):
    """The check refuses nothing that fits: a 1 GiB output (over the unchecked 256 MiB) runs."""
    x = zeros_view((1, 1, 16384, 16384))                                # the output: 1 GiB in float32
    assert allocation.CHECK_ABOVE_BYTES < 16384 ** 2 * 4 < LIMIT
    out = F.pad(x, (0, 0, 0, 0))
    assert out.shape == (1, 1, 16384, 16384)


def test_format_bytes_by_hand():
    assert allocation.format_bytes(3 << 30) == "3,221,225,472 bytes (3.0 GiB)"
    assert allocation.format_bytes(1536) == "1,536 bytes (1.5 KiB)"
    assert allocation.format_bytes(5 * 10**18).endswith("(4.3 EiB)")


def test_available_bytes_reports_a_positive_figure_and_its_source():
    nbytes, source = allocation.available_bytes()
    assert nbytes > 0 and source


def test_small_shapes_never_read_the_memory_figure(monkeypatch):
    def unreadable():
        raise AssertionError("available_bytes read for a small allocation")
    monkeypatch.setattr(allocation, "available_bytes", unreadable)
    out = nn.Conv2d(3, 4, 3)(np.zeros((2, 3, 8, 8), np.float32))
    assert out.shape == (2, 4, 6, 6)
    assert isinstance(out, st.Tensor)
