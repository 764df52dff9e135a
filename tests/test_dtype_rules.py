"""The input-dtype rule and ``Module.to``: which dtype a tensor gets, what a module does with a raw
array, the TypeError of the ops that combine an input with weights, and the device errors."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.nn import functional as F
from oracle import needs_torch, torch


# ------------------------------------------------------------------------------------------ (1) Tensor(x)
@pytest.mark.parametrize("value, dtype", [
    (np.zeros(2), np.float64), (np.zeros(2, np.float32), np.float32), (np.zeros(2, np.int64), np.float32),
    (np.zeros(2, bool), np.float32), (np.zeros(2, np.float16), np.float32), ([1.0, 2.0], np.float32),
    (2.5, np.float32), (np.float64(2.5), np.float32), (3, np.float32),
])
def test_tensor_keeps_float32_and_float64_arrays_and_makes_the_rest_float32(value, dtype):
    assert st.Tensor(value).dtype == dtype
    assert st.as_tensor(value).dtype == dtype
    assert nn.Parameter(value).dtype == dtype
    assert st.Tensor(value, dtype=np.float64).dtype == np.float64          # dtype= forces
    assert st.Tensor(st.Tensor(value)).dtype == dtype                       # a tensor's dtype is kept too


def test_tensor_refuses_other_dtypes():
    with pytest.raises(TypeError, match="Tensor: dtype must be float32 or float64, got int32"):
        st.Tensor([1.0], dtype=np.int32)


# ------------------------------------------------------------------------------------------ (2) module inputs
def small_model():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(12, 2, rng=1))


def test_raw_arrays_take_the_dtype_of_the_model():
    model = small_model().eval()
    x64 = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    assert model(x64).dtype == np.float32                                  # a float32 model: converted
    assert model(x64.astype(np.float32)).dtype == np.float32
    assert model(x64.astype(np.int64)).dtype == np.float32
    model.double()
    dtypes = []
    for module in model.children():
        module.register_forward_hook(lambda m, args, out: dtypes.append((args[0].dtype, out.dtype)))
    assert model(x64).dtype == np.float64
    assert dtypes == [(np.float64, np.float64)] * 6                         # float64 at every step
    assert model(x64.astype(np.float32)).dtype == np.float64                # float32 data follows a float64 model


def test_modules_without_parameters_use_their_floating_buffers_or_float32():
    assert nn.ReLU()(np.zeros(3)).dtype == np.float32
    assert nn.ReLU().input_dtype() == np.float32
    bn = nn.BatchNorm1d(3, affine=False).double()
    assert bn.input_dtype() == np.float64 and bn(np.ones((2, 3))).dtype == np.float64
    labels = np.array([0, 2])                                              # only the first input is converted
    loss = nn.CrossEntropyLoss()(np.zeros((2, 3)), labels)
    assert loss.dtype == np.float32 and labels.dtype == np.int64


@needs_torch
def test_a_double_model_fed_float64_arrays_matches_torch_to_float64_precision():
    ours = small_model().double()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((4, 2, 4, 4)) * (1 + 1e-9)     # not representable in float32
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        np.testing.assert_allclose(ours(x).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------------------------------ (3) weighted ops
def f32(*shape):
    return st.Tensor(np.random.default_rng(0).standard_normal(shape), dtype=np.float32)


def f64(*shape):
    return st.Tensor(np.random.default_rng(0).standard_normal(shape), dtype=np.float64)


@pytest.mark.parametrize("name, call", [
    ("linear", lambda x, w: F.linear(x, w(3, 4))),
    ("conv2d", lambda x, w: F.conv2d(x, w(2, 4, 1, 1))),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w(4, 2, 1, 1))),
    ("locally_connected2d", lambda x, w: F.locally_connected2d(x, w(1, 4, 2, 4, 1, 1))),
    ("batch_norm", lambda x, w: F.batch_norm(x, None, None, w(1), None, training=True)),
    ("layer_norm", lambda x, w: F.layer_norm(x, (4,), w(4))),
    ("group_norm", lambda x, w: F.group_norm(x, 1, w(1))),
    ("instance_norm", lambda x, w: F.instance_norm(x, weight=w(1))),
])
def test_weighted_ops_refuse_mixed_dtypes_naming_both(name, call):
    shape = (2, 1, 1, 4) if name.endswith("_norm") and name != "layer_norm" else (2, 4, 1, 4)
    shape = (2, 4) if name == "linear" else shape
    with pytest.raises(TypeError, match=f"{name}: input is float64 but weight is float32; convert one with "
                                        r"\.float\(\)/\.double\(\)"):
        call(f64(*shape), f32)
    with pytest.raises(TypeError, match=f"{name}: input is float32 but weight is float64"):
        call(f32(*shape), f64)
    assert call(f64(*shape), f64).dtype == np.float64                       # one dtype: fine
    assert call(f32(*shape).data.astype(np.float64), f32).dtype == np.float32   # a raw array follows the weight


def test_bias_and_layers_are_checked_too():
    with pytest.raises(TypeError, match="linear: bias is float64 but weight is float32"):
        F.linear(f32(2, 4), f32(3, 4), f64(3))
    conv = nn.Conv2d(3, 4, 3, rng=0)
    with pytest.raises(TypeError, match=r"Conv2d\(3, 4, kernel_size=\(3, 3\).*: input is float64 but weight is float32"
                                         r"; convert one with \.float\(\)/\.double\(\) or st\.Tensor\(x, dtype="):
        conv(f64(1, 3, 5, 5))
    assert conv(f64(1, 3, 5, 5).float()).dtype == np.float32                 # the fix the message suggests
    assert conv.double()(f64(1, 3, 5, 5)).dtype == np.float64


# ------------------------------------------------------------------------------------------ Module.to
def test_to_accepts_only_float32_and_float64():
    model = small_model()
    for bad in (np.int32, np.float16, "int64", np.dtype(bool), "half", object, "cuda_float"):
        with pytest.raises(TypeError, match="Sequential.to: dtype must be float32 or float64"):
            model.to(bad)
    assert model[0].weight.dtype == np.float32                             # nothing was changed
    assert model.to("float64") is model and model[0].weight.dtype == np.float64
    assert model.to(dtype=np.float32)[5].bias.dtype == np.float32
    assert model.to("cpu", np.float64)[0].weight.dtype == np.float64
    assert model.to(st.Tensor(np.zeros(1, np.float32)))[0].weight.dtype == np.float32
    assert model.state_dict()["1.num_batches_tracked"].dtype == np.int64   # integer buffers stay


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_unusable_devices_raise_saying_why_and_nothing_moves(device):
    if device.startswith("cuda") and st.cuda.is_available():
        pytest.skip("a GPU is present here: cuda is usable")
    expected = r"strided\[gpu\]" if device.startswith("cuda") else "no backend serves 'mps'"
    model = small_model()
    with pytest.raises(RuntimeError, match=r"Sequential.to: .*" + expected):
        model.to(device)
    with pytest.raises(RuntimeError, match=expected):
        model.to(device=device, dtype=np.float64)
    assert model[0].weight.dtype == np.float32 and type(model[0].weight.data) is np.ndarray
    assert model.to("cpu") is model and model.cpu() is model and model[0].weight.dtype == np.float32
    if device.startswith("cuda"):
        with pytest.raises(RuntimeError, match=r"Sequential.cuda: .*strided\[gpu\]"):
            model.cuda()