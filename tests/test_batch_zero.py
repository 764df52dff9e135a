"""The batch axis at its edges (issue 15, items 7 and 8): a batch of 0 examples, and no batch axis.

* every registered layer and every zoo model runs a batch of 0 forward and backward, in training
  and evaluation mode, as PyTorch does: the output is the declared ``output_shape`` with 0
  examples, the input gradient has the input's shape and every parameter gets a zero gradient of
  its own shape (the oracle: PyTorch for the functional ops, the batch-2 shape and the static
  rules for the layers; a sum over nothing is 0);
* batch norm in training on 0 examples leaves its running statistics as PyTorch does;
* layers that take one example ``(C, *S)`` (``test_contract.UNBATCHED``) give the first example of
  the batched output for it, and layers without that form say ``add a batch axis: x[None]``.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from oracle import TF, assert_close, needs_torch, torch
from strided import nn
from strided.nn import functional as F
from test_contract import INDEX_INPUT, LAYERS, NAMES, UNBATCHED, build, example_input, reseed, wrap
from test_models import PUBLISHED, SLOW_MODELS


def empty_batch(shape):
    return (0,) + tuple(shape[1:])


def check_empty_backward(module, x, out):
    """Backward of ``out.sum()`` (0): gradients of the right shapes, all zero."""
    out = out[0] if isinstance(out, tuple) else out
    out.sum().backward()
    if isinstance(x, st.Tensor):
        assert x.grad is not None and x.grad.shape == x.shape
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        assert p.grad.shape == p.shape and not p.grad.any(), name


# PyTorch's sync_batch_norm refuses a total of exactly 1 value per channel, never 0 (ranks without examples are
# left out of its statistics); strided's refuses 0 too (nn/sync_batchnorm.py, being written elsewhere)
KNOWN = {("SyncBatchNorm", True): "sync_batch_norm refuses 0 values per channel in training; PyTorch does not"}


def layer_case(name, training):
    reason = KNOWN.get((name, training))
    return pytest.param(name, training, id=f"{name}-{'train' if training else 'eval'}",
                        marks=[pytest.mark.xfail(reason=reason, strict=False)] if reason else [])


@pytest.mark.parametrize("name, training", [layer_case(name, training) for name in NAMES for training in (True, False)])
def test_every_layer_takes_a_batch_of_zero(name, training):
    module, shape = build(name)
    reseed(module)
    module.train(training)
    empty = empty_batch(shape)
    x = wrap(name, example_input(name, module, empty, np.random.default_rng(0)), requires_grad=True)
    out = module(x)
    result = out[0] if isinstance(out, tuple) else out
    full = module(wrap(name, example_input(name, module, shape, np.random.default_rng(0))))
    full = full[0] if isinstance(full, tuple) else full
    assert result.shape == tuple(module.output_shape(empty)) == empty_batch(full.shape), name
    check_empty_backward(module, x, out)


MODELS = [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_MODELS else []) for name in st.models.list_models()]


@pytest.mark.parametrize("name", MODELS)
def test_every_zoo_model_takes_a_batch_of_zero(name):
    small = PUBLISHED[name][3]
    model = st.models.create_model(name, seed=0)
    empty = empty_batch(small)
    for training in (True, False):
        model.train(training)
        model.zero_grad()
        x = st.Tensor(np.zeros(empty, np.float32), requires_grad=True)
        out = model(x)
        assert out.shape == tuple(model.output_shape(empty)) and out.shape[0] == 0
        check_empty_backward(model, x, out)


@needs_torch
def test_batch_norm_on_zero_examples_keeps_running_statistics_as_torch():
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = np.zeros((0, 3, 4, 4), np.float32)
    ours(x)
    theirs(torch.from_numpy(x))
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value.numpy(), what=key)


# strided op, PyTorch op, input shape with 0 examples (float64)
if torch is not None:
    LONG, DOUBLE = torch.long, torch.float64
    OPS = {
        "flatten": (F.flatten, lambda x: torch.flatten(x, 1), (0, 16, 5, 5)),
        "cross_entropy": (lambda x: F.cross_entropy(x, np.zeros(0, np.int64)),
                          lambda x: TF.cross_entropy(x, torch.zeros(0, dtype=LONG)), (0, 5)),
        "nll_loss sum": (lambda x: F.nll_loss(x, np.zeros(0, np.int64), reduction="sum"),
                         lambda x: TF.nll_loss(x, torch.zeros(0, dtype=LONG), reduction="sum"), (0, 5)),
        "mse_loss": (lambda x: F.mse_loss(x, np.zeros((0, 5))), lambda x: TF.mse_loss(x, torch.zeros(0, 5, dtype=DOUBLE)),
                     (0, 5)),
        "binary_cross_entropy_with_logits": (lambda x: F.binary_cross_entropy_with_logits(x, np.zeros((0, 5))),
                                             lambda x: TF.binary_cross_entropy_with_logits(
                                                 x, torch.zeros(0, 5, dtype=DOUBLE)), (0, 5)),
        "kl_div batchmean": (lambda x: F.kl_div(x, np.zeros((0, 5)), reduction="batchmean"),
                             lambda x: TF.kl_div(x, torch.zeros(0, 5, dtype=DOUBLE), reduction="batchmean"), (0, 5)),
        "multi_margin_loss": (lambda x: F.multi_margin_loss(x, np.zeros(0, np.int64)),
                              lambda x: TF.multi_margin_loss(x, torch.zeros(0, dtype=LONG)), (0, 5)),
        "log_softmax": (lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), (0, 5)),
        "linear": (lambda x: F.linear(x, np.ones((3, 5)), np.ones(3)),
                   lambda x: TF.linear(x, torch.ones(3, 5, dtype=DOUBLE), torch.ones(3, dtype=DOUBLE)), (0, 5)),
        "conv2d same": (lambda x: F.conv2d(x, np.ones((3, 2, 3, 3)), padding="same"),
                        lambda x: TF.conv2d(x, torch.ones(3, 2, 3, 3, dtype=DOUBLE), padding="same"), (0, 2, 3, 3)),
        "conv_transpose2d": (lambda x: F.conv_transpose2d(x, np.ones((2, 3, 3, 3)), stride=2),
                             lambda x: TF.conv_transpose2d(x, torch.ones(2, 3, 3, 3, dtype=DOUBLE), stride=2),
                             (0, 2, 3, 3)),
        "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: TF.max_pool2d(x, 3, 2, 1), (0, 2, 5, 5)),
        "avg_pool3d": (lambda x: F.avg_pool3d(x, 2, ceil_mode=True), lambda x: TF.avg_pool3d(x, 2, ceil_mode=True),
                       (0, 2, 3, 3, 3)),
        "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, 2), lambda x: TF.adaptive_max_pool2d(x, 2),
                                (0, 2, 5, 5)),
        "global_max_pool": (F.global_max_pool, lambda x: TF.adaptive_max_pool2d(x, 1).flatten(1), (0, 2, 3, 3)),
        "interpolate bilinear": (lambda x: F.interpolate(x, size=(5, 5), mode="bilinear"),
                                 lambda x: TF.interpolate(x, size=(5, 5), mode="bilinear"), (0, 2, 3, 3)),
        "pad reflect": (lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect"),
                        lambda x: TF.pad(x, (1, 1, 1, 1), mode="reflect"), (0, 2, 3, 3)),
        "batch_norm train": (lambda x: F.batch_norm(x, np.zeros(2), np.ones(2), training=True),
                             lambda x: TF.batch_norm(x, torch.zeros(2, dtype=DOUBLE), torch.ones(2, dtype=DOUBLE),
                                                     training=True), (0, 2, 3, 3)),
        "group_norm": (lambda x: F.group_norm(x, 2), lambda x: TF.group_norm(x, 2), (0, 2, 3, 3)),
        "local_response_norm": (lambda x: F.local_response_norm(x, 2), lambda x: TF.local_response_norm(x, 2),
                                (0, 2, 3, 3)),
        "max_unpool2d": (lambda x: F.max_unpool2d(x, np.zeros((0, 2, 3, 3), np.int64), 2),
                         lambda x: TF.max_unpool2d(x, torch.zeros(0, 2, 3, 3, dtype=LONG), 2), (0, 2, 3, 3)),
    }
else:
    OPS = {}


@needs_torch
@pytest.mark.parametrize("op", sorted(OPS) or ["none"])
def test_ops_on_a_batch_of_zero_match_torch(op):
    st_fn, torch_fn, shape = OPS[op]
    xs = st.Tensor(np.zeros(shape), requires_grad=True)
    xt = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    out_s, out_t = st_fn(xs), torch_fn(xt)
    assert_close(out_s.data, out_t.detach().numpy(), what=op)          # shapes, and NaN where PyTorch has NaN
    out_s.sum().backward()
    out_t.sum().backward()
    assert_close(xs.grad, xt.grad.numpy(), what=f"{op} gradient")


# ------------------------------------------------------------------------------------ no batch axis


@pytest.mark.parametrize("name", sorted(UNBATCHED))
def test_unbatched_input_gives_the_first_example_of_the_batched_output(name):
    module, shape = build(name)
    module.eval()                                                       # dropout off: one output per input
    x = example_input(name, module, (1,) + shape[1:], np.random.default_rng(3), np.float64).astype(np.float32)
    batched = module(wrap(name, x))
    single = module(wrap(name, x[0]))
    batched, single = (batched, single) if not isinstance(batched, tuple) else (batched[0], single[0])
    assert single.shape == batched.shape[1:] == tuple(module.output_shape(shape[1:]))
    np.testing.assert_allclose(single.data, batched.data[0], rtol=1e-6, atol=1e-6)


# layers without a one-example form: the wrong-rank message ends with the hint
NEEDS_BATCH = {"BatchNorm2d": ((3, 5, 5), lambda: nn.BatchNorm2d(3)),
               "BatchNorm1d": ((3,), lambda: nn.BatchNorm1d(3)),
               "GroupNorm": ((4,), lambda: nn.GroupNorm(2, 4)),
               "GlobalAvgPool": ((3, 5), nn.GlobalAvgPool),
               "GlobalMaxPool": ((3, 5), nn.GlobalMaxPool)}


@pytest.mark.parametrize("name", sorted(NEEDS_BATCH))
def test_layers_without_an_unbatched_form_say_add_a_batch_axis(name):
    shape, make = NEEDS_BATCH[name]
    with pytest.raises(st.ShapeError, match=r"got \(.*\); add a batch axis: x\[None\]$") as info:
        make()(np.zeros(shape, np.float32))
    assert str(info.value).startswith(name)


def test_index_layers_take_a_batch_of_zero_indices():
    assert set(INDEX_INPUT) <= set(LAYERS)                              # covered above with indices (0, ...)
    out = nn.Embedding(5, 3)(np.zeros((0, 4), np.int64))
    assert out.shape == (0, 4, 3)
