"""Learning-rate schedules against ``torch.optim.lr_scheduler``: the learning rate (and, for
OneCycleLR, the momentum or beta1) of every parameter group after every step, and state_dict
round trips that continue exactly as an uninterrupted run."""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided import nn, optim
from strided.optim import lr_scheduler as S


def two_groups(lib, kind="sgd"):
    """A two-group optimizer of ``lib`` (``strided.optim`` or ``torch.optim``)."""
    if lib is optim:
        params = [nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))]
    else:
        params = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)) for _ in range(2)]
    if kind == "sgd":
        return lib.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.1, momentum=0.9)
    return lib.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.3, "betas": (0.8, 0.9)}], lr=0.1)


def momenta(optimizer):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in optimizer.param_groups]


def trace(optimizer, scheduler, steps, metrics=None):
    """Learning rates and momenta of each group: after construction, then after each step."""
    lrs, moms = [[g["lr"] for g in optimizer.param_groups]], [momenta(optimizer)]
    for i in range(steps):
        optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[i])
        lrs.append([g["lr"] for g in optimizer.param_groups])
        moms.append(momenta(optimizer))
    return np.array(lrs), np.array(moms)


def lambda_mix(epoch):
    return 0.9 ** epoch + 0.1 * (epoch % 3)


# name -> (optimizer kind, steps, schedule factory taking (lr_scheduler module, optimizer))
SCHEDULES = {
    "multistep": ("sgd", 20, lambda L, o: L.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.5)),
    "multistep_unsorted": ("sgd", 20, lambda L, o: L.MultiStepLR(o, milestones=[10, 2])),
    "exponential": ("sgd", 20, lambda L, o: L.ExponentialLR(o, gamma=0.9)),
    "linear_default": ("sgd", 12, lambda L, o: L.LinearLR(o)),
    "linear_warmup": ("sgd", 12, lambda L, o: L.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=6)),
    "linear_decay": ("sgd", 14, lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=10)),
    "lambda": ("sgd", 15, lambda L, o: L.LambdaLR(o, lambda_mix)),
    "lambda_per_group": ("sgd", 15, lambda L, o: L.LambdaLR(o, [lambda e: 1 / (e + 1), lambda_mix])),
    "multiplicative": ("sgd", 15, lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95 if e % 2 else 0.9)),
    "constant": ("sgd", 10, lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=4)),
    "polynomial": ("sgd", 12, lambda L, o: L.PolynomialLR(o, total_iters=8, power=2.0)),
    "step": ("sgd", 20, lambda L, o: L.StepLR(o, step_size=4, gamma=0.5)),
    "cosine_past_T_max": ("sgd", 25, lambda L, o: L.CosineAnnealingLR(o, T_max=8, eta_min=0.01)),
    "one_cycle_cos": ("sgd", 30, lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=30)),
    "one_cycle_linear": ("sgd", 30, lambda L, o: L.OneCycleLR(o, max_lr=[0.5, 2.0], total_steps=30,
                                                              anneal_strategy="linear")),
    "one_cycle_three_phase": ("sgd", 40, lambda L, o: L.OneCycleLR(
        o, max_lr=0.8, epochs=4, steps_per_epoch=10, pct_start=0.25, three_phase=True, div_factor=10.0,
        final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    "one_cycle_no_momentum": ("sgd", 25, lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=25,
                                                                   cycle_momentum=False, pct_start=0.4)),
    "one_cycle_adam_betas": ("adam", 30, lambda L, o: L.OneCycleLR(
        o, max_lr=0.01, total_steps=30, base_momentum=[0.8, 0.7], max_momentum=[0.95, 0.9], three_phase=True)),
    "sequential_warmup_cosine": ("sgd", 25, lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(o, T_max=15)], milestones=[5])),
    "sequential_three": ("sgd", 25, lambda L, o: L.SequentialLR(
        o, [L.ConstantLR(o, factor=0.2, total_iters=10), L.ExponentialLR(o, gamma=0.8),
            L.MultiStepLR(o, milestones=[3, 6])], milestones=[3, 9])),
    "cyclic_triangular": ("sgd", 30, lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4,
                                                             step_size_down=6)),
    "cyclic_triangular2_adam": ("adam", 30, lambda L, o: L.CyclicLR(
        o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, mode="triangular2", base_momentum=0.7)),
    "cyclic_exp_range": ("sgd", 30, lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5,
                                                            mode="exp_range", gamma=0.97, cycle_momentum=False)),
    "cyclic_scale_fn": ("sgd", 30, lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=lambda x: 1 / x,
                                                           scale_mode="cycle")),
    "warm_restarts": ("sgd", 30, lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.001)),
    "warm_restarts_mult": ("sgd", 30, lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
    "chained": ("sgd", 15, lambda L, o: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.1, total_iters=2), L.ExponentialLR(o, gamma=0.9)])),
}


