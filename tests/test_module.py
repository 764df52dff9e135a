"""``Module`` as PyTorch users know it: names, order, buffers, modes, state dicts, initialisation.

The oracle is PyTorch: the same network built with ``torch.nn`` must give the same parameter
names, state-dict keys and shapes, and, after its weights are copied in, the same outputs.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import strided as st
from oracle import TorchModule, needs_torch, torch
from strided import models, nn


pytestmark = pytest.mark.usefixtures("single_threaded_torch")


def torch_names(module):
    return [name for name, _ in module.named_parameters()]


def names(module):
    return [name for name, _ in module.named_parameters()]


# --------------------------------------------------------------------------------------------- naming


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4), nn.ReLU(),
                                     nn.Sequential(nn.Conv2d(4, 4, 1, bias=False, rng=1), nn.ReLU()))
        self.pool = nn.GlobalAvgPool()
        self.head = nn.Linear(4, 2, rng=2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        return self.head(self.pool(self.encoder(x))) * self.scale


class TorchBlock(TorchModule):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                           torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1, bias=False),
                                                               torch.nn.ReLU()))
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.head = torch.nn.Linear(4, 2)
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.head(self.pool(self.encoder(x)).flatten(1)) * self.scale


@needs_torch
def test_named_parameters_match_torch_for_nested_modules():
    ours, theirs = Block(), TorchBlock()
    assert names(ours) == torch_names(theirs)
    # spelled out, for the reader: attribute names, nested Sequential indices, own parameters first
    assert names(ours) == ["scale", "encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias",
                           "encoder.3.0.weight", "head.weight", "head.bias"]
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.shape == tuple(q.shape), name
    assert [p.shape for p in ours.parameters()] == [tuple(q.shape) for q in theirs.parameters()]


@needs_torch
def test_state_dict_keys_match_torch_for_nested_modules():
    ours, theirs = Block(), TorchBlock()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key


@needs_torch
def test_parameters_are_deduplicated_like_torch():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3, rng=0)
            self.b = self.a                     # the same module twice
            self.c = nn.Linear(3, 3, rng=1)
            self.c.weight = self.a.weight       # one parameter in two modules

    class TorchShared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 3)
            self.b = self.a
            self.c = torch.nn.Linear(3, 3)
            self.c.weight = self.a.weight

    ours, theirs = Shared(), TorchShared()
    assert names(ours) == torch_names(theirs) == ["a.weight", "a.bias", "c.bias"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 3
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 15
    assert list(ours.state_dict()) == list(theirs.state_dict())


@needs_torch
def test_parameters_in_registration_order_and_reassignment():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.z = nn.Parameter(np.zeros(1))
            self.a = nn.Parameter(np.zeros(2))
            self.m = nn.Linear(2, 2, rng=0)

    t = torch.nn.Module()
    t.z = torch.nn.Parameter(torch.zeros(1))
    t.a = torch.nn.Parameter(torch.zeros(2))
    t.m = torch.nn.Linear(2, 2)

    net = Net()
    assert names(net) == torch_names(t) == ["z", "a", "m.weight", "m.bias"]
    net.z = nn.Parameter(np.ones(5))               # replacing keeps the slot, as in torch
    t.z = torch.nn.Parameter(torch.ones(5))
    net.m = nn.Linear(2, 3, rng=1)
    t.m = torch.nn.Linear(2, 3)
    assert names(net) == torch_names(t) == ["z", "a", "m.weight", "m.bias"]
    assert net.z.shape == (5,) and net.m.weight.shape == (3, 2)
    net.z = 3.0                                      # a non-parameter value removes the parameter
    assert names(net) == ["a", "m.weight", "m.bias"]
    assert net.z == 3.0
    del net.m
    del t.m
    assert names(net) == ["a"]
    with pytest.raises(AttributeError):
        net.m


@needs_torch
def test_assigning_an_array_to_a_buffer_updates_the_buffer_like_torch():
    ours, theirs = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    ours.running_mean = np.full(3, 2.0, dtype=np.float32)
    theirs.running_mean = torch.full((3,), 2.0)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_array_equal(ours.state_dict()["running_mean"], theirs.state_dict()["running_mean"].numpy())
    ours.eval()
    theirs.eval()
    x = np.zeros((2, 3), dtype=np.float32)
    np.testing.assert_allclose(ours(x).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_assigning_before_super_init_is_an_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(RuntimeError, match="super"):
        Broken()


# --------------------------------------------------------------------------------------------- buffers


@needs_torch
def test_batch_norm_buffers_in_state_dict_like_torch():
    ours, theirs = nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())
    assert ours.state_dict()["num_batches_tracked"].dtype == np.int64
    assert [n for n, _ in ours.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert names(ours) == ["weight", "bias"]       # buffers are not parameters


@needs_torch
def test_batch_norm_running_stats_and_counter_follow_torch():
    rng = np.random.default_rng(0)
    ours, theirs = nn.BatchNorm1d(3, momentum=0.2).double(), torch.nn.BatchNorm1d(3, momentum=0.2).double()
    for step in range(4):
        x = rng.standard_normal((6, 3, 4)) * (step + 1) + step
        ours(st.Tensor(x, dtype=np.float64))
        theirs(torch.from_numpy(x))
        assert int(ours.state_dict()["num_batches_tracked"]) == step + 1
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-12, err_msg=key)
    # evaluation neither counts nor updates
    ours.eval()
    before = ours.state_dict()
    ours(st.Tensor(rng.standard_normal((6, 3, 4)), dtype=np.float64))
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert int(ours.state_dict()["num_batches_tracked"]) == 4


@needs_torch
def test_batch_norm_without_running_stats_has_no_buffers():
    ours, theirs = nn.BatchNorm2d(3, track_running_stats=False), torch.nn.BatchNorm2d(3, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(ours(x).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------- modes


def test_train_and_eval_propagate_to_every_descendant():
    net = Block()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert len(list(net.modules())) == 10
    net.encoder.train()
    assert net.encoder[3][1].training and net.encoder[1].training and not net.head.training and not net.training
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not any(m.training for m in net.modules())


@needs_torch
def test_requires_grad_freezes_and_thaws_as_in_torch():
    """The same calls on the same network leave the same parameters trainable as in PyTorch, and
    a frozen part gets no gradient in a backward pass."""
    ours, theirs = Block(), TorchBlock()
    assert ours.requires_grad_(False) is ours and theirs.requires_grad_(False) is theirs
    ours.head.requires_grad_()
    theirs.head.requires_grad_()
    trainable = [name for name, p in ours.named_parameters() if p.requires_grad]
    assert trainable == [name for name, p in theirs.named_parameters() if p.requires_grad]
    assert trainable and len(trainable) < len(names(ours))
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    ours(st.Tensor(x)).sum().backward()
    assert all((p.grad is not None) == (name in trainable) for name, p in ours.named_parameters())
    with pytest.raises(TypeError, match="requires_grad_: expected True or False"):
        ours.requires_grad_("yes")


def test_modes_change_what_dropout_and_batch_norm_do():
    x = np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32) * 3 + 2
    net = nn.Sequential(nn.BatchNorm2d(3), nn.Dropout(0.5, rng=0))
    train_out = net(x).data
    # training: batch statistics (mean ~0) and dropout zeros about half the values
    assert abs(np.mean(train_out == 0) - 0.5) < 0.1
    net.eval()
    eval_out = net(x).data
    np.testing.assert_array_equal(net(x).data, eval_out)     # deterministic
    running_mean = net.state_dict()["0.running_mean"]
    running_var = net.state_dict()["0.running_var"]
    expected = (x - running_mean.reshape(1, 3, 1, 1)) / np.sqrt(running_var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(eval_out, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------- torch interop


def torch_conv_bn_net():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 4, 3, stride=2, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 1 * 1, 5))


def our_conv_bn_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=0), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 3, stride=2, bias=False, rng=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 1 * 1, 5, rng=2))


@needs_torch
def test_conv_bn_state_dict_keys_and_shapes_equal_torch():
    ours, theirs = our_conv_bn_net(), torch_conv_bn_net()
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key in theirs_state:
        assert ours_state[key].shape == tuple(theirs_state[key].shape), key
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


@needs_torch
def test_loading_a_torch_state_dict_reproduces_torch_outputs():
    torch.manual_seed(0)
    theirs = torch_conv_bn_net()
    rng = np.random.default_rng(0)
    with torch.no_grad():                          # non-trivial running statistics and affine parameters
        for _ in range(3):
            theirs(torch.from_numpy(rng.standard_normal((4, 3, 8, 8)).astype(np.float32) * 2 + 1))
        for module in theirs:
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    theirs.eval()
    ours = our_conv_bn_net()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(x).data, expected, rtol=1e-4, atol=1e-5)
    assert int(ours.state_dict()["1.num_batches_tracked"]) == 3
    # and back: our state dict loads into torch
    fresh = torch_conv_bn_net().eval()
    fresh.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(fresh(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------------- initialisation


@needs_torch
@pytest.mark.parametrize("ours, theirs, fan_in", [
    (lambda seed: nn.Conv2d(16, 32, 3, rng=seed), lambda: torch.nn.Conv2d(16, 32, 3), 16 * 9),
    (lambda seed: nn.Conv2d(16, 32, 3, groups=4, rng=seed), lambda: torch.nn.Conv2d(16, 32, 3, groups=4), 4 * 9),
    (lambda seed: nn.Conv1d(8, 64, 5, rng=seed), lambda: torch.nn.Conv1d(8, 64, 5), 8 * 5),
    (lambda seed: nn.Linear(300, 200, rng=seed), lambda: torch.nn.Linear(300, 200), 300),
])
def test_default_init_follows_torch(ours, theirs, fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as torch's defaults."""
    bound = 1 / math.sqrt(fan_in)
    layer = ours(0)
    torch.manual_seed(0)
    reference = theirs()
    for name in ("weight", "bias"):
        w = getattr(layer, name).data
        t = getattr(reference, name).detach().numpy()
        assert w.shape == t.shape and w.dtype == np.float32
        assert np.abs(w).max() <= bound
        assert np.abs(t).max() <= bound       # the oracle's bound is the same
        if w.size >= 1000:                     # the distribution: uniform has std bound/sqrt(3)
            assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
            assert abs(w.std() - t.std()) < 0.05 * bound
            assert abs(w.mean()) < 0.05 * bound
            assert np.abs(w).max() > 0.95 * bound
    np.testing.assert_array_equal(ours(0).weight.data, layer.weight.data)        # same seed, same weights
    np.testing.assert_array_equal(ours(np.random.default_rng(0)).weight.data, layer.weight.data)
    assert not np.array_equal(ours(1).weight.data, layer.weight.data)            # another seed differs
    assert not np.array_equal(ours(None).weight.data, ours(None).weight.data)    # no seed: fresh each time


