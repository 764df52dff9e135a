"""The array-backend seam: every op computes through the namespace of its inputs, never NumPy directly.

A recording backend (``recording_backend.py``) stands in for a GPU: its arrays are NumPy arrays
that notice a NumPy function called on them directly, a host array mixed into them, or a
scatter-add outside the backend. Every registered layer, loss and optimizer, and the zoo's
small models, run forward and backward on it; the oracle for the values is the same computation
on the CPU (``cpu``), which must agree exactly, and the oracle for the seam is the recorder: no
violation, and every result still a device array. Where CuPy is installed, every namespace name
the ops used must exist in CuPy too.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import recording_backend as rec
import strided as st
from strided import backend, nn
from strided.nn import functional as F

LAYERS = nn.registered_layers()
INDEX_INPUT = {"Embedding"}


@pytest.fixture(scope="module", autouse=True)
def on_the_numpy_path():
    """The recorded device stands for CuPy, whose arrays always take the array-namespace code, and
    its runs must equal the CPU's to the bit: the CPU runs here take that code too, not the
    compiled kernels (``strided.fast``), which round float32 differently."""
    from strided import fast
    with fast.disabled():
        yield


@pytest.fixture
def device():
    rec.install()
    yield "recorded"
    rec.uninstall()


def assert_clean(*arrays):
    found = sorted({str(v) for v in rec.violations})
    assert not found, f"{len(found)} calls reached past the array namespace:\n" + "\n".join(found)
    for a in arrays:
        if a is not None:
            assert isinstance(a, rec.RecordedArray), f"a result left the device: {type(a).__name__}"


def reseed(module, seed=7):
    for m in module.modules():
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = np.random.default_rng(seed)


def run(module, x, place, target=None):
    """Forward, a loss and backward on ``place``; returns (output, input grad, parameter grads)."""
    reseed(module)
    if x.dtype.kind in "iu":
        inp = backend.to_device(x, place)
    else:
        inp = st.Tensor(backend.to_device(x, place), requires_grad=True)     # a leaf on the device
    out = module(inp)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    total = None
    for o in outs:
        weights = st.Tensor(np.linspace(-1, 1, o.size, dtype=o.dtype).reshape(o.shape)).to(place)
        term = (o * weights).sum()
        total = term if total is None else total + term
    if total is not None and total.requires_grad:
        total.backward()
    grads = [p.grad for p in module.parameters()]
    in_grad = None if x.dtype.kind in "iu" else getattr(inp, "grad", None)
    return [o.data for o in outs], in_grad, grads


def host(a):
    return None if a is None else backend.to_host(a)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_runs_through_the_namespace(name, training, device):
    module, shape = LAYERS[name]()
    module.train(training)
    rng = np.random.default_rng(0)
    if name in INDEX_INPUT:
        x = rng.integers(0, module.num_embeddings, size=shape)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    twin = copy.deepcopy(module)
    ref_out, ref_in, ref_grads = run(twin, x, "cpu")
    rec.violations.clear()
    module.to(device)
    outs, in_grad, grads = run(module, x, device)
    assert_clean(*outs, in_grad, *grads)
    for a, b in zip(outs, ref_out):
        np.testing.assert_array_equal(host(a), b)
    if ref_in is not None:
        np.testing.assert_array_equal(host(in_grad), ref_in)
    for a, b in zip(grads, ref_grads):
        np.testing.assert_array_equal(host(a), host(b))


SMALL_MODELS = {
    "lenet5": (2, 1, 32, 32), "digits_cnn": (2, 1, 8, 8), "mnist1d_cnn": (2, 1, 40),
    "resnet20": (2, 3, 32, 32), "mobilenet_v2": (2, 3, 32, 32), "unet": (1, 1, 32, 32),
}


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_zoo_model_trains_through_the_namespace(name, device):
    shape = SMALL_MODELS[name]
    kwargs = {"num_classes": 10} if name in ("resnet20", "mobilenet_v2") else {}
    model = st.models.create_model(name, seed=0, **kwargs)
    model.train()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    twin = copy.deepcopy(model)

    def step(m, place):
        reseed(m)
        opt = st.optim.Adam(m.parameters(), lr=1e-3)
        out = m(st.Tensor(x).to(place))
        flat = out.reshape(out.shape[0], -1)
        target = backend.to_device(np.arange(flat.shape[0]) % flat.shape[1], place)
        loss = F.cross_entropy(flat, target)
        loss.backward()
        opt.step()
        return loss, [p.data for p in m.parameters()]

    ref_loss, ref_params = step(twin, "cpu")
    rec.violations.clear()
    model.to(device)
    loss, params = step(model, device)
    assert_clean(loss.data, *params)
    np.testing.assert_array_equal(host(loss.data), ref_loss.data)
    for a, b in zip(params, ref_params):
        np.testing.assert_array_equal(host(a), b)


def loss_cases():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((4, 5))
    labels = np.array([0, 3, 4, 1])
    probs = 1 / (1 + np.exp(-rng.standard_normal((4, 5))))
    other = rng.standard_normal((4, 5))
    binary = (rng.random((4, 5)) > 0.5).astype(np.float64)
    return {
        "cross_entropy": (F.cross_entropy, logits, labels, {}),
        "cross_entropy_smooth": (F.cross_entropy, logits, labels, {"label_smoothing": 0.1}),
        "nll_loss": (F.nll_loss, logits, labels, {}),
        "binary_cross_entropy": (F.binary_cross_entropy, probs, binary, {}),
        "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, logits, binary, {}),
        "mse_loss": (F.mse_loss, logits, other, {}),
        "l1_loss": (F.l1_loss, logits, other, {}),
        "smooth_l1_loss": (F.smooth_l1_loss, logits, other, {}),
        "huber_loss": (F.huber_loss, logits, other, {}),
        "kl_div": (F.kl_div, logits, probs, {}),
        "multi_margin_loss": (F.multi_margin_loss, logits, labels, {}),
    }


@pytest.mark.parametrize("name", sorted(loss_cases()))
def test_loss_runs_through_the_namespace(name, device):
    fn, x, target, kwargs = loss_cases()[name]

    def go(place):
        t = st.Tensor(x, requires_grad=True)
        moved = t.to(place)
        loss = fn(moved, backend.to_device(target, place), **kwargs)
        loss.backward()
        return loss.data, t.grad, moved

    ref, ref_grad, _ = go("cpu")
    rec.violations.clear()
    value, grad, moved = go(device)
    assert_clean(value)
    np.testing.assert_array_equal(host(value), ref)
    np.testing.assert_array_equal(grad, ref_grad)          # the gradient came back to the host tensor


OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "Adam": dict(lr=0.01, amsgrad=True), "AdamW": dict(lr=0.01), "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adagrad": dict(lr=0.1), "Adadelta": dict(), "NAdam": dict(lr=0.01), "RAdam": dict(lr=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_through_the_namespace(name, device):
    cls = getattr(st.optim, name, None)
    if cls is None:
        pytest.fail(f"st.optim has no {name}")
    values = np.random.default_rng(3).standard_normal((6, 3))

    def go(place):
        p = nn.Parameter(backend.to_device(values.copy(), place))
        opt = cls([p], **OPTIMIZERS[name])
        for i in range(3):
            p.grad = backend.to_device(np.cos(values * (i + 1)), place)
            opt.step()
        return p.data, opt

    ref, _ = go("cpu")
    rec.violations.clear()
    got, opt = go(device)
    assert_clean(got)
    np.testing.assert_array_equal(host(got), ref)
    state = opt.state_dict()["state"][0]
    for key, value in state.items():
        assert not isinstance(value, rec.RecordedArray), f"{name} state_dict()[{key!r}] is still on the device"


def test_mixing_devices_names_both(device):
    conv = nn.Conv2d(1, 2, 3, rng=0).to(device)
    with pytest.raises(RuntimeError, match=r"conv2d|Conv2d") as info:
        conv(st.Tensor(np.zeros((1, 1, 5, 5), np.float32)))
    assert "cpu" in str(info.value) and "recorded" in str(info.value)
    with pytest.raises(RuntimeError, match="cpu.*recorded|recorded.*cpu"):
        st.Tensor([1.0]) + st.Tensor([1.0]).to(device)


def test_gradient_of_a_move_returns_to_the_source_device(device):
    x = st.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to(device)
    assert y.device == "recorded" and x.device == "cpu"
    (y * y).sum().backward()
    assert type(x.grad) is np.ndarray
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    with pytest.raises(TypeError, match="cpu"):
        y.numpy()
    assert "recorded" in repr(y)


def test_state_dict_is_on_the_host_and_loads_onto_either_device(device, tmp_path):
    model = st.models.lenet5(seed=0)
    host_state = model.state_dict()
    moved = copy.deepcopy(model).to(device)
    for key, value in moved.state_dict().items():
        assert type(value) is np.ndarray, key
        np.testing.assert_array_equal(value, host_state[key])
    st.save(moved.state_dict(), tmp_path / "m.safetensors")
    fresh = st.models.lenet5(seed=1).to(device)
    fresh.load_state_dict(st.load(tmp_path / "m.safetensors"))
    for p, q in zip(fresh.parameters(), model.parameters()):
        assert isinstance(p.data, rec.RecordedArray)
        np.testing.assert_array_equal(host(p.data), q.data)


def test_cuda_without_a_gpu_says_how_to_install():
    if st.cuda.is_available():
        pytest.skip("a GPU is present: the no-GPU message cannot be seen here")
    for call in (lambda: st.Tensor([1.0]).to("cuda"), lambda: nn.Linear(2, 2, rng=0).to("cuda"),
                 lambda: nn.Linear(2, 2, rng=0).cuda()):
        with pytest.raises(RuntimeError, match=r"strided\[gpu\]"):
            call()
    layer = nn.Linear(2, 2, rng=0)
    before = layer.weight.data.copy()
    with pytest.raises(RuntimeError):
        layer.to("cuda")
    np.testing.assert_array_equal(layer.weight.data, before)
    assert type(layer.weight.data) is np.ndarray


def test_every_namespace_name_the_ops_used_exists_in_cupy(device):
    """Every name the layers, losses, optimizers and a training step asked of the namespace is in CuPy."""
    cupy = pytest.importorskip("cupy")
    for name in sorted(LAYERS):                                         # one sweep of its own, then the
        module, shape = LAYERS[name]()                                  # names earlier tests recorded too
        rng = np.random.default_rng(0)
        x = (rng.integers(0, module.num_embeddings, size=shape) if name in INDEX_INPUT
             else rng.standard_normal(shape).astype(np.float32))
        run(module.to(device), x, device)
    for name in sorted(loss_cases()):
        test_loss_runs_through_the_namespace(name, device)
    for name in sorted(OPTIMIZERS):
        test_optimizer_steps_through_the_namespace(name, device)
    missing = []
    for name in sorted(rec.names_used):
        obj = cupy
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                missing.append(name)
                break
    assert {"matmul", "einsum", "where", "zeros_like", "exp"} <= rec.names_used, sorted(rec.names_used)
    assert not missing, f"CuPy lacks what the ops call through the namespace: {missing}"


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cupy_backends_put_along_axis_equals_numpys(axis):
    """The CuPy backend's stand-in for ``put_along_axis`` (CuPy has none), run with NumPy as its namespace,
    against NumPy's own; distinct indices per row, where both must agree exactly."""
    cupy_like = st.cuda.CupyBackend.__new__(st.cuda.CupyBackend)
    cupy_like.xp = np
    rng = np.random.default_rng(0)
    target = rng.standard_normal((3, 4, 5))
    index = np.argsort(rng.random(target.shape), axis=axis).take(range(2), axis=axis)   # distinct along axis
    values = rng.standard_normal(index.shape)
    want, got = target.copy(), target.copy()
    np.put_along_axis(want, index, values, axis)
    cupy_like.put_along_axis(got, index, values, axis)
    np.testing.assert_array_equal(got, want)
