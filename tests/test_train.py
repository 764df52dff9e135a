"""The main job end to end: accuracy, determinism, checkpoints that resume exactly, the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from strided.cli import main
from strided.data import ArrayLoader, load_digits_split, random_shift
from strided.train.digits_job import CHECKPOINT, METRICS, run_digits_job


def quiet(*args):
    pass


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, run_digits_job(seed=0, out_dir=str(out), progress=False, log=quiet)


@pytest.mark.slow
def test_default_job_reaches_97_percent(full_run):
    out, metrics = full_run
    assert metrics["final"]["test_accuracy"] >= 0.97
    on_disk = json.loads((out / METRICS).read_text())
    assert on_disk["final"]["test_accuracy"] == metrics["final"]["test_accuracy"]
    assert len(on_disk["history"]) == on_disk["config"]["epochs"] == 20
    assert os.path.exists(out / CHECKPOINT)


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path):
    a = run_digits_job(epochs=2, seed=3, out_dir=str(tmp_path / "a"), progress=False, log=quiet)
    b = run_digits_job(epochs=2, seed=3, out_dir=str(tmp_path / "b"), progress=False, log=quiet)
    c = run_digits_job(epochs=2, seed=4, out_dir=str(tmp_path / "c"), progress=False, log=quiet)
    key = [(r["train_loss"], r["test_loss"]) for r in a["history"]]
    assert key == [(r["train_loss"], r["test_loss"]) for r in b["history"]]
    assert key != [(r["train_loss"], r["test_loss"]) for r in c["history"]]


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    straight = run_digits_job(epochs=3, seed=1, out_dir=str(tmp_path / "s"), progress=False, log=quiet)
    # an interrupted run: stop after 2 epochs of a 3-epoch schedule, then resume
    run_digits_job(epochs=3, seed=1, out_dir=str(tmp_path / "r"), progress=False, log=quiet,
                   stop_after=2)
    resumed = run_digits_job(epochs=3, seed=1, out_dir=str(tmp_path / "r"), resume=True, progress=False, log=quiet)
    assert [r["test_loss"] for r in resumed["history"]] == [r["test_loss"] for r in straight["history"]]
    assert resumed["final"]["test_accuracy"] == straight["final"]["test_accuracy"]


def test_data_split_is_stratified_and_upsampled():
    data = load_digits_split(size=32)
    assert data.x_train.shape == (1437, 1, 32, 32) and data.x_test.shape == (360, 1, 32, 32)
    assert data.x_train.dtype == np.float32
    # every class keeps its share (stratified): 1,797 digits, about 180 per class, 20% in test
    counts = np.bincount(data.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    # nearest-neighbour upsampling: each source pixel is a constant 4x4 block
    blocks = data.x_test[:, 0].reshape(360, 8, 4, 8, 4)
    assert np.all(blocks == blocks[:, :, :1, :, :1])


def test_random_shift_moves_each_image_by_its_own_offset():
    images = np.zeros((3, 1, 6, 6), dtype=np.float32)
    images[:, 0, 2, 3] = 1.0
    shifted = random_shift(images, 1, np.random.default_rng(0))
    positions = [tuple(np.argwhere(s[0])[0]) for s in shifted]
    for row, col in positions:
        assert abs(row - 2) <= 1 and abs(col - 3) <= 1
    assert shifted.sum() == 3 and shifted.dtype == np.float32


def test_loader_covers_every_example_once_per_epoch():
    x = np.arange(10, dtype=np.float32)[:, None]
    loader = ArrayLoader(x, np.arange(10), batch_size=4, shuffle=True, rng=0)
    seen = np.concatenate([yb for _, yb in loader])
    assert len(loader) == 3 and sorted(seen) == list(range(10))


def test_cli_train_writes_outputs(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--seed", "0", "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/1" in printed and "test accuracy" in printed
    assert (tmp_path / METRICS).exists() and (tmp_path / CHECKPOINT).exists()


def test_cli_rejects_bad_options(tmp_path, capsys):
    assert main(["train", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "epochs must be a positive int, got 0" in capsys.readouterr().err
