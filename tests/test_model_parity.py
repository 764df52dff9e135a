"""Zoo models against PyTorch definitions of the same networks (``torch_zoo``): weights copied 1:1.

For each network, PyTorch's initialised weights go torch -> NumPy -> strided through
``load_state_dict`` (strict, keys unchanged, in the same order), then

* evaluation in float32: outputs equal to float32 tolerance;
* one training step in float64 (``model.double()``, training mode, dropout active with the same
  masks on both sides, see ``torch_zoo.MirrorDropout``): the loss, every parameter's gradient and
  every parameter after a plain SGD step agree.

LeNet-5, AlexNet and VGG-11 are the networks of issue 5; the classic LeNet-5, the MNIST-1D CNN and
the digits CNN cost nothing more. VGG-11 uses 10 classes and 64x64 inputs: its classifier still holds
119M of its 128.8M parameters (about 1 GB per copy in float64), so it is the slow one (10-20 s).
Xception's three kinds of block are checked on their own (float64, training mode) against the block
of the common PyTorch port.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from module_oracle import check_module_against_torch
from oracle import TORCH_REASON
from strided import nn
from strided.models import XceptionBlock, create_model

torch = pytest.importorskip("torch", reason=TORCH_REASON)      # every test here compares with PyTorch
TF = torch.nn.functional

from torch_zoo import TorchXceptionBlock, mirror_dropout, torch_reference  # noqa: E402

# name: (factory keyword arguments, batch, input shape without the batch axis)
PARITY = {
    "lenet5": ({}, 4, (1, 32, 32)),
    "lenet5_classic": ({}, 4, (1, 32, 32)),
    "mnist1d_cnn": ({}, 4, (1, 40)),
    "digits_cnn": ({}, 4, (1, 8, 8)),
    "alexnet": ({}, 2, (3, 96, 96)),          # features 2x2, spread over the 6x6 adaptive pool
    "vgg11": ({"num_classes": 10}, 2, (3, 64, 64)),   # features 2x2 -> 7x7
}
TORCH_KWARGS = {"mnist1d_cnn": {"output_size": 10}}
DROPOUT_LAYERS = {"alexnet": 2, "vgg11": 2}
SLOW = {"alexnet", "vgg11"}                     # several seconds each: the slow lane


def assert_close(ours, expected, rtol, atol_scale, what):
    """``assert_allclose`` with ``atol = atol_scale * max|expected|``; for VGG's 100M-entry arrays, the
    equivalent bound on the largest error alone (``assert_allclose`` would take seconds per array)."""
    scale = np.abs(expected).max()
    if ours.size <= 1_000_000:
        np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol_scale * scale, err_msg=what)
        return
    assert ours.shape == expected.shape, what
    error = np.abs(ours - expected).max()
    assert error <= atol_scale * scale, f"{what}: largest difference {error:.3g}, scale {scale:.3g}"


def pair(name, seed=0):
    """A PyTorch reference with torch's initialisation and the strided model loaded from it."""
    kwargs, _, _ = PARITY[name]
    torch.manual_seed(seed)
    ref = torch_reference(name, **TORCH_KWARGS.get(name, kwargs))
    model = create_model(name, seed=123, **kwargs)
    state = ref.state_dict()
    assert list(model.state_dict()) == list(state), "state-dict keys (and their order) differ from torch's"
    missing, unexpected = model.load_state_dict({k: v.detach().numpy() for k, v in state.items()}, strict=True)
    assert list(missing) == [] and list(unexpected) == []
    return ref, model


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                  for name in PARITY])
def test_model_equals_torch(name):
    """Evaluation in float32, then (the same pair of networks, cast to float64) one training step."""
    _, batch, shape = PARITY[name]
    ref, model = pair(name)
    check_eval_float32(ref, model, batch, shape)
    check_training_step_float64(name, ref, model, batch, shape)


def check_eval_float32(ref, model, batch, shape):
    x = np.random.default_rng(0).standard_normal((batch,) + shape).astype(np.float32)
    ref.eval()
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with st.no_grad():
        out = model.eval()(x)
    assert out.dtype == np.float32 and out.shape == expected.shape == model.output_shape(x.shape)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5 * scale)


def check_training_step_float64(name, ref, model, batch, shape):
    model.double().train()
    ref.double().train()
    assert mirror_dropout(ref, model) == DROPOUT_LAYERS.get(name, 0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch,) + shape)
    labels = rng.integers(0, 10, batch)

    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    loss_ref = TF.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(labels))
    opt.zero_grad()
    loss_ref.backward()
    opt.step()

    ours = st.optim.SGD(model.parameters(), lr=0.05)
    loss = nn.CrossEntropyLoss()(model(st.Tensor(x, dtype=np.float64)), labels)
    ours.zero_grad()
    loss.backward()
    ours.step()

    assert abs(loss.item() - loss_ref.item()) < 1e-10
    theirs = dict(ref.named_parameters())
    assert [k for k, _ in model.named_parameters()] == list(theirs)
    for key, p in model.named_parameters():
        assert p.grad.dtype == np.float64 and p.data.dtype == np.float64
        assert_close(p.grad, theirs[key].grad.numpy(), 1e-7, 1e-9, f"{name}: gradient of {key}")
        assert_close(p.data, theirs[key].detach().numpy(), 1e-9, 1e-12, f"{name}: {key} after the step")


@pytest.mark.parametrize("args, kwargs, shape", [
    ((4, 8, 2, 2), dict(start_with_relu=False), (2, 4, 9, 8)),     # entry flow: grows first, projection
    ((6, 6, 3, 1), {}, (2, 6, 5, 5)),                              # middle flow: identity shortcut
    ((6, 10, 2, 2), dict(grow_first=False), (2, 6, 8, 7)),         # exit flow: grows last
], ids=["entry", "middle", "exit"])
def test_xception_block_equals_torch(args, kwargs, shape):
    """An Xception block (training mode, batch statistics) against the PyTorch port's block, float64."""
    ours = XceptionBlock(*args, rng=0, **kwargs)
    check_module_against_torch(ours, TorchXceptionBlock(*args, **kwargs), shape)
