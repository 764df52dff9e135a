"""Training on a device: ``fit``/``evaluate``/``predict`` with ``device=``, checkpoints across devices,
``strided train/eval/predict --device``.

The device is the recording backend (``recording_backend.py``): a stand-in for a GPU whose arrays
are NumPy underneath, so a run on it must give exactly what the same run gives on the CPU. The
oracle is the CPU run (same seeds, same data, same order of operations): final weights, history,
evaluation and predictions must be equal, bit for bit. That no op reaches past the array namespace
is ``test_backend_seam.py``'s check; here the values and the device of the results are checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import recording_backend as rec
import strided as st
from strided import backend
from strided.cli import main
from strided.data.loader import batch_to_device
from strided.train.checkpoint import training_state
from strided.train.runs import merge_options, read_config

pytest.importorskip("sklearn")


@pytest.fixture(scope="module", autouse=True)
def on_the_numpy_path():
    """The recorded device stands for CuPy, whose arrays always take the array-namespace code, and
    its runs must equal the CPU's to the bit: the CPU runs here take that code too, not the
    compiled kernels (``strided.fast``), which round float32 differently."""
    from strided import fast
    with fast.disabled():
        yield


DEVICE = "recorded"
EPOCHS, BATCH, LR = 2, 32, 0.05


@pytest.fixture
def device():
    rec.install()
    yield DEVICE
    rec.uninstall()


@pytest.fixture(scope="module")
def digits():
    """300 of scikit-learn's 8x8 digits in [0, 1]: 240 to train, 60 to validate."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = (data.images[:300] / 16.0).astype(np.float32)[:, None]           # (300, 1, 8, 8)
    y = data.target[:300].astype(np.int64)                              # (300,)
    return (x[:240], y[:240]), (x[240:], y[240:])


def make(seed=0):
    model = st.models.create_model("digits_cnn", seed=seed)
    return model, st.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=1e-4)


def train(digits, place, epochs=EPOCHS, model=None, **kwargs):
    (train_part, val_part) = digits
    if model is None:
        model, optimizer = make()
    else:
        optimizer = st.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=1e-4)
    history = st.train.fit(model, train_part, val_part, optimizer=optimizer, epochs=epochs, batch_size=BATCH,
                           seed=0, log=None, device=place, metrics=("accuracy", "top3"), **kwargs)
    return model, optimizer, history