@needs_torch
def test_batch_norm_init_is_ones_and_zeros_like_torch():
    ours, theirs = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias.data, theirs.bias.detach().numpy())


def test_a_shared_generator_gives_different_layers():
    rng = np.random.default_rng(0)
    a, b = nn.Linear(4, 4, rng=rng), nn.Linear(4, 4, rng=rng)
    assert not np.array_equal(a.weight.data, b.weight.data)


# --------------------------------------------------------------------------------------------- dtypes


def test_double_and_float_cast_parameters_and_floating_buffers():
    net = our_conv_bn_net()
    net(np.zeros((2, 3, 8, 8), dtype=np.float32))          # num_batches_tracked becomes 1
    assert net.double() is net
    for key, value in net.state_dict().items():
        expected = np.int64 if key.endswith("num_batches_tracked") else np.float64
        assert value.dtype == expected, key
    assert int(net.state_dict()["1.num_batches_tracked"]) == 1
    out = net(st.Tensor(np.ones((2, 3, 8, 8)), dtype=np.float64))
    assert out.dtype == np.float64
    net.float()
    for key, value in net.state_dict().items():
        expected = np.int64 if key.endswith("num_batches_tracked") else np.float32
        assert value.dtype == expected, key
    assert net(np.ones((2, 3, 8, 8), dtype=np.float32)).dtype == np.float32


