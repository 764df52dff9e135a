"""summary / output_shape / cost of modules without static rules: traced with one forward pass.

Oracles: the module's own forward at the requested batch, observed with hooks written here;
MACs and parameters counted by hand; static models checked by making every call raise.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.errors import ShapeError
from strided.nn.block import Block
from strided.nn.module import Cost, Module

BATCH = 3
IN_SHAPE = (BATCH, 3, 8, 8)


class Net(nn.Module):
    """Hand-written forward: conv -> relu -> pool, a residual conv (relu applied twice), flatten, linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, rng=0)     # (N, 8, 8, 8)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)                           # (N, 8, 4, 4)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, rng=1)     # (N, 8, 4, 4)
        self.fc = nn.Linear(8 * 4 * 4, 10, rng=2)             # (N, 10)

    def forward(self, x):
        y = self.pool(self.relu(self.conv1(x)))
        y = self.relu(self.conv2(y)) + y                      # residual add
        return self.fc(y.reshape(y.shape[0], -1))             # flatten


# by hand: conv MACs = prod(out spatial) * C_out * C_in * k*k; linear = in * out
NET_MACS = 8 * 8 * 8 * 3 * 9 + 4 * 4 * 8 * 8 * 9 + 128 * 10
NET_PARAMS = (8 * 3 * 9 + 8) + (8 * 8 * 9 + 8) + (128 * 10 + 10)


def observed_calls(model, x):
    """(name, input shape, output shape) of every call of a leaf layer during a real forward."""
    seen, handles = [], []
    for name, module in model.named_modules():
        if not module._modules:
            def hook(module, args, out, name=name):
                seen.append((name, tuple(args[0].shape), tuple(out.shape)))
            handles.append(module.register_forward_hook(hook))
    try:
        out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen, out


def test_rows_are_the_real_forward_calls():
    net = Net()
    x = np.random.default_rng(0).standard_normal(IN_SHAPE).astype(np.float32)
    expected, out = observed_calls(net, x)
    result = st.summary(net, IN_SHAPE)
    assert [(r.name, r.input_shape, r.output_shape) for r in result.rows] == expected
    assert [r.name for r in result.rows] == ["conv1", "relu", "pool", "conv2", "relu", "fc"]   # relu twice
    assert result.output_shape == out.shape == (BATCH, 10)
    assert [r.memory_values for r in result.rows] == [int(np.prod(s)) for _, _, s in expected]


def test_macs_and_params_by_hand():
    result = st.summary(Net(), IN_SHAPE)
    assert result.macs == NET_MACS
    assert [r.macs for r in result.rows] == [8 * 8 * 8 * 27, 0, 0, 4 * 4 * 8 * 72, 0, 1280]
    assert result.params == result.trainable_params == NET_PARAMS
    assert all(r.receptive_field is None for r in result.rows)


def test_footer_in_text_markdown_and_json():
    result = st.summary(Net(), IN_SHAPE)
    assert result.traced == ("Net",)
    for text in (result.to_text(), result.to_markdown()):
        last = text.splitlines()[-1]
        assert "traced" in last and "one forward pass" in last and "Net" in last
    data = json.loads(result.to_json())
    assert data["traced"] == ["Net"] and "one forward pass" in data["note"]
    static = st.summary(st.models.create_model("lenet5"), (1, 1, 32, 32))
    assert static.traced == () and "traced" not in static.to_text()
    assert json.loads(static.to_json())["note"] is None


def test_output_shape_and_cost_trace():
    net = Net()
    assert net.output_shape(IN_SHAPE) == net(np.zeros(IN_SHAPE, dtype=np.float32)).shape == (BATCH, 10)
    assert net.cost(IN_SHAPE) == Cost(NET_PARAMS, NET_MACS)
    assert net.receptive_field(st.geometry.ReceptiveField.identity(2), IN_SHAPE) is None
    assert all(m._hooks is None for m in net.modules())                 # the hooks were removed


def test_traced_module_inside_a_static_network():
    net = nn.Sequential(nn.Conv2d(3, 3, 1, rng=0), Net(), nn.ReLU())
    result = st.summary(net, IN_SHAPE)
    assert [r.name for r in result.rows] == ["0", "1.conv1", "1.relu", "1.pool", "1.conv2", "1.relu", "1.fc", "2"]
    assert result.rows[0].receptive_field is not None                   # before the traced part: static
    assert all(r.receptive_field is None for r in result.rows[1:])
    assert result.macs == 3 * 3 * 8 * 8 + NET_MACS
    assert result.traced == ("1 (Net)",)
    assert net.output_shape(IN_SHAPE) == (BATCH, 10)


class Swish(nn.Module):
    """A leaf without static rules (x^2 + x): recorded as itself (its MACs unknown, 0)."""

    def forward(self, x):
        return x * x + x


