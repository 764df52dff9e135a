"""A strided module against a PyTorch module with the same state-dict keys, in float64.

``check_module_against_torch(ours, theirs, in_shape)`` copies our state dict into the torch
module (strict: the keys and shapes must match torch's), runs both on the same input, and
compares the output, the input gradient and every parameter gradient (by name) for a random
upstream gradient.
"""

from __future__ import annotations

import numpy as np

import strided as st
from oracle import assert_close, require_torch


def check_module_against_torch(ours, theirs, in_shape, seed: int = 0, rtol: float = 1e-10, atol: float = 1e-10):
    torch = require_torch()
    ours.double()
    theirs.double()
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict()), "state-dict keys differ from torch's"
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()}, strict=True)

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(in_shape)
    xs = st.Tensor(x, requires_grad=True, dtype=np.float64)
    xt = torch.tensor(x, requires_grad=True)
    out_s, out_t = ours(xs), theirs(xt)
    assert_close(out_s.data, out_t.detach().numpy(), rtol, atol, "forward")
    assert tuple(ours.output_shape(in_shape)) == out_s.shape, "declared output shape"

    upstream = rng.standard_normal(out_s.shape)
    out_s.backward(upstream.copy())
    out_t.backward(torch.from_numpy(upstream.copy()))
    assert_close(xs.grad, xt.grad.numpy(), rtol, atol, "input gradient")
    torch_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, torch_params[name].grad.numpy(), rtol, atol, f"gradient of {name}")
    return out_s.data
