"""Fused layer pairs (``nn.run_chain`` and ``Module.fuse_with``) against PyTorch's unfused layers, float64.

* ``BatchNorm`` then ``ReLU`` runs as ``batch_norm(relu=True)``: training and eval, with and
  without affine parameters, several row blocks, batch-last and plain inputs;
* ``ReLU`` then ``MaxPool`` runs the pool first: equal values and gradients, ties, exact zeros
  and all-negative windows included;
* which pairs are fused, and that other layers and subclasses are left alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import nn, windows
from strided.nn import functional as F
from oracle import TF, check_against_torch, needs_torch, torch


@needs_torch
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("batch_last_input", [False, True])
def test_batch_norm_relu_against_torch(monkeypatch, training, affine, batch_last_input):
    from strided.nn import norm
    monkeypatch.setattr(norm, "ROW_BLOCK_BYTES", 64)                       # several row blocks
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 4)) + 0.3
    x = windows.to_batch_last(x) if batch_last_input else x
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    params = [(3,), (3,)] if affine else [None, None]

    def st_fn(x, w, b):
        return F.batch_norm(x, mean.copy(), var.copy(), w, b, training=training, relu=True)

    def torch_fn(x, w, b):
        return TF.relu(TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b, training=training))
    check_against_torch(st_fn, torch_fn, [x] + params)


@needs_torch
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_relu_then_max_pool_against_torch(kernel, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    x[0, 0, :2, :2] = 0.0                                               # a window of exact zeros
    x[0, 1, :4, :4] = -np.abs(x[0, 1, :4, :4])                          # all-negative windows
    x[1, 2, :2, :2] = 1.5                                               # a tie for the maximum
    chain = nn.Sequential(nn.ReLU(), nn.MaxPool2d(kernel, stride, padding))
    check_against_torch(lambda x: chain(x), lambda x: TF.max_pool2d(TF.relu(x), kernel, stride, padding), [x])


@needs_torch
def test_fused_chain_inside_models_matches_torch_chain():
    """conv -> bn -> relu -> conv -> relu -> pool, as a Sequential, against torch (float64)."""
    rng = np.random.default_rng(2)
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 3, 3, rng=1), nn.ReLU(), nn.MaxPool2d(2)).double()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.Conv2d(4, 3, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2)).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((3, 2, 8, 8))
    xs, xt = st.Tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    ys, yt = ours(xs), theirs(xt)
    np.testing.assert_allclose(ys.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(ys.shape)
    ys.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ours[1].running_var, theirs[1].running_var.numpy(), rtol=1e-12)


def test_which_pairs_are_fused():
    x = st.Tensor(np.random.default_rng(3).standard_normal((2, 3, 4, 4)), requires_grad=True, dtype=np.float32)
    assert nn.run_chain([nn.BatchNorm2d(3), nn.ReLU()], x).op == "batch_norm_relu"
    assert nn.run_chain([nn.ReLU(), nn.MaxPool2d(2)], x).op == "relu"           # pooled first
    assert nn.run_chain([nn.BatchNorm2d(3), nn.Tanh()], x).op == "tanh"
    assert nn.run_chain([nn.ReLU(), nn.AvgPool2d(2)], x).op.startswith("avg_pool")

    class LoudReLU(nn.ReLU):                                            # a subclass is never bypassed
        def forward(self, x):
            return super().forward(x) * 2.0
    y = nn.run_chain([nn.BatchNorm2d(3), LoudReLU()], x)
    assert y.op != "batch_norm_relu"
    np.testing.assert_allclose(y.data, 2 * np.maximum(nn.BatchNorm2d(3)(x).data, 0), rtol=1e-6)


@needs_torch
def test_fused_batch_norm_1d_after_a_dense_layer_matches_torch():
    """An MLP head (Linear -> BatchNorm1d -> ReLU) on (N, C) inputs, fused, against torch."""
    ours = nn.Sequential(nn.Linear(5, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU()).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU()).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((6, 5))
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        xs, xt = st.Tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
        ys, yt = ours(xs), theirs(xt)
        assert ys.op == "batch_norm_relu"
        np.testing.assert_allclose(ys.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        ys.backward(np.ones(ys.shape))
        yt.backward(torch.ones(yt.shape, dtype=torch.float64))
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_any_module_can_offer_a_joint_form_to_its_successor():
    """The protocol itself: ``run_chain`` (hence ``Sequential``) asks each module's ``fuse_with``
    about the next module, runs an offered pair as one, and the rest one by one."""
    calls = []

    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            calls.append(f"x{self.factor}")
            return st.Tensor(x) * self.factor

        def fuse_with(self, after):
            if type(after) is Scale:
                def joint(x):
                    calls.append(f"x{self.factor}*{after.factor}")
                    return st.Tensor(x) * (self.factor * after.factor)
                return joint
            return None

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = nn.Sequential(Scale(2), Scale(3), Scale(5), nn.Flatten())(x)
    np.testing.assert_array_equal(y.data, x * 30)                       # by hand: 2 * 3 * 5
    assert calls == ["x2*3", "x5"]                                      # the first pair fused, the third alone
    calls.clear()
    assert nn.run_chain([Scale(7)], x).data[1, 2] == 35 and calls == ["x7"]
    assert nn.Module().fuse_with(nn.ReLU()) is None                      # the default offers nothing
    assert nn.BatchNorm2d(3).fuse_with(nn.Tanh()) is None


def test_relu_then_max_pool_with_indices_is_not_fused():
    """Pooling first would pick other indices where a window's maximum is at most 0."""
    x = np.array([[[[-1.0, -2.0], [3.0, -4.0]], [[-3.0, -1.0], [-2.0, -5.0]]]])   # (1, 2, 2, 2)
    y, idx = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True))(x)
    np.testing.assert_array_equal(y.data.ravel(), [3.0, 0.0])
    # channel 0: the 3 at flat position 2; channel 1: relu makes every value 0, the first (position 0) wins
    np.testing.assert_array_equal(np.asarray(idx).ravel(), [2, 0])