def test_double_keeps_values_and_drops_gradients():
    layer = nn.Linear(3, 2, rng=0)
    before = layer.weight.data.copy()
    (layer(np.ones((1, 3), dtype=np.float32)).sum()).backward()
    assert layer.weight.grad is not None
    layer.double()
    assert layer.weight.grad is None
    np.testing.assert_array_equal(layer.weight.data, before.astype(np.float64))


# --------------------------------------------------------------------------------------------- Sequential


@needs_torch
def test_sequential_indexing_len_iteration_like_torch():
    layers = [nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 2, rng=0)]
    net = nn.Sequential(*layers)
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(2, 2))
    assert len(net) == len(tnet) == 5
    assert list(net) == layers
    assert net[0] is layers[0] and net[-1] is layers[-1] and net[2] is layers[2]
    part, tpart = net[1:4], tnet[1:4]
    assert isinstance(part, nn.Sequential) and len(part) == len(tpart) == 3
    assert [type(m).__name__ for m in part] == [type(m).__name__ for m in tpart]
    assert [n for n, _ in part.named_children()] == [n for n, _ in tpart.named_children()] == ["1", "2", "3"]
    tail, ttail = net[3:], tnet[3:]
    assert names(tail) == torch_names(ttail) == ["4.weight", "4.bias"]
    with pytest.raises(IndexError):
        net[5]


