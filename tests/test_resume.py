"""Exact resume: a run stopped anywhere and continued from its checkpoint ends bit-identical to the
uninterrupted run (the oracle), dropout and a random data transform included.

Fast lane: stops in-process (an exception after step K, a real SIGINT in the forward pass, in a
callback and during validation). Slow lane: a subprocess killed with SIGKILL at random moments.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys

import numpy as np
import pytest

import strided as st
from resume_worker import EPOCHS, data, run, without_time

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = EPOCHS * 9


class ContractLoader:
    """A stand-in written from the loader contract alone: epoch e's order is default_rng([seed, e]),
    batch b's transform gets default_rng([seed, e, b, 1]); state = the next batch to produce."""

    def __init__(self, data, batch_size=32, shuffle=False, seed=None, transform=None):
        self.x, self.y = data
        self.batch_size, self.shuffle, self.seed, self.transform = batch_size, shuffle, seed, transform
        self.epoch, self.batch = 0, 0

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        epoch, start = self.epoch, self.batch
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))
        for b in range(start, len(self)):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.transform(self.x[index], np.random.default_rng([self.seed, epoch, b, 1]))
            self.epoch, self.batch = (epoch + 1, 0) if b + 1 == len(self) else (epoch, b + 1)
            yield x, self.y[index]

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state):
        self.seed, self.epoch, self.batch = state["seed"], state["epoch"], state["batch"]
        if self.batch == len(self):
            self.epoch, self.batch = self.epoch + 1, 0


def assert_bit_identical(a: dict, b: dict):
    assert list(a) == list(b)
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name


@pytest.fixture(scope="module", params=["DataLoader", "contract stand-in"])
def straight(request, tmp_path_factory):
    loader_class = None if request.param == "DataLoader" else ContractLoader
    model, history = run(str(tmp_path_factory.mktemp("straight")), loader_class=loader_class)
    return loader_class, model.state_dict(), without_time(history)


class Stop(Exception):
    pass


def stop_at(step):
    """A callback that ends the run (with ``Stop``) right after optimizer step ``step``."""
    def on_batch_end(s, logs):
        if s == step:
            raise Stop()
    return st.train.LambdaCallback(on_batch_end=on_batch_end)


@pytest.mark.parametrize("step", [1, 5, 9, 10, 27, STEPS - 1])
def test_stopped_after_any_step_resumes_bit_identical(straight, tmp_path, step):
    loader_class, params, history = straight
    with pytest.raises(Stop):                      # the checkpoint of step K-1 (or K-2) is the latest one
        run(str(tmp_path), loader_class=loader_class, callbacks=[stop_at(step)], every=1)
    model, resumed = run(str(tmp_path), resume=True, loader_class=loader_class)
    assert_bit_identical(model.state_dict(), params)
    assert without_time(resumed) == history


def interrupt_when(training: bool, call: int):
    """A loss that sends this process a real SIGINT at its ``call``-th call in training (a graph is
    recorded) or in evaluation (none is)."""
    calls = {True: 0, False: 0}

    def loss(outputs, targets):
        calls[outputs.requires_grad] += 1
        if outputs.requires_grad == training and calls[training] == call:
            os.kill(os.getpid(), signal.SIGINT)
        return st.nn.functional.cross_entropy(outputs, targets)
    return loss


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test: a runner started in the background inherits SIGINT
    ignored, and ``fit`` (by design) only takes over SIGINT where Python's default handler is set."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("where", ["forward", "validation", "critical section"])
def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_identical(straight, tmp_path, where, capsys, python_sigint):
    loader_class, params, history = straight
    callbacks, loss = [], st.nn.functional.cross_entropy
    if where == "forward":                          # mid-step: the forward of step 13 is thrown away
        loss = interrupt_when(True, 13)
    elif where == "validation":                     # after epoch 2's last step, before its row
        loss = interrupt_when(False, 2)
    else:                                           # inside on_batch_end: held until the step is complete
        callbacks = [st.train.LambdaCallback(
            on_batch_end=lambda s, logs: os.kill(os.getpid(), signal.SIGINT) if s == 20 else None)]
    with pytest.raises(st.train.TrainingInterrupted) as caught:
        run(str(tmp_path), loader_class=loader_class, callbacks=callbacks, every=1000, loss=loss, log=print)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.checkpoint == os.path.join(str(tmp_path), "checkpoint.npz")
    assert "resume_from=" in capsys.readouterr().out
    state = st.train.load_checkpoint(tmp_path)
    expected = {"forward": 12, "validation": 18, "critical section": 20}[where]
    assert state["position"]["step"] == expected
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler     # fit put the handler back
    model, resumed = run(str(tmp_path), resume=True, loader_class=loader_class)
    assert_bit_identical(model.state_dict(), params)
    assert without_time(resumed) == history


