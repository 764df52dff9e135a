"""Forward hooks on modules and gradient hooks on tensors: firing order, replacement, removal, and
fusion bypassed while a module is hooked. Gradient hooks are compared with torch's."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import nn
from oracle import needs_torch, torch


def x32(shape=(2, 3, 4, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------------------------ forward hooks
def test_hooks_fire_in_order_around_forward_and_see_args_and_output():
    calls = []

    class Probe(nn.Module):
        def forward(self, x):
            calls.append("forward")
            return x * 2.0
    probe = Probe()
    probe.register_forward_pre_hook(lambda m, args: calls.append(("pre1", m is probe, type(args[0]).__name__)))
    probe.register_forward_pre_hook(lambda m, args: calls.append("pre2"))
    probe.register_forward_hook(lambda m, args, out: calls.append(("post1", float(out.data[0]))))
    probe.register_forward_hook(lambda m, args, out: calls.append("post2"))
    probe.register_forward_pre_hook(lambda m, args: calls.append("pre0"), prepend=True)
    probe(np.array([1.5]))
    assert calls == ["pre0", ("pre1", True, "Tensor"), "pre2", "forward", ("post1", 3.0), "post2"]


def test_hooks_may_replace_inputs_and_outputs():
    linear = nn.Linear(2, 1, rng=0)
    linear.register_forward_pre_hook(lambda m, args: args[0] * 0.0)            # a single value is wrapped
    linear.register_forward_hook(lambda m, args, out: out + 1.0)
    y = linear(np.ones((3, 2), np.float32))
    np.testing.assert_allclose(y.data, np.broadcast_to(linear.bias.data + 1.0, (3, 1)), rtol=1e-6)
    y.sum().backward()                                                         # the replacements are in the graph
    np.testing.assert_array_equal(linear.bias.grad, [3.0])


def test_hooks_with_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor
    scale = Scale()
    scale.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": 3.0}), with_kwargs=True)
    seen = []
    scale.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs), with_kwargs=True)
    np.testing.assert_array_equal(scale(np.ones(2, np.float32), factor=2.0).data, [3.0, 3.0])
    assert seen == [{"factor": 3.0}]
    scale.register_forward_pre_hook(lambda m, args, kwargs: args, with_kwargs=True)
    with pytest.raises(RuntimeError, match="must return None or \\(args, kwargs\\)"):
        scale(np.ones(2, np.float32))


def test_removal_restores_the_plain_call():
    relu = nn.ReLU()
    count = []
    a = relu.register_forward_hook(lambda m, args, out: count.append(1))
    with relu.register_forward_pre_hook(lambda m, args: count.append(0)):
        relu(np.ones(2, np.float32))
    relu(np.ones(2, np.float32))
    a.remove()
    a.remove()                                                                 # a second remove does nothing
    relu(np.ones(2, np.float32))
    assert count == [0, 1, 1]
    assert relu._hooks is None                                                 # one cheap check per call again


def test_hooks_fire_for_children_inside_sequential_and_blocks():
    seq = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2, rng=0))
    order = []
    for name, module in seq.named_children():
        module.register_forward_hook(lambda m, args, out, name=name: order.append((name, out.shape)))
    seq(x32((2, 3, 4, 4)))
    assert order == [("0", (2, 4, 2, 2)), ("1", (2, 4, 2, 2)), ("2", (2, 4, 1, 1)), ("3", (2, 4)), ("4", (2, 2))]
    model = st.models.create_model("resnet20")                               # blocks and fused BN -> ReLU pairs
    seen = []
    for module in model.modules():
        module.register_forward_hook(lambda m, args, out: seen.append(m))
    model(np.zeros((1, 3, 32, 32), np.float32))
    assert {id(m) for m in seen} == {id(m) for m in model.modules()}           # every module ran, none fused away


@pytest.mark.parametrize("hooked", [0, 1])
def test_a_hooked_module_is_not_fused(hooked):
    """BatchNorm -> ReLU is fused into one op; a hook on either module turns the fusion off, so the
    hook sees that module's own input and output; values stay those of the chain."""
    x = st.Tensor(x32(), requires_grad=True)
    seq = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    fused = seq(x)
    assert fused.op == "batch_norm_relu"
    seen = {}
    handle = seq[hooked].register_forward_hook(lambda m, args, out: seen.update(inp=args[0], out=out))
    y = seq(x)
    assert y.op == "relu"
    assert seen["out"].op == ("relu" if hooked else "batch_norm")
    if hooked:
        assert seen["out"] is y
        assert seen["inp"].op == "batch_norm"                                  # the ReLU's own input
        assert (seen["inp"].data < 0).any()
    np.testing.assert_allclose(y.data, fused.data, rtol=1e-6, atol=1e-6)
    handle.remove()
    assert seq(x).op == "batch_norm_relu"                                     # fused again


def test_hook_errors():
    with pytest.raises(TypeError, match="ReLU.register_forward_hook: hook must be callable, got int"):
        nn.ReLU().register_forward_hook(3)
    with pytest.raises(TypeError, match="Tensor.register_hook: hook must be callable"):
        st.Tensor([1.0], requires_grad=True).register_hook(None)
    with pytest.raises(RuntimeError, match="does not require grad"):
        st.Tensor([1.0]).register_hook(print)


# ------------------------------------------------------------------------------------------ tensor hooks
def test_tensor_hook_replaces_the_gradient_of_a_leaf_and_of_an_intermediate():
    x = st.Tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    h = x * 2.0
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    h.register_hook(lambda g: g * 10.0)                                        # upstream sees 10x
    x.register_hook(lambda g: g + 1.0)                                         # the leaf's .grad gets +1
    (h * h).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * np.array([2.0, 4.0, 6.0]))
    np.testing.assert_array_equal(x.grad, [81.0, 161.0, 241.0])           # 2 * 10 * (4 x) + 1


def test_tensor_hook_removal_and_shape_check():
    x = st.Tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 0.0)
    handle.remove()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    x.register_hook(lambda g: np.ones(3))
    with pytest.raises(ValueError, match="Tensor hook: expected a gradient of shape \\(2,\\), got \\(3,\\)"):
        (x * 3.0).sum().backward()


@needs_torch
def test_tensor_hooks_match_torch_with_fan_out():
    """The hook gets the complete gradient once (summed over the two uses of ``h``), before it goes on."""
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))

    def run(lib, x, w):
        calls = []
        h = (x @ w).tanh() if lib is torch else st.nn.functional.tanh(x @ w)
        h.register_hook(lambda g: (calls.append(1), g * 3.0)[1])
        out = (h * h).sum() + (h @ w).sum()
        w.register_hook(lambda g: g - 1.0)
        out.backward()
        return calls, x.grad, w.grad
    ours = run(st, st.Tensor(xv, requires_grad=True), st.Tensor(wv, requires_grad=True))
    theirs = run(torch, torch.tensor(xv, requires_grad=True), torch.tensor(wv, requires_grad=True))
    assert ours[0] == theirs[0] == [1]
    np.testing.assert_allclose(ours[1], theirs[1].numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours[2], theirs[2].numpy(), rtol=1e-12)
