"""RMSprop, Adagrad, Adadelta, NAdam, RAdam (and Adam's amsgrad/maximize) against ``torch.optim``.

As in ``test_optim.py``: both sides start from the same float64 parameters and at every step
receive the same gradient, a function of their *current* parameters, so a wrong rule compounds
over the 20 steps. Parameter 1 gets no gradient on some steps (its state must not move).
Parameter groups, ``add_param_group`` and ``state_dict`` round trips are checked the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided import nn, optim
from optim_cases import gradient, initial_params, make_pair

SKIPPED = {3: (1,), 4: (1,), 11: (1,)}          # step -> parameters without a gradient


@pytest.fixture
def torch_float64():
    """torch keeps scalar state (NAdam's mu_product) in the default dtype: make it float64 as ours."""
    if torch is None:
        yield
        return
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def feed(ours, theirs, step):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        if i in SKIPPED.get(step, ()):
            p.grad, q.grad = None, None
        else:
            p.grad = gradient(i, p.data, step)
            q.grad = torch.from_numpy(gradient(i, q.detach().numpy(), step))


def feed_ours(params, step):
    for i, p in enumerate(params):
        p.grad = None if i in SKIPPED.get(step, ()) else gradient(i, p.data, step)


def assert_same(ours, theirs, step, rtol=1e-10, atol=1e-12):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"param {i}, step {step}")


def run_both(opt, ref, ours, theirs, steps=20):
    for step in range(steps):
        feed(ours, theirs, step)
        opt.step()
        ref.step()
        assert_same(ours, theirs, step)


# name -> (strided class name, kwargs); torch gets the same class name and kwargs
CASES = {
    "rmsprop": ("RMSprop", {}),
    "rmsprop_alpha_eps_wd": ("RMSprop", dict(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.05)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.01, momentum=0.9)),
    "rmsprop_centered": ("RMSprop", dict(lr=0.01, centered=True)),
    "rmsprop_everything": ("RMSprop", dict(lr=0.005, alpha=0.95, momentum=0.8, centered=True, weight_decay=0.01)),
    "rmsprop_maximize": ("RMSprop", dict(lr=0.01, momentum=0.5, maximize=True)),
    "adagrad": ("Adagrad", {}),
    "adagrad_everything": ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.5,
                                           eps=1e-6)),
    "adadelta": ("Adadelta", {}),
    "adadelta_everything": ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.02)),
    "nadam": ("NAdam", {}),
    "nadam_weight_decay": ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
    "nadam_decoupled": ("NAdam", dict(lr=0.01, weight_decay=0.05, momentum_decay=0.01, decoupled_weight_decay=True)),
    "radam": ("RAdam", {}),
    "radam_fast_betas": ("RAdam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-6)),     # rho_t passes 5 at step 7
    "radam_weight_decay": ("RAdam", dict(lr=0.01, betas=(0.9, 0.95), weight_decay=0.05)),
    "radam_decoupled": ("RAdam", dict(lr=0.01, betas=(0.9, 0.95), weight_decay=0.05, decoupled_weight_decay=True)),
    "adam_amsgrad": ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.01)),
    "adam_decoupled": ("Adam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True)),
    "adamw_amsgrad_maximize": ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True)),
    "sgd_maximize": ("SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
}


def build(case, ours, theirs):
    name, kwargs = CASES[case]
    return getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)


@needs_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_update_rule_equals_torch(case, torch_float64):
    ours, theirs = make_pair(initial_params())
    opt, ref = build(case, ours, theirs)
    run_both(opt, ref, ours, theirs)
    assert all(not np.allclose(p.data, v) for p, v in zip(ours, initial_params()))


@needs_torch
@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adam", "AdamW", "SGD"])
def test_defaults_equal_torch(name):
    ours = getattr(optim, name)([nn.Parameter(np.zeros(2))])
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))])
    assert set(ours.defaults) <= set(theirs.defaults)
    for key, value in ours.defaults.items():
        assert value == theirs.defaults[key], key


@needs_torch
@pytest.mark.parametrize("case", ["rmsprop_everything", "adagrad_everything", "adadelta_everything", "nadam",
                                  "radam", "adam_amsgrad"])
def test_state_equals_torch_state(case, torch_float64):
    ours, theirs = make_pair(initial_params())
    opt, ref = build(case, ours, theirs)
    run_both(opt, ref, ours, theirs, steps=6)
    mine, torchs = opt.state_dict(), ref.state_dict()
    assert sorted(mine["state"]) == sorted(torchs["state"]) == [0, 1, 2]
    for index, state in torchs["state"].items():
        assert sorted(mine["state"][index]) == sorted(state), index
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(mine["state"][index][key], dtype=float), value.numpy(),
                                       rtol=1e-10, atol=1e-14, err_msg=key)
    assert set(mine["param_groups"][0]) <= set(torchs["param_groups"][0])


# --------------------------------------------------------------------------------------------- groups

GROUPS = {
    "RMSprop": ({"lr": 0.05, "centered": True}, {"momentum": 0.5, "alpha": 0.9}, dict(lr=0.01)),
    "Adagrad": ({"lr": 0.2, "lr_decay": 0.1}, {"weight_decay": 0.1, "eps": 1e-4}, dict(lr=0.05)),
    "Adadelta": ({"rho": 0.5}, {"lr": 0.3, "weight_decay": 0.1}, dict(lr=1.0)),
    "NAdam": ({"betas": (0.5, 0.9), "momentum_decay": 0.02}, {"lr": 0.05, "weight_decay": 0.1,
                                                              "decoupled_weight_decay": True}, dict(lr=0.01)),
    "RAdam": ({"betas": (0.5, 0.9)}, {"lr": 0.05, "weight_decay": 0.1}, dict(lr=0.01)),
    "Adam": ({"amsgrad": True}, {"lr": 0.05, "maximize": True}, dict(lr=0.01)),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(GROUPS))
