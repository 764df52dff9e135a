"""Data sets: IDX files the test writes (and the real Fashion-MNIST when installed), CIFAR batches
written in the Python 2 pickle format the real files have, restricted unpickling, image folders,
digits against scikit-learn and MNIST-1D against the mnist1d package."""

from __future__ import annotations

import gzip
import os
import pickle
import random
import struct

import numpy as np
import pytest

import strided as st
from strided.data import cifar10, cifar100, fashion_mnist, idx, mnist, read_idx
from strided.errors import ShapeError

FASHION = "/usr/share/datasets/fashion-mnist"


# ------------------------------------------------------------------------------------------------ IDX
def write_idx(path, array, code=0x08, gz=False, tail=b""):
    """An IDX file written by hand: 0x0000, type code, ndim, big-endian sizes, big-endian values."""
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.asarray(array, types[code]).tobytes() + tail
    with open(path, "wb") as handle:
        handle.write(gzip.compress(raw) if gz else raw)
    return str(path)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                         (0x0D, np.float32), (0x0E, np.float64)])
def test_read_idx_every_type(tmp_path, gz, code, dtype):
    values = (np.arange(24).reshape(2, 3, 4) * (1 if dtype == np.uint8 else -3)).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", values, code, gz))
    assert got.dtype == dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_read_idx_bytes_by_hand(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE]))   # int16 [258, -2]
    np.testing.assert_array_equal(read_idx(path), [258, -2])


def test_idx_dataset_scales_and_adds_the_channel_axis(tmp_path):
    pixels = np.array([[[0, 255], [51, 102]], [[255, 255], [0, 0]], [[1, 2], [3, 4]]], np.uint8)
    ds = idx(write_idx(tmp_path / "x", pixels, gz=True), write_idx(tmp_path / "y", np.array([3, 0, 9], np.uint8)))
    assert ds.x.shape == (3, 1, 2, 2) and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_allclose(ds.x[0, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    assert ds.y.tolist() == [3, 0, 9]


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-5], "is truncated: shape \\(3, 2, 2\\) of uint8 needs 12 bytes"),
    (lambda raw: raw + b"\x00", "longer than its header says"),
    (lambda raw: b"\x01\x00" + raw[2:], "not an IDX file: magic number 0x01000803"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "not an IDX file: magic number 0x00000703"),
    (lambda raw: raw[:9], "truncated: its header needs 16 bytes"),
    (lambda raw: gzip.compress(raw)[:-10], "damaged gzip file"),
])
def test_read_idx_refuses_damaged_files(tmp_path, damage, message):
    good = write_idx(tmp_path / "good", np.zeros((3, 2, 2), np.uint8))
    bad = tmp_path / "bad-images-idx3-ubyte"
    with open(good, "rb") as handle:
        bad.write_bytes(damage(handle.read()))
    with pytest.raises(ValueError, match=message) as info:
        read_idx(bad)
    assert str(bad) in str(info.value)


def test_idx_refuses_different_counts(tmp_path):
    images = write_idx(tmp_path / "imgs", np.zeros((3, 2, 2), np.uint8))
    labels = write_idx(tmp_path / "labs", np.zeros(4, np.uint8))
    with pytest.raises(ShapeError, match="has 3 images but .*labs has 4 labels"):
        idx(images, labels)