@needs_torch
@pytest.mark.parametrize("case", sorted(SCHEDULES))
def test_schedule_equals_torch(case):
    kind, steps, make = SCHEDULES[case]
    opt, ref = two_groups(optim, kind), two_groups(torch.optim, kind)
    ours, theirs = make(S, opt), make(torch.optim.lr_scheduler, ref)
    mine, torchs = trace(opt, ours, steps), trace(ref, theirs, steps)
    np.testing.assert_allclose(mine[0], torchs[0], rtol=1e-12, atol=1e-15, err_msg="learning rates")
    np.testing.assert_allclose(mine[1], torchs[1], rtol=1e-12, atol=1e-15, err_msg="momenta")
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    assert len(set(mine[0][:, 0])) > 1                       # the schedule does move


@needs_torch
def test_warm_restarts_with_fractional_epochs_equal_torch():
    opt, ref = two_groups(optim), two_groups(torch.optim)
    ours = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.01)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(ref, T_0=2, T_mult=2, eta_min=0.01)
    for epoch in range(8):
        for i in range(4):
            opt.step()
            ref.step()
            ours.step(epoch + i / 4)
            theirs.step(epoch + i / 4)
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
            assert (ours.T_i, ours.last_epoch) == (theirs.T_i, theirs.last_epoch)


@needs_torch
def test_one_cycle_past_total_steps_raises_as_torch():
    for lib, L in ((optim, S), (torch.optim, torch.optim.lr_scheduler)):
        o = two_groups(lib)
        sched = L.OneCycleLR(o, max_lr=0.1, total_steps=4)
        for _ in range(4):
            o.step()
            sched.step()
        o.step()
        with pytest.raises(ValueError):
            sched.step()


PLATEAUS = {
    "min_rel": dict(patience=3),
    "min_abs_cooldown": dict(threshold=0.05, threshold_mode="abs", cooldown=2, patience=1, factor=0.5),
    "max_rel": dict(mode="max", patience=2, factor=0.3, min_lr=[0.02, 0.005]),
    "max_abs_min_lr": dict(mode="max", threshold=0.1, threshold_mode="abs", patience=0, min_lr=0.01),
    "eps_blocks": dict(patience=0, factor=0.5, eps=0.04),       # stops once a reduction is <= eps
}
METRICS = [1.0, 0.9, 0.95, 0.95, 0.89, 0.9, 0.91, 0.92, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.69, 0.69, 0.8,
           0.8, 0.8, 0.8, 0.8, 0.8, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]


@needs_torch
@pytest.mark.parametrize("case", sorted(PLATEAUS))
def test_reduce_lr_on_plateau_equals_torch(case):
    kwargs = PLATEAUS[case]
    metrics = METRICS if kwargs.get("mode") != "max" else [-m for m in METRICS]
    opt, ref = two_groups(optim), two_groups(torch.optim)
    ours = S.ReduceLROnPlateau(opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(ref, **kwargs)
    mine, torchs = trace(opt, ours, len(metrics), metrics), trace(ref, theirs, len(metrics), metrics)
    np.testing.assert_allclose(mine[0], torchs[0], rtol=1e-12, atol=1e-15)
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    assert len(set(mine[0][:, 0])) > 1
    assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter) == (
        theirs.best, theirs.num_bad_epochs, theirs.cooldown_counter)


def test_reduce_lr_on_plateau_by_hand():
    """patience=2: the third epoch without improvement divides lr by 10; cooldown=1 skips one."""
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched = S.ReduceLROnPlateau(opt, patience=2, cooldown=1)
    lrs = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 4, 3]:
        sched.step(metric)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1])