def test_checkpoint_holds_every_generator_and_the_loader_position(tmp_path):
    with pytest.raises(Stop):
        run(str(tmp_path), callbacks=[stop_at(12)], every=11)
    state = st.train.load_checkpoint(tmp_path)
    assert state["position"]["step"] == 11 and state["position"]["epoch"] == 1 and state["position"]["batch"] == 2
    assert state["loader"] == {"seed": 7, "epoch": 1, "batch": 2}
    names = sorted(name for entry in state["generators"] for name in entry["names"])
    assert names == ["2.rng"]                           # Dropout2d's own; the functional dropout's is the default
    assert state["default_generator"]["bit_generator"] == "PCG64"
    assert len(state["history"]) == 1 and state["metrics"] is not None


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    with pytest.raises(Stop):
        run(str(tmp_path), callbacks=[stop_at(3)], every=1)
    with pytest.raises((ValueError, KeyError)):
        other = st.nn.Sequential(st.nn.Linear(36, 4, rng=0))
        st.train.fit(other, data()[0], optimizer=st.optim.SGD(other.parameters(), lr=0.1), epochs=1,
                     resume_from=tmp_path, progress=False, log=None)


def _read_until(process, marker: str) -> bool:
    for line in process.stdout:
        if line.strip() == marker:
            return True
    return False


def uninterrupted_final(tmp_path, start) -> dict:
    """``final.npz`` of a worker process (``start(out)``) run from start to end in ``tmp_path/straight``."""
    straight_dir = tmp_path / "straight"
    straight_dir.mkdir()
    finished = start(straight_dir)
    assert finished.communicate()[0].rstrip().endswith("done") and finished.returncode == 0
    return st.load(straight_dir / "final.npz")


def finish_and_compare(out, start, expected: dict, context: str) -> None:
    """Resume the run in ``out`` to its end in a fresh worker; its weights and history must be ``expected``'s."""
    finisher = start(out, resume=True)
    _, err = finisher.communicate()
    assert finisher.returncode == 0, err
    got = st.load(out / "final.npz")
    assert_bit_identical(got["params"], expected["params"])
    assert got["history"] == expected["history"], context


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    """Kill a training subprocess with SIGKILL at random points (twice per trial, the second
    time while it runs resumed), resume in a fresh process, compare with an uninterrupted one."""
    script = os.path.join(HERE, "resume_worker.py")

    def start(out, resume=False):
        return subprocess.Popen([sys.executable, script, str(out)] + (["--resume"] if resume else []),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    expected = uninterrupted_final(tmp_path, start)
    seed = random.randrange(10 ** 6)
    chooser = random.Random(seed)
    for trial in range(3):
        out = tmp_path / f"killed{trial}"
        out.mkdir()
        first = chooser.randrange(1, STEPS - 8)
        kills = [first, chooser.randrange(first + 1, STEPS)]
        for index, step in enumerate(kills):
            process = start(out, resume=index > 0)
            seen = _read_until(process, f"step {step}")
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert process.returncode == -signal.SIGKILL or not seen, f"seed {seed}: the run ended before step {step}"
        finish_and_compare(out, start, expected, f"seed {seed}, kills after steps {kills}")


def test_resume_mid_epoch_with_another_batch_size_is_refused(tmp_path):
    with pytest.raises(Stop):
        run(str(tmp_path), callbacks=[stop_at(4)], every=1)
    with pytest.raises(ValueError, match="epoch of 9 batches, but this training loader has 5 per epoch"):
        run(str(tmp_path), resume=True,
            loader_class=lambda data, **kw: st.data.DataLoader(data, **{**kw, "batch_size": 16}))