def test_two_parameter_groups_with_their_own_options(name, torch_float64):
    first, second, defaults = GROUPS[name]
    ours, theirs = make_pair(initial_params())
    opt = getattr(optim, name)([{"params": ours[:1], **first}, {"params": ours[1:], **second}], **defaults)
    ref = getattr(torch.optim, name)([{"params": theirs[:1], **first}, {"params": theirs[1:], **second}], **defaults)
    for ours_group, torch_group in zip(opt.param_groups, ref.param_groups):
        assert {k: v for k, v in ours_group.items() if k != "params"}.items() <= torch_group.items()
    run_both(opt, ref, ours, theirs)


@needs_torch
@pytest.mark.parametrize("name", ["SGD", "RMSprop", "NAdam", "Adagrad"])
def test_add_param_group_mid_training(name, torch_float64):
    ours, theirs = make_pair(initial_params())
    opt = getattr(optim, name)(ours[:2], lr=0.01)
    ref = getattr(torch.optim, name)(theirs[:2], lr=0.01)
    for step in range(5):
        feed(ours[:2], theirs[:2], step)
        opt.step()
        ref.step()
    opt.add_param_group({"params": ours[2], "lr": 0.05, "weight_decay": 0.01})
    ref.add_param_group({"params": theirs[2], "lr": 0.05, "weight_decay": 0.01})
    assert opt.param_groups[1]["lr"] == 0.05 and opt.param_groups[1]["eps" if name != "SGD" else "momentum"] == \
        ref.param_groups[1]["eps" if name != "SGD" else "momentum"]
    for step in range(5, 15):
        feed(ours, theirs, step)
        opt.step()
        ref.step()
        assert_same(ours, theirs, step)


def test_add_param_group_refuses_duplicates_and_sets():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([a, a])
    with pytest.raises(TypeError, match="list"):
        opt.add_param_group({"params": {b}})
    with pytest.raises(TypeError, match="dict"):
        opt.add_param_group([b])
    opt.add_param_group({"params": b, "momentum": 0.9})          # a single parameter is accepted
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.1


def test_per_group_initial_accumulator_value_by_hand():
    """Each Adagrad group's sum starts at its own value (PyTorch uses the constructor's for all)."""
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adagrad([{"params": [a]}, {"params": [b], "initial_accumulator_value": 3.0}], lr=1.0, eps=0.0)
    a.grad, b.grad = np.full(2, 1.0), np.full(2, 1.0)
    opt.step()
    np.testing.assert_allclose(a.data, 1 - 1 / np.sqrt(1.0))                # sum 0 + 1
    np.testing.assert_allclose(b.data, 1 - 1 / np.sqrt(4.0))                # sum 3 + 1


@pytest.mark.parametrize("call, match", [
    (lambda p: optim.RMSprop(p, lr=-1.0), "RMSprop: lr must be >= 0"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "RMSprop: alpha"),
    (lambda p: optim.Adagrad(p, lr_decay=-1.0), "Adagrad: lr_decay"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Adadelta: rho"),
    (lambda p: optim.NAdam(p, betas=(0.9, 1.0)), r"NAdam: betas must be two numbers in \[0, 1\), got betas="),
    (lambda p: optim.RAdam(p, eps=-1e-8), "RAdam: eps"),
    (lambda p: optim.NAdam(p, momentum_decay=-1.0), "NAdam: momentum_decay"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: optim.SGD([{"params": p, "lr": -2.0}], lr=0.1), "SGD: lr"),        # group options are checked
])
def test_invalid_hyper_parameters_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call([nn.Parameter(np.zeros(2))])


def test_wrong_types_are_refused():
    p = [nn.Parameter(np.zeros(2))]
    with pytest.raises(TypeError, match="RMSprop: centered must be True or False"):
        optim.RMSprop(p, centered=1)
    with pytest.raises(TypeError, match="Adam: lr must be a number"):
        optim.Adam(p, lr=True)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p[0], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)


def test_step_returns_the_closure_loss_and_zero_grad_can_zero():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.5)

    def closure():
        p.grad = 2 * p.data                       # d/dp of |p|^2
        return float(np.sum(p.data ** 2))

    assert opt.step(closure) == 5.0
    np.testing.assert_allclose(p.data, [0.0, 0.0])
    p.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])


# --------------------------------------------------------------------------------------------- state round trips


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_round_trip_continues_identically(case, tmp_path):
    """4 steps, save to disk, rebuild, load, 6 more: equals 10 uninterrupted steps exactly."""
    name, kwargs = CASES[case]
    make = getattr(optim, name)
    straight = [nn.Parameter(v.copy()) for v in initial_params()]
    opt = make(straight, **kwargs)
    for step in range(10):
        feed_ours(straight, step)
        opt.step()

    first = [nn.Parameter(v.copy()) for v in initial_params()]
    opt1 = make(first, **kwargs)
    for step in range(4):
        feed_ours(first, step)
        opt1.step()
    st.save({"params": [p.data for p in first], "optimizer": opt1.state_dict()}, tmp_path / "opt.npz")

    saved = st.load(tmp_path / "opt.npz")
    second = [nn.Parameter(np.array(v)) for v in saved["params"]]
    opt2 = make(second, lr=123.0)                    # hyper-parameters come back from the file
    opt2.load_state_dict(saved["optimizer"])
    assert opt2.param_groups[0]["lr"] == opt1.param_groups[0]["lr"]
    for step in range(4, 10):
        feed_ours(second, step)
        opt2.step()
    for a, b in zip(straight, second):
        np.testing.assert_array_equal(a.data, b.data)
