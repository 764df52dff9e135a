"""The parameters and gradients both optimizer test files feed to strided and to ``torch.optim``.

Both sides start from the same float64 parameters and at every step receive the same gradient,
a function of their *current* parameters, so a wrong update rule compounds over the steps.
"""

from __future__ import annotations

import numpy as np

from oracle import require_torch
from strided import nn

SHAPES = [(4, 3), (5,), (2, 2, 3)]


def initial_params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in SHAPES]


def gradient(i, value, step):
    """The gradient fed to parameter ``i`` at ``step``: depends on the parameter and the step."""
    rng = np.random.default_rng(1000 * step + i)
    return 0.5 * value + np.sin(value * (i + 1)) + rng.standard_normal(value.shape)


def make_pair(values):
    """The same float64 values as strided and as torch parameters."""
    torch = require_torch()
    ours = [nn.Parameter(v.copy()) for v in values]
    theirs = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    assert all(p.dtype == np.float64 for p in ours)
    return ours, theirs
