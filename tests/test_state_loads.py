"""All-or-nothing loads: a model, optimizer, schedule or checkpoint state with one bad part is refused
with an error naming that part, and nothing at all changes. Non-finite checkpoints are not resumed
unless asked, and run records stay strict JSON.

Oracles: a deep copy of every state taken before the attempt (a refusal must leave it bit for
bit), NumPy's own casts for accepted conversions, Python's strict JSON parser.
"""

from __future__ import annotations

import copy
import datetime
import math

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.cli import main
from test_cli_train import strict_json
from strided.train.checkpoint import (NonFiniteCheckpoint, load_checkpoint, restore_state, save_checkpoint,
                                      training_state)


def build(seed: int = 0):
    """A small CNN with a BatchNorm (an int64 buffer), a Dropout generator, SGD with momentum, a StepLR."""
    model = nn.Sequential(nn.Conv2d(1, 3, 3, rng=seed), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(0.1, rng=np.random.default_rng(seed)), nn.Linear(48, 5, rng=seed + 1),
                          nn.ReLU(), nn.Linear(5, 2, rng=seed + 2))
    optimizer = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = st.optim.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def train_steps(model, optimizer, scheduler, steps: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        x = rng.standard_normal((4, 1, 6, 6)).astype(np.float32)
        st.nn.functional.cross_entropy(model(x), rng.integers(0, 2, 4)).backward()
        optimizer.step()
        scheduler.step()


def snapshot(model, optimizer=None, scheduler=None):
    """Everything a load could change, deep-copied (the oracle of "nothing changed")."""
    return copy.deepcopy({"model": model.state_dict(), "optimizer": optimizer and optimizer.state_dict(),
                          "scheduler": scheduler and scheduler.state_dict(),
                          "generator": model[4].rng.bit_generator.state, "default": st.get_rng_state()})


def identical(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.fixture
def trained():
    parts = build()
    train_steps(*parts)
    return parts


# ------------------------------------------------------------------------------------------ models
REFUSED_VALUES = {
    "str array": np.array(["1.5", "2.5"]),
    "object array": np.array([None, None], dtype=object),
    "complex": np.array([1 + 2j, 3j]),
    "datetime": np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"),
    "timedelta": np.array([1, 2], dtype="timedelta64[s]"),
    "structured": np.zeros(2, dtype=[("a", "<f4")]),
    "None": None,
    "string": "1.5",
    "bytes": b"12",
    "a datetime": datetime.date(2020, 1, 1),
    "ragged list": [[1.0], [2.0, 3.0]],
}


@pytest.mark.parametrize("kind", list(REFUSED_VALUES))
def test_a_bad_value_in_the_last_entry_loads_nothing(trained, kind):
    """The issue's case: a non-numeric value in the last entry once raised after the others were written."""
    model = trained[0]
    before = snapshot(model)
    state = {key: np.zeros_like(value) for key, value in model.state_dict().items()}   # every entry would change
    assert list(state)[-1] == "7.bias"
    state["7.bias"] = REFUSED_VALUES[kind]
    with pytest.raises(TypeError, match=r"7\.bias.*nothing was loaded"):
        model.load_state_dict(state)
    assert identical(snapshot(model), before)


def test_keys_must_be_strings_and_all_problems_are_named_together(trained):
    model = trained[0]
    before = snapshot(model)
    state = dict(model.state_dict())
    state[5] = state.pop("5.weight")
    state["7.bias"] = "x"
    with pytest.raises(TypeError, match=r"keys must be str, got 5.*7\.bias: got str"):
        model.load_state_dict(state)
    assert identical(snapshot(model), before)


@pytest.mark.parametrize("entry, value, error, message", [
    ("1.num_batches_tracked", np.array(2.5), ValueError, "cannot hold exactly"),
    ("1.num_batches_tracked", np.array(np.nan), ValueError, "NaN or infinity cannot be stored"),
    ("1.running_mean", np.full(3, 1e300), ValueError, "beyond the range of float32"),
    ("0.weight", np.zeros((3, 1, 2, 2), np.float32), ValueError, r"0\.weight: expected \(3, 1, 3, 3\)"),
])
def test_values_that_do_not_fit_load_nothing(trained, entry, value, error, message):
    model = trained[0]
    before = snapshot(model)
    state = {key: np.zeros_like(v) for key, v in model.state_dict().items()}
    state[entry] = value
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    assert identical(snapshot(model), before)


def test_tensors_numbers_and_other_dtypes_load_as_numpy_casts_them(trained):
    model = trained[0]
    rng = np.random.default_rng(5)
    state = {key: rng.standard_normal(v.shape) for key, v in model.state_dict().items()}     # float64
    state["1.num_batches_tracked"] = 7                                                      # a Python int
    state["7.bias"] = st.Tensor(np.array([0.25, -4.0], np.float32))                          # a Tensor
    state["5.bias"] = nn.Parameter(np.arange(5, dtype=np.float64))                            # a Parameter
    model.load_state_dict(state)
    got = model.state_dict()
    for key, value in state.items():
        expected = np.asarray(value.data if isinstance(value, st.Tensor) else value).astype(got[key].dtype)
        assert got[key].dtype == expected.dtype and np.array_equal(got[key], expected), key


# ------------------------------------------------------------------------------------------ optimizers
def optimizer_state_with(optimizer, edit):
    state = copy.deepcopy(optimizer.state_dict())
    edit(state)
    return state


def set_group(key, value):
    def edit(state):
        state["param_groups"][0][key] = value
    return edit


def set_buffer(index, key, value):
    def edit(state):
        state["state"][index][key] = value
    return edit


@pytest.mark.parametrize("edit, error, message", [
    (set_group("lr", "0.1"), TypeError, r"param_groups\[0\]: lr must be like 0\.05, got '0\.1'"),
    (set_group("lr", -1.0), ValueError, r"param_groups\[0\].*lr must be >= 0"),
    (set_group("nesterov", 1), TypeError, r"param_groups\[0\]: nesterov must be like"),
    (set_group("momentum", [0.9]), TypeError, "momentum must be like"),
    (set_buffer(0, "momentum_buffer", np.zeros((3, 1, 2, 2), np.float32)), ValueError,
     r"state\[0\]: momentum_buffer has shape \(3, 1, 2, 2\), the parameter \(3, 1, 3, 3\)"),
    (set_buffer(2, "momentum_buffer", np.array(["a", "b", "c"])), ValueError, r"state\[2\]: momentum_buffer has dtype"),
    (set_buffer(2, "momentum_buffer", np.full(3, 1e300)), ValueError, "beyond the range of float32"),
    (set_buffer(1, "velocity", np.zeros(3, np.float32)), ValueError, r"state\[1\]: unknown entries \['velocity'\]"),
    (lambda s: s["state"].__setitem__(99, {}), ValueError, "entry 99 for no parameter"),
    (lambda s: s["param_groups"][0]["params"].pop(), ValueError, "groups of sizes"),
])
def test_a_bad_optimizer_state_loads_nothing(trained, edit, error, message):
    model, optimizer, _ = trained
    before = snapshot(model, optimizer)
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(optimizer_state_with(optimizer, edit))
    assert identical(snapshot(model, optimizer), before)


@pytest.mark.parametrize("edit, message", [
    (set_buffer(0, "step", -1), "step must be a whole number >= 0"),
    (set_buffer(0, "step", 1.5), "step must be a whole number >= 0"),
    (set_buffer(0, "step", "3"), "step must be a number"),
    (lambda s: s["state"][1].pop("exp_avg_sq"), r"state\[1\]: lacks exp_avg_sq"),
    (set_buffer(1, "exp_avg", np.zeros(7, np.float32)), r"exp_avg has shape \(7,\)"),
])
def test_a_bad_adam_state_loads_nothing(edit, message):
    model = build()[0]
    optimizer = st.optim.Adam(model.parameters(), lr=0.01)
    scheduler = st.optim.StepLR(optimizer, step_size=2)
    train_steps(model, optimizer, scheduler)
    before = snapshot(model, optimizer)
    with pytest.raises((TypeError, ValueError), match=message):
        optimizer.load_state_dict(optimizer_state_with(optimizer, edit))
    assert identical(snapshot(model, optimizer), before)


def test_pytorch_sgd_state_layout_loads(trained):
    """PyTorch keeps ``momentum_buffer: None`` before the first step; its int indices may come back as str."""
    model, optimizer, _ = trained
    state = optimizer.state_dict()
    fresh_model, fresh, _ = build(seed=3)
    saved = {"state": {str(i): dict(v) for i, v in state["state"].items()}, "param_groups": state["param_groups"]}
    saved["state"]["0"]["momentum_buffer"] = None
    fresh.load_state_dict(saved)
    got = fresh.state_dict()
    assert got["param_groups"] == state["param_groups"]
    assert got["state"][0] == {} or got["state"][0].get("momentum_buffer") is None
    for index in range(1, len(state["state"])):
        assert np.array_equal(got["state"][index]["momentum_buffer"], state["state"][index]["momentum_buffer"])


# ------------------------------------------------------------------------------------------ schedules
@pytest.mark.parametrize("edit, error, message", [
    (lambda s: s.__setitem__("last_epoch", "2"), TypeError, "last_epoch must be like"),
    (lambda s: s.__setitem__("last_epoch", 2.0), TypeError, "last_epoch must be like"),
    (lambda s: s.__setitem__("gamma", "0.5"), TypeError, "gamma must be like"),
    (lambda s: s.__setitem__("base_lrs", [0.1, 0.1]), TypeError, "base_lrs must be like"),
    (lambda s: s.pop("step_size"), ValueError, "lacks step_size"),
    (lambda s: s.__setitem__("milestones", [1, 2]), ValueError, "has unknown milestones"),
])
def test_a_bad_schedule_state_loads_nothing(trained, edit, error, message):
    model, optimizer, scheduler = trained
    before = snapshot(model, optimizer, scheduler)
    state = copy.deepcopy(scheduler.state_dict())
    edit(state)
    with pytest.raises(error, match=message):
        scheduler.load_state_dict(state)
    assert identical(snapshot(model, optimizer, scheduler), before)


# ------------------------------------------------------------------------------------------ checkpoints
def damage(part):
    def edit(state):
        if part == "optimizer":
            state["optimizer"]["param_groups"][0]["lr"] = "fast"
        elif part == "scheduler":
            state["scheduler"]["last_epoch"] = "late"
        elif part == "generators":
            state["generators"][0]["state"] = {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}}
        elif part == "default_generator":
            state["default_generator"] = {"bit_generator": "MT19937"}
        elif part == "model":
            state["model"]["7.bias"] = np.zeros(3, np.float32)          # the model's is (2,)
    return edit


@pytest.mark.parametrize("part", ["model", "optimizer", "scheduler", "generators", "default_generator"])
def test_a_checkpoint_with_one_bad_part_changes_no_part(tmp_path, part):
    source = build(seed=1)
    train_steps(*source, steps=3, seed=1)
    state = training_state(*source[:2], scheduler=source[2])
    damage(part)(state)
    path = tmp_path / "ckpt.npz"
    st.save(state, path)
    model, optimizer, scheduler = build()
    train_steps(model, optimizer, scheduler)
    before = snapshot(model, optimizer, scheduler)
    with pytest.raises((TypeError, ValueError)):
        restore_state(load_checkpoint(path), model, optimizer, scheduler)
    assert identical(snapshot(model, optimizer, scheduler), before)


def test_an_intact_checkpoint_restores_every_part(tmp_path):
    source = build(seed=1)
    train_steps(*source, steps=3, seed=1)
    expected = snapshot(*source)
    save_checkpoint(tmp_path / "ckpt.npz", training_state(*source[:2], scheduler=source[2]))
    target = build()
    restore_state(load_checkpoint(tmp_path / "ckpt.npz"), *target)
    assert identical(snapshot(*target), expected)


def nan_checkpoint(tmp_path):
    """A finished-epoch checkpoint of ``fit`` whose first weight was then set to NaN (as a diverged run)."""
    model, optimizer, _ = build()
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((16, 1, 6, 6)).astype(np.float32), rng.integers(0, 2, 16))
    st.train.fit(model, data, optimizer=optimizer, epochs=1, batch_size=8, seed=0, log=None, progress=False,
                 checkpoint_dir=tmp_path)
    state = load_checkpoint(tmp_path)
    state["model"]["0.weight"][0, 0, 0, 0] = np.nan
    st.save(state, tmp_path / "checkpoint.npz")
    return data