@needs_torch
def test_sequential_from_ordered_dict_and_append():
    net = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3, rng=0)), ("act", nn.ReLU())]))
    tnet = torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(1, 2, 3)), ("act", torch.nn.ReLU())]))
    assert names(net) == torch_names(tnet) == ["conv.weight", "conv.bias"]
    assert net.conv is net[0]
    net.append(nn.Flatten())
    tnet.append(torch.nn.Flatten())
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()] == ["conv", "act", "2"]


def test_sequential_applies_modules_in_order():
    net = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    w1, b1 = net[0].weight.data, net[0].bias.data
    w2, b2 = net[2].weight.data, net[2].bias.data
    expected = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2                 # by hand
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- model zoo


def test_lenet5_has_the_published_parameter_count():
    model = models.create_model("lenet5")
    assert model.num_parameters() == 61_706                 # LeCun et al. 1998, modern ReLU/max-pool form
    assert model.cost((1, 1, 32, 32)).params == 61_706
    assert model.output_shape((3, 1, 32, 32)) == (3, 10)
    assert model(np.zeros((3, 1, 32, 32), dtype=np.float32)).shape == (3, 10)
    mnist = models.create_model("lenet5", input_size=28)
    assert mnist.num_parameters() == 61_706
    assert mnist(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape == (2, 10)


@needs_torch
def test_lenet5_matches_an_equivalent_torch_network():
    model = models.create_model("lenet5", seed=0)
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
        torch.nn.Linear(84, 10))
    assert sum(p.numel() for p in reference.parameters()) == 61_706
    ours = [p.data for p in model.parameters()]
    with torch.no_grad():
        for p, q in zip(reference.parameters(), ours):
            p.copy_(torch.from_numpy(q))
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(model(x).data, reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-4,
                               atol=1e-5)


def test_create_model_same_seed_same_weights():
    a, b = models.create_model("lenet5", seed=3), models.create_model("lenet5", seed=3)
    c = models.create_model("lenet5", seed=4)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])
    assert not np.array_equal(a.state_dict()["features.0.weight"], c.state_dict()["features.0.weight"])


@pytest.mark.parametrize("typo", ["lenet", "LeNet5", "lenet-5", "lent5"])
def test_unknown_model_names_suggest_close_ones(typo):
    assert "lenet5" in models.list_models()
    with pytest.raises(ValueError) as info:
        models.create_model(typo)
    message = str(info.value)
    assert repr(typo) in message and "did you mean" in message and "'lenet5'" in message


def test_unknown_model_name_far_from_any():
    with pytest.raises(ValueError) as info:
        models.create_model("transformer_xl_giant")
    assert "unknown model 'transformer_xl_giant'" in str(info.value)
    assert "list_models()" in str(info.value)