class Outer(nn.Module):
    """Hand-written forward over a Sequential (a block with rules), a shared conv called twice, a leaf without
    rules, and a hand-written child (traced through)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.ReLU())
        self.shared = nn.Conv2d(4, 4, 1, rng=1)
        self.act = Swish()
        self.inner = Net2()

    def forward(self, x):
        y = self.shared(self.shared(self.features(x)))
        return self.inner(self.act(y))


class Net2(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 5, rng=3)

    def forward(self, x):
        return self.fc(self.pool(x).reshape(x.shape[0], -1))


def test_blocks_expand_shared_modules_repeat_and_children_are_traced_through():
    model = Outer().eval()
    x = np.random.default_rng(1).standard_normal(IN_SHAPE).astype(np.float32)
    expected, _ = observed_calls(model, x)
    result = st.summary(model, IN_SHAPE)
    assert [(r.name, r.input_shape, r.output_shape) for r in result.rows] == expected
    assert [r.name for r in result.rows] == ["features.0", "features.1", "features.2", "shared", "shared", "act",
                                             "inner.pool", "inner.fc"]
    assert result.macs == 8 * 8 * 4 * 27 + 2 * (8 * 8 * 4 * 4) + 64 * 5
    # parameters once per module, although `shared` is called twice
    assert result.params == (4 * 27 + 4) + (4 + 4) + (4 * 4 + 4) + (64 * 5 + 5)
    assert result.traced == ("Outer",)                                  # `inner` traced through, not listed


def test_trace_runs_in_the_parameter_dtype():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2, rng=0)

        def forward(self, x):
            seen.append(x.dtype)
            return self.fc(x)
    assert Probe().output_shape((5, 4)) == (5, 2)
    assert Probe().double().output_shape((5, 4)) == (5, 2)
    assert seen == [np.float32, np.float64]


def test_a_failing_traced_forward_names_the_module_and_the_shape():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, rng=0)
            self.fc = nn.Linear(100, 10, rng=0)                         # wrong: the conv gives 8*8*8

        def forward(self, x):
            return self.fc(self.conv(x).reshape(x.shape[0], -1))
    broken = Broken()
    for analyse in (lambda: st.summary(broken, IN_SHAPE), lambda: broken.output_shape(IN_SHAPE),
                    lambda: broken.cost(IN_SHAPE)):
        with pytest.raises(ShapeError) as info:                         # the original kind of error
            analyse()
        message = str(info.value)
        assert message.startswith("Broken: tracing its forward")
        assert "(1, 3, 8, 8)" in message and "(3, 3, 8, 8)" in message    # traced shape and requested shape
        assert "in fc (Linear)" in message and "Linear(in_features=100" in message
        assert isinstance(info.value.__cause__, ShapeError)
    assert all(m._hooks is None for m in broken.modules())              # hooks removed on error too


def test_a_failure_in_the_modules_own_code_is_named_too():
    class Odd(nn.Module):
        def forward(self, x):
            raise KeyError("boom")
    with pytest.raises(KeyError, match="Odd: tracing its forward.*in its own forward.*boom"):
        Odd().output_shape((2, 3))


def test_static_models_never_run_forward(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__} was called: the analysis must stay static")
    monkeypatch.setattr(Module, "__call__", refuse)
    vgg16 = st.models.create_model("vgg16", meta=True)
    result = st.summary(vgg16, (1, 3, 224, 224))
    assert result.params == 138_357_544 and round(result.macs / 1e9, 2) == 15.47   # torchvision vgg16
    assert result.traced == ()
    resnet18 = st.models.create_model("resnet18", meta=True)
    assert resnet18.output_shape((2, 3, 224, 224)) == (2, 1000)
    assert resnet18.cost((1, 3, 224, 224)).params == 11_689_512          # torchvision resnet18
    assert st.summary(resnet18, (1, 3, 224, 224)).traced == ()


class Residual(Block):
    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(2, 2, 3, padding=1, rng=0)

    def forward(self, x):
        return self.body(x) + x

    def walk(self, in_shape, rf, visit):
        return self.join_add([self.body.walk(in_shape, rf, visit), (tuple(in_shape), rf)])


def test_which_modules_have_static_rules():
    class MyReLU(nn.ReLU):                                              # inherits a registered layer's forward
        pass

    class NegReLU(nn.ReLU):                                             # replaces it: its rules are not vouched for
        def forward(self, x):
            return super().forward(-x)

    class WalkOnly(nn.Module):
        def forward(self, x):
            return x

        def output_shape(self, in_shape):
            return tuple(in_shape)
    cases = {nn.ReLU: True, nn.Conv2d: True, nn.Sequential: True, Residual: True, MyReLU: True, WalkOnly: True,
             NegReLU: False, Net: False, Swish: False, st.models.ResNet: True}
    assert {cls: nn.has_static_rules(cls) for cls in cases} == cases
    assert nn.ReLU().output_shape((2, 3)) == (2, 3)                     # element-wise identity kept


def test_a_block_without_walk_is_traced():
    class Lazy(Block):                                                  # forward written, walk forgotten
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, rng=0)

        def forward(self, x):
            return self.conv(x)
    lazy = Lazy()
    assert not nn.has_static_rules(lazy)
    assert lazy.output_shape((5, 2, 6, 6)) == (5, 4, 4, 4)
    assert lazy.cost((5, 2, 6, 6)) == Cost(4 * 2 * 9 + 4, 4 * 4 * 4 * 2 * 9)
    assert [r.name for r in st.summary(lazy, (5, 2, 6, 6)).rows] == ["conv"]


def test_a_module_registered_under_two_names_is_recorded_once_per_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4, rng=0)
            self.b = self.a                                             # the same layer, two names

        def forward(self, x):
            return self.b(self.a(x))
    result = st.summary(Twice(), (2, 4))
    assert [(r.name, r.output_shape) for r in result.rows] == [("a", (2, 4)), ("a", (2, 4))]
    assert result.params == 4 * 4 + 4 and result.macs == 2 * 16