def test_resume_from_non_finite_weights_is_refused_unless_asked(tmp_path):
    data = nan_checkpoint(tmp_path)
    model, optimizer, _ = build()
    before = snapshot(model, optimizer)
    with pytest.raises(NonFiniteCheckpoint, match=r"0\.weight.*allow_nonfinite=True") as caught:
        st.train.fit(model, data, optimizer=optimizer, epochs=2, batch_size=8, seed=0, log=None, progress=False,
                     resume_from=tmp_path)
    assert caught.value.names == ["model.0.weight"] and identical(snapshot(model, optimizer), before)
    with pytest.raises(st.train.NonFiniteLoss):          # resumed as asked: the NaN weight reaches the loss
        st.train.fit(model, data, optimizer=optimizer, epochs=2, batch_size=8, seed=0, log=None, progress=False,
                     resume_from=tmp_path, allow_nonfinite=True)
    assert np.isnan(model.state_dict()["0.weight"][0, 0, 0, 0])


def test_records_of_non_finite_values_are_strict_json(tmp_path):
    st.train.write_json({"loss": float("nan"), "best": float("inf"), "rows": (np.float32(-np.inf), 2)},
                        tmp_path / "m.json")
    assert strict_json(tmp_path / "m.json") == {"loss": None, "best": "inf", "rows": ["-inf", 2]}


def test_cli_refuses_to_resume_nan_weights_without_allow_nonfinite(tmp_path, capsys):
    out = tmp_path / "run"
    quick = ["--limit", "200", "--no-progress"]
    assert main(["train", "FC-10", "--epochs", "2", "--stop-after", "1", "--out", str(out), *quick]) == 0
    state = load_checkpoint(out)
    state["model"]["1.weight"][:] = np.inf
    st.save(state, out / "checkpoint.npz")
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "NaN or infinite" in err and "model.1.weight" in err and "--allow-nonfinite" in err
    assert main(["train", "--resume", "--allow-nonfinite", "--out", str(out), "--no-progress"]) == 1
    assert "the loss is" in capsys.readouterr().err            # it did resume, and diverged at once
    assert not (out / "metrics.json").exists() or strict_json(out / "metrics.json")
    assert np.isinf(load_checkpoint(out)["model"]["1.weight"]).all()      # the file was not replaced