def write_mnist_folder(folder, n_train=5, n_test=3, gz=True):
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), x, gz=gz)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), y, gz=gz)
        arrays[prefix] = (x, y)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_the_four_standard_files(tmp_path, gz):
    arrays = write_mnist_folder(tmp_path, gz=gz)
    data = mnist(tmp_path)
    assert data.classes == tuple("0123456789") and data.num_classes == 10 and data.input_shape == (1, 28, 28)
    assert len(data.train) == 5 and len(data.test) == 3
    np.testing.assert_allclose(data.test.x[:, 0], arrays["t10k"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.train.y, arrays["train"][1])
    labelled = fashion_mnist(tmp_path)
    assert labelled.classes[0] == "T-shirt/top" and labelled.classes[9] == "Ankle boot"


def test_missing_files_say_where_and_how(tmp_path):
    write_mnist_folder(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist(tmp_path)
    text = str(info.value)
    assert str(tmp_path) in text and "missing t10k-labels-idx1-ubyte" in text
    assert "apt-get install dataset-fashion-mnist" in text and "train-images-idx3-ubyte[.gz]" in text


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="needs Debian's dataset-fashion-mnist: "
                                                       "apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist():
    data = fashion_mnist()
    assert data.train.x.shape == (60000, 1, 28, 28) and data.test.x.shape == (10000, 1, 28, 28)
    assert data.train.x.dtype == np.float32 and data.train.x.min() == 0.0 and data.train.x.max() == 1.0
    assert np.bincount(data.train.y).tolist() == [6000] * 10
    assert np.bincount(data.test.y).tolist() == [1000] * 10
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as handle:   # the plain reader's view
        raw = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(10000, 28, 28)
    np.testing.assert_allclose(data.test.x[::997, 0] * 255, raw[::997], atol=1e-4)
    assert data.train.y[:5].tolist() == [9, 0, 0, 3, 0] and data.test.y[:5].tolist() == [9, 2, 1, 1, 6]


# ---------------------------------------------------------------------------------------------- CIFAR
class Python2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for the CIFAR files: protocol 2, strings as BINSTRING,
    NumPy 1's global names (numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_str2(self, obj):
        header = (pickle.SHORT_BINSTRING + bytes([len(obj)]) if len(obj) < 256
                  else pickle.BINSTRING + struct.pack("<i", len(obj)))
        self.write(header + obj)
        self.memoize(obj)

    dispatch[bytes] = save_str2

    def save_global(self, obj, name=None):
        names = {np.ndarray: "numpy\nndarray", np.dtype: "numpy\ndtype"}
        text = names.get(obj, "numpy.core.multiarray\n_reconstruct" if obj.__name__ == "_reconstruct" else None)
        assert text is not None, obj
        self.write(pickle.GLOBAL + text.encode() + b"\n")
        self.memoize(obj)


def write_pickle2(path, obj):
    with open(path, "wb") as handle:
        Python2Pickler(handle, protocol=2).dump(obj)


def write_cifar10(folder, per_batch=4):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_pickle2(os.path.join(folder, "batches.meta"), {b"label_names": [n.encode() for n in names],
                                                         b"num_cases_per_batch": per_batch, b"num_vis": 3072})
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        write_pickle2(os.path.join(folder, name), {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                                                   b"filenames": [b"x.png"] * per_batch})
        batches[name] = (data, labels)
    return names, batches


def test_the_written_batches_have_the_real_files_globals(tmp_path):
    import pickletools
    write_cifar10(tmp_path)
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops((tmp_path / "data_batch_1").read_bytes())]
    assert ("GLOBAL", "numpy.core.multiarray _reconstruct") in ops and ("SHORT_BINSTRING", "data") in ops
    assert {arg for name, arg in ops if name == "GLOBAL"} == {"numpy.core.multiarray _reconstruct",
                                                              "numpy ndarray", "numpy dtype"}


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10_reads_python_batches(tmp_path, nested):
    folder = tmp_path / "cifar-10-batches-py" if nested else tmp_path
    names, batches = write_cifar10(folder)
    data = cifar10(tmp_path)
    assert data.classes == tuple(names) and data.input_shape == (3, 32, 32)
    assert data.train.x.shape == (20, 3, 32, 32) and data.test.x.shape == (4, 3, 32, 32)
    raw, labels = batches["data_batch_2"]                                 # images 4..7 of the training set
    image = data.train.x[5]                                               # the second image of batch 2
    np.testing.assert_allclose(image[0] * 255, raw[1, :1024].reshape(32, 32), atol=1e-4)    # red plane
    np.testing.assert_allclose(image[2] * 255, raw[1, 2048:].reshape(32, 32), atol=1e-4)    # blue plane
    assert data.train.y[4:8].tolist() == labels and data.test.y.tolist() == batches["test_batch"][1]


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(2)
    fine, coarse = [f"f{i}".encode() for i in range(100)], [f"c{i}".encode() for i in range(20)]
    write_pickle2(tmp_path / "meta", {b"fine_label_names": fine, b"coarse_label_names": coarse})
    written = {}
    for name, n in (("train", 6), ("test", 2)):
        data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        f, c = [int(v) for v in rng.integers(0, 100, n)], [int(v) for v in rng.integers(0, 20, n)]
        write_pickle2(tmp_path / name, {b"data": data, b"fine_labels": f, b"coarse_labels": c,
                                        b"filenames": [b"a.png"] * n, b"batch_label": b"b"})
        written[name] = (data, f, c)
    data = cifar100(tmp_path)
    assert data.num_classes == 100 and data.classes[7] == "f7" and data.train.y.tolist() == written["train"][1]
    assert cifar100(tmp_path, labels="coarse").test.y.tolist() == written["test"][2]
    np.testing.assert_allclose(data.test.x.reshape(2, -1) * 255, written["test"][0], atol=1e-4)


class RunsACommand:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_a_foreign_global_is_refused_and_never_called(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "data_batch_3", "wb") as handle:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [RunsACommand(marker)]}, handle, protocol=4)
    with pytest.raises(ValueError, match=r"data_batch_3 is not a CIFAR python batch file: refused to load the "
                                         r"global (posix|nt)\.system") as info:
        cifar10(tmp_path)
    assert str(tmp_path / "data_batch_3") in str(info.value)
    assert not marker.exists()


