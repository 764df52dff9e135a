"""Optimizers and learning-rate schedules against ``torch.optim`` (float64, tight tolerance).

Both frameworks start from the same parameters and, at every step, receive gradients computed
by the same NumPy function of their *current* parameters, so any difference in an update rule
compounds over the steps instead of hiding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from oracle import TORCH_REASON
from strided import nn, optim
from optim_cases import gradient, initial_params, make_pair

torch = pytest.importorskip("torch", reason=TORCH_REASON)      # every test here compares with torch.optim


pytestmark = pytest.mark.usefixtures("single_threaded_torch")


def feed(ours, theirs, step, skip=()):
    """Give both sides the same gradients; parameters listed in ``skip`` get none this step."""
    for i, (p, q) in enumerate(zip(ours, theirs)):
        if i in skip:
            p.grad, q.grad = None, None
            continue
        g = gradient(i, p.data, step)
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-11, atol=1e-12)
        p.grad = g
        q.grad = torch.from_numpy(gradient(i, q.detach().numpy(), step))


def assert_same(ours, theirs, rtol=1e-10, atol=1e-12):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"param {i}")


CASES = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd_momentum": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "sgd_dampening": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3),
                      lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3)),
    "sgd_nesterov": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.01),
                         lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.01)),
    "sgd_everything": (lambda ps: optim.SGD(ps, lr=0.03, momentum=0.7, weight_decay=5e-3, nesterov=True),
                       lambda ps: torch.optim.SGD(ps, lr=0.03, momentum=0.7, weight_decay=5e-3, nesterov=True)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam_betas_eps": (lambda ps: optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-4),
                       lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-4)),
    "adam_weight_decay": (lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
                          lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    "adamw": (lambda ps: optim.AdamW(ps, lr=0.01), lambda ps: torch.optim.AdamW(ps, lr=0.01)),
    "adamw_weight_decay": (lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.3),
                           lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_rule_equals_torch(case):
    make_ours, make_theirs = CASES[case]
    ours, theirs = make_pair(initial_params())
    opt, ref = make_ours(ours), make_theirs(theirs)
    for step in range(12):
        # parameter 1 gets no gradient on some steps: both must leave it (and its state) alone
        feed(ours, theirs, step, skip=(1,) if step in (3, 4, 9) else ())
        opt.step()
        ref.step()
        assert_same(ours, theirs)
    moved = [not np.allclose(p.data, v) for p, v in zip(ours, initial_params())]
    assert all(moved)


def test_defaults_equal_torch():
    p = [nn.Parameter(np.zeros(2))]
    q = [torch.nn.Parameter(torch.zeros(2))]
    for ours, theirs in ((optim.Adam(p), torch.optim.Adam(q)), (optim.AdamW(p), torch.optim.AdamW(q))):
        for key in ("lr", "betas", "eps", "weight_decay"):
            assert ours.defaults[key] == theirs.defaults[key], key
    ours, theirs = optim.SGD(p, lr=0.1), torch.optim.SGD(q, lr=0.1)
    for key in ("momentum", "dampening", "weight_decay", "nesterov"):
        assert ours.defaults[key] == theirs.defaults[key], key


def test_adam_state_equals_torch_state():
    ours, theirs = make_pair(initial_params())
    opt, ref = optim.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    for step in range(5):
        feed(ours, theirs, step)
        opt.step()
        ref.step()
    mine, torchs = opt.state_dict(), ref.state_dict()
    assert sorted(mine["state"]) == sorted(torchs["state"]) == [0, 1, 2]
    for index, state in torchs["state"].items():
        assert int(mine["state"][index]["step"]) == int(state["step"]) == 5
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(mine["state"][index][key], state[key].numpy(), rtol=1e-10, atol=1e-14)
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in torchs["param_groups"]]
    assert set(mine["param_groups"][0]) <= set(torchs["param_groups"][0])


def test_zero_grad_clears_gradients():
    ours, _ = make_pair(initial_params())
    opt = optim.SGD(ours, lr=0.1)
    for p in ours:
        p.grad = np.ones(p.shape)
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
    before = [p.data.copy() for p in ours]
    opt.step()                                   # no gradients: nothing moves
    for p, b in zip(ours, before):
        np.testing.assert_array_equal(p.data, b)


def test_training_a_model_with_module_parameters():
    """The optimizer drives real module parameters (float32 by default) the way torch does."""
    model = nn.Linear(3, 2, rng=0)
    reference = torch.nn.Linear(3, 2)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(model.weight.data))
        reference.bias.copy_(torch.from_numpy(model.bias.data))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((8, 3)).astype(np.float32)
        y = rng.integers(0, 2, 8)
        opt.zero_grad()
        ref.zero_grad()
        st.nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
        ref.step()
    assert model.weight.data.dtype == np.float32
    np.testing.assert_allclose(model.weight.data, reference.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.bias.data, reference.bias.detach().numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- groups


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_parameter_groups_with_different_settings(kind):
    ours, theirs = make_pair(initial_params())
    if kind == "sgd":
        opt = optim.SGD([{"params": ours[:2], "lr": 0.2}, {"params": ours[2:], "momentum": 0.5}], lr=0.05,
                        momentum=0.9)
        ref = torch.optim.SGD([{"params": theirs[:2], "lr": 0.2}, {"params": theirs[2:], "momentum": 0.5}],
                              lr=0.05, momentum=0.9)
    else:
        opt = optim.Adam([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.1, "weight_decay": 0.01}], lr=0.01)
        ref = torch.optim.Adam([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.1, "weight_decay": 0.01}],
                               lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in ref.param_groups]
    for step in range(8):
        feed(ours, theirs, step)
        opt.step()
        ref.step()
        assert_same(ours, theirs)


# --------------------------------------------------------------------------------------------- schedules


def lr_trace(scheduler, optimizer, epochs):
    lrs = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(epochs):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    return np.array(lrs)


def two_group_optimizers():
    p, q = [nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))], [torch.nn.Parameter(torch.zeros(1))
                                                                       for _ in range(2)]
    ours = optim.SGD([{"params": p[:1]}, {"params": p[1:], "lr": 0.3}], lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD([{"params": q[:1]}, {"params": q[1:], "lr": 0.3}], lr=0.1, momentum=0.9)
    return ours, theirs


SCHEDULES = {
    "step_3_half": (lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
                    lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    "step_7_default_gamma": (lambda o: optim.StepLR(o, step_size=7),
                             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7)),
    "cosine_10": (lambda o: optim.CosineAnnealingLR(o, T_max=10),
                  lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10)),
    "cosine_7_eta_min": (lambda o: optim.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
                         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
    "cosine_20": (lambda o: optim.CosineAnnealingLR(o, T_max=20, eta_min=1e-3),
                  lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=1e-3)),
}


@pytest.mark.parametrize("case", sorted(SCHEDULES))
def test_schedule_equals_torch_over_20_epochs(case):
    make_ours, make_theirs = SCHEDULES[case]
    opt, ref = two_group_optimizers()
    ours, theirs = make_ours(opt), make_theirs(ref)
    mine = lr_trace(ours, opt, 20)
    torchs = lr_trace(theirs, ref, 20)
    np.testing.assert_allclose(mine, torchs, rtol=1e-12, atol=1e-15)
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    assert len(set(mine[:, 0])) > 1          # the schedule does move


def test_schedules_by_hand():
    opt, _ = two_group_optimizers()
    sched = optim.StepLR(opt, step_size=2, gamma=0.1)
    lrs = lr_trace(sched, opt, 5)[:, 0]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)
    opt, _ = two_group_optimizers()
    sched = optim.CosineAnnealingLR(opt, T_max=4)
    lrs = lr_trace(sched, opt, 4)[:, 0]
    half = (1 + math.cos(math.pi / 4)) / 2
    np.testing.assert_allclose(lrs, [0.1, 0.1 * half, 0.05, 0.1 * (1 - half), 0.0], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------------------------- state round trips


@pytest.mark.parametrize("case", ["sgd_everything", "adam_weight_decay", "adamw"])
def test_optimizer_state_dict_round_trip_continues_training(case, tmp_path):
    """Stop after 4 steps, save, rebuild, load, continue: equals 8 uninterrupted steps."""
    make_ours, _ = CASES[case]
    values = initial_params()

    straight = [nn.Parameter(v.copy()) for v in values]
    opt = make_ours(straight)
    for step in range(8):
        for i, p in enumerate(straight):
            p.grad = gradient(i, p.data, step)
        opt.step()

    first = [nn.Parameter(v.copy()) for v in values]
    opt1 = make_ours(first)
    for step in range(4):
        for i, p in enumerate(first):
            p.grad = gradient(i, p.data, step)
        opt1.step()
    path = tmp_path / "optimizer.npz"
    st.save({"params": [p.data for p in first], "optimizer": opt1.state_dict()}, path)

    saved = st.load(path)
    second = [nn.Parameter(np.array(v)) for v in saved["params"]]
    opt2 = make_ours(second)
    opt2.load_state_dict(saved["optimizer"])
    for step in range(4, 8):
        for i, p in enumerate(second):
            p.grad = gradient(i, p.data, step)
        opt2.step()
    for a, b in zip(straight, second):
        np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_load_restores_hyper_parameters_and_copies_state():
    ours, _ = make_pair(initial_params())
    opt = optim.SGD(ours, lr=0.1, momentum=0.9)
    for i, p in enumerate(ours):
        p.grad = gradient(i, p.data, 0)
    opt.step()
    state = opt.state_dict()
    other = optim.SGD(ours, lr=0.5, momentum=0.1)
    other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["momentum"] == 0.9
    buffer = state["state"][0]["momentum_buffer"]
    buffer[...] = 1e6                              # changing the saved dict does not reach the optimizer
    assert np.abs(other.state_dict()["state"][0]["momentum_buffer"]).max() < 1e3


def test_optimizer_state_dict_layout_equals_torch():
    ours, theirs = make_pair(initial_params())
    opt = optim.SGD([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.2}], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.2}], lr=0.1, momentum=0.9)
    feed(ours, theirs, 0, skip=(2,))
    opt.step()
    ref.step()
    mine, torchs = opt.state_dict(), ref.state_dict()
    assert sorted(mine) == sorted(torchs) == ["param_groups", "state"]
    assert sorted(mine["state"]) == sorted(torchs["state"]) == [0, 1]      # param 2 never had a gradient
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in torchs["param_groups"]] == [[0],
                                                                                                          [1, 2]]
    for index in (0, 1):
        np.testing.assert_allclose(mine["state"][index]["momentum_buffer"],
                                   torchs["state"][index]["momentum_buffer"].numpy(), rtol=1e-12)


@pytest.mark.parametrize("case", sorted(SCHEDULES))
def test_scheduler_state_dict_round_trip(case, tmp_path):
    make_ours, _ = SCHEDULES[case]
    opt, _ = two_group_optimizers()
    sched = make_ours(opt)
    straight = lr_trace(sched, opt, 12)

    opt1, _ = two_group_optimizers()
    sched1 = make_ours(opt1)
    lr_trace(sched1, opt1, 5)
    st.save({"optimizer": opt1.state_dict(), "scheduler": sched1.state_dict()}, tmp_path / "ckpt.npz")

    saved = st.load(tmp_path / "ckpt.npz")
    opt2, _ = two_group_optimizers()
    sched2 = make_ours(opt2)
    opt2.load_state_dict(saved["optimizer"])
    sched2.load_state_dict(saved["scheduler"])
    assert [g["lr"] for g in opt2.param_groups] == pytest.approx(list(straight[5]), rel=1e-15)
    resumed = lr_trace(sched2, opt2, 7)
    np.testing.assert_array_equal(resumed, straight[5:])
