"""`strided train` beyond the main job: zoo models and spec strings on several data sets, run folders
that are protected, resumed exactly and extended, and the exit statuses.

Oracles: the files the test writes (IDX files built by hand), the library's own API called
independently (``load_digits_split``, ``create_model``, ``from_spec``), and hand checks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os

import numpy as np
import pytest

import strided as st
from strided.cli import main
from strided.data.idx import FASHION_CLASSES, FASHION_DIRS
from strided.train.loop import Run

SPEC = "conv3-4 maxpool FC-16 dropout FC-10"          # dropout: its generator must survive a resume too
QUICK = ["--limit", "200", "--no-progress"]


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def strict_json(path):
    def refuse(token):
        raise ValueError(f"{path}: non-strict JSON token {token}")
    with open(path) as handle:
        return json.load(handle, parse_constant=refuse)


def weights(run_dir):
    return st.train.load_checkpoint(run_dir)["model"]


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert list(wa) == list(wb)
    for name in wa:
        assert np.array_equal(wa[name], wb[name]), name


def write_idx(path, array):
    """An IDX file by hand: magic 0x0000 <type 0x08 uint8> <ndim>, sizes as big-endian u32, the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.tobytes())
    return str(path)


def bars(n_per_class, seed):
    """28x28 grey images of three classes: a horizontal bar, a vertical bar, a diagonal; noise around."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    rng.shuffle(y)
    x = (rng.random((len(y), 28, 28)) * 60).astype(np.uint8)
    for i, c in enumerate(y):
        if c == 0:
            x[i, 12:16, 4:24] = 255
        elif c == 1:
            x[i, 4:24, 12:16] = 255
        else:
            for k in range(4, 24):
                x[i, k, k - 1:k + 2] = 255
    return x, y


@pytest.fixture(scope="module")
def idx_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    x, y = bars(30, seed=0)
    xt, yt = bars(5, seed=1)
    return {"train": (write_idx(folder / "train-x", x), write_idx(folder / "train-y", y)),
            "test": (write_idx(folder / "test-x", xt), write_idx(folder / "test-y", yt)), "y": y, "yt": yt}


# ----------------------------------------------------------------------------------- models and data sets
def test_spec_string_on_digits_records_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    rc, printed, _ = cli(capsys, "train", SPEC, "--epochs", 1, "--out", out, "--no-progress")
    assert rc == 0 and "epoch   1/1" in printed and "test accuracy" in printed
    config = strict_json(out / "config.json")
    assert config["model"] == SPEC and config["data"] == "digits" and config["input_shape"] == [1, 32, 32]
    assert config["classes"] == [str(d) for d in range(10)] and config["epochs"] == 1
    assert (config["optimizer"], config["lr"], config["scheduler"], config["augment"]) == ("sgd", 0.02, "cosine",
                                                                                          "shift:2")
    # the recorded normalisation reproduces the main job's standardised digits exactly
    raw = st.data.digits(standardize=False)
    ref = st.data.load_digits_split(32)
    mean, std = config["normalize"]["mean"][0], config["normalize"]["std"][0]
    assert np.array_equal((raw.train.x - mean) / std, ref.x_train)
    assert np.array_equal((raw.test.x - mean) / std, ref.x_test)
    metrics = strict_json(out / "metrics.json")
    assert metrics["config"] == config and len(metrics["history"]) == 1 and metrics["finished"] is True
    assert sum(map(sum, metrics["final"]["confusion_matrix"])) == 360
    # the checkpoint holds exactly the spec's network for that input
    net = st.nn.from_spec(SPEC, (1, 32, 32), rng=0)
    net.load_state_dict(weights(out))                    # strict: every name and shape must match


def test_zoo_model_on_idx_with_held_out_split(tmp_path, capsys, idx_files):
    out = tmp_path / "run"
    images, labels = idx_files["train"]
    rc, _, err = cli(capsys, "train", "lenet5", "--data", f"idx:{images},{labels}", "--epochs", 1, "--out", out,
                     "--no-progress")
    assert rc == 0, err
    config = strict_json(out / "config.json")
    assert config["input_shape"] == [1, 28, 28] and config["classes"] == ["0", "1", "2"]
    assert config["data"] == f"idx:{images},{labels}"
    # 30 of each class: 10% of each (3) held out, by hand
    assert (config["train_size"], config["test_size"]) == (81, 9)
    matrix = np.array(strict_json(out / "metrics.json")["final"]["confusion_matrix"])
    assert matrix.sum(axis=1).tolist() == [3, 3, 3]
    # LeNet-5 was built for 28x28 inputs and three classes
    model = st.models.create_model("lenet5", num_classes=3, in_channels=1, input_size=28)
    model.load_state_dict(weights(out))


def test_spec_on_idx_with_test_files(tmp_path, capsys, idx_files):
    out = tmp_path / "run"
    spec = ",".join(idx_files["train"] + idx_files["test"])
    rc, _, err = cli(capsys, "train", "conv3-4 maxpool FC-3", "--data", f"idx:{spec}", "--epochs", 2, "--lr", 0.05,
                     "--optimizer", "adam", "--out", out, "--no-progress")
    assert rc == 0, err
    config = strict_json(out / "config.json")
    assert (config["train_size"], config["test_size"]) == (90, 15)
    assert (config["optimizer"], config["lr"], config["weight_decay"], config["momentum"]) == ("adam", 0.05, 0.0, None)
    history = strict_json(out / "metrics.json")["history"]
    assert [row["lr"] for row in history] == [0.05, pytest.approx(0.05 * (1 + math.cos(math.pi / 2)) / 2)]


@pytest.mark.skipif(not os.path.isdir(FASHION_DIRS[0]), reason="Fashion-MNIST is not installed here "
                                                             "(apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_subset(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", "lenet5", "--data", "fashion-mnist", "--epochs", 1, "--limit", 300,
                           "--out", out, "--no-progress")
    assert rc == 0, err
    config = strict_json(out / "config.json")
    assert config["classes"] == list(FASHION_CLASSES) and config["input_shape"] == [1, 28, 28]
    assert (config["train_size"], config["test_size"]) == (300, 300)
    matrix = np.array(strict_json(out / "metrics.json")["final"]["confusion_matrix"])
    assert matrix.sum(axis=1).tolist() == [30] * 10                 # a stratified subset: 30 of each class


def test_model_that_cannot_take_the_input(tmp_path, capsys, idx_files):
    images, labels = idx_files["train"]
    rc, _, err = cli(capsys, "train", "alexnet", "--data", f"idx:{images},{labels}", "--out", tmp_path / "a")
    assert rc == 2 and "'alexnet'" in err and "1x28x28" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("argv, named", [
    (["train", "--data", "fashon-mnist"], "'fashon-mnist'"),
    (["train", "--data", "mnist"], "mnist:DIR"),
    (["train", "--data", "idx:only-one-file"], "idx:TRAIN_IMAGES,TRAIN_LABELS"),
    (["train", "lenet", "--data", "digits"], "'lenet'"),
    (["train", "conv3-8 maxpool FC-10 softmax"], "softmax"),
    (["train", "conv3-8 maxpool FC-7"], "10 classes"),
    (["train", "--augment", "twist:3"], "'twist:3'"),
    (["train", "--epochs", "0"], "epochs must be a positive int, got 0"),
])
def test_usage_errors_exit_2_naming_the_culprit(argv, named, tmp_path, capsys):
    rc, _, err = cli(capsys, *argv, "--out", tmp_path / "x")
    assert rc == 2 and named in err and err.startswith("strided train: error: ")
    assert len(err.strip().splitlines()) == 1


def test_default_out_dir_names_model_and_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "train", "FC-10", "--epochs", 1, *QUICK)[0] == 0
    name = "spec-" + hashlib.sha1(b"FC-10").hexdigest()[:8] + "-digits"
    assert sorted(os.listdir(tmp_path / "runs")) == [name]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_loss_exits_1(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "FC-10", "--lr", 1e30, "--momentum", 0, "--epochs", 2, "--out", tmp_path / "d",
                     *QUICK)
    assert rc == 1 and "the loss is" in err and "Traceback" not in err
    assert not (tmp_path / "d" / "run.lock").exists()


# ----------------------------------------------------------------------------------- run folders
def test_out_is_protected_and_force_replaces(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(capsys, "train", "FC-10", "--epochs", 1, "--out", out, *QUICK)[0] == 0
    first = weights(out)
    rc, _, err = cli(capsys, "train", "FC-10", "--epochs", 1, "--seed", 5, "--out", out, *QUICK)
    assert rc == 2 and "already holds a finished run" in err and "--resume" in err and "--force" in err
    assert all(np.array_equal(first[k], v) for k, v in weights(out).items())          # untouched
    rc, _, err = cli(capsys, "train", "FC-10", "--epochs", 1, "--seed", 5, "--out", out, "--force", *QUICK)
    assert rc == 0, err
    assert strict_json(out / "config.json")["seed"] == 5
    assert not np.array_equal(first["1.weight"], weights(out)["1.weight"])


def test_running_run_is_never_touched(tmp_path, capsys):
    import socket
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    for extra in ([], ["--force"], ["--resume"]):
        rc, _, err = cli(capsys, "train", "FC-10", "--out", out, *QUICK, *extra)
        assert rc == 2 and "in use by process" in err
    # a lock left by a process that is gone is ignored
    (out / "run.lock").write_text(json.dumps({"pid": 2 ** 30, "host": socket.gethostname()}))
    assert cli(capsys, "train", "FC-10", "--epochs", 1, "--out", out, *QUICK)[0] == 0
    assert not (out / "run.lock").exists()


def test_resume_after_stop_is_exact(tmp_path, capsys):
    common = ["train", SPEC, "--epochs", 3, *QUICK]
    assert cli(capsys, *common, "--out", tmp_path / "straight")[0] == 0
    rc, _, err = cli(capsys, *common, "--out", tmp_path / "r", "--stop-after", 1)
    assert rc == 0 and "stopped after 1 of 3 epochs" in err and "--resume" in err
    rc, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "r", "--no-progress")   # options from the run
    assert rc == 0, err
    assert_same_weights(tmp_path / "straight", tmp_path / "r")


def test_interrupt_mid_epoch_exits_130_and_resumes_exactly(tmp_path, capsys, monkeypatch):
    common = ["train", SPEC, "--epochs", 2, *QUICK]
    assert cli(capsys, *common, "--out", tmp_path / "straight")[0] == 0
    step = Run._step

    def ctrl_c_at_step_10(self, *args):
        if self.step == 10:                      # epoch 2, batch 4 of 7
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(Run, "_step", ctrl_c_at_step_10)
    rc, _, err = cli(capsys, *common, "--out", tmp_path / "r")
    assert rc == 130 and f"strided train --resume --out {tmp_path / 'r'}" in err
    assert not (tmp_path / "r" / "run.lock").exists() and not (tmp_path / "r" / "metrics.json").exists()
    monkeypatch.undo()
    rc, printed, err = cli(capsys, *common, "--out", tmp_path / "r", "--resume")
    assert rc == 0 and "epoch 2 continues at batch 4" in printed, err
    assert_same_weights(tmp_path / "straight", tmp_path / "r")


def test_resume_with_more_epochs_replans_the_schedule(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(capsys, "train", "FC-10", "--epochs", 2, "--out", out, *QUICK)[0] == 0
    before = strict_json(out / "metrics.json")["history"]
    rc, _, err = cli(capsys, "train", "FC-10", "--epochs", 4, "--resume", "--out", out, *QUICK)
    assert rc == 0 and "--epochs 4" in err and "replanned over 4 epochs" in err
    history = strict_json(out / "metrics.json")["history"]
    assert len(history) == 4 and history[:2] == before
    # epochs 3 and 4 follow the cosine planned over 4 epochs (never the finished schedule's lr 0)
    for row in history[2:]:
        assert row["lr"] == pytest.approx(0.02 * (1 + math.cos(math.pi * (row["epoch"] - 1) / 4)) / 2)
    assert strict_json(out / "config.json")["epochs"] == 4
    rc, printed, _ = cli(capsys, "train", "--resume", "--out", out, "--no-progress")
    assert rc == 0 and "nothing to train" in printed
    rc, _, err = cli(capsys, "train", "--resume", "--epochs", 3, "--out", out, "--no-progress")
    assert rc == 2 and "already trained 4 epochs" in err


def test_resume_reports_differing_options_and_force_applies_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(capsys, "train", "FC-10", "--scheduler", "none", "--epochs", 1, "--out", out, *QUICK)[0] == 0
    rc, _, err = cli(capsys, "train", "FC-10", "--epochs", 2, "--lr", 0.1, "--resume", "--out", out, *QUICK)
    assert rc == 0 and "--lr 0.1 differs from the run's 0.02; keeping 0.02" in err
    assert [row["lr"] for row in strict_json(out / "metrics.json")["history"]] == [0.02, 0.02]
    rc, _, err = cli(capsys, "train", "FC-10", "--epochs", 3, "--lr", 0.1, "--resume", "--force", "--out", out,
                     *QUICK)
    assert rc == 0 and "--lr 0.1 replaces the run's 0.02" in err
    assert [row["lr"] for row in strict_json(out / "metrics.json")["history"]] == [0.02, 0.02, 0.1]
    rc, _, err = cli(capsys, "train", "FC-10", "--epochs", 4, "--optimizer", "adam", "--resume", "--force",
                     "--out", out, *QUICK)
    assert rc == 2 and "--optimizer adam" in err and "keeps its optimizer" in err


def test_default_job_still_runs_from_no_arguments(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, printed, _ = cli(capsys, "train", "--epochs", 1, "--no-progress")
    assert rc == 0 and "epoch   1/1" in printed
    config = strict_json(tmp_path / "runs" / "lenet5-digits" / "config.json")
    assert (config["model"], config["data"], config["augment"], config["batch_size"]) == ("lenet5", "digits",
                                                                                          "shift:2", 32)
    assert {"checkpoint.npz", "metrics.json"} <= set(os.listdir(tmp_path / "runs" / "lenet5-digits"))


def test_image_folder_with_held_out_split_and_image_size(tmp_path, capsys):
    from PIL import Image
    rng = np.random.default_rng(0)
    for label, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(np.array(colour) + rng.integers(-30, 30, (12, 10, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="RGB").save(tmp_path / "pics" / label / f"{i}.png")
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", "conv3-4 maxpool FC-2", "--data", f"folder:{tmp_path / 'pics'}", "--epochs", 1,
                     "--out", out, "--no-progress")
    assert rc == 0, err
    config = strict_json(out / "config.json")
    assert config["input_shape"] == [3, 12, 10] and config["classes"] == ["cat", "dog"]   # the first image's size
    assert (config["train_size"], config["test_size"], config["augment"]) == (18, 2, "crop:4,flip")
    rc, _, err = cli(capsys, "train", "conv3-4 maxpool FC-2", "--data", f"folder:{tmp_path / 'pics'}", "--epochs", 1,
                     "--image-size", 16, "--out", tmp_path / "r16", "--no-progress")
    assert rc == 0 and strict_json(tmp_path / "r16" / "config.json")["input_shape"] == [3, 16, 16]


@pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None, reason='needs pip install "strided[mnist1d]"')
def test_spec_on_one_dimensional_signals(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", "conv5-8 maxpool FC-10", "--data", "mnist1d", "--epochs", 1, "--out", out,
                     *QUICK)
    assert rc == 0, err
    config = strict_json(out / "config.json")
    assert config["input_shape"] == [1, 40] and config["augment"] == "none"
    net = st.nn.from_spec("conv5-8 maxpool FC-10", (1, 40))
    assert type(net[0]).__name__ == "Conv1d"
    net.load_state_dict(weights(out))


def test_zoo_model_on_cifar10_batches(tmp_path, capsys):
    from test_data_sets import write_cifar10
    names, _ = write_cifar10(tmp_path / "cifar", per_batch=8)                 # 40 training, 8 test images
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", "resnet20", "--data", f"cifar10:{tmp_path / 'cifar'}", "--epochs", 1,
                     "--batch-size", 20, "--out", out, "--no-progress")
    assert rc == 0, err
    config = strict_json(out / "config.json")
    assert config["classes"] == names and config["input_shape"] == [3, 32, 32]
    assert (config["train_size"], config["test_size"], config["augment"]) == (40, 8, "crop:4,flip")
    assert len(config["normalize"]["mean"]) == 3
    rc, printed, _ = cli(capsys, "eval", out, "--format", "json")
    assert rc == 0 and json.loads(printed)["examples"] == 8
    st.models.create_model("resnet20", num_classes=10, in_channels=3).load_state_dict(weights(out))
