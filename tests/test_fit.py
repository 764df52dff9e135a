"""``st.train.fit``, ``evaluate`` and ``predict`` against oracles: a PyTorch training loop fed the
same batches (the loader contract's order), gradient descent by hand for regression, PyTorch's
schedules, softmax and top-k; the NaN guard and the command line's exit codes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided import nn
from strided.nn import functional as F

N, VAL, BATCH = 30, 11, 7                    # uneven last batch: 30 = 4 * 7 + 2


def classification_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N + VAL, 6)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.3)).astype(np.int64)          # 3 classes
    return (x[:N], y[:N]), (x[N:], y[N:])


def mlp():
    return nn.Sequential(nn.Linear(6, 8, rng=1), nn.ReLU(), nn.Linear(8, 3, rng=2))


def quiet(*args):
    pass


def torch_loop(model, train, val, epochs, seed, lr=0.1, momentum=0.9, weight_decay=1e-3, step_size=2, gamma=0.5):
    """The reference: torch's SGD and StepLR on the batches the contract defines (epoch e's order is
    default_rng([seed, e]).permutation(n)); rows as fit documents them (means over examples)."""
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net.load_state_dict({k: torch.tensor(np.array(v)) for k, v in model.state_dict().items()})
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size, gamma)
    (x, y), (xv, yv) = train, val
    rows = []
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        lr_now, total, correct = opt.param_groups[0]["lr"], 0.0, 0
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            opt.zero_grad()
            out = net(torch.tensor(x[idx]))
            loss = torch.nn.functional.cross_entropy(out, torch.tensor(y[idx]))
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((out.argmax(1).numpy() == y[idx]).sum())
        sched.step()
        with torch.no_grad():
            out = net(torch.tensor(xv))
            val_loss = torch.nn.functional.cross_entropy(out, torch.tensor(yv)).item()
        rows.append({"epoch": epoch + 1, "lr": lr_now, "train_loss": total / len(x), "train_accuracy": correct / len(x),
                     "val_loss": val_loss, "val_accuracy": float((out.argmax(1).numpy() == yv).mean())})
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}, rows


def check_rows(history, expected):
    assert len(history) == len(expected)
    for got, want in zip(history, expected):
        assert set(got) == set(want) | {"seconds"}
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


@needs_torch
@pytest.mark.parametrize("form", ["tuple", "dataset", "loader"])
def test_fit_matches_a_torch_loop(form, single_threaded_torch):
    train, val = classification_data()
    model = mlp()
    weights, expected = torch_loop(model, train, val, epochs=3, seed=5)
    data = {"tuple": train, "dataset": st.data.ArrayDataset(*train),
            "loader": st.data.DataLoader(train, batch_size=BATCH, shuffle=True, seed=5)}[form]
    opt = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    history = st.train.fit(model, data, val, optimizer=opt, scheduler=st.optim.StepLR(opt, 2, 0.5), epochs=3,
                           batch_size=BATCH, seed=5, progress=False, log=quiet)
    check_rows(history, expected)
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, weights[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_regression_with_mse_equals_gradient_descent_by_hand():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((20, 1))).astype(np.float32)
    model = nn.Linear(3, 1, rng=0)
    w, b = model.weight.data.astype(np.float64), model.bias.data.astype(np.float64)
    losses = []
    for _ in range(4):                                             # full batch: one step per epoch
        error = x @ w.T + b - y                                    # (20, 1)
        losses.append(float((error ** 2).mean()))
        w, b = w - 0.1 * 2 * error.T @ x / 20, b - 0.1 * 2 * error.sum(axis=0) / 20
    history = st.train.fit(model, (x, y), (x, y), optimizer=st.optim.SGD(model.parameters(), lr=0.1), loss=F.mse_loss,
                           epochs=4, batch_size=20, shuffle=False, progress=False, log=quiet)
    assert [r["train_loss"] for r in history] == pytest.approx(losses, rel=1e-5)
    assert set(history[0]) == {"epoch", "lr", "train_loss", "val_loss", "seconds"}    # no accuracy for floats
    np.testing.assert_allclose(model.weight.data, w, rtol=1e-5)
    np.testing.assert_allclose(model.bias.data, b, rtol=1e-5)


@needs_torch
def test_one_cycle_steps_per_batch_as_torch(single_threaded_torch):
    train, _ = classification_data()
    model = mlp()
    opt = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    steps = 3 * math.ceil(N / BATCH)
    sched = st.optim.OneCycleLR(opt, max_lr=0.2, total_steps=steps)
    lrs = st.train.LRMonitor(interval="step")
    history = st.train.fit(model, train, optimizer=opt, scheduler=sched, epochs=3, batch_size=BATCH, seed=0,
                           callbacks=[lrs], progress=False, log=quiet)
    ref_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.2, total_steps=steps)
    expected = [ref_opt.param_groups[0]["lr"]]
    for _ in range(steps - 1):
        ref_opt.step()
        ref.step()
        expected.append(ref_opt.param_groups[0]["lr"])
    assert [row["lr"] for row in history] == pytest.approx(expected[::steps // 3])
    assert [s for s, _ in lrs.steps] == list(range(1, steps + 1))
    assert [v[0] for _, v in lrs.steps][:-1] == pytest.approx(expected[1:])


@needs_torch
def test_reduce_on_plateau_follows_the_monitored_value_as_torch(single_threaded_torch):
    train, val = classification_data()
    model = mlp()
    opt = st.optim.SGD(model.parameters(), lr=2.0)               # large: the validation loss wanders
    sched = st.optim.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = st.train.fit(model, train, val, optimizer=opt, scheduler=sched, epochs=6, batch_size=BATCH, seed=0,
                           progress=False, log=quiet)
    ref_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, factor=0.5, patience=0)
    for row, following in zip(history, history[1:] + [None]):
        ref.step(row["val_loss"])
        expected = ref_opt.param_groups[0]["lr"]
        assert (following["lr"] if following else opt.param_groups[0]["lr"]) == expected
    assert opt.param_groups[0]["lr"] < 2.0                         # it did reduce


def test_scheduler_interval_is_checked():
    model = mlp()
    opt = st.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval='metric' is for ReduceLROnPlateau"):
        st.train.fit(model, classification_data()[0], optimizer=opt, scheduler=st.optim.StepLR(opt, 1),
                     scheduler_interval="metric", epochs=1, progress=False, log=quiet)


def nan_at(call):
    calls = [0]

    def loss(outputs, targets):
        calls[0] += outputs.requires_grad
        value = F.cross_entropy(outputs, targets)
        return value * np.float32("nan") if outputs.requires_grad and calls[0] == call else value
    return loss


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_checkpoint(tmp_path):
    train, val = classification_data()
    model = mlp()
    opt = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(st.train.NonFiniteLoss, match=r"loss is nan at epoch 2, step 8 \(batch 3 of 5\)") as caught:
        st.train.fit(model, train, val, optimizer=opt, loss=nan_at(8), epochs=3, batch_size=BATCH, seed=0,
                     checkpoint_dir=tmp_path, checkpoint_every=1, progress=False, log=quiet)
    assert caught.value.epoch == 2 and caught.value.step == 8
    assert caught.value.checkpoint == str(tmp_path / "checkpoint.npz")
    state = st.train.load_checkpoint(tmp_path)
    assert state["position"]["step"] == 7
    for name, value in model.state_dict().items():                # the failing step changed nothing
        assert np.isfinite(value).all() and np.array_equal(value, state["model"][name]), name


def test_checkpoint_refuses_non_finite_weights_and_keeps_the_previous_file(tmp_path):
    train, _ = classification_data()
    model = mlp()

    def poison(epoch, logs):
        if epoch == 2:
            model[0].weight.data[0, 0] = np.inf
    with pytest.raises(st.train.NonFiniteLoss, match="0.weight is not finite"):
        st.train.fit(model, train, optimizer=st.optim.SGD(model.parameters(), lr=0.1), epochs=3, batch_size=BATCH,
                     seed=0, callbacks=[st.train.LambdaCallback(on_epoch_end=poison)], checkpoint_dir=tmp_path,
                     progress=False, log=quiet)
    state = st.train.load_checkpoint(tmp_path)
    assert state["position"]["epoch"] == 1 and np.isfinite(state["model"]["0.weight"]).all()


def test_interrupt_without_checkpoint_says_so(capsys):
    def interrupt(step, logs):
        if step == 2:
            raise KeyboardInterrupt
    model = mlp()
    with pytest.raises(st.train.TrainingInterrupted, match="no checkpoint saved") as caught:
        st.train.fit(model, classification_data()[0], optimizer=st.optim.SGD(model.parameters(), lr=0.1), epochs=1,
                     batch_size=BATCH, callbacks=[st.train.LambdaCallback(on_batch_end=interrupt)], progress=False)
    assert caught.value.checkpoint is None and "no checkpoint saved" in capsys.readouterr().out


@needs_torch
def test_evaluate_and_predict_against_torch(single_threaded_torch):
    _, (x, y) = classification_data()
    model = mlp()
    logits = model(x).data
    result = st.train.evaluate(model, (x, y), metrics=("accuracy", "top2"), batch_size=4)
    t = torch.tensor(logits.astype(np.float64))
    assert result["loss"] == pytest.approx(torch.nn.functional.cross_entropy(t, torch.tensor(y)).item(), rel=1e-6)
    assert result["accuracy"] == (logits.argmax(1) == y).mean()
    np.testing.assert_allclose(st.train.predict(model, x, batch_size=4), logits, rtol=1e-6)
    probs = st.train.predict(model, st.data.ArrayDataset(x, y), output="probabilities", batch_size=3)
    np.testing.assert_allclose(probs, torch.softmax(t, 1).numpy(), rtol=1e-5)
    classes, top = st.train.predict(model, (x, y), output="topk", k=2)
    ref = torch.topk(torch.softmax(t, 1), 2)
    np.testing.assert_array_equal(classes, ref.indices.numpy())
    np.testing.assert_allclose(top, ref.values.numpy(), rtol=1e-5)


def test_evaluate_restores_training_mode():
    model = nn.Sequential(nn.Linear(6, 3, rng=0), nn.Dropout(0.5, rng=0))
    st.train.evaluate(model, classification_data()[1])
    assert all(m.training for m in model.modules())


def test_progress_is_quiet_when_stdout_is_not_a_terminal(capsys):
    model = mlp()
    st.train.fit(model, classification_data()[0], optimizer=st.optim.SGD(model.parameters(), lr=0.1), epochs=1,
                 progress=None)
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("epoch   1/1  lr 0.1  train loss") and out.count("\n") == 1


def test_progress_bar_shows_loss_accuracy_and_speed(capsys):
    pytest.importorskip("tqdm")
    model = mlp()
    st.train.fit(model, classification_data()[0], optimizer=st.optim.SGD(model.parameters(), lr=0.1), epochs=1,
                 progress=True, log=quiet)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss" in err and "acc" in err and "img/s" in err


def strict_json(text: str):
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overflow that makes the loss NaN
def test_cli_exit_codes_for_nan_and_interrupt(tmp_path, capsys, monkeypatch):
    from strided.cli import main
    from strided.train import digits_job
    # divergence: the loss overflows within the first steps; no traceback, status 1, epoch and step named
    assert main(["train", "--epochs", "1", "--lr", "1e30", "--out", str(tmp_path / "nan"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "at epoch 1, step" in err and "Traceback" not in err

    class InterruptingCheckpoint(st.train.Checkpoint):
        def on_batch_end(self, step, logs=None):
            if step == 3:
                raise KeyboardInterrupt
    monkeypatch.setattr(digits_job, "Checkpoint", InterruptingCheckpoint)
    out = str(tmp_path / "int")
    assert main(["train", "--epochs", "1", "--out", out, "--no-progress"]) == 130
    captured = capsys.readouterr()
    assert "--resume" in captured.err and "saved" in captured.out
    assert st.train.load_checkpoint(out)["position"]["step"] == 3


@pytest.mark.slow
def test_cli_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    from strided.cli import main
    from strided.train import digits_job

    class InterruptingCheckpoint(st.train.Checkpoint):
        def on_batch_end(self, step, logs=None):
            super().on_batch_end(step, logs)
            if step == 50:                                    # in epoch 2 of 2
                raise KeyboardInterrupt
    common = ["train", "--epochs", "2", "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "straight")]) == 0
    monkeypatch.setattr(digits_job, "Checkpoint", InterruptingCheckpoint)
    assert main(common + ["--out", str(tmp_path / "int")]) == 130
    monkeypatch.setattr(digits_job, "Checkpoint", st.train.Checkpoint)
    assert main(common + ["--out", str(tmp_path / "int"), "--resume"]) == 0
    straight, resumed = (strict_json((tmp_path / d / "metrics.json").read_text()) for d in ("straight", "int"))
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert drop(resumed["history"]) == drop(straight["history"])
    assert resumed["final"]["test_loss"] == straight["final"]["test_loss"]
    a, b = (st.train.load_checkpoint(tmp_path / d)["model"] for d in ("straight", "int"))
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
