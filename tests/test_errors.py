"""User mistakes raise ``ValueError`` / ``TypeError`` (``ShapeError`` for shapes) whose message
names the layer, what it expected and what it received (DESIGN.md, Keras style).

Each expected message is written out by hand here from the mistake being made; the library's
text is compared with it, never with itself.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from strided import nn
from expect import raises


def zeros(*shape):
    return st.Tensor(np.zeros(shape, dtype=np.float32))


def test_shape_error_is_a_value_error():
    assert issubclass(st.ShapeError, ValueError)


# --------------------------------------------------------------------------------------------- convolution


def test_conv_wrong_rank_names_layer_expectation_and_input():
    message = raises(st.ShapeError, lambda: nn.Conv2d(3, 16, 3)(zeros(8, 3, 28)))
    assert message == "Conv2d(3, 16, kernel_size=(3, 3)): expected input (N, 3, H, W) or (3, H, W), got (8, 3, 28)"


def test_conv_wrong_channel_count_gives_the_documented_message():
    message = raises(st.ShapeError, lambda: nn.Conv2d(3, 16, kernel_size=3)(zeros(8, 1, 28, 28)))
    assert message == "Conv2d(3, 16, kernel_size=(3, 3)): expected input (N, 3, H, W), got (8, 1, 28, 28)"


@pytest.mark.parametrize("layer, shape, layout", [
    (lambda: nn.Conv1d(2, 4, 3), (5, 3, 10), "(N, 2, L)"),
    (lambda: nn.Conv1d(2, 4, 3), (5, 2, 10, 10), "(N, 2, L)"),
    (lambda: nn.Conv3d(1, 4, 3), (2, 1, 8, 8), "(N, 1, D, H, W)"),
])
def test_conv_1d_and_3d_describe_their_layout(layer, shape, layout):
    module = layer()
    raises(st.ShapeError, lambda: module(zeros(*shape)), type(module).__name__, f"expected input {layout}",
           f"got {shape}")


def test_functional_conv_names_the_function():
    raises(st.ShapeError, lambda: F.conv2d(zeros(1, 2, 5, 5), zeros(4, 3, 3, 3)),
           "conv2d", "expected input (N, 3, H, W)", "got (1, 2, 5, 5)")
    raises(st.ShapeError, lambda: F.conv2d(zeros(1, 3, 5, 5), zeros(4, 3, 3)),
           "conv2d", "expected weight", "got (4, 3, 3)")


@pytest.mark.parametrize("layer, shape, extent, padded", [
    (lambda: nn.Conv2d(1, 1, 5), (1, 1, 3, 3), "(5, 5)", "(3, 3)"),
    (lambda: nn.Conv2d(1, 1, 5, padding=1), (1, 1, 2, 2), "(5, 5)", "(4, 4)"),
    (lambda: nn.Conv1d(1, 1, 3, dilation=3), (1, 1, 6), "(7,)", "(6,)"),       # 3*(3-1)+1 = 7 > 6
    (lambda: nn.MaxPool2d(4), (1, 1, 3, 8), "(4, 4)", "(3, 8)"),
    (lambda: nn.AvgPool2d(5), (1, 1, 4, 4), "(5, 5)", "(4, 4)"),
])
def test_kernel_larger_than_padded_input(layer, shape, extent, padded):
    module = layer()
    raises(st.ShapeError, lambda: module(zeros(*shape)), type(module).__name__,
           f"kernel extent {extent}", f"padded input {padded}", f"input {shape}")
    # the static rule refuses the same input with the same words
    raises(st.ShapeError, lambda: module.output_shape(shape), type(module).__name__, f"kernel extent {extent}")


@pytest.mark.parametrize("stride", [0, -1, (1, 0)])
def test_non_positive_stride(stride):
    raises(ValueError, lambda: nn.Conv2d(3, 8, 3, stride=stride), "Conv2d", "stride must be >= 1",
           f"got {stride!r}")
    raises(ValueError, lambda: nn.MaxPool2d(2, stride=stride), "MaxPool2d", "stride must be >= 1")
    raises(ValueError, lambda: F.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3), stride=stride),
           "conv2d", "stride must be >= 1")


def test_non_positive_kernel_dilation_and_channels():
    raises(ValueError, lambda: nn.Conv2d(3, 8, 0), "Conv2d", "kernel_size must be >= 1", "got 0")
    raises(ValueError, lambda: nn.Conv2d(3, 8, 3, dilation=0), "Conv2d", "dilation must be >= 1")
    raises(ValueError, lambda: nn.Conv2d(0, 8, 3), "Conv2d", "in_channels must be a positive int", "got 0")
    raises(ValueError, lambda: nn.Linear(4, 0), "Linear", "out_features must be a positive int", "got 0")
    raises(ValueError, lambda: nn.BatchNorm2d(0), "BatchNorm2d", "num_features must be a positive int")


def test_badly_typed_arguments_raise_type_error():
    raises(TypeError, lambda: nn.Conv2d(3, 8, True), "Conv2d", "kernel_size must be an int or a tuple of 2 ints",
           "got True")
    raises(TypeError, lambda: nn.Conv2d(3, 8, (3, 3, 3)), "Conv2d", "tuple of 2 ints", "got (3, 3, 3)")
    raises(TypeError, lambda: nn.Conv2d(3, 8, 2.5), "Conv2d", "kernel_size", "got 2.5")
    raises(TypeError, lambda: nn.Conv1d(1, 1, 3, padding=(1, 2, 3)), "Conv1d", "padding must be",
           "got (1, 2, 3)")
    raises(TypeError, lambda: nn.Conv2d(1, 1, 3, padding=1.5), "Conv2d", "padding must be", "got 1.5")
    raises(TypeError, lambda: nn.Sequential(nn.ReLU(), 3), "Sequential", "item '1'", "expected a Module")
    raises(TypeError, lambda: nn.Linear(3, 2, rng="seed"), "rng must be", "str")
    raises(TypeError, lambda: st.Tensor([1, 2], dtype=np.int32), "float32 or float64", "int32")


def test_negative_padding():
    raises(ValueError, lambda: nn.Conv1d(1, 1, 3, padding=-1), "Conv1d", "padding must be non-negative", "got -1")
    raises(ValueError, lambda: nn.Conv2d(1, 1, 3, padding=((0, -1), (1, 1))), "Conv2d", "non-negative")


@pytest.mark.parametrize("mode", ["sam", "SAMEE", "reflect", ""])
def test_unknown_padding_mode(mode):
    message = raises(ValueError, lambda: nn.Conv2d(3, 8, 3, padding=mode), "Conv2d",
                     f"unknown padding mode {mode!r}")
    for known in ("'valid'", "'same'", "'full'", "'causal'"):
        assert known in message
    raises(ValueError, lambda: F.conv1d(zeros(1, 1, 8), zeros(1, 1, 3), padding=mode), "conv1d",
           "unknown padding mode")
    raises(ValueError, lambda: nn.MaxPool2d(3, padding=mode), "MaxPool2d", "unknown padding mode")


def test_causal_padding_on_2d_input():
    raises(ValueError, lambda: nn.Conv2d(3, 8, 3, padding="causal"), "Conv2d", "'causal'", "1-D",
           "got 2-D")
    raises(ValueError, lambda: nn.Conv3d(3, 8, 3, padding="causal"), "Conv3d", "got 3-D")
    raises(ValueError, lambda: F.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3), padding="causal"),
           "conv2d", "'causal'")
    # and 1-D is accepted
    assert nn.Conv1d(1, 1, 3, padding="causal")(zeros(1, 1, 7)).shape == (1, 1, 7)


def test_groups_not_dividing_channels():
    raises(ValueError, lambda: nn.Conv2d(3, 16, 3, groups=2), "Conv2d", "in_channels (3)", "out_channels (16)",
           "divisible by groups (2)")
    raises(ValueError, lambda: nn.Conv2d(4, 6, 3, groups=4), "Conv2d", "out_channels (6)", "groups (4)")
    raises(ValueError, lambda: nn.Conv2d(4, 8, 3, groups=0), "Conv2d", "groups must be a positive int")
    # the functional op: input channels must be weight's C_in/groups * groups
    raises(st.ShapeError, lambda: F.conv2d(zeros(1, 3, 5, 5), zeros(4, 1, 3, 3), groups=2),
           "conv2d", "expected input (N, 2, H, W)", "got (1, 3, 5, 5)")
    raises(ValueError, lambda: F.conv2d(zeros(1, 2, 5, 5), zeros(3, 1, 3, 3), groups=2),
           "conv2d", "out_channels (3)", "groups (2)")


# --------------------------------------------------------------------------------------------- dense, norm


def test_linear_wrong_features():
    message = raises(st.ShapeError, lambda: nn.Linear(5, 3)(zeros(4, 6)))
    assert message == "Linear(in_features=5, out_features=3): expected input (*, 5), got (4, 6)"
    raises(st.ShapeError, lambda: nn.Linear(5, 3).output_shape((4, 6)), "Linear(in_features=5",
           "expected input (*, 5)", "got (4, 6)")
    raises(st.ShapeError, lambda: F.linear(zeros(2, 4), zeros(3, 5)), "linear", "(*, 5)", "got (2, 4)")


@pytest.mark.parametrize("layer, shape, layout", [
    (lambda: nn.BatchNorm2d(3), (2, 4, 5, 5), "(N, 3, H, W)"),
    (lambda: nn.BatchNorm2d(3), (2, 3, 5), "(N, 3, H, W)"),
    (lambda: nn.BatchNorm1d(6), (4, 5), "(N, 6) or (N, 6, L)"),
    (lambda: nn.BatchNorm3d(2), (1, 3, 2, 2, 2), "(N, 2, D, H, W)"),
])
def test_batch_norm_wrong_channels_or_rank(layer, shape, layout):
    module = layer()
    name = type(module).__name__
    for mode in (True, False):
        module.train(mode)
        raises(st.ShapeError, lambda: module(zeros(*shape)), name, f"expected input {layout}", f"got {shape}")
    raises(st.ShapeError, lambda: module.output_shape(shape), name, f"got {shape}")


def test_batch_norm_refuses_a_single_value_per_channel_in_training():
    raises(ValueError, lambda: nn.BatchNorm1d(3)(zeros(1, 3)), "BatchNorm1d", "more than 1 value per channel",
           "(1, 3)")
    assert nn.BatchNorm1d(3).eval()(zeros(1, 3)).shape == (1, 3)   # evaluation uses the running stats


def test_functional_batch_norm_checks_running_stats_length():
    raises(st.ShapeError, lambda: F.batch_norm(zeros(2, 4, 3), np.zeros(3), np.ones(3), training=True),
           "batch_norm", "expected input (N, 3, *)", "got (2, 4, 3)")


def test_dropout_probability_out_of_range():
    raises(ValueError, lambda: nn.Dropout(1.5), "Dropout", "p must be in [0, 1]", "got 1.5")
    raises(ValueError, lambda: nn.Dropout(-0.1), "Dropout", "got -0.1")
    raises(ValueError, lambda: F.dropout(zeros(2, 2), p=2.0), "dropout", "got 2.0")


# --------------------------------------------------------------------------------------------- losses


def test_cross_entropy_labels_out_of_range():
    logits = zeros(4, 3)
    raises(ValueError, lambda: F.cross_entropy(logits, np.array([0, 1, 2, 5])), "cross_entropy",
           "expected labels in [0, 3)", "got values from 0 to 5")
    raises(ValueError, lambda: F.cross_entropy(logits, np.array([0, -1, 2, 1])), "cross_entropy",
           "[0, 3)", "from -1 to 2")
    raises(ValueError, lambda: nn.CrossEntropyLoss()(logits, np.array([3, 3, 3, 3])), "cross_entropy",
           "[0, 3)", "from 3 to 3")


def test_cross_entropy_labels_of_wrong_shape():
    raises(st.ShapeError, lambda: F.cross_entropy(zeros(4, 3), np.zeros((4, 1), dtype=np.int64)),
           "cross_entropy", "expected labels (4,) for logits with 4 rows", "got (4, 1)")
    raises(st.ShapeError, lambda: F.cross_entropy(zeros(4, 3), np.zeros(5, dtype=np.int64)),
           "cross_entropy", "expected labels (4,)", "got (5,)")
    raises(st.ShapeError, lambda: F.cross_entropy(zeros(4, 3, 2), np.zeros(4, dtype=np.int64)),
           "cross_entropy", "expected logits (N, C)", "got (4, 3, 2)")


def test_cross_entropy_non_integer_labels():
    raises(TypeError, lambda: F.cross_entropy(zeros(4, 3), np.array([0, 1.5, 2, 0])), "cross_entropy",
           "integer class labels", "non-integer")
    raises(TypeError, lambda: F.cross_entropy(zeros(4, 3), np.array([0, np.nan, 2, 0])), "integer class labels")
    raises(TypeError, lambda: F.cross_entropy(zeros(2, 3), np.array(["a", "b"])), "cross_entropy",
           "integer class labels", "dtype <U1")
    # integer-valued floats are labels all the same, and equal to the int labels
    as_float = F.cross_entropy(st.Tensor([[1.0, 2.0, 3.0]]), np.array([2.0]))
    as_int = F.cross_entropy(st.Tensor([[1.0, 2.0, 3.0]]), np.array([2]))
    assert as_float.item() == as_int.item()


def test_unknown_reduction_and_mse_shapes():
    raises(ValueError, lambda: F.cross_entropy(zeros(2, 3), np.array([0, 1]), reduction="avg"), "cross_entropy",
           "reduction must be one of", "'avg'")
    raises(st.ShapeError, lambda: F.mse_loss(zeros(3), zeros(4)), "mse_loss", "expected target of shape (3,)",
           "got (4,)")


# --------------------------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("layer, padding, kernel", [
    (lambda p: nn.MaxPool2d(2, padding=p), 2, "(2, 2)"),
    (lambda p: nn.MaxPool2d(3, padding=p), 2, "(3, 3)"),
    (lambda p: nn.AvgPool1d(4, padding=p), 3, "(4,)"),
    (lambda p: nn.MaxPool3d((2, 4, 4), padding=p), (2, 1, 1), "(2, 4, 4)"),
    (lambda p: nn.MaxPool2d(3, padding=p), ((0, 2), (0, 0)), "(3, 3)"),
])
def test_pool_padding_more_than_half_the_kernel(layer, padding, kernel):
    message = raises(ValueError, lambda: layer(padding), "padding must be at most half the kernel size",
                     kernel, f"got {padding!r}")
    assert re.match(r"(Max|Avg)Pool[123]d: ", message)


def test_pool_padding_of_exactly_half_the_kernel_is_accepted():
    # PyTorch accepts pad <= kernel / 2
    assert nn.MaxPool2d(2, padding=1)(zeros(1, 1, 4, 4)).shape == (1, 1, 3, 3)
    assert nn.MaxPool2d(3, 2, padding=1)(zeros(1, 1, 5, 5)).shape == (1, 1, 3, 3)
    raises(ValueError, lambda: F.max_pool2d(zeros(1, 1, 6, 6), 3, padding=2), "max_pool2d",
           "at most half the kernel size (3, 3)")


def test_pool_wrong_rank():
    message = raises(st.ShapeError, lambda: nn.MaxPool2d(2)(zeros(4, 4)))
    assert message == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2)): expected input (N, C, H, W) or (C, H, W), got (4, 4)"
    raises(st.ShapeError, lambda: nn.AvgPool1d(2)(zeros(1, 2, 4, 4)), "AvgPool1d", "(N, C, L)", "got (1, 2, 4, 4)")
    raises(st.ShapeError, lambda: nn.GlobalAvgPool()(zeros(3, 4)), "GlobalAvgPool", "(N, C, *spatial)",
           "got (3, 4)")
    raises(st.ShapeError, lambda: F.global_max_pool(zeros(3, 4)), "global_max_pool", "got (3, 4)")


# --------------------------------------------------------------------------------------------- state dicts


def small_net():
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 4 * 4, 3, rng=1))


def assert_state_unchanged(model, before):
    after = model.state_dict()
    assert list(after) == list(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_load_state_dict_missing_keys():
    model = small_net()
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items() if k not in ("1.running_var", "4.bias")}
    message = raises(ValueError, lambda: model.load_state_dict(state), "Sequential.load_state_dict",
                     "missing keys: 1.running_var, 4.bias", "nothing was loaded")
    assert "unexpected" not in message
    assert_state_unchanged(model, before)
    # strict=False loads what is there and reports the rest
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert list(missing) == ["1.running_var", "4.bias"] and list(unexpected) == []
    np.testing.assert_array_equal(model.state_dict()["4.weight"], before["4.weight"] + 1)
    np.testing.assert_array_equal(model.state_dict()["4.bias"], before["4.bias"])


def test_load_state_dict_unexpected_keys():
    model = small_net()
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items()}
    state["5.weight"] = np.zeros(3)
    state["classifier.bias"] = np.zeros(3)
    message = raises(ValueError, lambda: model.load_state_dict(state),
                     "unexpected keys: 5.weight, classifier.bias", "nothing was loaded")
    assert "missing" not in message
    assert_state_unchanged(model, before)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert list(missing) == [] and list(unexpected) == ["5.weight", "classifier.bias"]
    np.testing.assert_array_equal(model.state_dict()["0.weight"], before["0.weight"] + 1)


def test_load_state_dict_mis_shaped_keys():
    model = small_net()
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items()}
    state["0.weight"] = np.zeros((2, 1, 5, 5))
    state["1.running_mean"] = np.zeros(3)
    for strict in (True, False):   # a shape mismatch is an error even when not strict
        raises(st.ShapeError, lambda: model.load_state_dict(state, strict=strict), "Sequential.load_state_dict",
               "0.weight: expected (2, 1, 3, 3), got (2, 1, 5, 5)", "1.running_mean: expected (2,), got (3,)",
               "nothing was loaded")
        assert_state_unchanged(model, before)


def test_load_state_dict_reports_every_problem_at_once():
    model = small_net()
    before = model.state_dict()
    state = dict(before)
    del state["0.bias"]
    state["extra"] = np.zeros(1)
    state["4.weight"] = np.zeros((3, 31))
    raises(st.ShapeError, lambda: model.load_state_dict(state), "4.weight: expected (3, 32), got (3, 31)",
           "missing keys: 0.bias", "unexpected keys: extra")
    assert_state_unchanged(model, before)


# --------------------------------------------------------------------------------------------- optimizers, models


def test_optimizer_argument_errors():
    p = nn.Parameter(np.zeros(3))
    raises(ValueError, lambda: st.optim.SGD([], lr=0.1), "SGD", "empty parameter list")
    raises(ValueError, lambda: st.optim.SGD([p], lr=-0.1), "SGD", "lr=-0.1")
    raises(ValueError, lambda: st.optim.SGD([p], lr=0.1, nesterov=True), "SGD", "nesterov", "momentum > 0")
    raises(ValueError, lambda: st.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
           "dampening = 0")
    raises(ValueError, lambda: st.optim.Adam([p], betas=(0.9, 1.0)), "Adam", "betas=(0.9, 1.0)")
    raises(ValueError, lambda: st.optim.AdamW([p], lr=-1), "AdamW", "lr=-1")


def test_optimizer_load_state_dict_with_other_groups():
    a, b = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(2))
    saved = st.optim.SGD([a, b], lr=0.1).state_dict()
    raises(ValueError, lambda: st.optim.SGD([a], lr=0.1).load_state_dict(saved), "SGD.load_state_dict",
           "expected 1 groups of sizes [1]", "got [2]")


def test_scheduler_argument_errors():
    opt = st.optim.SGD([nn.Parameter(np.zeros(3))], lr=0.1)
    raises(ValueError, lambda: st.optim.StepLR(opt, step_size=0), "StepLR", "step_size must be >= 1", "got 0")
    raises(ValueError, lambda: st.optim.CosineAnnealingLR(opt, T_max=0), "CosineAnnealingLR", "T_max", "got 0")
