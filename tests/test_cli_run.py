"""`strided eval`, `strided predict` and `strided datasets`, and the pieces under them (data specs,
fixed splits, augmentation words).

Oracles: the model rebuilt here through the API (``from_spec`` + the checkpoint's weights), the
main job's own data (``load_digits_split``), images the test writes with Pillow and reads back
itself, and hand counts.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

import strided as st
from strided.cli import main
from strided.data.idx import FASHION_DIRS
from strided.data.sources import DataSpecError, parse_data_spec, stratified_split, stratified_subset
from strided.train.job import augment_text, parse_augment

SPEC = "conv3-4 maxpool FC-10"


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", SPEC, "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def oracle(run_dir):
    """The run's model built through the API, and the main job's standardised digits."""
    config = json.loads((run_dir / "config.json").read_text())
    model = st.nn.from_spec(SPEC, tuple(config["input_shape"]), rng=0)
    model.load_state_dict(st.train.load_checkpoint(run_dir)["model"])
    return model, config, st.data.load_digits_split(32)


def test_eval_prints_accuracy_and_named_confusion_matrix(run_dir, oracle, capsys):
    model, config, data = oracle
    predicted = st.train.predict(model, data.x_test).argmax(axis=1)
    matrix = np.zeros((10, 10), np.int64)
    np.add.at(matrix, (data.y_test, predicted), 1)                      # rows true, columns predicted
    rc, out, _ = cli(capsys, "eval", run_dir, "--format", "json")
    report = json.loads(out)
    assert rc == 0 and report["examples"] == 360 and report["classes"] == config["classes"]
    assert report["confusion_matrix"] == matrix.tolist()
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / 360)
    top5 = np.argsort(-st.train.predict(model, data.x_test), axis=1)[:, :5]
    assert report["top5_accuracy"] == pytest.approx(np.mean((top5 == data.y_test[:, None]).any(axis=1)))
    rc, out, _ = cli(capsys, "eval", run_dir)
    assert rc == 0 and f"accuracy {np.trace(matrix) / 360:.4f}" in out and "top-5" in out
    table = out[out.index("true \\ predicted"):].splitlines()
    assert table[0].split()[3:] == config["classes"]                     # header: the predicted classes by name
    for name, row, line in zip(config["classes"], matrix, table[1:]):
        assert line.split() == [name] + [str(v) for v in row]


def test_eval_on_another_data_spec_and_split(run_dir, oracle, capsys):
    model, _, data = oracle
    rc, out, _ = cli(capsys, "eval", run_dir, "--data", "digits", "--split", "train", "--format", "json")
    report = json.loads(out)
    expected = np.mean(st.train.predict(model, data.x_train).argmax(axis=1) == data.y_train)
    assert rc == 0 and report["examples"] == 1437 and report["accuracy"] == pytest.approx(expected)
    rc, _, err = cli(capsys, "eval", run_dir, "--data", "digits:16")
    assert rc == 2 and "1x16x16" in err and "1x32x32" in err


def digit_png(path, image8):
    """An 8x8 digit (0..16) written as a 32x32 grey PNG by pixel repetition, as the data set upsamples."""
    from PIL import Image
    pixels = np.round(image8 * 255 / 16).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    Image.fromarray(pixels, mode="L").save(path)
    return path


def test_predict_png_and_npy_match_the_api(run_dir, oracle, tmp_path, capsys):
    from PIL import Image
    from sklearn.datasets import load_digits
    model, config, _ = oracle
    images = load_digits().images
    png = digit_png(tmp_path / "seven.png", images[7])
    batch = (images[10:13] / 16).astype(np.float32).repeat(4, 1).repeat(4, 2)      # (3, 32, 32) in [0, 1]
    np.save(tmp_path / "three.npy", batch)
    mean, std = config["normalize"]["mean"][0], config["normalize"]["std"][0]
    x_png = (np.asarray(Image.open(png), np.float32) / 255 - mean) / std           # read back independently
    expected = st.train.predict(model, np.concatenate([x_png[None, None], ((batch - mean) / std)[:, None]]),
                                output="topk", k=3)
    rc, out, _ = cli(capsys, "predict", run_dir, png, tmp_path / "three.npy", "--format", "json")
    rows = json.loads(out)
    assert rc == 0 and [r["input"] for r in rows] == [str(png)] + [f"{tmp_path / 'three.npy'}[{i}]" for i in range(3)]
    for row, classes, probs in zip(rows, *expected):
        assert [t["class"] for t in row["top"]] == [config["classes"][c] for c in classes]
        assert [t["probability"] for t in row["top"]] == pytest.approx(probs.tolist(), rel=1e-5)
    small = tmp_path / "seven-8x8.png"                                   # resized by repetition, as the digits were
    Image.fromarray(np.round(images[7] * 255 / 16).astype(np.uint8), mode="L").save(small)
    rc, out, _ = cli(capsys, "predict", run_dir, small, "--format", "json")
    assert rc == 0 and json.loads(out)[0]["top"] == rows[0]["top"]
    rc, out, _ = cli(capsys, "predict", run_dir, png, "--top", 1)
    assert rc == 0 and out.split() == [f"{png}:", config["classes"][expected[0][0, 0]], f"{expected[1][0, 0]:.1%}"]


def test_predict_normalized_arrays_and_bad_inputs(run_dir, oracle, tmp_path, capsys):
    model, _, data = oracle
    np.save(tmp_path / "x.npy", data.x_test[:4])                      # (4, 1, 32, 32), already standardised
    rc, out, _ = cli(capsys, "predict", run_dir, tmp_path / "x.npy", "--normalized", "--format", "json")
    assert rc == 0
    assert [r["top"][0]["index"] for r in json.loads(out)] == st.train.predict(model, data.x_test[:4]).argmax(1).tolist()
    np.save(tmp_path / "bad.npy", np.zeros((5, 7)))
    rc, _, err = cli(capsys, "predict", run_dir, tmp_path / "bad.npy")
    assert rc == 2 and "5x7" in err and "1x32x32" in err
    rc, _, err = cli(capsys, "predict", run_dir, tmp_path / "missing.png")
    assert rc == 2 and "missing.png" in err
    rc, _, err = cli(capsys, "eval", tmp_path)
    assert rc == 2 and "config.json" in err


def test_eval_and_predict_keep_freed_memory(run_dir, tmp_path, capsys, monkeypatch):
    import strided.memory
    calls = []
    monkeypatch.setattr(strided.memory, "keep_freed_memory", lambda *a, **k: calls.append(1) or True)
    np.save(tmp_path / "one.npy", np.zeros((1, 32, 32), np.float32))
    assert cli(capsys, "eval", run_dir)[0] == 0
    assert cli(capsys, "predict", run_dir, tmp_path / "one.npy")[0] == 0
    assert cli(capsys, "datasets")[0] == 0
    assert len(calls) == 2                                              # eval and predict; not datasets


def test_datasets_lists_what_is_here(capsys):
    rc, out, _ = cli(capsys, "datasets", "--format", "json")
    entries = {e["name"]: e for e in json.loads(out)}
    assert rc == 0 and set(entries) >= {"digits", "mnist1d", "fashion-mnist", "mnist", "idx", "cifar10", "folder"}
    assert entries["digits"]["available"] == (importlib.util.find_spec("sklearn") is not None)
    assert entries["mnist1d"]["available"] == (importlib.util.find_spec("mnist1d") is not None)
    assert entries["fashion-mnist"]["available"] == os.path.isdir(FASHION_DIRS[0])
    if entries["fashion-mnist"]["available"]:
        assert (entries["fashion-mnist"]["train"], entries["fashion-mnist"]["test"]) == (60000, 10000)
    rc, out, _ = cli(capsys, "datasets")
    assert rc == 0 and "1,437 train / 360 test" in out and "--data idx:TRAIN_IMAGES,TRAIN_LABELS" in out
    assert ("apt-get install dataset-fashion-mnist" in out) != entries["fashion-mnist"]["available"]


# ----------------------------------------------------------------------------------- the pieces
def test_data_specs_parse_and_refuse():
    assert parse_data_spec("fashion_mnist").text == "fashion-mnist"
    assert parse_data_spec("digits:32").text == "digits" and parse_data_spec("digits:16").args == ("16",)
    assert parse_data_spec("idx:a,b").args == (os.path.abspath("a"), os.path.abspath("b"))
    for bad, named in [("cifar", "'cifar'"), ("digits:12", "multiple of 8"), ("idx:a,b,c", "2 or 4 files"),
                       ("folder", "folder:DIR"), ("mnist1d:x", "takes no argument")]:
        with pytest.raises(DataSpecError, match=named):
            parse_data_spec(bad)


def test_fixed_stratified_split_and_subset_by_hand():
    y = np.array([0] * 30 + [1] * 10 + [2] * 1)
    keep, held = stratified_split(y)
    assert np.bincount(y[held], minlength=3).tolist() == [3, 1, 0]          # 10% of 30, of 10; a lone one stays
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(41))
    assert np.array_equal(held, stratified_split(y)[1])                     # fixed
    picked = stratified_subset(np.repeat(np.arange(4), [50, 30, 15, 5]), 20)
    assert np.bincount(np.repeat(np.arange(4), [50, 30, 15, 5])[picked]).tolist() == [10, 6, 3, 1]


def test_augment_words():
    assert parse_augment("shift:3,flip,rotate:15,crop:2") == [("shift", 3), ("flip", 0.5), ("rotate", 15.0),
                                                              ("crop", 2)]
    assert augment_text(parse_augment(" none ")) == "none" and augment_text(parse_augment("flip:0.25")) == "flip:0.25"
    with pytest.raises(ValueError, match="'blur'"):
        parse_augment("blur")
