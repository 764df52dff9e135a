"""``ModuleList``, ``ModuleDict`` and ``ParameterList``: registration, PyTorch's state_dict keys, list/dict
behaviour and their errors. The oracle for names is a torch container built the same way."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import nn
from oracle import needs_torch, torch


def linears(n, rng=0):
    return [nn.Linear(2 + i, 3 + i, rng=rng) for i in range(n)]


def torch_linears(n):
    return [torch.nn.Linear(2 + i, 3 + i) for i in range(n)]


# ------------------------------------------------------------------------------------------ ModuleList
@needs_torch
def test_module_list_state_dict_keys_match_torch_after_the_same_edits():
    ours, theirs = nn.ModuleList(linears(2)), torch.nn.ModuleList(torch_linears(2))
    ours.append(nn.Linear(9, 1, rng=0))
    theirs.append(torch.nn.Linear(9, 1))
    ours.insert(1, nn.BatchNorm1d(4))
    theirs.insert(1, torch.nn.BatchNorm1d(4))
    ours.extend([nn.ReLU(), nn.Linear(1, 1, rng=0)])
    theirs.extend([torch.nn.ReLU(), torch.nn.Linear(1, 1)])
    del ours[0]
    del theirs[0]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@needs_torch
def test_module_list_inside_a_model_loads_torch_weights_and_computes_the_same():
    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(linears(3)[:1] + [nn.Linear(3, 3, rng=1), nn.Linear(3, 2, rng=2)])

        def forward(self, x):
            for layer in self.layers:
                x = st.nn.functional.tanh(layer(x))
            return x

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.Linear(3, 3), torch.nn.Linear(3, 2)])

        def forward(self, x):
            for layer in self.layers:
                x = torch.tanh(layer(x))
            return x
    ours, theirs = Ours().double(), Theirs().double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2))
    np.testing.assert_allclose(ours(x).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_module_list_behaves_like_a_list():
    items = linears(4)
    layers = nn.ModuleList(items)
    assert len(layers) == 4 and list(layers) == items
    assert layers[-1] is items[3] and layers[1] is items[1]
    part = layers[1:3]
    assert isinstance(part, nn.ModuleList) and list(part) == items[1:3]
    assert list(part.state_dict())[:2] == ["0.weight", "0.bias"]         # renumbered from 0
    relu = nn.ReLU()
    layers[2] = relu
    assert layers[2] is relu and "2.weight" not in layers.state_dict()
    assert layers.pop(0) is items[0] and list(layers._modules) == ["0", "1", "2"]
    layers.insert(-1, items[0])                                          # list.insert's rule
    assert list(layers) == [items[1], relu, items[0], items[3]]
    layers += [nn.Tanh()]
    assert len(layers + nn.ModuleList([nn.ReLU()])) == 6
    assert sum(1 for _ in layers.parameters()) == 6                     # three Linear layers


def test_module_list_errors_name_the_container():
    layers = nn.ModuleList([nn.ReLU()])
    with pytest.raises(TypeError, match="ModuleList: item 1 is a int, expected a Module"):
        layers.append(3)
    with pytest.raises(IndexError, match="ModuleList: index 1 is out of range for 1 items"):
        layers[1]
    with pytest.raises(TypeError, match="ModuleList: indices must be ints or slices, got str"):
        layers["0"]
    with pytest.raises(TypeError, match="ModuleList.extend: expected an iterable of modules, got a Linear"):
        layers.extend(nn.Linear(1, 1, rng=0))
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(np.zeros(2))
    with pytest.raises(NotImplementedError, match="ModuleList has no data flow"):
        layers.output_shape((1, 2))


# ------------------------------------------------------------------------------------------ ModuleDict
@needs_torch
def test_module_dict_state_dict_keys_match_torch():
    ours = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3, rng=0), "bn": nn.BatchNorm2d(2)})
    theirs = torch.nn.ModuleDict({"conv": torch.nn.Conv2d(1, 2, 3), "bn": torch.nn.BatchNorm2d(2)})
    ours["head"] = nn.Linear(2, 1, rng=0)
    theirs["head"] = torch.nn.Linear(2, 1)
    ours.update([("act", nn.ReLU())])
    theirs.update([("act", torch.nn.ReLU())])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours) == list(theirs) == list(ours.keys())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours["conv"].weight.data, theirs["conv"].weight.detach().numpy())


def test_module_dict_behaves_like_a_dict_and_refuses_bad_keys():
    heads = nn.ModuleDict([("a", nn.ReLU()), ("b", nn.Tanh())])
    assert "a" in heads and len(heads) == 2 and heads.a is heads["a"]
    assert [k for k, _ in heads.items()] == ["a", "b"] and len(list(heads.values())) == 2
    assert isinstance(heads.pop("a"), nn.ReLU) and list(heads) == ["b"]
    del heads["b"]
    assert len(heads) == 0
    with pytest.raises(KeyError, match="ModuleDict: no module 'x'"):
        heads["x"]
    with pytest.raises(TypeError, match="ModuleDict: keys must be str, got int"):
        heads[1] = nn.ReLU()
    with pytest.raises(KeyError, match="contain no '.'"):
        heads["a.b"] = nn.ReLU()
    with pytest.raises(KeyError, match="would hide the attribute"):
        heads["training"] = nn.ReLU()
    with pytest.raises(TypeError, match="'c' is a int, expected a Module"):
        heads["c"] = 3
    with pytest.raises(TypeError, match="expected a mapping or \\(key, module\\) pairs"):
        heads.update([nn.ReLU()])
    with pytest.raises(NotImplementedError, match="ModuleDict has no forward"):
        heads(np.zeros(2))


# ------------------------------------------------------------------------------------------ ParameterList
@needs_torch
def test_parameter_list_keys_match_torch_and_gradients_flow():
    values = [np.ones(3), np.arange(4.0).reshape(2, 2)]
    ours = nn.ParameterList(values)
    theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.from_numpy(v)) for v in values])
    ours.append(np.zeros(1))
    theirs.append(torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0", "1", "2"]
    assert all(isinstance(p, nn.Parameter) and p.dtype == np.float64 for p in ours)   # float64 kept

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = ours

        def forward(self, x):
            return x * self.scales[0] + (self.scales[1] @ self.scales[1]).sum() * self.scales[-1]
    model = Scaled()
    assert [n for n, _ in model.named_parameters()] == ["scales.0", "scales.1", "scales.2"]
    model(np.array([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(ours[0].grad, [1.0, 2.0, 3.0])
    m = np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(ours[2].grad, [3 * (m @ m).sum()])


def test_parameter_list_behaves_like_a_list():
    params = nn.ParameterList([np.ones(2, np.float32)])
    params += [st.Tensor([1.0, 2.0])]
    params[0] = np.zeros(3)
    assert len(params) == 2 and params[0].shape == (3,) and params[1].requires_grad
    assert isinstance(params[0:1], nn.ParameterList) and len(params[0:1]) == 1
    with pytest.raises(IndexError, match="ParameterList: index 5"):
        params[5]
    with pytest.raises(TypeError, match="ParameterList.extend: expected an iterable of parameters"):
        params.extend(np.ones(3))
    with pytest.raises(NotImplementedError, match="ParameterList has no forward"):
        params(np.zeros(2))


def test_containers_cast_with_to_and_stay_out_of_the_layer_registry():
    model = nn.ModuleList([nn.Linear(2, 2, rng=0)]).double()
    assert model[0].weight.dtype == np.float64
    for name in ("ModuleList", "ModuleDict", "ParameterList"):
        assert name in nn.__all__ and name not in nn.registered_layers()