def timeless(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_on(model, place):
    for name, p in model.named_parameters():
        assert p.device == place, f"{name} is on {p.device}, not {place}"
        if place == DEVICE:
            assert isinstance(p.data, rec.RecordedArray), name


def assert_same_weights(reference, model):
    ref, got = dict(reference.named_parameters()), dict(model.named_parameters())
    assert list(ref) == list(got)
    for name in ref:
        assert np.array_equal(ref[name].data, backend.to_host(got[name].data)), name


@pytest.fixture(scope="module")
def cpu_run(digits):
    """The oracle: the same training on the CPU."""
    model, _, history = train(digits, "cpu")
    return model, history


# ----------------------------------------------------------------------------------- fit
def test_fit_on_the_device_gives_the_cpu_run(digits, cpu_run, device):
    reference, ref_history = cpu_run
    model, _, history = train(digits, device)
    assert_on(model, device)                                 # fit moved the model there and kept it there
    assert_same_weights(reference, model)
    assert timeless(history) == timeless(ref_history)
    assert all(type(v) is float or type(v) is int for row in history for v in row.values())   # host values


def test_fit_without_device_trains_where_the_model_is(digits, cpu_run, device):
    reference, ref_history = cpu_run
    model, _ = make()
    model.to(device)
    model, _, history = train(digits, None, model=model)
    assert_on(model, device)
    assert_same_weights(reference, model)
    assert timeless(history) == timeless(ref_history)


def test_a_model_on_the_device_can_be_moved_back_by_fit(digits, cpu_run, device):
    model, _ = make()
    model.to(device)
    model, _, _ = train(digits, "cpu", model=model)
    assert_on(model, "cpu")
    assert_same_weights(cpu_run[0], model)


def test_fit_moves_an_optimizer_state_of_earlier_steps_along(digits, device):
    (train_part, val_part) = digits
    runs = []
    for place in ("cpu", device):
        model, optimizer = make()
        st.train.fit(model, train_part, optimizer=optimizer, epochs=1, batch_size=BATCH, seed=0, log=None)
        st.train.fit(model, train_part, optimizer=optimizer, epochs=1, batch_size=BATCH, seed=1, log=None,
                     device=place)                            # momentum buffers made on the CPU, used on place
        buffers = [v for entry in optimizer.state.values() for v in entry.values() if hasattr(v, "shape")]
        assert buffers and all(backend.device_of(v) == place for v in buffers)
        runs.append(model)
    assert_same_weights(*runs)


def test_batches_move_to_the_device_with_their_dtypes(device):
    x, y = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([2, 0, 1])
    moved_x, moved_y = batch_to_device((x, y), device)
    assert isinstance(moved_x, rec.RecordedArray) and isinstance(moved_y, rec.RecordedArray)
    assert (moved_x.dtype, moved_y.dtype) == (np.float32, y.dtype)
    assert np.array_equal(backend.to_host(moved_x), x) and np.array_equal(backend.to_host(moved_y), y)
    same_x, same_y = batch_to_device((x, y), "cpu")
    assert same_x is x and same_y is y                        # on the CPU: nothing copied


# ----------------------------------------------------------------------------------- evaluate and predict
def test_evaluate_on_the_device_gives_host_results_equal_to_the_cpu(digits, cpu_run, device):
    reference = cpu_run[0]
    _, val_part = digits
    metrics = ("accuracy", "top3", "confusion_matrix")
    expected = st.train.evaluate(reference, val_part, metrics=metrics, batch_size=16)
    model, _ = make()
    model.load_state_dict(reference.state_dict())
    got = st.train.evaluate(model, val_part, metrics=metrics, batch_size=16, device=device)
    assert_on(model, device)
    assert sorted(got) == sorted(expected)
    for key in expected:
        if isinstance(expected[key], np.ndarray):
            assert type(got[key]) is np.ndarray and np.array_equal(got[key], expected[key]), key
        else:
            assert type(got[key]) is float and got[key] == expected[key], key


@pytest.mark.parametrize("output", ["logits", "probabilities", "topk"])
def test_predict_on_the_device_returns_host_arrays_equal_to_the_cpu(digits, cpu_run, device, output):
    reference = cpu_run[0]
    x = digits[1][0]
    expected = st.train.predict(reference, x, batch_size=16, output=output, k=3)
    model, _ = make()
    model.load_state_dict(reference.state_dict())
    model.to(device)
    got = st.train.predict(model, x, batch_size=16, output=output, k=3)         # device=None: the model's
    assert_on(model, device)
    pairs = zip(got, expected) if output == "topk" else [(got, expected)]
    for a, b in pairs:
        assert type(a) is np.ndarray and a.dtype == b.dtype and np.array_equal(a, b)


# ----------------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_of_a_device_run_holds_host_arrays(digits, device):
    model, optimizer, _ = train(digits, device, epochs=1)
    state = training_state(model, optimizer)
    arrays = list(state["model"].values())
    arrays += [v for entry in state["optimizer"]["state"].values() for v in entry.values() if hasattr(v, "shape")]
    assert arrays and all(type(a) is np.ndarray for a in arrays), {type(a).__name__ for a in arrays}
    assert_on(model, device)                                  # saving leaves the model where it is


@pytest.mark.parametrize("first, then", [(DEVICE, "cpu"), ("cpu", DEVICE)], ids=["device-to-cpu", "cpu-to-device"])
def test_a_run_resumes_on_the_other_device_exactly(digits, cpu_run, device, tmp_path, first, then):
    train(digits, first, epochs=1, checkpoint_dir=tmp_path)
    saved = st.train.load_checkpoint(tmp_path)
    assert all(type(a) is np.ndarray for a in saved["model"].values())
    model, optimizer, history = train(digits, then, epochs=EPOCHS, checkpoint_dir=tmp_path, resume_from=tmp_path)
    assert_on(model, then)
    for entry in optimizer.state.values() if isinstance(optimizer.state, dict) else ():
        for key, value in entry.items():
            if hasattr(value, "shape") and value.ndim:
                assert backend.device_of(value) == then, key       # the optimizer's buffers followed the model
    assert_same_weights(cpu_run[0], model)
    assert timeless(history) == timeless(cpu_run[1])


# ----------------------------------------------------------------------------------- the command line
def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


CLI_RUN = ["digits_cnn", "--data", "digits:8", "--epochs", 1, "--limit", 200, "--batch-size", 32, "--no-progress"]


@pytest.mark.parametrize("command", ["train", "eval", "predict"])
def test_cli_device_cuda_without_a_gpu_fails_first_with_the_install_hint(capsys, tmp_path, command):
    if st.cuda.is_available():
        pytest.skip("a GPU is usable here")
    out = tmp_path / "run"
    argv = {"train": ["train", *CLI_RUN, "--out", out], "eval": ["eval", out],
            "predict": ["predict", out, tmp_path / "x.npy"]}[command]
    rc, printed, err = cli(capsys, *argv, "--device", "cuda")
    assert rc != 0
    assert "--device cuda" in err and "strided[gpu]" in err, err
    assert not out.exists() and "epoch" not in printed             # nothing was done


def test_train_run_refuses_an_unusable_device_before_any_work(tmp_path):
    if st.cuda.is_available():
        pytest.skip("a GPU is usable here")
    from strided.train.digits_job import train_run
    with pytest.raises(RuntimeError, match=r"strided\[gpu\]"):
        train_run({"device": "cuda", "epochs": 1}, out_dir=str(tmp_path / "run"), log=None)
    assert not (tmp_path / "run").exists()


def test_cli_trains_on_the_device_as_on_the_cpu_and_records_it(capsys, tmp_path, device):
    cpu_dir, dev_dir = tmp_path / "cpu", tmp_path / "dev"
    assert cli(capsys, "train", *CLI_RUN, "--out", cpu_dir)[0] == 0
    rc, printed, _ = cli(capsys, "train", *CLI_RUN, "--out", dev_dir, "--device", device)
    assert rc == 0 and f"on {device}" in printed
    config = json.loads((dev_dir / "config.json").read_text())
    assert config["device"] == device
    assert json.loads((cpu_dir / "config.json").read_text())["device"] == "cpu"
    a, b = st.train.load_checkpoint(cpu_dir)["model"], st.train.load_checkpoint(dev_dir)["model"]
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (cpu_dir, dev_dir)]
    assert timeless(metrics[0]["history"]) == timeless(metrics[1]["history"])
    # eval and predict of the run on either device print the same
    results = [cli(capsys, "eval", dev_dir, "--format", "json", *extra) for extra in ([], ["--device", device])]
    assert results[0][0] == results[1][0] == 0 and results[0][1] == results[1][1]
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((3, 8, 8)).astype(np.float32))
    results = [cli(capsys, "predict", dev_dir, tmp_path / "x.npy", "--format", "json", *extra)
               for extra in ([], ["--device", device])]
    assert results[0][0] == results[1][0] == 0 and results[0][1] == results[1][1]
    # a resumed run takes the device given now (default cpu) and says so
    rc, _, err = cli(capsys, "train", *CLI_RUN[:3], "--epochs", 2, *CLI_RUN[5:], "--out", dev_dir, "--resume")
    assert rc == 0 and f"trained on {device} so far and continues on cpu" in err
    assert json.loads((dev_dir / "config.json").read_text())["device"] == "cpu"


def test_an_older_run_folder_without_a_device_reads_as_cpu(tmp_path):
    config = {"format": "strided-run/1", "model": "digits_cnn", "data": "digits:8", "epochs": 1, "batch_size": 32,
              "optimizer": "sgd", "lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4, "scheduler": "cosine",
              "augment": "none", "seed": 0, "limit": None, "image_size": None, "input_shape": [1, 8, 8],
              "classes": [str(d) for d in range(10)], "normalize": {"mean": [0.0], "std": [1.0]}, "resize": None}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert "device" not in read_config(str(tmp_path))                # accepted as it is
    options, changes, notes = merge_options({}, config, force=False, done=1)
    assert options["device"] == "cpu" and not changes and not notes
    options, changes, notes = merge_options({"device": "cuda:0"}, config, force=False, done=1)
    assert options["device"] == "cuda:0" and not changes and notes == [
        "--device cuda:0: the run trained on cpu so far and continues on cuda:0"]