def test_schedules_by_hand():
    opt = two_groups(optim)
    lrs = trace(opt, S.MultiStepLR(opt, milestones=[2, 4], gamma=0.1), 5)[0][:, 0]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)
    opt = two_groups(optim)
    lrs = trace(opt, S.LinearLR(opt, start_factor=0.5, total_iters=2), 3)[0][:, 1]
    np.testing.assert_allclose(lrs, [0.15, 0.225, 0.3, 0.3], rtol=1e-12)
    opt = two_groups(optim)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=11, pct_start=0.5, anneal_strategy="linear")
    lrs, moms = trace(opt, sched, 10)
    # warm-up over steps 0..4.5 from 1/25 to 1, then down to 1/25/1e4 at step 10
    assert lrs[0, 0] == pytest.approx(0.04) and lrs[10, 0] == pytest.approx(4e-6)
    assert lrs[:, 0].max() <= 1.0 and moms[0, 0] == pytest.approx(0.95) and moms[:, 0].min() >= 0.85


def test_invalid_arguments_are_named():
    opt = two_groups(optim)
    with pytest.raises(TypeError, match="StepLR: step_size"):
        S.StepLR(opt, step_size=2.0)
    with pytest.raises(ValueError, match="LinearLR: start_factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="OneCycleLR: give total_steps"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="OneCycleLR: anneal_strategy"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr has 3 values"):
        S.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)
    with pytest.raises(ValueError, match="cycle_momentum"):
        S.OneCycleLR(optim.Adagrad([nn.Parameter(np.zeros(1))]), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: mode"):
        S.ReduceLROnPlateau(opt, mode="least")
    with pytest.raises(ValueError, match="SequentialLR: expected 1 milestones"):
        S.SequentialLR(opt, [S.ConstantLR(opt), S.ExponentialLR(opt, 0.9)], milestones=[2, 3])
    with pytest.raises(ValueError, match="another optimizer"):
        S.SequentialLR(opt, [S.ExponentialLR(two_groups(optim), 0.9)], milestones=[])
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1), step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        S.ExponentialLR(None, gamma=0.9)


# --------------------------------------------------------------------------------------------- state round trips

ROUND_TRIPS = sorted(SCHEDULES) + ["plateau"]


def build(case, opt):
    if case == "plateau":
        return S.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5, min_lr=[0.0, 0.05])
    return SCHEDULES[case][2](S, opt)


@pytest.mark.parametrize("case", ROUND_TRIPS)
def test_state_dict_round_trip_continues_identically(case, tmp_path):
    """7 steps, save optimizer and scheduler to disk, rebuild both, load, continue: the learning
    rates (and momenta) equal an uninterrupted run's exactly."""
    kind, steps = ("sgd", 20) if case == "plateau" else SCHEDULES[case][:2]
    metrics = METRICS if case == "plateau" else None
    opt = two_groups(optim, kind)
    straight = trace(opt, build(case, opt), steps, metrics)

    opt1 = two_groups(optim, kind)
    sched1 = build(case, opt1)
    trace(opt1, sched1, 7, metrics)
    st.save({"optimizer": opt1.state_dict(), "scheduler": sched1.state_dict()}, tmp_path / "ckpt.npz")

    saved = st.load(tmp_path / "ckpt.npz")
    opt2 = two_groups(optim, kind)
    sched2 = build(case, opt2)                     # construction steps the fresh optimizer ...
    opt2.load_state_dict(saved["optimizer"])       # ... whose saved state then wins
    sched2.load_state_dict(saved["scheduler"])
    assert sched2.get_last_lr() == sched1.get_last_lr()
    resumed = trace(opt2, sched2, steps - 7, None if metrics is None else metrics[7:])
    np.testing.assert_array_equal(resumed[0], straight[0][7:])
    np.testing.assert_array_equal(resumed[1], straight[1][7:])


def test_lambda_state_dict_leaves_functions_out_and_keeps_callable_objects_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    opt = two_groups(optim)
    sched = S.LambdaLR(opt, [lambda e: 1.0, Decay(0.5)])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"rate": 0.5}]
    other = S.LambdaLR(two_groups(optim), [lambda e: 1.0, Decay(0.9)])
    other.load_state_dict(state)
    assert other.lr_lambdas[1].rate == 0.5
    other.step()
    assert other.get_last_lr() == pytest.approx([0.1, 0.3 * 0.5])


def test_top_level_names_are_the_lr_scheduler_classes():
    assert optim.OneCycleLR is S.OneCycleLR and optim.StepLR is S.StepLR
    assert math.isclose(S.OneCycleLR(two_groups(optim), max_lr=0.5, total_steps=5).get_last_lr()[0], 0.02)