def test_object_arrays_and_garbage_are_refused(tmp_path):
    write_cifar10(tmp_path)
    write_pickle2(tmp_path / "test_batch", {b"data": np.array([b"x"], object), b"labels": [0]})
    with pytest.raises(ValueError, match="test_batch .*Python objects"):
        cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"\x80\x02}q\x00(U\x04data")          # cut off mid-pickle
    with pytest.raises(ValueError, match="test_batch is not a CIFAR python batch file"):
        cifar10(tmp_path)
    write_pickle2(tmp_path / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(ShapeError, match="test_batch: expected 2 integer labels"):
        cifar10(tmp_path)


def test_cifar_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no batches.meta in .*cifar-10-batches-py"):
        cifar10(tmp_path)


# ----------------------------------------------------------------------------------------- image folder
def test_image_folder_reads_sorted_classes_exactly(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install Pillow")
    rng = np.random.default_rng(3)
    written = {}
    for cls, n in (("zebra", 2), ("ant", 1)):
        os.makedirs(tmp_path / cls)
        for k in range(n):
            pixels = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{k}.png")
            written[(cls, k)] = pixels
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    ds = st.data.image_folder(tmp_path, (4, 5))
    assert ds.classes == ("ant", "zebra") and ds.y.tolist() == [0, 1, 1]
    assert ds.x.shape == (3, 3, 4, 5) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[2] * 255, written[("zebra", 1)].transpose(2, 0, 1), atol=1e-4)


def test_image_folder_resizes_with_pillow_and_mixes_grey_into_rgb(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install Pillow")
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    Image.fromarray(grey).save(tmp_path / "a" / "g.png")
    assert st.data.image_folder(tmp_path, 8).x.shape == (1, 1, 8, 8)    # all grey: one channel
    Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).save(tmp_path / "b" / "c.jpg", quality=95)
    ds = st.data.image_folder(tmp_path, (4, 4))
    assert ds.x.shape == (2, 3, 4, 4)
    want = np.asarray(Image.fromarray(grey).convert("RGB").resize((4, 4), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(ds.x[0] * 255, want.transpose(2, 0, 1), atol=1e-4)
    np.testing.assert_allclose(ds.x[1] * 255, 200, atol=3)               # JPEG, nearly exact on a flat colour
    assert st.data.image_folder(tmp_path, 4, color="gray").x.shape == (2, 1, 4, 4)


def test_image_folder_errors_name_the_file(tmp_path):
    pytest.importorskip("PIL.Image", reason="needs Pillow: pip install Pillow")
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read .*broken.png"):
        st.data.image_folder(tmp_path, 4)
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        st.data.image_folder(tmp_path / "a", 4)


# ------------------------------------------------------------------------------------ digits, MNIST-1D
def test_digits_is_the_stratified_sklearn_split():
    pytest.importorskip("sklearn", reason="needs scikit-learn: pip install scikit-learn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    bunch = load_digits()
    x_train, x_test, y_train, _ = train_test_split(bunch.images / 16.0, bunch.target, test_size=0.2,
                                                        stratify=bunch.target, random_state=0)
    raw = st.data.digits(size=16, standardize=False)
    assert raw.train.x.shape == (1437, 1, 16, 16) and raw.test.x.shape == (360, 1, 16, 16)
    np.testing.assert_allclose(raw.test.x[:, 0, ::2, ::2], x_test, rtol=1e-6)        # each pixel a 2x2 block
    np.testing.assert_allclose(raw.test.x[:, 0, 1::2, 1::2], x_test, rtol=1e-6)
    np.testing.assert_array_equal(raw.train.y, y_train)
    standard = st.data.digits()
    mean, std = x_train.mean(), x_train.std()                              # upsampling keeps both
    np.testing.assert_allclose(standard.test.x[:, 0, ::4, ::4], (x_test - mean) / std, rtol=1e-5, atol=1e-5)
    assert standard.classes == tuple("0123456789") and standard.input_shape == (1, 32, 32)


def test_mnist1d_standard_split_and_no_global_side_effect():
    pytest.importorskip("mnist1d", reason="needs the mnist1d package: pip install mnist1d")
    from mnist1d.data import get_dataset_args, make_dataset
    np.random.seed(99)
    random.seed(99)
    before_numpy, before_python = np.random.get_state()[1].copy(), random.getstate()
    data = st.data.mnist1d()
    np.testing.assert_array_equal(np.random.get_state()[1], before_numpy)     # make_dataset reseeds globals
    assert random.getstate() == before_python
    assert data.train.x.shape == (4000, 1, 40) and data.test.x.shape == (1000, 1, 40)
    assert data.input_shape == (1, 40) and data.num_classes == 10
    assert data.train.x.dtype == np.float32 and data.train.y.dtype == np.int64
    both = np.concatenate([data.train.y, data.test.y])
    assert np.bincount(both).tolist() == [500] * 10
    everything = np.concatenate([data.train.x, data.test.x])
    assert abs(everything.mean()) < 1e-5 and abs(everything.std() - 1) < 1e-5
    reference = make_dataset(get_dataset_args())                            # the package, seed 42
    np.testing.assert_allclose(data.test.x[:, 0], reference["x_test"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.train.y, reference["y"])
    other = st.data.mnist1d(seed=1, num_samples=100)
    assert len(other.train) == 80 and not np.allclose(other.train.x[:5], data.train.x[:5])
    with pytest.raises(TypeError, match="unknown arguments \\['samples'\\]"):
        st.data.mnist1d(samples=10)
