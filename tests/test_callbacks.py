"""Callbacks: hook order, EarlyStopping and Checkpoint's best file against hand-worked sequences,
CSV and strict-JSON histories, learning-rate records."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import strided as st
from strided import nn

N, BATCH = 20, 6                                        # 4 steps per epoch


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def model_and_optimizer():
    model = nn.Sequential(nn.Linear(4, 2, rng=0))
    return model, st.optim.SGD(model.parameters(), lr=0.1)


def fit(callbacks, epochs=6, **kwargs):
    model, opt = model_and_optimizer()
    history = st.train.fit(model, data(), optimizer=opt, epochs=epochs, batch_size=BATCH, seed=0,
                           callbacks=callbacks, progress=False, log=kwargs.pop("log", None), **kwargs)
    return model, history


def scripted(values, key="score"):
    """A callback that logs ``values[epoch - 1]`` as ``key`` in each epoch's row (what others then monitor)."""
    return st.train.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({key: values[epoch - 1]}))


class Recorder(st.train.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, step, logs=None):
        self.calls.append(("batch_end", step, logs["epoch"], logs["batch"], logs["size"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, logs is self.run.history[-1]))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_hooks_are_called_in_order_with_global_steps():
    recorder = Recorder()
    fit([recorder], epochs=2)
    sizes = [6, 6, 6, 2]
    expected = [("train_begin",)]
    for epoch in (1, 2):
        expected.append(("epoch_begin", epoch))
        expected += [("batch_end", 4 * (epoch - 1) + b + 1, epoch, b + 1, sizes[b]) for b in range(4)]
        expected.append(("epoch_end", epoch, True))
    assert recorder.calls == expected + [("train_end",)]


# Worked by hand, mode 'min', min_delta 0.1: best 1.0 (epoch 1); 0.95 is not below 0.9 (wait 1);
# 0.5 is (best 0.5, wait 0); 0.45 (wait 1); 0.41 (wait 2 = patience): stop after epoch 5.
SCORES = [1.0, 0.95, 0.5, 0.45, 0.41, 0.1, 0.05]


def test_early_stopping_as_worked_by_hand():
    stopper = st.train.EarlyStopping(monitor="score", patience=2, mode="min", min_delta=0.1)
    _, history = fit([scripted(SCORES), stopper], epochs=7)
    assert len(history) == 5 and stopper.stopped_epoch == 5
    assert stopper.tracker.best == 0.5 and stopper.tracker.best_epoch == 3


def test_early_stopping_restores_the_best_weights():
    model, opt = model_and_optimizer()
    weights = {}
    keep = st.train.LambdaCallback(on_epoch_end=lambda e, logs: weights.__setitem__(e, model[0].weight.data.copy()))
    stopper = st.train.EarlyStopping(monitor="score", patience=2, mode="min", min_delta=0.1, restore_best=True)
    st.train.fit(model, data(), optimizer=opt, epochs=7, batch_size=BATCH, seed=0,
                 callbacks=[scripted(SCORES), keep, stopper], progress=False, log=None)
    np.testing.assert_array_equal(model[0].weight.data, weights[3])


def test_checkpoint_writes_best_on_improvement_and_saves_the_other_callbacks_state(tmp_path):
    # Checkpoint listed first, still runs last: its files hold EarlyStopping's state of the same epoch
    checkpoint = st.train.Checkpoint(tmp_path, monitor="score", mode="max")
    stopper = st.train.EarlyStopping(monitor="score", patience=10, mode="max")
    fit([checkpoint, scripted([0.2, 0.5, 0.4, 0.7, 0.6, 0.65]), stopper], epochs=6)
    best = st.train.load_checkpoint(tmp_path / "best.npz")
    last = st.train.load_checkpoint(tmp_path)
    assert len(best["history"]) == 4 and best["history"][-1]["score"] == 0.7
    assert len(last["history"]) == 6 and checkpoint.monitor.best == 0.7
    saved = {key.split(":")[1]: value for key, value in last["callbacks"].items()}
    assert saved["EarlyStopping"]["wait"] == 2 and saved["Checkpoint"]["best_epoch"] == 4


def test_an_early_stopped_run_resumed_stays_stopped(tmp_path):
    stopper = st.train.EarlyStopping(monitor="score", patience=2, mode="min", min_delta=0.1)
    fit([scripted(SCORES), stopper, st.train.Checkpoint(tmp_path, monitor=None)], epochs=7)
    _, history = fit([scripted(SCORES), st.train.EarlyStopping(monitor="score", patience=2, mode="min",
                                                               min_delta=0.1)], epochs=7, resume_from=tmp_path)
    assert len(history) == 5


def strict_json(text):
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_csv_and_json_histories_are_rewritten_each_epoch_and_json_is_strict(tmp_path):
    values = [0.5, math.nan, math.inf, -math.inf]
    _, history = fit([scripted(values), st.train.CSVLogger(tmp_path / "h.csv"),
                      st.train.JSONLogger(tmp_path / "h.json", extra={"run": "test"})], epochs=4)
    text = (tmp_path / "h.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = strict_json(text)
    assert loaded["run"] == "test" and [r["score"] for r in loaded["history"]] == [0.5, None, "inf", "-inf"]
    assert [r["train_loss"] for r in loaded["history"]] == [r["train_loss"] for r in history]
    with open(tmp_path / "h.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["train_loss"]) for r in rows] == [r["train_loss"] for r in history]
    assert rows[1]["score"] == "nan"


def test_lr_monitor_records_each_group():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=1))
    opt = st.optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.01}], lr=0.1)
    monitor = st.train.LRMonitor(interval="step")
    history = st.train.fit(model, data(), optimizer=opt, scheduler=st.optim.StepLR(opt, 1, gamma=0.5), epochs=3,
                           batch_size=BATCH, seed=0, callbacks=[monitor], progress=False, log=None)
    assert [(r["lr_group0"], r["lr_group1"]) for r in history] == [(0.1, 0.01), (0.05, 0.005), (0.025, 0.0025)]
    assert len(monitor.steps) == 12 and monitor.steps[4] == (5, [0.05, 0.005])


def test_callback_arguments_are_checked():
    with pytest.raises(TypeError, match="unknown hooks"):
        st.train.LambdaCallback(on_step=print)
    with pytest.raises(TypeError, match="callbacks must be Callback instances"):
        fit([print], epochs=1)
    with pytest.raises(ValueError, match="mode must be 'min', 'max' or 'auto'"):
        st.train.EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="every_n_steps must be a positive int"):
        st.train.Checkpoint(".", every_n_steps=0)


def test_a_missing_monitored_value_is_reported_once(tmp_path):
    lines = []
    fit([st.train.Checkpoint(tmp_path)], epochs=2, log=lines.append)    # val_accuracy: no validation data
    assert sum("'val_accuracy' is not among the logged values" in line for line in lines) == 1
    assert not (tmp_path / "best.npz").exists() and (tmp_path / "checkpoint.npz").exists()
